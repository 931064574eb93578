# stockd: `make run` to use it, `make test` to prove it. See README.md.
SHELL := /bin/bash

CC      := cc

# Flags that come from tools `make deps` installs (pkg-config, dpkg-dev) are
# computed when a recipe first needs them, after deps has run, not when make
# reads this file: on a fresh machine the first `make run` installs the
# packages, then compiles with their flags. A tool that fails stops the build
# and says which; its own error is not hidden.
tool = $(eval tool_out := $(shell $(1)))$(if $(filter 0,$(.SHELLSTATUS)),$(tool_out),$(error 	'$(1)' failed: run 'make deps' (deploy/install-deps) to install the build's packages))
# A variable that computes itself once, on first use.
lazy = $(eval $(1) := $(call tool,$(2)))$($(1))

PKGS      := libmariadb json-c
PKG_CFLAGS = $(call lazy,PKG_CFLAGS,pkg-config --cflags $(PKGS))
PKG_LIBS   = $(call lazy,PKG_LIBS,pkg-config --libs $(PKGS))
# Debian's hardening (FORTIFY, stack protector, relro/now; gcc builds PIE by
# default). CFLAGS, CPPFLAGS and LDFLAGS from the caller win over them.
buildflag = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1)
DEB_CFLAGS   = $(call lazy,DEB_CFLAGS,$(call buildflag,CFLAGS))
DEB_CPPFLAGS = $(call lazy,DEB_CPPFLAGS,$(call buildflag,CPPFLAGS))
DEB_LDFLAGS  = $(call lazy,DEB_LDFLAGS,$(call buildflag,LDFLAGS))
CFLAGS   ?= $(DEB_CFLAGS)
CPPFLAGS ?= $(DEB_CPPFLAGS)
LDFLAGS  ?= $(DEB_LDFLAGS)

WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
# Each object lists the headers it includes (.d files), so a header change
# rebuilds only what uses it.
DEPFLAGS = -MMD -MP
# The release: one line in VERSION, compiled into app/core/version.c only.
VERSION := $(shell cat VERSION)
INC      = -Iapp $(PKG_CFLAGS) -DSTOCKD_VERSION='"$(VERSION)"'
LIBS     = -lfcgi $(PKG_LIBS)

SRC     := $(sort $(wildcard app/core/*.c app/store/*.c app/domain/*.c app/http/*.c app/api/*.c app/server/*.c))
OBJ     := $(SRC:app/%.c=app/build/obj/%.o)
BIN     := app/build/stockd

# Sanitized build: unit tests always, the integration suite with `make test-asan`.
SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_OBJ := $(SRC:app/%.c=app/build/san/%.o)
SAN_BIN := app/build/stockd-asan

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=app/build/unit/%)
# The same tests without sanitizers, for valgrind (the two do not mix).
PLAIN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=app/build/unit-plain/%)

# Test tools that drive the database directly (e.g. a legacy-schema load).
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=app/build/tools/%)

# The C baselines `make bench` measures stockd against (docs/benchmarks.md):
# the lean reserve (issue 11's yardstick) and the lean add (an add in the
# same plain statements); `make test` builds them too, so they keep compiling.
BENCH_BIN := app/build/bench/lean_add app/build/bench/lean_reserve

.PHONY: all deps build web install run stop test test-unit test-valgrind test-asan test-faults test-cluster test-fresh fuzz bench bench-cluster clean

all: build web

deps:
	@deploy/install-deps

build: $(BIN)

# Every compile and link runs after deps (order-only: it installs what is
# missing, and is quick when nothing is), so `make -j` cannot race it.
$(BIN): $(OBJ) app/build/obj/main.o | deps
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

app/build/obj/%.o: app/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(INC) -c -o $@ $<

# Sanitizers replace the hardening flags (FORTIFY and ASan do not mix).
$(SAN_BIN): $(SAN_OBJ) app/build/san/main.o | deps
	$(CC) $(SAN) -o $@ $^ $(LIBS)

app/build/san/%.o: app/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $(WARN) $(DEPFLAGS) $(INC) -c -o $@ $<

app/build/unit/%: tests/unit/%.c $(SAN_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $(WARN) $(DEPFLAGS) $(INC) -o $@ $< $(SAN_OBJ) $(LIBS) -lcmocka

app/build/unit-plain/%: tests/unit/%.c $(OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(INC) $(LDFLAGS) -o $@ $< $(OBJ) $(LIBS) -lcmocka

app/build/tools/%: tests/tools/%.c $(OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(INC) $(LDFLAGS) -o $@ $< $(OBJ) $(LIBS)

-include $(wildcard app/build/*/*.d app/build/*/*/*.d)
app/build/obj/core/version.o app/build/san/core/version.o: VERSION

# The shop's side (app/web): the React demo page's bundle, from the pinned
# npm packages (esbuild, react); build output is never committed.
WEB_SRC := $(wildcard app/web/*.js app/web/demo/*.jsx)
web: app/web/build/react-shop.js

app/web/node_modules/.stockd-lock: app/web/package-lock.json | deps
	cd app/web && npm ci --no-audit --no-fund --loglevel=error
	cp app/web/package-lock.json $@

app/web/build/react-shop.js: app/web/node_modules/.stockd-lock $(WEB_SRC)
	cd app/web && npm run --silent build -- --log-level=warning

# A real server: binary, units, nginx site, logrotate (docs/operations.md).
install: build
	deploy/install

run: deps build web
	deploy/stack run var

stop:
	deploy/stack stop var

test: deps build web $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN)
	tests/run-all

test-unit: $(UNIT_BIN)
	tests/run-unit

test-valgrind: $(PLAIN_UNIT_BIN)
	UNIT_DIR=app/build/unit-plain UNIT_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" tests/run-unit

test-asan: deps build $(SAN_BIN) $(UNIT_BIN) $(TOOL_BIN)
	ASAN_OPTIONS=allocator_may_return_null=1 FUZZ_SECONDS=0 STOCKD_BIN=$(CURDIR)/$(SAN_BIN) tests/run-all

# Fault injection on a throwaway stack (also part of `make test`).
test-faults: deps build $(TOOL_BIN)
	tests/faults/run

# Issue 12's test bed: a 3-node MariaDB Galera cluster and two app hosts in
# network namespaces behind one nginx, then the cluster scenarios
# (tests/cluster/README.md). Needs root. galera-4, rsync (the SST) and
# iproute2 (namespaces, veths, the bridge). Not part of `make test` or .ci/run.
test-cluster: deps build
	deploy/install-deps galera-4 rsync iproute2
	tests/cluster/run

# Issue 12's figures (docs/scaling.md): add-with-hold on 1 and 2 app hosts over
# a single MariaDB and over the 3-node Galera bed of tests/cluster, single and
# multi writer, and a node partitioned under load (bench/cluster, about 10
# minutes; DURATION, PASSES, WRITE_DOC=0). Needs root; not part of make bench.
bench-cluster: deps build
	deploy/install-deps galera-4 rsync iproute2
	bench/cluster

# The README's commands on a fresh Debian 12 root (debootstrap), from a clean
# clone of HEAD: the first `make run` serves, the first `make test` is green.
# Slow (installs everything twice); not part of `make test` or .ci/run.
test-fresh:
	@command -v debootstrap >/dev/null || deploy/install-deps debootstrap
	tests/fresh/run

# libFuzzer on every parser (tests/fuzz/); FUZZ_SECONDS=5 make fuzz for a quick look.
fuzz: deps
	tests/fuzz/run

app/build/bench/%: bench/baseline/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(INC) $(LDFLAGS) -o $@ $< $(LIBS)

# make bench: the ratios against the lean path (bench/run), the WORKERS curve
# (bench/curve) and how it grows (bench/scale), each on its own throwaway
# stack; BENCH_ONLY=ratios|curve|scale runs one. bench/explain (not part of
# make bench) lists the statements and handler calls of one add and one reserve.
BENCH_ONLY ?=
bench: deps build $(BENCH_BIN)
	deploy/install-deps php8.2-fpm php8.2-mysql
	@case "$(BENCH_ONLY)" in ""|ratios|curve|scale) ;; *) echo "BENCH_ONLY must be ratios, curve or scale" >&2; exit 2 ;; esac
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = ratios ]; then bench/run; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = curve ]; then bench/curve; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = scale ]; then bench/scale; fi

clean:
	rm -rf app/build app/web/build
