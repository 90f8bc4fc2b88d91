/*
** main.c: the greenlua command. main runs pmain under lua_pcall so even
** set-up errors are reported. Options mean what they mean to lua (plus
** -c/--connect); one table says which there are and which take a value.
** Everything the command line asks to run (LUA_INIT, -e, -l, the script,
** the REPL) is handed as a plan to green.cli, which runs it in the main
** green thread, driven by the hub; the process ends when that thread does.
** --workers N makes this process the master of N workers instead
** (host/workers/), without a Lua state.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "core/hub.h"
#include "embedded.h"
#include "core/interrupt.h"
#include "version.h"
#include "workers/workers.h"


/* Messages always say "greenlua:", whatever path started us. */
static const char *progname = "greenlua";

/* ------------------------------------------------------------ options */

enum { SETS_RAN = 1, SETS_INTERACTIVE = 2, SETS_VERSION = 4, SETS_NOENV = 8, SETS_NOPATCH = 16 };

/* One row per option. An option that takes a value has it attached
** (-eCODE, one-letter options only) or as the next argument, which must not
** start with '-'. 'action' names a step of the plan run in command-line
** order by green.cli; 'sets' what the option says about the whole run. */
static const struct option {
  const char *name;
  int takes_value;
  char action;
  unsigned sets;
} options[] = {
  {"-e", 1, 'e', SETS_RAN},
  {"-l", 1, 'l', 0},
  {"-c", 1, 'c', SETS_RAN},
  {"--connect", 1, 'c', SETS_RAN},
  {"-W", 0, 'W', 0},
  {"-i", 0, 0, SETS_INTERACTIVE | SETS_VERSION},
  {"-v", 0, 0, SETS_VERSION},
  {"-E", 0, 0, SETS_NOENV},
  {"--no-patch", 0, 0, SETS_NOPATCH},
};

/* What the command line asks for. */
typedef struct {
  int script;          /* argv index of the script ("-" is stdin), argc if none */
  unsigned sets;       /* SETS_* of every option given */
  const char *bad;     /* the option in error, if any... */
  int missing;         /* ...and whether it lacks its value (else it is unknown) */
} cmdline;

/* The row for argument 'a', and its attached value if any (else *value is
** NULL), or NULL for an unknown option. */
static const struct option *find_option(const char *a, const char **value) {
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    const struct option *o = &options[i];
    size_t n = strlen(o->name);
    if (strncmp(a, o->name, n) != 0) continue;
    *value = NULL;
    if (a[n] == '\0') return o;
    if (o->takes_value && n == 2) {
      *value = a + n;
      return o;
    }
  }
  return NULL;
}

/* Read the options, up to the script or "--" or "-". Leaves on the stack
** the plan's steps, {{letter [, value]}...} in command-line order. Returns
** 0, or -1 with cl->bad set. */
static int parse_args(lua_State *L, int argc, char **argv, cmdline *cl) {
  int i, steps = 0;
  memset(cl, 0, sizeof *cl);
  lua_newtable(L);
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *value;
    if (a[0] != '-' || strcmp(a, "-") == 0) break;  /* the script, or stdin */
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    const struct option *o = find_option(a, &value);
    if (o == NULL) {
      cl->bad = a;
      return -1;
    }
    if (o->takes_value && value == NULL) {
      value = i + 1 < argc ? argv[i + 1] : NULL;
      if (value == NULL || value[0] == '-') {
        cl->bad = a;
        cl->missing = 1;
        return -1;
      }
      i++;
    }
    cl->sets |= o->sets;
    if (o->action) {
      lua_createtable(L, 2, 0);
      lua_pushlstring(L, &o->action, 1);
      lua_rawseti(L, -2, 1);
      if (value) {
        lua_pushstring(L, value);
        lua_rawseti(L, -2, 2);
      }
      lua_rawseti(L, -2, ++steps);
    }
  }
  cl->script = i < argc ? i : argc;  /* argc may be 0 */
  return 0;
}

static void print_usage(const cmdline *cl) {
  if (cl->missing)
    fprintf(stderr, "%s: '%s' needs argument\n", progname, cl->bad);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, cl->bad);
  fprintf(stderr,
    "usage: %s [options] [script [args]]\n"
    "Available options are:\n"
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l mod    require library 'mod' into global 'mod'\n"
    "  -l g=mod  require library 'mod' into global 'g'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables\n"
    "  -W        turn warnings on\n"
    "  -c, --connect HOST:PORT  attach to a running process's backdoor\n"
    "  --no-patch  leave LuaSocket, LuaSec, os.execute, io.popen, stdin real\n"
    "  --workers N  run the script in N worker processes sharing its listening\n"
    "              sockets (SIGTERM/SIGINT stop, SIGHUP replaces them one by one)\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n", progname);
}

static void print_version(void) {
  printf("greenlua %s (%s, libuv %s)\n", GREENLUA_VERSION, LUA_RELEASE, uv_version_string());
  fflush(stdout);
}

/* arg: the script at 0, its arguments at 1.., the interpreter and options
** below 0. With no script, the last option is at 0, as lua has it. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;
  lua_createtable(L, argc > script ? argc - script - 1 : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* The plan for the main green thread (green.cli), from the steps on top of
** the stack (popped): {init=, init_name=, actions=steps, script=,
** interactive=, stdin_tty=, did_something=}. */
static void push_plan(lua_State *L, char **argv, int argc, const cmdline *cl) {
  lua_createtable(L, 0, 7);
  lua_rotate(L, -2, 1);
  lua_setfield(L, -2, "actions");
  if (cl->script < argc) {
    lua_pushstring(L, argv[cl->script]);
    lua_setfield(L, -2, "script");
  }
  lua_pushboolean(L, cl->sets & SETS_INTERACTIVE);
  lua_setfield(L, -2, "interactive");
  lua_pushboolean(L, isatty(0));
  lua_setfield(L, -2, "stdin_tty");
  lua_pushboolean(L, (cl->sets & (SETS_RAN | SETS_VERSION)) != 0);
  lua_setfield(L, -2, "did_something");
  lua_pushboolean(L, (cl->sets & SETS_NOPATCH) != 0);
  lua_setfield(L, -2, "no_patch");
  if (!(cl->sets & SETS_NOENV)) {
    const char *name = "=LUA_INIT_5_4", *init = getenv("LUA_INIT_5_4");
    if (init == NULL) {
      name = "=LUA_INIT";
      init = getenv("LUA_INIT");
    }
    if (init) {
      lua_pushstring(L, init);
      lua_setfield(L, -2, "init");
      lua_pushstring(L, name);
      lua_setfield(L, -2, "init_name");
    }
  }
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  cmdline cl;
  luaL_checkversion(L);
  if (parse_args(L, argc, argv, &cl) != 0) {
    print_usage(&cl);
    lua_pushinteger(L, EXIT_FAILURE);
    return 1;
  }
  int steps = lua_gettop(L);
  if (cl.sets & SETS_VERSION) print_version();
  if (cl.sets & SETS_NOENV) {  /* before the package library reads it */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  create_arg_table(L, argv, argc, cl.script);
  lua_gc(L, LUA_GCRESTART);
  /* Incremental, not generational: Lua 5.4's generational mode re-traverses
  ** every live coroutine at each minor collection, which a program with a
  ** million sleeping green threads pays for again and again (1M sleepers took
  ** 2.0-2.8 s to all wake under it, 2.1 s under this). A larger pause than
  ** Lua's 200 suits bursts of spawns. */
  lua_gc(L, LUA_GCINC, 300, 200, 0);
  gl_hub_open(L);
  gl_open_process(L);
  gl_open_lualib(L);
  lua_settop(L, steps);

  lua_getglobal(L, "require");
  lua_pushliteral(L, "green.cli");
  lua_call(L, 1, 1);
  lua_rotate(L, -2, 1);  /* the steps above the function */
  push_plan(L, argv, argc, &cl);
  gl_H.main = gl_spawn(L, 1, GL_HANDLE | GL_MAIN, -1);
  int how = gl_hub_run(), status;
  if (how == GL_RUN_EXIT && gl_exit_requested(&status)) lua_pushinteger(L, status);
  else if (how == GL_RUN_DONE && !(gl_H.main->flags & GL_ERRORED)) lua_pushinteger(L, EXIT_SUCCESS);
  else lua_pushinteger(L, EXIT_FAILURE);
  return 1;
}

/* SIGPIPE is caught by a handler that does nothing, not ignored: a write to
** a closed peer still fails with EPIPE, an I/O error and not death, but the
** programs we start (os.execute, io.popen) get the default disposition
** back at exec, as a caught signal's is reset and an ignored one's is not
** (with SIG_IGN, `yes | head -n1` said "Broken pipe"). */
static void on_sigpipe(int sig) {
  (void)sig;
}

static void catch_sigpipe(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigpipe;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

/* --workers N (or --workers=N) among the options, before the script: if
** given, this process is the master (host/workers/master.c) and runs no
** Lua; the workers get the same command line without it. Returns -1 when
** not given, else the exit status. */
static int run_workers(int argc, char **argv) {
  const char *count = NULL;
  int i, at = 0, script = argc, interactive = 0;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *value;
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--workers") == 0 || strncmp(a, "--workers=", 10) == 0) {
      at = i;
      count = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : "";
      continue;
    }
    const struct option *o = find_option(a, &value);
    if (o == NULL) return -1;  /* the usual parse reports it */
    if (strcmp(a, "-i") == 0) interactive = 1;
    if (o->takes_value && value == NULL) i++;
  }
  if (at == 0) return -1;
  script = i;
  char *end;
  long n = strtol(count, &end, 10);
  if (*count == '\0' || *end || n < 1 || n > GL_WORKERS_MAX) {
    fprintf(stderr, "%s: --workers needs a number from 1 to %d\n", progname, GL_WORKERS_MAX);
    return EXIT_FAILURE;
  }
  if (script >= argc || strcmp(argv[script], "-") == 0 || interactive) {
    fprintf(stderr, "%s: --workers needs a script file (not stdin, not -i)\n", progname);
    return EXIT_FAILURE;
  }
  char **wargv = calloc(argc + 1, sizeof *wargv);
  if (wargv == NULL) return EXIT_FAILURE;
  int k = 0;
  for (i = 0; i < argc; i++) {
    if (i == at) {
      if (argv[i][9] != '=') i++;  /* and its value */
      continue;
    }
    wargv[k++] = argv[i];
  }
  return gl_workers_main((int)n, wargv);
}

int main(int argc, char **argv) {
  gl_worker_init();
  catch_sigpipe();
  int workers = run_workers(argc, argv);
  if (workers >= 0) return workers;
  gl_catch_early_sigint();
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);  /* no GC while building the state */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int exit_status = EXIT_FAILURE;
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
  } else if (lua_isinteger(L, -1)) {
    exit_status = (int)lua_tointeger(L, -1);
  }
  lua_close(L);
  gl_hub_close();
  return exit_status;
}
