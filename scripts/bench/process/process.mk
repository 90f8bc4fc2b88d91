# The process benchmark (scripts/bench/process/): included by the Makefile.
#   make bench-process   builds the C reference, then runs run.sh
# (N=1000 ROUNDS=5 by default; pass them on the command line).
PB_DIR := scripts/bench/process
PB_OUT := build/bench-bin

.PHONY: bench-process
bench-process: build/greenlua $(PB_OUT)/spawn_loop
	@N=$(or $(N),1000) ROUNDS=$(or $(ROUNDS),5) sh $(PB_DIR)/run.sh

$(PB_OUT)/spawn_loop: $(PB_DIR)/spawn_loop.c $(PB_DIR)/process.mk
	@mkdir -p $(PB_OUT)
	$(CC) -std=c99 -O2 -g -Wall -Wextra -D_POSIX_C_SOURCE=200809L -o $@ $<
