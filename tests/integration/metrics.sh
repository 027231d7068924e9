#!/usr/bin/env bash
# metrics.sh -- xchgd's metrics, end to end: /metrics, promtool, node-exporter,
# the counters after known traffic, `xchgctl stats` and `xchgctl top` (`make
# test` runs it after run.sh; it needs root).
#
#   1. the test network (tests/integration/netns.sh, names of our own:
#      interface xmt<pid>, namespace xmt-<pid>); xchgd --no-huge with a copy of
#      config/xchg.conf (our interface, our control socket, control.metrics_port
#      = a free port chosen here);
#   2. GET /metrics: 200, Content-Type 0.0.4, `promtool check metrics` exits 0
#      with no findings; other paths 404; a taken metrics port makes a second
#      xchgd refuse to start with a message naming it;
#   3. known traffic from inside the namespace with xchg-client-example (each
#      run logs on, sends one limit order, logs out): N orders on IF2501, of
#      which T trade; then the metrics must say exactly that (orders by
#      instrument and in total, trades, traded lots, logons, logged-on
#      sessions, best bid/ask and depth, matcher and in-box histogram counts,
#      the port's own rx counter), and `xchgctl --json stats` too;
#   4. host metrics against prometheus-node-exporter (started here on
#      127.0.0.1 and a free port, stopped at the end): ours are read before
#      (a) and after (b) its scrape, from two different samples; its value must
#      lie in [a, b] within the tolerances of docs/operations/metrics.md;
#   5. `xchgctl stats` tables and `xchgctl top` under tmux (capture-pane): the
#      view must show the cores, the rates, the latency, the book of IF2501
#      with the resting bid, the accounts 1001 and 2002 with the margin of
#      their positions, the host; it must refresh (its clock line changes)
#      and quit on `q`; then account 3003 (small cash) buys one lot, rests
#      at a risk ratio over a lowered reject level, and is the first row of
#      `top` and counted in xchg_accounts_at_risk{level="reject"};
#   6. every metric tools/grafana/xchg.json queries is one xchgd exports.
#
# Prints one line per check and "N passed, M failed" last. Logs stay in the
# work directory when something failed (or with ITEST_KEEP=1). Tools that are
# missing (promtool, prometheus-node-exporter, tmux, curl) fail the check
# that needs them, saying which package brings them (tools/deps.sh installs
# them all). Only 198.18.0.0/15, only inside the namespace made here.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${BIN:-build/bin}
NETNS=tests/integration/netns.sh
export XCHG_IF=xmt$$
NS=xmt-$$
SERVER=198.18.0.1
PORT=9000
N_ORDERS=6 # orders sent: see traffic()
# the matcher-time histogram times the first matcher call, then 1 in 16
# (GW_MATCH_SAMPLE_EVERY): its count for N_ORDERS orders
N_MATCH_SAMPLED=$(((N_ORDERS + 15) / 16))
N_TRADES=2

PASS=0
FAIL=0
WORK=
XPID=
NPID=
TMUX_SOCK=
NS_UP=0

say() { printf '%s\n' "$*"; }
check()
{
    local name=$1
    shift
    if "$@"; then
        PASS=$((PASS + 1))
        say "ok   $name"
    else
        FAIL=$((FAIL + 1))
        say "FAIL $name"
    fi
}
fail()
{
    FAIL=$((FAIL + 1))
    say "FAIL $*"
}

stop_pid()
{
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cleanup()
{
    trap - INT TERM EXIT
    [ -n "$TMUX_SOCK" ] && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    stop_pid "$NPID"
    stop_pid "$XPID"
    [ -n "$XPID" ] && rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
    [ "$NS_UP" = 1 ] && bash "$NETNS" down "$NS" >/dev/null 2>&1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$FAIL" -eq 0 ] && [ -z "${ITEST_KEEP:-}" ]; then
            rm -rf "$WORK"
        else
            say "logs kept in $WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'FAIL=$((FAIL + 1)); say "interrupted"; say "$PASS passed, $FAIL failed"; exit 1' INT TERM

# A TCP port nobody listens on (127.0.0.1), from a range away from the usual ones.
free_port()
{
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 30000))
        [ "$p" = "${1:-}" ] && continue
        ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || {
            echo "$p"
            return 0
        }
    done
    return 1
}

need()
{
    command -v "$1" >/dev/null 2>&1 && return 0
    fail "$1 is missing (Debian package $2; tools/deps.sh installs it)"
    return 1
}

# value SERIES FILE: the sample value of an exact series line ("name{labels}")
value() { awk -v s="$1" '$1 == s {print $2; exit}' "$2"; }
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" -o "$1"; }

ctl() { "$BIN/xchgctl" --socket "$SOCK" "$@"; }

session()
{
    local out id token
    # session.add refuses accounts never opened (1006; a second open is 2001)
    ctl --json account.open account="$1" init_cash="${2:-1000000000000}" >/dev/null 2>&1
    ctl --json risk.limits max_order_notional=1000000000 >/dev/null 2>&1
    out=$(ctl --json session.add account="$1" source=any) || return 1
    id=$(printf '%s' "$out" | sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p')
    token=$(printf '%s' "$out" | sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
    [ -n "$id" ] && [ -n "$token" ] && echo "$id:$token"
}

# order SESSION SIDE PRICE QTY: one limit order from inside the namespace
order()
{
    ip netns exec "$NS" "$BIN/xchg-client-example" --server "$SERVER" --port "$PORT" \
        --session "$1" --instrument 0 --side "$2" --price "$3" --qty "$4" --wait-ms 300 \
        >>"$WORK/orders.log" 2>&1
}

# N_ORDERS orders on IF2501 (book 0) from two accounts; N_TRADES of them trade:
#   A buys 2 @3800.0, A buys 1 @3799.8, A buys 4 @3799.0 (rest: bids 3800.0x2, 3799.8x1, 3799.0x4)
#   B sells 1 @3800.0 -> trade 1 lot; B sells 1 @3800.0 -> trade 1 lot (3800.0 now empty)
#   B sells 5 @3802.0 (rests: ask 3802.0x5)
# leaves bid 3799.8 x 1 (2 levels, 5 lots), ask 3802.0 x 5; 2 lots traded.
traffic()
{
    local a=$1 b=$2
    order "$a" buy 3800.0 2 && order "$a" buy 3799.8 1 && order "$a" buy 3799.0 4 &&
        order "$b" sell 3800.0 1 && order "$b" sell 3800.0 1 && order "$b" sell 3802.0 5
}

# Waits up to 3 s for a series to reach a value (snapshots are published
# every 100 ms); leaves the last scrape in $1.
wait_value()
{
    local file=$1 series=$2 want=$3 i
    for ((i = 0; i < 30; i++)); do
        scrape "$file" && [ "$(value "$series" "$file")" = "$want" ] && return 0
        sleep 0.1
    done
    say "     $series = $(value "$series" "$file") (want $want)"
    return 1
}

expect()
{
    local file=$1 series=$2 want=$3 got
    got=$(value "$series" "$file")
    if [ "$got" = "$want" ]; then
        check "metrics: $series = $want" true
    else
        fail "metrics: $series = ${got:-absent}, want $want"
    fi
}

# ---- node-exporter ------------------------------------------------------------------

# within THEIRS A B TOL: A - TOL <= THEIRS <= B + TOL (as numbers)
within()
{
    awk -v t="$1" -v a="$2" -v b="$3" -v tol="$4" \
        'BEGIN { lo = a < b ? a : b; hi = a < b ? b : a; exit !(t >= lo - tol && t <= hi + tol) }'
}

node_compare()
{
    local ours_a=$WORK/ours_a.prom ours_b=$WORK/ours_b.prom theirs=$WORK/node.prom
    local nport s0 s1 i bad=0 n=0 cpu mode t a b
    need prometheus-node-exporter prometheus-node-exporter || return
    nport=$(free_port "$MPORT") || {
        fail "node-exporter: no free port"
        return
    }
    prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" --collector.disable-defaults \
        --collector.cpu --collector.meminfo --collector.netdev --collector.loadavg \
        --collector.netdev.device-exclude='^$' >"$WORK/node-exporter.log" 2>&1 &
    NPID=$!
    for ((i = 0; i < 50; i++)); do
        curl -sf --max-time 1 "http://127.0.0.1:$nport/metrics" -o /dev/null && break
        sleep 0.1
    done
    check "node-exporter answers on 127.0.0.1:$nport" kill -0 "$NPID"
    scrape "$ours_a"
    s0=$(value xchg_host_sampler_samples_total "$ours_a")
    curl -sf --max-time 5 "http://127.0.0.1:$nport/metrics" -o "$theirs"
    # b must come from a sample taken after node-exporter's reads: two more
    # samples after a was served (the sampler runs once a second)
    for ((i = 0; i < 40; i++)); do
        scrape "$ours_b"
        s1=$(value xchg_host_sampler_samples_total "$ours_b")
        [ -n "$s1" ] && [ -n "$s0" ] && [ "$s1" -ge $((s0 + 2)) ] && break
        sleep 0.1
    done
    check "node-exporter: our host sample moved on by two (samples $s0 -> $s1)" \
        test "${s1:-0}" -ge $((${s0:-0} + 2))
    # every CPU x 8 modes: +- 2 ticks (idle, iowait step back by a tick) + float formatting
    while read -r cpu mode t; do
        a=$(value "xchg_host_cpu_seconds_total{cpu=\"$cpu\",mode=\"$mode\"}" "$ours_a")
        b=$(value "xchg_host_cpu_seconds_total{cpu=\"$cpu\",mode=\"$mode\"}" "$ours_b")
        n=$((n + 1))
        if [ -z "$a" ] || [ -z "$b" ] || ! within "$t" "$a" "$b" 0.020001; then
            bad=$((bad + 1))
            say "     cpu $cpu $mode: node-exporter $t, ours [$a, $b]"
        fi
    done < <(sed -n 's/^node_cpu_seconds_total{cpu="\([0-9]*\)",mode="\([a-z]*\)"} \(.*\)$/\1 \2 \3/p' "$theirs")
    check "node-exporter: $n CPU times within ours +- 0.02 s" test "$n" -ge 8 -a "$bad" = 0
    t=$(value node_memory_MemTotal_bytes "$theirs")
    a=$(value 'xchg_host_memory_bytes{field="MemTotal"}' "$ours_a")
    check "node-exporter: MemTotal equal ($t, ours $a)" within "$t" "$a" "$a" 0
    t=$(value node_memory_MemAvailable_bytes "$theirs")
    a=$(value 'xchg_host_memory_bytes{field="MemAvailable"}' "$ours_a")
    b=$(value 'xchg_host_memory_bytes{field="MemAvailable"}' "$ours_b")
    local total tol
    total=$(value 'xchg_host_memory_bytes{field="MemTotal"}' "$ours_a")
    tol=$(awk -v m="${total:-0}" 'BEGIN { t = m / 100; if (t < 67108864) t = 67108864; printf "%d", t }')
    check "node-exporter: MemAvailable $t within ours [$a, $b] +- $tol" within "${t:-x}" "${a:-0}" "${b:-0}" "$tol"
    local f
    for f in receive_bytes receive_packets transmit_bytes transmit_packets; do
        t=$(value "node_network_${f}_total{device=\"lo\"}" "$theirs")
        a=$(value "xchg_host_network_${f}_total{device=\"lo\"}" "$ours_a")
        b=$(value "xchg_host_network_${f}_total{device=\"lo\"}" "$ours_b")
        check "node-exporter: lo $f $t within ours [$a, $b]" within "${t:-x}" "${a:-0}" "${b:--1}" 0
    done
    t=$(value node_load1 "$theirs")
    a=$(value xchg_host_load1 "$ours_a")
    b=$(value xchg_host_load1 "$ours_b")
    check "node-exporter: load1 $t within ours [$a, $b] +- 0.005" within "${t:-x}" "${a:-0}" "${b:-0}" 0.005
    stop_pid "$NPID"
    NPID=
}

# ---- xchgctl top under tmux -------------------------------------------------------------

top_check()
{
    need tmux tmux || return
    TMUX_SOCK=$WORK/tmux.sock
    local pane=$WORK/pane1.txt pane2=$WORK/pane2.txt i
    tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 120 -y 40 \
        "$BIN/xchgctl --socket $SOCK top; echo xchgctl-top-exited-\$?; sleep 30"
    for ((i = 0; i < 50; i++)); do
        tmux -S "$TMUX_SOCK" capture-pane -p >"$pane" 2>/dev/null
        grep -q "IF2501" "$pane" && grep -q "HOST" "$pane" && break
        sleep 0.1
    done
    sed 's/^/     | /' "$pane" | head -45
    check "top: title with the daemon's uptime" grep -q "^xchg top" "$pane"
    check "top: cores (control and worker lcores)" \
        bash -c "grep -Eq '^ *0 +control' '$pane' && grep -Eq '^ *1 +worker' '$pane'"
    check "top: order and trade totals ($N_ORDERS orders, $N_TRADES trades)" \
        grep -Eq "orders +[0-9]+/s +total +$N_ORDERS\b.*trades +[0-9]+/s +total +$N_TRADES\b" "$pane"
    check "top: latency table (in_box, matcher)" \
        bash -c "grep -q 'in_box' '$pane' && grep -q 'matcher' '$pane'"
    check "top: IF2501 with its top of book (bid 3799.8 x 1, ask 3802 x 5)" \
        grep -Eq "IF2501 .* 1 +3799\.8 +3802(\.0)? +5\b" "$pane"
    # both hold 2 lots of IF2501 (margin 2 x 3800 x 300 x 12% = 273600)
    check "top: accounts 1001 and 2002 with the margin of their 2-lot positions" \
        bash -c "grep -Eq '^ +1001 +0\.[0-9]{4} +[0-9.]+ +273600\.0000 +[0-9.]+\$' '$pane' && grep -Eq '^ +2002 +0\.[0-9]{4} +[0-9.]+ +273600\.0000 ' '$pane'"
    check "top: host CPU, memory and network" \
        bash -c "grep -q '^HOST' '$pane' && grep -Eq 'mem .*avail' '$pane' && grep -q 'lo ' '$pane'"
    local t1 t2
    t1=$(grep -m1 "^xchg top" "$pane")
    sleep 2.2
    tmux -S "$TMUX_SOCK" capture-pane -p >"$pane2"
    t2=$(grep -m1 "^xchg top" "$pane2")
    check "top: refreshes every second (title changed)" test -n "$t2" -a "$t1" != "$t2"
    tmux -S "$TMUX_SOCK" send-keys q
    for ((i = 0; i < 30; i++)); do
        tmux -S "$TMUX_SOCK" capture-pane -p >"$pane2"
        grep -q "xchgctl-top-exited-" "$pane2" && break
        sleep 0.1
    done
    check "top: q quits with status 0 and restores the screen" \
        bash -c "grep -q 'xchgctl-top-exited-0' '$pane2' && ! grep -q '^HOST' '$pane2'"
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    TMUX_SOCK=
}

# ---- main ---------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/metrics.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$BIN/xchg-client-example"; do
    [ -x "$f" ] || {
        say "tests/integration/metrics.sh: $f is missing: run make first" >&2
        say "0 passed, 1 failed"
        exit 1
    }
done
need curl curl || {
    say "$PASS passed, $FAIL failed"
    exit 1
}
T0=$SECONDS
WORK=$(mktemp -d "/tmp/xmt-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
MPORT=$(free_port) || {
    fail "no free port for the metrics server"
    exit 1
}
say "metrics tests: interface $XCHG_IF, namespace $NS, work dir $WORK, metrics port $MPORT"
sed -e "s/iface=xchg0/iface=$XCHG_IF/" -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s/^\([[:space:]]*metrics_port[[:space:]]*=\).*/\1 $MPORT;/" config/xchg.conf >"$WORK/xchg.conf"
grep -q "metrics_port = $MPORT;" "$WORK/xchg.conf" || {
    fail "config copy: metrics_port"
    exit 1
}
bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1 || {
    fail "test network"
    cat "$WORK/netns.log"
    exit 1
}
NS_UP=1
"$BIN/xchgd" -c "$WORK/xchg.conf" --no-huge >"$WORK/xchgd.log" 2>&1 &
XPID=$!
for ((i = 0; i < 150; i++)); do
    grep -q "xchgd: ready" "$WORK/xchgd.log" && break
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "xchgd: ready" "$WORK/xchgd.log"; then
    fail "xchgd ready"
    cat "$WORK/xchgd.log"
    exit 1
fi
check "xchgd says where its metrics are" \
    grep -q "^xchgd: metrics on http://127.0.0.1:$MPORT/metrics" "$WORK/xchgd.log"

# ---- /metrics and promtool ----
hdr=$(curl -s --max-time 5 -D - -o "$WORK/first.prom" "http://127.0.0.1:$MPORT/metrics")
check "GET /metrics: 200" grep -q "^HTTP/1.1 200" <<<"$hdr"
check "GET /metrics: Content-Type text/plain; version=0.0.4" \
    grep -qi "^Content-Type: text/plain; version=0.0.4" <<<"$hdr"
check "GET /nothing: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/nothing")" = 404
check "the server listens on 127.0.0.1 only" \
    bash -c "ss -Hltn 'sport = :$MPORT' | awk '{print \$4}' | grep -qx '127.0.0.1:$MPORT'"
if need promtool prometheus; then
    out=$(promtool check metrics <"$WORK/first.prom" 2>&1)
    rc=$?
    check "promtool check metrics: exit 0, no findings ($(grep -c '^xchg_' "$WORK/first.prom") samples, $(grep -c '^# TYPE' "$WORK/first.prom") families)" \
        test "$rc" = 0 -a -z "$out"
    [ -z "$out" ] || say "$out" | head -20
fi
for fam in xchg_lcore_busy_seconds_total xchg_worker_rx_packets_total xchg_messages_in_total \
    xchg_drops_total xchg_ring_entries xchg_inbox_latency_seconds_bucket xchg_matcher_seconds_bucket \
    xchg_sessions xchg_instrument_orders_total xchg_book_levels xchg_port_rx_packets_total \
    xchg_port_xstats_total xchg_host_cpu_seconds_total xchg_host_memory_bytes \
    xchg_host_network_receive_bytes_total xchg_host_softirqs_total xchg_host_interrupts_total \
    xchg_host_load1 xchg_metrics_source_failures_total xchg_xdp_packets_total \
    xchg_feed_messages_total xchg_feed_requests_total xchg_feed_request_seconds_bucket; do
    grep -q "^$fam[{ ]" "$WORK/first.prom" || fail "metrics: family $fam missing"
done
check "no metrics source failed" bash -c "! grep -E '^xchg_metrics_source_failures_total\\{.*\\} [1-9]' '$WORK/first.prom'"
# a second xchgd whose metrics port is taken warns and goes on without
# /metrics; it is given an interface that does not exist, so it then stops
# at the port, before it could touch our veth
sed -e "s|$SOCK|$WORK/second.sock|" -e "s|$WORK/data|$WORK/data2|" -e "s/iface=$XCHG_IF/iface=xmtnone$$/" "$WORK/xchg.conf" \
    >"$WORK/second.conf"
timeout 20 "$BIN/xchgd" -c "$WORK/second.conf" --no-huge >"$WORK/second.log" 2>&1
rc=$?
check "a second xchgd whose metrics port is taken warns and goes on without /metrics (then stops at its missing interface, rc $rc)" \
    bash -c "grep -q '^xchgd: warning: no metrics endpoint: control.metrics_port $MPORT: .*running without /metrics' '$WORK/second.log' && [ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "the first xchgd still answers /metrics" scrape "$WORK/still.prom"

# ---- known traffic, then the counters ----
A=$(session 1001) && B=$(session 2002)
check "sessions created" test -n "$A" -a -n "$B"
scrape "$WORK/before.prom"
jr0=$(value 'xchg_journal_records_total{stream="segment0"}' "$WORK/before.prom")
traffic "$A" "$B"
check "$N_ORDERS orders sent with xchg-client-example" test $? = 0
M=$WORK/after.prom
check "metrics: xchg_instrument_orders_total{instrument=\"IF2501\"} reaches $N_ORDERS" \
    wait_value "$M" 'xchg_instrument_orders_total{instrument="IF2501",segment="0"}' "$N_ORDERS"
wait_value "$M" 'xchg_sessions{segment="0",state="logged_on"}' 0 >/dev/null
expect "$M" 'xchg_messages_in_total{segment="0",type="new_order"}' "$N_ORDERS"
expect "$M" 'xchg_messages_out_total{segment="0",type="accepted"}' "$N_ORDERS"
expect "$M" 'xchg_messages_out_total{segment="0",type="executed"}' $((2 * N_TRADES))
expect "$M" 'xchg_instrument_trades_total{instrument="IF2501",segment="0"}' "$N_TRADES"
expect "$M" 'xchg_instrument_traded_lots_total{instrument="IF2501",segment="0"}' "$N_TRADES"
expect "$M" 'xchg_instrument_orders_total{instrument="IC2501",segment="0"}' 0
expect "$M" 'xchg_matcher_fills_total{segment="0"}' "$N_TRADES"
expect "$M" 'xchg_session_logons_total{segment="0"}' "$N_ORDERS"
expect "$M" 'xchg_sessions{segment="0",state="logged_on"}' 0
expect "$M" 'xchg_sessions{segment="0",state="idle"}' 2
expect "$M" 'xchg_orders_resting{segment="0"}' 3
expect "$M" 'xchg_book_best_price{instrument="IF2501",segment="0",side="bid"}' 3799.8
expect "$M" 'xchg_book_best_lots{instrument="IF2501",segment="0",side="bid"}' 1
expect "$M" 'xchg_book_best_price{instrument="IF2501",segment="0",side="ask"}' 3802
expect "$M" 'xchg_book_best_lots{instrument="IF2501",segment="0",side="ask"}' 5
expect "$M" 'xchg_book_levels{instrument="IF2501",segment="0",side="bid"}' 2
expect "$M" 'xchg_book_depth_lots{instrument="IF2501",segment="0",side="bid"}' 5
expect "$M" 'xchg_instrument_trading_state{instrument="IF2501",segment="0",state="continuous"}' 1
expect "$M" 'xchg_matcher_seconds_count{segment="0"}' "$N_MATCH_SAMPLED"
# a drop reason our traffic controls: datagrams to a UDP port that is not
# order entry (a delta, so frames from elsewhere cannot make it fail)
o0=$(value 'xchg_drops_total{segment="0",reason="udp_other_port"}' "$M")
ip netns exec "$NS" bash -c "for i in 1 2 3; do echo drop-me >/dev/udp/$SERVER/9999; done"
check "metrics: 3 datagrams to UDP 9999 counted as drops{reason=udp_other_port} (was ${o0:-?})" \
    wait_value "$WORK/drops.prom" 'xchg_drops_total{segment="0",reason="udp_other_port"}' $((${o0:-0} + 3))
ib=$(value 'xchg_inbox_latency_seconds_count{segment="0"}' "$M")
dg=$(value 'xchg_gateway_datagrams_in_total{segment="0"}' "$M")
check "metrics: in-box histogram counted every order-entry datagram ($ib of $dg; logons, orders, logouts)" \
    test -n "$ib" -a "$ib" = "${dg:-x}"
prx=$(value 'xchg_port_rx_packets_total{port="p0"}' "$M")
wrx=$(value 'xchg_worker_rx_packets_total{segment="0"}' "$M")
check "metrics: the port's own rx counter ($prx) >= the worker's ($wrx) >= datagrams ($dg)" \
    test -n "$prx" -a "${prx:-0}" -ge "${wrx:-1}" -a "${wrx:-0}" -ge "${dg:-1}"
# the segment's ITCH feed: the resting order that traded was executed at
# its own price twice (2 'E'), the 4 orders that rested were added ('A'; the
# two sells that traded in full never rest), and the
# totals agree with the feed's own counters in `xchgctl --json stats`
expect "$M" 'xchg_feed_messages_by_type_total{segment="0",type="E"}' "$N_TRADES"
expect "$M" 'xchg_feed_messages_by_type_total{segment="0",type="A"}' 4
expect "$M" 'xchg_feed_anomalies_total{segment="0",kind="unknown_order"}' 0
fm=$(value 'xchg_feed_messages_total{segment="0"}' "$M")
fj=$("$BIN/xchgctl" --socket "$SOCK" --json stats | grep -o '"feed":{"session":"[^"]*","next_sequence":[0-9]*,"messages":[0-9]*' | grep -o '"messages":[0-9]*' | cut -d: -f2)
check "metrics: feed messages ($fm) = the feed's own count in stats ($fj; no traffic in between)" \
    test -n "$fm" -a "$fm" = "${fj:-x}"
# the XDP filter (on in config/xchg.conf) in front of the port: its source
# is registered too; every order-entry datagram xchgd counted passed it as allowed
xa=$(value 'xchg_xdp_packets_total{reason="allowed"}' "$M")
expect "$M" xchg_xdp_enabled 1
check "metrics: XDP filter allowed every order-entry datagram ($xa; xchgd got $dg)" \
    test -n "$xa" -a "${xa:-0}" = "${dg:-x}"
# the accounts' ledger and the summary market data service saw the same traffic
check "metrics: xchg_ledger_fills_applied_total = $((2 * N_TRADES)) (both sides of $N_TRADES trades)" \
    wait_value "$WORK/ledger.prom" xchg_ledger_fills_applied_total $((2 * N_TRADES))
expect "$WORK/ledger.prom" xchg_ledger_orders_total "$N_ORDERS"
expect "$WORK/ledger.prom" xchg_ledger_mismatches_total 0
expect "$WORK/ledger.prom" xchg_ledger_liquidations_total 0
expect "$WORK/ledger.prom" xchg_ledger_fill_lag_seconds_count $((2 * N_TRADES))
expect "$WORK/ledger.prom" xchg_accounts 2
expect "$WORK/ledger.prom" 'xchg_accounts_at_risk{level="reject"}' 0
# the journals (control/jnmetrics.c): every order is one input record of
# segment 0's stream, durable before its ack left (durability = sync), so
# the durable record counter grew by at least N_ORDERS (logons, logouts and
# timers are records too); the commit histogram counts every commit
jr1=$(value 'xchg_journal_records_total{stream="segment0"}' "$M")
check "metrics: journal segment0 records grew by >= $N_ORDERS orders (${jr0:-?} -> ${jr1:-?})" \
    test -n "$jr0" -a -n "$jr1" -a "$((${jr1:-0} - ${jr0:-0}))" -ge "$N_ORDERS"
scrape "$WORK/journal.prom"
jc=$(value 'xchg_journal_commits_total{stream="segment0"}' "$WORK/journal.prom")
jh=$(value 'xchg_journal_commit_seconds_count{stream="segment0"}' "$WORK/journal.prom")
check "metrics: journal segment0 commits ($jc) > 0 and the commit histogram counts each (count $jh)" \
    test "${jc:-0}" -gt 0 -a "${jh:-x}" = "${jc:-y}"
jcr=$(value 'xchg_journal_records_total{stream="control"}' "$WORK/journal.prom")
check "metrics: the control stream is exported and journaled the account opens and fills (${jcr:-absent} records)" \
    test "${jcr:-0}" -ge 2
expect "$WORK/journal.prom" 'xchg_journal_errors_total{stream="segment0"}' 0
expect "$WORK/journal.prom" 'xchg_journal_up{stream="control"}' 1
expect "$WORK/journal.prom" 'xchg_journal_durable_lag_records{stream="segment0"}' 0
jst=$("$BIN/xchgctl" --socket "$SOCK" --json stats | jq -r '.journals[] | select(.stream == "segment0") | "\(.records) \(.commits) \(.commit_count)"')
jsr=${jst%% *}
check "xchgctl stats: journals[segment0] records ($jsr) >= the scrape's ($jr1), commit histogram count = commits ($jst)" \
    bash -c '[ -n "$1" ] && [ "$1" -ge "$2" ] && set -- $3 && [ "$2" = "$3" ]' _ "$jsr" "${jr1:-x}" "$jst"
check "metrics: xchg_md_service_trades_applied_total = $N_TRADES" \
    wait_value "$WORK/md.prom" xchg_md_service_trades_applied_total "$N_TRADES"
expect "$WORK/md.prom" xchg_md_service_trades_received_total "$N_TRADES"
expect "$WORK/md.prom" 'xchg_md_service_ring_trades_total{segment="0"}' "$N_TRADES"
expect "$WORK/md.prom" 'xchg_md_service_ring_dropped_total{segment="0"}' 0
expect "$WORK/md.prom" xchg_md_service_trades_rejected_total 0
expect "$WORK/md.prom" xchg_md_service_late_fills_total 0
mdj=$(ctl --json md.daily instrument=IF2501)
mp=$(value xchg_md_service_packets_total "$WORK/md.prom")
ms=$(value xchg_md_service_snapshots_total "$WORK/md.prom")
check "metrics: md_service packets ($mp) and snapshots ($ms) counted, never more than md.daily says later" \
    bash -c "[ \"\${1:-0}\" -gt 0 ] && [ \"\${2:-0}\" -gt 0 ] && p=\$(grep -o '\"packets\": *[0-9]*' <<<\"\$3\" | grep -o '[0-9]*\$') && [ \"\$p\" -ge \"\$1\" ]" \
    _ "$mp" "$ms" "$mdj"
if need promtool prometheus; then
    out=$(promtool check metrics <"$M" 2>&1)
    check "promtool check metrics after traffic: clean" test $? = 0 -a -z "$out"
fi
json=$(ctl --json stats)
check "xchgctl --json stats: IF2501 orders $N_ORDERS, trades $N_TRADES, bid 3799.8, ask 3802" \
    grep -q "{\"id\":\"IF2501\",\"segment\":0,\"state\":\"continuous\",\"orders\":$N_ORDERS,\"trades\":$N_TRADES,\"traded_lots\":$N_TRADES,\"bid\":\"3799.8\",\"bid_qty\":1,\"ask\":\"3802.0\",\"ask_qty\":5" <<<"$json"
check "xchgctl --json stats: matcher latency sampled $N_MATCH_SAMPLED of $N_ORDERS requests" \
    grep -q "\"matcher_latency\":{\"count\":$N_MATCH_SAMPLED," <<<"$json"
ctl stats >"$WORK/stats.txt"
sed 's/^/     | /' "$WORK/stats.txt" | head -60
check "xchgctl stats: a SEGMENTS table" grep -Eq "^SEGMENT +LCORE +BUSY" "$WORK/stats.txt"
check "xchgctl stats: LATENCY table with in_box and matcher rows" \
    bash -c "grep -Eq '^0 +in_box +[0-9]+ ' '$WORK/stats.txt' && grep -Eq '^0 +matcher +$N_MATCH_SAMPLED ' '$WORK/stats.txt'"
check "xchgctl stats: INSTRUMENTS table row for IF2501" \
    grep -Eq "^IF2501 +0 +continuous +$N_ORDERS +$N_TRADES +" "$WORK/stats.txt"
check "xchgctl stats: HOST section" grep -q "^HOST" "$WORK/stats.txt"

node_compare
top_check

# ---- an account near its reject level: first in top, counted at risk ----
C=$(session 3003 300000)
check "account 3003 (cash 300000) has a session" test -n "$C"
# buys 1 lot of B's ask at 3802: margin 3802 x 300 x 12% = 136872, risk ~0.456
# (under the 50% concentration limit)
order "$C" buy 3802.0 1
ctl --json risk.limits reject_ratio=40% >/dev/null
check "metrics: xchg_accounts_at_risk{level=\"reject\"} = 1 once reject_ratio is 40% (3003 at ~0.456)" \
    wait_value "$WORK/risk.prom" 'xchg_accounts_at_risk{level="reject"}' 1
expect "$WORK/risk.prom" xchg_accounts 3
expect "$WORK/risk.prom" 'xchg_accounts_at_risk{level="liquidation"}' 0
"$BIN/xchgctl" --socket "$SOCK" top count=1 books=0 >"$WORK/top3.txt" 2>&1 </dev/null
sed -n '/^ACCOUNTS/,/^HOST/p' "$WORK/top3.txt" | sed 's/^/     | /'
check "top: account 3003 first (nearest liquidation, risk 0.45..) with margin 136872" \
    bash -c "sed -n '/^ACCOUNT /{n;p}' '$WORK/top3.txt' | grep -Eq '^ +3003 +0\.45[0-9]+ +[0-9.]+ +136872\.0000 '"
"$BIN/xchgctl" --socket "$SOCK" --json top count=1 >"$WORK/top3.json" 2>&1 </dev/null
check "top --json: accounts as rows, 3003 first (account, risk_ratio, risk_level normal, margin)" \
    jq -e '.accounts[0] | .account == 3003 and .risk_level == "normal" and .margin == "136872.0000" and (.risk_ratio | startswith("0.45"))' "$WORK/top3.json" >/dev/null

# ---- xchgctl top without a terminal, and its failure paths ----
"$BIN/xchgctl" --socket "$SOCK" top count=2 books=1 >"$WORK/top2.txt" 2>&1 </dev/null
rc=$?
check "top count=2 without a terminal: 2 plain frames, no escape sequences (rc $rc)" \
    bash -c "[ $rc = 0 ] && [ \$(grep -c '^xchg top' '$WORK/top2.txt') = 2 ] && ! grep -q \$'\\x1b' '$WORK/top2.txt' && grep -q '^IF2501 ' '$WORK/top2.txt' && ! grep -q '^IC2501 ' '$WORK/top2.txt'"
"$BIN/xchgctl" --socket "$SOCK" --json top count=1 >"$WORK/top.json" 2>&1 </dev/null
check "top --json count=1: the answer as one JSON line with cores, rates, books, host" \
    bash -c "[ \$(wc -l <'$WORK/top.json') = 1 ] && grep -q '\"cores\":' '$WORK/top.json' && grep -q '\"books\":\\[{\"id\":\"IF2501\"' '$WORK/top.json' && grep -q '\"host\":{' '$WORK/top.json'"
"$BIN/xchgctl" --socket "$SOCK" top count=1 books=99 >"$WORK/top.err" 2>&1 </dev/null
rc=$?
check "top books=99: the daemon refuses (rc $rc, error 1008)" \
    bash -c "[ $rc = 1 ] && grep -q 'error 1008' '$WORK/top.err'"
"$BIN/xchgctl" --socket "$SOCK" top speed=3 >"$WORK/top.err" 2>&1 </dev/null
rc=$?
check "top speed=3: a usage error (rc $rc)" bash -c "[ $rc = 2 ] && grep -q \"bad argument 'speed=3'\" '$WORK/top.err'"

# ---- Grafana dashboard: every metric it queries exists ----
G=tools/grafana/xchg.json
if [ -f "$G" ]; then
    scrape "$WORK/last.prom"
    if need jq jq; then
        check "grafana: $G is valid JSON" jq -e .panels "$G" >/dev/null
    fi
    missing=0
    nq=0
    for m in $(jq -r '.. | .expr? // empty' "$G" 2>/dev/null | grep -o 'xchg_[a-z0-9_]*' | sort -u); do
        nq=$((nq + 1))
        base=$m
        grep -q "^$base[{ ]" "$WORK/last.prom" || {
            say "     grafana queries $m, which xchgd does not export"
            missing=$((missing + 1))
        }
    done
    check "grafana: all $nq metrics the dashboard queries are exported" test "$nq" -gt 10 -a "$missing" = 0
else
    fail "grafana: $G missing"
fi

# ---- stop ----
kill -TERM "$XPID"
for ((i = 0; i < 50; i++)); do
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
wait "$XPID" 2>/dev/null
rc=$?
check "xchgd stops on SIGTERM with status 0 (rc $rc)" test "$rc" = 0
rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
XPID=
check "the metrics port is free again after exit" bash -c "! ss -Hltn 'sport = :$MPORT' | grep -q ."
"$BIN/xchgctl" --socket "$SOCK" top count=1 >"$WORK/top.err" 2>&1 </dev/null
rc=$?
check "top with no daemon: exit 2 naming the socket (rc $rc)" \
    bash -c "[ $rc = 2 ] && grep -q 'cannot connect to $SOCK' '$WORK/top.err'"
say "   metrics tests took $((SECONDS - T0)) s"
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
