#!/usr/bin/env bash
# dpdk_rtt_matrix.sh -- round-trip latency of an ordinary kernel UDP client in a
# network namespace against dpdk_echo on each DPDK virtual PMD, and against a
# plain kernel socket echo (docs/dpdk-on-this-machine.md). One JSON line per
# case: the client's percentiles, the server's counters and its CPU use while
# idle. Needs root; creates and removes its own namespaces and veth pair.
#
#   perf/dpdk_rtt_matrix.sh [CASE...]
#
# Cases: afpacket-nohuge afpacket-huge afpacket-bypass afpacket-pause
#        afpacket-sleep afpacket-sleep-eager afxdp afxdp-busypoll tap kernel
#        kernel-spin
#        (default: afpacket-nohuge afpacket-huge afxdp tap kernel)
# Environment: N (samples, 100000), WARMUP (1000), SIZE (UDP payload, 64),
# CLIENT_CPU (0), SERVER_CPU (1), CLIENT_FLAGS (extra udp_rtt_client flags,
# e.g. --spin), CLIENT_PREFIX (command the client runs under, e.g. "chrt -f 10"),
# QUIET_WAIT/QUIET_PCT (before each case wait up to 60 s for the machine to be
# under 10% busy; the share seen is reported as background_busy_pct, and what
# other processes used while the client ran as others_busy_pct), BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build/bin}
N=${N:-100000}
WARMUP=${WARMUP:-1000}
SIZE=${SIZE:-64}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_FLAGS=${CLIENT_FLAGS:-}
CLIENT_PREFIX=${CLIENT_PREFIX:-}
if [ $# -gt 0 ]; then
    CASES=("$@")
else
    CASES=(afpacket-nohuge afpacket-huge afxdp tap kernel)
fi

# Names of our own, so a concurrent test network does not collide with ours.
export XCHG_IF=xrtt$$
NS=xrtt$$c
SRV=xrtt$$s
TAP=xrtt$$t
APP_IP=198.18.0.1
# shellcheck source=tests/integration/netns.sh
source tests/integration/netns.sh

LOG=$(mktemp -d /tmp/xchg-rtt.XXXXXX)
SPID=

stop_server()
{
    if [ -n "$SPID" ]; then
        kill -INT "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
        SPID=
    fi
}

cleanup()
{
    stop_server
    xchg_netns_down "$NS" "$SRV" 2>/dev/null || true
    rm -rf "/var/run/dpdk/xrtt$$"
}
trap cleanup EXIT

# Waits for the server's "ready" line; fails if the server died first.
wait_ready()
{
    local out=$1 i
    for ((i = 0; i < 150; i++)); do
        grep -q '"event":"ready"' "$out" 2>/dev/null && return 0
        if ! kill -0 "$SPID" 2>/dev/null; then
            echo "server exited before it was ready:" >&2
            cat "${out%.out}.err" >&2 || true
            SPID=
            return 1
        fi
        sleep 0.1
    done
    echo "server not ready after 15 s" >&2
    return 1
}

# Busy share of all CPUs (percent) over one second, from /proc/stat.
busy_pct()
{
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    echo "$a $b" | awk '{d = $4 - $2; print (d > 0) ? int(100 * ($3 - $1) / d) : 0}'
}

# Other work on the machine (builds, tests) moves the tail by milliseconds:
# wait up to QUIET_WAIT seconds for the CPUs to be under QUIET_PCT busy.
wait_quiet()
{
    local t b=100
    for ((t = 0; t < ${QUIET_WAIT:-60}; t++)); do
        b=$(busy_pct)
        [ "$b" -lt "${QUIET_PCT:-10}" ] && break
    done
    echo "$b"
}

# CPU used by process $1 over $2 seconds, in percent of one core.
cpu_pct()
{
    local pid=$1 secs=$2 a b hz
    hz=$(getconf CLK_TCK)
    a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep "$secs"
    b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    echo $(((b - a) * 100 / (hz * secs)))
}

start_dpdk()
{
    local name=$1
    shift
    "$BIN/dpdk_echo" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err" &
    SPID=$!
}

run_case()
{
    local c=$1 eal_common="-l $SERVER_CPU --no-pci --file-prefix xrtt$$"
    local afp="--vdev=net_af_packet0,iface=$XCHG_IF"
    local xdp="--vdev=net_af_xdp0,iface=$XCHG_IF,start_queue=0,queue_count=1"
    : >"$LOG/$c.out"
    local bg
    bg=$(wait_quiet)
    # shellcheck disable=SC2086
    case "$c" in
    afpacket-nohuge)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --no-huge -m 256 "$afp" -- --ip $APP_IP
        ;;
    afpacket-huge)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$afp" -- --ip $APP_IP
        ;;
    afpacket-bypass)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$afp,qdisc_bypass=1" -- --ip $APP_IP
        ;;
    afpacket-pause)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$afp" -- --ip $APP_IP --idle pause
        ;;
    afpacket-sleep)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$afp" -- --ip $APP_IP --idle sleep \
            --spin-us 200 --sleep-us 50
        ;;
    afpacket-sleep-eager)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$afp" -- --ip $APP_IP --idle sleep \
            --spin-us 0 --sleep-us 50
        ;;
    afxdp)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$xdp,busy_budget=0" -- --ip $APP_IP
        ;;
    afxdp-busypoll)
        xchg_netns_up "$NS"
        start_dpdk "$c" $eal_common --in-memory "$xdp" -- --ip $APP_IP
        ;;
    tap)
        start_dpdk "$c" $eal_common --in-memory "--vdev=net_tap0,iface=$TAP" -- --ip $APP_IP
        xchg_netns_tap "$NS" "$TAP"
        ;;
    kernel | kernel-spin)
        xchg_netns_up_kernel "$NS" "$SRV"
        local spin=
        [ "$c" = kernel-spin ] && spin=--spin
        ip netns exec "$SRV" "$BIN/udp_echo_kernel" --bind $APP_IP --cpu "$SERVER_CPU" $spin \
            >"$LOG/$c.out" 2>"$LOG/$c.err" &
        SPID=$!
        ;;
    *)
        echo "unknown case $c" >&2
        return 1
        ;;
    esac
    wait_ready "$LOG/$c.out"
    local idle client server s0 s1 p0 p1 others
    idle=$(cpu_pct "$SPID" 2)
    s0=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    p0=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
    # shellcheck disable=SC2086
    client=$(ip netns exec "$NS" $CLIENT_PREFIX "$BIN/udp_rtt_client" --server $APP_IP --count "$N" \
        --warmup "$WARMUP" --size "$SIZE" --cpu "$CLIENT_CPU" --label "$c" $CLIENT_FLAGS) || true
    p1=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
    s1=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    # What everything but our server and client used while the client ran, in
    # percent of all CPUs (softirq work done for us counts as ours mostly).
    others=$(echo "$s0 $s1 $p0 $p1 $(getconf CLK_TCK)" "$(echo "$client" |
        sed -n 's/.*"cpu_user_s":\([0-9.]*\),"cpu_sys_s":\([0-9.]*\).*/\1 \2/p')" |
        awk '{dt = $4 - $2; o = ($3 - $1) - ($6 - $5) - ($8 + $9) * $7; if (o < 0) o = 0;
              print (dt > 0) ? int(100 * o / dt) : 0}')
    stop_server
    server=$(grep '^{' "$LOG/$c.out" | grep -v '"event":"ready"' | tail -1)
    echo "{\"case\":\"$c\",\"background_busy_pct\":$bg,\"others_busy_pct\":$others,\"client_cpu\":$CLIENT_CPU,\"server_idle_cpu_pct\":$idle,\"client\":${client:-null},\"server\":${server:-null}}"
    xchg_netns_down "$NS" "$SRV"
}

for c in "${CASES[@]}"; do
    run_case "$c"
done
rm -rf "$LOG"
