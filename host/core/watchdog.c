/*
** watchdog.c: the stall watchdog. See watchdog.h for the contract.
**
** Three parties share the state in W.s, all through atomics:
**  - the watchdog thread (wd_main) sees the stall, writes which one
**    (stall_sw, stall_start), sets SIGNALED and sends the signal;
**  - the signal handler (on_signal), on the hub's thread, arms the hook
**    and moves SIGNALED to ARMED (or NOHOOK / GONE);
**  - the hook (on_hook), on the hub's thread, takes ARMED to HOOKED and
**    reports; if the watchdog thread took ARMED to CREPORTED first (the
**    grace expired: the culprit is in C), the hook adds the C function's
**    name instead. Exactly one of the two compare-exchanges wins.
** A hook that fires for an older stall (the switch count moved since)
** removes itself and says nothing.
*/
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/watchdog.h"

#define H gl_H
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

lua_State *gl_inner_co;

#define GRACE_NS 200000000ull  /* how long the hook may take before the thread reports */
#define MAX_THRESHOLD 1e6      /* seconds: larger is the same as never */

enum { IDLE, SIGNALED, ARMED, HOOKED, CREPORTED, NOHOOK, GONE, DONE };

static struct {
  /* settings and the thread; under 'mu' */
  uv_mutex_t mu;
  uv_cond_t cond;
  uv_thread_t thread;
  int running, stop;
  double threshold;
  int action_error;
  int signal_installed;
  pthread_t hub;                  /* the hub's own thread */
  int names_ref;                  /* registry: stock C function -> "lib.name" */
  /* shared with the handler and the hook (atomics) */
  struct {
    int enabled, state, action_error;
    unsigned long long stall_sw;  /* the switch count of the stall */
    uint64_t stall_start;         /* uv_hrtime when it was first seen */
    long long id;                 /* the culprit's id, noted by the handler */
    int ismain;                   /* ...and whether it is the main thread */
    char name[64];                /* ...and its name, copied by the handler ("" if none) */
    lua_State *co;                /* the state the hook was armed on */
  } s;
} W = { .names_ref = LUA_NOREF };

static double seconds_since(uint64_t start) {
  return (double)(uv_hrtime() - start) / 1e9;
}

/* --------------------------------------------------- on the hub thread */

/* Pushes gt.name of the running thread (nil if none, or if it raised). */
static int push_name(lua_State *L) {
  gl_push_thread(L, H.current);
  lua_getfield(L, -1, "name");
  return 1;
}

/* ' (main) "name"' (either part may be absent) into buf: as dump's
** header names a thread. */
static const char *name_part(lua_State *L, char *buf, size_t n) {
  buf[0] = '\0';
  if (H.current == NULL) return buf;
  if (H.current == H.main) snprintf(buf, n, " (main)");
  lua_pushcfunction(L, push_name);
  if (lua_pcall(L, 0, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, " \"%s\"", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  return buf;
}

/* "file:line" of the innermost Lua function running in L, into buf. */
static const char *where(lua_State *L, char *buf, size_t n) {
  lua_Debug d;
  for (int level = 0; level < 64 && lua_getstack(L, level, &d); level++) {
    if (lua_getinfo(L, "Sl", &d) && d.currentline > 0) {
      snprintf(buf, n, "%s:%d", d.short_src, d.currentline);
      return buf;
    }
  }
  snprintf(buf, n, "?");
  return buf;
}

/* Is the function on top of L the field of a table in 'tables' (a table of
** tables)? Then "key.field" into buf (just "field" for _G). Pops nothing. */
static int find_in(lua_State *L, int tables, char *buf, size_t n) {
  int fn = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, tables)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_rawequal(L, -1, fn) && lua_type(L, -2) == LUA_TSTRING) {
          const char *mod = lua_tostring(L, -4), *key = lua_tostring(L, -2);
          if (strcmp(mod, "_G") == 0) snprintf(buf, n, "%s", key);
          else snprintf(buf, n, "%s.%s", mod, key);
          lua_settop(L, fn);
          return 1;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* The name of the C function 'ar' describes: as package.loaded knows it,
** else as the stock libraries had it at start-up (green.original("os")
** gives those), else as its caller called it. */
static const char *cname(lua_State *L, lua_Debug *ar, char *buf, size_t n) {
  snprintf(buf, n, "?");
  if (!lua_getinfo(L, "nf", ar)) return buf;
  int fn = lua_gettop(L);
  if (ar->name) snprintf(buf, n, "%s", ar->name);
  if (lua_checkstack(L, 8)) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, fn);
      if (find_in(L, fn + 1, buf, n)) goto done;
    }
    lua_settop(L, fn);
    lua_rawgeti(L, LUA_REGISTRYINDEX, W.names_ref);
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, fn);
      if (lua_rawget(L, -2) == LUA_TSTRING) snprintf(buf, n, "%s", lua_tostring(L, -1));
    }
  }
done:
  lua_settop(L, fn - 1);
  return buf;
}

/* The nearest C function on L's stack (for a C function that called back
** into Lua), into buf; "C code" if none is found. */
static const char *nearest_c(lua_State *L, char *buf, size_t n) {
  lua_Debug d;
  for (int level = 0; level < 64 && lua_getstack(L, level, &d); level++)
    if (lua_getinfo(L, "S", &d) && strcmp(d.what, "C") == 0) {
      char name[128];
      snprintf(buf, n, "C function %s", cname(L, &d, name, sizeof name));
      return buf;
    }
  snprintf(buf, n, "C code");
  return buf;
}

static void on_hook(lua_State *L, lua_Debug *ar) {
  lua_sethook(L, NULL, 0, 0);  /* first thing: no count hook stays armed */
  int st = LOAD(&W.s.state);
  if (!LOAD(&W.s.enabled) || L != LOAD(&W.s.co) ||
      LOAD(&H.switches) != LOAD(&W.s.stall_sw) || (st != ARMED && st != CREPORTED))
    return;  /* an older stall's hook, or turned off meanwhile */
  int expect = ARMED;
  int first = st == ARMED && __atomic_compare_exchange_n(&W.s.state, &expect, HOOKED, 0,
                                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  STORE(&W.s.state, DONE);
  double secs = seconds_since(LOAD(&W.s.stall_start));
  char s[32];
  snprintf(s, sizeof s, "%.1f", secs);
  long long id = LOAD(&W.s.id);
  char name[128], pos[300], cfn[160], what[200];
  name_part(L, name, sizeof name);
  where(L, pos, sizeof pos);
  int in_c = ar->event == LUA_HOOKRET && lua_getinfo(L, "S", ar) && strcmp(ar->what, "C") == 0;
  if (in_c) snprintf(what, sizeof what, "C function %s", cname(L, ar, cfn, sizeof cfn));
  else nearest_c(L, what, sizeof what);
  if (LOAD(&W.s.action_error)) {
    if (first)
      lua_pushfstring(L, "%s: watchdog: green thread %I has run %s s without yielding",
                      pos, (lua_Integer)id, s);
    else
      lua_pushfstring(L, "%s: watchdog: green thread %I was in %s for %s s without yielding",
                      pos, (lua_Integer)id, what, s);
    lua_error(L);
  }
  if (first)  /* a C function that returned within GRACE is not worth naming */
    fprintf(stderr, "greenlua: watchdog: green thread %lld%s has run %.1f s without yielding, at %s\n",
            id, name, secs, pos);
  else if (in_c || strcmp(what, "C code") != 0)
    fprintf(stderr, "greenlua: watchdog: green thread %lld%s was in %s for %.1f s, now at %s\n",
            id, name, what, secs, pos);
  else
    fprintf(stderr, "greenlua: watchdog: green thread %lld%s ran %.1f s without yielding, now at %s\n",
            id, name, secs, pos);
  fflush(stderr);
}

/* The watchdog thread asked: is the stall still on? Then arm the hook on
** the innermost running state. Async-signal-safe: loads, stores, and
** lua_sethook/lua_gethook (Lua's manual allows lua_sethook in a handler). */
static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  gl_thread *t = __atomic_load_n(&H.current, __ATOMIC_RELAXED);
  lua_State *inner = __atomic_load_n(&gl_inner_co, __ATOMIC_RELAXED);
  int expect = SIGNALED, next = GONE;
  lua_State *co = NULL;
  if (LOAD(&W.s.enabled) && LOAD(&W.s.state) == SIGNALED && t != NULL &&
      __atomic_load_n(&H.switches, __ATOMIC_RELAXED) == LOAD(&W.s.stall_sw)) {
    co = inner ? inner : t->co;
    if (co != NULL) {
      STORE(&W.s.id, (long long)t->id);
      STORE(&W.s.ismain, t == H.main);
      /* the name is a Lua string; copying it here is safe: the hub's
      ** thread is inside this handler, so nothing collects it meanwhile */
      const char *name = t->h ? gl_handle_name(t->h) : NULL;
      size_t i = 0;
      for (; name && name[i] && i < sizeof W.s.name - 1; i++) W.s.name[i] = name[i];
      W.s.name[i] = '\0';
      STORE(&W.s.co, co);
      if (lua_gethook(co) != NULL) {
        next = NOHOOK;  /* someone's hook: leave it; the thread reports */
      } else {
        lua_sethook(co, on_hook, LUA_MASKCOUNT | LUA_MASKRET, 1);
        next = ARMED;
      }
    }
  }
  __atomic_compare_exchange_n(&W.s.state, &expect, next, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  errno = saved;
}

/* ------------------------------------------------- the watchdog thread */

/* write(2) to stderr: the hub's thread may be stuck holding stderr's lock. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  for (char *p = buf; n > 0;) {
    ssize_t w = write(2, p, (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w, n -= (int)w;
  }
}

/* Wait up to 'ns' or until stopped; 'mu' is held. Returns 1 if stopped. */
static int nap(uint64_t ns) {
  if (!W.stop) uv_cond_timedwait(&W.cond, &W.mu, ns);
  return W.stop;
}

/* The stall was signalled: give the hook GRACE to report, else report. */
static void follow_up(void) {
  uint64_t t0 = uv_hrtime();
  int st;
  while ((st = LOAD(&W.s.state)) == SIGNALED || st == ARMED) {
    if (uv_hrtime() - t0 >= GRACE_NS) break;
    if (nap(5000000)) return;
  }
  int expect = ARMED;
  const char *why = NULL;
  if (st == ARMED && __atomic_compare_exchange_n(&W.s.state, &expect, CREPORTED, 0,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    why = "inside a C function";
  else if (st == NOHOOK)
    why = "where is unknown (a debug hook is set on it)";
  else if (st == SIGNALED)
    why = "where is unknown (its thread did not take the signal)";
  if (why == NULL) return;
  if (st != ARMED) STORE(&W.s.state, DONE);
  /* W.s.name was written before the state became ARMED/NOHOOK */
  if (st == SIGNALED)
    say("greenlua: watchdog: a green thread has run %.1f s without yielding, %s\n",
        seconds_since(LOAD(&W.s.stall_start)), why);
  else
    say("greenlua: watchdog: green thread %lld%s%s%s%s has run %.1f s without yielding, %s\n",
        LOAD(&W.s.id), LOAD(&W.s.ismain) ? " (main)" : "", W.s.name[0] ? " \"" : "", W.s.name,
        W.s.name[0] ? "\"" : "", seconds_since(LOAD(&W.s.stall_start)), why);
}

static void wd_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);  /* process signals go to the hub's thread */
  uv_mutex_lock(&W.mu);
  unsigned long long last_sw = LOAD(&H.switches), reported_sw = 0;
  int reported = 0;
  uint64_t since = uv_hrtime(), prev = since;
  while (!W.stop) {
    uint64_t threshold = (uint64_t)(W.threshold * 1e9);
    uint64_t tick = threshold / 8;
    if (tick < 5000000) tick = 5000000;
    if (tick > 100000000) tick = 100000000;
    if (nap(tick)) break;
    uint64_t now = uv_hrtime();
    /* Woken late: the machine is overloaded, and the hub's thread was
    ** probably kept off the CPU as long: that time is not the culprit's. */
    uint64_t late = now - prev > tick + 20000000 ? now - prev - tick : 0;
    prev = now;
    since = since + late < now ? since + late : now;
    unsigned long long sw = __atomic_load_n(&H.switches, __ATOMIC_RELAXED);
    gl_thread *cur = __atomic_load_n(&H.current, __ATOMIC_RELAXED);
    if (cur == NULL || sw != last_sw) {
      last_sw = sw;
      since = now;
      continue;
    }
    if ((reported && reported_sw == sw) || now - since < threshold) continue;
    reported = 1;
    reported_sw = sw;
    STORE(&W.s.stall_sw, sw);
    STORE(&W.s.stall_start, since);
    STORE(&W.s.action_error, W.action_error);
    STORE(&W.s.state, SIGNALED);
    pthread_kill(W.hub, GL_WATCHDOG_SIGNAL);
    follow_up();
  }
  uv_mutex_unlock(&W.mu);
}

/* ------------------------------------------------------------- control */

static void stop(void) {
  if (!W.running) return;
  STORE(&W.s.enabled, 0);
  uv_mutex_lock(&W.mu);
  W.stop = 1;
  uv_cond_signal(&W.cond);
  uv_mutex_unlock(&W.mu);
  uv_thread_join(&W.thread);
  W.running = 0;
  W.stop = 0;
  STORE(&W.s.state, IDLE);
}

static void stop_at_exit(void) {
  stop();
}

/* Start, or change the settings of, the watchdog. 0 or a libuv error. */
static int start(double threshold, int action_error) {
  if (!W.signal_installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;  /* a C call it interrupts goes on */
    sigfillset(&sa.sa_mask);
    if (sigaction(GL_WATCHDOG_SIGNAL, &sa, NULL) != 0) return uv_translate_sys_error(errno);
    W.signal_installed = 1;
    atexit(stop_at_exit);
  }
  uv_mutex_lock(&W.mu);
  W.threshold = threshold;
  W.action_error = action_error;
  uv_cond_signal(&W.cond);
  uv_mutex_unlock(&W.mu);
  if (W.running) return 0;
  STORE(&W.s.state, IDLE);
  STORE(&W.s.enabled, 1);
  int err = uv_thread_create(&W.thread, wd_main, NULL);
  if (err != 0) {
    STORE(&W.s.enabled, 0);
    return err;
  }
  W.running = 1;
  return 0;
}

/* core.watchdog{threshold = seconds, action = "report" | "error"} | false */
static int l_watchdog(lua_State *L) {
  if (lua_isboolean(L, 1) && !lua_toboolean(L, 1)) {
    stop();
    lua_pushboolean(L, 1);
    return 1;
  }
  if (!lua_istable(L, 1)) return gl_typeerror(L, 1, "watchdog", "table or false");
  lua_getfield(L, 1, "threshold");
  int isnum = 0;
  double threshold = lua_tonumberx(L, -1, &isnum);
  if (lua_type(L, -1) != LUA_TNUMBER || !(threshold > 0) || isnan(threshold))
    return gl_argerror(L, 1, "watchdog", "field 'threshold' must be a number of seconds > 0");
  if (threshold > MAX_THRESHOLD) threshold = MAX_THRESHOLD;
  lua_getfield(L, 1, "action");
  int action_error = 0;
  if (!lua_isnil(L, -1)) {
    const char *a = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (a && strcmp(a, "error") == 0) action_error = 1;
    else if (a == NULL || strcmp(a, "report") != 0)
      return gl_argerror(L, 1, "watchdog", "field 'action' must be \"report\" or \"error\"");
  }
  int err = start(threshold, action_error);
  if (err != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "watchdog: %s", uv_strerror(err));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* registry[names_ref] = {[C function] = "lib.name"} for the stock
** libraries as they are now, before green.patch replaces any. */
static void note_names(lua_State *L) {
  lua_newtable(L);
  int names = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
      const char *mod = lua_tostring(L, -2);
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_iscfunction(L, -1)) {
          if (strcmp(mod, "_G") == 0) lua_pushvalue(L, -2);
          else lua_pushfstring(L, "%s.%s", mod, lua_tostring(L, -2));
          lua_pushvalue(L, -2);
          lua_insert(L, -2);
          lua_rawset(L, names);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  W.names_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void gl_open_watchdog(lua_State *L) {
  static int once;
  if (!once) {
    once = 1;
    uv_mutex_init(&W.mu);
    uv_cond_init(&W.cond);
    W.hub = pthread_self();
    note_names(L);
  }
  lua_pushcfunction(L, l_watchdog);
  lua_setfield(L, -2, "watchdog");
  const char *env = getenv("GREENLUA_WATCHDOG");
  if (env == NULL || env[0] == '\0' || W.running) return;
  char *end;
  errno = 0;
  double threshold = strtod(env, &end);
  while (*end == ' ' || *end == '\t') end++;
  if (end == env || *end != '\0' || errno == ERANGE || !(threshold > 0) || isnan(threshold))
    luaL_error(L, "GREENLUA_WATCHDOG='%s': expected a number of seconds > 0", env);
  if (threshold > MAX_THRESHOLD) threshold = MAX_THRESHOLD;
  int err = start(threshold, 0);
  if (err != 0) luaL_error(L, "GREENLUA_WATCHDOG: cannot start the watchdog: %s", uv_strerror(err));
}
