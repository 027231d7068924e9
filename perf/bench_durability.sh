#!/usr/bin/env bash
# bench_durability.sh -- order round trip with durability sync against async, and the
# device's own fdatasync time, on the same filesystem in the same run (needs root).
#
# For MODE in async sync (alternating ROUNDS times): a fresh xchgd on a veth
# pair into a namespace of our own (netns.sh, 198.18.0.0/15 only), its
# storage in a fresh directory under DIR, SESSIONS sessions, then
# perf/xchg-load --rate RATE for DURATION s (open loop, round trips from the
# scheduled send time). Placement: the control lcore and the storage thread on
# the CPU that takes the disk's interrupts, the worker lcore and xchg-load on
# the other. Then bench_journal's commit-latency test in DIR
# (the raw io_uring write + fdatasync of one record is the device's own
# flush time). Prints one JSON line per run and a summary line:
#   {"bench":"durability","rate","async_p50_us","sync_p50_us","fdatasync_p50_us",
#    "sync_minus_async_p50_us","bound_us" (1.5 x fdatasync p50),"within_bound", ...}
# Environment: RATE (50000), DURATION (5), SESSIONS (8), ROUNDS (2),
# DIR (a temporary directory under /tmp), XCHG_IF (xbd<pid>).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=build/bin
RATE=${RATE:-50000}
DURATION=${DURATION:-5}
SESSIONS=${SESSIONS:-8}
ROUNDS=${ROUNDS:-2}
export XCHG_IF=${XCHG_IF:-xbd$$}
NS=xbd-$$
WORK=$(mktemp -d "${DIR:-/tmp}/xbd-$$.XXXX") || exit 1
XPID=
cleanup()
{
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
    bash tests/integration/netns.sh down "$NS" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
bash tests/integration/netns.sh up "$NS" >/dev/null 2>&1 || { echo "test network failed" >&2; exit 1; }

# The CPU that takes the disk's interrupts: the storage thread goes there,
# the worker lcore and the load generator on the other one
# (docs/storage/journal.md, "Where the writer runs").
IRQ_CPU=$(awk '/virtio.*req|nvme|ahci/ {best=0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) if ($i > m[NR]) {m[NR] = $i; best = i - 2}; c[best] += 1} END {for (k in c) print k; }' /proc/interrupts | head -1)
IRQ_CPU=${IRQ_CPU:-0}
WORKER_CPU=$((IRQ_CPU == 0 ? 1 : 0))

run()
{
    local mode=$1 n=$2 conf=$WORK/$1.$2.conf sock=$WORK/$1.$2.sock i out
    sed -e "s/iface=xchg0/iface=$XCHG_IF/" -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$sock\";|" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data.$mode.$n\";|" \
        -e "s|^\([[:space:]]*durability[[:space:]]*=\).*|\1 \"$mode\";|" \
        -e "s/^    control = 0;/    control = $IRQ_CPU;/" -e "s/^    storage = 0;/    storage = $IRQ_CPU;/" \
        -e "s/^        lcore = 1;/        lcore = $WORKER_CPU;/" config/xchg.conf >"$conf"
    "$BIN/xchgd" -c "$conf" >"$WORK/xchgd.log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 300; i++)); do grep -q "xchgd: ready" "$WORK/xchgd.log" && break; sleep 0.05; done
    : >"$WORK/sessions"
    for ((i = 1; i <= SESSIONS; i++)); do
        out=$("$BIN/xchgctl" -s "$sock" --json session.add account=$((1000 + i)) source=any)
        echo "$(sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p' <<<"$out"):$(sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p' <<<"$out")" >>"$WORK/sessions"
    done
    ip netns exec "$NS" "$BIN/xchg-load" --server 198.18.0.1 --sessions-file "$WORK/sessions" \
        --rate "$RATE" --duration "$DURATION" --warmup 1 --cpu "$WORKER_CPU" --label "$mode" 2>/dev/null
    kill "$XPID"
    wait "$XPID" 2>/dev/null
    XPID=
}

p50() { grep -o '"p50":[0-9]*' <<<"$1" | head -1 | cut -d: -f2; }
p99() { grep -o '"p99":[0-9]*' <<<"$1" | head -1 | cut -d: -f2; }
declare -a A S
for ((r = 0; r < ROUNDS; r++)); do
    for mode in async sync; do
        out=$(run "$mode" "$r")
        echo "$out"
        if [ "$mode" = async ]; then A+=("$(p50 "$out")"); else S+=("$(p50 "$out")"); fi
    done
done
mkdir -p "$WORK/bj"
lat=$("$BIN/bench_journal" --dir "$WORK/bj" --sync direct --prefill zero --records 100000 \
    --iters 1000 --repeat 1 --writer-cpu "$IRQ_CPU" --producer-cpu "$WORKER_CPU" 2>/dev/null |
    grep '"batch":1,')
echo "$lat"
fs=$(grep -o '"raw_p50_us":[0-9.]*' <<<"$lat" | cut -d: -f2)
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
a=$(med "${A[@]}")
s=$(med "${S[@]}")
awk -v a="$a" -v s="$s" -v f="$fs" -v rate="$RATE" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    d = (s - a) / 1000; b = 1.5 * f;
    printf "{\"bench\":\"durability\",\"rate\":%d,\"async_p50_us\":%.1f,\"sync_p50_us\":%.1f,\"fdatasync_p50_us\":%.1f,\"sync_minus_async_p50_us\":%.1f,\"bound_us\":%.1f,\"within_bound\":%s,\"loadavg\":%s}\n",
        rate, a / 1000, s / 1000, f, d, b, (d <= b ? "true" : "false"), load }'
