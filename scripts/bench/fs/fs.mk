# make bench-fs: green.fs against io, 100 MB written then read in 4 KiB
# pieces, in one greenlua run, FS_BENCH_ROUNDS rounds interleaved, medians
# and the ratio (green.fs time / io time). Included by the top Makefile.
# The file goes to FS_BENCH_DIR (default $TMPDIR or /tmp): a tmpfs there
# measures the code, a disk measures the disk.
FS_BENCH_MB ?= 100
FS_BENCH_ROUNDS ?= 5
FS_BENCH_DIR ?= $(or $(TMPDIR),/tmp)

.PHONY: bench-fs
bench-fs: build/greenlua
	build/greenlua scripts/bench/fs/fs.lua $(FS_BENCH_MB) $(FS_BENCH_ROUNDS) $(FS_BENCH_DIR)
