/*
** interrupt.h: the process-wide events a script cannot see coming.
**  - Ctrl-C (SIGINT) raises "interrupted!" once: in the green thread that
**    was running when it came, if that thread runs Lua code again before
**    it blocks (a hook: lua_sethook is safe in a signal handler), else in
**    the main green thread (uv_async_send is async-signal-safe and wakes
**    the hub). Code running inside a script's own coroutine is not hooked
**    (Lua's hooks are per coroutine; stock lua does the same): the signal
**    then reaches main once the thread blocks. A second SIGINT before the
**    first is delivered ends the process, so a program stuck in C (or in a
**    coroutine's loop) can still be stopped.
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
