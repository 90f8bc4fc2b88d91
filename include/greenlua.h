/*
** greenlua.h: for C modules that run under greenlua (and still under plain
** Lua). One call, greenlua_wait, waits until a file descriptor is ready:
** under greenlua only the calling green thread waits (the others run);
** under plain Lua (or from a place greenlua cannot switch from) it is a
** blocking poll(). Header-only: nothing of greenlua is linked, the wait is
** the Lua function greenlua puts in the registry as "greenlua.wait"
** (green.hub.wait's), called with lua_callk.
**
**   int greenlua_wait(lua_State *L, int fd, const char *mode, double timeout,
**                     lua_KContext ctx, lua_KFunction k);
**
** mode: "r", "w" or "rw"; timeout: seconds, < 0 for none. Call it as the
** last thing of a lua_CFunction (return greenlua_wait(...)): it continues in
** k(L, status, ctx) with two values pushed on top of the stack the function
** had: the ready mode ("r", "w", "rw") and nil, or nil and "timeout" /
** "closed". Under greenlua k runs after the green thread is resumed (the C
** stack is gone then: keep state on the Lua stack or in ctx), so k must be
** the whole rest of the function; under plain Lua k is called directly.
** A second thread waiting on the same fd in the same direction raises.
**
** Example (scripts/examples/pipewait/pipewait.c):
**   static int read_k(lua_State *L, int status, lua_KContext ctx) {
**     if (lua_isnil(L, -2)) return 2;            // nil, "timeout"
**     lua_pop(L, 2);
**     ... read(fd, ...) now, push the result ...
**   }
**   static int l_read(lua_State *L) {
**     ... if read() would block:
**     return greenlua_wait(L, fd, "r", timeout, 0, read_k);
**   }
*/
#ifndef GREENLUA_H
#define GREENLUA_H

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <lua.h>

#define GREENLUA_WAIT_KEY "greenlua.wait"

/* Is a green wait available here (greenlua, in a place that can yield)? */
static inline int greenlua_can_wait(lua_State *L) {
  int ok = lua_getfield(L, LUA_REGISTRYINDEX, GREENLUA_WAIT_KEY) == LUA_TFUNCTION;
  lua_pop(L, 1);
  return ok && lua_isyieldable(L);
}

static inline int greenlua_wait(lua_State *L, int fd, const char *mode, double timeout,
                                lua_KContext ctx, lua_KFunction k) {
  if (greenlua_can_wait(L)) {
    lua_getfield(L, LUA_REGISTRYINDEX, GREENLUA_WAIT_KEY);
    lua_pushinteger(L, fd);
    lua_pushstring(L, mode);
    if (timeout < 0) lua_pushnil(L);
    else lua_pushnumber(L, timeout);
    lua_callk(L, 3, 2, ctx, k);
    return k(L, LUA_OK, ctx);
  }
  /* plain Lua: a blocking poll() with the same results */
  struct pollfd p;
  p.fd = fd;
  p.events = (short)((strchr(mode, 'r') ? POLLIN : 0) | (strchr(mode, 'w') ? POLLOUT : 0));
  p.revents = 0;
  int ms = timeout < 0 ? -1 : timeout > 2147483.0 ? 2147483647 : (int)(timeout * 1000.0);
  int r;
  do r = poll(&p, 1, ms); while (r < 0 && errno == EINTR);
  if (r > 0 && !(p.revents & POLLNVAL)) {
    int rd = (p.revents & (POLLIN | POLLHUP | POLLERR)) && (p.events & POLLIN);
    int wr = (p.revents & (POLLOUT | POLLHUP | POLLERR)) && (p.events & POLLOUT);
    lua_pushstring(L, rd && wr ? "rw" : rd ? "r" : "w");
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, r == 0 ? "timeout" : "closed");
  }
  return k(L, LUA_OK, ctx);
}

#endif
