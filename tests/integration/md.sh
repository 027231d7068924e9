#!/usr/bin/env bash
# md.sh -- integration test of the summary market data (`make test` runs it
# after run.sh; it needs root).
#
# The test network of tests/integration/netns.sh with names of our own
# (interface xmd<pid>, namespace xmd-<pid>); build/bin/xchgd --no-huge with a
# copy of config/xchg.conf whose market_data uses the UTC calendar day
# (trading_day_start "00:00", utc_offset "+00:00", so the expected trading
# day does not depend on the library) and IF2501's pre_close "3780.0"; two
# sessions from `xchgctl session.add`; build/tests/itest_md inside the
# namespace (orders, md.* commands, the summary channel, see itest_md.c);
# then `xchgctl --json md.snapshot` and the table form of md.klines checked
# from here, and SIGTERM: xchgd must exit 0. Prints one line per check and
# "N passed, M failed"; exits 1 when anything failed. Only 198.18.0.0/15 and
# 239.1.2.1, only inside the namespace made here; everything is removed on
# exit. ITEST_KEEP=1 keeps the work directory.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=build/bin
ITEST=build/tests/itest_md
NETNS=tests/integration/netns.sh
export XCHG_IF=xmd$$
NS=xmd-$$
SERVER=198.18.0.1
LOCAL=198.18.0.2
GROUP=239.1.2.1
MDPORT=9200
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
    say "tests/integration/md.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$ITEST"; do
    [ -x "$f" ] || { say "md.sh: $f is missing: run make first" >&2; say "0 passed, 1 failed"; exit 1; }
done
WORK=$(mktemp -d "/tmp/xmd-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
CONF=$WORK/xchg.conf
LOG=$WORK/xchgd.log
say "market data integration test: interface $XCHG_IF, namespace $NS, work dir $WORK"
sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
    -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e 's/trading_day_start = "21:00"/trading_day_start = "00:00"/' \
    -e 's/utc_offset = "+08:00"/utc_offset = "+00:00"/' \
    -e '0,/pre_settlement = "3800.0";/s//pre_settlement = "3800.0"; pre_close = "3780.0";/' \
    config/xchg.conf >"$CONF"
check "config copy: interface, socket, UTC trading day, IF2501 pre_close 3780.0" \
    grep -q 'pre_close = "3780.0"' "$CONF"
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    FAIL=$((FAIL + 1)); say "FAIL test network"; cat "$WORK/netns.log"; say "$PASS passed, $FAIL failed"; exit 1
fi
NS_UP=1
"$BIN/xchgd" -c "$CONF" --no-huge >"$LOG" 2>&1 &
XPID=$!
for ((i = 0; i < 300; i++)); do
    grep -q "xchgd: ready" "$LOG" 2>/dev/null && break
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "xchgd: ready" "$LOG"; then
    FAIL=$((FAIL + 1)); say "FAIL xchgd ready within 30 s"; cat "$LOG"; say "$PASS passed, $FAIL failed"; exit 1
fi
PASS=$((PASS + 1))
say "ok   xchgd ready"

ctl() { "$BIN/xchgctl" --socket "$SOCK" --json "$@"; }
session()
{
    local out id token
    # session.add refuses accounts never opened (1006; a second open is
    # 2001); money and order limits far above what the random flow needs, so
    # the risk checks (docs/accounts.md) refuse nothing here
    ctl account.open account="$1" init_cash=1000000000000 >/dev/null 2>&1
    ctl risk.limits max_order_notional=1000000000 >/dev/null 2>&1
    out=$(ctl session.add account="$1" source="$2") || return 1
    id=$(printf '%s' "$out" | sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p')
    token=$(printf '%s' "$out" | sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
    [ -n "$id" ] && [ -n "$token" ] && echo "$id:$token"
}
SA=$(session 1001 "$LOCAL")
SB=$(session 2002 "$LOCAL")
check "sessions created" test -n "$SA" -a -n "$SB"

timeout 120 ip netns exec "$NS" "$ITEST" --server "$SERVER" --port 9000 --ctl "$SOCK" \
    --local "$LOCAL" --group "$GROUP" --md-port "$MDPORT" \
    --session "A:1001:$SA" --session "B:2002:$SB" >"$WORK/itest.out" 2>&1
rc=$?
sed 's/^/  /' "$WORK/itest.out"
p=$(sed -n 's/^itest-md: summary \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$WORK/itest.out")
f=$(sed -n 's/^itest-md: summary \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$WORK/itest.out")
PASS=$((PASS + ${p:-0}))
FAIL=$((FAIL + ${f:-0}))
if [ -z "$p" ] || { [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; }; then
    FAIL=$((FAIL + 1)); say "FAIL itest_md exited $rc without a summary of failures"
fi

# the operator's view through xchgctl
snap=$(ctl md.snapshot instrument=IF2501)
check "xchgctl --json md.snapshot: last 3802.0, volume 9, turnover 10258800.00, OI 1" \
    bash -c "grep -q '\"last_price\": *\"3802.0\"' <<<'$snap' && grep -q '\"volume\": *9[,}]' <<<'$snap' &&
        grep -q '\"turnover\": *\"10258800.00\"' <<<'$snap' && grep -q '\"open_interest\": *1[,}]' <<<'$snap'"
table=$("$BIN/xchgctl" --socket "$SOCK" md.klines instrument=IF2501 period=day count=1)
sed 's/^/     /' <<<"$table"
check "xchgctl md.klines (table): the day bar with close 3802.0" grep -q "3802.0" <<<"$table"
"$BIN/xchgctl" --socket "$SOCK" md.klines instrument=IF2501 period=1m count=1001 >/dev/null 2>"$WORK/err"
rc=$?
check "xchgctl md.klines count=1001: exit 1, error 1008 ($(cat "$WORK/err"))" \
    test "$rc" = 1 -a -n "$(grep 1008 "$WORK/err")"

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
