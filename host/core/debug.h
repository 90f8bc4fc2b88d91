/*
** debug.h: seeing inside a live process (green.debug's C half): thread
** headers, the dump, SIGQUIT, top()'s sampling. See debug.c.
*/
#ifndef GL_DEBUG_H
#define GL_DEBUG_H

#include <lua.h>
#include "core/hub.h"

/* Push the header line of the thread 'h':
**   green thread 12 (main) "worker" [blocked in Queue:get, 3.2 s]
** Allocates. */
void gl_debug_push_header(lua_State *L, gl_handle *h);

/* Push the dump: every live thread, in id order, its header and a colon,
** its traceback, a blank line. Allocates (call it protected). */
void gl_debug_push_dump(lua_State *L);

/* Install the SIGQUIT handler (the hub's loop must exist); and undo it. */
void gl_debug_open(void);
void gl_debug_close(void);

/* Add debug_dump, debug_header, debug_cpu, debug_sample to the table on
** top of L (green.core). */
void gl_open_debug(lua_State *L);

#endif
