/*
** embedded.h: the Lua half (the .lua files under lib/green), compiled into the binary by
** vendor/embed.lua, and the "green.core" C module it builds on.
**
** green.core is what any script may require. What only the Lua half may
** use (hooks into the hub: set_link_runner, extra, finished, on_exit, the
** GreenThread method table, the specs' test hooks) is in a second table,
** the internal one, handed to every embedded module's chunk as its second
** argument:  local internal = select(2, ...)
** A script cannot require it; only the debug library reaches it (as an
** upvalue of the embedded modules' package.preload loaders), as it reaches
** anything. A C part adds its own private functions with gl_push_internal.
*/
#ifndef GL_EMBEDDED_H
#define GL_EMBEDDED_H

#include <stddef.h>
#include <lua.h>

typedef struct gl_source {
  const char *module;     /* "green", "green.boot", ... */
  const char *chunkname;  /* "@lib/green/init.lua": what tracebacks show */
  const char *text;
  size_t len;
} gl_source;

extern const gl_source gl_sources[];

/* Register green.core and every embedded module in package.preload, then
** run green.boot (yieldable require, coroutine pass-through). */
void gl_open_lualib(lua_State *L);

/* Push the internal table (see above). Valid once gl_open_lualib began. */
void gl_push_internal(lua_State *L);

#endif
