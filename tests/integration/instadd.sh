#!/usr/bin/env bash
# instadd.sh -- instrument.add on the real xchgd, through restarts (make test; needs root).
#
# One test network (tests/integration/netns.sh: interface xia<pid>,
# namespace xia-<pid>), one xchgd (durability = sync, storage in our work
# directory) whose segment has instrument_capacity = 6: config/xchg.conf's
# four instruments and room for two.
#
#   1. an ITCH listener (xchg-feed --check --dump) follows the feed from
#      the start;
#   2. build/tests/itest_instadd --phase add: while a client trades IF2501,
#      adds al2501 (then zn2501, the last slot); duplicate, unknown segment,
#      off-tick and capacity-exhausted refusals with their codes; opens
#      al2501, trades 2 lots between accounts 501 and 502 (fill, positions,
#      margin, commission), leaves a bid; md.snapshot and book.get;
#   3. the listener saw the Stock Directory (R) and Trading Action (H)
#      messages of al2501 and zn2501 on the running feed, and its books,
#      al2501's with the bid, equal xchgctl book.get;
#   4. state hash = xchg-replay's replay of the segment journal from
#      scratch; control hash = the replay of the control journal;
#   5. graceful restart (SIGTERM, start): itest_instadd --phase verify finds
#      the instruments, the position, the bid, trades into the bid; hashes
#      again;
#   6. kill -9, restart: the same verify (one lot more), hashes again; a
#      late listener (xchg-feed --snapshot --check) gets al2501 from the
#      restarted feed's directory and book;
#   7. SIGTERM: exit 0.
# Prints one line per check and "N passed, M failed"; exits 1 if anything
# failed. Logs stay in the work directory on failure (or with ITEST_KEEP=1).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${XCHG_BIN:-build/bin}
ITEST=build/tests/itest_instadd
NETNS=tests/integration/netns.sh
export XCHG_IF=${XCHG_IF:-xia$$}
NS=xia-$$
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

stop_pid()
{
    local pid=$1 sig=${2:-TERM} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
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
jstr() { printf '%s' "$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
jnum() { printf '%s' "$2" | grep -o "\"$1\": *[0-9]*" | head -1 | sed 's/.*: *//'; }

start_xchgd()
{
    local log=$1 i
    "$BIN/xchgd" -c "$CONF" --no-huge >"$log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 300; i++)); do
        grep -q "xchgd: ready" "$log" 2>/dev/null && return 0
        kill -0 "$XPID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# status hash = replay hash, at the same journal sequence (timers may still
# journal a session timeout just after the start: retry a few times)
hash_check()
{
    local i st hs seq rp hr rs
    for ((i = 0; i < 20; i++)); do
        st=$(ctl status) || return 1
        hs=$(jstr state_hash "$st")
        seq=$(jnum durable_seq "$st")
        rp=$("$BIN/xchg-replay" -c "$CONF" 2>&1) || { say "     $rp"; return 1; }
        hr=$(jstr state_hash "$rp")
        rs=$(jnum last_seq "$rp")
        if [ "$seq" = "$rs" ] && [ "$(jnum journal_seq "$st")" = "$seq" ]; then
            say "     state hash $hs at journal sequence $seq; replay from scratch: $hr" \
                "($(jnum records_per_s "$rp") records/s)"
            [ -n "$hs" ] && [ "$hs" = "$hr" ]
            return
        fi
        sleep 0.2
    done
    say "     journal sequence kept moving: status $seq, replay $rs"
    return 1
}

# status .control hash = xchg-replay's control hash, at the same control
# journal sequence; no ledger mismatch; the accounts are there
control_check()
{
    local i st cs cj cd rp rh rs mm
    for ((i = 0; i < 20; i++)); do
        st=$(ctl status) || return 1
        cs=$(printf '%s' "$st" | jq -r .control.control_hash)
        cj=$(printf '%s' "$st" | jq -r .control.control_seq)
        cd=$(printf '%s' "$st" | jq -r .control.control_durable_seq)
        rp=$("$BIN/xchg-replay" -c "$CONF" 2>&1 | grep '"stream":"control"') || return 1
        rh=$(printf '%s' "$rp" | jq -r .control_hash)
        rs=$(printf '%s' "$rp" | jq -r .last_seq)
        if [ "$cj" = "$cd" ] && [ "$cd" = "$rs" ]; then
            mm=$(ctl ledger.stats | jq -r .mismatches)
            say "     control hash $cs at control sequence $cd; replay: $rh; ledger mismatches $mm"
            [ -n "$cs" ] && [ "$cs" = "$rh" ] && [ "$mm" = 0 ] &&
                ctl account.get account=501 >/dev/null && ctl account.get account=502 >/dev/null
            return
        fi
        sleep 0.2
    done
    say "     control sequence kept moving: status $cj/$cd, replay $rs"
    return 1
}

check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
nsx() { ip netns exec "$NS" "$@"; }

itest()
{
    local name=$1 out
    shift
    out=$WORK/itest.$name.out
    if nsx "$ITEST" --server "$SERVER" --port "$PORT" --local "$LOCAL" --ctl "$SOCK" "$@" >"$out" 2>&1; then
        ok "itest_instadd $name: $(grep -o '[0-9]* passed, [0-9]* failed' "$out")"
    else
        fail "itest_instadd $name: $(grep -o '[0-9]* passed, [0-9]* failed' "$out")"
        grep -E 'FAIL|cannot' "$out" | head -10 | sed 's/^/     /'
    fi
    grep -E '^       IF orders' "$out" | sed 's/^ */     /'
}

hashes()
{
    local when=$1
    check "$when: state hash = hash of a replay of the segment journal from scratch" hash_check
    check "$when: control hash = replay of the control journal, no ledger mismatch" control_check
}

restart()
{
    local how=$1 log=$2
    if [ "$how" = kill ]; then
        kill -KILL "$XPID"
        wait "$XPID" 2>/dev/null
        ip link set dev "$XCHG_IF" xdp off 2>/dev/null # the operator's step after a crash
    else
        stop_pid "$XPID" TERM
    fi
    XPID=
    start_xchgd "$log"
}

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/instadd.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$BIN/xchg-replay" "$BIN/xchg-feed" "$ITEST"; do
    [ -x "$f" ] || { say "missing $f (run make)"; say "0 passed, 1 failed"; exit 1; }
done
WORK=$(mktemp -d "/tmp/xia-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
CONF=$WORK/xchg.conf
say "instrument.add test: interface $XCHG_IF, namespace $NS, work dir $WORK"
sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
    -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s|^\([[:space:]]*wal_segment_size[[:space:]]*=\).*|\1 \"1M\";|" \
    -e "s|^\([[:space:]]*durability[[:space:]]*=\).*|\1 \"sync\";|" \
    -e "s|^\([[:space:]]*order_capacity[[:space:]]*=.*\)|\1\n        instrument_capacity = 6;|" \
    config/xchg.conf >"$CONF"
if ! grep -q "$WORK/data" "$CONF" || ! grep -q "iface=$XCHG_IF\"" "$CONF" ||
    ! grep -q "instrument_capacity = 6" "$CONF"; then
    fail "config copy (interface, socket, storage, instrument_capacity)"
    exit 1
fi
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    fail "test network"
    cat "$WORK/netns.log"
    exit 1
fi
NS_UP=1
if ! start_xchgd "$WORK/xchgd.0.log"; then
    fail "xchgd ready on an empty storage directory"
    cat "$WORK/xchgd.0.log"
    exit 1
fi
ok "xchgd ready (instrument_capacity 6, 4 instruments configured)"

FEED=("$BIN/xchg-feed" --local "$LOCAL" --server "$SERVER" --quiet --check --ctl "$SOCK"
    --xchgctl "$BIN/xchgctl" --quiet-ms 1000 --duration 60)
nsx "${FEED[@]}" --check-when "$WORK/done" --dump "$WORK/feed.dump" >"$WORK/feed.out" 2>&1 &
CPID=$!
sleep 0.5

itest add --phase add
: >"$WORK/done"
wait "$CPID"
rc=$?
CPID=
say "     listener: $(tail -1 "$WORK/feed.out")"
check "listener: every book (al2501's with its bid) equals xchgctl book.get (exit $rc)" test "$rc" = 0
check "feed: Stock Directory (R) and Trading Action (H) of al2501 and zn2501 on the running feed" \
    sh -c "grep -q ' R .*stock=al2501 ' '$WORK/feed.dump' && grep -q ' H .*stock=al2501 ' '$WORK/feed.dump' &&
           grep -q ' R .*stock=zn2501 ' '$WORK/feed.dump'"
grep ' [RH] .*stock=al2501 ' "$WORK/feed.dump" | head -2 | cut -c1-100 | sed 's/^/     /'
"$BIN/xchgctl" --socket "$SOCK" instrument.add instrument=al2501 segment=0 tick=5 multiplier=5 \
    margin_rate=10% limit_up=5% limit_down=5% pre_settlement=20000 >/dev/null 2>"$WORK/dup.err"
check "xchgctl instrument.add of a taken id: 1008 ($(cat "$WORK/dup.err"))" grep -q '1008.*already exists' "$WORK/dup.err"
"$BIN/xchgctl" --socket "$SOCK" instrument.list >"$WORK/list.out" 2>&1
check "xchgctl instrument.list shows al2501 and zn2501" sh -c "grep -q al2501 '$WORK/list.out' && grep -q zn2501 '$WORK/list.out'"
check "xchgctl md.snapshot instrument=al2501: volume 2" \
    sh -c "'$BIN/xchgctl' --socket '$SOCK' --json md.snapshot instrument=al2501 | jq -e '.volume == 2' >/dev/null"
hashes "after instrument.add"

if restart term "$WORK/xchgd.1.log"; then
    ok "graceful restart (SIGTERM, start on the same storage)"
    itest verify.1 --phase verify --expect-long 2
    hashes "after the graceful restart"
else
    fail "graceful restart"
    tail -5 "$WORK/xchgd.1.log"
fi

if restart kill "$WORK/xchgd.2.log"; then
    ok "kill -9 and restart: $(grep -o 'recovery: segment .*replayed in.*' "$WORK/xchgd.2.log" | head -1)"
    itest verify.2 --phase verify --expect-long 3
    hashes "after kill -9"
    nsx "${FEED[@]}" --snapshot --quiet-ms 1000 >"$WORK/feed2.out" 2>&1
    rc=$?
    say "     late listener: $(tail -1 "$WORK/feed2.out")"
    check "late listener (snapshot) after kill -9: books equal book.get, al2501's too (exit $rc)" \
        sh -c "[ $rc = 0 ] && tail -1 '$WORK/feed2.out' | grep -q '\"instruments\":6'"
else
    fail "restart after kill -9"
    tail -5 "$WORK/xchgd.2.log"
fi

kill -TERM "$XPID"
for ((i = 0; i < 50; i++)); do kill -0 "$XPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$XPID" 2>/dev/null; then
    fail "SIGTERM: xchgd exits within 5 s"
else
    wait "$XPID"
    rc=$?
    [ "$rc" = 0 ] && ok "SIGTERM: xchgd exits 0" || fail "SIGTERM: xchgd exit status $rc"
fi
XPID=
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
