# make bench-workers: HTTP hello world (scripts/bench/http/hello.lua,
# green.wsgi) under `wrk -t2 -c200` against `greenlua --workers 2` and
# against one greenlua process, WB_RUNS rounds interleaved, medians and the
# ratio. Included by the top Makefile; part of `make bench`.
WB_RUNS ?= 5
WB_SECONDS ?= 5
WB_WARMUP ?= 1

.PHONY: bench-workers
bench-workers: build/greenlua
	@RUNS=$(WB_RUNS) SECONDS_=$(WB_SECONDS) WARMUP=$(WB_WARMUP) sh scripts/bench/workers/run.sh
