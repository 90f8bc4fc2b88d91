# greenlua: `make run` builds and runs the demo, `make test` runs every test.
# Everything comes from Debian packages, found with pkg-config.

PREFIX ?= /usr/local
CC ?= cc
PKGS := lua5.4 libuv openssl libedit
# Debian packages: what building (and so `make run`) needs; what the specs
# need on top (make test, make sanitize); what the benchmarks need (make bench).
BUILD_DEBS := build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libssl-dev libedit-dev node-llhttp
TEST_DEBS := lua-busted netcat-openbsd socat curl openssl tmux time python3 procps wrk lua-socket lua-sec haproxy
BENCH_DEBS := hyperfine openssl procps wrk golang-go nodejs
# Where the "installed already" stamps go.
STAMPS ?= build

CFLAGS ?= -O2 -g -DNDEBUG
WARN := -Wall -Wextra
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Lua is linked statically and only its API exported (vendor/lua.dynlist,
# as Debian's own lua5.4 exports it): calls into it skip the shared
# library's PLT (10-15% on the hot paths), and C modules such as busted's
# load against the same copy. OpenSSL is the shared libssl/libcrypto, so a
# Debian security update reaches greenlua without a rebuild, and a C module
# that links libssl.so (LuaSec) shares that one copy: none of OpenSSL's
# symbols (nor greenlua's own gl_*) is exported from the binary.
LIBDIR = $(shell pkg-config --variable=libdir lua5.4 2>/dev/null)
DEPLIBS = -Wl,--dynamic-list=vendor/lua.dynlist $(LIBDIR)/liblua5.4.a \
  $(shell pkg-config --libs openssl libuv libedit 2>/dev/null) -lm -ldl -lpthread

# The HTTP parser: llhttp's C sources as Debian's node-llhttp ships them,
# compiled here (nothing of it is in the repository).
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
LLHTTP_OBJ := build/llhttp/llhttp.o build/llhttp/api.o build/llhttp/http.o

SRC := $(wildcard host/*.c host/*/*.c)
LIB := $(wildcard lib/green/*.lua)
HDR := $(wildcard host/*.h host/*/*.h)

.PHONY: all deps test-deps bench-deps run demo demo-tcp test sanitize soak bench install clean examples

all: build/greenlua

# Install the Debian packages in $(1) that are missing (as root), or say how
# to (anyone else), and stop.
install_missing = missing=""; \
  for p in $(1); do \
    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
  done; \
  if [ -n "$$missing" ]; then \
    if [ "$$(id -u)" = 0 ]; then \
      echo "installing:$$missing"; \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
    else \
      echo "missing Debian packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
    fi; \
  fi

deps: $(STAMPS)/.deps
test-deps: $(STAMPS)/.deps-test
bench-deps: $(STAMPS)/.deps-bench
$(STAMPS)/.deps: Makefile
	@$(call install_missing,$(BUILD_DEBS))
	@mkdir -p $(STAMPS) && touch $@
$(STAMPS)/.deps-test: | $(STAMPS)/.deps
	@$(call install_missing,$(TEST_DEBS))
	@touch $@
$(STAMPS)/.deps-bench: Makefile | $(STAMPS)/.deps
	@$(call install_missing,$(BENCH_DEBS))
	@touch $@

build/lualib_data.c: vendor/embed.lua $(LIB) | $(STAMPS)/.deps
	lua5.4 vendor/embed.lua $@ $(LIB)

build/llhttp/%.o: $(LLHTTP_DIR)/%.c Makefile | $(STAMPS)/.deps
	@mkdir -p build/llhttp
	$(CC) -O2 -g -DNDEBUG -I$(LLHTTP_INC) -c -o $@ $<

$(LLHTTP_DIR)/%.c:
	@echo "llhttp's C sources are missing from $(LLHTTP_DIR): install Debian's node-llhttp (or set LLHTTP_DIR)"; exit 1

build/greenlua: $(SRC) $(HDR) build/lualib_data.c $(LLHTTP_OBJ) vendor/lua.dynlist Makefile | $(STAMPS)/.deps
	$(CC) $(CFLAGS) $(WARN) -iquote host -I$(LLHTTP_INC) $(DEPCFLAGS) -o $@ $(SRC) build/lualib_data.c $(LLHTTP_OBJ) $(DEPLIBS)

build/greenlua-asan: $(SRC) $(HDR) build/lualib_data.c $(LLHTTP_OBJ) vendor/lua.dynlist Makefile | $(STAMPS)/.deps
	$(CC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow \
	  $(WARN) -iquote host -I$(LLHTTP_INC) $(DEPCFLAGS) -o $@ $(SRC) build/lualib_data.c $(LLHTTP_OBJ) $(DEPLIBS)

# C modules of scripts/examples/ that use include/greenlua.h (the green fd
# wait for C code): `make examples`; the specs need them.
EXAMPLES := build/examples/pipewait.so
examples: $(EXAMPLES)
build/examples/pipewait.so: scripts/examples/pipewait/pipewait.c include/greenlua.h | $(STAMPS)/.deps
	@mkdir -p build/examples
	$(CC) -O2 -g $(WARN) -fPIC -shared -Iinclude $(shell pkg-config --cflags lua5.4 2>/dev/null) -o $@ $<

# The demo needs the binary and nothing else: the web app (HTTP server,
# client, streaming, a backdoor session); demo-tcp is the first, TCP one.
run demo: build/greenlua
	build/greenlua scripts/demo_web.lua

demo-tcp: build/greenlua
	build/greenlua scripts/demo.lua

test: build/greenlua $(EXAMPLES) | $(STAMPS)/.deps-test
	@GREENLUA=build/greenlua sh spec/run.sh

sanitize: build/greenlua-asan $(EXAMPLES) | $(STAMPS)/.deps-test
	@GREENLUA=build/greenlua-asan ASAN_OPTIONS=detect_leaks=1 sh spec/run.sh

# Long runs kept out of `make test` (spec/soak/*_spec.lua; CI may run them).
soak: build/greenlua | $(STAMPS)/.deps-test
	@GREENLUA=build/greenlua PER_FILE_LIMIT=1200 sh spec/run.sh spec/soak/*_spec.lua

bench: build/greenlua | $(STAMPS)/.deps-bench
	@sh scripts/bench/run.sh

install: build/greenlua
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 build/greenlua $(DESTDIR)$(PREFIX)/bin/greenlua
	install -d $(DESTDIR)$(PREFIX)/include
	install -m 644 include/greenlua.h $(DESTDIR)$(PREFIX)/include/greenlua.h
	install -d $(DESTDIR)$(PREFIX)/share/doc/greenlua
	install -m 644 LICENSE NOTICE $(DESTDIR)$(PREFIX)/share/doc/greenlua/
	if [ -f /usr/share/doc/liblua5.4-dev/copyright ]; then \
	  install -m 644 /usr/share/doc/liblua5.4-dev/copyright $(DESTDIR)$(PREFIX)/share/doc/greenlua/LUA-COPYRIGHT; fi

clean:
	rm -rf build

# Issue 10's parts, each in its own file: LuaSocket's upstream suite
# (fetched before make test), and the benches of the green LuaSocket,
# processes and green.fs (make bench-luasocket, bench-process, bench-fs;
# make bench runs all three first).
include spec/luasocket_suite/suite.mk
include scripts/bench/luasocket/luasocket.mk scripts/bench/process/process.mk scripts/bench/fs/fs.mk
include scripts/bench/ops/ops.mk
bench: bench-process bench-fs bench-ops

# Issue 11: the watchdog's cost (make bench-watchdog, part of make bench).
include scripts/bench/watchdog/watchdog.mk
bench: bench-watchdog
# Issue 11, H4: `greenlua --workers 2` against one process (make bench-workers).
include scripts/bench/workers/workers.mk
bench: bench-workers
