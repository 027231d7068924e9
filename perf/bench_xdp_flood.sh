#!/usr/bin/env bash
# bench_xdp_flood.sh -- what a flood from a disallowed address does to an
# allowed client's order latency, with the XDP allowlist filter on and off,
# in one run (docs/perf/xdp-filter.md). Needs root; without it prints one
# "skipped" line and exits 0.
#
#   perf/bench_xdp_flood.sh
#
# For each driver in DRIVERS, xchgd on a veth pair in a namespace of our own
# (worker lcore 1, control lcore 0), one allowed session for 198.18.0.2, then
# six measurements, each a fresh xchg-load run at RATE orders/s for DURATION
# s (open loop, round trips from the scheduled send):
#   on_quiet    filter on, no flood
#   on_flood    filter on, xdp_flood from 198.18.0.3 (raw AF_PACKET frames of
#               106 bytes, sendmmsg bursts of 64, as fast as it goes) for the
#               whole run
#   on_paced    filter on, the same flood paced to PACED_PPS frames/s
#   off_quiet, off_flood, off_paced: xchgd restarted with
#               filter.enabled = false (xchgd sees the flood and drops it
#               itself: malformed XOE datagrams)
# One JSON line per measurement: the flood's send rate, what the filter
# dropped (not_allowed) and the drop rate (dropped / sent), the allowed
# client's frames it let through (allowed), xchgd's rx
# packets and malformed datagrams during the run, frames the veth itself
# dropped (its receive ring full: the flood outran whoever empties it), the
# allowed client's answered/lost and rtt percentiles (ns); a summary line per
# driver.
# Clients (load and flood) are pinned to core 0 with xchgd's control lcore:
# on this 2-vCPU machine the sender, the veth's softirq and the XDP program
# all share it, so the flood rate is what one core can send.
#
# Environment (defaults): BIN=build/bin DRIVERS="af_packet af_xdp"
#   RATE=2000 DURATION=4 (seconds per measurement) WARMUP=1 PACED_PPS=100000
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-build/bin}
DRIVERS=${DRIVERS:-af_packet af_xdp}
RATE=${RATE:-2000}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-1}
PACED_PPS=${PACED_PPS:-100000}
export XCHG_IF=xfl$$
NS=xfl-$$
SERVER=198.18.0.1
LOCAL=198.18.0.2
FLOODER=198.18.0.3
WORK=
XPID=
FPID=

if [ "$(id -u)" -ne 0 ]; then
    echo '{"bench":"xdp_flood","skipped":"needs root (namespaces, XDP, DPDK)"}'
    exit 0
fi

stop_pid()
{
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
cleanup()
{
    stop_pid "$FPID"
    stop_pid "$XPID"
    bash tests/integration/netns.sh down "$NS" >/dev/null 2>&1
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT

ctl() { "$BIN/xchgctl" --socket "$SOCK" --json "$@"; }
jnum() { printf '%s' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
jsub() { printf '%s' "$2" | grep -o "\"$1\":{[^}]*}" | head -1; }

devargs()
{
    case $1 in
    af_packet) echo "net_af_packet0,iface=$XCHG_IF" ;;
    af_xdp) echo "net_af_xdp0,iface=$XCHG_IF,start_queue=0,queue_count=1,busy_budget=0" ;;
    esac
}

# start DRIVER on|off -> xchgd running, SESSION set
start()
{
    local conf=$WORK/$1-$2.conf log=$WORK/$1-$2.log i out
    SOCK=$WORK/$1-$2.sock
    sed -e "s|net_af_packet0,iface=xchg0|$(devargs "$1")|" \
        -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
        -e "s/^\([[:space:]]*throttle_msgs_per_sec[[:space:]]*=\).*/\1 1000000;/" \
        -e "/^filter/,/^}/s/enabled = true;/enabled = $([ "$2" = on ] && echo true || echo false);/" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/$1-$2.data\";|" \
        config/xchg.conf >"$conf"
    "$BIN/xchgd" -c "$conf" --no-huge >"$log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 150; i++)); do
        grep -q "xchgd: ready" "$log" && break
        kill -0 "$XPID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "xchgd: ready" "$log" || { echo "{\"bench\":\"xdp_flood\",\"error\":\"xchgd did not start ($1, filter $2)\"}"; cat "$log" >&2; return 1; }
    MAC=$(sed -n 's/^xchgd: ready.*(\([0-9A-Fa-f:]\{17\}\)).*/\1/p' "$log")
    ctl account.open account=1001 init_cash=1000000000 >/dev/null 2>&1 # session.add needs it
    out=$(ctl session.add account=1001 source="$LOCAL") || return 1
    SESSION=$(jnum session_id "$out"):$(printf '%s' "$out" | sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
    ip netns exec "$NS" ping -c 1 -W 2 "$SERVER" >/dev/null 2>&1
}

# frames the veth pair dropped: the client end's tx_dropped (veth_xmit found
# the peer's ring full) plus the appliance end's rx_dropped
veth_drops()
{
    local a b
    a=$(ip netns exec "$NS" ip -s -j link show dev "${XCHG_IF}p" | grep -o '"tx":{[^}]*}' | grep -o '"dropped":[0-9]*' | cut -d: -f2)
    b=$(ip -s -j link show dev "$XCHG_IF" | grep -o '"rx":{[^}]*}' | grep -o '"dropped":[0-9]*' | cut -d: -f2)
    echo $((${a:-0} + ${b:-0}))
}
malformed() { printf '%s' "$1" | grep -o '"malformed":{[^}]*}' | grep -o ':[0-9]*' | tr -d : | awk '{s += $1} END {print s + 0}'; }

# measure DRIVER NAME FLOOD-PPS (-1 none, 0 unpaced)
measure()
{
    local drv=$1 name=$2 flood=$3 before after load fl='{"sent":0,"rate_pps":0}' v0 v1
    before=$(ctl stats)
    v0=$(veth_drops)
    if [ "$flood" -ge 0 ]; then
        ip netns exec "$NS" taskset -c 0 "$BIN/xdp_flood" --dev "${XCHG_IF}p" --dst-mac "$MAC" \
            --src "$FLOODER" --dst "$SERVER" --duration $((DURATION + 1)) --rate "$flood" >"$WORK/flood.json" &
        FPID=$!
        sleep 0.5
    fi
    load=$(ip netns exec "$NS" "$BIN/xchg-load" --server "$SERVER" --session "$SESSION" \
        --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" --cpu 0 --label "$name" 2>/dev/null)
    if [ "$flood" -ge 0 ]; then
        wait "$FPID"
        FPID=
        fl=$(cat "$WORK/flood.json")
    fi
    after=$(ctl stats)
    v1=$(veth_drops)
    local sent dropped rx mal rate
    sent=$(jnum sent "$fl")
    local na nb
    na=$(jnum not_allowed "$after")
    nb=$(jnum not_allowed "$before")
    dropped=$((${na:-0} - ${nb:-0})) # no filter counters when it is off
    na=$(jnum allowed "$after")
    nb=$(jnum allowed "$before")
    local passed=$((${na:-0} - ${nb:-0}))
    rx=$(($(jnum rx_packets "$after") - $(jnum rx_packets "$before")))
    mal=$(($(malformed "$after") - $(malformed "$before")))
    rate=$(awk -v d="$dropped" -v s="${sent:-0}" 'BEGIN {printf "%.4f", (s > 0 ? d / s : 0)}')
    printf '{"bench":"xdp_flood","driver":"%s","run":"%s","flood_sent":%s,"flood_pps":%s,"filter_dropped":%s,"drop_rate":%s,"filter_allowed":%s,"veth_dropped":%s,"xchgd_rx_packets":%s,"xchgd_malformed":%s,"client_sent":%s,"client_answered":%s,"client_lost":%s,"rtt_ns":%s}\n' \
        "$drv" "$name" "${sent:-0}" "$(jnum rate_pps "$fl")" "$dropped" "$rate" "$passed" $((v1 - v0)) "$rx" "$mal" \
        "$(jnum sent "$load")" "$(jnum answered "$load")" "$(jnum lost "$load")" \
        "$(jsub rtt_ns "$load" | sed 's/^"rtt_ns"://')" | tee -a "$WORK/results"
}

WORK=$(mktemp -d "/tmp/xfl-$$.XXXX") || exit 1
for f in "$BIN/xchgd" "$BIN/xchgctl" "$BIN/xchg-load" "$BIN/xdp_flood" build/bpf/xchg_filter.bpf.o; do
    [ -e "$f" ] || { echo "{\"bench\":\"xdp_flood\",\"error\":\"$f missing: run make\"}"; exit 1; }
done
bash tests/integration/netns.sh up "$NS" >/dev/null 2>&1 || { echo '{"bench":"xdp_flood","error":"test network"}'; exit 1; }
ip netns exec "$NS" ip addr add "$FLOODER/24" dev "${XCHG_IF}p"
for drv in $DRIVERS; do
    : >"$WORK/results"
    for state in on off; do
        start "$drv" "$state" || { stop_pid "$XPID"; XPID=; continue; }
        measure "$drv" "${state}_quiet" -1
        measure "$drv" "${state}_flood" 0
        measure "$drv" "${state}_paced" "$PACED_PPS"
        stop_pid "$XPID"
        XPID=
    done
    p99() { grep "\"run\":\"$1\"" "$WORK/results" | grep -o '"p99":[0-9]*' | cut -d: -f2; }
    p50() { grep "\"run\":\"$1\"" "$WORK/results" | grep -o '"p50":[0-9]*' | cut -d: -f2; }
    runs="on_quiet on_flood on_paced off_quiet off_flood off_paced"
    sum() { local r out=; for r in $runs; do out+="${out:+,}\"$r\":$($1 "$r")"; done; echo "{$out}"; }
    printf '{"bench":"xdp_flood","driver":"%s","summary":true,"rate":%s,"paced_pps":%s,"p50_ns":%s,"p99_ns":%s}\n' \
        "$drv" "$RATE" "$PACED_PPS" "$(sum p50)" "$(sum p99)"
done
