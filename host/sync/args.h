/*
** args.h: argument checks for the synchronisation primitives that name the
** function the user called ("bad argument #1 to 'put' (Queue expected, got
** FILE*)"), whatever way it was called.
**
** luaL_argerror names the function from the call site, and when there is
** none (pcall(q.put, ...), a metamethod called from C) it searches
** package.loaded and may come up with "?" or an internal path such as
** "green.core.Queue". These take the name from the caller instead. As in
** luaL_argerror, a call with ':' does not count 'self': q:resize(2.5) is
** argument #1 of 'resize'.
**
** Numbers follow luaL_checkinteger/luaL_checknumber: integral floats and
** numeric strings are accepted, 2.5 raises "number has no integer
** representation".
*/
#ifndef GL_SYNC_ARGS_H
#define GL_SYNC_ARGS_H

#include <lua.h>

/* The sync object at 'arg', or NULL: a full userdata of 'size' bytes that
** starts with 'tag', the address of a static string naming its type.
** Cheaper than a metatable check (no stack traffic: a third of the cost of
** a queue hop went there), and the type lives in the object itself, so
** even debug.setmetatable cannot pass another userdata off as this one.
** Only C code can write a userdata's bytes. */
static inline void *gl_sync_test(lua_State *L, int arg, const char *tag, size_t size) {
  const char **p = lua_touserdata(L, arg);   /* light userdata: rawlen 0 */
  return p != NULL && lua_rawlen(L, arg) == size && *p == tag ? p : NULL;
}

/* Raise "bad argument #arg to 'fname' (msg)". */
int gl_sync_argerror(lua_State *L, int arg, const char *fname, const char *msg);

/* Raise "bad argument #arg to 'fname' (tname expected, got <its type>)". */
int gl_sync_typeerror(lua_State *L, int arg, const char *fname, const char *tname);

lua_Integer gl_sync_checkinteger(lua_State *L, int arg, const char *fname);
lua_Integer gl_sync_optinteger(lua_State *L, int arg, const char *fname, lua_Integer def);

/* A timeout in seconds: none or nil -> -1 (no deadline); a number > 0 ->
** itself, except +inf -> -1 (a deadline that can never come arms no timer,
** so deadlock detection still sees the wait); 0 or negative -> 0
** (expires at once, as the hub's own timeouts do); NaN raises. */
double gl_sync_opttimeout(lua_State *L, int arg, const char *fname);

#endif
