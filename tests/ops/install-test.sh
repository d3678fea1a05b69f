#!/bin/sh
# make install into a scratch DESTDIR: every file in place with its mode,
# the installed scepd accepts the installed configuration, the systemd unit
# parses, a second install keeps an edited configuration, uninstall cleans.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d /tmp/scepd-install-XXXXXX)
trap 'rm -rf "$D"' EXIT
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

cd "$ROOT"
make -s install DESTDIR="$D" PREFIX=/usr >"$D.log" 2>&1 || { cat "$D.log"; bad "make install"; }
rm -f "$D.log"
for f in usr/sbin/scepd usr/sbin/scepctl usr/share/man/man8/scepd.8 \
    usr/share/man/man8/scepctl.8 usr/share/man/man5/scepd.conf.5 \
    etc/scepd/scepd.conf lib/systemd/system/scepd.service \
    usr/share/doc/scepd/nginx-scepd.conf; do
	check "installed /$f" "[ -s '$D/$f' ]"
done
check "binaries 0755" "[ \"\$(stat -c %a $D/usr/sbin/scepd)\" = 755 ]"
check "configuration keeps state in /var/lib/scepd" \
	"grep -q '^state_dir = /var/lib/scepd$' $D/etc/scepd/scepd.conf"
check "unit runs the installed binary on the installed configuration" \
	"grep -q '^ExecStart=/usr/sbin/scepd -c /etc/scepd/scepd.conf ' $D/lib/systemd/system/scepd.service"
check "installed scepd accepts the installed configuration" \
	"$D/usr/sbin/scepd -n -c $D/etc/scepd/scepd.conf -o state_dir=$D/state >/dev/null"
check "man pages render" \
	"man -l $D/usr/share/man/man8/scepctl.8 2>/dev/null | grep -q doctor"
if command -v systemd-analyze >/dev/null; then
	# Only complaints about this scratch root (no /bin/kill, no man, no
	# sysinit.target) are allowed; an unknown key or bad value is not.
	out=$(systemd-analyze verify --root="$D" /lib/systemd/system/scepd.service 2>&1 |
		grep -v -e 'not executable' -e "Command 'man " -e 'sysinit.target' \
		-e 'Failed to create scepd.service/start')
	check "systemd-analyze verify: no unknown keys or bad values" "[ -z \"\$out\" ]" ||
		echo "$out"
else
	echo "skip systemd-analyze (not installed)"
fi
echo "# edited" >>"$D/etc/scepd/scepd.conf"
make -s install DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
check "a second install keeps the edited configuration" \
	"tail -1 $D/etc/scepd/scepd.conf | grep -q edited && [ -s $D/etc/scepd/scepd.conf.new ]"
make -s uninstall DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
check "uninstall removes the binaries and the unit, keeps the configuration" \
	"[ ! -e $D/usr/sbin/scepd ] && [ ! -e $D/lib/systemd/system/scepd.service ] && [ -e $D/etc/scepd/scepd.conf ]"
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
