#!/bin/sh
# make fuzz: run each libFuzzer target for FUZZ_SECONDS (default 60) on its
# seed corpus (tests/fuzz/corpus/TARGET, from ../shared/vectors and the
# test fixtures) plus what earlier runs found (build/fuzz/corpus/TARGET).
# A crash, leak, timeout or sanitizer report fails the run; the input is
# kept as build/fuzz/crash-TARGET-* to become a regression fixture in
# tests/fuzz/corpus/TARGET.
set -u
BIN=${FUZZ_BIN:-build/fuzz/bin}
SECONDS_EACH=${FUZZ_SECONDS:-60}
pass=0
fail=0
for t in "$@"; do
	mkdir -p "build/fuzz/corpus/$t"
	log="build/fuzz/$t.log"
	# A target's dictionary (tests/fuzz/TARGET.dict), where it has one.
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	if "$BIN/fuzz_$t" ${dict:+"$dict"} -max_total_time="$SECONDS_EACH" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="build/fuzz/crash-$t-" \
	    "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		echo "ok   fuzz_$t: $(grep -m1 '^stat::number_of_executed_units' "$log" |
		    awk '{print $2}') inputs in ${SECONDS_EACH} s, $(ls "build/fuzz/corpus/$t" |
		    wc -l) in its corpus"
		pass=$((pass + 1))
	else
		echo "FAIL fuzz_$t"
		grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
