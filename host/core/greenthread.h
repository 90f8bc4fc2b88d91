/*
** greenthread.h: the Lua face of green threads: spawn, sleep, kill, the
** GreenThread methods, introspection. Opened as part of "green.core".
*/
#ifndef GL_GREENTHREAD_H
#define GL_GREENTHREAD_H

#include <lua.h>

/* Add the green-thread functions to the table on top of L (green.core),
** the Lua half's private ones (extra, set_link_runner, finished, on_exit,
** the GreenThread method table) to the internal table at 'internal', and
** create the GreenThread metatable and green.GreenThreadExit. */
void gl_open_greenthread(lua_State *L, int internal);

/* threads(): push an array of every live GreenThread (making handles for
** those that had none: allocates). Returns 1. */
int gl_threads(lua_State *L);

#endif
