# The HTTP benchmarks' servers and clients not written in Lua: run.sh runs
#   make -f scripts/bench/http/http.mk
# from the top of the repository. Everything goes to build/bench-bin/ (Go's
# cache and module path to build/go/, so nothing is written outside the
# tree; GOPROXY=off: the Go server uses the standard library only and
# nothing is downloaded). llhttp is compiled from Debian's node-llhttp
# sources where they are installed, never copied.
CC ?= cc
GO ?= go
HB_DIR := scripts/bench/http
HB_OUT := build/bench-bin
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
HB_PKGS := libuv openssl
HB_CFLAGS := -std=c99 -O2 -g -Wall -Wextra -Wno-unused-parameter -I$(LLHTTP_INC) \
  $(shell pkg-config --cflags $(HB_PKGS))
HB_LIBS := $(shell pkg-config --libs $(HB_PKGS))
LLHTTP_OBJ := $(addprefix $(HB_OUT)/llhttp-,llhttp.o api.o http.o)
GO_ENV := GOENV=off GOPROXY=off GOFLAGS= GO111MODULE=off CGO_ENABLED=0 \
  GOCACHE=$(abspath build/go/cache) GOPATH=$(abspath build/go/path) GOTMPDIR= HOME=$(abspath build/go)

.PHONY: all c go
.SECONDARY: $(LLHTTP_OBJ)
all: c go
c: $(HB_OUT)/hello_server $(HB_OUT)/http_idle
go: $(HB_OUT)/hello_go

$(HB_OUT)/llhttp-%.o: $(LLHTTP_SRC)/%.c $(LLHTTP_INC)/llhttp.h
	@mkdir -p $(HB_OUT)
	$(CC) -O2 -g -DNDEBUG -I$(LLHTTP_INC) -c -o $@ $<

$(HB_OUT)/%: $(HB_DIR)/%.c $(LLHTTP_OBJ) scripts/bench/netbench.h $(HB_DIR)/http.mk
	@mkdir -p $(HB_OUT)
	$(CC) $(HB_CFLAGS) -o $@ $< $(LLHTTP_OBJ) $(HB_LIBS)

$(HB_OUT)/hello_go: $(HB_DIR)/hello.go $(HB_DIR)/http.mk
	@mkdir -p $(HB_OUT) build/go
	$(GO_ENV) $(GO) build -trimpath -o $@ $(HB_DIR)/hello.go
