# The watchdog's cost (scripts/bench/watchdog/): included by the Makefile.
#   make bench-watchdog   switch, spawn and HTTP hello, GREENLUA_WATCHDOG=1 vs off
# (ROUNDS=5 by default; HTTP=0 skips the HTTP row).
.PHONY: bench-watchdog
bench-watchdog: build/greenlua
	@sh scripts/bench/watchdog/run.sh
