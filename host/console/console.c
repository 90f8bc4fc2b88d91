/*
** console.c: line input on the hub. A uv_poll watches fd 0; each readiness
** report is followed by one read() (plain mode) or one libedit character
** (terminal mode), so stdin is never switched to non-blocking mode (it may
** be shared with the shell). Regular files cannot be polled; reading them
** never waits long, so they are read directly.
**
** While a prompt is up, libedit holds the terminal in its raw mode. Every
** way out of the process puts it back as it was before the prompt: exit()
** and a return from main through atexit, and the signals that end a
** process by default (TERM, HUP and the crash signals; QUIT dumps and goes on) through a
** handler that restores it, then dies of the same signal, so the exit
** status still says "killed by SIGTERM".
*/
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <editline/readline.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "console/console.h"

static struct {
  uv_poll_t poll;
  int polling;         /* 1: poll handle set up; -1: fd 0 cannot be polled */
  int terminal;        /* -1 unknown, 0 plain, 1 libedit */
  int editing;         /* a libedit prompt is on screen */
  char *buf;           /* plain mode: bytes read, not yet returned */
  size_t len, cap;
  int eof;
  char *line;          /* terminal mode: the line libedit finished */
  int line_ready;
  char *history;       /* where history is kept, if anywhere */
  gl_waitq readers;    /* at most one */
  int busy;            /* a green thread is in readline, blocked or woken */
} C = { .terminal = -1 };

/* The string argument 'arg' of function 'fname' (a number is converted).
** Messages name the function as the user knows it, not green.core.*. */
static const char *check_string(lua_State *L, int arg, const char *fname, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL)
    luaL_error(L, "bad argument #%d to '%s' (string expected, got %s)", arg, fname, luaL_typename(L, arg));
  return s;
}

static int terminal_mode(void) {
  if (C.terminal < 0) {
    const char *term = getenv("TERM");
    C.terminal = isatty(0) && isatty(1) && term && strcmp(term, "dumb") != 0;
    if (C.terminal) rl_catch_signals = 0;  /* SIGINT is the hub's (core/interrupt.c) */
  }
  return C.terminal;
}

/* ---------------------------------------------------------- plain mode */

/* Read what fd 0 has into the buffer; marks end of input or error. */
static void fill(void) {
  if (C.cap - C.len < 4096) {
    size_t cap = C.cap ? C.cap * 2 : 8192;
    char *buf = realloc(C.buf, cap);
    if (buf == NULL) { C.eof = 1; return; }
    C.buf = buf;
    C.cap = cap;
  }
  ssize_t n;
  do n = read(0, C.buf + C.len, C.cap - C.len); while (n < 0 && errno == EINTR);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) C.eof = 1;
  } else {
    C.len += (size_t)n;
  }
}

/* Push the next complete line (or the unterminated rest at end of input)
** and return 1, or return 0 if more input is needed. */
static int take_plain_line(lua_State *L) {
  char *nl = C.len ? memchr(C.buf, '\n', C.len) : NULL;
  size_t used, keep;
  if (nl) {
    used = (size_t)(nl - C.buf) + 1;
    keep = used - 1;
  } else if (C.eof) {
    if (C.len == 0) {
      lua_pushnil(L);
      return 1;
    }
    used = keep = C.len;
  } else {
    return 0;
  }
  if (keep > 0 && C.buf[keep - 1] == '\r') keep--;
  lua_pushlstring(L, C.buf, keep);
  memmove(C.buf, C.buf + used, C.len - used);
  C.len -= used;
  return 1;
}

/* Output that ends mid-line while a line is being edited waits here for
** the rest of its line, so pieces written apart stay together. */
static char *held;
static size_t held_len, held_cap;

static void flush_held(void) {
  if (held_len == 0) return;
  fwrite(held, 1, held_len, stdout);
  held_len = 0;
  fflush(stdout);
}

/* Geometric growth: a long line written in many small pieces stays linear. */
static int hold(const char *s, size_t n) {
  if (n == 0) return 1;
  if (n > held_cap - held_len) {
    size_t cap = held_cap ? held_cap : 256;
    while (cap - held_len < n) {
      if (cap > SIZE_MAX / 2) return 0;
      cap *= 2;
    }
    char *p = realloc(held, cap);
    if (p == NULL) return 0;
    held = p;
    held_cap = cap;
  }
  memcpy(held + held_len, s, n);
  held_len += n;
  return 1;
}

/* ------------------------------------------------- the terminal's mode */

static struct termios saved_tty;       /* as it was before the prompt */
static volatile sig_atomic_t tty_raw;  /* 1: libedit has it in raw mode */

/* Put the terminal back and end the prompt's line. Async-signal-safe:
** tcsetattr and write are, and saved_tty is written only while tty_raw is 0. */
void gl_console_restore(void) {
  if (!tty_raw) return;
  tty_raw = 0;
  tcsetattr(0, TCSANOW, &saved_tty);
  ssize_t n = write(1, "\n", 1);
  (void)n;
}

static void on_exit_path(void) {
  flush_held();  /* a partial line written at the prompt: still shown */
  gl_console_restore();
}

static void on_fatal_signal(int sig) {
  gl_console_restore();
  signal(sig, SIG_DFL);
  raise(sig);  /* blocked until we return: then it ends the process */
}

/* Once, before the first prompt: the exit paths restore the terminal. A
** signal whose disposition is not the default (ignored under nohup, or a
** sanitizer's handler) is left alone. Not QUIT: greenlua's own handler
** (core/debug.c) dumps the threads and the process goes on. */
static void guard_exit_paths(void) {
  static int guarded;
  static const int signals[] = { SIGTERM, SIGHUP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
  if (guarded) return;
  guarded = 1;
  atexit(on_exit_path);
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
    struct sigaction old, sa;
    if (sigaction(signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(signals[i], &sa, NULL);
  }
}

static void on_line(char *line);

/* libedit's prompt goes up (raw mode) and comes down (the saved mode). */
static void prompt_up(const char *prompt) {
  guard_exit_paths();
  if (tcgetattr(0, &saved_tty) == 0) tty_raw = 1;
  rl_callback_handler_install(prompt, on_line);
  C.editing = 1;
}

static void prompt_down(void) {
  rl_callback_handler_remove();
  tty_raw = 0;
  C.editing = 0;
}

/* ------------------------------------------------------- terminal mode */

static void on_line(char *line) {
  prompt_down();
  flush_held();
  C.line = line;
  C.line_ready = 1;
  if (line == NULL) C.eof = 1;
}

static int take_edited_line(lua_State *L) {
  if (!C.line_ready) return 0;
  C.line_ready = 0;
  if (C.line == NULL) {
    lua_pushnil(L);
    return 1;
  }
  if (C.line[0]) {
    add_history(C.line);
    if (C.history) write_history(C.history);
  }
  lua_pushstring(L, C.line);
  free(C.line);
  C.line = NULL;
  return 1;
}

/* ------------------------------------------------------------- waiting */

static void on_readable(uv_handle_t *handle, int status) {
  (void)handle;
  if (status < 0) C.eof = 1;
  else if (C.terminal) rl_callback_read_char();
  else fill();
  int done = C.eof || (C.terminal ? C.line_ready : memchr(C.buf, '\n', C.len) != NULL);
  if (done || C.readers.n == 0) uv_poll_stop(&C.poll);
  if (done && C.readers.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &C.readers);
  }
}

static void poll_cb(uv_poll_t *handle, int status, int events) {
  (void)events;
  on_readable((uv_handle_t *)handle, status);
}

/* Interrupted at the prompt: the line is dropped, the terminal is ready for
** the next prompt. */
static void readline_cancel(lua_State *L) {
  (void)L;
  C.busy = 0;
  if (C.editing) {
    rl_replace_line("", 0);
    prompt_down();
    fputs("\n", stdout);
    fflush(stdout);
  }
  if (C.polling > 0) uv_poll_stop(&C.poll);
}

/* Frame: 1 prompt. */
static int readline_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 1);
  for (;;) {
    if (C.terminal ? take_edited_line(L) : take_plain_line(L)) break;
    if (C.terminal && C.eof) {
      lua_pushnil(L);
      break;
    }
    if (C.polling == 0)
      C.polling = uv_poll_init(gl_H.loop, &C.poll, 0) == 0 ? 1 : -1;
    if (C.polling < 0) {
      fill();  /* a regular file: read() never waits long */
      continue;
    }
    if (C.terminal && !C.editing) prompt_up(lua_tostring(L, 1));
    uv_poll_start(&C.poll, UV_READABLE, poll_cb);
    C.busy = 1;
    return gl_block_cancel(L, "readline", &C.readers, -1, readline_k, readline_cancel);
  }
  C.busy = 0;
  return 1;
}

/* readline([prompt]) -> line | nil at end of input */
static int l_readline(lua_State *L) {
  size_t n = 0;
  const char *prompt = "";
  if (!lua_isnoneornil(L, 1)) prompt = check_string(L, 1, "readline", &n);
  lua_settop(L, 1);
  lua_pushlstring(L, prompt, n);
  lua_replace(L, 1);
  prompt = lua_tolstring(L, 1, &n);  /* the copy: the argument may be gone */
  /* before anything is shown or set up: it may have to wait */
  gl_check_block(L, "readline");
  if (C.busy) return luaL_error(L, "readline: another green thread is reading stdin");
  if (!terminal_mode()) {
    fwrite(prompt, 1, n, stdout);
    fflush(stdout);
  }
  return readline_k(L, LUA_OK, 0);
}

/* ------------------------------------------------------- byte reads */

/* stdin_read(max): green io.read on stdin (lib/green/stdin.lua). Waits on
** the same poll as readline, then one read(): at most 'max' bytes as they
** come (a terminal gives a line at a time, in its own cooked mode, as
** plain Lua's io.read sees it). Bytes readline buffered come first. One
** reader of stdin at a time, line or byte: while another green thread
** reads (the REPL's prompt included) this returns nil, err at once rather
** than take input from under it. End of input is not sticky (a terminal
** may go on after Ctrl-D, as with stdio). */
static const char STDIN_BUSY[] = "stdin is being read by another green thread";

static void stdin_cancel(lua_State *L) {
  (void)L;
  C.busy = 0;
  if (C.polling > 0) uv_poll_stop(&C.poll);
}

static void stdin_poll_cb(uv_poll_t *handle, int status, int events) {
  (void)handle, (void)events;
  uv_poll_stop(&C.poll);
  if (C.readers.head) {
    lua_pushinteger(gl_H.L, status);
    gl_wake_one(gl_H.L, &C.readers);
  }
}

static int stdin_fail(lua_State *L, int e) {
  luaL_pushfail(L);
  lua_pushstring(L, strerror(e));
  lua_pushinteger(L, e);
  return 3;
}

/* Frame: 1 max. */
static int stdin_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int polled = lua_gettop(L) > 1;
  int pstatus = polled ? (int)lua_tointeger(L, -1) : 0;
  lua_settop(L, 1);
  C.busy = 0;
  if (pstatus < 0) return stdin_fail(L, -pstatus);
  size_t max = (size_t)lua_tointeger(L, 1);
  if (C.len > 0) {                     /* what readline read ahead */
    size_t n = C.len < max ? C.len : max;
    lua_pushlstring(L, C.buf, n);
    memmove(C.buf, C.buf + n, C.len - n);
    C.len -= n;
    return 1;
  }
  if (C.polling == 0)
    C.polling = uv_poll_init(gl_H.loop, &C.poll, 0) == 0 ? 1 : -1;
  if (C.polling > 0 && !polled) {      /* wait until a read will not block */
    uv_poll_start(&C.poll, UV_READABLE, stdin_poll_cb);
    C.busy = 1;
    return gl_block_cancel(L, "read", &C.readers, -1, stdin_read_k, stdin_cancel);
  }
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, max);
  ssize_t n;
  do n = read(0, p, max); while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && C.polling > 0) {
    lua_settop(L, 1);                  /* someone else took it: wait again */
    uv_poll_start(&C.poll, UV_READABLE, stdin_poll_cb);
    C.busy = 1;
    return gl_block_cancel(L, "read", &C.readers, -1, stdin_read_k, stdin_cancel);
  }
  if (n < 0) return stdin_fail(L, errno);
  if (n == 0) {
    luaL_pushfail(L);
    return 1;
  }
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

static int l_stdin_read(lua_State *L) {
  int ok;
  lua_Integer max = lua_tointegerx(L, 1, &ok);
  if (!ok) return gl_typeerror(L, 1, "stdin_read", "integer");
  if (max <= 0) return gl_argerror(L, 1, "stdin_read", "size out of range");
  if (max > (1 << 20)) max = 1 << 20;
  if (!lua_isyieldable(L) && !C.busy) {
    /* where Lua cannot yield (a __gc, a C iterator's callback): a plain
    ** blocking read, as stock Lua does, rather than an error */
    if (C.len > 0) {
      lua_settop(L, 0);
      lua_pushinteger(L, max);
      return stdin_read_k(L, LUA_OK, 0);   /* takes from the buffer, never blocks */
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)max);
    ssize_t n;
    do n = read(0, p, (size_t)max); while (n < 0 && errno == EINTR);
    if (n < 0) return stdin_fail(L, errno);
    if (n == 0) {
      luaL_pushfail(L);
      return 1;
    }
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
  }
  gl_check_block(L, "read");
  if (C.busy) {
    luaL_pushfail(L);
    lua_pushstring(L, STDIN_BUSY);
    lua_pushinteger(L, EBUSY);   /* nil, message, code: as every read error */
    return 3;
  }
  lua_settop(L, 0);
  lua_pushinteger(L, max);
  return stdin_read_k(L, LUA_OK, 0);
}

/* console_write(s): output that leaves the line being edited intact: the
** prompt and input are erased, whole lines written, and redrawn below. */
static int l_console_write(lua_State *L) {
  size_t n;
  const char *s = check_string(L, 1, "console_write", &n);
  if (!C.editing) {
    flush_held();
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    return 0;
  }
  const char *end = s + n, *last_nl = NULL;
  for (const char *p = s; p < end; p++) if (*p == '\n') last_nl = p;
  if (last_nl == NULL) {                /* no line ends yet: keep it for later */
    if (!hold(s, n)) return luaL_error(L, "console_write: not enough memory");
    return 0;
  }
  fputs("\r\033[K", stdout);           /* erase the prompt and the input */
  flush_held();
  fwrite(s, 1, (size_t)(last_nl + 1 - s), stdout);
  fflush(stdout);
  if (!hold(last_nl + 1, (size_t)(end - last_nl - 1)))
    return luaL_error(L, "console_write: not enough memory");
  rl_forced_update_display();          /* and draw them again below */
  return 0;
}

/* history(path): load it, and save every new line there */
static int l_history(lua_State *L) {
  size_t n;
  const char *path = check_string(L, 1, "history", &n);
  if (strlen(path) != n) return luaL_error(L, "bad argument #1 to 'history' (path contains a zero byte)");
  if (!terminal_mode()) return 0;
  free(C.history);
  C.history = strdup(path);
  using_history();
  read_history(path);
  history_truncate_file(path, 1000);
  return 0;
}

static int l_is_terminal(lua_State *L) {
  lua_pushboolean(L, terminal_mode());
  return 1;
}

void gl_open_console(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"readline", l_readline}, {"console_write", l_console_write},
    {"history", l_history}, {"is_terminal", l_is_terminal},
    {"stdin_read", l_stdin_read}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
}
