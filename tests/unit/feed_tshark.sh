#!/usr/bin/env bash
# feed_tshark.sh -- decode xchg's market feed with tshark and compare with what was sent.
#
#   tests/unit/feed_tshark.sh [path/to/test_feed]      (from the repository root)
#
# test_feed --pcap writes a demo session (every message type xchg sends,
# heartbeats, end of session) as Ethernet/IPv4/UDP frames to 239.1.1.1:9100,
# and FILE.expect: one "pkt SESSION SEQUENCE COUNT" line per packet and one
# "msg SEQUENCE SUMMARY" line per message. This script decodes the capture
# three ways and checks:
#   1. MoldUDP64 (Wireshark's dissector): session, sequence number and count
#      of every packet, and the sequence number of every message block;
#   2. nasdaq_itch (Wireshark's dissector, ITCH 2.0/3.0 only): the message
#      type of every message (the only field it reads the ITCH 5.0 way);
#   3. itch50 (tests/unit/itch50.lua, written from the ITCH 5.0 tables):
#      every field of every message (summary lines), and the order reference,
#      shares and price fields one by one;
# and that no frame of any pass carries a malformed-packet or an error-level
# expert item. Exit 0 = pass, 1 = fail, 77 = skipped (no tshark).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/tests/test_feed}
lua=$here/itch50.lua

if ! command -v tshark >/dev/null 2>&1; then
    echo "feed_tshark: SKIP: tshark not installed (apt-get install tshark)"
    exit 77
fi
if [ ! -x "$bin" ]; then
    echo "feed_tshark: $bin not built (make $bin)" >&2
    exit 1
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pcap=$dir/feed.pcap
"$bin" --pcap "$pcap" >/dev/null
expect=$pcap.expect

fail=0
check() { # name expected-file actual-file
    if cmp -s "$2" "$3"; then
        echo "feed_tshark: ok: $1 ($(wc -l <"$2") lines)"
    else
        echo "feed_tshark: FAIL: $1 differs (expected < > tshark):" >&2
        diff "$2" "$3" | head -20 >&2 || true
        fail=1
    fi
}

# tshark prints "Running as user root" on stderr; keep stderr for real errors only
ts() { tshark -n -r "$pcap" -d udp.port==9100,moldudp64 "$@" 2> >(grep -v 'Running as user' >&2); }
itch=(-d "moldudp64.payload,nasdaq_itch")
i50=(-X "lua_script:$lua" -d "moldudp64.payload,itch50")

# one value per line from aggregated per-frame field lists
split() { tr '|' '\n' | sed '/^$/d'; }

# 0. the capture as a whole
frames=$(ts -T fields -e frame.number | wc -l)
pkts=$(grep -c '^pkt ' "$expect")
if [ "$frames" -ne "$pkts" ] || [ "$frames" -eq 0 ]; then
    echo "feed_tshark: FAIL: $frames frames, $pkts packets sent" >&2
    fail=1
fi

# 1. malformed packets and error-level expert items, in every pass
for p in mold itch i50; do
    case $p in
    mold) opts=() ;;
    itch) opts=("${itch[@]}") ;;
    i50) opts=("${i50[@]}") ;;
    esac
    bad=$(ts ${opts[@]+"${opts[@]}"} -T fields -E aggregator='|' -e frame.number -e _ws.malformed \
        -e _ws.expert.severity |
        awk -F'\t' '{ n = split($3, s, "|"); e = 0; for (i = 1; i <= n; i++) if (s[i] + 0 >= 8388608) e = 1;
                      if ($2 != "" || e) print $1 }')
    if [ -n "$bad" ]; then
        echo "feed_tshark: FAIL: pass $p: malformed or error frames: $(echo "$bad" | tr '\n' ' ' | head -c 200)" >&2
        fail=1
    else
        echo "feed_tshark: ok: pass $p: no malformed packets, no error-level expert items"
    fi
done

# 2. MoldUDP64 framing
grep '^pkt ' "$expect" | cut -d' ' -f2- >"$dir/pkt.want"
ts -T fields -E separator=' ' -e moldudp64.session -e moldudp64.sequence -e moldudp64.count \
    >"$dir/pkt.got"
check "MoldUDP64 session, sequence, count per packet" "$dir/pkt.want" "$dir/pkt.got"
grep '^msg ' "$expect" | cut -d' ' -f2 >"$dir/seq.want"
ts -T fields -E aggregator='|' -e moldudp64.msgseq | split >"$dir/seq.got"
check "MoldUDP64 message sequence numbers" "$dir/seq.want" "$dir/seq.got"

# 3. message types through Wireshark's nasdaq_itch
grep '^msg ' "$expect" | cut -d' ' -f3 >"$dir/type.want"
ts "${itch[@]}" -T fields -E aggregator='|' -e nasdaq-itch.message_type | split | tr -d "'" \
    >"$dir/type.got"
check "message types (nasdaq_itch)" "$dir/type.want" "$dir/type.got"

# 4. every field through itch50.lua
grep '^msg ' "$expect" | cut -d' ' -f2- >"$dir/msg.want"
ts "${i50[@]}" -T fields -E aggregator='|' -e moldudp64.msgseq -e itch50.summary |
    awk -F'\t' '{ n = split($1, q, "|"); m = split($2, s, "|");
                  if (n != m) print "mismatched field counts in a frame";
                  for (i = 1; i <= n; i++) print q[i] " " s[i] }' >"$dir/msg.got"
check "every field of every message (itch50)" "$dir/msg.want" "$dir/msg.got"

# 5. selected fields one by one, in message order
field() { # key types -> the values of key= in messages of those types
    awk -v k="$1" -v t="$2" '$1 == "msg" && index(t, $3) { for (i = 4; i <= NF; i++)
        if (substr($i, 1, length(k) + 1) == k "=") print substr($i, length(k) + 2) }' "$expect"
}
field ref AFECXDP >"$dir/ref.want"
ts "${i50[@]}" -T fields -E aggregator='|' -e itch50.order_ref | split >"$dir/ref.got"
check "order reference numbers" "$dir/ref.want" "$dir/ref.got"
field shares AFECXUP >"$dir/shares.want"
ts "${i50[@]}" -T fields -E aggregator='|' -e itch50.shares | split >"$dir/shares.got"
check "shares" "$dir/shares.want" "$dir/shares.got"
field price AFCUPQ >"$dir/price.want"
ts "${i50[@]}" -T fields -E aggregator='|' -e itch50.price | split >"$dir/price.got"
check "prices" "$dir/price.want" "$dir/price.got"

if [ $fail -ne 0 ]; then
    echo "feed_tshark: FAILED"
    exit 1
fi
echo "feed_tshark: passed ($frames packets, $(wc -l <"$dir/msg.want") messages)"
