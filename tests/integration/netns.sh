#!/usr/bin/env bash
# netns.sh -- test network for the DPDK appliance: a network namespace holding
# the client end of a veth pair, the appliance end left in the root namespace
# for a DPDK PMD (net_af_packet, net_af_xdp). See docs/dpdk-on-this-machine.md.
#
#   netns.sh up NAME            namespace NAME, veth xchg0 (root, no address,
#                               driven by DPDK) <-> xchg0p (in NAME, 198.18.0.2/24)
#   netns.sh up-kernel NAME SRV same pair, but the appliance end goes into a
#                               second namespace SRV with 198.18.0.1/24 owned by
#                               the kernel (for a plain socket echo server)
#   netns.sh tap NAME DEV       move the tap DEV that net_tap created into NAME
#                               (waits up to 10 s for it) and give it 198.18.0.2/24
#   netns.sh down NAME [SRV]    delete the namespace(s) and the veth pair; quiet
#                               when they are already gone
#   netns.sh wait-dev DEV [SEC] wait for a network device to appear
#
# Or source it and call xchg_netns_up / xchg_netns_up_kernel / xchg_netns_tap /
# xchg_netns_down / xchg_wait_dev with the same arguments (safe under set -e).
#
# Environment (defaults): XCHG_IF=xchg0 (the client end is ${XCHG_IF}p),
# XCHG_CLIENT_ADDR=198.18.0.2/24, XCHG_APP_ADDR=198.18.0.1/24, XCHG_QUEUES=1
# (veth RX/TX queues, for net_af_xdp queue_count > 1), XCHG_MTU=1500.
#
# Only 198.18.0.0/15 is used, only inside namespaces made here: the appliance
# end in the root namespace has no address, no ARP and no IPv4 forwarding, so
# the root namespace never answers or routes anything that arrives on it.

xchg_ns_cfg()
{
    XCHG_IF=${XCHG_IF:-xchg0}
    XCHG_PEER=${XCHG_IF}p
    XCHG_CLIENT_ADDR=${XCHG_CLIENT_ADDR:-198.18.0.2/24}
    XCHG_APP_ADDR=${XCHG_APP_ADDR:-198.18.0.1/24}
    XCHG_QUEUES=${XCHG_QUEUES:-1}
    XCHG_MTU=${XCHG_MTU:-1500}
}

xchg_ns_die()
{
    echo "netns.sh: $*" >&2
    return 1
}

# Checks the addresses stay in the ranges the tests may use.
xchg_ns_check_addr()
{
    case "$1" in
    198.18.* | 198.19.*) return 0 ;;
    *) xchg_ns_die "address $1 is outside 198.18.0.0/15" ;;
    esac
}

# Client side of a link inside namespace $1: no IPv6 (no DAD, router or MLD
# chatter), software checksums and no segmentation offloads, address, up.
xchg_ns_client_side()
{
    local ns=${1:-} dev=${2:-}
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 || return 1
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" || return 1
    # With TX checksum offload on, the kernel hands a veth/tap peer UDP
    # datagrams whose checksum field holds only the pseudo-header sum
    # (CHECKSUM_PARTIAL); a PMD reading the raw frame sees a bad checksum.
    ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 ||
        ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null || return 1
    ip netns exec "$ns" ip link set dev "$dev" mtu "$XCHG_MTU" || return 1
    ip netns exec "$ns" ip addr add "$XCHG_CLIENT_ADDR" dev "$dev" || return 1
    ip netns exec "$ns" ip link set dev "$dev" up || return 1
    ip netns exec "$ns" ip link set dev lo up
}

xchg_netns_up()
{
    local ns=${1:-}
    xchg_ns_cfg
    [ -n "$ns" ] || xchg_ns_die "usage: up NAME" || return 1
    xchg_ns_check_addr "$XCHG_CLIENT_ADDR" || return 1
    [ -e "/run/netns/$ns" ] && { xchg_ns_die "namespace $ns already exists"; return 1; }
    ip link show dev "$XCHG_IF" >/dev/null 2>&1 &&
        { xchg_ns_die "device $XCHG_IF already exists"; return 1; }

    ip netns add "$ns" || return 1
    if ! ip link add "$XCHG_IF" numtxqueues "$XCHG_QUEUES" numrxqueues "$XCHG_QUEUES" type veth \
        peer name "$XCHG_PEER" numtxqueues "$XCHG_QUEUES" numrxqueues "$XCHG_QUEUES" netns "$ns"; then
        ip netns del "$ns"
        return 1
    fi
    # Appliance end: a dumb port for DPDK. No IPv6, no ARP, never forwarded.
    {
        sysctl -qw "net.ipv6.conf.$XCHG_IF.disable_ipv6=1" &&
            sysctl -qw "net.ipv4.conf.$XCHG_IF.forwarding=0" &&
            ip link set dev "$XCHG_IF" arp off mtu "$XCHG_MTU" &&
            ethtool -K "$XCHG_IF" tso off gso off gro off >/dev/null &&
            ip link set dev "$XCHG_IF" up &&
            xchg_ns_client_side "$ns" "$XCHG_PEER"
    } || {
        xchg_netns_down "$ns"
        return 1
    }
}

xchg_netns_up_kernel()
{
    local ns=${1:-} srv=${2:-}
    xchg_ns_cfg
    [ -n "$ns" ] && [ -n "$srv" ] || xchg_ns_die "usage: up-kernel NAME SRV" || return 1
    xchg_ns_check_addr "$XCHG_APP_ADDR" || return 1
    [ -e "/run/netns/$srv" ] && { xchg_ns_die "namespace $srv already exists"; return 1; }
    xchg_netns_up "$ns" || return 1
    {
        ip netns add "$srv" &&
            ip link set dev "$XCHG_IF" netns "$srv" &&
            ip netns exec "$srv" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
            ip netns exec "$srv" ip link set dev "$XCHG_IF" arp on &&
            ip netns exec "$srv" ip addr add "$XCHG_APP_ADDR" dev "$XCHG_IF" &&
            ip netns exec "$srv" ip link set dev "$XCHG_IF" up &&
            ip netns exec "$srv" ip link set dev lo up
    } || {
        xchg_netns_down "$ns" "$srv"
        return 1
    }
}

xchg_wait_dev()
{
    local dev=${1:-} secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        ip link show dev "$dev" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    xchg_ns_die "device $dev did not appear within ${secs}s"
}

# net_tap: DPDK creates DEV in the root namespace when the port is probed; move
# it to the client namespace. The move takes the device down; bring it up
# there. It disappears when the DPDK process exits (the tap is not persistent).
xchg_netns_tap()
{
    local ns=${1:-} dev=${2:-}
    xchg_ns_cfg
    [ -n "$ns" ] && [ -n "$dev" ] || xchg_ns_die "usage: tap NAME DEV" || return 1
    xchg_ns_check_addr "$XCHG_CLIENT_ADDR" || return 1
    if [ ! -e "/run/netns/$ns" ]; then
        ip netns add "$ns" || return 1
    fi
    xchg_wait_dev "$dev" 10 || return 1
    ip link set dev "$dev" netns "$ns" || return 1
    xchg_ns_client_side "$ns" "$dev"
}

xchg_netns_down()
{
    local ns=${1:-} srv=${2:-}
    xchg_ns_cfg
    [ -n "$ns" ] || xchg_ns_die "usage: down NAME [SRV]" || return 1
    # Deleting a namespace destroys its veth ends, and with them their peers.
    ip netns del "$ns" 2>/dev/null || true
    if [ -n "$srv" ]; then
        ip netns del "$srv" 2>/dev/null || true
    fi
    # The root end normally goes with its peer, but wait for it: netns
    # teardown is asynchronous and a quick `up` afterwards would collide.
    local i
    for ((i = 0; i < 50; i++)); do
        ip link show dev "$XCHG_IF" >/dev/null 2>&1 || return 0
        if [ "$i" -eq 10 ]; then
            ip link del dev "$XCHG_IF" 2>/dev/null || true
        fi
        sleep 0.1
    done
    xchg_ns_die "device $XCHG_IF still exists"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    cmd=${1:-}
    shift || true
    case "$cmd" in
    up) xchg_netns_up "$@" ;;
    up-kernel) xchg_netns_up_kernel "$@" ;;
    tap) xchg_netns_tap "$@" ;;
    down) xchg_netns_down "$@" ;;
    wait-dev) xchg_wait_dev "$@" ;;
    *)
        sed -n '2,24s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
    esac
fi
