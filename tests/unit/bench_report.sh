#!/usr/bin/env bash
# bench_report.sh -- test of xchg-bench-report (`make bench-report`) on a recorded `make bench`
# run: tests/fixtures/bench/sample.jsonl is the real output of bench_matcher,
# bench_dataplane.sh and bench_journal on a development VM (docs/perf/report.md
# says how it was recorded).
#
#   tests/unit/bench_report.sh [build/bin/xchg-bench-report]
#
# Cases: the sample with noise added (a non-JSON line, a truncated JSON line,
# a JSON line of an unknown kind, blank lines) gives report.md and the five
# SVGs, each plot with the series the sample holds (gnuplot writes each
# series' key title into the SVG); an input with only the matcher lines still
# gives every file, the other sections saying they had no data; an unreadable
# input file exits 1. Exit 77 when gnuplot is missing. Prints one line per
# check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TOOL=${1:-build/bin/xchg-bench-report}
SAMPLE=tests/fixtures/bench/sample.jsonl
PASS=0
FAIL=0
check() {
    local name=$1
    shift
    if "$@"; then PASS=$((PASS + 1)); echo "ok   $name"; else FAIL=$((FAIL + 1)); echo "FAIL $name"; fi
}
command -v gnuplot >/dev/null || { echo "bench_report.sh: gnuplot missing"; exit 77; }
[ -x "$TOOL" ] || { echo "bench_report.sh: $TOOL missing (make)"; echo "0 passed, 1 failed"; exit 1; }
W=$(mktemp -d /tmp/xbr-$$.XXXX) || exit 1
trap 'rm -rf "$W"' EXIT

# the sample plus noise
{
    echo "make[1]: Entering directory '/somewhere'"
    head -n 3 "$SAMPLE"
    echo ""
    echo '{"bench":"dataplane","case":"latency","server":"xchgd","rtt_ns":{"p50":'
    echo '{"bench":"future","value":1}'
    tail -n +4 "$SAMPLE"
} >"$W/noisy.jsonl"
out=$("$TOOL" -o "$W/r" "$W/noisy.jsonl" 2>&1)
rc=$?
echo "  $out"
check "report written (rc $rc)" test "$rc" = 0 -a -s "$W/r/report.md"
lines=$(grep -c . "$SAMPLE")
check "counts: $((lines + 3)) lines, $lines used, 2 not JSON, 1 unknown, blank lines not counted" \
    grep -q "Input: $((lines + 3)) line(s), $lines used, 2 not JSON, 1 of a kind" "$W/r/report.md"
for svg in latency inbox throughput journal matcher; do
    check "$svg.svg is an SVG drawn by gnuplot" \
        bash -c "grep -q '<svg' '$W/r/$svg.svg' && grep -q 'gnuplot_plot_1' '$W/r/$svg.svg'"
done
# series: what the sample holds (derived from it, not hard-coded); gnuplot
# writes each series' key title as <text>TITLE</text>
series_ok() { # FILE TITLE...
    local f=$1 t
    shift
    for t in "$@"; do
        grep -qF "<text>$t</text>" "$f" || { echo "  missing series '$t' in $f"; return 1; }
    done
}
export -f series_ok
lat=()
while read -r s r; do lat+=("$s $r/s"); done < <(grep '"case":"latency"' "$SAMPLE" |
    sed -n 's/.*"server":"\([a-z_]*\)","target_rate":\([0-9]*\)\.[0-9]*.*/\1 \2/p' | sort -u)
check "latency.svg: one curve per server and rate in the sample (${#lat[@]}: xchgd, dpdk_echo, kernel echo)" \
    bash -c '[ $# -ge 3 ] && printf "%s\n" "$@" | grep -q "^xchgd " && printf "%s\n" "$@" | grep -q "^dpdk_echo " && printf "%s\n" "$@" | grep -q "kernel" && series_ok "$0" "$@"' \
    "$W/r/latency.svg" "${lat[@]}"
tps=$(grep '"case":"throughput"' "$SAMPLE" | sed -n 's/.*"server":"\([a-z_]*\)".*/\1/p' | sort -u)
check "throughput.svg: a series per server ($tps)" \
    bash -c 'series_ok "$0" $1' "$W/r/throughput.svg" "$tps"
syncs=$(grep '"test":"commit_latency"' "$SAMPLE" |
    sed -n 's/.*"sync":"\([a-z]*\)","prefill":"\([a-z]*\)".*/\1, \2/p' | sort -u)
jt=()
while read -r s; do jt+=("journal p50 ($s)" "journal p99 ($s)" "raw io_uring p50 ($s)"); done <<<"$syncs"
check "journal.svg: p50/p99 and raw io_uring per sync mode and prefill ($(echo $syncs | tr '\n' ';'))" \
    bash -c 'series_ok "$0" "${@}"' "$W/r/journal.svg" "${jt[@]}"
wl=$(sed -n 's/^{"workload":"\([a-z-]*\)".*/\1/p' "$SAMPLE" | sort -u)
check "matcher.svg: a curve per workload ($(echo $wl))" bash -c 'series_ok "$0" $1' "$W/r/matcher.svg" "$wl"
check "inbox.svg: xchgd's in-box curve and the worker without port" \
    bash -c 'series_ok "$0" "worker without port" && grep -q "<text>xchgd in box " "$0"' "$W/r/inbox.svg"
# the numbers in the table are the sample's: xchgd p50 at the first rate, median of repeats
r1=$(grep '"case":"latency","server":"xchgd"' "$SAMPLE" | head -1 | sed -n 's/.*"target_rate":\([0-9]*\)\..*/\1/p')
want=$(grep "\"case\":\"latency\",\"server\":\"xchgd\",\"target_rate\":$r1\\." "$SAMPLE" |
    sed -n 's/.*"rtt_ns":{"p50":\([0-9]*\),.*/\1/p' | sort -n |
    awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000}')
check "latency table: xchgd $r1/s p50 = median of the sample's runs ($want µs)" \
    grep -q "^| xchgd $r1/s | $want |" "$W/r/report.md"
lg=$(grep -c '"bench":"log"' "$SAMPLE")
check "logging table: a row per bench_log call kind ($lg)" \
    bash -c '[ "$1" -ge 1 ] && [ "$(grep -Ec "^\| (logMsg|logText|snprintf) \|" "$0")" = "$1" ]' "$W/r/report.md" "$lg"
check "plot data written (.dat per series) and the gnuplot script kept" \
    bash -c "ls '$W/r'/lat_*.dat >/dev/null && [ -s '$W/r/report.gp' ]"

# only the matcher lines: every file, the rest says "no data"
grep '^{"workload"' "$SAMPLE" >"$W/matcher.jsonl"
"$TOOL" -o "$W/m" "$W/matcher.jsonl" >/dev/null 2>&1
rc=$?
all_svgs() { # DIR
    local s
    for s in latency inbox throughput journal matcher; do [ -s "$1/$s.svg" ] || return 1; done
}
check "matcher-only input: rc 0 ($rc)" test "$rc" = 0
check "matcher-only input: all five SVGs drawn" all_svgs "$W/m"
check "matcher-only input: sections without data say so" \
    bash -c "grep -q '_No bench_dataplane.sh latency lines in the input._' '$W/m/report.md' && grep -q '_No bench_journal commit_latency lines in the input._' '$W/m/report.md'"
"$TOOL" -o "$W/x" "$W/does-not-exist.jsonl" >/dev/null 2>&1
check "unreadable input: exit 1" test $? = 1
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
