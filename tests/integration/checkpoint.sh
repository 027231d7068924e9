#!/usr/bin/env bash
# checkpoint.sh -- checkpoints and recovery from them, on the real xchgd (make test; needs root).
#
# One test network (tests/integration/netns.sh: interface xck<pid>,
# namespace xck-<pid>), xchgd with durability = sync, 1 MiB journal files,
# storage in our work directory, two sessions (xchgctl), the trading client
# of crash.sh (build/tests/itest_crash). Part A keeps every journal file:
#   1. storage.checkpoint while the client trades: id, per-stream sequence,
#      bytes, ms; the MANIFEST is there;
#   2. periodic checkpoints by records (checkpoint_records) appear in the log;
#   3. kill -9, restart: the log says it recovered from a checkpoint plus the
#      journal tail; the state hash equals xchg-replay's from-scratch hash;
#      every report the client saw came back identical;
#   4. quiesced hash before kill -9 = hash after the restart;
#   5. a corrupted SSTable in the newest checkpoint is named (file, offset)
#      and recovery falls back to the previous checkpoint; a missing
#      MANIFEST too;
#   6. a checkpoint newer than the journal (journal files moved away) is
#      refused, and xchgd refuses to start without losing state silently;
#   6b. without the control core's stream (moved away), checkpoints whose
#      segment had emitted credit events the control core never consumed
#      are passed over for a full replay (same hash);
#   7. SIGTERM takes a final checkpoint; the restart recovers from it.
# Part B (segments_retained = 0, checkpoints_kept = 2): covered journal files
# are deleted, a restart still recovers to the quiesced hash; a stale
# checkpoint (older than what the journal retains) alone makes xchgd refuse
# to start with a clear message.
# Prints one line per check and "N passed, M failed"; exits 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=${XCHG_BIN:-build/bin}
ITEST=build/tests/itest_crash
NETNS=tests/integration/netns.sh
export XCHG_IF=${XCHG_IF:-xck$$}
NS=xck-$$
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
jstr() { printf '%s' "$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
jnum() { printf '%s' "$2" | grep -o "\"$1\": *[0-9]*" | head -1 | sed 's/.*: *//'; }

# make_conf FILE DATADIR RECORDS KEPT RETAINED
make_conf()
{
    sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
        -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$2\";|" \
        -e "s|^\([[:space:]]*wal_segment_size[[:space:]]*=\).*|\1 \"1M\";|" \
        -e "s|^\([[:space:]]*recover_from_checkpoint[[:space:]]*=\).*|\1 true;|" \
        -e "s|^\([[:space:]]*checkpoint_interval_s[[:space:]]*=\).*|\1 0;|" \
        -e "s|^\([[:space:]]*checkpoint_records[[:space:]]*=\).*|\1 $3;|" \
        -e "s|^\([[:space:]]*checkpoints_kept[[:space:]]*=\).*|\1 $4;|" \
        -e "s|^\([[:space:]]*segments_retained[[:space:]]*=\).*|\1 $5;|" config/xchg.conf >"$1"
    grep -q "segments_retained = $5;" "$1" && grep -q "iface=$XCHG_IF\"" "$1"
}

start_xchgd()
{
    local log=$1 i
    "$BIN/xchgd" -c "$CONF" --no-huge >"$log" 2>&1 &
    XPID=$!
    for ((i = 0; i < 1200; i++)); do
        grep -q "xchgd: ready" "$log" 2>/dev/null && return 0
        kill -0 "$XPID" 2>/dev/null || { wait "$XPID" 2>/dev/null; XPID=; return 1; }
        sleep 0.05
    done
    return 1
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it
# succeeds (0) or SECONDS pass (1). Every wait in this test is on a
# condition, with a generous bound for a loaded machine, never a bare sleep.
wait_until()
{
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < end)) || return 1
        sleep 0.1
    done
}

# reports_at_least FILE N: the client has logged N reports in FILE
reports_at_least() { [ "$(grep -c '^R ' "$1" 2>/dev/null)" -ge "$2" ]; }

# the replica's counters: at least $1 checkpoints taken, records applied
ckpts_taken()
{
    CKOUT=$(ctl storage.checkpoints) || return 1
    [ "$(jnum taken "$CKOUT")" -ge "$1" ] && [ "$(jnum records_applied "$CKOUT")" -gt 0 ]
}

# journal_grew SEQ N: the journal is N records past SEQ
journal_grew() { [ "$(jnum journal_seq "$(ctl status)")" -ge $(($1 + $2)) ]; }

# journal_file_index_at_least N: segment 0's journal has reached its Nth
# file (seg-<N>.jnl; retention deletes older ones, so not a count)
journal_file_index_at_least()
{
    local f
    f=$(ls "$DATA/wal/seg-0" | grep -o 'seg-[0-9]*\.jnl' | sort | tail -1)
    f=${f#seg-}
    [ -n "$f" ] && [ "$((10#${f%.jnl}))" -ge "$1" ]
}

kill9()
{
    kill -KILL "$XPID" 2>/dev/null
    wait "$XPID" 2>/dev/null
    XPID=
    ip link set dev "$XCHG_IF" xdp off 2>/dev/null
}

# starts the client; it trades until stopped
load_start()
{
    local i
    : >"$1"
    ip netns exec "$NS" "$ITEST" --phase load --server "$SERVER" --port "$PORT" --local "$LOCAL" \
        --log "$1" --seed $((RANDOM + 1)) "${SESS[@]}" >"$1.out" 2>&1 &
    CPID=$!
    for ((i = 0; i < 1200; i++)); do
        grep -q "itest-crash: trading" "$1.out" && return 0
        kill -0 "$CPID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

load_stop() { stop_pid "$CPID"; CPID=; }

# --oldest ID:SEQ per session: the first report xchgd's history (4096 a
# session) still holds; xchgd may have sent reports the killed client never
# read, pushing older ones it did read out of the history
oldest_args()
{
    ctl session.list | jq -r '.. | objects | select(has("next_out_seq")) |
        "--oldest \(.session_id):\([.next_out_seq - 4096, 1] | max)"'
}

verify()
{
    local old
    old=$(oldest_args) || return 1
    # shellcheck disable=SC2086 # one word per option
    ip netns exec "$NS" "$ITEST" --phase verify --server "$SERVER" --port "$PORT" --local "$LOCAL" \
        --log "$1" $old "${SESS[@]}" >"$1.verify" 2>&1
}

# the state hash once the journal stops moving (timers may add a record)
quiet_hash()
{
    local i st prev=
    for ((i = 0; i < 200; i++)); do
        st=$(ctl status) || { sleep 0.5; continue; } # a busy worker may not answer in 2 s
        if [ "$(jnum journal_seq "$st")" = "$prev" ] && [ "$(jnum durable_seq "$st")" = "$prev" ]; then
            jstr state_hash "$st"
            return 0
        fi
        prev=$(jnum journal_seq "$st")
        sleep 0.3
    done
    return 1
}

# status hash = xchg-replay's from-scratch hash at the same sequence
replay_check()
{
    local i st seq rp
    for ((i = 0; i < 150; i++)); do
        st=$(ctl status) || { sleep 0.5; continue; } # a busy worker may not answer in 2 s
        seq=$(jnum durable_seq "$st")
        rp=$("$BIN/xchg-replay" -c "$CONF" 2>&1) || { say "     $rp"; return 1; }
        if [ "$seq" = "$(jnum last_seq "$rp")" ] && [ "$(jnum journal_seq "$st")" = "$seq" ]; then
            say "     state hash $(jstr state_hash "$st") at sequence $seq; replay from scratch: $(jstr state_hash "$rp")"
            [ "$(jstr state_hash "$st")" = "$(jstr state_hash "$rp")" ]
            return
        fi
        sleep 0.2
    done
    return 1
}

# status .control hash = xchg-replay's from-scratch replay of the control
# stream, at the same control sequence; no ledger mismatch
control_check()
{
    local i st cs cj cd rp rs mm
    for ((i = 0; i < 150; i++)); do
        st=$(ctl status) || { sleep 0.5; continue; } # a busy worker may not answer in 2 s
        cs=$(printf '%s' "$st" | jq -r .control.control_hash)
        cj=$(printf '%s' "$st" | jq -r .control.control_seq)
        cd=$(printf '%s' "$st" | jq -r .control.control_durable_seq)
        rp=$("$BIN/xchg-replay" -c "$CONF" 2>&1 | grep '"stream":"control"') || return 1
        rs=$(printf '%s' "$rp" | jq -r .last_seq)
        if [ "$cj" = "$cd" ] && [ "$cd" = "$rs" ]; then
            mm=$(ctl ledger.stats | jq -r .mismatches)
            say "     control hash $cs at control sequence $cd; replay from scratch: $(printf '%s' "$rp" | jq -r .control_hash); ledger mismatches $mm"
            [ -n "$cs" ] && [ "$cs" = "$(printf '%s' "$rp" | jq -r .control_hash)" ] && [ "$mm" = 0 ]
            return
        fi
        sleep 0.2
    done
    say "     control sequence kept moving: status $cj/$cd, replay $rs"
    return 1
}

# kicks the sessions: no timer can change the state after this
kick_sessions()
{
    local i
    for ((i = 1; i < ${#SESS[@]}; i += 2)); do
        ctl session.kick session_id="${SESS[$i]%%:*}" >/dev/null || return 1
    done
}

make_sessions()
{
    SESS=()
    local acct out
    for acct in 1001 2002; do
        ctl account.open account=$acct init_cash=1000000000000 >/dev/null 2>&1
        out=$(ctl session.add account=$acct source=any)
        [ -n "$(jnum session_id "$out")" ] && SESS+=(--session "$(jnum session_id "$out"):$(jstr token "$out")")
    done
    [ "${#SESS[@]}" = 4 ]
}

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/checkpoint.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
WORK=$(mktemp -d "/tmp/xck-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
CONF=$WORK/a.conf
DATA=$WORK/a
CK=$DATA/checkpoints
say "checkpoint test: interface $XCHG_IF, namespace $NS, work dir $WORK"
make_conf "$CONF" "$DATA" 1000 3 -1 || { fail "config copy"; exit 1; }
if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    fail "test network"
    cat "$WORK/netns.log"
    exit 1
fi
NS_UP=1

# ---- part A: every journal file kept ----
start_xchgd "$WORK/a0.log" || { fail "xchgd ready"; cat "$WORK/a0.log"; exit 1; }
check "two sessions made with xchgctl session.add" make_sessions
load_start "$WORK/r1" || fail "client trades"
wait_until 120 reports_at_least "$WORK/r1" 200 || fail "the client has 200 reports (120 s)"
out=$(ctl storage.checkpoint)
say "     $out"
ID1=$(jnum id "$out")
check "storage.checkpoint while the client trades: id $ID1, stream 0 at sequence $(jnum seq "$out"), $(jnum bytes "$out") bytes" \
    test -n "$ID1" -a "$(jnum seq "$out")" -gt 0 -a -f "$CK/ckpt-$(printf %020d "${ID1:-0}")/MANIFEST"
# the client trades on until the replica has taken a periodic one too
wait_until 180 grep -q "checkpoint [0-9]* (periodic)" "$WORK/a0.log"
check "periodic checkpoint by records (checkpoint_records = 1000) in the log" \
    grep -q "checkpoint [0-9]* (periodic)" "$WORK/a0.log"
CKOUT=
wait_until 60 ckpts_taken 2
check "storage.checkpoints: $(grep -o '"valid": *true' <<<"$CKOUT" | wc -l) valid, replica taken $(jnum taken "$CKOUT"), records applied $(jnum records_applied "$CKOUT")" \
    test "$(jnum taken "$CKOUT")" -ge 2 -a "$(jnum records_applied "$CKOUT")" -gt 0
kill9
load_stop
start_xchgd "$WORK/a1.log" || { fail "restart after kill -9"; tail -5 "$WORK/a1.log"; exit 1; }
check "kill -9, restart: recovered from a checkpoint plus the journal tail ($(grep -o 'segment 0: checkpoint [0-9]* restored.*' "$WORK/a1.log" | head -1))" \
    grep -q "recovery: segment 0: journal tail:" "$WORK/a1.log"
check "recovered state hash = xchg-replay's from-scratch hash" replay_check
check "control core recovered from the checkpoint's control state plus its stream's tail ($(grep -o 'control: checkpoint [0-9]* restored (state at control sequence [0-9]*' "$WORK/a1.log" | head -1))" \
    grep -q "recovery: control: checkpoint [0-9]* restored" "$WORK/a1.log"
check "... control hash = xchg-replay's from-scratch replay of the control stream" control_check
check "every report the client saw before the kill came back identical ($(verify "$WORK/r1"; grep -o '[0-9][0-9]* of [0-9][0-9]*' "$WORK/r1.verify" | tr '\n' ' '))" \
    grep -q . "$WORK/r1.verify"
verify "$WORK/r1" || { fail "verify after checkpoint recovery"; tail -3 "$WORK/r1.verify"; }

# 4: quiesced hash before kill -9 = hash after
load_start "$WORK/r2" || fail "client trades (2)"
wait_until 120 reports_at_least "$WORK/r2" 200 || fail "the client has 200 reports (2)"
ctl storage.checkpoint >/dev/null
C0=$(grep -c '^R ' "$WORK/r2")
wait_until 120 reports_at_least "$WORK/r2" $((C0 + 100)) || fail "the client trades after the checkpoint"
load_stop
kick_sessions || fail "session.kick"
H=$(quiet_hash)
kill9
start_xchgd "$WORK/a2.log" || { fail "restart (2)"; exit 1; }
H2=$(quiet_hash)
check "quiesced hash before kill -9 ($H) = hash after recovery ($H2)" test -n "$H" -a "$H" = "$H2"

# 5: corrupted newest SSTable -> previous checkpoint; missing MANIFEST -> previous
kill9
mapfile -t IDS < <(ls "$CK" | sort -r)
NEWEST=$CK/${IDS[0]}
SST=$NEWEST/stream-0.sst
SZ=$(stat -c %s "$SST")
printf '\xff\xfe\xfd\xfc' | dd of="$SST" bs=1 seek=$((SZ / 3)) conv=notrunc status=none
start_xchgd "$WORK/a3.log" || { fail "restart with a corrupted checkpoint"; tail -5 "$WORK/a3.log"; exit 1; }
check "corrupted SSTable named with file and offset, previous checkpoint used: $(grep -o 'checkpoint [0-9]* not used.*' "$WORK/a3.log" | head -1 | cut -c1-200)" \
    grep -q "checkpoint [0-9]* not used: .*stream-0.sst.*offset [0-9]*.*trying the previous one" "$WORK/a3.log"
check "... recovered from ${IDS[1]}" grep -q "recovery: from checkpoint $((10#${IDS[1]#ckpt-}))" "$WORK/a3.log"
out=$(ctl storage.checkpoints)
check "storage.checkpoints lists the damaged one as not valid, naming the file" \
    grep -q '"valid": *false.*stream-0.sst' <<<"$out"
H3=$(quiet_hash)
check "... state hash after the fallback = before ($H3)" test "$H3" = "$H2"
kill9
rm -rf "$NEWEST"
mapfile -t IDS < <(ls "$CK" | sort -r)
rm -f "$CK/${IDS[0]}/MANIFEST"
start_xchgd "$WORK/a4.log" || { fail "restart with a missing manifest"; exit 1; }
check "missing MANIFEST: checkpoint refused ($(grep -o 'MANIFEST: No such file' "$WORK/a4.log" | head -1)), previous used" \
    grep -q "recovery: from checkpoint $((10#${IDS[1]#ckpt-}))" "$WORK/a4.log"
H4=$(quiet_hash)
check "... state hash = before ($H4)" test "$H4" = "$H2"

# 6: checkpoint newer than the journal
kill9
mv "$DATA/wal" "$WORK/wal.aside"
start_xchgd "$WORK/a5.log"
rc=$?
check "checkpoints newer than an empty journal: refused, xchgd does not start ($(grep -o 'newer than the journal' "$WORK/a5.log" | head -1))" \
    test "$rc" != 0 -a -n "$(grep 'does not start' "$WORK/a5.log")"
[ -n "$XPID" ] && stop_pid "$XPID" && XPID=
rm -rf "$DATA/wal"
mv "$WORK/wal.aside" "$DATA/wal"

# 6b: the checkpoints' credit event counts against the control core's stream:
# without it (moved away) the control core consumed no event, so every
# checkpoint (whose segment had emitted events) is passed over for a full
# replay, which gives the same segment state
mv "$DATA/wal/control" "$WORK/control.aside"
start_xchgd "$WORK/a5b.log" || { fail "restart without the control stream"; tail -5 "$WORK/a5b.log"; }
check "checkpoints covering credit events the control stream lacks are passed over ($(grep -o 'had emitted [0-9]* credit events up to it, the control core.s stream consumed only [0-9]*' "$WORK/a5b.log" | head -1))" \
    grep -q "consumed only 0" "$WORK/a5b.log"
check "... full replay instead" grep -q "no usable checkpoint: full replay" "$WORK/a5b.log"
H5=$(quiet_hash)
check "... state hash = before ($H5)" test "$H5" = "$H2"
kill9
rm -rf "$DATA/wal/control"
mv "$WORK/control.aside" "$DATA/wal/control"

# 7: final checkpoint at SIGTERM
start_xchgd "$WORK/a6.log" || { fail "restart (6)"; exit 1; }
H6=$(quiet_hash)
kill -TERM "$XPID"
wait "$XPID"
rc=$?
XPID=
check "SIGTERM: exit 0 after a final checkpoint ($(grep -o 'checkpoint [0-9]* (final)[^,]*' "$WORK/a6.log"))" \
    test "$rc" = 0 -a -n "$(grep 'checkpoint [0-9]* (final)' "$WORK/a6.log")"
start_xchgd "$WORK/a7.log" || { fail "restart after SIGTERM"; exit 1; }
FID=$(grep -o 'checkpoint [0-9]* (final)' "$WORK/a6.log" | grep -o '[0-9]*')
check "restart after SIGTERM recovers from the final checkpoint $FID" \
    grep -q "recovery: from checkpoint $FID " "$WORK/a7.log"
check "... its control state too, with no tail ($(grep -o 'control: [0-9]* records (last sequence [0-9]*) replayed' "$WORK/a7.log"))" \
    grep -q "recovery: control: checkpoint $FID restored" "$WORK/a7.log"
check "... control hash = replay from scratch" control_check
check "... and the recovered state replays to the same hash from scratch" replay_check
stop_pid "$XPID"
XPID=

# ---- part B: covered journal files deleted ----
CONF=$WORK/b.conf
DATA=$WORK/b
CK=$DATA/checkpoints
make_conf "$CONF" "$DATA" 0 2 0 || fail "config copy (b)"
start_xchgd "$WORK/b0.log" || { fail "xchgd ready (b)"; exit 1; }
make_sessions || fail "sessions (b)"
# rounds of trading, each with a checkpoint inside, until the journal has
# reached its third 1 MiB file: at least 4 rounds, at most 12
k=0
while ((k < 4)) || { ! journal_file_index_at_least 3 && ((k < 12)); }; do
    k=$((k + 1))
    load_start "$WORK/rb$k" || fail "client trades (b$k)"
    S0=$(jnum journal_seq "$(ctl status)")
    wait_until 120 journal_grew "$S0" 1500 || fail "1500 journal records (b$k, 120 s)"
    ctl storage.checkpoint >/dev/null || fail "storage.checkpoint (b$k)"
    [ $k = 1 ] && STALE=$(ls "$CK" | sort | head -1) && cp -a "$CK/$STALE" "$WORK/$STALE"
    S0=$(jnum journal_seq "$(ctl status)")
    wait_until 120 journal_grew "$S0" 200 || fail "trades after the checkpoint (b$k)"
    load_stop
done
LASTLOG=$WORK/rb$k
ctl storage.checkpoint >/dev/null
ctl storage.checkpoint >/dev/null
left=$(ls "$DATA/wal/seg-0" | grep -c jnl)
check "retention: seg-0000000001.jnl deleted once covered ($left journal files left, $(grep -o '[0-9]* journal file(s) retired' "$WORK/b0.log" | awk '{s+=$1} END {print s}') retired)" \
    test ! -e "$DATA/wal/seg-0/seg-0000000001.jnl"
check "retention: $(ls "$CK" | wc -l) checkpoints kept (checkpoints_kept = 2)" test "$(ls "$CK" | wc -l)" = 2
kill9
start_xchgd "$WORK/b1.log" || { fail "restart after retention"; tail -5 "$WORK/b1.log"; exit 1; }
check "restart after retention recovers from a checkpoint ($(grep -o 'journal tail: .*replayed' "$WORK/b1.log"))" \
    grep -q "recovery: from checkpoint" "$WORK/b1.log"
verify "$LASTLOG" && ok "every report seen came back identical after retention, $k rounds ($(grep -o '[0-9][0-9]* of [0-9][0-9]*' "$LASTLOG.verify" | tr '\n' ' '))" ||
    { fail "reports after retention"; tail -3 "$LASTLOG.verify"; }
kick_sessions || fail "session.kick (b)"
H=$(quiet_hash)
kill9
start_xchgd "$WORK/b2.log" || { fail "restart after retention (2)"; tail -5 "$WORK/b2.log"; exit 1; }
H2=$(quiet_hash)
check "restart after retention: hash $H2 = quiesced hash before kill -9 $H" test -n "$H" -a "$H" = "$H2"
kill9
rm -rf "$CK"/ckpt-*
mv "$WORK/$STALE" "$CK/"
start_xchgd "$WORK/b3.log"
rc=$?
check "stale checkpoint (the journal no longer holds what follows it): refused, xchgd does not start: $(grep -o 'no usable checkpoint.*' "$WORK/b3.log" | cut -c1-120)" \
    test "$rc" != 0 -a -n "$(grep 'checkpoint [0-9]* not used: stale' "$WORK/b3.log")"
[ -n "$XPID" ] && stop_pid "$XPID" && XPID=
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
