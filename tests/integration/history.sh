#!/usr/bin/env bash
# history.sh -- the trading history kept by the running xchgd and `xchgctl query` on it (make test; needs root).
#
# One test network (tests/integration/netns.sh: interface xhi<pid>,
# namespace xhi-<pid>), xchgd with durability = sync and periodic
# checkpoints (every 300 records), two accounts with a session each
# (xchgctl), the trading client of crash.sh (build/tests/itest_crash: known
# order flow on IF2501, every report it receives logged). After each round
# the client stops sending and drains its reports; then every report xchgd
# holds is fetched once more by a logon asking for a replay from number 1
# (a loaded client may lose some), so the reports seen are every report
# xchgd sent. build/tests/itest_hist turns them
# into a history of its own (and counts trades, lots per account and side,
# volume per instrument straight from the messages); the same SQL questions
# are put to xchgd's history (xchgctl query, read-only, while xchgd runs)
# and to the client's, in table, CSV and JSON output, and must give the
# same answers:
#   1. round 1; the counts equal the client's own tallies;
#   2. kill -9 once the history has flushed, restart: the replica restarts
#      from a checkpoint older than the history, the records in between are
#      applied but not taken again (storage.history skipped > 0); round 2:
#      the answers equal rounds 1+2 exactly (nothing counted twice);
#   3. kill -9 right after round 3's last report (before the history's
#      one-second flush), restart: nothing missing (rounds 1-3 exactly);
#   4. kill -9 while the client trades (round 4), restart: the history holds
#      every trade the client saw and answers as every report the restarted
#      xchgd holds, is self-consistent (two sides per trade, each order's
#      filled = its trades, bars = ticks = trades); a graceful restart
#      (SIGTERM) then changes no answer;
#   5. settlement.run, kill -9 right after it, restart: the settlements
#      table holds settlement.detail's balance and commission of each
#      account, one row each;
#   6. failure paths: DELETE and ATTACH are refused, a missing history dir
#      is an error (exit status 1).
# Prints one line per check and "N passed, M failed"; exits 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${XCHG_BIN:-build/bin}
ITEST=build/tests/itest_crash
IHIST=build/tests/itest_hist
NETNS=tests/integration/netns.sh
export XCHG_IF=${XCHG_IF:-xhi$$}
NS=xhi-$$
SERVER=198.18.0.1
LOCAL=198.18.0.2
PORT=9000
PASS=0
FAIL=0
WORK=
XPID=
CPID=
NS_UP=0

say() { printf '%s\n' "$*"; }
ok() { PASS=$((PASS + 1)); say "ok   $*"; }
fail() { FAIL=$((FAIL + 1)); say "FAIL $*"; }
check() { local m=$1; shift; if "$@"; then ok "$m"; else fail "$m"; fi; }

stop_pid()
{
    local pid=$1 sig=${2:-TERM} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cleanup()
{
    trap - INT TERM EXIT
    stop_pid "$CPID"
    stop_pid "$XPID"
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

ctl() { "$BIN/xchgctl" --socket "$SOCK" --json "$@"; }
jnum() { printf '%s' "$2" | grep -o "\"$1\": *[0-9]*" | head -1 | sed 's/.*: *//'; }
jstr() { printf '%s' "$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }

make_conf()
{
    sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
        -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$DATA\";|" \
        -e "s|^\([[:space:]]*wal_segment_size[[:space:]]*=\).*|\1 \"1M\";|" \
        -e "s|^\([[:space:]]*checkpoint_interval_s[[:space:]]*=\).*|\1 0;|" \
        -e "s|^\([[:space:]]*recover_from_checkpoint[[:space:]]*=\).*|\1 true;|" \
        -e "s|^\([[:space:]]*checkpoint_records[[:space:]]*=\).*|\1 300;|" config/xchg.conf >"$CONF"
    grep -q "checkpoint_records = 300;" "$CONF" && grep -q "iface=$XCHG_IF\"" "$CONF"
}

start_xchgd()
{
    local log=$1 i
    "$BIN/xchgd" -c "$CONF" --no-huge >"$log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 400; i++)); do
        grep -q "xchgd: ready" "$log" 2>/dev/null && return 0
        kill -0 "$XPID" 2>/dev/null || { wait "$XPID" 2>/dev/null; XPID=; return 1; }
        sleep 0.05
    done
    return 1
}

kill9()
{
    kill -KILL "$XPID" 2>/dev/null
    wait "$XPID" 2>/dev/null
    XPID=
    ip link set dev "$XCHG_IF" xdp off 2>/dev/null
}

make_sessions()
{
    SESS=()
    ACCT=()
    CLIENTS=()
    local acct out sid
    for acct in 1001 2002; do
        ctl account.open account=$acct init_cash=1000000000000 >/dev/null 2>&1
        out=$(ctl session.add account=$acct source=any)
        sid=$(jnum session_id "$out")
        [ -n "$sid" ] || return 1
        SESS+=(--session "$sid:$(jstr token "$out")")
        CLIENTS+=(--client "$sid:$(jstr token "$out")")
        ACCT+=(--session "$sid:$acct")
    done
}

# load_start LOG [MAX_REPORTS]: the client trades (until MAX_REPORTS reports a session, then listens)
load_start()
{
    local i max=()
    [ -n "${2:-}" ] && max=(--max-reports "$2")
    : >"$1"
    ip netns exec "$NS" "$ITEST" --phase load --server "$SERVER" --port "$PORT" --local "$LOCAL" \
        --log "$1" --seed "$3" "${max[@]}" "${SESS[@]}" >"$1.out" 2>&1 &
    CPID=$!
    for ((i = 0; i < 300; i++)); do
        grep -q "itest-crash: trading" "$1.out" && return 0
        kill -0 "$CPID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# waits until every session of the client had MAX reports (it then only
# listens) and its log stopped growing for a second (drained), then stops it
load_drain()
{
    local i prev=-1 n still=0 low
    for ((i = 0; i < 600; i++)); do
        n=$(wc -l <"$1")
        low=$(awk -v max="$2" '{c[$2]++} END {k = 0; for (s in c) k++; if (k < 2) {print 1; exit} for (s in c) if (c[s] < max) {print 1; exit} print 0}' "$1")
        if [ "$n" = "$prev" ] && [ "$low" = 0 ]; then
            still=$((still + 1))
            [ "$still" -ge 10 ] && break
        else
            still=0
        fi
        prev=$n
        sleep 0.1
    done
    stop_pid "$CPID"
    CPID=
    [ "$still" -ge 10 ] || { say "     the client did not drain ($n reports in $1)"; return 1; }
}

# the client's reports as a history in $1, the tallies in $1.txt: the logs
# given, plus every report xchgd still holds fetched by a logon asking for a
# replay from number 1 (the client may have lost some under load), one line
# per session and number
expected()
{
    local out=$1
    shift
    rm -rf "$out" "$out.fetched"
    ip netns exec "$NS" "$IHIST" --fetch "$out.fetched" --server "$SERVER" --port "$PORT" \
        --local "$LOCAL" "${CLIENTS[@]}" 2>"$out.fetch.err" || { cat "$out.fetch.err"; return 1; }
    cat "$@" "$out.fetched" | sort -k2,2n -k3,3n -s | awk '!seen[$2 " " $3]++' >"$out.reports"
    "$IHIST" -c "$CONF" --out "$out" "${ACCT[@]}" "$out.reports" >"$out.txt" || return 1
    [ "$(tally "$out.txt" gaps)" = 0 ] || { say "     $(tally "$out.txt" gaps) reports the client never got and xchgd no longer holds"; return 1; }
}

# tally NAME...: a value of the client's tallies
tally() { local f=$1; shift; grep "^$* " "$f" | awk '{print $NF}'; }

q() { "$BIN/xchgctl" -c "$CONF" query "$@"; }
q1() { q --format csv "$1" | sed -n 2p; }

QUESTIONS=(
    "SELECT COUNT(*) trades, COUNT(DISTINCT trade_id) trade_ids, SUM(qty) lots FROM trades"
    "SELECT instrument, SUM(qty) volume, SUM(price * qty) notional FROM trades WHERE side = 'BUY' GROUP BY instrument ORDER BY instrument"
    "SELECT account, side, COUNT(*) n, SUM(qty) lots, SUM(price * qty) notional, SUM(commission) fees FROM trades GROUP BY account, side ORDER BY account, side"
    "SELECT trade_id, order_id, client_order_id, side, liquidity, price, qty, leaves, ts FROM trades WHERE account = 1001 ORDER BY trade_id, order_id"
    "SELECT status, COUNT(*) n, SUM(filled) filled, SUM(notional) notional, SUM(replaces) replaces FROM orders GROUP BY status ORDER BY status"
    "SELECT order_id, account, side, status, cancel_reason, price, qty, filled, leaves FROM orders WHERE account = 2002 ORDER BY order_id"
    "SELECT COUNT(*) n, SUM(code) codes FROM rejects"
    "SELECT period, COUNT(*) bars, SUM(volume) volume, SUM(trades) trades, MIN(low) low, MAX(high) high FROM klines GROUP BY period ORDER BY period"
    "SELECT instrument, start_ns, end_ns, open, high, low, close, volume, amount, trades FROM klines WHERE period = '1m' ORDER BY instrument, start_ns"
    "SELECT instrument, COUNT(*) ticks, SUM(qty) lots, MIN(price) low, MAX(price) high FROM ticks GROUP BY instrument"
)

# same_answers DIR: every question, in every format, answered alike by xchgd's history and DIR's
same_answers()
{
    local fmt k a b bad=0
    for fmt in table csv json; do
        for k in "${!QUESTIONS[@]}"; do
            a=$(q --format "$fmt" "${QUESTIONS[$k]}" 2>&1) || { say "     xchgd's history: $a"; bad=1; continue; }
            b=$(q --dir "$1" --format "$fmt" "${QUESTIONS[$k]}" 2>&1)
            if [ "$a" != "$b" ]; then
                say "     $fmt, question $k differs: ${QUESTIONS[$k]}"
                diff <(printf '%s\n' "$b") <(printf '%s\n' "$a") | head -6 | sed 's/^/       /'
                bad=1
            fi
        done
    done
    return $bad
}

# waits (up to 15 s) until xchgd's history answers as DIR's; then checks
wait_same()
{
    local i
    for ((i = 0; i < 30; i++)); do
        [ "$(q1 "${QUESTIONS[0]}" 2>/dev/null)" = "$(q --dir "$1" --format csv "${QUESTIONS[0]}" | sed -n 2p)" ] &&
            [ "$(q1 "${QUESTIONS[4]}" 2>/dev/null)" = "$(q --dir "$1" --format csv "${QUESTIONS[4]}" | sed -n 2p)" ] && break
        sleep 0.5
    done
    same_answers "$1"
}

# the client's own tallies against xchgd's history
tallies_match()
{
    local f=$1.txt a bad=0 acct side
    [ "$(q1 "SELECT COUNT(*) FROM trades")" = "$(tally "$f" executions)" ] || { say "     executions differ"; bad=1; }
    [ "$(q1 "SELECT COUNT(DISTINCT trade_id) FROM ticks")" = "$(tally "$f" trade_ids)" ] || { say "     trade ids differ"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM orders")" = "$(tally "$f" accepted)" ] || { say "     accepted orders differ"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM orders WHERE status = 'CANCELLED'")" = "$(tally "$f" cancelled)" ] || { say "     cancels differ"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM rejects")" = "$(tally "$f" rejected)" ] || { say "     rejects differ"; bad=1; }
    for acct in 1001 2002; do
        for side in buy sell; do
            a=$(q1 "SELECT COALESCE(SUM(qty), 0) FROM trades WHERE account = $acct AND side = '${side^^}'")
            [ "$a" = "$(tally "$f" lots $acct $side)" ] || { say "     lots $acct $side: $a, client $(tally "$f" lots $acct $side)"; bad=1; }
        done
    done
    while read -r _ ins vol; do
        a=$(q1 "SELECT SUM(volume) FROM klines WHERE period = 'day' AND instrument = $ins")
        [ "$a" = "$vol" ] || { say "     volume of instrument $ins: day bar $a, client $vol"; bad=1; }
    done < <(grep '^volume ' "$f")
    return $bad
}

# internal consistency of xchgd's history
consistent()
{
    local bad=0
    [ "$(q1 "SELECT COUNT(*) FROM (SELECT trade_id FROM trades GROUP BY trade_id HAVING COUNT(*) != 2 OR SUM(CASE side WHEN 'BUY' THEN qty ELSE -qty END) != 0)")" = 0 ] || { say "     a trade without exactly a buyer and a seller"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM orders o WHERE filled != (SELECT COALESCE(SUM(qty), 0) FROM trades t WHERE t.order_id = o.order_id)")" = 0 ] || { say "     an order whose filled lots are not its trades'"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM ticks")" = "$(q1 "SELECT COUNT(DISTINCT trade_id) FROM trades")" ] || { say "     ticks != trades"; bad=1; }
    [ "$(q1 "SELECT SUM(qty) FROM ticks")" = "$(q1 "SELECT SUM(qty) FROM trades WHERE side = 'BUY'")" ] || { say "     tick lots != trade lots"; bad=1; }
    [ "$(q1 "SELECT COUNT(*) FROM (SELECT period, SUM(volume) v, SUM(trades) n FROM klines GROUP BY period) WHERE v != (SELECT SUM(qty) FROM ticks) OR n != (SELECT COUNT(*) FROM ticks)")" = 0 ] || { say "     a period's bars do not add up to the ticks"; bad=1; }
    return $bad
}

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/history.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
WORK=$(mktemp -d "/tmp/xhi-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
CONF=$WORK/h.conf
DATA=$WORK/data
say "history test: interface $XCHG_IF, namespace $NS, work dir $WORK"
make_conf || { fail "config copy"; exit 1; }
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    fail "test network"
    cat "$WORK/netns.log"
    exit 1
fi
NS_UP=1

start_xchgd "$WORK/x0.log" || { fail "xchgd ready"; tail -5 "$WORK/x0.log"; exit 1; }
check "history opened by xchgd ($(grep -o 'history: [^,]*' "$WORK/x0.log" | head -1))" \
    grep -q "xchgd: history: $DATA/sst/history" "$WORK/x0.log"
check "two accounts with a session each (xchgctl)" make_sessions

# 1: round 1
load_start "$WORK/r1" 150 11 || fail "client trades (1)"
load_drain "$WORK/r1" 150 || fail "client drained (r1)"
expected "$WORK/e1" "$WORK/r1" || fail "client history (1)"
check "round 1: $(tally "$WORK/e1.txt" executions) executions, $(tally "$WORK/e1.txt" accepted) orders seen by the client: xchgd's history answers ${#QUESTIONS[@]} questions alike in table, CSV and JSON" \
    wait_same "$WORK/e1"
check "... and matches the client's own counts (trades, orders, cancels, rejects, lots per account and side, volume per instrument)" \
    tallies_match "$WORK/e1"
check "... the trades the workload makes are many ($(tally "$WORK/e1.txt" executions) > 50)" \
    test "$(tally "$WORK/e1.txt" executions)" -gt 50
say "     $(q "SELECT account, side, COUNT(*) trades, SUM(qty) lots, SUM(price * qty) / SUM(qty) / 10000.0 avg_px FROM trades GROUP BY account, side" | tr '\n' '|')"

# 2: kill -9 once flushed; restart; the replica re-applies from a checkpoint, history skips
sleep 1.5
kill9
start_xchgd "$WORK/x1.log" || { fail "restart after kill -9 (1)"; tail -5 "$WORK/x1.log"; exit 1; }
out=$(ctl storage.history)
check "kill -9, restart: history resumes at its position ($(grep -o 'covered up to sequence [0-9]*' "$WORK/x1.log")), $(grep -o 'recovery: from checkpoint [0-9]*' "$WORK/x1.log" | head -1)" \
    grep -q "covered up to sequence [1-9]" "$WORK/x1.log"
for ((i = 0; i < 40; i++)); do out=$(ctl storage.history); [ "$(jnum skipped "$out")" -gt 0 ] && break; sleep 0.1; done
check "... records the history already had were applied to the shadow but not taken again (skipped $(jnum skipped "$out"))" \
    test "$(jnum skipped "$out")" -gt 0
check "... answers unchanged after the restart" same_answers "$WORK/e1"
load_start "$WORK/r2" 150 22 || fail "client trades (2)"
load_drain "$WORK/r2" 150 || fail "client drained (r2)"
expected "$WORK/e2" "$WORK/r1" "$WORK/r2" || fail "client history (2)"
check "round 2: answers = rounds 1+2 exactly ($(tally "$WORK/e2.txt" executions) executions): nothing counted twice" \
    wait_same "$WORK/e2"
check "... and the client's counts" tallies_match "$WORK/e2"

# 3: kill -9 before the history's flush
load_start "$WORK/r3" 150 33 || fail "client trades (3)"
load_drain "$WORK/r3" 150 || fail "client drained (r3)"
kill9
start_xchgd "$WORK/x2.log" || { fail "restart after kill -9 (2)"; tail -5 "$WORK/x2.log"; exit 1; }
expected "$WORK/e3" "$WORK/r1" "$WORK/r2" "$WORK/r3" || fail "client history (3)"
check "round 3, kill -9 right after it: answers = rounds 1-3 exactly ($(tally "$WORK/e3.txt" executions) executions): nothing missing" \
    wait_same "$WORK/e3"
check "... and the client's counts" tallies_match "$WORK/e3"

# 4: kill -9 while trading
load_start "$WORK/r4" 400 44 || fail "client trades (4)"
sleep 1.5
kill9
stop_pid "$CPID"
CPID=
start_xchgd "$WORK/x3.log" || { fail "restart after kill -9 (3)"; tail -5 "$WORK/x3.log"; exit 1; }
expected "$WORK/e4" "$WORK/r1" "$WORK/r2" "$WORK/r3" "$WORK/r4" || fail "client history (4)"
sleep 2
N4=$(q1 "SELECT COUNT(*) FROM trades")
check "kill -9 while trading: every execution the client saw is there ($N4 >= $(tally "$WORK/e4.txt" executions))" \
    test "$N4" -ge "$(tally "$WORK/e4.txt" executions)"
ATTACHED=$(q --dir "$WORK/e4" --format csv "SELECT trade_id || ':' || order_id FROM trades" | sed 1d | sort)
MINE=$(q --format csv "SELECT trade_id || ':' || order_id FROM trades" | sed 1d | sort)
check "... each of them by trade and order id" test -z "$(comm -23 <(printf '%s\n' "$ATTACHED") <(printf '%s\n' "$MINE"))"
check "... and every report xchgd holds after the restart (fetched by a replay from number 1): answers = rounds 1-4 exactly ($(tally "$WORK/e4.txt" executions) executions)" \
    wait_same "$WORK/e4"
check "... the history is consistent (buyer and seller per trade, orders' filled = their trades, ticks = trades, every period's bars = ticks)" consistent
BEFORE=$(for k in "${!QUESTIONS[@]}"; do q --format csv "${QUESTIONS[$k]}"; done | md5sum)
stop_pid "$XPID"
XPID=
start_xchgd "$WORK/x4.log" || { fail "restart after SIGTERM"; tail -5 "$WORK/x4.log"; exit 1; }
sleep 1.5
AFTER=$(for k in "${!QUESTIONS[@]}"; do q --format csv "${QUESTIONS[$k]}"; done | md5sum)
check "graceful restart (SIGTERM): every answer unchanged" test "$BEFORE" = "$AFTER"

# 5: settlement results: those of settlement.detail; kill -9 before the
# history's flush, restart: the same rows, once each
norm() { sed -e 's/\(\.[0-9]*[1-9]\)0*$/\1/' -e 's/\.0*$//'; }
settle_ctl()
{
    ctl settlement.detail date=20990101 | tr '{' '\n' | grep '"user_id"' | while read -r l; do
        printf '%s %s %s\n' "$(jnum user_id "$l")" "$(jstr balance "$l" | norm)" "$(jstr commission "$l" | norm)"
    done | sort
}
MONEY="|| '.' || substr('0000' || (%s %% 10000), -4)"
settle_hist()
{
    q --format csv "SELECT account, (balance / 10000) $(printf "$MONEY" balance), (commission / 10000) $(printf "$MONEY" commission) FROM settlements WHERE date = 20990101 ORDER BY account" |
        sed 1d | while IFS=, read -r a b c; do printf '%s %s %s\n' "$a" "$(norm <<<"$b")" "$(norm <<<"$c")"; done | sort
}
settle_same()
{
    local i a b
    for ((i = 0; i < 30; i++)); do
        a=$(settle_ctl)
        b=$(settle_hist)
        [ -n "$a" ] && [ "$a" = "$b" ] && return 0
        sleep 0.2
    done
    say "     settlement.detail: $(tr '\n' '|' <<<"$a")"
    say "     history:           $(tr '\n' '|' <<<"$b")"
    return 1
}
ctl settlement.set_prices prices:='{"IF2501":"3800.2","IC2501":"5600","IH2501":"2800","cu2501":"75230"}' >/dev/null &&
    ctl settlement.run date=20990101 >/dev/null || fail "settlement.run"
kill9
start_xchgd "$WORK/x5.log" || { fail "restart after settlement"; tail -5 "$WORK/x5.log"; exit 1; }
check "settlement, kill -9 right after it, restart: the settlements table holds settlement.detail's balance and commission of every account ($(settle_ctl | tr '\n' ' '))" \
    settle_same
check "... one row per account ($(q1 "SELECT COUNT(*) FROM settlements") rows, $(settle_ctl | wc -l) accounts settled)" \
    test "$(q1 "SELECT COUNT(*) FROM settlements")" = "$(settle_ctl | wc -l)"
check "... the trades are still counted once" test "$(q1 "SELECT COUNT(*) FROM trades")" = "$N4" -o "$(q1 "SELECT COUNT(*) FROM trades")" -ge "$N4"

# 6: failure paths
check "DELETE refused (exit 1)" bash -c "! '$BIN/xchgctl' -c '$CONF' query 'DELETE FROM trades' 2>/dev/null"
check "ATTACH refused (exit 1)" bash -c "! '$BIN/xchgctl' -c '$CONF' query \"ATTACH '$WORK/x.db' AS x\" 2>/dev/null"
q --dir "$WORK/nowhere" "SELECT COUNT(*) FROM trades" >/dev/null 2>&1
check "no history directory: exit status 1" test $? = 1
stop_pid "$XPID"
XPID=

say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
