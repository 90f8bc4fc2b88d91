# greenlua: `make run` builds and runs the demo, `make test` runs every test.
# Everything comes from Debian packages, found with pkg-config.

PREFIX ?= /usr/local
CC ?= cc
PKGS := lua5.4 libuv openssl libedit
DEBS := build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libssl-dev libedit-dev lua-busted \
        netcat-openbsd socat curl openssl tmux hyperfine time python3 procps

CFLAGS ?= -O2 -g -DNDEBUG
WARN := -Wall -Wextra
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Lua is linked statically and its symbols exported (-Wl,-E), as Debian's own
# lua5.4 does: calls into it skip the shared library's PLT (10-15% on the hot
# paths), and C modules such as busted's load against the same copy.
# OpenSSL is linked statically too: loading and relocating the shared
# libcrypto doubled the start-up time. The price: after a Debian OpenSSL
# security update, rebuild (make clean all).
LIBDIR = $(shell pkg-config --variable=libdir lua5.4 2>/dev/null)
DEPLIBS = -Wl,-E $(LIBDIR)/liblua5.4.a $(LIBDIR)/libssl.a $(LIBDIR)/libcrypto.a \
  $(shell pkg-config --libs libuv libedit 2>/dev/null) -lm -ldl -lpthread

SRC := $(wildcard host/*.c host/*/*.c)
LIB := $(wildcard lib/green/*.lua)
HDR := $(wildcard host/*.h host/*/*.h)

.PHONY: all deps run demo test sanitize bench install clean

all: build/greenlua

# Install whatever Debian packages are missing (as root), or say how to.
deps: build/.deps
build/.deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p build && touch $@

build/lualib_data.c: vendor/embed.lua $(LIB) | build/.deps
	lua5.4 vendor/embed.lua $@ $(LIB)

build/greenlua: $(SRC) $(HDR) build/lualib_data.c Makefile | build/.deps
	$(CC) $(CFLAGS) $(WARN) -iquote host $(DEPCFLAGS) -o $@ $(SRC) build/lualib_data.c $(DEPLIBS)

build/greenlua-asan: $(SRC) $(HDR) build/lualib_data.c Makefile | build/.deps
	$(CC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  $(WARN) -iquote host $(DEPCFLAGS) -o $@ $(SRC) build/lualib_data.c $(DEPLIBS)

run demo: build/greenlua
	build/greenlua scripts/demo.lua

test: build/greenlua
	@GREENLUA=build/greenlua sh spec/run.sh

sanitize: build/greenlua-asan
	@GREENLUA=build/greenlua-asan ASAN_OPTIONS=detect_leaks=1 sh spec/run.sh

bench: build/greenlua
	@sh scripts/bench/run.sh

install: build/greenlua
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 build/greenlua $(DESTDIR)$(PREFIX)/bin/greenlua

clean:
	rm -rf build
