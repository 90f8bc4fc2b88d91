/*
** netbench.h: what echo_client.c and echo_server.c share: writing to a
** libuv stream without a request when the kernel takes everything, the TLS
** plumbing over memory BIOs, and reading a process's RSS and CPU time from
** /proc. Header-only (static functions), single-threaded programs.
*/
#ifndef NETBENCH_H
#define NETBENCH_H

#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static inline void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static inline void check_uv(int err, const char *what) {
  if (err) die("%s: %s", what, uv_strerror(err));
}

/* ------------------------------------------------------------- writing */

/* A queued write owning a copy of its bytes. */
typedef struct {
  uv_write_t req;
  void (*done)(uv_stream_t *stream, int status);  /* may be NULL */
  char *owned;    /* freed when done; NULL if the bytes are static */
} nb_write;

static inline void nb_on_write(uv_write_t *req, int status) {
  nb_write *w = (nb_write *)req;
  uv_stream_t *stream = req->handle;
  void (*done)(uv_stream_t *, int) = w->done;
  free(w->owned);
  free(w);
  if (done) done(stream, status);
}

/* Write n bytes: at once if the kernel takes them (no request, no copy),
** else the rest is queued with uv_write, copied unless 'stable' (the bytes
** outlive the write). 'done' runs when a queued write finishes (not when
** everything went at once). Returns 1 if something was queued, 0 if all
** went at once, or a negative libuv error. */
static inline int nb_write_bytes(uv_stream_t *s, const char *data, size_t n, int stable,
                          void (*done)(uv_stream_t *, int)) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int sent = uv_try_write(s, &b, 1);
  if (sent == UV_EAGAIN || sent == UV_ENOSYS) sent = 0;
  if (sent < 0) return sent;
  if ((size_t)sent == n) return 0;
  nb_write *w = malloc(sizeof *w);
  if (w == NULL) return UV_ENOMEM;
  w->done = done;
  w->owned = NULL;
  const char *rest = data + sent;
  size_t left = n - (size_t)sent;
  if (!stable) {
    w->owned = malloc(left);
    if (w->owned == NULL) {
      free(w);
      return UV_ENOMEM;
    }
    memcpy(w->owned, rest, left);
    rest = w->owned;
  }
  b = uv_buf_init((char *)rest, (unsigned)left);
  int err = uv_write(&w->req, s, &b, 1, nb_on_write);
  if (err) {
    free(w->owned);
    free(w);
    return err;
  }
  return 1;
}

/* ----------------------------------------------------------------- TLS */

/* Move whatever TLS produced (wbio) to the stream. 1 if something is
** queued now, 0 if not, < 0 on error. */
static inline int nb_tls_flush(uv_stream_t *s, BIO *wbio, void (*done)(uv_stream_t *, int)) {
  static char chunk[256 * 1024];
  int queued = 0;
  for (;;) {
    size_t pending = BIO_ctrl_pending(wbio);
    if (pending == 0) return queued;
    int n = BIO_read(wbio, chunk, (int)(pending < sizeof chunk ? pending : sizeof chunk));
    if (n <= 0) return queued;
    int r = nb_write_bytes(s, chunk, (size_t)n, 0, done);
    if (r < 0) return r;
    if (r > 0) queued = 1;
  }
}

/* A new SSL on a pair of memory BIOs. */
static inline SSL *nb_tls_new(SSL_CTX *ctx, BIO **rbio, BIO **wbio, int server) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL) die("SSL_new failed");
  *rbio = BIO_new(BIO_s_mem());
  *wbio = BIO_new(BIO_s_mem());
  if (*rbio == NULL || *wbio == NULL) die("BIO_new failed");
  BIO_set_mem_eof_return(*rbio, -1);  /* empty: retry, not EOF */
  SSL_set_bio(ssl, *rbio, *wbio);
  if (server) SSL_set_accept_state(ssl);
  else SSL_set_connect_state(ssl);
  return ssl;
}

/* Is this SSL_get_error result "wait for more input", not a failure? */
static inline int nb_tls_retry(SSL *ssl, int ret) {
  int e = SSL_get_error(ssl, ret);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* --------------------------------------------------------------- /proc */

/* VmRSS of a process ("self" or a pid), in bytes; -1 if unreadable. */
static inline long long nb_rss(const char *pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%s/status", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  long long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) break;
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* utime + stime of a process, in seconds; -1 if unreadable. */
static inline double nb_cpu(const char *pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');  /* the command name may hold spaces */
  if (p == NULL) return -1;
  unsigned long long ut = 0, st = 0;
  /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
  ** majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#endif
