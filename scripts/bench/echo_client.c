/*
** echo_client.c: the load generator of the network benchmarks (libuv, one
** thread; OpenSSL on memory BIOs with -t, no certificate verification).
**
** usage: echo_client [-m MODE] [-t] [-c CONNS] [-d SECONDS] [-w WARMUP]
**                    [-s SIZE] [-W WINDOW] [-P SERVER_PID] HOST PORT
** MODE:
**   echo       (default) CONNS connections (default 100), each sending a SIZE
**              byte message (default 64) and waiting for all of its echo
**              before sending the next. Prints messages/s.
**   bulk       CONNS connections (give a few) each sending 64 KiB writes,
**              never more than WINDOW bytes (default 256 KiB; more was
**              slower here, not faster) ahead of what came back. Prints echoed
**              MB/s (10^6 bytes) received.
**   handshake  CONNS slots, each in a loop: connect, (TLS handshake,) send 1
**              byte, wait for its echo, close (with -t: close_notify first;
**              then a reset, SO_LINGER 0, so no TIME_WAIT piles up).
**              Prints completed loops (handshakes) per second.
**   idle       open CONNS connections (256 connecting at a time), send
**              nothing, hold them until the server closes them all or for
**              SECONDS; prints how many were open at once.
** echo and bulk measure once every connection is up; all modes but idle
** measure for SECONDS (default 10) after WARMUP seconds (default 1) not
** counted. The line printed: RATE SERVER_CPU CLIENT_CPU: the CPU time
** (user+system) the server (-P, from /proc; -1 without) and this client
** used during the measured window, as a fraction of it (1.0 = one core).
*/
#include "netbench.h"
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

enum { M_ECHO, M_BULK, M_HANDSHAKE, M_IDLE };
#define CHUNK (64 * 1024)
static size_t window = 4 * CHUNK;  /* -W */
#define MAX_CONNECTING 256

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  SSL *ssl;
  BIO *rbio, *wbio;
  int up;            /* connected (and handshaken) */
  size_t got;        /* echo: bytes of the current echo so far */
  uint64_t sent, recvd;  /* bulk */
} conn;

static int mode = M_ECHO, tls = 0, nconns = 100, size = 64;
static double seconds = 10, warmup = 1;
static const char *server_pid;
static struct sockaddr_storage addr;
static SSL_CTX *ctx;
static uv_loop_t *loop;
static uv_timer_t timer;

static char rbuf[256 * 1024], plain[64 * 1024], message[CHUNK];
static uint64_t count, bytes_in;   /* echoes or handshakes; bulk bytes */
static int up, started, open_now, max_open, failures, measuring;
static uint64_t t0, count0, bytes0;
static double server0, client0;

static double client_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void start_conn(void);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* ------------------------------------------------------------ measuring */

static void on_window_end(uv_timer_t *t) {
  (void)t;
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  double rate = mode == M_BULK ? (double)(bytes_in - bytes0) / 1e6 / secs
                             : (double)(count - count0) / secs;
  double scpu = server_pid ? (nb_cpu(server_pid) - server0) / secs : -1;
  double ccpu = (client_cpu() - client0) / secs;
  printf("%.1f %.3f %.3f\n", rate, scpu, ccpu);
  fflush(stdout);
  if (failures) fprintf(stderr, "echo_client: %d connections failed\n", failures);
  exit(0);
}

static void on_warm(uv_timer_t *t) {
  t0 = uv_hrtime();
  count0 = count;
  bytes0 = bytes_in;
  server0 = server_pid ? nb_cpu(server_pid) : 0;
  client0 = client_cpu();
  measuring = 1;
  uv_timer_start(t, on_window_end, (uint64_t)(seconds * 1000), 0);
}

static void start_clock(void) {
  uv_timer_start(&timer, on_warm, (uint64_t)(warmup * 1000), 0);
}

static void on_idle_deadline(uv_timer_t *t) {
  (void)t;
  printf("%d\n", max_open);
  fflush(stdout);
  exit(0);
}

/* ------------------------------------------------------------- sending */

static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (c->ssl) SSL_free(c->ssl);
  free(c);
}

static void conn_close(conn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (c->ssl && c->up) {
    SSL_shutdown(c->ssl);
    nb_tls_flush((uv_stream_t *)&c->tcp, c->wbio, NULL);
  }
  if (mode == M_HANDSHAKE) {  /* reset, leaving no TIME_WAIT behind: some */
    uv_os_fd_t fd;            /* 10^5 of them would slow every connect */
    struct linger lg = { 1, 0 };
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void send_bytes(conn *c, const char *data, size_t n) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  int r;
  if (c->ssl) {
    if (SSL_write(c->ssl, data, (int)n) != (int)n) die("SSL_write failed");
    r = nb_tls_flush(s, c->wbio, NULL);
  } else {
    r = nb_write_bytes(s, data, n, 1, NULL);  /* 'message' is static */
  }
  if (r < 0) die("write: %s", uv_strerror(r));
}

static void pump(conn *c) {
  while (c->sent - c->recvd < window) {
    send_bytes(c, message, CHUNK);
    c->sent += CHUNK;
  }
}

/* ------------------------------------------------ what each mode does */

/* The connection is up (TCP connected and, with TLS, handshaken). */
static void ready(conn *c) {
  c->up = 1;
  switch (mode) {
    case M_ECHO:
      send_bytes(c, message, (size_t)size);
      if (++up == nconns) start_clock();
      break;
    case M_BULK:
      pump(c);
      if (++up == nconns) start_clock();
      break;
    case M_HANDSHAKE:
      send_bytes(c, message, 1);
      break;
    case M_IDLE:
      break;
  }
}

static void received(conn *c, const char *data, size_t n) {
  (void)data;
  switch (mode) {
    case M_ECHO:
      c->got += n;
      while (c->got >= (size_t)size) {
        c->got -= (size_t)size;
        count++;
        send_bytes(c, message, (size_t)size);
      }
      break;
    case M_BULK:
      c->recvd += n;
      bytes_in += n;
      pump(c);
      break;
    case M_HANDSHAKE:
      count++;
      conn_close(c);
      start_conn();
      break;
    case M_IDLE:
      break;
  }
}

/* The connection failed or the server closed it. */
static void lost(conn *c, const char *what, int err) {
  switch (mode) {
    case M_ECHO: case M_BULK:
      die("echo_client: %s: %s", what, err ? uv_strerror(err) : "TLS failure");
      break;
    case M_HANDSHAKE:
      failures++;
      conn_close(c);
      start_conn();
      break;
    case M_IDLE:
      conn_close(c);
      if (c->up) {
        open_now--;
      } else {                /* a refused or reset connect: try again */
        if (++failures > 1000) die("echo_client: %s: %s (1000 failures)", what, uv_strerror(err));
        started--;
        start_conn();
      }
      if (open_now == 0 && started == nconns && max_open > 0) on_idle_deadline(NULL);
      break;
  }
}

/* ------------------------------------------------------------- libuv */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

static void tls_progress(conn *c) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (!c->up) {
    int r = SSL_do_handshake(c->ssl);
    if (nb_tls_flush(s, c->wbio, NULL) < 0) {
      lost(c, "write", 0);
      return;
    }
    if (r != 1) {
      if (!nb_tls_retry(c->ssl, r)) lost(c, "handshake", 0);
      return;
    }
    ready(c);
    if (uv_is_closing((uv_handle_t *)s)) return;
  }
  for (;;) {
    int m = SSL_read(c->ssl, plain, sizeof plain);
    if (m <= 0) {
      if (!nb_tls_retry(c->ssl, m)) lost(c, "SSL_read", 0);
      else if (nb_tls_flush(s, c->wbio, NULL) < 0) lost(c, "write", 0);
      return;
    }
    received(c, plain, (size_t)m);
    if (uv_is_closing((uv_handle_t *)s)) return;
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n == 0 || uv_is_closing((uv_handle_t *)s)) return;
  if (n < 0) {
    lost(c, "read", (int)n);
    return;
  }
  if (c->ssl) {
    if (BIO_write(c->rbio, buf->base, (int)n) != (int)n) die("BIO_write failed");
    tls_progress(c);
  } else {
    received(c, buf->base, (size_t)n);
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (status < 0) {
    lost(c, "connect", status);
    return;
  }
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (uv_read_start(s, on_alloc, on_read) != 0) {
    lost(c, "read_start", 0);
    return;
  }
  if (mode == M_IDLE) {
    c->up = 1;
    if (++open_now > max_open) max_open = open_now;
    if (max_open == nconns) fprintf(stderr, "echo_client: %d connections open\n", nconns);
    if (started < nconns) start_conn();
    return;
  }
  if (c->ssl) tls_progress(c);
  else ready(c);
}

static void start_conn(void) {
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) die("out of memory");
  check_uv(uv_tcp_init(loop, &c->tcp), "uv_tcp_init");
  c->tcp.data = c;
  c->creq.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  if (tls) c->ssl = nb_tls_new(ctx, &c->rbio, &c->wbio, 0);
  started++;
  int err = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&addr, on_connect);
  if (err) {
    if (mode == M_HANDSHAKE || mode == M_IDLE) {
      failures++;
      started--;
      uv_close((uv_handle_t *)&c->tcp, on_closed);
      if (failures > 1000) die("echo_client: connect: %s (1000 times)", uv_strerror(err));
      return;
    }
    die("echo_client: connect: %s", uv_strerror(err));
  }
}

static void usage(void) {
  die("usage: echo_client [-m echo|bulk|handshake|idle] [-t] [-c CONNS] [-d SECONDS]\n"
      "                   [-w WARMUP] [-s SIZE] [-W WINDOW] [-P SERVER_PID] HOST PORT");
}

int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *o = argv[i];
    if (strcmp(o, "-t") == 0) { tls = 1; continue; }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(o, "-m") == 0) {
      if (strcmp(v, "echo") == 0) mode = M_ECHO;
      else if (strcmp(v, "bulk") == 0) mode = M_BULK;
      else if (strcmp(v, "handshake") == 0) mode = M_HANDSHAKE;
      else if (strcmp(v, "idle") == 0) mode = M_IDLE;
      else usage();
    } else if (strcmp(o, "-c") == 0) nconns = atoi(v);
    else if (strcmp(o, "-d") == 0) seconds = atof(v);
    else if (strcmp(o, "-w") == 0) warmup = atof(v);
    else if (strcmp(o, "-s") == 0) size = atoi(v);
    else if (strcmp(o, "-W") == 0) window = (size_t)atol(v);
    else if (strcmp(o, "-P") == 0) server_pid = v;
    else usage();
  }
  if (argc - i != 2 || nconns < 1 || size < 1 || size > CHUNK || seconds <= 0) usage();
  const char *host = argv[i];
  int port = atoi(argv[i + 1]);
  signal(SIGPIPE, SIG_IGN);
  memset(message, 'x', sizeof message);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
    die("echo_client: not a numeric address: %s", host);
  if (tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) die("SSL_CTX_new failed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  /* full handshakes */
  }
  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  switch (mode) {
    case M_ECHO: case M_BULK:
      for (int k = 0; k < nconns; k++) start_conn();
      break;
    case M_HANDSHAKE:
      for (int k = 0; k < nconns; k++) start_conn();
      start_clock();
      break;
    case M_IDLE:
      for (int k = 0; k < nconns && k < MAX_CONNECTING; k++) start_conn();
      uv_timer_start(&timer, on_idle_deadline, (uint64_t)(seconds * 1000), 0);
      break;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  die("echo_client: the loop ended early");
  return 1;
}
