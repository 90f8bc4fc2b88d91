# LuaSocket's upstream test suite, included by the top Makefile: `make test`
# and `make sanitize` fetch it first (spec/luasocket_suite/fetch.sh, Debian's
# source package luasocket from deb.debian.org into build/luasocket-src/).
# A failed fetch does not stop make: spec/luasocket_suite_spec.lua then
# fails, loudly, saying why.
.PHONY: luasocket-suite
luasocket-suite: | $(STAMPS)/.deps-test
	-@sh spec/luasocket_suite/fetch.sh
test sanitize: luasocket-suite
