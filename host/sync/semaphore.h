/*
** semaphore.h: green.Semaphore and BoundedSemaphore. Opened as part of
** "green.core" as core.Semaphore(n) and core.BoundedSemaphore(n).
**   sem:acquire([blocking [, timeout]]) -> true, or false (non-blocking or
**                                          timed out)
**   sem:release()   hands the permit to the longest waiter; a bounded one
**                   raises past its initial value
**   sem:locked(), sem:counter(), sem:balance() (counter minus waiters)
** A waiter interrupted after it was handed a permit passes it on, so no
** permit is ever lost.
*/
#ifndef GL_SEMAPHORE_H
#define GL_SEMAPHORE_H

#include <lua.h>

void gl_open_semaphore(lua_State *L);

#endif
