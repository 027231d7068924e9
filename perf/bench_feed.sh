#!/usr/bin/env bash
# bench_feed.sh -- the market feed's cost on the worker: bench_gateway with and without --feed.
#
#   perf/bench_feed.sh [ROUNDS]        (BIN=build/bin, from the repository root)
#
# Runs build/bin/bench_gateway (the worker's work per rx burst without the
# port: frame checks, sessions, matcher, reports; perf/bench_gateway.c) on
# the same deterministic order flow ROUNDS times (default 7) without the
# feed and ROUNDS times with it (--feed: every matcher event to ITCH,
# history, MoldUDP64 packets copied into frames with their headers and UDP
# checksum, and --archive: each packet appended to a feed archive journal
# as xchgd's worker does; FEED_BENCH_ARCHIVE=0 leaves it out), alternating,
# so both see the same machine load. Two shapes:
# "single" (1 order per datagram, 1 datagram per burst: a packet per
# order, the low-latency worst case) and "burst" (4 orders per datagram, 8
# datagrams per burst: packets of about 30 messages).
#
# Prints one JSON line per shape:
#   {"bench":"feed","shape","rounds",
#    "trim_ns_per_order_off/on" (medians over the rounds of each run's mean
#    per order over its bursts up to the 99th percentile), "trim_overhead_pct"
#    (the target's measure: a burst that lost the core to another process
#    weighs as much as thousands of others in the plain mean),
#    "p50x_off/on" (medians of each run's exact median burst time),
#    "p50x_overhead_pct",
#    "ns_per_order_off","ns_per_order_on" (medians of the runs' plain means),
#    "overhead_pct", "p50_off","p50_on" (medians of the
#    in-box p50 per burst), "feed_ns_per_message" (trimmed (on - off) x orders / feed
#    messages), "insn_per_order_off/on", "insn_overhead_pct",
#    "feed_insn_per_message" (user-space instructions of the timed work: the
#    same every run, whatever the load), "messages_per_order", "orders_per_packet",
#    "packets_per_s_at_cost" (packets the worker could send per second of
#    feed work)}
# The VM is shared and noisy: read medians, and compare runs of one
# invocation only.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-build/bin}
ROUNDS=${1:-7}
N=${FEED_BENCH_DATAGRAMS:-200000}
PIN=${FEED_BENCH_CPU:-$(($(nproc) - 1))}
ARCHIVE=$([ "${FEED_BENCH_ARCHIVE:-1}" = 1 ] && echo --archive)

num() { printf '%s' "$2" | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

shape()
{
    local name=$1 batch=$2 burst=$3 r out
    local off=() on=() p50off=() p50on=() toff=() ton=() xoff=() xon=() ioff=0 ion=0 msgs=0 pkts=0 reqs=0
    for ((r = 0; r < ROUNDS; r++)); do
        for f in off on; do
            out=$("$BIN/bench_gateway" --datagrams "$N" --batch "$batch" --burst "$burst" \
                --pin "$PIN" $([ $f = on ] && echo --feed $ARCHIVE)) || { echo "{\"bench\":\"feed\",\"error\":\"bench_gateway failed\"}"; exit 1; }
            if [ $f = on ]; then
                on+=("$(num ns_per_request_mean "$out")")
                ton+=("$(num ns_per_request_trim99 "$out")")
                xon+=("$(num burst_ns_p50_exact "$out")")
                p50on+=("$(num p50 "$out")")
                msgs=$(num feed_messages "$out")
                pkts=$(num feed_packets "$out")
                reqs=$(num requests "$out")
                ion=$(num instructions_per_request "$out")
            else
                off+=("$(num ns_per_request_mean "$out")")
                toff+=("$(num ns_per_request_trim99 "$out")")
                xoff+=("$(num burst_ns_p50_exact "$out")")
                p50off+=("$(num p50 "$out")")
                ioff=$(num instructions_per_request "$out")
            fi
        done
    done
    local moff mon poff pon tmoff tmon xmoff xmon
    tmoff=$(printf '%s\n' "${toff[@]}" | median)
    tmon=$(printf '%s\n' "${ton[@]}" | median)
    xmoff=$(printf '%s\n' "${xoff[@]}" | median)
    xmon=$(printf '%s\n' "${xon[@]}" | median)
    moff=$(printf '%s\n' "${off[@]}" | median)
    mon=$(printf '%s\n' "${on[@]}" | median)
    poff=$(printf '%s\n' "${p50off[@]}" | median)
    pon=$(printf '%s\n' "${p50on[@]}" | median)
    awk -v s="$name" -v r="$ROUNDS" -v a="$moff" -v b="$mon" -v pa="$poff" -v pb="$pon" \
        -v ta="$tmoff" -v tb="$tmon" -v xa="$xmoff" -v xb="$xmon" \
        -v m="$msgs" -v p="$pkts" -v q="$reqs" -v io="$ioff" -v in_="$ion" 'BEGIN {
        d = tb - ta; per = (m > 0) ? d * q / m : 0;
        printf "{\"bench\":\"feed\",\"shape\":\"%s\",\"rounds\":%d,", s, r;
        printf "\"trim_ns_per_order_off\":%.1f,\"trim_ns_per_order_on\":%.1f,\"trim_overhead_pct\":%.1f,", ta, tb, (ta > 0 ? 100 * (tb - ta) / ta : 0);
        printf "\"p50x_off\":%.0f,\"p50x_on\":%.0f,\"p50x_overhead_pct\":%.1f,", xa, xb, (xa > 0 ? 100 * (xb - xa) / xa : 0);
        printf "\"ns_per_order_off\":%.1f,\"ns_per_order_on\":%.1f,", a, b;
        printf "\"overhead_pct\":%.1f,\"p50_off\":%d,\"p50_on\":%d,\"feed_ns_per_message\":%.1f,", (a > 0 ? 100 * (b - a) / a : 0), pa, pb, per;
        printf "\"insn_per_order_off\":%.1f,\"insn_per_order_on\":%.1f,\"insn_overhead_pct\":%.1f,\"feed_insn_per_message\":%.1f,", io, in_, (io > 0 ? 100 * (in_ - io) / io : 0), (m > 0 ? (in_ - io) * q / m : 0);
        printf "\"messages_per_order\":%.2f,\"orders_per_packet\":%.1f,\"packets_per_s_at_cost\":%.0f}\n", (q ? m / q : 0), (p ? q / p : 0), (d > 0 && p > 0 ? 1e9 * p / (d * q) : 0) }'
}

[ -x "$BIN/bench_gateway" ] || { echo "{\"bench\":\"feed\",\"error\":\"$BIN/bench_gateway not built\"}"; exit 1; }
shape single 1 1
shape burst 4 8
