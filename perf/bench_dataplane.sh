#!/usr/bin/env bash
# bench_dataplane.sh -- xchgd's order round trip over the veth/net_af_packet
# path, with a bare DPDK echo and a kernel UDP echo measured the same way in
# the same run, then the highest order rate one xchgd worker sustains with no
# loss. One JSON line per measurement and a summary line at the end
# (docs/perf/dataplane.md). Needs root for all but the first phase; without
# it prints that phase's lines and one "skipped" line, and exits 0.
#
#   perf/bench_dataplane.sh
#
# First bench_gateway (no privileges needed): the worker's own work per
# burst, xchgd's code without the port, same order flow, pinned to core 1,
# with warm caches and with GW_COLD_KB of other data written between bursts.
# Then every measurement: a fresh server, then xchg-load (open loop, fixed send
# schedule, round trips timed from the scheduled send) inside a namespace of
# our own. Latency: for each rate in RATES, xchgd (SESSIONS sessions made with
# `xchgctl session.add`, 1 order a datagram, orders that mostly rest, 10% IOC
# orders that cross, cancels of the oldest once 50 rest per session), then
# dpdk_echo with the same PMD and EAL memory options on core 1, then
# udp_echo_kernel in a second namespace (`netns.sh up-kernel`); both echoes get
# the same frames from the same number of client sockets (`xchg-load --echo`).
# Throughput: xchgd with TP_SESSIONS sessions and TP_BATCH orders a datagram,
# a ladder of rates (a failed step is tried up to TP_TRIES times), then
# TP_REFINE bisection steps; a step passes when nothing is lost and the
# client kept its schedule.
# DPDK servers on core 1 (xchgd: worker lcore 1, control lcore 0), clients on
# core 0.
#
# Environment (defaults):
#   BIN=build/bin  CONFIG=config/xchg.conf
#   RATES="10000 50000"     orders/s of the latency runs; TARGET_RATE=50000 is
#                           the one the summary compares (must be in RATES)
#   DURATION=6 WARMUP=1     seconds per latency run; the first WARMUP seconds
#                           are not in the percentiles
#   LAT_REPEAT=3            times the three latency runs are made per rate;
#                           the summary takes the median of each percentile
#   LAT_TRIES=3             attempts at a repeat's three runs while other
#                           processes make any of them noisy
#   SESSIONS=8              xchgd sessions (and echo client sockets) for latency
#   TP_SESSIONS=64 TP_BATCH=16 TP_DURATION=5 TP_REFINE=2
#   TP_RATES="250000 500000 750000 1000000 1250000 1500000 2000000"
#   TP_TRIES=3              attempts per throughput step before it counts as
#                           failed (a neighbour's burst of work loses frames)
#   TP_ECHO=0               1: run the same ladder against dpdk_echo too
#   PHASES="gateway latency throughput"  which parts to run; "gateway" is
#                           bench_gateway (the worker's work without the port,
#                           no root needed), GW_DATAGRAMS=1000000 per run;
#                           GW_COLD_KB=2048: the cold-cache run's --cold
#   THROTTLE=1000000        throttle_msgs_per_sec in our config copy, so the
#                           per-session limit (10000 by default) never limits
#   NICE=0                  nice value of servers and client (with the
#                           kernel's autogroup on, only against processes of
#                           our own session: see docs/perf/dataplane.md)
#   CLIENT_SPIN=0           1: xchg-load --spin (never sleeps between sends;
#                           above ~20,000 datagrams/s it never sleeps anyway)
#   KERNEL_SPIN=0           1: udp_echo_kernel --spin instead of blocking
#   NO_HUGE=0               1: --no-huge for xchgd and dpdk_echo even when
#                           512 MiB of hugepages are free
#   AFP_ARGS=""             extra net_af_packet devargs for both, e.g.
#                           ",framecnt=2048"
#   QUIET_WAIT=20 QUIET_PCT=10  before each run wait up to QUIET_WAIT s for
#                           other processes to use under QUIET_PCT% of the
#                           machine (reported as background_busy_pct)
#   CLIENT_CPU=0
#   DURABILITY=             sync or async: storage.durability in our config
#                           copy (empty: the config's, "sync" by default:
#                           answers wait for the journal's fdatasync)
#   KEEP_WAL=               a directory: the journal of the last xchgd run
#                           is copied there (for tools/xchg-replay)
#
# Only 198.18.0.0/15, only inside the namespaces made here; all removed at
# exit (also on Ctrl-C).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BIN=${BIN:-build/bin}
CONFIG=${CONFIG:-config/xchg.conf}
RATES=${RATES:-"10000 50000"}
TARGET_RATE=${TARGET_RATE:-50000}
DURATION=${DURATION:-6}
WARMUP=${WARMUP:-1}
SESSIONS=${SESSIONS:-8}
TP_SESSIONS=${TP_SESSIONS:-64}
TP_BATCH=${TP_BATCH:-16}
TP_DURATION=${TP_DURATION:-5}
TP_REFINE=${TP_REFINE:-2}
TP_RATES=${TP_RATES:-"250000 500000 750000 1000000 1250000 1500000 2000000"}
TP_TRIES=${TP_TRIES:-3}
LAT_TRIES=${LAT_TRIES:-3}
LAT_REPEAT=${LAT_REPEAT:-3}
TP_ECHO=${TP_ECHO:-0}
PHASES=${PHASES:-"gateway latency throughput"}
GW_DATAGRAMS=${GW_DATAGRAMS:-1000000}
GW_COLD_KB=${GW_COLD_KB:-2048}
THROTTLE=${THROTTLE:-1000000}
NICE=${NICE:-0}
CLIENT_SPIN=${CLIENT_SPIN:-0}
KERNEL_SPIN=${KERNEL_SPIN:-0}
NO_HUGE=${NO_HUGE:-0}
AFP_ARGS=${AFP_ARGS:-}
DURABILITY=${DURABILITY:-}
KEEP_WAL=${KEEP_WAL:-}
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_PCT=${QUIET_PCT:-10}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=1 # xchgd's worker lcore in config/xchg.conf; dpdk_echo and the kernel echo match it
APP_IP=198.18.0.1
CLIENT_IP=198.18.0.2
PORT=9000

TARGET_INBOX_P50_NS=1000
TARGET_INBOX_P999_NS=5000
TARGET_RTT_RATIO=1.2
TARGET_TP=500000

skip()
{
    printf '{"bench":"dataplane","skipped":true,"reason":"%s"}\n' "$1"
    exit 0
}

case " $RATES " in
*" $TARGET_RATE "*) ;;
*)
    echo "bench_dataplane: TARGET_RATE $TARGET_RATE is not in RATES ($RATES)" >&2
    exit 2
    ;;
esac

# Names of our own: a concurrent test network or sandbox does not collide.
TAG=xbn$$
export XCHG_IF=$TAG # root end; the client end is ${TAG}p
NS=$TAG-c
SRV=$TAG-s
WORK=/tmp/xbn-$$
SOCK=$WORK/xchgd.sock
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
# shellcheck source=tests/integration/netns.sh disable=SC1091
source tests/integration/netns.sh

SPID=  # server process
SKIND= # xchgd | dpdk | kernel
NET=   # "" | dpdk | kernel: the test network that is up

die()
{
    printf '{"bench":"dataplane","error":"%s"}\n' "$*"
    echo "bench_dataplane: $*" >&2
    exit 1
}

stop_server()
{
    [ -n "$SPID" ] || return 0
    if [ "$SKIND" = xchgd ]; then
        # the control core's side of the run: fills applied to the accounts
        # and the worker-fill to account-update lag (docs/perf/accounts.md)
        local ls
        ls=$("$BIN/xchgctl" -s "$SOCK" --json ledger.stats 2>/dev/null) &&
            printf '{"bench":"accounts_live","ledger":%s}\n' "$ls"
        kill -TERM "$SPID" 2>/dev/null
    else
        kill -INT "$SPID" 2>/dev/null
    fi
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SPID" 2>/dev/null; then
        echo "bench_dataplane: $SKIND (pid $SPID) did not stop in 10 s; killing it" >&2
        kill -KILL "$SPID" 2>/dev/null
    fi
    wait "$SPID" 2>/dev/null
    if [ "$SKIND" = xchgd ] && [ -n "$KEEP_WAL" ] && [ -d "$WORK/data/wal" ]; then
        rm -rf "$KEEP_WAL" && mkdir -p "$KEEP_WAL" && cp -a "$WORK/data/wal/." "$KEEP_WAL/"
    fi
    # the EAL's runtime directory (xchgd removes its own on a clean exit)
    rm -rf "/var/run/dpdk/xchgd$SPID" "/var/run/dpdk/${TAG}e"
    SPID=
    SKIND=
}

net_down()
{
    [ -n "$NET" ] || return 0
    xchg_netns_down "$NS" "$SRV" >/dev/null 2>&1
    NET=
}

net_up()
{
    [ "$NET" = "$1" ] && return 0
    net_down
    if [ "$1" = kernel ]; then
        xchg_netns_up_kernel "$NS" "$SRV" || die "could not create the test network (netns.sh up-kernel)"
    else
        xchg_netns_up "$NS" || die "could not create the test network (netns.sh up)"
    fi
    NET=$1
}

cleanup()
{
    trap - EXIT INT TERM
    stop_server
    net_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- machine noise ------------------------------------------------------------------

# "busy total" jiffies of all CPUs. Interrupt and softirq time is left out
# of busy: most of it is the test's own packets (the kernel echo's replies
# are received in softirq on an otherwise idle core, charged to no process).
cpu_stat()
{
    awk '/^cpu /{print $2+$3+$4+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}

# user+system jiffies of a process (all threads), 0 when there is none.
proc_ticks()
{
    if [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ]; then
        awk '{print $14 + $15}' "/proc/$1/stat"
    else
        echo 0
    fi
}

# Percent of the machine busy over one second, the server's own CPU left out.
others_1s()
{
    local a b p0 p1
    a=$(cpu_stat)
    p0=$(proc_ticks "$SPID")
    sleep 1
    b=$(cpu_stat)
    p1=$(proc_ticks "$SPID")
    echo "$a $b $p0 $p1" | awk '{d = $4 - $2; o = ($3 - $1) - ($6 - $5); if (o < 0) o = 0;
                                 print (d > 0) ? int(100 * o / d) : 0}'
}

# Waits up to QUIET_WAIT seconds for the others to use under QUIET_PCT% of the
# machine; prints the last share seen.
wait_quiet()
{
    local t b=100
    for ((t = 0; t < QUIET_WAIT; t++)); do
        b=$(others_1s)
        [ "$b" -lt "$QUIET_PCT" ] && break
    done
    echo "$b"
}

# ---- the worker's own work, without the port -------------------------------------------

# bench_gateway: what xchgd's worker does between its rx and tx calls, with
# the same order flow, pinned to the worker's core (no privileges needed);
# with the feed, the credit lines and the summary data hook, as xchgd runs
# (the journal is not in it: bench_gateway --features --journal DIR).
GW_INBOX=null
GW_INBOX_COLD=null
gateway_runs()
{
    local b n cold out run
    if [ ! -x "$BIN/bench_gateway" ]; then
        printf '{"bench":"dataplane","error":"%s/bench_gateway not built (make all)"}\n' "$BIN"
        exit 1
    fi
    # 1 order a datagram with warm and with cold caches, then TP_BATCH
    for run in "1 0" "1 $GW_COLD_KB" "$TP_BATCH 0"; do
        read -r b cold <<<"$run"
        n=$SESSIONS
        [ "$b" = 1 ] || n=$TP_SESSIONS
        wait_quiet >/dev/null
        out=$("$BIN/bench_gateway" --config "$CONFIG" --sessions "$n" --batch "$b" --cold "$cold" \
            --datagrams "$GW_DATAGRAMS" --pin "$SERVER_CPU" --feed --risk --md) || die "bench_gateway failed"
        echo "{\"bench\":\"dataplane\",\"case\":\"worker_without_port\",${out#\{\"bench\":\"gateway\",}"
        if [ "$b" = 1 ] && [ "$cold" = 0 ]; then
            GW_INBOX=$(sed -n 's/.*"in_box_ns":\({[^}]*}\).*/\1/p' <<<"$out")
        elif [ "$b" = 1 ]; then
            GW_INBOX_COLD=$(sed -n 's/.*"in_box_ns":\({[^}]*}\).*/\1/p' <<<"$out")
        fi
    done
}
case " $PHASES " in
*" gateway "*) gateway_runs ;;
esac

# ---- from here on: root, the test network and the servers ------------------------------

if [ "$(id -u)" -ne 0 ]; then
    skip "needs root (network namespaces, veth, DPDK net_af_packet); run: sudo make bench"
fi
for t in ip ethtool nice timeout awk sed; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not found"
done
for b in xchgd xchgctl xchg-load dpdk_echo udp_echo_kernel; do
    if [ ! -x "$BIN/$b" ]; then
        printf '{"bench":"dataplane","error":"%s/%s not built (make all)"}\n' "$BIN" "$b"
        exit 1
    fi
done
mkdir -m 700 "$WORK" || die "cannot create $WORK"

# ---- servers ------------------------------------------------------------------------

HUGE_FREE_MB=$(awk '/^HugePages_Free:/{f = $2} /^Hugepagesize:/{s = $2} END{print int(f * s / 1024)}' /proc/meminfo)
# xchgd wants 512 MiB of free hugepages (else it runs --no-huge by itself);
# dpdk_echo gets the same memory options as xchgd's EAL command line.
if [ "$NO_HUGE" = 1 ] || [ "$HUGE_FREE_MB" -lt 600 ]; then
    MEM=nohuge
    XCHGD_MEM=(--no-huge)
    ECHO_MEM=(--no-huge -m 1024 --no-shconf)
else
    MEM=huge
    XCHGD_MEM=()
    ECHO_MEM=(--in-memory)
fi
DEVARGS="net_af_packet0,iface=$XCHG_IF$AFP_ARGS"

# Our copy of the config: our interface, our control socket, no throttle, our
# storage (xchgd locks it: `make run` may hold ./data).
CONF=$WORK/xchg.conf
sed -e "s|devargs = \"net_af_packet0,iface=[^\"]*\"|devargs = \"$DEVARGS\"|" \
    -e "s|^\([[:space:]]*socket[[:space:]]*=[[:space:]]*\)\"[^\"]*\"|\1\"$SOCK\"|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s|throttle_msgs_per_sec[[:space:]]*=[[:space:]]*[0-9]*|throttle_msgs_per_sec = $THROTTLE|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s|^\([[:space:]]*metrics_port[[:space:]]*=\).*|\1 0;|" \
    "$CONFIG" >"$CONF" || die "cannot copy $CONFIG"
DUR=$(sed -n 's/^[[:space:]]*durability[[:space:]]*=[[:space:]]*"\([a-z]*\)".*/\1/p' "$CONF")
if [ -n "$DURABILITY" ]; then
    sed -i "s|^\([[:space:]]*durability[[:space:]]*=\).*|\1 \"$DURABILITY\";|" "$CONF"
    grep -q "durability = \"$DURABILITY\";" "$CONF" || die "$CONFIG: could not set durability"
    DUR=$DURABILITY
fi
if ! grep -q "iface=$XCHG_IF" "$CONF" || ! grep -q "\"$SOCK\"" "$CONF" ||
    ! grep -q "throttle_msgs_per_sec = $THROTTLE" "$CONF"; then
    die "$CONFIG: could not set the port devargs, control socket and throttle in its copy"
fi
LCORE=$(sed -n 's/^[[:space:]]*lcore[[:space:]]*=[[:space:]]*\([0-9]*\);.*/\1/p' "$CONF" | head -1)
[ "$LCORE" = "$SERVER_CPU" ] || echo "bench_dataplane: note: the worker lcore in $CONFIG is $LCORE, not $SERVER_CPU" >&2

# Waits until file $1 matches $2; fails when the server died first.
wait_ready()
{
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench_dataplane: $SKIND did not become ready:" >&2
    tail -20 "$1" >&2
    stop_server
    return 1
}

# Starts xchgd and makes $1 sessions, written to $WORK/sessions as ID:TOKEN.
start_xchgd()
{
    local n=$1 i out id tok
    net_up dpdk
    SKIND=xchgd
    rm -rf "$WORK/data" # a fresh server: no journal to recover
    nice -n "$NICE" "$BIN/xchgd" -c "$CONF" "${XCHGD_MEM[@]}" >"$WORK/xchgd.log" 2>&1 &
    SPID=$!
    wait_ready "$WORK/xchgd.log" "xchgd: ready" || die "xchgd did not start"
    : >"$WORK/sessions"
    for ((i = 1; i <= n; i++)); do
        # session.add refuses unknown accounts: open each with plenty of money
        "$BIN/xchgctl" -s "$SOCK" --json account.open account=$((1000 + i)) \
            init_cash=100000000000 >/dev/null || die "xchgctl account.open failed"
        out=$("$BIN/xchgctl" -s "$SOCK" --json session.add account=$((1000 + i)) source=$CLIENT_IP) ||
            die "xchgctl session.add failed: $out"
        id=$(sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p' <<<"$out")
        tok=$(sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p' <<<"$out")
        if [ -z "$id" ] || [ -z "$tok" ]; then
            die "unexpected session.add answer: $out"
        fi
        echo "$id:$tok" >>"$WORK/sessions"
    done
}

start_dpdk_echo()
{
    net_up dpdk
    SKIND=dpdk
    nice -n "$NICE" "$BIN/dpdk_echo" -l "$SERVER_CPU" --no-pci --file-prefix "${TAG}e" "${ECHO_MEM[@]}" \
        --log-level=lib.eal:warning "--vdev=$DEVARGS" -- --ip "$APP_IP" \
        >"$WORK/echo.out" 2>"$WORK/echo.err" &
    SPID=$!
    wait_ready "$WORK/echo.out" '"event":"ready"' || {
        cat "$WORK/echo.err" >&2
        die "dpdk_echo did not start"
    }
}

start_kernel_echo()
{
    local spin=()
    [ "$KERNEL_SPIN" = 1 ] && spin=(--spin)
    net_up kernel
    SKIND=kernel
    ip netns exec "$SRV" nice -n "$NICE" "$BIN/udp_echo_kernel" --bind "$APP_IP" --port "$PORT" \
        --cpu "$SERVER_CPU" "${spin[@]}" >"$WORK/kecho.out" 2>"$WORK/kecho.err" &
    SPID=$!
    wait_ready "$WORK/kecho.out" '"event":"ready"' || die "udp_echo_kernel did not start"
}

# Sessions for the echo runs: as many client sockets as xchgd's runs had.
echo_sessions()
{
    local i
    for ((i = 1; i <= $1; i++)); do
        printf '%d:%032d\n' "$i" 0
    done >"$WORK/echo_sessions"
}

# ---- measurements -------------------------------------------------------------------

# A number field of a JSON line (the last one of that name), or null.
jnum()
{
    local v
    v=$(sed -n "s/.*\"$2\": *\(-\{0,1\}[0-9][0-9.]*\).*/\1/p" <<<"$1" | tail -1)
    echo "${v:-null}"
}

# Runs xchg-load in the client namespace with the arguments given and builds
# one measurement line in LINE: case $1, server $2, then the client's fields,
# then the noise and xchgd's own view (stats). Sets LAST to the client's JSON.
LAST=
LINE=
measure()
{
    local kind=$1 server=$2 rate=$3 dur=$4
    shift 4
    local bg s0 s1 p0 p1 client inner extra stats spin=()
    [ "$CLIENT_SPIN" = 1 ] && spin=(--spin)
    bg=$(wait_quiet)
    s0=$(cpu_stat)
    p0=$(proc_ticks "$SPID")
    local w0=$EPOCHREALTIME w1
    client=$(timeout $((${dur%.*} + 40)) ip netns exec "$NS" nice -n "$NICE" "$BIN/xchg-load" \
        --server "$APP_IP" --port "$PORT" --cpu "$CLIENT_CPU" --rate "$rate" --duration "$dur" \
        --warmup "$WARMUP" --label "$kind/$server/$rate" "${spin[@]}" "$@" 2>"$WORK/client.err")
    w1=$EPOCHREALTIME
    p1=$(proc_ticks "$SPID")
    s1=$(cpu_stat)
    if [ -z "$client" ]; then
        cat "$WORK/client.err" >&2
        die "xchg-load produced no result ($kind, $server, $rate/s)"
    fi
    LAST=$client
    local cu cs
    cu=$(jnum "$client" cpu_user_s)
    cs=$(jnum "$client" cpu_sys_s)
    # What everything but our server and client used while the client ran, in
    # percent of the machine; the client's CPU in percent of one core.
    # (server and client CPU in percent of one core)
    extra=$(echo "$s0 $s1 $p0 $p1 $HZ $cu $cs $w0 $w1 $NCPU" |
        awk '{dt = $4 - $2; o = ($3 - $1) - ($6 - $5) - ($8 + $9) * $7; if (o < 0) o = 0;
              w = $11 - $10;
              printf "\"others_busy_pct\":%d,\"server_cpu_pct\":%d,\"client_cpu_pct\":%d",
                     (dt > 0) ? 100 * o / dt : 0, (dt > 0) ? 100 * ($6 - $5) * $12 / dt : 0,
                     (w > 0) ? 100 * ($8 + $9) / w : 0}')
    extra="\"background_busy_pct\":$bg,$extra,\"memory\":\"$MEM\",\"durability\":\"$DUR\",\"nice\":$NICE,\"client_spin\":$([ "$CLIENT_SPIN" = 1 ] && echo true || echo false)"
    if [ "$server" = xchgd ]; then
        stats=$("$BIN/xchgctl" -s "$SOCK" --json stats 2>/dev/null | tr -d ' \n')
        local inbox txcall gw
        inbox=$(sed -n 's/.*"in_box_latency":\({[^}]*}\).*/\1/p' <<<"$stats")
        txcall=$(sed -n 's/.*"tx_call_latency":\({[^}]*}\).*/\1/p' <<<"$stats")
        gw="\"busy_permille\":$(jnum "$stats" busy_permille),\"rx_packets\":$(jnum "$stats" rx_packets)"
        gw="$gw,\"tx_packets\":$(jnum "$stats" tx_packets),\"tx_dropped\":$(jnum "$stats" tx_dropped)"
        gw="$gw,\"datagrams_in\":$(jnum "$stats" datagrams_in),\"orders_resting\":$(jnum "$stats" orders_resting)"
        gw="$gw,\"throttled\":$(jnum "$stats" throttled)"
        extra="$extra,\"in_box_latency\":${inbox:-null},\"tx_call_latency\":${txcall:-null},\"xchgd\":{$gw}"
    fi
    inner=${client#\{}
    inner=${inner%\}}
    LINE="{\"bench\":\"dataplane\",\"case\":\"$kind\",\"server\":\"$server\",$inner,$extra}"
}

# Stops an echo server and adds what it counted to LINE: dpdk_echo's in-box
# latency (measured as xchgd measures its own) and busy share, the kernel
# echo's datagrams in and out.
stop_echo()
{
    local kind=$SKIND out last ib tc
    out=$WORK/echo.out
    [ "$kind" = kernel ] && out=$WORK/kecho.out
    stop_server
    last=$(grep '^{' "$out" | grep -v '"event":"ready"' | tail -1)
    if [ "$kind" = dpdk ]; then
        ib=$(sed -n 's/.*"in_box_latency":\({[^}]*}\).*/\1/p' <<<"$last")
        tc=$(sed -n 's/.*"tx_call_latency":\({[^}]*}\).*/\1/p' <<<"$last")
        LINE="${LINE%\}},\"in_box_latency\":${ib:-null},\"tx_call_latency\":${tc:-null},\"dpdk_echo\":{\"busy_permille\":$(jnum "$last" busy_permille),\"rx_pkts\":$(jnum "$last" rx_pkts),\"tx_pkts\":$(jnum "$last" tx_pkts),\"imissed\":$(jnum "$last" imissed)}}"
    else
        LINE="${LINE%\}},\"kernel_echo\":{\"rx\":$(jnum "$last" rx),\"tx\":$(jnum "$last" tx),\"spin\":$([ "$KERNEL_SPIN" = 1 ] && echo true || echo false)}}"
    fi
}

# One latency measurement of $1 (xchgd | dpdk | kernel) at rate $2, repeat
# $3, attempt $4: prints its line and keeps its numbers in CUR.
declare -A CUR
lat_one()
{
    local key=$1 rate=$2 rep=$3 attempt=$4
    case "$key" in
    xchgd)
        start_xchgd "$SESSIONS"
        measure latency xchgd "$rate" "$DURATION" --sessions-file "$WORK/sessions"
        stop_server
        ;;
    dpdk)
        start_dpdk_echo
        measure latency dpdk_echo "$rate" "$DURATION" --echo --sessions-file "$WORK/echo_sessions"
        stop_echo
        ;;
    kernel)
        start_kernel_echo
        measure latency kernel_echo "$rate" "$DURATION" --echo --sessions-file "$WORK/echo_sessions"
        stop_echo
        ;;
    esac
    local others quiet=false
    others=$(jnum "$LINE" others_busy_pct)
    [ "$others" != null ] && [ "$others" -lt "$QUIET_PCT" ] && quiet=true
    LINE="${LINE%\}},\"repeat\":$rep,\"attempt\":$attempt,\"quiet\":$quiet}"
    echo "$LINE"
    CUR[$key.p50]=$(jnum "$LAST" p50)
    CUR[$key.p99]=$(jnum "$LAST" p99)
    CUR[$key.inbox]=$(sed -n 's/.*"in_box_latency":\({[^}]*}\).*/\1/p' <<<"$LINE")
    CUR[$key.others]=$others
}

# Median of the numbers in $1 (space-separated; null when there are none).
median()
{
    tr ' ' '\n' <<<"$1" | grep -E '^[0-9.]+$' | sort -n |
        awk '{a[NR] = $1} END{if (NR == 0) print "null"; else if (NR % 2) print a[(NR + 1) / 2];
                              else printf "%d\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# For each rate, LAT_REPEAT times: xchgd, dpdk_echo, kernel echo, one after
# the other. When another process used QUIET_PCT% of the machine or more
# during any of the three, the three are run again (LAT_TRIES attempts in
# all) and the attempt whose noisiest run was the quietest counts. The
# summary takes, per server and rate, the median over the repeats of each
# percentile: P50, P99 and INBOX by "server.rate", the per-repeat p50 ratios
# in RATIOS, the noisiest counted run in NOISE.
declare -A P50 P99 INBOX NOISE RATIOS
latency_runs()
{
    local rate rep attempt k q worst best
    local -A l50 l99 lib
    echo_sessions "$SESSIONS"
    for rate in $RATES; do
        NOISE[$rate]=0
        l50=() l99=() lib=()
        RATIOS[$rate]=
        for ((rep = 1; rep <= LAT_REPEAT; rep++)); do
            best=1000
            local -A pick=()
            for ((attempt = 1; attempt <= LAT_TRIES; attempt++)); do
                CUR=()
                lat_one xchgd "$rate" "$rep" "$attempt"
                lat_one dpdk "$rate" "$rep" "$attempt"
                lat_one kernel "$rate" "$rep" "$attempt"
                net_down
                worst=0
                for k in xchgd dpdk kernel; do
                    if [ "${CUR[$k.others]}" != null ] && [ "${CUR[$k.others]}" -gt "$worst" ]; then
                        worst=${CUR[$k.others]}
                    fi
                done
                if [ "$worst" -lt "$best" ]; then
                    best=$worst
                    for k in "${!CUR[@]}"; do
                        pick[$k]=${CUR[$k]}
                    done
                fi
                [ "$worst" -lt "$QUIET_PCT" ] && break
            done
            [ "$best" -gt "${NOISE[$rate]}" ] && NOISE[$rate]=$best
            for k in xchgd dpdk kernel; do
                l50[$k]="${l50[$k]:-} ${pick[$k.p50]}"
                l99[$k]="${l99[$k]:-} ${pick[$k.p99]}"
                for q in p50_ns p90_ns p99_ns p999_ns max_ns; do
                    lib[$k.$q]="${lib[$k.$q]:-} $(jnum "${pick[$k.inbox]:-}" $q)"
                done
            done
            RATIOS[$rate]="${RATIOS[$rate]}${RATIOS[$rate]:+,}$(ratio "${pick[xchgd.p50]}" "${pick[dpdk.p50]}")"
        done
        for k in xchgd dpdk kernel; do
            P50[$k.$rate]=$(median "${l50[$k]}")
            P99[$k.$rate]=$(median "${l99[$k]}")
            INBOX[$k.$rate]=null
            if [ "$k" != kernel ]; then
                INBOX[$k.$rate]="{\"repeats\":$LAT_REPEAT"
                for q in p50_ns p90_ns p99_ns p999_ns max_ns; do
                    INBOX[$k.$rate]="${INBOX[$k.$rate]},\"$q\":$(median "${lib[$k.$q]}")"
                done
                INBOX[$k.$rate]="${INBOX[$k.$rate]}}"
            fi
        done
    done
}

# One throughput step against server $1 at rate $2 (a fresh server each
# time); sets PASS to 1 when nothing was lost and the client kept up.
PASS=0
TP_VERDICT=
TP_LAST_FAIL=
tp_step()
{
    local server=$1 rate=$2 attempt=$3 lost achieved lag others
    if [ "$server" = xchgd ]; then
        start_xchgd "$TP_SESSIONS"
        measure throughput xchgd "$rate" "$TP_DURATION" --batch "$TP_BATCH" \
            --sessions-file "$WORK/sessions"
        stop_server
    else
        start_dpdk_echo
        measure throughput dpdk_echo "$rate" "$TP_DURATION" --batch "$TP_BATCH" --echo \
            --sessions-file "$WORK/echo_sessions"
        stop_echo
    fi
    lost=$(jnum "$LAST" lost)
    achieved=$(jnum "$LAST" achieved_rate)
    lag=$(jnum "$LAST" max_send_lag_ns)
    # kept up: 99% of the offered rate went out
    others=$(jnum "$LINE" others_busy_pct)
    # pass: nothing lost and 99% of the offered rate went out; otherwise
    # noisy: other processes used QUIET_PCT% or more of the machine meanwhile,
    # client_behind: the client could not keep its schedule (it is the limit),
    # loss: lost on a quiet machine with the client on schedule
    TP_VERDICT=$(awk -v l="$lost" -v a="$achieved" -v r="$rate" -v o="$others" -v q="$QUIET_PCT" \
        'BEGIN{if (l == 0 && a >= 0.99 * r) print "pass"; else if (o >= q) print "noisy";
               else if (a < 0.99 * r) print "client_behind"; else print "loss"}')
    PASS=0
    [ "$TP_VERDICT" = pass ] && PASS=1
    echo "${LINE%\}},\"attempt\":$attempt,\"pass\":$([ "$PASS" = 1 ] && echo true || echo false),\"verdict\":\"$TP_VERDICT\",\"max_send_lag_ms\":$((${lag:-0} / 1000000))}"
}

# Up to TP_TRIES attempts at one rate; PASS=1 when one of them passed.
tp_try()
{
    local i
    for ((i = 1; i <= TP_TRIES; i++)); do
        tp_step "$1" "$2" "$i"
        # a client that cannot keep up on a quiet machine will not next time
        [ "$PASS" = 1 ] || [ "$TP_VERDICT" = client_behind ] && return 0
    done
}

# Ladder, then bisection between the last rate that passed and the first
# that did not; sets TP_BEST and TP_FAIL (0: none failed).
TP_BEST=0
TP_FAIL=0
throughput_runs()
{
    local server=$1 rate best=0 fail=0 i mid
    echo_sessions "$TP_SESSIONS"
    for rate in $TP_RATES; do
        tp_try "$server" "$rate"
        if [ "$PASS" = 1 ]; then
            best=$rate
        else
            fail=$rate
            TP_LAST_FAIL=$TP_VERDICT
            break
        fi
    done
    for ((i = 0; i < TP_REFINE && fail > 0; i++)); do
        mid=$(((best + fail) / 2 / 10000 * 10000))
        if [ "$mid" -le "$best" ] || [ "$mid" -ge "$fail" ]; then
            break
        fi
        tp_try "$server" "$mid"
        if [ "$PASS" = 1 ]; then
            best=$mid
        else
            fail=$mid
            TP_LAST_FAIL=$TP_VERDICT
        fi
    done
    net_down
    TP_BEST=$best
    TP_FAIL=$fail
    TP_FAIL_WHY=none
    [ "$fail" -gt 0 ] && TP_FAIL_WHY=$TP_LAST_FAIL
}

ratio()
{
    awk -v a="${1:-null}" -v b="${2:-null}" \
        'BEGIN{if (a != "null" && b != "null" && b > 0) printf "%.3f", a / b; else print "null"}'
}

XBEST=0
XFAIL=0
XWHY=none
ECHO_TP=null
case " $PHASES " in
*" latency "*) latency_runs ;;
esac
case " $PHASES " in
*" throughput "*)
    throughput_runs xchgd
    XBEST=$TP_BEST
    XFAIL=$TP_FAIL
    XWHY=$TP_FAIL_WHY
    ;;
esac
if [ "$TP_ECHO" = 1 ]; then
    throughput_runs dpdk_echo
    ECHO_TP="{\"max_sustained_orders_per_s\":$TP_BEST,\"first_failing_rate\":$TP_FAIL,\"failed_as\":\"$TP_FAIL_WHY\"}"
fi

# ---- summary ---------------------------------------------------------------------------
rows=
RAN_LATENCY=0
case " $PHASES " in
*" latency "*) RAN_LATENCY=1 ;;
esac
for rate in $RATES; do
    [ "$RAN_LATENCY" = 1 ] || break
    row="\"rate\":$rate,\"others_busy_pct\":${NOISE[$rate]:-null}"
    for s in xchgd dpdk kernel; do
        name=$s
        [ "$s" = xchgd ] || name=${s}_echo
        row="$row,\"${name}_p50_ns\":${P50[$s.$rate]:-null},\"${name}_p99_ns\":${P99[$s.$rate]:-null}"
    done
    row="$row,\"p50_vs_dpdk_echo\":$(ratio "${P50[xchgd.$rate]:-}" "${P50[dpdk.$rate]:-}")"
    row="$row,\"p50_vs_dpdk_echo_each\":[${RATIOS[$rate]:-}]"
    row="$row,\"p99_vs_dpdk_echo\":$(ratio "${P99[xchgd.$rate]:-}" "${P99[dpdk.$rate]:-}")"
    row="$row,\"p50_vs_kernel_echo\":$(ratio "${P50[xchgd.$rate]:-}" "${P50[kernel.$rate]:-}")"
    row="$row,\"p99_vs_kernel_echo\":$(ratio "${P99[xchgd.$rate]:-}" "${P99[kernel.$rate]:-}")"
    rows="$rows${rows:+,}{$row}"
done
inbox=${INBOX[xchgd.$TARGET_RATE]:-null}
echo_inbox=${INBOX[dpdk.$TARGET_RATE]:-null}
ib50=$(jnum "$inbox" p50_ns)
ib999=$(jnum "$inbox" p999_ns)
# "true" when number $1 (not null) is at most $2, else "false".
le()
{
    awk -v a="$1" -v b="$2" 'BEGIN{print (a != "null" && a != "" && a + 0 <= b + 0) ? "true" : "false"}'
}
r50=$(ratio "${P50[xchgd.$TARGET_RATE]:-}" "${P50[dpdk.$TARGET_RATE]:-}")
r99=$(ratio "${P99[xchgd.$TARGET_RATE]:-}" "${P99[dpdk.$TARGET_RATE]:-}")
targets="\"in_box_p50_le_1us\":$(le "$ib50" $TARGET_INBOX_P50_NS)"
targets="$targets,\"in_box_p999_le_5us\":$(le "$ib999" $TARGET_INBOX_P999_NS)"
targets="$targets,\"rtt_p50_le_1.2x_dpdk_echo\":$(le "$r50" $TARGET_RTT_RATIO)"
targets="$targets,\"rtt_p99_le_1.2x_dpdk_echo\":$(le "$r99" $TARGET_RTT_RATIO)"
targets="$targets,\"sustained_ge_500k_orders_per_s\":$([ "$XBEST" -ge $TARGET_TP ] && echo true || echo false)"
# whether the numbers behind the verdicts came from quiet runs
quiet=true
if [ "$RAN_LATENCY" = 1 ] && { [ "${NOISE[$TARGET_RATE]:-100}" -ge "$QUIET_PCT" ]; }; then
    quiet=false
fi
[ "$XWHY" = noisy ] && quiet=false
targets="$targets,\"measured_quiet\":$quiet"
if [ "$RAN_LATENCY" = 0 ]; then
    targets="\"in_box_p50_le_1us\":null,\"in_box_p999_le_5us\":null,\"rtt_p50_le_1.2x_dpdk_echo\":null"
    targets="$targets,\"rtt_p99_le_1.2x_dpdk_echo\":null,\"sustained_ge_500k_orders_per_s\":$([ "$XBEST" -ge $TARGET_TP ] && echo true || echo false)"
    targets="$targets,\"measured_quiet\":$quiet"
fi
case " $PHASES " in
*" throughput "*) ;;
*) targets=${targets/\"sustained_ge_500k_orders_per_s\":false/\"sustained_ge_500k_orders_per_s\":null} ;;
esac
echo "{\"bench\":\"dataplane\",\"case\":\"summary\",\"memory\":\"$MEM\",\"durability\":\"$DUR\",\"nice\":$NICE,\"target_rate\":$TARGET_RATE,\"sessions\":$SESSIONS,\"latency_repeats\":$LAT_REPEAT,\"latency\":[$rows],\"in_box_latency\":$inbox,\"dpdk_echo_in_box_latency\":$echo_inbox,\"worker_without_port_in_box_ns\":$GW_INBOX,\"worker_without_port_cold_in_box_ns\":$GW_INBOX_COLD,\"throughput\":{\"server\":\"xchgd\",\"orders_per_datagram\":$TP_BATCH,\"sessions\":$TP_SESSIONS,\"max_sustained_orders_per_s\":$XBEST,\"first_failing_rate\":$XFAIL,\"failed_as\":\"$XWHY\",\"dpdk_echo\":$ECHO_TP},\"targets\":{$targets}}"
