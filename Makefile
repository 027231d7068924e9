# xchg build. Every dependency comes through pkg-config except libhugetlbfs,
# which ships no .pc file (docs/build.md).
.DEFAULT_GOAL := all
# keep object files of pattern-rule chains (no rebuilds, no rm at the end)
.SECONDARY:
SHELL := /bin/bash

BUILD   ?= build
CC      ?= cc
PKGS_CORE := libconfig jansson liburing libbpf liblz4 sqlite3 libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS_CORE) cmocka 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS_CORE) 2>/dev/null) -lhugetlbfs -lpthread -lm
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
# DPDK only where it is used: the dataplane objects and the programs in
# DPDK_PROGS. Its -march=corei7 comes before ours so ours wins.
DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS   := $(shell pkg-config --libs libdpdk 2>/dev/null) $(shell pkg-config --libs numa 2>/dev/null)
DPDK_PROGS  := $(BUILD)/bin/dpdk_echo $(BUILD)/bin/xchgd $(BUILD)/bin/dpdk_mdbench

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT     ?= -O2 -march=native -g
SAN     :=
CFLAGS_ALL = -std=gnu11 $(DIR_CFLAGS) $(OPT) $(SAN) $(WARN) -Iinclude -I. $(PKG_CFLAGS) -MMD -MP
LDFLAGS_ALL = $(SAN)

# ---- libraries: one static archive per directory that has sources ----------
LIB_DIRS := matcher config dataplane control storage
define lib_rule
$(1)_SRCS := $$(wildcard $(1)/*.c)
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/obj/%.o,$$($(1)_SRCS))
$$(BUILD)/lib/libxchg$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(dir $$@)
	ar rcs $$@ $$^
LIBS += $$(BUILD)/lib/libxchg$(1).a
endef
$(foreach d,$(LIB_DIRS),$(eval $(call lib_rule,$(d))))
# libxchg-client: XOE over ordinary UDP sockets, for trading firms' programs
CLIENT_SRCS := $(wildcard tools/client/*.c)
CLIENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLIENT_SRCS))
$(BUILD)/lib/libxchgclient.a: $(CLIENT_OBJS)
	@mkdir -p $(dir $@)
	ar rcs $@ $^
LIBS += $(BUILD)/lib/libxchgclient.a
# the XDP filter's loader and control side (dataplane/xdp/, libbpf); the BPF
# program itself (*.bpf.c) is built by clang for the BPF target, into bpf/
XDP_SRCS := $(filter-out %.bpf.c,$(wildcard dataplane/xdp/*.c))
XDP_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(XDP_SRCS))
$(BUILD)/lib/libxchgxdp.a: $(XDP_OBJS)
	@mkdir -p $(dir $@)
	ar rcs $@ $^
LIBS += $(BUILD)/lib/libxchgxdp.a
BPF_OBJS := $(patsubst dataplane/xdp/%.bpf.c,$(BUILD)/bpf/xchg_%.bpf.o,$(wildcard dataplane/xdp/*.bpf.c))
$(BUILD)/bpf/xchg_%.bpf.o: dataplane/xdp/%.bpf.c dataplane/xdp/filter_abi.h
	@mkdir -p $(dir $@)
	clang -O2 -g -target bpf -Wall -Werror -I/usr/include/$(shell $(CC) -dumpmachine) -c $< -o $@
$(BUILD)/lib/pkgconfig/xchg-client.pc: tools/client/xchg-client.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(CURDIR)|; s|@LIBDIR@|$(abspath $(BUILD))/lib|; s|@INCLUDEDIR@|$(CURDIR)/include|' $< > $@

# link order: each library may use the ones after it
LINK_LIBS = $(BUILD)/lib/libxchgclient.a $(BUILD)/lib/libxchgdataplane.a $(BUILD)/lib/libxchgxdp.a \
	$(BUILD)/lib/libxchgcontrol.a \
	$(BUILD)/lib/libxchgstorage.a $(BUILD)/lib/libxchgconfig.a $(BUILD)/lib/libxchgmatcher.a
$(BUILD)/obj/dataplane/%.o: DIR_CFLAGS = $(DPDK_CFLAGS)
$(BUILD)/obj/perf/dpdk_%.o: DIR_CFLAGS = $(DPDK_CFLAGS)
$(DPDK_PROGS): PKG_LIBS += $(DPDK_LIBS)
# bench_sst compares the SSTables with RocksDB (its C API)
$(BUILD)/bin/bench_sst: PKG_LIBS += $(shell pkg-config --libs rocksdb 2>/dev/null || echo -lrocksdb)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# ---- programs ---------------------------------------------------------------
PERF_SRCS  := $(wildcard perf/*.c)
PERF_BINS  := $(patsubst perf/%.c,$(BUILD)/bin/%,$(PERF_SRCS))
TOOL_SRCS  := $(wildcard tools/*.c)
TOOL_BINS  := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOL_SRCS))
TEST_SRCS  := $(wildcard tests/unit/test_*.c)
TEST_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# integration test programs: built with the rest, run by tests/integration/run.sh
ITEST_SRCS := $(wildcard tests/integration/itest_*.c)
ITEST_BINS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRCS))

$(BUILD)/bin/%: $(BUILD)/obj/perf/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $< $(EXTRA_OBJS) $(LINK_LIBS) $(PKG_LIBS) -o $@
# bench_matcher --workload idwrap: the matcher once more, ids homed by their
# low bits (the baseline), its functions renamed (perf/matcher_lowbits.h)
$(BUILD)/obj/perf/matcher_lowbits.o: matcher/matcher.c perf/matcher_lowbits.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DMT_INDEX_HOME_LOWBITS -include perf/matcher_lowbits.h -c $< -o $@
$(BUILD)/bin/bench_matcher: EXTRA_OBJS = $(BUILD)/obj/perf/matcher_lowbits.o
$(BUILD)/bin/bench_matcher: $(BUILD)/obj/perf/matcher_lowbits.o
$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $< $(LINK_LIBS) $(PKG_LIBS) -o $@
# the daemon: its main lives in dataplane/ with the rest of the DPDK code
XCHGD := $(BUILD)/bin/xchgd
$(XCHGD): $(BUILD)/obj/dataplane/xchgd.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $< $(LINK_LIBS) $(PKG_LIBS) -o $@

# test_hostmon runs xchg-hostmon
$(BUILD)/tests/test_hostmon: $(BUILD)/bin/xchg-hostmon
# test_xdp runs the compiled BPF program
$(BUILD)/tests/test_xdp: $(BPF_OBJS)
# test_ctl runs xchgctl against its server
$(BUILD)/tests/test_ctl: $(BUILD)/bin/xchgctl
# test_history runs xchgctl query
$(BUILD)/tests/test_history: $(BUILD)/bin/xchgctl
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $< $(LINK_LIBS) $(PKG_LIBS) $(CMOCKA_LIBS) -o $@
$(BUILD)/tests/itest_%: $(BUILD)/obj/tests/integration/itest_%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $< $(LINK_LIBS) $(PKG_LIBS) -o $@

.PHONY: all deps test unit-tests asan bench bench-report lint format run clean fuzz feed-tshark bench-report-test soak
all: $(LIBS) $(BUILD)/lib/pkgconfig/xchg-client.pc $(XCHGD) $(BPF_OBJS) $(PERF_BINS) $(TOOL_BINS) $(TEST_BINS) \
	$(ITEST_BINS)

deps:
	@tools/deps.sh

# Each test is a program of its own; run them all, report, fail if any failed.
unit-tests: $(TEST_BINS)
	@pass=0; fail=0; \
	for t in $(TEST_BINS); do \
	  echo "== $$t"; \
	  if (cd $(CURDIR) && $$t); then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; \
	echo "programs: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit-tests
	@$(MAKE) --no-print-directory feed-tshark
	@$(MAKE) --no-print-directory bench-report-test
	@tests/integration/run.sh
	@tests/integration/daemon.sh
	@tests/integration/metrics.sh
	@tests/integration/feed.sh
	@tests/integration/md.sh
	@tests/integration/segments.sh
	@tests/integration/instadd.sh
	@tests/integration/xdp.sh
	@CRASH_ROUNDS=20 tests/integration/crash.sh
	@tests/integration/storage_fail.sh
	@tests/integration/checkpoint.sh
	@tests/integration/history.sh

# The kill -9 crash-recovery test at length (SOAK_ROUNDS rounds).
SOAK_ROUNDS ?= 200
soak: all
	@CRASH_ROUNDS=$(SOAK_ROUNDS) tests/integration/crash.sh

# The feed decoded by Wireshark's dissectors (exit 77 = tshark missing).
feed-tshark: $(BUILD)/tests/test_feed
	@tests/unit/feed_tshark.sh $(BUILD)/tests/test_feed; rc=$$?; \
	  [ $$rc -eq 0 ] || { [ $$rc -eq 77 ] && echo "feed-tshark skipped: tshark missing"; } || exit 1

# xchg-bench-report on a recorded `make bench` run (exit 77 = gnuplot missing).
bench-report-test: $(BUILD)/bin/xchg-bench-report
	@tests/unit/bench_report.sh $(BUILD)/bin/xchg-bench-report; rc=$$?; \
	  [ $$rc -eq 0 ] || { [ $$rc -eq 77 ] && echo "bench-report-test skipped: gnuplot missing"; } || exit 1

# Same tests under AddressSanitizer and UBSan, in a separate build tree.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" unit-tests

bench: deps
	@$(MAKE) --no-print-directory all
	@$(BUILD)/bin/bench_matcher --workload exchange-core
	@$(BUILD)/bin/bench_matcher --workload inserts
	@$(BUILD)/bin/bench_matcher --workload idwrap --capacity 32768
	@$(BUILD)/bin/bench_gateway --features --journal $(BUILD)/bench-gateway-journal
	@BIN=$(BUILD)/bin perf/bench_replay.sh
	@$(BUILD)/bin/dpdk_mdbench
	@$(BUILD)/bin/bench_accounts
	@BIN=$(BUILD)/bin perf/bench_dataplane.sh
	@$(BUILD)/bin/bench_journal --dir $(BUILD)/bench-journal
	@$(BUILD)/bin/bench_log
	@BIN=$(BUILD)/bin perf/bench_feed.sh
	@BIN=$(BUILD)/bin perf/bench_xdp_flood.sh
	@$(BUILD)/bin/bench_sst
	@$(BUILD)/bin/bench_snapshot --case 10000:16 --case 100000:16 --case 100000:1000

# `make bench` saved to $(BENCH_OUT)/bench.jsonl, then the report with its
# plots (docs/perf/report.md). BENCH_JSON=FILE makes the report from FILE
# (a saved run) without running the benchmarks.
BENCH_OUT ?= $(BUILD)/bench
bench-report: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p $(BENCH_OUT)
	@if [ -n "$(BENCH_JSON)" ]; then cp "$(BENCH_JSON)" $(BENCH_OUT)/bench.jsonl; \
	  else $(MAKE) --no-print-directory bench | tee $(BENCH_OUT)/bench.jsonl; fi
	@$(BUILD)/bin/xchg-bench-report -o $(BENCH_OUT)/report $(BENCH_OUT)/bench.jsonl

# libFuzzer targets (clang): tests/fuzz/fuzz_<name>.c with a seed corpus in
# tests/fuzz/corpus_<name>/. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz/fuzz_sst: FUZZ_LIBS = -llz4
$(BUILD)/fuzz/fuzz_manifest: FUZZ_LIBS = -llz4
# fuzz_snapshot includes the snapshot sources and links the rest of the project
$(BUILD)/fuzz/fuzz_snapshot: FUZZ_LIBS = $(LINK_LIBS) $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_snapshot: $(LIBS)
$(BUILD)/fuzz/%: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -I. $< -o $@ $(FUZZ_LIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/work_$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=1600 $(BUILD)/fuzz/work_$$n tests/fuzz/corpus_$$n || exit 1; done

LINT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
lint:
	clang-format --dry-run --Werror $(LINT_SRCS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
	  --std=c11 --inline-suppr --suppress=missingIncludeSystem -Iinclude -I. $(LINT_SRCS)

format:
	clang-format -i $(LINT_SRCS)

# xchgd in a sandbox namespace with the live demo (tools/sandbox.sh).
run: deps
	@$(MAKE) --no-print-directory all
	@tools/sandbox.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
