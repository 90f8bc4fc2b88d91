/*
** embedded.c: package.preload entries for green.core and the embedded Lua
** modules.
*/
#include <string.h>
#include <lauxlib.h>
#include "embedded.h"
#include "core/greenthread.h"
#include "core/coro.h"
#include "core/testhooks.h"
#include "core/watchdog.h"
#include "sync/timeout.h"
#include "sync/waitq.h"
#include "console/console.h"
#include "sync/queue.h"
#include "sync/event.h"
#include "sync/semaphore.h"
#include "io/socket.h"
#include "io/tls.h"
#include "io/fdwait.h"
#include "luasocket/lsock.h"
#include "io/fs.h"
#include "io/process.h"
#include "http/http.h"
#include "workers/workers.h"
#include "version.h"

static int internal_ref = LUA_NOREF;

void gl_push_internal(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, internal_ref);
}

static int open_core(lua_State *L) {
  gl_push_internal(L);
  int internal = lua_gettop(L);
  lua_newtable(L);
  gl_open_greenthread(L, internal);
  lua_pushvalue(L, internal);
  gl_open_testhooks(L);
  lua_pop(L, 1);
  gl_open_timeout(L);
  gl_open_waitq(L);
  gl_open_console(L);
  gl_open_queue(L);
  gl_open_event(L);
  gl_open_semaphore(L);
  gl_open_socket(L);
  gl_open_net(L);
  gl_open_worker(L);
  gl_open_udp(L);
  gl_open_tls(L);
  gl_open_fdwait(L);
  gl_open_fs(L);
  gl_open_x509(L);
  gl_open_process_lib(L);
  gl_open_signal(L);
  gl_open_watchdog(L);
  gl_open_http_parser(L);
  gl_open_http_respond(L);
  gl_open_http_proxy(L);
  lua_pushliteral(L, GREENLUA_VERSION);
  lua_setfield(L, -2, "VERSION");
  return 1;
}

/* preload loader for an embedded module; upvalue 1: its gl_source,
** upvalue 2: the internal table, which the chunk gets as its second
** argument (local core, internal = ..., see embedded.h). */
static int load_embedded(lua_State *L) {
  const gl_source *src = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, src->text, src->len, src->chunkname) != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, src->module);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_call(L, 2, 1);
  return 1;
}

void gl_open_lualib(lua_State *L) {
  lua_newtable(L);
  /* the green socket.core and socket.unix, for green.patch's preload */
  lua_pushcfunction(L, luaopen_greenlua_socket_core);
  lua_setfield(L, -2, "luaopen_socket_core");
  lua_pushcfunction(L, luaopen_greenlua_socket_unix);
  lua_setfield(L, -2, "luaopen_socket_unix");
  internal_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  /* green.core is opened now: the hub's metatables must exist before any
  ** thread runs, whether or not a script requires "green". */
  luaL_requiref(L, "green.core", open_core, 0);
  lua_pop(L, 1);
  for (const gl_source *src = gl_sources; src->module; src++) {
    lua_pushlightuserdata(L, (void *)src);
    gl_push_internal(L);
    lua_pushcclosure(L, load_embedded, 2);
    lua_setfield(L, -2, src->module);
  }
  lua_pop(L, 1);
  gl_open_coroutines(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "green.boot");
  lua_call(L, 1, 0);
}
