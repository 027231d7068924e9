#!/usr/bin/env bash
# segments.sh -- integration test of one account trading on two segments
# (`make test` runs it; it needs root).
#
# The test network of tests/integration/netns.sh with names of our own
# (interface xsg<pid>, namespace xsg-<pid>); build/bin/xchgd --no-huge with
# a two-segment config written here: IF2501 on segment 0 (UDP 9000), IC2501
# on segment 1 (UDP 9010), one net_af_packet port with two queue pairs, the
# second worker lcore on CPU 1 with the first (segments.cpu: a two-CPU box
# has no third CPU), concentration 100%. build/tests/itest_accounts
# --two-segments inside the namespace: an order one segment's credit line
# cannot cover while the account has the money goes through (the control
# core reclaims from the other segment's idle line), an order the account
# cannot afford gets 1001 (docs/accounts.md "Credit lines"). Then build/bin/
# xchgctl runs every account, instrument, order, risk and settlement command
# of docs/accounts.md and a subscription against it. Then SIGTERM:
# xchgd must exit 0. Prints one line per check and "N passed, M failed";
# exits 1 when anything failed. Only 198.18.0.0/15, only inside the
# namespace made here; everything is removed on exit. ITEST_KEEP=1 keeps
# the work directory.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=build/bin
ITEST=build/tests/itest_accounts
NETNS=tests/integration/netns.sh
export XCHG_IF=xsg$$
NS=xsg-$$
PASS=0
FAIL=0
XPID=
NS_UP=0
WORK=

say() { printf '%s\n' "$*"; }
check()
{
    local name=$1
    shift
    if "$@"; then PASS=$((PASS + 1)); say "ok   $name"; else FAIL=$((FAIL + 1)); say "FAIL $name"; fi
}

cleanup()
{
    trap - INT TERM EXIT
    if [ -n "$XPID" ] && kill -0 "$XPID" 2>/dev/null; then
        kill -TERM "$XPID"
        sleep 1
        kill -KILL "$XPID" 2>/dev/null
        wait "$XPID" 2>/dev/null
    fi
    [ -n "$XPID" ] && rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
    [ "$NS_UP" = 1 ] && bash "$NETNS" down "$NS" >/dev/null 2>&1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$FAIL" -eq 0 ] && [ -z "${ITEST_KEEP:-}" ]; then rm -rf "$WORK"; else say "logs kept in $WORK"; fi
    fi
}
trap cleanup EXIT
trap 'FAIL=$((FAIL + 1)); say "interrupted"; say "$PASS passed, $FAIL failed"; exit 1' INT TERM

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/segments.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$ITEST"; do
    [ -x "$f" ] || { say "segments.sh: $f is missing: run make first" >&2; say "0 passed, 1 failed"; exit 1; }
done
WORK=$(mktemp -d "/tmp/xsg-$$.XXXX") || exit 1
LOG=$WORK/xchgd.log
say "two-segment integration test: interface $XCHG_IF, namespace $NS, work dir $WORK"
cat >"$WORK/xchg.conf" <<CONF
segments = (
    { id = 0; lcore = 1; order_port = 9000; feed_group = "239.1.1.1"; feed_port = 9100;
      feed_retransmit_port = 9101; feed_history = 4096; order_capacity = 65536; },
    { id = 1; lcore = 2; cpu = 1; order_port = 9010; feed_group = "239.1.1.2"; feed_port = 9110;
      feed_retransmit_port = 9111; feed_history = 4096; order_capacity = 65536; }
);
ports = ( { name = "p0"; devargs = "net_af_packet0,iface=$XCHG_IF,qpairs=2"; address = "198.18.0.1/24"; } );
instruments = (
    { id = "IF2501"; name = "CSI 300 index future 2025-01"; segment = 0; tick_size = "0.2";
      multiplier = 300; margin_rate = "12%"; commission_rate = "0.0023%"; limit_up = "10%";
      limit_down = "10%"; pre_settlement = "3800.0"; close_rule = "today_first"; },
    { id = "IC2501"; name = "CSI 500 index future 2025-01"; segment = 1; tick_size = "0.2";
      multiplier = 200; margin_rate = "12%"; commission_rate = "0.0023%"; limit_up = "10%";
      limit_down = "10%"; pre_settlement = "5600.0"; close_rule = "today_first"; }
);
storage = { data_dir = "$WORK/data"; };
risk = { concentration_share = "100%"; };
control = { socket = "$WORK/xchgd.sock"; metrics_port = 0; };
filter = { enabled = false; };
CONF
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    FAIL=$((FAIL + 1)); say "FAIL test network"; cat "$WORK/netns.log"; say "$PASS passed, $FAIL failed"; exit 1
fi
NS_UP=1
"$BIN/xchgd" -c "$WORK/xchg.conf" --no-huge >"$LOG" 2>&1 &
XPID=$!
for ((i = 0; i < 300; i++)); do
    grep -q "xchgd: ready" "$LOG" 2>/dev/null && break
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "xchgd: ready: 2 segment(s)" "$LOG"; then
    FAIL=$((FAIL + 1)); say "FAIL xchgd ready with 2 segments within 30 s"; cat "$LOG"; say "$PASS passed, $FAIL failed"; exit 1
fi
PASS=$((PASS + 1))
say "ok   xchgd ready: 2 segments, lcores 1 and 2 on CPU 1"

timeout 120 ip netns exec "$NS" "$ITEST" --server 198.18.0.1 --port 9000 --ctl "$WORK/xchgd.sock" \
    --local 198.18.0.2 --two-segments >"$WORK/itest.out" 2>&1
rc=$?
sed 's/^/  /' "$WORK/itest.out"
p=$(sed -n 's/^itest: summary \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$WORK/itest.out")
f=$(sed -n 's/^itest: summary \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$WORK/itest.out")
PASS=$((PASS + ${p:-0}))
FAIL=$((FAIL + ${f:-0}))
if [ -z "$p" ] || { [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; }; then
    FAIL=$((FAIL + 1)); say "FAIL itest_accounts --two-segments exited $rc without a summary of failures"
fi

# ---- xchgctl: every command of the accounts issue, and the subscription ----
ctl() { "$BIN/xchgctl" --socket "$WORK/xchgd.sock" "$@"; }
has() { grep -q -- "$2" <<<"$1"; }
quiet() { "$@" >/dev/null; }
timeout 10 "$BIN/xchgctl" --socket "$WORK/xchgd.sock" --json subscribe account.21 trade >"$WORK/sub.out" 2>&1 &
SPID=$!
sleep 0.5
out=$(ctl --json account.deposit account=21 amount=5)
check "xchgctl account.deposit: balance 410005.0000" has "$out" '"balance":"410005.0000"'
out=$(ctl --json account.withdraw account=21 amount=5)
check "xchgctl account.withdraw: available 410000.0000" has "$out" '"available":"410000.0000"'
out=$(ctl account.open account=22 name=ctl type=institutional init_cash=1000)
check "xchgctl account.open (table)" has "$out" "institutional"
check "xchgctl account.freeze" quiet ctl account.freeze account=22
out=$(ctl --json account.get account=22)
check "xchgctl account.get: frozen" has "$out" '"status":"frozen"'
check "xchgctl account.unfreeze" quiet ctl account.unfreeze account=22
out=$(ctl account.list)
check "xchgctl account.list: 21 and 22" bash -c "grep -q 410000.0000 <<<'$out' && grep -q 1000.0000 <<<'$out'"
ctl account.get account=999 >/dev/null 2>"$WORK/err"
rc=$?
check "xchgctl account.get of an unknown account: exit 1, 1006 ($(cat "$WORK/err"))" \
    bash -c "test $rc = 1 && grep -q 1006 '$WORK/err'"
out=$(ctl --json instrument.get instrument=IC2501)
check "xchgctl instrument.get: segment 1" has "$out" '"segment":1'
out=$(ctl --json instrument.update instrument=IC2501 margin_rate=15% limit_up=5%)
check "xchgctl instrument.update: margin 0.15, upper limit 5880.0" \
    bash -c "grep -q '\"margin_rate\":\"0.15\"' <<<'$out' && grep -q '\"upper_limit\":\"5880.0\"' <<<'$out'"
out=$(ctl --json instrument.suspend instrument=IC2501)
check "xchgctl instrument.suspend" has "$out" '"status":"Suspended"'
out=$(ctl --json instrument.resume instrument=IC2501)
check "xchgctl instrument.resume" has "$out" '"status":"Trading"'
# the segments have no instrument_capacity beyond their instruments: no room
ctl instrument.add instrument=IO2501 segment=1 tick=0.2 multiplier=100 margin_rate=12% \
    limit_up=10% limit_down=10% pre_settlement=4000 >/dev/null 2>"$WORK/err"
check "xchgctl instrument.add without instrument_capacity: 5001 ($(cat "$WORK/err"))" grep -q 5001 "$WORK/err"
out=$(ctl --json order.list account=21 status=CANCELLED)
oid=$(sed -n 's/.*"order_id":\([0-9]*\).*/\1/p' <<<"$out" | head -1)
check "xchgctl order.list account=21 status=CANCELLED: an order id ($oid)" test -n "$oid"
out=$(ctl --json order.get order_id="${oid:-0}")
check "xchgctl order.get: CANCELLED" has "$out" '"status":"CANCELLED"'
check "xchgctl trade.list" quiet ctl trade.list account=21
check "xchgctl position.list" quiet ctl position.list account=21
out=$(ctl --json risk.accounts threshold=0%)
check "xchgctl risk.accounts: account 21 listed" has "$out" '"user_id":21'
out=$(ctl --json risk.limits concentration=90%)
check "xchgctl risk.limits set: concentration 0.9" has "$out" '"concentration":"0.9'
out=$(ctl --json risk.limits)
check "xchgctl risk.limits get: concentration 0.9" has "$out" '"concentration":"0.9'
check "xchgctl risk.liquidations" quiet ctl risk.liquidations
check "xchgctl ledger.stats" quiet ctl ledger.stats
check "xchgctl settlement.set_price" quiet ctl settlement.set_price instrument=IF2501 price=3800
check "xchgctl settlement.set_prices" quiet ctl settlement.set_prices 'prices:={"IF2501":"3800.0","IC2501":"5600.0"}'
out=$(ctl --json settlement.run date=20300102)
check "xchgctl settlement.run: accounts settled" has "$out" '"settled_accounts":'
ctl settlement.run date=20300102 >/dev/null 2>"$WORK/err"
check "xchgctl settlement.run twice: 6002" grep -q 6002 "$WORK/err"
out=$(ctl --json settlement.history)
check "xchgctl settlement.history" has "$out" "20300102"
out=$(ctl --json settlement.detail date=20300102)
check "xchgctl settlement.detail" has "$out" '"user_id":21'
# the control core delists, then moves the book to CLOSED through its worker
# (2 s timeout, 5000 when it passes: on a loaded two-CPU box two workers
# share CPU 1 with everyone else's): the instrument is delisted either way
out=$(ctl --json instrument.delist instrument=IC2501 2>"$WORK/err")
[ -s "$WORK/err" ] && say "     instrument.delist: $(cat "$WORK/err")"
check "xchgctl instrument.delist" \
    bash -c "grep -q '\"status\":\"Delisted\"' <<<'$out' || { grep -q 5000 '$WORK/err' &&
        '$BIN/xchgctl' --socket '$WORK/xchgd.sock' --json instrument.get instrument=IC2501 |
            grep -q '\"status\":\"Delisted\"'; }"
sleep 0.5
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
check "xchgctl subscribe account.21 trade: the deposit's account event arrived" \
    grep -q '"event":"account.21"' "$WORK/sub.out"

kill -TERM "$XPID"
for ((i = 0; i < 50; i++)); do kill -0 "$XPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$XPID" 2>/dev/null; then
    FAIL=$((FAIL + 1)); say "FAIL SIGTERM: xchgd still running after 5 s"
else
    wait "$XPID"
    check "SIGTERM: xchgd exits 0" test $? = 0
    rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
    XPID=
fi
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
