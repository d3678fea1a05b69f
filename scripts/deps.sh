#!/bin/sh
# Install what scepd needs on Debian 12, or say exactly what to run.
#
#   scripts/deps.sh --install         build dependencies (make run)
#   scripts/deps.sh --install --test  plus test tools and the real SCEP
#                                     clients used by the interop tests
#   ... --bench                       plus iproute2 for make bench
#
# As root it runs apt-get; otherwise it prints the command and stops.
set -eu

BUILD_PKGS="gcc make pkg-config libssl-dev libmicrohttpd-dev libsqlite3-dev openssl"
# check: unit tests; clang + libclang-rt-14-dev: the ASan/UBSan pass;
# sqlite3, curl: end-to-end checks; scep, certmonger, strongswan-pki and
# its plugins: interop with real third-party clients; chromium: the
# ledger page, tested headless; softhsm2 and OpenSSL's pkcs11 engine: a CA
# key on a PKCS#11 token; valgrind: make valgrind.
TEST_PKGS="check clang libclang-rt-14-dev sqlite3 curl python3 scep certmonger \
strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins chromium \
softhsm2 libengine-pkcs11-openssl valgrind"

want="$BUILD_PKGS"
for arg in "$@"; do
	case "$arg" in
	--install) ;;
	--test) want="$want $TEST_PKGS" ;;
	--bench) want="$want iproute2" ;;	# ip, for micromdm's namespace
	*) echo "usage: $0 --install [--test] [--bench]" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "scepd needs these Debian packages:$missing" >&2
	echo "run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "installing:$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive $cmd
