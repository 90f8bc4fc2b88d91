/*
** report.h: how uncaught errors reach the operator. One format everywhere:
**   greenlua: [green thread N: ]<message>
**   stack traceback: ...
** The message is the error itself if it is a string or number, its
** __tostring if it has one, else "(error object is a T value)".
*/
#ifndef GL_REPORT_H
#define GL_REPORT_H

#include <lua.h>

typedef struct gl_thread gl_thread;

/* Print the error on top of 'co' (left there) with co's traceback. 't' is
** the thread it ended, or NULL for errors outside any green thread. */
void gl_report(lua_State *L, lua_State *co, gl_thread *t);

/* Push a printable message for the error at 'idx' of L. */
const char *gl_error_message(lua_State *L, int idx);

/* Is the value at 'idx' of L green.GreenThreadExit? */
int gl_is_exit(lua_State *L, int idx);

#endif
