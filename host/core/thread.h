/*
** thread.h: the life cycle of a green thread (spawn.c, thread.c), as the
** scheduler (hub.c) drives it. Not for the rest of the host: hub.h is its
** interface.
**
**   spawn ----------> ready (or its timer armed: spawn_after)
**   spawn_n --------> a slot in the pending array, a GL_BATCH node ready
**   gl_start_pending: the next pending function becomes a thread
**   gl_prepare:       it gets a coroutine, its body and arguments
**   (hub.c runs it; it blocks and is woken any number of times)
**   gl_finish:        its function returned or raised: keep the results,
**                     close its variables, wake joiners, on_exit, links
**   (with links: it runs once more, with the link runner, then gl_finish)
**
** Where the hub allocates (and so can run out of memory): making a thread
** in gl_start_pending, a coroutine in gl_prepare, the results table in
** gl_finish (only for several results, kept for a handle), the link
** runner's anchor. Those raise; the hub then calls gl_fail_thread, which
** ends the thread with the error and allocates nothing. Everything else
** here allocates nothing.
*/
#ifndef GL_THREAD_H
#define GL_THREAD_H

#include "core/hub.h"

/* The next pending spawn_n becomes a thread, taken out of the ready queue
** to run at once, in the batch node's place. */
gl_thread *gl_start_pending(lua_State *L, gl_thread *batch);

/* ...or, if there is none left to start (the rest were killed before their
** turn and ran already), NULL. A thread without a handle (a spawn_n) leaves
** its body on top of L for gl_prepare. If it raises, gl_fail_pending. */
void gl_fail_pending(lua_State *L, gl_thread *batch);

/* Give 't' a coroutine with its body and arguments pushed: its function,
** the error it was killed with, or the link runner. Returns the number of
** arguments; its handle, if it has one, is left on top of L, at *ud (else
** *ud is 0), for gl_finish (or the caller pops it). */
int gl_prepare(lua_State *L, gl_thread *t, int *ud);

/* Its function ended with 'status' (results or the error on its stack).
** 'ud': where gl_prepare left its handle, or 0; popped. */
void gl_finish(lua_State *L, gl_thread *t, int status, int nres, int ud);

/* The hub ran out of memory (the error on top of L, popped) in one of the
** above for 't': end it with that error. */
void gl_fail_thread(lua_State *L, gl_thread *t);

/* kill for a thread that has not started and has no run-time state: see
** thread.c. */
int gl_kill_unstarted(lua_State *L, int ud);

/* greenthread.c's finished(...); free every run-time state (the end). */
int gl_finished(lua_State *L);
void gl_free_states(void);

/* Shared by thread.c and spawn.c. A run-time state from the free list (or
** malloc; NULL: out of memory) and back; a new handle with 'nuv'
** uservalues, pushed; the run-time state of the handle at 'idx', which has
** none, made and anchored (raises, having changed nothing); the end of a
** state (its slot, its handle's link); the exit hook, extra table and
** links of the handle at 'ud'. */
gl_thread *gl_new_state(void);
void gl_free_state(gl_thread *t);
gl_handle *gl_new_handle(lua_State *L, int nuv, lua_Integer id, unsigned flags);
gl_thread *gl_materialize_at(lua_State *L, int idx);
void gl_release(lua_State *L, gl_thread *t);
void gl_call_on_exit(lua_State *L, gl_handle *h, int ud);
void gl_drop_extra(lua_State *L, gl_handle *h, int ud);
int gl_has_links(lua_State *L, gl_handle *h, int ud);

/* From hub.c: queue 't' to run (at the head with 'front'), and make uv_run
** return if it is polling. The callback of every thread's own timer. */
void gl_ready(gl_thread *t, int front);
void gl_on_deadline(gl_timer *timer);

#endif
