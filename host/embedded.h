/*
** embedded.h: the Lua half (the .lua files under lib/green), compiled into the binary by
** vendor/embed.lua, and the "green.core" C module it builds on.
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

#endif
