/*
** testhooks.h: hooks for the specs, not for scripts: they are reachable
** only through the internal table (see embedded.h), never through
** require "green.core".
**   fail_allocations(on): while on, every Lua allocation that needs more
**     memory fails, as if memory had run out (frees and shrinks work).
**     The specs use it to make the hub run out of memory at a chosen spot.
**   check_timers(): true, or raises naming the broken timer invariant
**     (gl_timers_check).
*/
#ifndef GL_TESTHOOKS_H
#define GL_TESTHOOKS_H

#include <lua.h>

/* Add the hooks to the table on top of L. */
void gl_open_testhooks(lua_State *L);

#endif
