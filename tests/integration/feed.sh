#!/usr/bin/env bash
# feed.sh -- integration test of the market feed: the real xchgd, its multicast
# ITCH/MoldUDP64 channel received in a client namespace, retransmission, late
# join, and a capture decoded by tshark (`make test` runs it; needs root).
#
# One xchgd (--no-huge) on a veth pair of our own (interface xfd<pid>,
# namespace xfd-<pid>, 198.18.0.1 <-> 198.18.0.2, route 239.0.0.0/8 to the
# veth in the namespace), then, inside the namespace:
#   capture   tcpdump of everything sent to the group 239.1.1.1:9100;
#   A         xchg-feed --check --dump: joins after start-up (asks for the
#             day's first messages by retransmission), follows the whole run;
#   B         xchg-feed --check --drop-every 37: loses every 37th packet on
#             purpose, must recover each by retransmission;
#   driver    itest_feed: FEED_ORDERS (100000) random orders with cancels and
#             replaces over every instrument from two sessions;
#   C         xchg-feed --snapshot --check, started when half the orders are
#             in: a late joiner;
#   D         after the run, a listener that starts from sequence 1, long out
#             of the in-memory history (feed_history = 1024 here): the
#             worker forwards its requests to the feed archive's thread, which
#             answers them from the archive journal; D must --check like A,
#             its decode must equal A's message for message, and a capture
#             of its answers decoded by tshark must equal the multicast's
#             fields message for message;
#   E         a raw request for sequence numbers not sent yet: not answered,
#             counted not_yet_sent;
#   F         after a restart of xchgd whose feed archive was removed (an
#             archive that starts after the session did), a listener that
#             asks for sequence 1: gone from memory and from the archive:
#             not answered (MoldUDP64), F gives up (exit 3), counted gone.
# Checks: A, B, C exit 0 (their books equal `xchgctl book.get` for every
# instrument, top 64 levels, and the trading states); B dropped and
# recovered packets; C built its books from a snapshot; D was answered
# from the archive and the request counters reconcile; E and F were not
# answered; the feed builder saw no unexpected event; after SIGTERM,
# xchgd sent the end-of-session packet. tshark (moldudp64 + itch50.lua):
# no malformed packet or error expert item, packet sequence numbers
# contiguous, every captured message's fields equal to what A decoded for
# the same sequence number, the executed shares on the feed = half the
# lots of every Executed report (both sides) the driver received, and the
# message counts per type = xchgd's own counters (`stats`).
#
# Prints "ok"/"FAIL" lines and "N passed, M failed"; exit 1 on failure. Logs
# stay in the work directory it names when something failed (or FEED_KEEP=1).
# Environment: FEED_ORDERS (100000), FEED_SEED (random).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=build/bin
DRIVER=build/tests/itest_feed
NETNS=tests/integration/netns.sh
LUA=tests/unit/itch50.lua
ORDERS=${FEED_ORDERS:-100000}
SEED=${FEED_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export XCHG_IF=xfd$$
NS=xfd-$$
SERVER=198.18.0.1
LOCAL=198.18.0.2
GROUP=239.1.1.1

PASS=0
FAIL=0
WORK=
XPID=
CAPPID=
CAP2PID=
CAP3PID=
PIDS=()
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

stop_pid()
{
    local pid=$1 sig=${2:-TERM} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null
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
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    stop_pid "$CAPPID" INT
    stop_pid "$CAP2PID" INT
    stop_pid "$CAP3PID" INT
    stop_pid "$XPID"
    [ -n "$XPID" ] && rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
    [ "$NS_UP" = 1 ] && bash "$NETNS" down "$NS" >/dev/null 2>&1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$FAIL" -eq 0 ] && [ -z "${FEED_KEEP:-}" ]; then
            rm -rf "$WORK"
        else
            say "logs kept in $WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'FAIL=$((FAIL + 1)); say "interrupted"; say "$PASS passed, $FAIL failed"; exit 1' INT TERM

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/feed.sh: needs root (network namespaces, DPDK)" >&2
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$BIN/xchg-feed" "$DRIVER"; do
    if [ ! -x "$f" ]; then
        say "tests/integration/feed.sh: $f is missing: run make first" >&2
        say "0 passed, 1 failed"
        exit 1
    fi
done
HAVE_TSHARK=1
command -v tshark >/dev/null 2>&1 && command -v tcpdump >/dev/null 2>&1 || HAVE_TSHARK=0

WORK=$(mktemp -d "/tmp/xfd-$$.XXXX") || exit 1
SOCK=$WORK/xchgd.sock
CONF=$WORK/xchg.conf
say "feed integration test: interface $XCHG_IF, namespace $NS, work dir $WORK, seed $SEED, orders $ORDERS"
T0=$SECONDS

jnum() { printf '%s' "$2" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
ctl() { "$BIN/xchgctl" --socket "$SOCK" --json "$@"; }
nsx() { ip netns exec "$NS" "$@"; }

sed -e "s/iface=xchg0/iface=$XCHG_IF/" \
    -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$SOCK\";|" \
    -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$WORK/data\";|" \
    -e "s/^\([[:space:]]*metrics_port[[:space:]]*=\).*/\1 0;/" \
    -e "s/^\([[:space:]]*throttle_msgs_per_sec[[:space:]]*=\).*/\1 10000000;/" \
    -e "s/^\([[:space:]]*feed_history[[:space:]]*=\)[^;]*;/\1 1024;/" \
    config/xchg.conf >"$CONF"
check "config copy (interface, socket, no metrics port, throttle)" \
    grep -q "iface=$XCHG_IF\"" "$CONF"

if ! bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    FAIL=$((FAIL + 1))
    say "FAIL test network"
    cat "$WORK/netns.log"
    say "$PASS passed, $FAIL failed"
    exit 1
fi
NS_UP=1
check "multicast route 239.0.0.0/8 in the client namespace" \
    nsx ip route add 239.0.0.0/8 dev "${XCHG_IF}p"

"$BIN/xchgd" -c "$CONF" --no-huge >"$WORK/xchgd.log" 2>&1 &
XPID=$!
ready=0
for ((i = 0; i < 150; i++)); do
    grep -q "xchgd: ready" "$WORK/xchgd.log" 2>/dev/null && { ready=1; break; }
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
check "xchgd ready" test "$ready" = 1
if [ "$ready" != 1 ]; then
    cat "$WORK/xchgd.log"
    say "$PASS passed, $FAIL failed"
    exit 1
fi

session()
{
    local out id token
    # session.add refuses accounts never opened (1006; a second open is
    # 2001); money and order limits far above what the random flow needs, so
    # the risk checks (docs/accounts.md) refuse nothing here
    ctl account.open account="$1" init_cash=1000000000000 >/dev/null 2>&1
    ctl risk.limits max_order_notional=1000000000 >/dev/null 2>&1
    out=$(ctl session.add account="$1" source="$LOCAL") || return 1
    id=$(printf '%s' "$out" | sed -n 's/.*"session_id": *\([0-9]*\).*/\1/p')
    token=$(printf '%s' "$out" | sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
    [ -n "$id" ] && [ -n "$token" ] && echo "$id:$token"
}
S1=$(session 1001)
S2=$(session 2002)
check "two sessions (accounts 1001, 2002)" test -n "$S1" -a -n "$S2"

if [ "$HAVE_TSHARK" = 1 ]; then
    nsx tcpdump -i "${XCHG_IF}p" -U -B 32768 -s 0 -w "$WORK/feed.pcap" \
        "udp and dst host $GROUP and dst port 9100" 2>"$WORK/tcpdump.log" &
    CAPPID=$!
    nsx tcpdump -i "${XCHG_IF}p" -U -B 32768 -s 0 -w "$WORK/answers.pcap" \
        "udp and src host $SERVER and src port 9101 and not dst host $GROUP" 2>"$WORK/tcpdump2.log" &
    CAP2PID=$!
    for ((i = 0; i < 50; i++)); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null &&
            grep -q "listening on" "$WORK/tcpdump2.log" 2>/dev/null && break
        sleep 0.1
    done
fi

FEED=("$BIN/xchg-feed" --local "$LOCAL" --server "$SERVER" --quiet --check --ctl "$SOCK"
    --xchgctl "$BIN/xchgctl" --quiet-ms 1500 --check-when "$WORK/done" --duration 150)
nsx "${FEED[@]}" --dump "$WORK/a.dump" >"$WORK/a.out" 2>&1 &
APID=$!
PIDS+=("$APID")
nsx "${FEED[@]}" --drop-every 37 >"$WORK/b.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
sleep 0.5

# the driver, and a late joiner when half the orders are in
tstart=$SECONDS
nsx "$DRIVER" --config "$CONF" --server "$SERVER" --session "$S1" --session "$S2" \
    --orders "$ORDERS" --seed "$SEED" --pause-at $((ORDERS / 2)) --pause-file "$WORK/half" \
    >"$WORK/driver.out" 2>&1 &
DPID=$!
PIDS+=("$DPID")
CPID=
for ((i = 0; i < 1200; i++)); do
    [ -s "$WORK/half" ] && break
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.05
done
if [ -s "$WORK/half" ]; then
    nsx "${FEED[@]}" --snapshot >"$WORK/c.out" 2>&1 &
    CPID=$!
    PIDS+=("$CPID")
fi
wait "$DPID"
rc=$?
: >"$WORK/done" # the listeners check once the channel is quiet from now on
say "     $(cat "$WORK/driver.out" | tail -1) ($((SECONDS - tstart)) s)"
check "driver: $ORDERS random orders answered (exit $rc)" test "$rc" = 0
if [ "$rc" != 0 ]; then # why the sessions ended: xchgd's session counters
    say "     sessions: $(ctl stats | grep -o '"\(logons\|logouts\|timeouts\|logon_rejects\)":[0-9]*' | tr '\n' ' ')"
    ctl stats >"$WORK/stats-at-failure.json" 2>&1
fi
check "a late joiner was started half-way" test -n "$CPID"

for who in A B C; do
    case $who in A) pid=$APID ;; B) pid=$BPID ;; C) pid=$CPID ;; esac
    [ -n "$pid" ] || continue
    wait "$pid"
    rc=$?
    out=$WORK/$(echo "$who" | tr 'ABC' 'abc').out
    say "     $who: $(tail -1 "$out")"
    check "listener $who: books equal xchgctl book.get for every instrument (exit $rc)" test "$rc" = 0
    [ "$rc" = 0 ] || head -20 "$out" | sed 's/^/     /'
done
bsum=$(tail -1 "$WORK/b.out")
check "listener B dropped packets on purpose and asked for them again" \
    test "$(jnum dropped "$bsum")" -gt 0 -a "$(jnum requests "$bsum")" -gt 0 -a "$(jnum gaps "$bsum")" -gt 0
csum=$(tail -1 "$WORK/c.out" 2>/dev/null)
check "listener C joined from a snapshot" test "$(jnum snapshot_messages "$csum")" -gt 0
asum=$(tail -1 "$WORK/a.out")
check "listener A compared 4 instruments" test "$(jnum instruments "$asum")" = 4

# D: from sequence 1, long out of the in-memory history: the archive answers
stats0=$(ctl stats)
if [ "$HAVE_TSHARK" = 1 ]; then
    nsx tcpdump -i "${XCHG_IF}p" -U -B 32768 -s 0 -w "$WORK/d.pcap" \
        "udp and src host $SERVER and src port 9101 and not dst host $GROUP" 2>"$WORK/tcpdump3.log" &
    CAP3PID=$!
    for ((i = 0; i < 50; i++)); do
        grep -q "listening on" "$WORK/tcpdump3.log" 2>/dev/null && break
        sleep 0.1
    done
fi
nsx "${FEED[@]}" --dump "$WORK/d.dump" >"$WORK/d.out" 2>&1
rc=$?
sleep 0.3
stop_pid "$CAP3PID" INT
CAP3PID=
stats=$(ctl stats)
dsum=$(tail -1 "$WORK/d.out")
say "     D: $dsum"
check "listener D: from sequence 1, out of the in-memory history, books equal xchgctl book.get (exit $rc)" \
    test "$rc" = 0
check "listener D asked for retransmission ($(jnum requests "$dsum") requests)" \
    test "$(jnum requests "$dsum")" -gt 0 -a "$(jnum gaps "$dsum")" -gt 0
check "listener D decoded the same $(wc -l <"$WORK/d.dump") messages as A, message for message" \
    cmp -s "$WORK/a.dump" "$WORK/d.dump"
# the counters: every request in exactly one class; the forwarded ones
# answered by the archive, from the journal, nothing lost
req() { printf '%s' "$1" | grep -o '"requests":{[^{}]*' | sed 's/^"requests"://'; }
arch() { printf '%s' "$1" | grep -o '"archive":{[^}]*}'; }
r1=$(req "$stats")
a0=$(arch "$stats0")
a1=$(arch "$stats")
say "     requests: $r1"
say "     archive: $a1"
sum=0
for k in malformed wrong_session rate_limited not_yet_sent gone answered snapshots snapshot_busy \
    archive_forwarded archive_busy; do
    sum=$((sum + $(jnum "$k" "$r1")))
done
check "request counters reconcile: $(jnum requests "$r1") requests = $sum in the classes" \
    test "$(jnum requests "$r1")" = "$sum"
fwd=$(jnum archive_forwarded "$r1")
asum=$(($(jnum answered "$a1") + $(jnum gone "$a1") + $(jnum not_durable "$a1") + $(jnum errors "$a1")))
check "archive: $fwd forwarded = $asum answered, gone, not durable or failed; none failed or dropped" \
    test "$fwd" = "$asum" -a "$(jnum errors "$a1")" = 0 -a "$(jnum not_durable "$a1")" = 0 \
    -a "$(jnum dropped "$a1")" = 0 -a "$(jnum archive_lost "$r1")" = 0
next=$(jnum next_sequence "$stats")
amsgs=$(($(jnum messages "$a1") - $(jnum messages "$a0")))
check "archive answered D with $amsgs messages, at least the $((next - 1 - 1024)) older than the history" \
    test "$amsgs" -ge $((next - 1 - 1024)) -a "$(jnum first_sequence "$a1")" = 1

# E: sequence numbers not sent yet (a raw MoldUDP64 request): no answer
sess=$(printf '%s' "$stats" | sed -n 's/.*"session":"\([^"]*\)".*/\1/p')
hex=$(printf '%016x' $((next + 100000)))
raw=$sess
for ((i = 0; i < 16; i += 2)); do raw+="\\x${hex:i:2}"; done
raw+='\x00\x05'
nys0=$(jnum not_yet_sent "$r1")
nsx bash -c "printf '$raw' >/dev/udp/$SERVER/9101"
sleep 0.3
r2=$(req "$(ctl stats)")
check "E: a request past the end ($((next + 100000))) is not answered, counted not_yet_sent ($nys0 -> $(jnum not_yet_sent "$r2"))" \
    test "$(jnum not_yet_sent "$r2")" = $((nys0 + 1))
check "feed builder: no unexpected event, no unknown order, no clipped price" \
    test "$(jnum unexpected "$stats")" = 0 -a "$(jnum unknown_order "$stats")" = 0 \
    -a "$(jnum price_clipped "$stats")" = 0
say "     feed: $(printf '%s' "$stats" | grep -o '"feed":{[^}]*}')"
say "     requests: $(printf '%s' "$stats" | grep -o '"requests":{[^}]*}')"
say "     worker time per retransmission request, from memory to answers queued for tx: $(printf '%s' "$stats" | grep -o '"request_latency":{[^}]*}')"
say "     worker time per snapshot: $(printf '%s' "$stats" | grep -o '"snapshot_latency":{[^}]*}')"

kill -TERM "$XPID"
for ((i = 0; i < 50; i++)); do kill -0 "$XPID" 2>/dev/null || break; sleep 0.1; done
wait "$XPID"
check "xchgd stopped (exit $?)" grep -q "^xchgd: stopped" "$WORK/xchgd.log"
rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
XPID=
sleep 0.3
stop_pid "$CAPPID" INT
stop_pid "$CAP2PID" INT
CAPPID=
CAP2PID=

# ---- the capture, through tshark ------------------------------------------------------
if [ "$HAVE_TSHARK" = 0 ]; then
    say "skip tshark checks: tshark or tcpdump not installed"
else
    # one tshark pass per capture (the Lua dissector is slow on 100,000+ messages)
    i50=(-X "lua_script:$LUA" -d "moldudp64.payload,itch50")
    fields=(-T fields -E aggregator='|' -e frame.number -e _ws.malformed -e _ws.expert.severity
        -e moldudp64.sequence -e moldudp64.count -e moldudp64.msgseq -e itch50.summary)
    tshark -n -r "$WORK/feed.pcap" -d udp.port==9100,moldudp64 "${i50[@]}" "${fields[@]}" \
        >"$WORK/feed.tsv" 2>/dev/null
    badframes() { awk -F'\t' '{ n = split($3, s, "|"); e = 0; for (i = 1; i <= n; i++) if (s[i] + 0 >= 8388608) e = 1;
                                if ($2 != "" || e) print $1 }' "$1" | wc -l; }
    frames=$(wc -l <"$WORK/feed.tsv")
    bad=$(badframes "$WORK/feed.tsv")
    say "     capture: $frames packets"
    check "tshark: $frames packets, none malformed or with an error expert item" \
        test "$frames" -gt 100 -a "$bad" = 0
    check "MoldUDP64: packet sequence numbers contiguous, end-of-session packet last" \
        awk -F'\t' '{ if (NR > 1 && $4 != next_) bad = 1; next_ = $4 + ($5 == 65535 ? 0 : $5); last = $5 }
             END { exit !(bad == 0 && last == 65535 && NR > 0) }' "$WORK/feed.tsv"
    awk -F'\t' '{ n = split($6, q, "|"); split($7, s, "|"); for (i = 1; i <= n; i++) print q[i] " " s[i] }' \
        "$WORK/feed.tsv" >"$WORK/tshark.msgs"
    # every captured message against A's decode of the same sequence number
    first=$(head -1 "$WORK/tshark.msgs" | cut -d' ' -f1)
    last=$(tail -1 "$WORK/a.dump" | cut -d' ' -f1)
    awk -v f="$first" -v l="$last" '$1 >= f && $1 <= l' "$WORK/tshark.msgs" >"$WORK/tshark.cmp"
    awk -v f="$first" '$1 >= f' "$WORK/a.dump" >"$WORK/a.cmp"
    check "tshark (itch50): every field of the $(wc -l <"$WORK/a.cmp") messages from sequence $first equals xchg-feed's decode" \
        cmp -s "$WORK/tshark.cmp" "$WORK/a.cmp"
    cmp -s "$WORK/tshark.cmp" "$WORK/a.cmp" || diff "$WORK/tshark.cmp" "$WORK/a.cmp" | head -5
    eshares=$(awk '$2 == "E" { for (i = 3; i <= NF; i++) if ($i ~ /^shares=/) s += substr($i, 8) } END { print s + 0 }' \
        "$WORK/tshark.msgs")
    xq=$(sed -n 's/.*executed_qty=\([0-9]*\).*/\1/p' "$WORK/driver.out")
    check "executed shares on the feed ($eshares) = half the lots the sessions were told executed (${xq:-?})" \
        test -n "$xq" -a "$((eshares * 2))" = "${xq:-x}"
    # the unicast answers: retransmissions and snapshots (End of Snapshot 'G')
    tshark -n -r "$WORK/answers.pcap" -d udp.port==9101,moldudp64 "${i50[@]}" "${fields[@]}" \
        >"$WORK/answers.tsv" 2>/dev/null
    aframes=$(wc -l <"$WORK/answers.tsv")
    abad=$(badframes "$WORK/answers.tsv")
    gs=$(cut -f7 "$WORK/answers.tsv" | tr '|' '\n' | grep -c '^G seq=')
    check "tshark: $aframes retransmission and snapshot packets, none malformed; $gs End of Snapshot decoded" \
        test "$aframes" -gt 0 -a "$abad" = 0 -a "$gs" -ge 1
    for t in A E X D U; do
        want=$(printf '%s' "$stats" | grep -o '"by_type":{[^}]*}' | grep -o "\"$t\":[0-9]*" | cut -d: -f2)
        got=$(awk -v t="$t" '$2 == t' "$WORK/tshark.msgs" | wc -l)
        check "tshark: $got '$t' messages = xchgd's count (${want:-0})" test "$got" = "${want:-0}"
    done
fi
if [ "$HAVE_TSHARK" = 1 ]; then
    # D's answers from the archive, message by message, against the multicast
    tshark -n -r "$WORK/d.pcap" -d udp.port==9101,moldudp64 "${i50[@]}" "${fields[@]}" \
        >"$WORK/d.tsv" 2>/dev/null
    awk -F'\t' '{ n = split($6, q, "|"); split($7, s, "|"); for (i = 1; i <= n; i++) print q[i] " " s[i] }' \
        "$WORK/d.tsv" | sort -n -u >"$WORK/d.msgs"
    awk -v f="$first" '$1 >= f' "$WORK/d.msgs" >"$WORK/d.cmp"
    # every captured answer line must be the multicast's line for its number
    missing=$(sort "$WORK/tshark.msgs" | comm -23 <(sort "$WORK/d.cmp") - | wc -l)
    check "tshark: D's $(wc -l <"$WORK/d.msgs") answered messages ($(wc -l <"$WORK/d.tsv") packets, $(badframes "$WORK/d.tsv") malformed) equal the multicast's field for field ($missing differ)" \
        test "$(wc -l <"$WORK/d.cmp")" -gt 1024 -a "$missing" = 0 -a "$(badframes "$WORK/d.tsv")" = 0
fi

# F: xchgd restarted with its feed archive gone (an archive that starts after
# the session did): sequence 1 is in neither memory nor archive
rm -rf "$WORK/data/wal/feed-"*
"$BIN/xchgd" -c "$CONF" --no-huge >"$WORK/xchgd2.log" 2>&1 &
XPID=$!
ready=0
for ((i = 0; i < 300; i++)); do
    grep -q "xchgd: ready" "$WORK/xchgd2.log" 2>/dev/null && { ready=1; break; }
    kill -0 "$XPID" 2>/dev/null || break
    sleep 0.1
done
check "xchgd restarted on its journal, without the feed archive" test "$ready" = 1
if [ "$ready" = 1 ]; then
    g0=$(jnum gone "$(arch "$(ctl stats)")")
    nsx "$BIN/xchg-feed" --local "$LOCAL" --server "$SERVER" --quiet --duration 3 >"$WORK/f.out" 2>&1
    rc=$?
    stats=$(ctl stats)
    say "     F: $(tail -1 "$WORK/f.out")"
    check "listener F: sequence 1, before the archive's start, is not answered (exit $rc = 3)" \
        test "$rc" = 3
    check "the archive counted it gone (${g0:-0} -> $(jnum gone "$(arch "$stats")")), answered nothing" \
        test "$(jnum gone "$(arch "$stats")")" -gt "${g0:-0}" -a "$(jnum answered "$(arch "$stats")")" = 0
fi
stop_pid "$XPID"
rmdir "/var/run/dpdk/xchgd$XPID" 2>/dev/null
XPID=
say "== feed test took $((SECONDS - T0)) s"
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
