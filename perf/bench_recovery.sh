#!/usr/bin/env bash
# bench_recovery.sh -- start-up recovery time with a checkpoint against a full journal replay, on the same journal (needs root).
#
# One xchgd (durability async, checkpoints only on demand) on a veth pair
# into a namespace of our own (netns.sh, 198.18.0.0/15 only), SESSIONS
# sessions, perf/xchg-load at RATE orders/s for DURATION s, with
# `xchgctl storage.checkpoint` CKPT_AT s into the load (as a periodic
# checkpoint would be, some time before a crash); then kill -9. The same data
# directory is then recovered ROUNDS times each way, alternating:
#   checkpoint: the newest checkpoint + the journal tail after it;
#   full:       the checkpoints moved aside: the whole journal replayed.
# (each restart journals a WAL_START and is killed with -9 once ready).
# Prints one JSON line per start and a summary with the medians:
#   {"bench":"recovery","mode","journal_records","restore_s","replayed",
#    "replay_s","records_per_s","control_restore_s","control_replayed",
#    "control_replay_s","ready_s"} (control_*: the control core's restore and
#    stream replay; in full mode its checkpoints are moved aside too)
# Environment: RATE (20000), DURATION (10), CKPT_AT (9/10 of DURATION),
# SESSIONS (8), ROUNDS (3),
# DIR (a temporary directory under /tmp), XCHG_IF (xbr<pid>).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=build/bin
RATE=${RATE:-20000}
DURATION=${DURATION:-10}
SESSIONS=${SESSIONS:-8}
ROUNDS=${ROUNDS:-3}
CKPT_AT=${CKPT_AT:-$((DURATION * 9 / 10))}
export XCHG_IF=${XCHG_IF:-xbr$$}
NS=xbr-$$
WORK=$(mktemp -d "${DIR:-/tmp}/xbr-$$.XXXX") || exit 1
XPID=
cleanup()
{
    [ -n "$XPID" ] && kill -9 "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
    ip link set dev "$XCHG_IF" xdp off 2>/dev/null
    bash tests/integration/netns.sh down "$NS" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
bash tests/integration/netns.sh up "$NS" >/dev/null 2>&1 || { echo "test network failed" >&2; exit 1; }
CONF=$WORK/xchg.conf
SOCK=$WORK/xchgd.sock
sed -e "s/iface=xchg0/iface=$XCHG_IF/" -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s|^\([[:space:]]*durability[[:space:]]*=\).*|\1 \"async\";|" \
    -e "s|^\([[:space:]]*checkpoint_interval_s[[:space:]]*=\).*|\1 0;|" config/xchg.conf >"$CONF"

start()
{
    local i t0=$EPOCHREALTIME
    "$BIN/xchgd" -c "$CONF" >"$1" 2>&1 &
    XPID=$!
    for ((i = 0; i < 6000; i++)); do
        grep -q "xchgd: ready" "$1" 2>/dev/null && break
        kill -0 "$XPID" 2>/dev/null || return 1
        sleep 0.01
    done
    READY=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}')
}
kill9()
{
    kill -9 "$XPID" 2>/dev/null
    wait "$XPID" 2>/dev/null
    XPID=
    ip link set dev "$XCHG_IF" xdp off 2>/dev/null
}

start "$WORK/load.log" || { echo "xchgd did not start" >&2; exit 1; }
: >"$WORK/sessions"
for ((i = 1; i <= SESSIONS; i++)); do
    "$BIN/xchgctl" -s "$SOCK" --json account.open account=$((1000 + i)) init_cash=1000000000000 >/dev/null 2>&1
    out=$("$BIN/xchgctl" -s "$SOCK" --json session.add account=$((1000 + i)) source=any)
    echo "$(sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p' <<<"$out"):$(sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p' <<<"$out")" >>"$WORK/sessions"
done
ip netns exec "$NS" "$BIN/xchg-load" --server 198.18.0.1 --sessions-file "$WORK/sessions" \
    --rate "$RATE" --duration "$DURATION" >"$WORK/load.out" 2>&1 &
LPID=$!
sleep "$CKPT_AT"
"$BIN/xchgctl" -s "$SOCK" --json storage.checkpoint >"$WORK/ckpt.json" || { cat "$WORK/ckpt.json" >&2; exit 1; }
wait "$LPID"
sleep 0.5
kill9

num() { grep -o "$1" "$2" | head -1 | grep -o '[0-9.]*$'; }
declare -A MED
for ((r = 0; r < ROUNDS; r++)); do
    for mode in checkpoint full; do
        [ "$mode" = full ] && mv "$WORK/data/checkpoints" "$WORK/ck.aside"
        log=$WORK/$mode.$r.log
        start "$log" || { echo "restart failed: $(tail -3 "$log")" >&2; exit 1; }
        kill9
        [ "$mode" = full ] && mv "$WORK/ck.aside" "$WORK/data/checkpoints"
        line=$(grep "recovery: segment 0: .*replayed in" "$log")
        restore=$(grep -o 'segment 0: checkpoint .* restored (.*) in [0-9.]* s' "$log" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
        # the control core: its checkpoint's state restored, then its stream (tail) replayed
        crestore=$(grep -o 'control: checkpoint .* restored (.*) in [0-9.]* s' "$log" | grep -o 'in [0-9.]* s' | grep -o '[0-9.]*')
        cline=$(grep "recovery: control: [0-9]* records" "$log")
        creplayed=$(sed -n 's/.*control: \([0-9]*\) records.*/\1/p' <<<"$cline")
        crs=$(sed -n 's/.*replayed in \([0-9.]*\) s.*/\1/p' <<<"$cline")
        replayed=$(sed -n 's/.*segment 0: \(journal tail: \)\{0,1\}\([0-9]*\) records.*/\2/p' <<<"$line")
        rs=$(sed -n 's/.*replayed in \([0-9.]*\) s.*/\1/p' <<<"$line")
        rate=$(sed -n 's/.* s, \([0-9]*\) records\/s.*/\1/p' <<<"$line")
        echo "{\"bench\":\"recovery\",\"mode\":\"$mode\",\"restore_s\":${restore:-0},\"replayed\":$replayed,\"replay_s\":$rs,\"records_per_s\":${rate:-0},\"control_restore_s\":${crestore:-0},\"control_replayed\":${creplayed:-0},\"control_replay_s\":${crs:-0},\"ready_s\":$READY}"
        MED[$mode]+="$(awk -v a="${restore:-0}" -v b="$rs" 'BEGIN {print a + b}') "
        MED[$mode.ready]+="$READY "
    done
done
med() { printf '%s\n' $1 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "{\"bench\":\"recovery_summary\",\"checkpoint\":$(cat "$WORK/ckpt.json" | tr -d '\n' | grep -o '"seq":[0-9]*' | head -1 | cut -d: -f2),\"rate\":$RATE,\"duration_s\":$DURATION,\"recovery_s_checkpoint_median\":$(med "${MED[checkpoint]}"),\"recovery_s_full_median\":$(med "${MED[full]}"),\"ready_s_checkpoint_median\":$(med "${MED[checkpoint.ready]}"),\"ready_s_full_median\":$(med "${MED[full.ready]}"),\"control_capture_ms\":$(tr -d '\n' <"$WORK/ckpt.json" | grep -o '"control_capture_ms": *[0-9.]*' | grep -o '[0-9.]*$' || echo 0),\"control_capture_records\":$(tr -d '\n' <"$WORK/ckpt.json" | grep -o '"control_capture_records": *[0-9]*' | grep -o '[0-9]*$' || echo 0),\"loadavg\":$(cut -d' ' -f1 /proc/loadavg)}"
