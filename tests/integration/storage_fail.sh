#!/usr/bin/env bash
# storage_fail.sh -- storage failure cases of the real xchgd (make test runs it; needs root).
#
# One test network (netns.sh, interface xsf<pid>, namespace xsf-<pid>); each
# case runs xchgd with its storage in a directory of our own:
#
#   unwritable    data_dir on a read-only tmpfs: xchgd refuses to start, exit
#                 status non-zero, and says which directory and why;
#   torn tail     after a clean stop, the start of a commit that never
#                 completed is written after the last record: xchgd starts,
#                 logs "torn tail cut" with file and offset, and has every
#                 record of before (journal sequence, state hash as replayed
#                 before the damage);
#   corruption    one byte of a record in the middle of the journal flipped:
#                 xchgd refuses to start, naming the file and the offset;
#                 with --recover-to-corruption it starts, warns, keeps the
#                 damaged file as *.damaged, and its state hash equals a
#                 replay from scratch of what is left;
#   stall         data_dir on a loop-mounted ext4 frozen (fsfreeze) for 2.5 s
#                 while xchg-load sends 8,000 orders/s with 100 ms heartbeats:
#                 commits stop, held answers fill the gate and the worker
#                 stops reading input (journal_stalls counts it); the
#                 sessions' heartbeats wait unread meanwhile, so none may be
#                 timed out for it (timeouts 0, no LoggedOut at the client);
#                 after the thaw the sessions trade on, and the state hash
#                 after a clean stop equals a replay from scratch;
#   disk full     data_dir on a 2.5 MiB tmpfs with 1 MiB segments: trading
#                 until the journal has no room for its next segment
#                 (xchgctl status: storage_full 28); orders are then
#                 answered 5002 while the last segment takes the inputs;
#                 after the tmpfs is made larger and xchgd restarted, every
#                 report the client had, 5002s included, comes back
#                 identical, and orders are accepted again.
#
# Prints one line per check and "N passed, M failed"; exits 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${XCHG_BIN:-build/bin}
ITEST=${XCHG_ITEST_DIR:-build/tests}/itest_crash
NETNS=tests/integration/netns.sh
export XCHG_IF=${XCHG_IF:-xsf$$}
NS=xsf-$$
SERVER=198.18.0.1
LOCAL=198.18.0.2
PASS=0
FAIL=0
WORK=
XPID=
CPID=
NS_UP=0
MOUNTS=()
FROZEN=
STALL_IMG=

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

stop_pid()
{
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
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
    stop_pid "$CPID"
    stop_pid "$XPID"
    local m
    [ -n "${FROZEN:-}" ] && fsfreeze -u "$FROZEN" 2>/dev/null
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
    [ -n "${STALL_IMG:-}" ] && rm -f "$STALL_IMG"
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

jstr() { printf '%s' "$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
jnum() { printf '%s' "$2" | grep -o "\"$1\": *[0-9]*" | head -1 | sed 's/.*: *//'; }

# conf NAME DATA_DIR: a config copy with our interface, socket and storage
conf()
{
    CONF=$WORK/$1.conf
    SOCK=$WORK/$1.sock
    sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
        -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$2\";|" \
        -e "s|^\([[:space:]]*wal_segment_size[[:space:]]*=\).*|\1 \"1M\";|" config/xchg.conf >"$CONF"
}
ctl() { "$BIN/xchgctl" --socket "$SOCK" --json "$@"; }

# start LOG [ARGS]: 0 once ready; 1 if it exited (status in XRC)
start()
{
    local log=$1 i
    shift
    "$BIN/xchgd" -c "$CONF" --no-huge "$@" >"$log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 300; i++)); do
        grep -q "xchgd: ready" "$log" 2>/dev/null && return 0
        if ! kill -0 "$XPID" 2>/dev/null; then
            wait "$XPID"
            XRC=$?
            XPID=
            return 1
        fi
        sleep 0.05
    done
    return 1
}
stop() { stop_pid "$XPID"; XPID=; }

sessions()
{
    local out acct
    SESS=()
    for acct in 1001 2002; do
        # session.add refuses accounts never opened (a restart on a fresh
        # directory starts with none)
        ctl account.open account=$acct init_cash=1000000000000 >/dev/null 2>&1
        out=$(ctl session.add account=$acct source=any)
        SESS+=(--session "$(jnum session_id "$out"):$(jstr token "$out")")
    done
}

# load LOG SECONDS: the crash test's client trades for a while
load()
{
    timeout "$2" ip netns exec "$NS" "$ITEST" --phase load --server "$SERVER" --local "$LOCAL" \
        --log "$1" "${SESS[@]}" >"$1.out" 2>&1
    grep -q "itest-crash: trading" "$1.out"
}

replay() { "$BIN/xchg-replay" -c "$CONF" 2>&1; }

# ---- cases ----------------------------------------------------------------------

case_unwritable()
{
    local ro=$WORK/ro
    mkdir -p "$ro" && mount -t tmpfs -o ro,size=1M tmpfs "$ro" && MOUNTS+=("$ro")
    conf unwritable "$ro/data"
    start "$WORK/unwritable.log"
    local rc=$?
    [ "$rc" = 0 ] && stop
    check "unwritable storage directory: xchgd refuses to start (exit ${XRC:-0})" \
        test "$rc" = 1 -a "${XRC:-0}" != 0
    # the start-up checks (control/daemon.c dmnCheckDir) refuse it before duOpen
    say "     $(grep -m1 "storage.data_dir" "$WORK/unwritable.log")"
    check "unwritable storage directory: the message names it and the reason" \
        grep -q "storage.data_dir $ro/data.*Read-only file system" "$WORK/unwritable.log"
}

# The last written segment of DIR and where its data ends (8-aligned).
data_end()
{
    python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
segs = sorted(f for f in os.listdir(d) if f.startswith("seg-") and f.endswith(".jnl"))
for f in reversed(segs):
    b = open(os.path.join(d, f), "rb").read()
    if b[:4] != b"\0\0\0\0":
        end = len(b.rstrip(b"\0"))
        print(os.path.join(d, f), (end + 7) // 8 * 8)
        break
PY
}

case_torn()
{
    conf torn "$WORK/torn"
    start "$WORK/torn.0.log" || { check "torn tail: xchgd starts" false; return; }
    sessions
    load "$WORK/torn.r" 2
    stop
    local before seq hash
    before=$(replay)
    seq=$(jnum last_seq "$before")
    hash=$(jstr state_hash "$before")
    read -r seg off < <(data_end "$WORK/torn/wal/seg-0")
    # a commit that never completed: a record header and part of its payload
    python3 -c "
import struct, sys
f = open('$seg', 'r+b'); f.seek($off)
f.write(struct.pack('<IIQHHI', 200, 0xdeadbeef, $seq + 1, 1, 0, 0) + b'\x5a' * 60)"
    start "$WORK/torn.1.log" || { check "torn tail: xchgd starts after the damage" false; return; }
    local st
    st=$(ctl status)
    say "     $(grep -m1 "torn tail cut" "$WORK/torn.1.log")"
    check "torn tail: cut at recovery, file and offset logged" \
        grep -q "torn tail cut: $seg offset $off" "$WORK/torn.1.log"
    # the graceful stop took a final checkpoint at $seq (docs/storage/checkpoint.md):
    # recovery restores it and replays nothing; without one it replays 1..$seq
    check "torn tail: every record before it recovered (replayed 1..$seq, or a checkpoint at $seq)" \
        grep -qE "records \(sequences 1..$seq\) replayed|restored \(state at sequence $seq," "$WORK/torn.1.log"
    check "torn tail: state hash as replayed before the damage ($hash)" \
        test "$(jstr state_hash "$st")" = "$hash"
    stop
}

case_corrupt()
{
    conf corrupt "$WORK/corrupt"
    start "$WORK/corrupt.0.log" || { check "corruption: xchgd starts" false; return; }
    sessions
    load "$WORK/corrupt.r" 2
    stop
    local seg=$WORK/corrupt/wal/seg-0/seg-0000000001.jnl off=6000 b
    b=$(od -An -tu1 -j $off -N1 "$seg" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$seg" bs=1 seek=$off conv=notrunc status=none
    start "$WORK/corrupt.1.log"
    local rc=$?
    [ "$rc" = 0 ] && stop
    say "     $(grep -m1 "recovery of segment" "$WORK/corrupt.1.log" | cut -c1-220)"
    check "corruption: xchgd refuses to start (exit ${XRC:-0})" test "$rc" = 1 -a "${XRC:-0}" != 0
    check "corruption: the message names the file and the offset" \
        grep -q "journal $seg: offset [0-9]*: .*xchgd does not start" "$WORK/corrupt.1.log"
    start "$WORK/corrupt.2.log" --recover-to-corruption ||
        { check "corruption: --recover-to-corruption starts" false; return; }
    check "corruption: --recover-to-corruption starts and warns" \
        grep -q "WARNING: journal damaged" "$WORK/corrupt.2.log"
    check "corruption: the damaged file is kept as $(basename "$seg").damaged" test -s "$seg.damaged"
    local st rp
    st=$(ctl status)
    rp=$(replay)
    check "corruption: recovered state hash = replay of what is left ($(jstr state_hash "$st"))" \
        test "$(jstr state_hash "$st")" = "$(jstr state_hash "$rp")" -a \
        "$(jnum journal_seq "$st")" = "$(jnum last_seq "$rp")"
    stop
}

case_full()
{
    local small=$WORK/small
    mkdir -p "$small" && mount -t tmpfs -o size=2560k tmpfs "$small" && MOUNTS+=("$small")
    conf full "$small/data"
    start "$WORK/full.0.log" || { check "disk full: xchgd starts on 2.5 MiB" false; sed 's/^/  /' "$WORK/full.0.log"; return; }
    sessions
    local rlog=$WORK/full.r i st err=0
    : >"$rlog"
    ip netns exec "$NS" "$ITEST" --phase load --server "$SERVER" --local "$LOCAL" --log "$rlog" \
        --max-reports 1000000 "${SESS[@]}" >"$rlog.out" 2>&1 &
    CPID=$!
    for ((i = 0; i < 600; i++)); do
        st=$(ctl status)
        err=$(jnum storage_full "$st")
        [ "${err:-0}" != 0 ] && break
        sleep 0.1
    done
    sleep 1
    stop_pid "$CPID"
    CPID=
    st=$(ctl status)
    check "disk full: the journal cannot make its next segment (storage_full ${err:-none} = ENOSPC)" \
        test "${err:-0}" = 28
    check "disk full: the journal still works on its last segment (storage_error $(jnum storage_error "$st"))" \
        test "$(jnum storage_error "$st")" = 0
    say "     $(jnum journal_seq "$st") records journaled, $(jnum durable_seq "$st") durable"
    stop
    mount -o remount,size=64M "$small"
    start "$WORK/full.1.log" || { check "disk full: xchgd restarts once there is room" false; return; }
    if ip netns exec "$NS" "$ITEST" --phase verify --storage-failed --server "$SERVER" \
        --local "$LOCAL" --log "$rlog" "${SESS[@]}" >"$rlog.verify" 2>&1; then
        check "disk full: orders got 5002, and every report survived ($(grep -o '[0-9]* of [0-9]* reports were 5002\|[0-9]* of [0-9]* reports seen' "$rlog.verify" | tr '\n' ' '))" true
    else
        check "disk full: orders got 5002, and every report survived" false
        sed 's/^/  /' "$rlog.verify"
    fi
    say "     $(grep -c "^R " "$rlog") reports seen in all"
    local st2
    st2=$(ctl status)
    check "disk full: after the restart orders are accepted again (storage_full $(jnum storage_full "$st2"))" \
        test "$(jnum storage_full "$st2")" = 0
    stop
}

# new orders the gateway has taken so far (asked again if a status times out)
stall_news()
{
    local i=0 n=
    while [ -z "$n" ] && [ $((i++)) -lt 20 ]; do
        n=$(jnum new_orders "$(ctl stats | tr -d '\n ')")
    done
    printf '%s' "$n"
}

case_stall()
{
    # the image in memory: a loop device over a file on the disk syncs too
    # slowly for 8,000 orders/s with durability = sync
    local img=/dev/shm/xsf-$$-stall.img mnt=$WORK/stall
    mkdir -p "$mnt"
    STALL_IMG=$img
    if ! { truncate -s 256M "$img" && mkfs.ext4 -q -F "$img" && mount -o loop "$img" "$mnt"; }; then
        check "journal stall: a loop-mounted ext4 to freeze" false
        return
    fi
    MOUNTS+=("$mnt")
    conf stall "$mnt/data"
    start "$WORK/stall.0.log" || { check "journal stall: xchgd starts" false; return; }
    sessions
    local sf=$WORK/stall.sessions out st seg
    printf '%s\n' "${SESS[@]}" | grep -v -- --session >"$sf"
    ip netns exec "$NS" "$BIN/xchg-load" --server "$SERVER" --sessions-file "$sf" --rate 8000 \
        --duration 9 --heartbeat-ms 100 --label stall >"$WORK/stall.load" 2>&1 &
    CPID=$!
    sleep 3
    FROZEN=$mnt
    fsfreeze -f "$mnt"
    sleep 2.5
    fsfreeze -u "$mnt"
    FROZEN=
    local n0 n1
    n0=$(stall_news)
    wait "$CPID"
    CPID=
    n1=$(stall_news)
    out=$(tail -1 "$WORK/stall.load")
    st=$(ctl stats)
    seg=$(printf '%s' "$st" | tr -d '\n ')
    say "     load: sent $(jnum sent "$out"), answered $(jnum answered "$out"), lost $(jnum lost "$out"), logged out $(jnum logged_out "$out")"
    check "journal stall: the worker stopped reading input while the disk was frozen (journal_stalls $(jnum journal_stalls "$seg"))" \
        test "$(jnum journal_stalls "$seg")" -ge 1
    check "journal stall: no session timed out for the exchange's own stall (timeouts $(jnum timeouts "$seg"))" \
        test "$(jnum timeouts "$seg")" = 0
    check "journal stall: the client was never logged out (logged_out $(jnum logged_out "$out"))" \
        test "$(jnum logged_out "$out")" = 0
    check "journal stall: the sessions traded on after the thaw (new orders at the thaw $n0, at the end $n1)" \
        test "${n1:-0}" -gt "${n0:-0}"
    local hash= i=0
    while [ -z "$hash" ] && [ $((i++)) -lt 20 ]; do # a busy worker may let a status time out
        hash=$(jstr state_hash "$(ctl status)")
    done
    stop
    local rp
    rp=$(replay)
    check "journal stall: state hash after the stop = replay from scratch ($hash)" \
        test -n "$hash" -a "$hash" = "$(jstr state_hash "$rp")"
}

# ---- main ---------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/storage_fail.sh: needs root" >&2
    say "0 passed, 1 failed"
    exit 1
fi
WORK=$(mktemp -d "/tmp/xsf-$$.XXXX") || exit 1
say "storage failure tests: interface $XCHG_IF, namespace $NS, work dir $WORK"
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    FAIL=1
    say "FAIL test network"
    exit 1
fi
NS_UP=1
T0=$SECONDS
for c in ${STORAGE_CASES:-unwritable torn corrupt stall full}; do
    "case_$c"
done
say "   storage failure tests took $((SECONDS - T0)) s"
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
