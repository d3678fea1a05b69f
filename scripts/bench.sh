#!/bin/bash
# make bench: scepd's speed and memory, side by side with micromdm's
# scepserver, in one run.  Prints a Markdown table (also written to
# build/bench/results.md) and, for each target of issue 5, "met" or
# "MISSED".  Everything runs on loopback and stops by itself.
#
#   scripts/bench.sh           the full run (about 5 minutes; the first run
#                              also builds a 1,000,000-row ledger, ~3 min)
#   scripts/bench.sh --smoke   a short run for make check: 300 enrollments,
#                              GetCACaps, a 5,000-row ledger, 50 through
#                              cryptobench, one-time challenges; fails on
#                              any failed reply or duplicate serial
set -u
BIN=${SCEPD_BIN:-bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/build/bench"
WORK=$(mktemp -d /tmp/scepd-bench-XXXXXX)
chmod 711 "$WORK"	# scepd, started as root, runs as nobody
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
pid=
mpid=

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"
cd "$ROOT"

# val LINE KEY: a key=value field of a scepbench/ledgerbench result line
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# sum_proc PID FILE KEY: a field of /proc/PID/FILE, added up over the
# process and its children (scepd's CA signer), in KiB
sum_proc() {
	for p in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		awk -v k="$3" '$1 == k":" {print $2}' "/proc/$p/$2"
	done | awk '{s += $1} END {print s}'
}
rss() { sum_proc "$1" status VmRSS; }
anon() { sum_proc "$1" status RssAnon; }
# Proportional set size: a shared page counts 1/N in each of its N users
pss() { sum_proc "$1" smaps_rollup Pss; }

# start_scepd DIR [-o KEY=VALUE...]: a lab scepd on a fresh state
# directory; sets pid and PORT
start_scepd() {
	local dir=$1
	shift
	mkdir -p "$dir"
	"$BIN"/scepd -c conf/scepd.conf -o state_dir="$dir/var" \
		-o listen=127.0.0.1:0 -o port_file="$dir/port" \
		-o ca_key_bits=2048 -o admin_listen=127.0.0.1:0 \
		-o log_level=warn "$@" >"$dir/scepd.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 300); do
		[ -s "$dir/port" ] && break
		sleep 0.1
	done
	if [ ! -s "$dir/port" ]; then
		echo "bench: scepd did not start"; cat "$dir/scepd.log"; exit 1
	fi
	PORT=$(cat "$dir/port")
}

start_scepd "$WORK" -o challenge=bench
sleep 1
IDLE_RSS=$(rss $pid)
IDLE_ANON=$(anon $pid)
IDLE_PSS=$(pss $pid)
KEYS="$OUT/client-keys.pem"

# enroll C N: one scepbench run against scepd; its result line
# (extra scepbench options after C N: another label, challenges)
enroll() {
	local c=$1 n=$2
	shift 2
	"$BIN"/scepbench -p "$PORT" -c "$c" -n "$n" -x bench -k "$KEYS" \
		-s "$pid" -l "scepd-c$c" "$@" >"$WORK/run.txt" 2>"$WORK/run.err"
	cat "$WORK/run.txt" >&2
	grep '^result' "$WORK/run.txt"
}

# start_once COUNT: replace scepd by one with one-time challenges
# (NDES's default; the mode is chosen at start) and COUNT passwords from
# scepctl in $WORK/once/all.txt
ONCE_OPTS=(-o challenge_mode=onetime -o challenge_max=4000)
start_once() {
	local left=$1 k
	kill "$pid" && wait "$pid" 2>/dev/null
	start_scepd "$WORK/once" "${ONCE_OPTS[@]}"
	while [ "$left" -gt 0 ]; do
		k=$((left > 1000 ? 1000 : left))
		"$BIN"/scepctl -c conf/scepd.conf -o state_dir="$WORK/once/var" \
			"${ONCE_OPTS[@]}" challenge new --count "$k" 2>/dev/null
		left=$((left - k))
	done >"$WORK/once/all.txt"
}

if [ $SMOKE = 1 ]; then
	pass=0 fail=0
	check() {
		if [ -n "$2" ] && [ "$(val "$2" failed)" = 0 ] &&
		    [ "$(val "$2" dup_serials)" = 0 ]; then
			echo "ok   $1"; pass=$((pass + 1))
		else
			echo "FAIL $1"; cat "$WORK/run.err"; fail=$((fail + 1))
		fi
	}
	check "300 enrollments at C=8, every reply checked" "$(enroll 8 300)"
	r=$("$BIN"/scepbench -p "$PORT" -o caps -c 8 -n 2000 | grep '^result')
	check "2000 GetCACaps at C=8" "$r"
	if "$BIN"/ledgerbench "$WORK/ledger.db" 5000 >"$WORK/ledger.txt" 2>&1 &&
	    grep -q '^result' "$WORK/ledger.txt"; then
		echo "ok   ledger queries on 5000 rows"; pass=$((pass + 1))
	else
		echo "FAIL ledger queries"; cat "$WORK/ledger.txt"
		fail=$((fail + 1))
	fi
	r=$("$BIN"/cryptobench -d "$WORK/crypto" -k "$KEYS" -n 50 -t 2 |
		grep '^result')
	if [ -n "$r" ] && [ "$(val "$r" failed)" = 0 ]; then
		echo "ok   cryptography of 50 enrollments in-process (cryptobench)"
		pass=$((pass + 1))
	else
		echo "FAIL cryptobench"; fail=$((fail + 1))
	fi
	start_once 100
	check "100 enrollments at C=8, each with its one-time challenge" \
		"$(enroll 8 100 -X "$WORK/once/all.txt")"
	# The same passwords again: every one is used up.
	r=$(enroll 8 100 -X "$WORK/once/all.txt")
	if [ -n "$r" ] && [ "$(val "$r" failed)" = 100 ] &&
	    grep -q '100 *FAILURE' "$WORK/run.txt"; then
		echo "ok   100 used one-time challenges again: all refused"
		pass=$((pass + 1))
	else
		echo "FAIL used one-time challenges were accepted"
		cat "$WORK/run.txt"; fail=$((fail + 1))
	fi
	echo "bench smoke: $pass passed, $fail failed"
	[ $fail = 0 ]
	exit
fi

CORES=$(nproc)
# The same libraries in a process that only signs once, opens a ledger
# and listens: the floor under any one process built on them
FLOOR=$("$BIN"/rssfloor "$WORK/var/ca.key" "$WORK/floor.db" | grep '^result')
echo "bench: openssl speed -multi $CORES rsa2048" >&2
SIGN=$(openssl speed -multi "$CORES" -seconds 5 rsa2048 2>/dev/null |
	awk '/^rsa 2048 bits/ {print $6}')
LIMIT=$(awk -v s="$SIGN" 'BEGIN {printf "%.0f", s / 3}')
# The ceiling below that: an enrollment's cryptography alone, through
# scepd's own pkcs7/ and ca/ code, one thread per core.
echo "bench: cryptobench, $CORES threads" >&2
CRYPTO=$("$BIN"/cryptobench -d "$WORK/crypto" -k "$KEYS" -n 3000 \
	-t "$CORES" | tee /dev/stderr | grep '^result')

R1=$(enroll 1 1000)
WARM_RSS=$(rss $pid)
R8=$(enroll 8 20000)
AFTER_RSS=$(rss $pid)
AFTER_ANON=$(anon $pid)
R64=$(enroll 64 5000)
CAPS=$("$BIN"/scepbench -p "$PORT" -o caps -c 8 -n 200000 -l caps |
	grep '^result')
CACERT=$("$BIN"/scepbench -p "$PORT" -o cacert -c 8 -n 100000 -l cacert |
	grep '^result')

# One-time challenges: each enrollment also uses up a password, in the
# same group commit as its row.
start_once 3300
head -n 300 "$WORK/once/all.txt" >"$WORK/once/warm.txt"
tail -n +301 "$WORK/once/all.txt" >"$WORK/once/run.txt"
enroll 8 300 -X "$WORK/once/warm.txt" >/dev/null
R8ONCE=$(enroll 8 3000 -X "$WORK/once/run.txt" -l scepd-c8-onetime)

# micromdm's scepserver 2.1 cannot bind to an address: run it in a network
# namespace of its own (loopback only) and the load generator in there too.
M1= M8=
if command -v scepserver >/dev/null && [ "$(id -u)" = 0 ]; then
	scepserver ca -init -keySize 2048 -depot "$WORK/depot" >/dev/null 2>&1
	unshare -n sh -c 'ip link set lo up && exec scepserver -depot "$1" \
		-port 2016 -challenge bench' sh "$WORK/depot" \
		>"$WORK/micromdm.log" 2>&1 &
	mpid=$!
	sleep 1
	# the shell exec'd scepserver: $mpid is scepserver itself
	mm() {
		nsenter -n -t "$mpid" "$BIN"/scepbench -p 2016 -P /scep -c "$1" \
			-n "$2" -x bench -k "$KEYS" -s "$mpid" -l "micromdm-c$1" \
			>"$WORK/run.txt" 2>/dev/null
		cat "$WORK/run.txt" >&2
		grep '^result' "$WORK/run.txt"
	}
	M1=$(mm 1 1000)
	M8=$(mm 8 1000)
else
	echo "bench: micromdm comparison skipped (needs root and package scep)" >&2
fi

"$BIN"/ledgerbench "$OUT/ledger-1m.db" 1000000 >"$WORK/ledger.txt" \
	2>"$WORK/ledger.err" || cat "$WORK/ledger.err"
cat "$WORK/ledger.txt" >&2
L=$(grep '^result' "$WORK/ledger.txt")

# target TEXT CONDITION: "met" or "MISSED"
target() { if awk "BEGIN {exit !($2)}"; then echo "met"; else echo "MISSED"; fi; }
RATE8=$(val "$R8" rate)
PCT=$(awk -v r="$RATE8" -v l="$LIMIT" 'BEGIN {printf "%.0f", 100 * r / l}')
MRATE=$(val "$M1" rate)
RATIO=$(awk -v a="$RATE8" -v b="${MRATE:-0}" \
	'BEGIN {if (b > 0) printf "%.1f", a / b; else print "-"}')
CRATE=$(val "$CRYPTO" rate)
CPCT=$(awk -v r="$CRATE" -v l="$LIMIT" 'BEGIN {printf "%.0f", 100 * r / l}')
OF_CRYPTO=$(awk -v r="$RATE8" -v c="$CRATE" 'BEGIN {printf "%.0f", 100 * r / c}')
GROWTH=$(( (AFTER_RSS - WARM_RSS) ))
{
echo "## scepd benchmark ($(date -u +%Y-%m-%d), $CORES cores, $(openssl version | cut -d' ' -f1-2), RSA-2048 CA/RA/clients, POST)"
echo
echo "Reproduce: \`make bench\`"
echo
echo "| run | enrollments/s | p50 ms | p90 ms | p99 ms | max ms | failed | duplicate serials | server CPU ms/enrollment (both processes) |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in "$R1" "$R8" "$R64" "$R8ONCE" "$M1" "$M8"; do
	[ -z "$r" ] && continue
	echo "| $(val "$r" label) (n=$(val "$r" n)) | $(val "$r" rate) | $(val "$r" p50_ms) | $(val "$r" p90_ms) | $(val "$r" p99_ms) | $(val "$r" max_ms) | $(val "$r" failed) | $(val "$r" dup_serials) | $(val "$r" cpu_ms_per) |"
done
echo
echo "| measure | value | target | |"
echo "|---|---|---|---|"
echo "| RSA-2048 signatures/s (openssl speed -multi $CORES) | $SIGN | | |"
echo "| RSA limit (3 private-key operations per enrollment) | $LIMIT/s | | |"
echo "| the cryptography alone: parse, verify, decrypt, CSR checks, sign, CertRep (cryptobench, $CORES threads, no HTTP, ledger or signer process) | $CRATE/s ($CPCT % of the limit; $(val "$CRYPTO" cpu_ms_per) ms CPU each) | | |"
echo "| enrollments/s at C=8 | $RATE8 ($PCT % of the limit, $OF_CRYPTO % of the cryptography alone) | ≥ 2000 and ≥ 75 % | $(target x "$RATE8 >= 2000 && $PCT >= 75") |"
echo "| scepd at C=8 / micromdm at C=1 | $RATIO× | ≥ 8× | $(target x "\"$RATIO\" != \"-\" && $RATIO >= 8") |"
echo "| p99 / p50 at C=8 | $(val "$R8" p99_ms) / $(val "$R8" p50_ms) ms | ≤ 3 | $(target x "$(val "$R8" p99_ms) <= 3 * $(val "$R8" p50_ms)") |"
echo "| C=64: failed, duplicate serials | $(val "$R64" failed), $(val "$R64" dup_serials) | 0, 0 | $(target x "$(val "$R64" failed) == 0 && $(val "$R64" dup_serials) == 0") |"
echo "| GetCACaps requests/s (keep-alive, C=8) | $(val "$CAPS" rate) | ≥ 30000 | $(target x "$(val "$CAPS" rate) >= 30000") |"
echo "| GetCACert requests/s (keep-alive, C=8) | $(val "$CACERT" rate) | | |"
echo "| RSS idle, scepd and its CA signer (of which private) | $IDLE_RSS KiB ($IDLE_ANON KiB) | ≤ 8192 KiB | $(target x "$IDLE_RSS <= 8192") |"
echo "| RSS of OpenSSL, SQLite and libmicrohttpd alone, one process (rssfloor: signs once, opens a ledger, listens) | $(val "$FLOOR" rss_kb) KiB ($(val "$FLOOR" anon_kb) KiB) | | |"
echo "| PSS idle, the same two (shared pages divided among their users) | $IDLE_PSS KiB | | |"
echo "| RSS growth over 20,000 enrollments (after warm-up) | $GROWTH KiB ($WARM_RSS → $AFTER_RSS; private $AFTER_ANON) | ≤ 2048 KiB | $(target x "$GROWTH <= 2048") |"
echo "| ledger of $(val "$L" rows) rows: lookup by transactionID | $(val "$L" lookup_txid_ms) ms | ≤ 1 ms | $(target x "$(val "$L" lookup_txid_ms) <= 1") |"
echo "| lookup by serial | $(val "$L" lookup_serial_ms) ms | ≤ 1 ms | $(target x "$(val "$L" lookup_serial_ms) <= 1") |"
echo "| scepctl show (by transactionID) | $(val "$L" show_ms) ms | | |"
echo "| scepctl stuck | $(val "$L" stuck_ms) ms | ≤ 50 ms | $(target x "$(val "$L" stuck_ms) <= 50") |"
echo "| scepctl stats day (counts per day and status) | $(val "$L" stats_ms) ms | | |"
echo "| /metrics transactions by status | $(val "$L" metrics_ms) ms | | |"
} | tee "$OUT/results.md"
