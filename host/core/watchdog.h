/*
** watchdog.h: the stall watchdog (green.debug.watchdog, GREENLUA_WATCHDOG).
**
** Contract:
**  - core.watchdog{threshold = seconds > 0, action = "report" | "error"}
**    turns it on (or changes its settings), core.watchdog(false) off; both
**    return true. Misuse raises naming 'watchdog'. If the OS thread cannot
**    be started: nil, err. GREENLUA_WATCHDOG=seconds turns it on at start-up
**    (an empty value leaves it off; anything but a number > 0 is an error
**    at start-up).
**  - An OS thread ticks (about threshold/8, 5..100 ms). When the hub's
**    switch count has not moved for 'threshold' while a green thread runs,
**    it sends the hub's thread GL_WATCHDOG_SIGNAL (pthread_kill). The
**    handler (on the hub's thread: lua_sethook is async-signal-safe, the
**    rest are plain loads and stores) arms a count-1 + return hook on the
**    innermost running state (coro.c keeps gl_inner_co), unless a hook is
**    set there already (a user's debug.sethook, Ctrl-C's): that is left
**    alone. The hook, at the culprit's next instruction, removes itself and
**    reports on stderr:
**      greenlua: watchdog: green thread 7 "name" has run 1.2 s without yielding, at f.lua:12
**    or, with action "error", raises "f.lua:12: watchdog: green thread 7 has
**    run 1.2 s without yielding" in it instead.
**  - If the hook has not fired within GRACE (0.2 s: the culprit is inside a
**    C function, or it carries another hook), the watchdog thread reports
**    itself, during the stall ("..., inside a C function"); the hook then
**    names the C function when it returns ("was in C function os.execute
**    for 2.1 s"), and with "error" raises there.
**  - One report per stall (per value of the switch count), however long it
**    lasts; a workload that keeps switching is never reported. Between
**    stalls no hook is armed.
**  - The hub's side costs nothing more than two relaxed atomic stores per
**    switch (hub.c run()) and one save/restore per coroutine resume.
*/
#ifndef GL_WATCHDOG_H
#define GL_WATCHDOG_H

#include <lua.h>

/* The signal the watchdog thread sends the hub's thread. */
#define GL_WATCHDOG_SIGNAL (SIGRTMIN + 3)

/* The innermost script coroutine the hub's thread is running right now
** (set around lua_resume by coro.c), NULL when it runs a green thread's
** own coroutine. Written with relaxed atomic stores: read by the signal
** handler on the same thread. */
extern lua_State *gl_inner_co;

/* Register core.watchdog in the table on top of L and read
** GREENLUA_WATCHDOG (raises if it is invalid). On the hub's thread,
** after the standard libraries are open (it notes their C functions'
** names for the reports) and before green.patch replaces any. */
void gl_open_watchdog(lua_State *L);

#endif
