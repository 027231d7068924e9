#!/usr/bin/env bash
# daemon.sh -- the real xchgd's life as a server (docs/operations/daemon.md, logging.md):
#
#   refusals  bad config (78), bad log destination (78), missing port (69),
#             unwritable data dir on a read-only mount (73), data dir under a
#             file (73), unknown option (64); each with its message, nothing
#             left running;
#   daemon    xchgd --daemon returns 0 once ready; pidfile names the live
#             daemon; the control socket answers; the log file has the
#             ready line and the worker lcore's own line (its ring);
#   lock      a second xchgd on the same storage exits 75 naming the holder;
#   log.level get, set, bad value (9003) through xchgctl;
#   SIGHUP    log level, destination (file rotated away and reopened) and
#             throttle applied; a non-reloadable change named; a broken
#             config refused while the daemon keeps running;
#   SIGTERM   exits within 5 s, pidfile removed, "stopped" logged, the lock
#             free again (a new xchgd starts on the same storage);
#   notify    Type=notify protocol: READY=1 with MAINPID, RELOADING=1,
#             STOPPING=1 on a socket given in NOTIFY_SOCKET; SIGINT stops it;
#   hugepages a clear warning when /proc/meminfo shows none free (a private
#             mount namespace with a fake meminfo), and it still starts;
#   unit      tools/xchgd.service passes systemd-analyze verify.
#
# Own names: interface xdm<pid><rnd>, namespace xdm-<pid><rnd>, work dir /tmp/xdm-<pid>.*,
# DPDK file prefix xchgd<pid of each xchgd>. Always --no-huge except in the
# hugepage case (which forces the same through the fake meminfo). Prints one
# line per check and "N passed, M failed"; exit 1 when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BIN=build/bin
NOTIFY=build/tests/itest_notify
NETNS=tests/integration/netns.sh
# pid plus a random suffix: unique even if another run reuses our pid
SFX=$$$(printf '%03x' $((RANDOM % 4096)))
export XCHG_IF=xdm$SFX
NS=xdm-$SFX
PASS=0
FAIL=0
WORK=
PIDS=()
NS_UP=0
RO_MOUNT=

say() { printf '%s\n' "$*"; }
ok() { PASS=$((PASS + 1)); say "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); say "FAIL $*"; }
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    rmdir "/var/run/dpdk/xchgd$pid" 2>/dev/null
}

cleanup() {
    trap - INT TERM EXIT
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    [ -n "$RO_MOUNT" ] && umount "$RO_MOUNT" 2>/dev/null
    [ "$NS_UP" = 1 ] && bash "$NETNS" down "$NS" >/dev/null 2>&1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$FAIL" -eq 0 ] && [ -z "${ITEST_KEEP:-}" ]; then rm -rf "$WORK"; else say "logs kept in $WORK"; fi
    fi
}
trap cleanup EXIT
trap 'bad interrupted; say "$PASS passed, $FAIL failed"; exit 1' INT TERM

exits_within() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

wait_grep() { # wait_grep PATTERN FILE SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q -- "$1" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

ctl() { "$BIN/xchgctl" --socket "$1" --json "${@:2}"; }

# mkconf OUT DATADIR SOCKET LOGDEST [LEVEL] [THROTTLE] [IFACE] [ORDER_CAPACITY]
mkconf() {
    local out=$1 data=$2 sock=$3 dest=$4 level=${5:-info} thr=${6:-10000} ifc=${7:-$XCHG_IF}
    local cap=${8:-1048576}
    sed -e "s/iface=xchg0/iface=$ifc/" \
        -e "s|^\([[:space:]]*socket[[:space:]]*=\).*|\1 \"$sock\";|" \
        -e "s|^\([[:space:]]*data_dir[[:space:]]*=\).*|\1 \"$data\";|" \
        -e "s/^\([[:space:]]*throttle_msgs_per_sec[[:space:]]*=\).*/\1 $thr;/" \
        -e "s/^\([[:space:]]*order_capacity[[:space:]]*=\).*/\1 $cap;/" \
        config/xchg.conf >"$out"
    printf 'log = {\n    level = "%s";\n    destination = "%s";\n};\n' "$level" "$dest" >>"$out"
}

# runs xchgd in the foreground with a timeout; sets RC and OUT (stdout+stderr)
refuse() {
    OUT=$(timeout 60 "$BIN/xchgd" "$@" --no-huge 2>&1)
    RC=$?
}

# ---- refusals -----------------------------------------------------------------------

refusals() {
    local d=$WORK/refuse c
    mkdir -p "$d"
    say "== refusals"
    c=$d/bad.conf
    mkconf "$c" "$d/data" "$d/s.sock" stderr
    sed -i 's/margin_rate = "12%";/margn_rate = "12%";/' "$c"
    refuse -c "$c"
    check "bad config: exit 78 with file:line: key (rc $RC)" \
        bash -c "[ $RC = 78 ] && grep -q 'bad.conf:[0-9]*: .*margn_rate' <<<\"\$0\"" "$OUT"
    c=$d/badlog.conf
    mkconf "$c" "$d/data" "$d/s.sock" "xchgd.log"
    refuse -c "$c"
    check "bad log.destination: exit 78, names the key (rc $RC)" \
        bash -c "[ $RC = 78 ] && grep -q 'log.destination' <<<\"\$0\"" "$OUT"
    c=$d/noport.conf
    mkconf "$c" "$d/data" "$d/s.sock" stderr info 10000 "xdmnone$$"
    refuse -c "$c"
    check "missing port: exit 69, names the interface (rc $RC)" \
        bash -c "[ $RC = 69 ] && grep -q \"interface 'xdmnone$$' does not exist\" <<<\"\$0\"" "$OUT"
    mkdir -p "$d/ro"
    if mount -t tmpfs -o ro,size=1m tmpfs "$d/ro"; then
        RO_MOUNT=$d/ro
        c=$d/ro.conf
        mkconf "$c" "$d/ro/data" "$d/s.sock" stderr
        refuse -c "$c"
        check "read-only data dir: exit 73, says why (rc $RC)" \
            bash -c "[ $RC = 73 ] && grep -q 'storage.data_dir .*Read-only file system' <<<\"\$0\"" "$OUT"
        umount "$d/ro" && RO_MOUNT=
    else
        bad "read-only data dir: cannot mount a read-only tmpfs"
    fi
    : >"$d/afile"
    c=$d/file.conf
    mkconf "$c" "$d/afile/data" "$d/s.sock" stderr
    refuse -c "$c"
    check "data dir under a regular file: exit 73 (rc $RC)" \
        bash -c "[ $RC = 73 ] && grep -q 'cannot create it: Not a directory' <<<\"\$0\"" "$OUT"
    c=$d/logdir.conf
    mkconf "$c" "$d/data" "$d/s.sock" "$d/afile/x.log"
    refuse -c "$c"
    check "log file in an impossible directory: exit 73 (rc $RC)" \
        bash -c "[ $RC = 73 ] && grep -q 'log.destination' <<<\"\$0\"" "$OUT"
    refuse --no-such-option
    check "unknown option: exit 64 with usage (rc $RC)" \
        bash -c "[ $RC = 64 ] && grep -q 'usage: xchgd' <<<\"\$0\"" "$OUT"
    check "no socket file left behind by the refusals" test ! -e "$d/s.sock"
}

# ---- the daemon ---------------------------------------------------------------------

daemon_life() {
    local d=$WORK/daemon
    mkdir -p "$d"
    say "== daemon"
    local sock=$d/x.sock log=$d/xchgd.log pidf=$d/run/xchgd.pid c=$d/x.conf
    mkconf "$c" "$d/data" "$sock" "$log"
    local t0=$SECONDS
    timeout 60 "$BIN/xchgd" -c "$c" --no-huge --daemon --pidfile "$pidf" >"$d/start.out" 2>&1
    local rc=$?
    check "--daemon: the command returns 0 once ready (rc $rc, $((SECONDS - t0)) s)" test "$rc" = 0
    local pid
    pid=$(cat "$pidf" 2>/dev/null)
    [ -n "$pid" ] && PIDS+=("$pid")
    check "pidfile $pidf names a live xchgd (pid ${pid:-none})" \
        bash -c "[ -n '$pid' ] && kill -0 '$pid' && grep -q xchgd /proc/$pid/cmdline"
    check "the daemon is detached (own session, parent is not this shell)" \
        bash -c "[ -n '$pid' ] && [ \"\$(ps -o sid= -p $pid | tr -d ' ')\" = '$pid' ] || \
                 [ \"\$(ps -o ppid= -p $pid | tr -d ' ')\" != '$$' ]"
    check "control socket answers right after --daemon returned" \
        bash -c "$BIN/xchgctl --socket '$sock' --json status | grep -q '\"state\": *\"running\"'"
    check "the ready line reached the caller's terminal before --daemon returned" \
        grep -q "^xchgd: ready" "$d/start.out"
    check "storage lock holds the pid" bash -c "[ \"\$(cat '$d/data/xchgd.lock')\" = '$pid' ]"
    wait_grep "worker running" "$log" 5
    check "log file: timestamped ready line from the control thread" \
        grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z info +\[control\] ready: pid '"$pid" "$log"
    check "log file: the worker lcore's line through its own ring" \
        grep -Eq 'info +\[worker1\] segment 0: worker running on lcore 1' "$log"

    # a second instance on the same storage
    local c2=$d/second.conf out
    mkconf "$c2" "$d/data" "$d/second.sock" stderr
    out=$(timeout 60 "$BIN/xchgd" -c "$c2" --no-huge 2>&1)
    rc=$?
    check "second xchgd on the same storage: exit 75 naming pid $pid (rc $rc)" \
        bash -c "[ $rc = 75 ] && grep -q 'in use by another xchgd (pid $pid' <<<\"\$0\"" "$out"
    check "second xchgd removed nothing of the first (socket, pidfile)" \
        bash -c "[ -S '$sock' ] && [ \"\$(cat '$pidf')\" = '$pid' ]"

    # log.level through the control socket
    out=$(ctl "$sock" log.level)
    check "log.level: reports info and the file" \
        bash -c "grep -q '\"level\": *\"info\"' <<<\"\$0\" && grep -q '\"destination\": *\"$log\"' <<<\"\$0\"" "$out"
    out=$(ctl "$sock" log.level level=debug)
    check "log.level level=debug: set" grep -q '"level": *"debug"' <<<"$out"
    out=$(ctl "$sock" log.level level=loud 2>&1)
    check "log.level level=loud: refused with 9003" grep -q '9003' <<<"$out"
    wait_grep "log level info -> debug" "$log" 3
    check "log file: the level change is logged" grep -q "log level info -> debug (control socket)" "$log"
    # session.add refuses accounts never opened
    ctl "$sock" account.open account=1001 init_cash=1000000000000 >/dev/null 2>&1
    ctl "$sock" session.add account=1001 source=any >/dev/null
    check "a control command reaches the worker, which logs it (debug level on)" \
        wait_grep "\[worker1\] session 1 (account 1001): added" "$log" 3

    # SIGHUP: rotate the log, change level, throttle and a fixed key
    local log2=$d/xchgd-2.log
    mv "$log" "$log.1"
    mkconf "$c" "$d/data" "$sock" "$log2" info 5 "$XCHG_IF" 65536
    kill -HUP "$pid"
    wait_grep "risk.throttle_msgs_per_sec 10000 -> 5" "$log2" 5
    check "SIGHUP: the old file got the reload notice before the switch" \
        grep -q "reload: SIGHUP: reading $c" "$log.1"
    check "SIGHUP: new destination $log2 written" grep -q "reload: log level info, destination $log2" "$log2"
    check "SIGHUP: throttle applied by the worker" \
        grep -Eq '\[worker1\] throttle now 5 messages/s per session' "$log2"
    check "SIGHUP: throttle change logged" grep -q "risk.throttle_msgs_per_sec 10000 -> 5" "$log2"
    check "SIGHUP: order_capacity change named as needing a restart (before the switch)" \
        grep -q "reload: segments changed in $c: takes effect at the next start" "$log.1"
    check "SIGHUP: nothing else named (storage, control, ports unchanged)" \
        bash -c "! grep -Eq 'reload: (storage|control|filter|ports|lcores|instruments|risk).* changed' '$log.1'"
    out=$(ctl "$sock" log.level)
    check "SIGHUP: log.level back to the config's info" grep -q '"level": *"info"' <<<"$out"
    # rotation with an unchanged path
    mv "$log2" "$log2.1"
    kill -HUP "$pid"
    check "SIGHUP with the same path: file reopened (rotation)" \
        wait_grep "reload: log level info, destination $log2" "$log2" 5
    mkconf "$c" "$d/data" "$sock" "$log2" warning 5 "$XCHG_IF" 65536
    kill -HUP "$pid"
    sleep 0.5
    out=$(ctl "$sock" log.level)
    check "SIGHUP: level warning applied" grep -q '"level": *"warning"' <<<"$out"
    echo 'instruments = ( broken' >>"$c"
    kill -HUP "$pid"
    check "SIGHUP with a broken config: refused, logged" \
        wait_grep "reload refused, keeping the running configuration: $c" "$log2" 5
    check "...and the daemon keeps serving" \
        bash -c "$BIN/xchgctl --socket '$sock' --json status | grep -q running"

    # SIGTERM (info again, so the stop is logged)
    out=$(ctl "$sock" log.level level=info)
    check "log.level level=info: set back" grep -q '"level": *"info"' <<<"$out"
    kill -TERM "$pid"
    if exits_within "$pid" 5; then ok "SIGTERM: daemon exits within 5 s"; else bad "SIGTERM: still running after 5 s"; fi
    check "SIGTERM: pidfile removed" test ! -e "$pidf"
    check "SIGTERM: control socket removed" test ! -e "$sock"
    check "SIGTERM: stop logged (stopping, worker stopped, stopped)" \
        bash -c "grep -q '\[control\] stopping' '$log2' && grep -q 'worker stopped, sessions logged out' '$log2' && grep -q '\[control\] stopped' '$log2'"
    check "SIGTERM: DPDK runtime dir removed" test ! -e "/var/run/dpdk/xchgd$pid"
    check "after start, nothing reached the caller's terminal (daemon stdio closed)" \
        bash -c "! grep -q 'xchgd: stopping' '$d/start.out'"
    mkconf "$c" "$d/data" "$sock" stderr
    notify_case "$c" "$sock"
}

# Type=notify in the foreground, on the storage the daemon just released.
notify_case() {
    local c=$1 sock=$2 d=$WORK/notify
    mkdir -p "$d"
    say "== notify (and the lock released by the stopped daemon)"
    "$NOTIFY" "$d/notify.sock" 60 >"$d/notify.out" 2>&1 &
    local npid=$!
    PIDS+=("$npid")
    wait_grep "notify: listening" "$d/notify.out" 5
    NOTIFY_SOCKET=$d/notify.sock "$BIN/xchgd" -c "$c" --no-huge >"$d/xchgd.out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    check "a new xchgd starts on the same storage once the old one stopped" \
        wait_grep "xchgd: ready" "$d/xchgd.out" 30
    check "notify: READY=1 with MAINPID=$pid" wait_grep "READY=1 MAINPID=$pid" "$d/notify.out" 5
    kill -HUP "$pid"
    check "notify: RELOADING=1 on SIGHUP" wait_grep "RELOADING=1" "$d/notify.out" 5
    kill -INT "$pid"
    if exits_within "$pid" 5; then
        wait "$pid"
        local rc=$?
        check "SIGINT: exit 0 (rc $rc)" test "$rc" = 0
    else
        bad "SIGINT: still running after 5 s"
    fi
    check "notify: STOPPING=1" wait_grep "STOPPING=1" "$d/notify.out" 5
    check "foreground: 'xchgd: stopped' printed" grep -q "^xchgd: stopped" "$d/xchgd.out"
    check "foreground: log lines on stderr with level and thread" \
        grep -Eq 'Z info +\[control\] stopped' "$d/xchgd.out"
    stop_pid "$npid"
}

# ---- hugepages missing ----------------------------------------------------------------

hugepage_case() {
    local d=$WORK/huge
    mkdir -p "$d"
    say "== hugepages missing"
    sed -e 's/^\(HugePages_Total:\).*/\1       0/' -e 's/^\(HugePages_Free:\).*/\1       0/' \
        /proc/meminfo >"$d/meminfo"
    local c=$d/x.conf sock=$d/x.sock
    mkconf "$c" "$d/data" "$sock" stderr
    unshare -m --propagation private bash -c \
        "mount --bind '$d/meminfo' /proc/meminfo && exec '$BIN/xchgd' -c '$c'" >"$d/xchgd.out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    check "no free hugepages: xchgd still starts" wait_grep "xchgd: ready" "$d/xchgd.out" 30
    check "no free hugepages: clear warning on stderr" \
        grep -q "xchgd: warning: hugepages missing: 0 MiB free of 0 MiB reserved, xchgd needs 512 MiB; running with --no-huge" "$d/xchgd.out"
    check "no free hugepages: warning in the log" grep -Eq 'warning +\[control\] hugepages missing' "$d/xchgd.out"
    stop_pid "$pid"
}

checkhost_case() {
    say "== --check-host"
    local out rc
    out=$("$BIN/xchgd" --check-host 2>&1)
    rc=$?
    check "--check-host on this host: exit 0, a table of 9 items (rc $rc)" \
        bash -c "[ $rc = 0 ] && [ \$(grep -Ec '^(isolcpus|nohz_full|rcu_nocbs|hugepages|irq_affinity|irqbalance|cpu_governor|nic_queues|nic_rings) +(ok|warn|n/a) ' <<<\"\$0\") = 9 ]" "$out"
    out=$("$BIN/xchgd" --check-host --json 2>/dev/null)
    check "--check-host --json: one JSON object with the items" \
        bash -c "grep -q '^{\"worker_cpus\":\"1\",\"warnings\":[0-9]*,\"items\":\[' <<<\"\$0\"" "$out"
    out=$("$BIN/xchgd" --check-host --json --host-root tests/fixtures/host/good 2>/dev/null)
    check "--check-host --host-root good fixture: isolcpus ok for worker 1" \
        grep -q '"item":"isolcpus","status":"ok"' <<<"$out"
    out=$("$BIN/xchgd" --check-host --host-root tests/fixtures/host/bad 2>/dev/null)
    check "--check-host --host-root bad fixture: warns (irqbalance, hugepages)" \
        bash -c "grep -Eq '^irqbalance +warn' <<<\"\$0\" && grep -Eq '^hugepages +warn' <<<\"\$0\"" "$out"
}

unit_case() {
    say "== systemd unit"
    local u=$WORK/xchgd.service
    sed -e "s|/usr/local/bin/xchgd|$PWD/$BIN/xchgd|" -e "s|/etc/xchg/xchg.conf|$PWD/config/xchg.conf|" \
        tools/xchgd.service >"$u"
    if command -v systemd-analyze >/dev/null; then
        local out
        out=$(systemd-analyze verify "$u" 2>&1)
        check "systemd-analyze verify tools/xchgd.service" test -z "$out"
        [ -z "$out" ] || say "$out"
    else
        say "skip systemd-analyze missing"
    fi
    check "unit: Type=notify, reload by SIGHUP, no restart on refusals" \
        bash -c "grep -q '^Type=notify' tools/xchgd.service && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' tools/xchgd.service && grep -q '^RestartPreventExitStatus=64 69 73 75 78' tools/xchgd.service"
}

# ---- main -----------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    say "tests/integration/daemon.sh: needs root (namespaces, mounts, DPDK)"
    say "0 passed, 1 failed"
    exit 1
fi
for f in "$BIN/xchgd" "$BIN/xchgctl" "$NOTIFY"; do
    [ -x "$f" ] || { say "$f missing: run make first"; say "0 passed, 1 failed"; exit 1; }
done
WORK=$(mktemp -d "/tmp/xdm-$$.XXXX") || exit 1
say "daemon tests: interface $XCHG_IF, namespace $NS, work dir $WORK"
T0=$SECONDS
refusals
if bash "$NETNS" up "$NS" >"$WORK/netns.log" 2>&1; then
    NS_UP=1
    daemon_life
    hugepage_case
else
    bad "test network"
    cat "$WORK/netns.log"
fi
checkhost_case
unit_case
say "== daemon tests: $((SECONDS - T0)) s"
say "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
