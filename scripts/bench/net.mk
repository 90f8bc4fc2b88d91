# The C side of the network benchmarks: run.sh runs
#   make -f scripts/bench/net.mk
# from the top of the repository. Builds into build/bench-bin/.
CC ?= cc
NB_DIR := scripts/bench
NB_OUT := build/bench-bin
NB_PKGS := libuv openssl
NB_CFLAGS := -std=c99 -O2 -g -Wall -Wextra -Wno-unused-parameter $(shell pkg-config --cflags $(NB_PKGS))
NB_LIBS := $(shell pkg-config --libs $(NB_PKGS))

.PHONY: all
all: $(NB_OUT)/echo_client $(NB_OUT)/echo_server

$(NB_OUT)/%: $(NB_DIR)/%.c $(NB_DIR)/netbench.h $(NB_DIR)/net.mk
	@mkdir -p $(NB_OUT)
	$(CC) $(NB_CFLAGS) -o $@ $< $(NB_LIBS)
