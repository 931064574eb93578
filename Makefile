# stockd: `make run` to use it, `make test` to prove it. See README.md.
SHELL := /bin/bash

CC      := cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
INC     := -Iapp $(shell pkg-config --cflags libmariadb json-c 2>/dev/null)
LIBS    := -lfcgi $(shell pkg-config --libs libmariadb json-c 2>/dev/null)

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

# The bare C baseline `make bench` measures stockd against (docs/benchmarks.md);
# `make test` builds it too, so it keeps compiling.
BENCH_BIN := app/build/bench/bare_add

.PHONY: all deps build install run stop test test-unit test-valgrind test-asan test-faults fuzz bench clean

all: build

deps:
	@deploy/install-deps

build: $(BIN)

$(BIN): $(OBJ) app/build/obj/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

app/build/obj/%.o: app/%.c $(wildcard app/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(INC) -c -o $@ $<

$(SAN_BIN): $(SAN_OBJ) app/build/san/main.o
	$(CC) $(SAN) -o $@ $^ $(LIBS)

app/build/san/%.o: app/%.c $(wildcard app/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $(WARN) $(INC) -c -o $@ $<

app/build/unit/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $(WARN) $(INC) -o $@ $< $(SAN_OBJ) $(LIBS) -lcmocka

app/build/unit-plain/%: tests/unit/%.c $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(INC) -o $@ $< $(OBJ) $(LIBS) -lcmocka

app/build/tools/%: tests/tools/%.c $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(INC) -o $@ $< $(OBJ) $(LIBS)

# A real server: binary, units, nginx site, logrotate (docs/operations.md).
install: build
	deploy/install

run: deps build
	deploy/stack run var

stop:
	deploy/stack stop var

test: deps build $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN)
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

# libFuzzer on every parser (tests/fuzz/); FUZZ_SECONDS=5 make fuzz for a quick look.
fuzz: deps
	tests/fuzz/run

app/build/bench/bare_add: bench/baseline/bare_add.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(INC) -o $@ $< $(LIBS)

bench: deps build $(BENCH_BIN)
	deploy/install-deps php8.2-fpm php8.2-mysql
	bench/run

clean:
	rm -rf app/build
