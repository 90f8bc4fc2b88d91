/*
** coro.h: coroutine.resume, wrap, yield, isyieldable, running and close,
** replaced so that a script's own coroutines may block (the switch to the
** hub passes through them) and a green thread's coroutine stays the hub's:
**  - resuming or closing another green thread's coroutine, or a script's
**    coroutine while it is blocked in the hub, raises;
**  - inside a green thread (outside any coroutine of its own) the code is
**    a main chunk: yield raises "attempt to yield from outside a
**    coroutine", isyieldable() is false, running() says it is the main one;
**  - an error the hub injects (kill, a Timeout, Ctrl-C) into a thread
**    blocked inside its own coroutine closes that coroutine and goes on
**    unwinding the green thread: resume does not return it.
*/
#ifndef GL_CORO_H
#define GL_CORO_H

#include <lua.h>

/* Replace the functions in the global 'coroutine' table. */
void gl_open_coroutines(lua_State *L);

#endif
