# The LuaSocket benchmark (scripts/bench/luasocket/run.sh), included by the
# top Makefile: `make bench-luasocket` alone; `make bench` runs it first.
.PHONY: bench-luasocket
bench-luasocket: build/greenlua | $(STAMPS)/.deps-bench $(STAMPS)/.deps-test
	@sh scripts/bench/luasocket/run.sh
bench: bench-luasocket
