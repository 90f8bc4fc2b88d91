/*
** process.c: child processes, the C half of green.process.
**
** The contract:
**  - core.process_spawn(argv, stdio, cwd, env, detached) starts argv[1]
**    (PATH searched) with arguments argv. argv: a non-empty array of
**    strings; stdio: an array of three of "inherit", "null", "pipe" for
**    fds 0, 1, 2; cwd: a string or nil; env: an array of "NAME=value"
**    strings that replaces the environment (a command without '/' is then
**    looked for in its PATH, if it has one), or nil (inherit); detached: a
**    new session (setsid). Returns proc, stdin, stdout, stderr (each a
**    green socket over the parent's end of a pipe, or false), or nil,
**    "argv1: no such file or directory" (the reason, lowercase) when the
**    command cannot start. Misuse raises naming 'spawn'.
**  - A "pipe" is a real pipe(2), as popen's: the parent's end becomes a
**    uv_pipe_t inside socket.c's object (kind GL_PIPE), so it has every
**    socket method (send, receive, recv, lines, settimeout, close) and
**    getfd.
**  - The child starts with every signal's default disposition and an empty
**    signal mask (POSIX_SPAWN_SETSIGDEF with every signal, SETSIGMASK).
**  - Why posix_spawn and not uv_spawn: libuv 1.44's uv_spawn forks, and
**    fork copies the page tables, then every page the parent writes
**    faults once more; glibc's posix_spawn is a vfork-style clone. That
**    was the difference between 0.5x and the 0.7x of C that
**    green.process.run{"true"} must reach (scripts/bench/process/).
**  - The exit is seen through libuv, never polled: one uv_signal_t on
**    SIGCHLD, whose callback reaps our children (waitpid(pid, WNOHANG) for
**    each one we started, never anyone else's, as libuv does for its own)
**    and wakes their waiters.
**  - proc:wait([timeout]) -> code, nil (it exited) | nil, "TERM" (a
**    signal ended it) | nil, "timeout". Any number of threads may wait.
**  - proc:kill([sig]): a name or number, default TERM -> true, or nil, err;
**    once the child was reaped, nil, "no such process" (its pid may be
**    someone else's by then). proc:pid() -> the pid; proc:status() ->
**    code, termsig once exited; proc:exited().
**  - core.process_can_block(): may the caller block (else os.execute and
**    io.popen use the real ones). core.process_exact(impl, "execute" |
**    "popen"): impl behind os.execute's / io.popen's own argument checks
**    in C, so misuse reads exactly as Lua 5.4's (a Lua function's error
**    levels cannot see through its caller's tail call).
**  - process_spawn's optional 6th argument is the file to run when it is
**    not argv[1] ("/bin/sh" with argv[1] "sh", as system() does).
**  - A child lives in a malloc'd node of the list of children until it is
**    reaped, whether or not its Lua object was collected: no zombie, and
**    no callback touches freed memory. The SIGCHLD handle counts for the
**    loop (uv_ref) only while a thread waits in proc:wait, so a child
**    nobody waits for neither keeps the program alive nor hides a deadlock.
*/
#define _GNU_SOURCE  /* posix_spawn_file_actions_addchdir_np, POSIX_SPAWN_SETSID */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "io/socket.h"
#include "io/process.h"

#define PROC_MT "green.ProcessHandle"

typedef struct gl_proc gl_proc;

/* A child not reaped yet, in the list 'children'. */
typedef struct child {
  struct child *prev, *next;
  pid_t pid;
  gl_proc *owner;          /* NULL once the Lua object is collected */
} child;

struct gl_proc {
  child *node;             /* NULL once reaped (or never started) */
  int pid;
  int exited;
  int64_t status;
  int termsig;
  gl_waitq waiters;
};

static const void *proc_mt;
static child *children;
static uv_signal_t sigchld;
static int sigchld_on;
static int waiting;        /* threads in proc:wait: the loop stays alive */

extern char **environ;

/* -------------------------------------------------------------- signals */

static const struct { const char *name; int sig; } signals[] = {
  {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL},
  {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS}, {"FPE", SIGFPE},
  {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
  {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
  {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
  {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
  {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
  {"SYS", SIGSYS},
#ifdef SIGPWR
  {"PWR", SIGPWR},
#endif
};
#define NSIGNALS (sizeof signals / sizeof signals[0])

const char *gl_signal_name(int sig) {
  for (size_t i = 0; i < NSIGNALS; i++)
    if (signals[i].sig == sig) return signals[i].name;
  return NULL;
}

void gl_push_signal_name(lua_State *L, int sig) {
  const char *name = gl_signal_name(sig);
  if (name) lua_pushstring(L, name);
  else lua_pushfstring(L, "%d", sig);
}

int gl_check_signal(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    int isint;
    lua_Integer n = lua_tointegerx(L, idx, &isint);
    if (!isint || n <= 0 || n >= 65)
      gl_argerror(L, idx, fname, "signal number out of range");
    return (int)n;
  }
  if (lua_type(L, idx) != LUA_TSTRING) gl_typeerror(L, idx, fname, "signal name");
  const char *s = lua_tostring(L, idx);
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < NSIGNALS; i++)
    if (strcmp(signals[i].name, s) == 0) return signals[i].sig;
  return gl_argerror(L, idx, fname, lua_pushfstring(L, "unknown signal '%s'", lua_tostring(L, idx)));
}

/* ---------------------------------------------------------------- exit */

/* SIGCHLD came: reap whichever of our children ended (a signal may stand
** for several exits), and wake their waiters. Allocates nothing. */
static void on_sigchld(uv_signal_t *h, int signum) {
  (void)h, (void)signum;
  child *c = children;
  while (c) {
    child *next = c->next;
    int status;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid || (r < 0 && errno == ECHILD)) {
      gl_proc *p = c->owner;
      if (p) {
        p->node = NULL;
        p->exited = 1;
        if (r < 0) p->status = 127;  /* reaped by someone else: unknown */
        else if (WIFSIGNALED(status)) p->termsig = WTERMSIG(status);
        else p->status = WEXITSTATUS(status);
        while (p->waiters.head) {
          lua_pushnil(gl_H.L);
          gl_wake_one(gl_H.L, &p->waiters);
        }
      }
      if (c->prev) c->prev->next = c->next;
      else children = c->next;
      if (c->next) c->next->prev = c->prev;
      free(c);
    }
    c = next;
  }
}

/* The SIGCHLD handle holds the loop only while somebody waits. */
static void waiting_add(int n) {
  waiting += n;
  if (waiting > 0) uv_ref((uv_handle_t *)&sigchld);
  else uv_unref((uv_handle_t *)&sigchld);
}

static gl_proc *check_proc(lua_State *L, const char *fname) {
  if (gl_udata_meta(L, 1) != proc_mt) gl_typeerror(L, 1, fname, "ProcessHandle");
  return lua_touserdata(L, 1);
}

/* Push how the child ended: code, nil or nil, signal name. */
static int push_result(lua_State *L, gl_proc *p) {
  if (p->termsig) {
    lua_pushnil(L);
    gl_push_signal_name(L, p->termsig);
  } else {
    lua_pushinteger(L, (lua_Integer)p->status);
    lua_pushnil(L);
  }
  return 2;
}

static void wait_cancel(lua_State *L) {
  (void)L;
  waiting_add(-1);
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_proc *p = lua_touserdata(L, 1);
  waiting_add(-1);
  if (p->exited) return push_result(L, p);
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  return 2;
}

/* proc:wait([timeout]) -> code, nil | nil, signal | nil, "timeout" */
static int l_wait(lua_State *L) {
  gl_proc *p = check_proc(L, "wait");
  double timeout = lua_isnoneornil(L, 2) ? -1 : gl_check_seconds(L, 2, "wait");
  if (p->exited) return push_result(L, p);
  if (p->node == NULL) return luaL_error(L, "wait: the process is gone");
  if (timeout == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  gl_check_block(L, "Process:wait");
  lua_settop(L, 1);
  waiting_add(1);
  return gl_block_cancel(L, "Process:wait", &p->waiters, timeout, wait_k, wait_cancel);
}

/* proc:kill([sig]) -> true | nil, err */
static int l_kill(lua_State *L) {
  gl_proc *p = check_proc(L, "kill");
  int sig = lua_isnoneornil(L, 2) ? SIGTERM : gl_check_signal(L, 2, "kill");
  int err = UV_ESRCH;
  if (p->node) err = kill(p->pid, sig) == 0 ? 0 : uv_translate_sys_error(errno);
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err == UV_ESRCH ? "no such process" : gl_strerror(err));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_pid(lua_State *L) {
  lua_pushinteger(L, check_proc(L, "pid")->pid);
  return 1;
}

/* proc:exited() -> true once the exit was seen (no wait) */
static int l_exited(lua_State *L) {
  lua_pushboolean(L, check_proc(L, "exited")->exited);
  return 1;
}

/* proc:status() -> code, termsig (integers) once exited, else nothing:
** os.execute's results need the signal's number. */
static int l_status(lua_State *L) {
  gl_proc *p = check_proc(L, "status");
  if (!p->exited) return 0;
  lua_pushinteger(L, (lua_Integer)p->status);
  lua_pushinteger(L, p->termsig);
  return 2;
}

/* __gc: a running child stays in the list until on_sigchld reaps it. */
static int l_gc(lua_State *L) {
  gl_proc *p = check_proc(L, "__gc");
  if (p->node) {
    p->node->owner = NULL;
    p->node = NULL;
  }
  return 0;
}

static int l_tostring(lua_State *L) {
  gl_proc *p = check_proc(L, "__tostring");
  lua_pushfstring(L, "process %d (%s)", p->pid, p->exited ? "exited" : "running");
  return 1;
}

/* --------------------------------------------------------------- spawn */

enum { IO_INHERIT, IO_NULL, IO_PIPE };

/* A NULL-terminated array of the strings of the array at 'idx' (rawgeti:
** no metamethod runs, so the table keeps the strings alive), in a
** userdata pushed on the stack. 'what' names it in errors. */
static char **string_array(lua_State *L, int idx, const char *what, int nonempty) {
  if (lua_type(L, idx) != LUA_TTABLE)
    gl_argerror(L, idx, "spawn", lua_pushfstring(L, "%s must be a table", what));
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (nonempty && n == 0) gl_argerror(L, idx, "spawn", lua_pushfstring(L, "%s is empty", what));
  if (n > 1000000) gl_argerror(L, idx, "spawn", lua_pushfstring(L, "%s is too long", what));
  char **a = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
      gl_argerror(L, idx, "spawn", lua_pushfstring(L, "%s[%I] must be a string", what, i));
    a[i - 1] = (char *)lua_tolstring(L, -1, &len);
    if (strlen(a[i - 1]) != len)
      gl_argerror(L, idx, "spawn", lua_pushfstring(L, "%s[%I] contains a zero byte", what, i));
    lua_pop(L, 1);
  }
  a[n] = NULL;
  return a;
}

static int check_stdio(lua_State *L, int i) {
  static const char *const modes[] = {"inherit", "null", "pipe", NULL};
  if (lua_type(L, 2) != LUA_TTABLE) gl_typeerror(L, 2, "spawn", "table");
  lua_rawgeti(L, 2, i + 1);
  const char *s = lua_tostring(L, -1);
  int m = -1;
  for (int j = 0; s && modes[j]; j++)
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(s, modes[j]) == 0) m = j;
  lua_pop(L, 1);
  if (m < 0) gl_argerror(L, 2, "spawn", "stdio modes must be \"inherit\", \"null\" or \"pipe\"");
  return m;
}

/* glibc's sigfillset and sigaddset leave out its two internal signals
** (32 and 33, SIGCANCEL and SIGSETXID), and its posix_spawn then sets them
** to SIG_IGN in the child, which exec keeps: a child would start with two
** signals ignored (as system()'s and popen()'s children do). Set their
** bits by hand, so they get SIG_DFL like every other. */
static void internal_signals_too(sigset_t *set) {
#if defined(__GLIBC__) && defined(__linux__)
  unsigned long *bits = (unsigned long *)set;
  for (int sig = 32; sig <= 33 && sig < SIGRTMIN; sig++)
    bits[(sig - 1) / (8 * sizeof *bits)] |= 1UL << ((sig - 1) % (8 * sizeof *bits));
#else
  (void)set;
#endif
}

/* With a replaced environment, a command without a '/' is looked for in
** that environment's PATH (as Python's subprocess and libuv >= 1.45 do);
** posix_spawnp would search ours. Returns the path to run (in a userdata
** pushed on the stack), or 'file' itself when there is nothing to search
** (no '/' rule, no PATH in env: posix_spawnp's own search then). */
static const char *search_env_path(lua_State *L, const char *file, char **env, int *searched) {
  *searched = 0;
  if (env == NULL || strchr(file, '/') != NULL || file[0] == '\0') return file;
  const char *path = NULL;
  for (char **e = env; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  if (path == NULL) return file;
  *searched = 1;
  size_t flen = strlen(file), plen = strlen(path);
  char *buf = lua_newuserdatauv(L, plen + flen + 3, 0);
  const char *found_noexec = NULL;
  for (const char *dir = path;; ) {
    const char *end = strchr(dir, ':');
    size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
    if (dlen == 0) buf[0] = '.', dlen = 1;  /* an empty entry is the current directory */
    else memcpy(buf, dir, dlen);
    buf[dlen] = '/';
    memcpy(buf + dlen + 1, file, flen + 1);
    if (access(buf, X_OK) == 0) return buf;
    if (found_noexec == NULL && access(buf, F_OK) == 0) found_noexec = "";
    if (end == NULL) break;
    dir = end + 1;
  }
  *searched = found_noexec ? 2 : 1;  /* 2: there, not executable */
  return NULL;
}

/* core.process_spawn(argv, stdio, cwd, env, detached [, file]) */
static int l_spawn(lua_State *L) {
  lua_settop(L, 6);
  char **argv = string_array(L, 1, "argv", 1);
  int mode[3];
  for (int i = 0; i < 3; i++) mode[i] = check_stdio(L, i);
  const char *cwd = NULL;
  if (!lua_isnil(L, 3)) {
    size_t len;
    if (lua_type(L, 3) != LUA_TSTRING) gl_typeerror(L, 3, "spawn", "string");
    cwd = lua_tolstring(L, 3, &len);
    if (strlen(cwd) != len) gl_argerror(L, 3, "spawn", "cwd contains a zero byte");
  }
  char **env = lua_isnil(L, 4) ? NULL : string_array(L, 4, "env", 0);
  int detached = lua_toboolean(L, 5);
  const char *file = argv[0];
  if (!lua_isnil(L, 6)) {
    size_t len;
    if (lua_type(L, 6) != LUA_TSTRING) gl_typeerror(L, 6, "spawn", "string");
    file = lua_tolstring(L, 6, &len);
    if (strlen(file) != len) gl_argerror(L, 6, "spawn", "file contains a zero byte");
  }

  int searched;
  const char *run = search_env_path(L, file, env, &searched);
  if (run == NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", file, gl_strerror(searched == 2 ? UV_EACCES : UV_ENOENT));
    return 2;
  }

  /* Everything that may raise comes first: the Lua objects. */
  gl_proc *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  lua_rawgetp(L, LUA_REGISTRYINDEX, proc_mt);
  lua_setmetatable(L, -2);
  gl_sock *pipes[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++) {
    if (mode[i] == IO_PIPE) pipes[i] = gl_sock_new(L, GL_PIPE, AF_UNSPEC);
    else lua_pushboolean(L, 0);
  }
  child *node = calloc(1, sizeof *node);
  if (node == NULL) return luaL_error(L, "spawn: not enough memory");
  if (!sigchld_on) {  /* before the first child, so no exit is missed */
    uv_signal_init(gl_H.loop, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&sigchld);
    sigchld_on = 1;
  }

  /* Then the descriptors: fds[i][0] the child's end, [1] the parent's. */
  int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, err = 0;
  for (int i = 0; i < 3 && err == 0; i++) {
    if (mode[i] != IO_PIPE) continue;
    uv_file pair[2];
    err = uv_pipe(pair, 0, 0);  /* close-on-exec; blocking, as the child wants */
    if (err) break;
    fds[i][0] = i == 0 ? pair[0] : pair[1];
    fds[i][1] = i == 0 ? pair[1] : pair[0];
  }
  for (int i = 0; i < 3 && err == 0; i++)
    if (pipes[i]) {
      err = uv_pipe_open(&pipes[i]->io->h.pipe, fds[i][1]);
      if (err == 0) fds[i][1] = -1;  /* the socket owns it now */
    }
  pid_t pid = -1;
  if (err == 0) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* the pipes' child ends become 0, 1, 2 (dup2 clears close-on-exec) */
    for (int i = 0; i < 3; i++) {
      if (mode[i] == IO_PIPE) posix_spawn_file_actions_adddup2(&fa, fds[i][0], i);
      if (mode[i] == IO_NULL)
        posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_RDWR, 0);
    }
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigfillset(&all);
    internal_signals_too(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                    (detached ? POSIX_SPAWN_SETSID : 0));
    int r = searched ? posix_spawn(&pid, run, &fa, &attr, argv, env)
                     : posix_spawnp(&pid, run, &fa, &attr, argv, env ? env : environ);
    if (r) err = uv_translate_sys_error(r);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      if (fds[i][j] >= 0) close(fds[i][j]);
  if (err) {
    free(node);
    for (int i = 0; i < 3; i++)
      if (pipes[i]) gl_sock_release(pipes[i]);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", file, gl_strerror(err));
    return 2;
  }
  node->pid = pid;
  node->owner = p;
  node->next = children;
  if (children) children->prev = node;
  children = node;
  p->node = node;
  p->pid = (int)pid;
  return 4;  /* proc, stdin, stdout, stderr */
}

/* core.process_can_block() -> may the caller block here? (os.execute and
** io.popen fall back to the real, blocking ones where it may not: outside
** a green thread, or in a C call Lua cannot yield across). */
static int l_can_block(lua_State *L) {
  lua_pushboolean(L, gl_H.current != NULL && lua_isyieldable(L));
  return 1;
}

/* os.execute's and io.popen's argument checks, in C so that their
** messages are Lua 5.4's to the letter (luaL_optstring's conversions, the
** function's name as the caller's call site gives it, the caller's line
** even through a tail call), then the Lua implementation (upvalue 1),
** called so that it may block (lua_callk). */
static int pass_results(lua_State *L, int status, lua_KContext base) {
  (void)status;
  return lua_gettop(L) - (int)base;
}

static int call_impl(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, base + 1);
  lua_callk(L, nargs, LUA_MULTRET, base, pass_results);
  return pass_results(L, LUA_OK, base);
}

/* execute([command]) */
static int l_execute(lua_State *L) {
  luaL_optstring(L, 1, NULL);  /* a number becomes its string, in place */
  lua_settop(L, 1);
  return call_impl(L, 1);
}

/* popen(prog [, mode]) */
static int l_popen(lua_State *L) {
  luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  luaL_argcheck(L, (mode[0] == 'r' || mode[0] == 'w') && mode[1] == '\0', 2, "invalid mode");
  lua_settop(L, 2);
  lua_pushstring(L, mode);
  lua_replace(L, 2);
  return call_impl(L, 2);
}

/* core.process_exact(impl, "execute" | "popen") -> the checked function */
static int l_exact(lua_State *L) {
  static const char *const kinds[] = {"execute", "popen", NULL};
  if (lua_type(L, 1) != LUA_TFUNCTION) gl_typeerror(L, 1, "process_exact", "function");
  int kind = luaL_checkoption(L, 2, NULL, kinds);
  lua_settop(L, 1);
  lua_pushcclosure(L, kind == 0 ? l_execute : l_popen, 1);
  return 1;
}

/* Adds core.process_spawn (and its helpers) to the table on top. */
void gl_open_process_lib(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"wait", l_wait}, {"kill", l_kill}, {"pid", l_pid}, {"exited", l_exited},
    {"status", l_status},
    {NULL, NULL}
  };
  luaL_newmetatable(L, PROC_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  proc_mt = lua_topointer(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, proc_mt);
  lua_pushcfunction(L, l_spawn);
  lua_setfield(L, -2, "process_spawn");
  lua_pushcfunction(L, l_exact);
  lua_setfield(L, -2, "process_exact");
  lua_pushcfunction(L, l_can_block);
  lua_setfield(L, -2, "process_can_block");
}
