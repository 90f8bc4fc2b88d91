#!/bin/sh
# Fetch LuaSocket's upstream test suite (its test/ directory) from Debian's
# source package, at test time; nothing of it is committed. Uses a private
# apt configuration under build/ (the machine needs no deb-src line): the
# lists and the downloaded files stay in build/luasocket-src/.
#   usage: sh spec/luasocket_suite/fetch.sh     (from the top of the repository)
# On success build/luasocket-src/test/ holds the suite and the stamp
# build/luasocket-src/.fetched exists; a failure says why and exits 1 (the
# spec then fails loudly: it never skips).
# Knobs: LUASOCKET_SRC_URL (deb.debian.org/debian), LUASOCKET_SRC_SUITE
# (bookworm: the Debian release whose lua-socket 3.1.0 this is).
set -u
cd "$(dirname "$0")/../.." || exit 1
D=build/luasocket-src
URL=${LUASOCKET_SRC_URL:-http://deb.debian.org/debian}
SUITE=${LUASOCKET_SRC_SUITE:-bookworm}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
VERSION=3.1.0

[ -f "$D/.fetched" ] && [ -d "$D/test" ] && exit 0
mkdir -p "$D/apt-lists/partial" "$D/apt-cache/archives/partial" "$D/dl"
D_ABS=$(cd "$D" && pwd)
if [ -r "$KEYRING" ]; then signed="[signed-by=$KEYRING] "; else signed=""; fi
echo "deb-src ${signed}$URL $SUITE main" >"$D/src.list"

APT="-o Dir::Etc::SourceList=$D_ABS/src.list -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$D_ABS/apt-lists -o Dir::Cache=$D_ABS/apt-cache
 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq"
fail() {
  echo "luasocket_suite/fetch.sh: FAILED: $*" >&2
  echo "  (LuaSocket's upstream test suite comes from Debian's source package luasocket;" >&2
  echo "   it needs network access to $URL; see $D/fetch.log)" >&2
  exit 1
}

orig="luasocket_$VERSION.orig.tar.gz"
if [ ! -s "$D/dl/$orig" ]; then
  # shellcheck disable=SC2086  # APT is a list of words
  apt-get $APT update >"$D/fetch.log" 2>&1 || fail "apt-get update with $D/src.list"
  # The debian.tar.xz may be gone from the mirror (a newer Debian revision):
  # only the orig tarball matters, so apt's exit status is not trusted; the file is.
  (cd "$D/dl" && apt-get $APT source --download-only "luasocket=$VERSION-1" >>../fetch.log 2>&1) \
    || (cd "$D/dl" && apt-get $APT source --download-only luasocket >>../fetch.log 2>&1)
  [ -s "$D/dl/$orig" ] || fail "apt-get source --download-only luasocket did not bring $orig"
fi
rm -rf "$D/test" "$D/unpack"
mkdir -p "$D/unpack"
tar -xzf "$D/dl/$orig" -C "$D/unpack" "luasocket-$VERSION/test" >>"$D/fetch.log" 2>&1 \
  || fail "could not unpack test/ from $D/dl/$orig"
mv "$D/unpack/luasocket-$VERSION/test" "$D/test" && rm -rf "$D/unpack" || fail "could not move test/ into $D"
touch "$D/.fetched"
echo "luasocket_suite: LuaSocket $VERSION's test/ is in $D/test" >&2
