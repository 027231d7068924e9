#!/usr/bin/env bash
# sandbox.sh -- `make run`: xchgd on a veth pair into namespace xchg-sbx, plus the live demo.
#
# The appliance end (xchg0) stays in the root namespace, driven by DPDK's
# net_af_packet with address 198.18.0.1; the client end (198.18.0.2/24) lives
# in the namespace, where xchg-demo runs as an ordinary UDP client. xchgd
# keeps running until Ctrl-C; the sandbox is removed on exit. A second
# `make run` while one runs says so and leaves it alone.
set -uo pipefail
cd "$(dirname "$0")/.."

NS=${XCHG_SANDBOX_NS:-xchg-sbx}
export XCHG_IF=${XCHG_IF:-xchg0}
CONF=${XCHG_CONFIG:-config/xchg.conf}
BIN=build/bin
LOG=${XCHG_SANDBOX_LOG:-/tmp/xchg-sandbox.log}
PIDFILE=/run/xchg-sandbox-$NS.pid
NETNS=tests/integration/netns.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "make run: needs root (network namespaces, DPDK); try: sudo make run" >&2
    exit 1
fi
if [ -e "/run/netns/$NS" ] && [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "make run: a sandbox is already running (namespace $NS, xchgd pid $(cat "$PIDFILE"))."
    echo "          Use it with: $BIN/xchgctl -c $CONF status   -- or stop it with Ctrl-C where it runs."
    exit 0
fi
# leftovers of a sandbox that was killed
bash "$NETNS" down "$NS" >/dev/null 2>&1

XCHGD_PID=
cleanup()
{
    trap - INT TERM EXIT
    if [ -n "$XCHGD_PID" ] && kill -0 "$XCHGD_PID" 2>/dev/null; then
        kill -TERM "$XCHGD_PID" 2>/dev/null
        wait "$XCHGD_PID" 2>/dev/null
    fi
    bash "$NETNS" down "$NS" >/dev/null 2>&1
    rm -f "$PIDFILE" "${SBX_CONF:-}"
    echo "sandbox removed"
}
trap cleanup INT TERM EXIT

bash "$NETNS" up "$NS" || exit 1
# a fresh journal every run (the demo adds sessions each time): the copy of
# the config puts the storage under /tmp
SBX_DATA=${XCHG_SANDBOX_DATA:-/tmp/xchg-sandbox-data}
SBX_CONF=/tmp/xchg-sandbox-$NS.conf
rm -rf "$SBX_DATA"
sed -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$SBX_DATA\";|" "$CONF" >"$SBX_CONF" || exit 1
"$BIN/xchgd" -c "$SBX_CONF" >"$LOG" 2>&1 &
XCHGD_PID=$!
echo "$XCHGD_PID" >"$PIDFILE"
for _ in $(seq 100); do
    grep -q "xchgd: ready" "$LOG" 2>/dev/null && break
    kill -0 "$XCHGD_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.1
done
grep -q "xchgd: ready" "$LOG" || { echo "xchgd did not start:" >&2; cat "$LOG" >&2; exit 1; }
grep "xchgd: ready" "$LOG"

# Two trading firms' sessions, each bound to the namespace's address.
session()
{
    local out
    out=$("$BIN/xchgctl" -c "$CONF" --json session.add account="$1" source=198.18.0.2) || return 1
    local id token
    id=$(printf '%s' "$out" | sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p')
    token=$(printf '%s' "$out" | sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
    [ -n "$id" ] && [ -n "$token" ] && echo "$id:$token"
}
# Accounts first (session.add refuses unknown accounts): 10,000,000 each.
for a in 1001 2002; do
    "$BIN/xchgctl" -c "$CONF" --json account.open account=$a name=demo$a init_cash=10000000 \
        >/dev/null || { echo "account.open $a failed" >&2; exit 1; }
done
S1=$(session 1001) && S2=$(session 2002) || { echo "session.add failed" >&2; exit 1; }
echo "sessions: $S1 (account 1001) and $S2 (account 2002)"
echo
ip netns exec "$NS" "$BIN/xchg-demo" --server 198.18.0.1 --port 9000 --session "$S1" --session "$S2" ||
    { echo "xchg-demo failed" >&2; exit 1; }
echo
"$BIN/xchgctl" -c "$CONF" book.get instrument=IF2501 depth=5
echo
"$BIN/xchgctl" -c "$CONF" account.list
echo
if [ -n "${XCHG_RUN_ONCE:-}" ]; then
    exit 0 # cleanup stops xchgd
fi
echo "xchgd keeps running: try '$BIN/xchgctl -c $CONF stats' in another terminal."
echo "Ctrl-C stops it and removes the sandbox."
wait "$XCHGD_PID"
