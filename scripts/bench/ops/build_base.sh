#!/bin/sh
# Build the baseline greenlua of make bench-ops: the tree at REV (git
# archive, so no worktree is touched) into build/base/REV/, with its own
# Makefile, sharing this tree's package stamps.
# usage: sh scripts/bench/ops/build_base.sh REV
set -e
rev=$1 dir=build/base/$1 stamps=$(pwd)/build
rm -rf "$dir"
mkdir -p "$dir/build"
git archive "$rev" | tar -x -C "$dir"
make -s -C "$dir" STAMPS="$stamps" build/greenlua
