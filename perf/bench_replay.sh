#!/usr/bin/env bash
# bench_replay.sh -- journal replay rate (issue 5's target: 5,000,000 records/s).
#
#   perf/bench_replay.sh [REPEAT]      (BIN=build/bin, from the repository root)
#
# For two journal shapes, "single" (1 order per datagram: one record, one
# request) and "batch8" (8 requests per datagram record), bench_gateway
# --risk --journal writes the segment's journal of a known order flow
# exactly as xchgd's worker does (perf/bench_gateway.c), then xchg-replay
# replays it REPEAT times (default 5) into fresh gateways and prints the
# best and median rates (tools/xchg-replay.c). Prints one JSON line per
# shape:
#   {"bench":"replay","shape","records","requests","state_hash_live",
#    "state_hash_replay","hash_match","records_per_s_best",
#    "records_per_s_median","requests_per_s_median",
#    "records_per_cpu_s_median","requests_per_cpu_s_median","target_records_per_s"}
# The wall-clock rates count the time other processes had the CPU; the
# CPU-time rates do not. Exit status 1 when a replay's state hash differs
# from the live run's. The journals go to a temporary directory, removed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-build/bin}
REPEAT=${1:-5}
CONF=${REPLAY_BENCH_CONF:-config/xchg.conf}
DIR=$(mktemp -d /tmp/xchg-bench-replay.XXXXXX) || exit 1
trap 'rm -rf "$DIR"' EXIT
num() { grep -o "\"$1\":\"\\{0,1\\}[0-9a-f.]*" | head -1 | sed 's/.*://; s/"//'; }
rc=0
for shape in single:1:1000000 batch8:8:220000; do
    IFS=: read -r name batch datagrams <<<"$shape"
    out=$("$BIN/bench_gateway" --risk --batch "$batch" --datagrams "$datagrams" \
        --journal "$DIR/$name" 2>&1) || { echo "bench_replay: bench_gateway failed: $out" >&2; exit 1; }
    live=$(grep '"gateway_journal"' <<<"$out" | num state_hash)
    rp=$("$BIN/xchg-replay" -c "$CONF" --wal "$DIR/$name" --repeat "$REPEAT" 2>&1 |
        grep '"segment"') || { echo "bench_replay: xchg-replay failed" >&2; exit 1; }
    got=$(num state_hash <<<"$rp")
    match=true
    [ "$got" = "$live" ] || { match=false; rc=1; }
    printf '{"bench":"replay","shape":"%s","records":%s,"requests":%s,"state_hash_live":"%s",' \
        "$name" "$(num records <<<"$rp")" "$(num requests <<<"$rp")" "$live"
    printf '"state_hash_replay":"%s","hash_match":%s,"repeat":%s,"records_per_s_best":%s,' \
        "$got" "$match" "$REPEAT" "$(num records_per_s <<<"$rp")"
    printf '"records_per_s_median":%s,"requests_per_s_median":%s,' \
        "$(num records_per_s_median <<<"$rp")" "$(num requests_per_s_median <<<"$rp")"
    printf '"records_per_cpu_s_median":%s,"requests_per_cpu_s_median":%s,' \
        "$(num records_per_cpu_s_median <<<"$rp")" "$(num requests_per_cpu_s_median <<<"$rp")"
    printf '"target_records_per_s":5000000}\n'
    rm -rf "${DIR:?}/$name"
done
exit $rc
