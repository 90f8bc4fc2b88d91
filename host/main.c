/*
** main.c: the greenlua command. Shaped like lua.c: main runs pmain under
** lua_pcall so even set-up errors are reported, options mean what they mean
** to lua. The difference: everything the command line asks to run (LUA_INIT,
** -e, -l, the script, the REPL) runs in the main green thread, driven by
** the hub, and the process ends when that thread does.
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


/* Messages always say "greenlua:", whatever path started us. */
static const char *progname = "greenlua";

static void print_usage(const char *badoption) {
  if (badoption[1] == 'e' || badoption[1] == 'l' || badoption[1] == 'c')
    fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
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
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n", progname);
}

static void print_version(void) {
  printf("greenlua %s (%s, libuv %s)\n", GREENLUA_VERSION, LUA_RELEASE, uv_version_string());
  fflush(stdout);
}

enum { has_error = 1, has_i = 2, has_v = 4, has_e = 8, has_E = 16, has_c = 32 };

/* Check the options; set *first to the script's index (argc if none) or,
** on error, to the offending option. */
static int collect_args(char **argv, int *first) {
  int args = 0, i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;                 /* the script */
    if (strcmp(argv[i], "--connect") == 0) argv[i] = "-c";
    switch (argv[i][1]) {
      case '-':
        if (argv[i][2] != '\0') return has_error;
        *first = i + 1;
        return args;
      case '\0':
        return args;                                    /* '-': stdin */
      case 'E': case 'W': case 'i': case 'v':
        if (argv[i][2] != '\0') return has_error;
        if (argv[i][1] == 'E') args |= has_E;
        if (argv[i][1] == 'i') args |= has_i | has_v;
        if (argv[i][1] == 'v') args |= has_v;
        break;
      case 'e': case 'l': case 'c':
        if (argv[i][1] == 'e') args |= has_e;
        if (argv[i][1] == 'c') args |= has_c;
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return has_error;
        }
        break;
      default:
        return has_error;
    }
  }
  *first = i;
  return args;
}

/* arg: the script at 0, its arguments at 1.., options below 0. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* The plan for the main green thread, in command-line order: a table
** {init=, actions={{"e", code} | {"l", mod} | {"W"} | {"c", addr}},
**  script=, interactive=, stdin_tty=, version=}. */
static void push_plan(lua_State *L, char **argv, int script, int args) {
  lua_createtable(L, 0, 6);
  lua_newtable(L);
  int n = 0;
  for (int i = 1; i < script; i++) {
    char opt = argv[i][1];
    if (opt != 'e' && opt != 'l' && opt != 'W' && opt != 'c') continue;
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, &opt, 1);
    lua_rawseti(L, -2, 1);
    if (opt != 'W') {
      const char *value = argv[i][2] ? argv[i] + 2 : argv[++i];
      lua_pushstring(L, value);
      lua_rawseti(L, -2, 2);
    }
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "actions");
  if (argv[script]) {
    lua_pushstring(L, argv[script]);
    lua_setfield(L, -2, "script");
  }
  lua_pushboolean(L, args & has_i);
  lua_setfield(L, -2, "interactive");
  lua_pushboolean(L, isatty(0));
  lua_setfield(L, -2, "stdin_tty");
  lua_pushboolean(L, (args & (has_e | has_v | has_c)) != 0);
  lua_setfield(L, -2, "did_something");
  if (!(args & has_E)) {
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
  int script = argc;
  int args = collect_args(argv, &script);
  luaL_checkversion(L);
  if (args == has_error) {
    print_usage(argv[script]);
    lua_pushinteger(L, EXIT_FAILURE);
    return 1;
  }
  if (args & has_v) print_version();
  if (args & has_E) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  create_arg_table(L, argv, argc, script);
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

  lua_getglobal(L, "require");
  lua_pushliteral(L, "green.cli");
  lua_call(L, 1, 1);
  push_plan(L, argv, script, args);
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

int main(int argc, char **argv) {
  catch_sigpipe();
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
