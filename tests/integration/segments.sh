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
# cannot afford gets 1001 (docs/accounts.md "Credit lines"). Then SIGTERM:
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
for f in "$BIN/xchgd" "$ITEST"; do
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
