/*
** report.h: how uncaught errors reach the operator. One format everywhere:
**   greenlua: [green thread N: ]<message>
**   stack traceback: ...
** The message is the error itself if it is a string or number, its
** __tostring if it has one that returns a string, else "(error object is a
** T value)". Formatting runs under lua_pcall, as lua.c's message handler
** runs inside the error machinery: an error object whose __tostring raises,
** yields or runs out of memory is reported by its type, and never takes the
** process (the hub) down with it.
*/
#ifndef GL_REPORT_H
#define GL_REPORT_H

#include <lua.h>

typedef struct gl_thread gl_thread;

/* Print the error on top of L (left there) with co's traceback (co may be
** NULL: no traceback). 't' is the thread it ended, or NULL for errors
** outside any green thread. */
void gl_report(lua_State *L, lua_State *co, gl_thread *t);

/* Print "greenlua: <prefix><message>" for the error at 'idx' of L, with no
** traceback, formatted as gl_report does. */
void gl_report_message(lua_State *L, int idx, const char *prefix);

/* Is the value at 'idx' of L green.GreenThreadExit? */
int gl_is_exit(lua_State *L, int idx);

#endif
