# make bench-ops: the cost of seeing inside (issue 11: names, status() with
# 'since' on every block, top()'s one branch per switch): the switch and
# spawn rows of make bench (scripts/bench/switch.lua, spawn.lua) with this
# tree's binary against a baseline built from BASE_REV (git archive into
# build/base/REV/, built there with its own Makefile), OPS_RUNS rounds
# interleaved, medians, ratio (this / base). Included by the top Makefile.
BASE_REV ?= 7b9af7d
OPS_RUNS ?= 7
OPS_SWITCHES ?= 1000000
OPS_SPAWNS ?= 1000000
BASE_BIN := build/base/$(BASE_REV)/build/greenlua

.PHONY: bench-ops
$(BASE_BIN):
	sh scripts/bench/ops/build_base.sh $(BASE_REV)

bench-ops: build/greenlua $(BASE_BIN)
	sh scripts/bench/ops/run.sh build/greenlua $(BASE_BIN) $(OPS_RUNS) $(OPS_SWITCHES) $(OPS_SPAWNS)
