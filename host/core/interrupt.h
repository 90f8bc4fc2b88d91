/*
** interrupt.h: the process-wide events a script cannot see coming.
**  - Ctrl-C (SIGINT) raises "interrupted!" in the running green thread if
**    one is running (a hook: lua_sethook is safe in a signal handler), and
**    in the main green thread otherwise (uv_async_send is async-signal-safe
**    and wakes the hub). A second SIGINT before the first is handled ends
**    the process, so a program stuck in C can still be stopped.
**  - os.exit(code, true) in a green thread closes the to-be-closed
**    variables of that thread and of the main thread before the state, as
**    lua closes its main chunk's.
*/
#ifndef GL_PROCESS_H
#define GL_PROCESS_H

#include <lua.h>

/* Note a SIGINT that comes before the hub is ready (first thing in main). */
void gl_catch_early_sigint(void);

/* Install the SIGINT handler and replace os.exit. After gl_hub_open. */
void gl_open_process(lua_State *L);

/* Called by the hub after each switch: 1 if os.exit asked to end the
** process (the exit status is in *status); the hub then closes the
** threads' variables and returns. */
int gl_exit_requested(int *status);

#endif
