-- itch50.lua -- Wireshark/tshark dissector for NASDAQ TotalView-ITCH 5.0 messages.
--
-- Wireshark 4.0's own nasdaq_itch dissector decodes the ASCII ITCH 2.0/3.0
-- formats only; it recognises ITCH 5.0 message types (first byte) but reads
-- their binary fields as text. This dissector follows the ITCH 5.0
-- specification's tables (big-endian, Price(4) with 4 implied decimals,
-- 6-byte nanosecond timestamps) for the message types xchg's feed uses
-- (docs/protocol/feed.md), and is written independently of
-- include/xchg/itch.h: tests/unit/feed_tshark.sh compares what it decodes
-- with what test_feed sent.
--
-- Use (MoldUDP64 on UDP port 9100):
--   tshark -X lua_script:tests/unit/itch50.lua -r feed.pcap \
--          -d udp.port==9100,moldudp64 -d moldudp64.payload,itch50 -V
-- In Wireshark: copy it to the personal Lua plugins folder, then Decode As
-- MoldUDP64 Payload -> ITCH50.
--
-- A message whose length differs from its type's size, or of a type not
-- listed here, gets an error-level expert item (itch50.bad_length,
-- itch50.unknown_type). The field itch50.summary is one line per message
-- ("A locate=0 tracking=3 ts=... ref=... side=B shares=... stock=... price=...")
-- in the format test_feed writes to FILE.expect.

local p = Proto("itch50", "NASDAQ TotalView-ITCH 5.0")

local sizes = { S = 12, R = 39, H = 25, A = 36, F = 40, E = 31, C = 36, X = 23, D = 19,
                U = 35, P = 44, Q = 40, I = 50, G = 21 }
local names = { S = "System Event", R = "Stock Directory", H = "Stock Trading Action",
                A = "Add Order", F = "Add Order with MPID Attribution", E = "Order Executed",
                C = "Order Executed With Price", X = "Order Cancel", D = "Order Delete",
                U = "Order Replace", P = "Trade (Non-Cross)", Q = "Cross Trade", G = "End of Snapshot (GLIMPSE 5.0)",
                I = "Net Order Imbalance Indicator" }

local f = {
    type = ProtoField.string("itch50.type", "Message Type"),
    locate = ProtoField.uint16("itch50.locate", "Stock Locate"),
    tracking = ProtoField.uint16("itch50.tracking", "Tracking Number"),
    timestamp = ProtoField.uint64("itch50.timestamp", "Timestamp (ns since midnight)"),
    event = ProtoField.string("itch50.event", "Event Code"),
    stock = ProtoField.string("itch50.stock", "Stock"),
    market_category = ProtoField.string("itch50.market_category", "Market Category"),
    financial_status = ProtoField.string("itch50.financial_status", "Financial Status Indicator"),
    round_lot = ProtoField.uint32("itch50.round_lot", "Round Lot Size"),
    round_lots_only = ProtoField.string("itch50.round_lots_only", "Round Lots Only"),
    issue_class = ProtoField.string("itch50.issue_class", "Issue Classification"),
    issue_subtype = ProtoField.string("itch50.issue_subtype", "Issue Sub-Type"),
    authenticity = ProtoField.string("itch50.authenticity", "Authenticity"),
    short_sale = ProtoField.string("itch50.short_sale", "Short Sale Threshold Indicator"),
    ipo = ProtoField.string("itch50.ipo", "IPO Flag"),
    luld = ProtoField.string("itch50.luld", "LULD Reference Price Tier"),
    etp = ProtoField.string("itch50.etp", "ETP Flag"),
    etp_leverage = ProtoField.uint32("itch50.etp_leverage", "ETP Leverage Factor"),
    inverse = ProtoField.string("itch50.inverse", "Inverse Indicator"),
    state = ProtoField.string("itch50.state", "Trading State"),
    reserved = ProtoField.string("itch50.reserved", "Reserved"),
    reason = ProtoField.string("itch50.reason", "Reason"),
    order_ref = ProtoField.uint64("itch50.order_ref", "Order Reference Number"),
    orig_ref = ProtoField.uint64("itch50.orig_ref", "Original Order Reference Number"),
    new_ref = ProtoField.uint64("itch50.new_ref", "New Order Reference Number"),
    side = ProtoField.string("itch50.side", "Buy/Sell Indicator"),
    shares = ProtoField.uint32("itch50.shares", "Shares"),
    price = ProtoField.uint32("itch50.price", "Price (1e-4)"),
    attribution = ProtoField.string("itch50.attribution", "Attribution"),
    match = ProtoField.uint64("itch50.match", "Match Number"),
    printable = ProtoField.string("itch50.printable", "Printable"),
    cross_shares = ProtoField.uint64("itch50.cross_shares", "Shares (cross)"),
    cross_type = ProtoField.string("itch50.cross_type", "Cross Type"),
    paired = ProtoField.uint64("itch50.paired", "Paired Shares"),
    imbalance = ProtoField.uint64("itch50.imbalance", "Imbalance Shares"),
    direction = ProtoField.string("itch50.direction", "Imbalance Direction"),
    far = ProtoField.uint32("itch50.far", "Far Price (1e-4)"),
    near = ProtoField.uint32("itch50.near", "Near Price (1e-4)"),
    ref_price = ProtoField.uint32("itch50.ref_price", "Current Reference Price (1e-4)"),
    variation = ProtoField.string("itch50.variation", "Price Variation Indicator"),
    summary = ProtoField.string("itch50.summary", "Summary"),
    snapshot_seq = ProtoField.string("itch50.snapshot_seq", "Sequence Number (incremental feed)"),
}
local list = {}
for _, v in pairs(f) do list[#list + 1] = v end
p.fields = list

local e_len = ProtoExpert.new("itch50.bad_length", "Length differs from the type's size",
                              expert.group.MALFORMED, expert.severity.ERROR)
local e_type = ProtoExpert.new("itch50.unknown_type", "Message type not described",
                               expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_len, e_type }

local function trim(s)
    return (s:gsub(" +$", ""))
end

function p.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "ITCH50"
    local len = tvb:len()
    local t = tree:add(p, tvb())
    if len < 1 then
        t:add_proto_expert_info(e_len)
        return 0
    end
    local ty = tvb(0, 1):string()
    t:add(f.type, tvb(0, 1))
    local want = sizes[ty]
    if not want then
        t:add_proto_expert_info(e_type)
        return len
    end
    if len ~= want then
        t:add_proto_expert_info(e_len)
        return len
    end
    t:append_text(", " .. names[ty])
    if ty == "G" then -- xchg's snapshot ends with GLIMPSE's End of Snapshot: no common header
        t:add(f.snapshot_seq, tvb(1, 20))
        t:add(f.summary, tvb(), "G seq=" .. tonumber(tvb(1, 20):string())):set_generated()
        return len
    end
    local s = {}
    local function out(k, v) s[#s + 1] = k .. "=" .. tostring(v) end
    -- field helpers: add to the tree and return the value
    local function u16(o, fld) t:add(fld, tvb(o, 2)); return tvb(o, 2):uint() end
    local function u32(o, fld) t:add(fld, tvb(o, 4)); return tvb(o, 4):uint() end
    local function u64(o, fld) t:add(fld, tvb(o, 8)); return tvb(o, 8):uint64() end
    local function a(o, n, fld) t:add(fld, tvb(o, n)); return tvb(o, n):string() end

    local locate = u16(1, f.locate)
    local tracking = u16(3, f.tracking)
    local ts = tvb(5, 6):uint64()
    t:add(f.timestamp, tvb(5, 6), ts)
    s[1] = ty
    out("locate", locate)
    out("tracking", tracking)
    out("ts", ts)

    if ty == "S" then
        out("event", a(11, 1, f.event))
    elseif ty == "R" then
        out("stock", trim(a(11, 8, f.stock)))
        a(19, 1, f.market_category)
        a(20, 1, f.financial_status)
        out("lot", u32(21, f.round_lot))
        a(25, 1, f.round_lots_only)
        out("class", a(26, 1, f.issue_class))
        a(27, 2, f.issue_subtype)
        out("auth", a(29, 1, f.authenticity))
        a(30, 1, f.short_sale)
        a(31, 1, f.ipo)
        a(32, 1, f.luld)
        a(33, 1, f.etp)
        out("leverage", u32(34, f.etp_leverage))
        a(38, 1, f.inverse)
    elseif ty == "H" then
        out("stock", trim(a(11, 8, f.stock)))
        out("state", a(19, 1, f.state))
        a(20, 1, f.reserved)
        out("reason", trim(a(21, 4, f.reason)))
    elseif ty == "A" or ty == "F" then
        out("ref", u64(11, f.order_ref))
        out("side", a(19, 1, f.side))
        out("shares", u32(20, f.shares))
        out("stock", trim(a(24, 8, f.stock)))
        out("price", u32(32, f.price))
        if ty == "F" then out("mpid", trim(a(36, 4, f.attribution))) end
    elseif ty == "E" or ty == "C" then
        out("ref", u64(11, f.order_ref))
        out("shares", u32(19, f.shares))
        out("match", u64(23, f.match))
        if ty == "C" then
            out("printable", a(31, 1, f.printable))
            out("price", u32(32, f.price))
        end
    elseif ty == "X" then
        out("ref", u64(11, f.order_ref))
        out("shares", u32(19, f.shares))
    elseif ty == "D" then
        out("ref", u64(11, f.order_ref))
    elseif ty == "U" then
        out("orig", u64(11, f.orig_ref))
        out("new", u64(19, f.new_ref))
        out("shares", u32(27, f.shares))
        out("price", u32(31, f.price))
    elseif ty == "P" then
        out("ref", u64(11, f.order_ref))
        out("side", a(19, 1, f.side))
        out("shares", u32(20, f.shares))
        out("stock", trim(a(24, 8, f.stock)))
        out("price", u32(32, f.price))
        out("match", u64(36, f.match))
    elseif ty == "Q" then
        out("shares", u64(11, f.cross_shares))
        out("stock", trim(a(19, 8, f.stock)))
        out("price", u32(27, f.price))
        out("match", u64(31, f.match))
        out("cross", a(39, 1, f.cross_type))
    elseif ty == "I" then
        out("paired", u64(11, f.paired))
        out("imbalance", u64(19, f.imbalance))
        out("dir", a(27, 1, f.direction))
        out("stock", trim(a(28, 8, f.stock)))
        out("far", u32(36, f.far))
        out("near", u32(40, f.near))
        out("refpx", u32(44, f.ref_price))
        out("cross", a(48, 1, f.cross_type))
        out("var", a(49, 1, f.variation))
    end
    local line = table.concat(s, " ")
    t:add(f.summary, tvb(), line):set_generated()
    pinfo.cols.info:append(" " .. ty)
    return len
end

DissectorTable.get("moldudp64.payload"):add_for_decode_as(p)
