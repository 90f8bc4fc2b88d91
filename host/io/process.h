/*
** process.h: child processes (process.c) and signals (signal.c), the C
** half of green.process and green.signal. See the two .c files' headers
** for their contracts.
*/
#ifndef GL_PROCESS_H
#define GL_PROCESS_H

#include <lua.h>

/* The signal number named at 'idx' for the function 'fname': a name with
** or without "SIG" ("TERM", "SIGTERM") or a positive integer; raises
** "bad argument #idx to 'fname' (...)" for anything else. */
int gl_check_signal(lua_State *L, int idx, const char *fname);

/* The short name of a signal ("TERM"), or NULL if it has none here. */
const char *gl_signal_name(int sig);

/* Push the name of 'sig' ("TERM"), or its number as a string. */
void gl_push_signal_name(lua_State *L, int sig);

void gl_open_process_lib(lua_State *L);
void gl_open_signal(lua_State *L);

#endif
