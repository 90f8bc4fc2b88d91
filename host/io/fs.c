/*
** fs.c: file system calls on libuv's thread pool, for green.fs
** (lib/green/fs.lua). The calling green thread blocks while its request
** runs on a pool thread; the others keep running.
**
** The contract:
**  - Each call's request (and the buffer it reads into or writes from) is
**    C memory owned by the request, not by the waiting thread. A waiter
**    that is killed or times out only marks its request orphaned; the
**    request's callback then frees it (closing the fd an orphaned open
**    made). A request that completed but whose waiter was interrupted
**    before it ran is freed by the cancel hook. So the callback never
**    touches freed memory, and nothing leaks.
**  - An open file is a "green.fs_file" userdata over a shared, counted
**    descriptor: every request in flight holds a reference, so closing a
**    file (or collecting it) while a killed reader's request still runs
**    defers the close(2) until that request is done: the fd is never
**    reused under a request.
**  - close(2) itself is done at once, not on the pool (it does not wait on
**    a local disk, and __gc must not block).
**  - Failures return nil, strerror(errno), errno (the Lua side prefixes
**    the path, as io does). Misuse raises, naming the function.
** Opened as part of "green.core" (host-internal names, used by green.fs):
**   fs_open(path, flags, mode) -> file | nil, err, code
**       flags: "r", "w", "a", "r+", "w+", "a+" as fopen's
**   file:read(n, offset) -> string ("" at the end) | nil, err, code
**       offset < 0: at the fd's position (a pipe)
**   file:write(data, offset) -> true | nil, err, code   (all of it)
**   file:write_now(data, offset) -> the same, at once (for __gc)
**   file:stat() -> stat table | nil, err, code
**   file:close() -> true | nil, err, code;  file:fileno() -> fd | nil
**   fs_stat(path, nofollow) -> {size=, type=, mode=, mtime=, ...} | nil, err, code
**   fs_unlink(path), fs_rmdir(path), fs_mkdir(path, mode), fs_rename(from, to)
**       -> true | nil, err, code
**   fs_scandir(path) -> {names...} | nil, err, code   (no "." and "..")
**   fs_fdtype(fd) -> the type of what fd is ("file", "fifo", "socket",
**       "char", ...) or nil: fstat, at once (for green.stdin)
**   fs_wrap(fn) -> fn behind a C function (see l_wrap)
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "io/fs.h"

#define FILE_MT "green.fs_file"

/* A descriptor shared by its userdata and its requests in flight. */
typedef struct fsfd {
  int fd;
  int refs;
  int close_pending;   /* the userdata closed it: the last request closes */
} fsfd;

typedef struct fsfile {
  fsfd *d;             /* NULL once closed */
} fsfile;

enum { RUNNING, DONE, ORPHAN };

typedef struct fsreq {
  uv_fs_t req;
  gl_waitq wq;          /* its one waiter */
  int state;
  fsfd *d;              /* the file it works on, or NULL */
  char *buf;            /* read into / written from */
  size_t len, off;      /* buffer size; bytes written so far */
  int64_t pos;          /* file offset of the next write, < 0: current */
  struct fsreq *prev, *next;  /* every request alive: see live below */
} fsreq;

/* Requests alive, from start to free: reachable from here, so a request an
** orphaned waiter left in flight at exit is not reported as a leak. */
static fsreq *live;

static void fd_release(fsfd *d) {
  if (d == NULL) return;
  if (--d->refs == 0) {
    if (d->close_pending && d->fd >= 0) close(d->fd);
    free(d);
  }
}

static void req_free(fsreq *q) {
  if (q->prev) q->prev->next = q->next; else live = q->next;
  if (q->next) q->next->prev = q->prev;
  uv_fs_req_cleanup(&q->req);
  fd_release(q->d);
  free(q->buf);
  free(q);
}

static fsreq *req_new(lua_State *L, fsfd *d, size_t buflen) {
  fsreq *q = calloc(1, sizeof *q);
  char *buf = buflen ? malloc(buflen) : NULL;
  if (q == NULL || (buflen && buf == NULL)) {
    free(q);
    free(buf);
    luaL_error(L, "not enough memory");
  }
  q->buf = buf;
  q->len = buflen;
  q->req.data = q;
  q->d = d;
  if (d) d->refs++;
  q->next = live;
  if (live) live->prev = q;
  live = q;
  return q;
}

static void on_done(uv_fs_t *r) {
  fsreq *q = r->data;
  if (q->state == ORPHAN) {
    if (r->fs_type == UV_FS_OPEN && r->result >= 0) close((int)r->result);
    req_free(q);
    return;
  }
  q->state = DONE;
  lua_pushnil(gl_H.L);
  gl_wake_one(gl_H.L, &q->wq);
}

/* The request sits on the stack below the resume tag and value. */
static void req_cancel(lua_State *L) {
  fsreq *q = lua_touserdata(L, -3);
  if (q->state == DONE) {
    if (q->req.fs_type == UV_FS_OPEN && q->req.result >= 0) close((int)q->req.result);
    req_free(q);
  } else {
    q->state = ORPHAN;
    uv_cancel((uv_req_t *)&q->req);   /* if not started: on_done with ECANCELED */
  }
}

/* Start request q (already submitted, or failed to: 'rc'), block in k. */
static int req_wait(lua_State *L, fsreq *q, int rc, const char *what, lua_KFunction k) {
  if (rc < 0) {
    req_free(q);
    luaL_pushfail(L);
    lua_pushstring(L, strerror(-rc));
    lua_pushinteger(L, -rc);
    return 3;
  }
  lua_pushlightuserdata(L, q);
  return gl_block_cancel(L, what, &q->wq, -1, k, req_cancel);
}

/* In a continuation: the request, with tag and value popped. */
static fsreq *req_resumed(lua_State *L) {
  lua_pop(L, 2);
  fsreq *q = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return q;
}

static int push_error(lua_State *L, fsreq *q) {
  int e = (int)-q->req.result;
  req_free(q);
  luaL_pushfail(L);
  lua_pushstring(L, strerror(e));
  lua_pushinteger(L, e);
  return 3;
}

static const char *check_path(lua_State *L, int arg, const char *fname) {
  size_t n;
  const char *s = lua_tolstring(L, arg, &n);
  if (s == NULL) gl_typeerror(L, arg, fname, "string");
  if (strlen(s) != n) gl_argerror(L, arg, fname, "path contains a zero byte");
  return s;
}

/* An integer argument (floats with an integral value are fine). */
static lua_Integer check_int(lua_State *L, int arg, const char *fname) {
  int ok;
  lua_Integer v = lua_tointegerx(L, arg, &ok);
  if (!ok) {
    if (lua_type(L, arg) == LUA_TNUMBER) gl_argerror(L, arg, fname, "number has no integer representation");
    gl_typeerror(L, arg, fname, "number");
  }
  return v;
}

static fsfile *check_file(lua_State *L, const char *fname) {
  fsfile *f = luaL_testudata(L, 1, FILE_MT);
  if (f == NULL) gl_typeerror(L, 1, fname, "green.fs_file");
  return f;
}

static fsfd *open_fd(lua_State *L, const char *fname) {
  fsfile *f = check_file(L, fname);
  if (f->d == NULL) luaL_error(L, "%s: file is closed", fname);
  return f->d;
}

/* ------------------------------------------------------------ open */

static int open_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  fsfile *f = lua_newuserdatauv(L, sizeof *f, 0);
  f->d = NULL;
  luaL_setmetatable(L, FILE_MT);
  fsfd *d = malloc(sizeof *d);
  if (d == NULL) {
    close((int)q->req.result);
    req_free(q);
    return luaL_error(L, "not enough memory");
  }
  d->fd = (int)q->req.result;
  d->refs = 1;
  d->close_pending = 0;
  f->d = d;
  req_free(q);
  return 1;
}

static int l_open(lua_State *L) {
  const char *path = check_path(L, 1, "fs_open");
  const char *mode = luaL_optstring(L, 2, "r");
  lua_Integer perm = lua_isnoneornil(L, 3) ? 0666 : check_int(L, 3, "fs_open");
  int flags;
  if (strcmp(mode, "r") == 0) flags = O_RDONLY;
  else if (strcmp(mode, "w") == 0) flags = O_WRONLY | O_CREAT | O_TRUNC;
  else if (strcmp(mode, "a") == 0) flags = O_WRONLY | O_CREAT | O_APPEND;
  else if (strcmp(mode, "r+") == 0) flags = O_RDWR;
  else if (strcmp(mode, "w+") == 0) flags = O_RDWR | O_CREAT | O_TRUNC;
  else if (strcmp(mode, "a+") == 0) flags = O_RDWR | O_CREAT | O_APPEND;
  else return gl_argerror(L, 2, "fs_open", "invalid mode");
  if (perm < 0 || perm > 07777) return gl_argerror(L, 3, "fs_open", "invalid permissions");
  gl_check_block(L, "fs_open");
  lua_settop(L, 1);
  fsreq *q = req_new(L, NULL, 0);
  int rc = uv_fs_open(gl_H.loop, &q->req, path, flags | O_CLOEXEC, (int)perm, on_done);
  return req_wait(L, q, rc, "fs_open", open_k);
}

/* ------------------------------------------------------ read, write */

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  lua_pushlstring(L, q->buf, (size_t)q->req.result);
  req_free(q);
  return 1;
}

static int l_read(lua_State *L) {
  fsfd *d = open_fd(L, "read");
  lua_Integer n = check_int(L, 2, "read");
  lua_Integer pos = lua_isnoneornil(L, 3) ? -1 : check_int(L, 3, "read");
  if (n <= 0 || n > (1 << 26)) return gl_argerror(L, 2, "read", "size out of range");
  if (pos < -1) pos = -1;
  gl_check_block(L, "read");
  lua_settop(L, 1);
  fsreq *q = req_new(L, d, (size_t)n);
  uv_buf_t b = uv_buf_init(q->buf, (unsigned)n);
  int rc = uv_fs_read(gl_H.loop, &q->req, d->fd, &b, 1, pos, on_done);
  return req_wait(L, q, rc, "read", read_k);
}

static int submit_write(fsreq *q) {
  uv_buf_t b = uv_buf_init(q->buf + q->off, (unsigned)(q->len - q->off));
  uv_fs_req_cleanup(&q->req);
  q->state = RUNNING;
  return uv_fs_write(gl_H.loop, &q->req, q->d->fd, &b, 1, q->pos, on_done);
}

static int write_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  q->off += (size_t)q->req.result;
  if (q->pos >= 0) q->pos += q->req.result;
  if (q->off < q->len && q->req.result > 0)  /* a short write: the rest */
    return req_wait(L, q, submit_write(q), "write", write_k);
  req_free(q);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_write(lua_State *L) {
  fsfd *d = open_fd(L, "write");
  size_t n;
  const char *s = lua_tolstring(L, 2, &n);
  if (s == NULL) return gl_typeerror(L, 2, "write", "string");
  lua_Integer pos = lua_isnoneornil(L, 3) ? -1 : check_int(L, 3, "write");
  if (pos < -1) pos = -1;
  if (n > UINT32_MAX / 2) return gl_argerror(L, 2, "write", "data too large");
  if (n == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  gl_check_block(L, "write");
  fsreq *q = req_new(L, d, n);
  memcpy(q->buf, s, n);   /* the request owns its data: a killed writer's string may go */
  q->pos = pos;
  lua_settop(L, 1);
  return req_wait(L, q, submit_write(q), "write", write_k);
}

/* ------------------------------------------------------------ stat */

static void push_stat(lua_State *L, const uv_stat_t *st) {
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, (lua_Integer)st->st_size);
  lua_setfield(L, -2, "size");
  const char *type;
  switch (st->st_mode & S_IFMT) {
    case S_IFREG: type = "file"; break;
    case S_IFDIR: type = "directory"; break;
    case S_IFLNK: type = "link"; break;
    case S_IFIFO: type = "fifo"; break;
    case S_IFSOCK: type = "socket"; break;
    case S_IFCHR: type = "char device"; break;
    case S_IFBLK: type = "block device"; break;
    default: type = "other"; break;
  }
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushnumber(L, (lua_Number)st->st_mtim.tv_sec + (lua_Number)st->st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushnumber(L, (lua_Number)st->st_atim.tv_sec + (lua_Number)st->st_atim.tv_nsec / 1e9);
  lua_setfield(L, -2, "atime");
  lua_pushnumber(L, (lua_Number)st->st_ctim.tv_sec + (lua_Number)st->st_ctim.tv_nsec / 1e9);
  lua_setfield(L, -2, "ctime");
  lua_pushinteger(L, (lua_Integer)st->st_nlink);
  lua_setfield(L, -2, "nlink");
  lua_pushinteger(L, (lua_Integer)st->st_ino);
  lua_setfield(L, -2, "ino");
}

static int stat_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  push_stat(L, &q->req.statbuf);
  req_free(q);
  return 1;
}

static int l_stat(lua_State *L) {
  const char *path = check_path(L, 1, "fs_stat");
  int nofollow = lua_toboolean(L, 2);
  gl_check_block(L, "fs_stat");
  lua_settop(L, 1);
  fsreq *q = req_new(L, NULL, 0);
  int rc = nofollow ? uv_fs_lstat(gl_H.loop, &q->req, path, on_done)
                    : uv_fs_stat(gl_H.loop, &q->req, path, on_done);
  return req_wait(L, q, rc, "fs_stat", stat_k);
}

static int l_fstat(lua_State *L) {
  fsfd *d = open_fd(L, "stat");
  gl_check_block(L, "stat");
  lua_settop(L, 1);
  fsreq *q = req_new(L, d, 0);
  return req_wait(L, q, uv_fs_fstat(gl_H.loop, &q->req, d->fd, on_done), "stat", stat_k);
}

/* ---------------------------------------- unlink, rmdir, mkdir, rename */

static int true_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  req_free(q);
  lua_pushboolean(L, 1);
  return 1;
}

enum { OP_UNLINK, OP_RMDIR, OP_MKDIR, OP_RENAME };

static int path_op(lua_State *L, int op, const char *fname) {
  const char *path = check_path(L, 1, fname);
  const char *to = op == OP_RENAME ? check_path(L, 2, fname) : NULL;
  lua_Integer perm = 0777;
  if (op == OP_MKDIR && !lua_isnoneornil(L, 2)) {
    perm = check_int(L, 2, fname);
    if (perm < 0 || perm > 07777) return gl_argerror(L, 2, fname, "invalid permissions");
  }
  gl_check_block(L, fname);
  lua_settop(L, 2);
  fsreq *q = req_new(L, NULL, 0);
  int rc;
  switch (op) {
    case OP_UNLINK: rc = uv_fs_unlink(gl_H.loop, &q->req, path, on_done); break;
    case OP_RMDIR: rc = uv_fs_rmdir(gl_H.loop, &q->req, path, on_done); break;
    case OP_MKDIR: rc = uv_fs_mkdir(gl_H.loop, &q->req, path, (int)perm, on_done); break;
    default: rc = uv_fs_rename(gl_H.loop, &q->req, path, to, on_done); break;
  }
  return req_wait(L, q, rc, fname, true_k);
}

static int l_unlink(lua_State *L) { return path_op(L, OP_UNLINK, "fs_unlink"); }
static int l_rmdir(lua_State *L) { return path_op(L, OP_RMDIR, "fs_rmdir"); }
static int l_mkdir(lua_State *L) { return path_op(L, OP_MKDIR, "fs_mkdir"); }
static int l_rename(lua_State *L) { return path_op(L, OP_RENAME, "fs_rename"); }

/* ------------------------------------------------------------ scandir */

static int scandir_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  fsreq *q = req_resumed(L);
  if (q->req.result < 0) return push_error(L, q);
  lua_newtable(L);
  uv_dirent_t ent;
  lua_Integer i = 0;
  while (uv_fs_scandir_next(&q->req, &ent) != UV_EOF) {
    if (strcmp(ent.name, ".") == 0 || strcmp(ent.name, "..") == 0) continue;
    lua_pushstring(L, ent.name);
    lua_rawseti(L, -2, ++i);
  }
  req_free(q);
  return 1;
}

static int l_scandir(lua_State *L) {
  const char *path = check_path(L, 1, "fs_scandir");
  gl_check_block(L, "fs_scandir");
  lua_settop(L, 1);
  fsreq *q = req_new(L, NULL, 0);
  return req_wait(L, q, uv_fs_scandir(gl_H.loop, &q->req, path, 0, on_done), "fs_scandir", scandir_k);
}

/* ------------------------------------------------- closing, the rest */

/* Close now, or, with requests in flight, when the last one ends. */
static int file_close(fsfile *f) {
  fsfd *d = f->d;
  f->d = NULL;
  if (d->refs == 1) {
    int rc = close(d->fd);
    int e = errno;
    free(d);
    return rc == 0 ? 0 : e;
  }
  d->close_pending = 1;
  fd_release(d);
  return 0;
}

static int l_close(lua_State *L) {
  fsfile *f = check_file(L, "close");
  if (f->d == NULL) return luaL_error(L, "close: file is closed");
  int e = file_close(f);
  if (e == 0 || e == EINTR) {   /* EINTR: the fd is gone all the same */
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_pushstring(L, strerror(e));
  lua_pushinteger(L, e);
  return 3;
}

/* file:write_now(data, offset): at once, for a finalizer, which cannot
** block: the output a collected file still had buffered. */
static int l_write_now(lua_State *L) {
  fsfd *d = open_fd(L, "write_now");
  size_t n;
  const char *s = lua_tolstring(L, 2, &n);
  if (s == NULL) return gl_typeerror(L, 2, "write_now", "string");
  lua_Integer pos = lua_isnoneornil(L, 3) ? -1 : check_int(L, 3, "write_now");
  while (n > 0) {
    ssize_t w = pos >= 0 ? pwrite(d->fd, s, n, (off_t)pos) : write(d->fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      luaL_pushfail(L);
      lua_pushstring(L, strerror(e));
      lua_pushinteger(L, e);
      return 3;
    }
    s += w, n -= (size_t)w;
    if (pos >= 0) pos += w;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_gc(lua_State *L) {
  fsfile *f = luaL_testudata(L, 1, FILE_MT);
  if (f && f->d) file_close(f);
  return 0;
}

static int l_fileno(lua_State *L) {
  fsfile *f = check_file(L, "fileno");
  if (f->d == NULL) luaL_pushfail(L);
  else lua_pushinteger(L, f->d->fd);
  return 1;
}

static int l_tostring(lua_State *L) {
  fsfile *f = check_file(L, "__tostring");
  if (f->d) lua_pushfstring(L, "green.fs_file (fd %d)", f->d->fd);
  else lua_pushliteral(L, "green.fs_file (closed)");
  return 1;
}

static int l_fdtype(lua_State *L) {
  lua_Integer fd = check_int(L, 1, "fs_fdtype");
  struct stat st;
  if (fd < 0 || fd > INT32_MAX || fstat((int)fd, &st) != 0) {
    luaL_pushfail(L);
    return 1;
  }
  const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory"
    : S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket"
    : S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : "other";
  lua_pushstring(L, type);
  return 1;
}

/* fs_wrap(fn) -> a C function that calls fn with its arguments and
** returns its results. For green.fileobj's methods: Lua turns a tail call
** to a Lua function into a jump, so `return f:read("x")` would lose the
** caller's frame and its errors the "file:line:" that a C method's have;
** through this, the caller stays on the stack, as with io's own methods.
** Yields pass through (lua_callk). */
static int wrap_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return lua_gettop(L);
}

static int wrapped(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, wrap_k);
  return lua_gettop(L);
}

static int l_wrap(lua_State *L) {
  if (lua_type(L, 1) != LUA_TFUNCTION) return gl_typeerror(L, 1, "fs_wrap", "function");
  lua_settop(L, 1);
  lua_pushcclosure(L, wrapped, 1);
  return 1;
}

void gl_open_fs(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"read", l_read}, {"write", l_write}, {"write_now", l_write_now}, {"stat", l_fstat}, {"close", l_close},
    {"fileno", l_fileno}, {NULL, NULL}
  };
  static const luaL_Reg functions[] = {
    {"fs_open", l_open}, {"fs_stat", l_stat}, {"fs_unlink", l_unlink}, {"fs_rmdir", l_rmdir},
    {"fs_mkdir", l_mkdir}, {"fs_rename", l_rename}, {"fs_scandir", l_scandir},
    {"fs_fdtype", l_fdtype}, {"fs_wrap", l_wrap}, {NULL, NULL}
  };
  if (luaL_newmetatable(L, FILE_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
