/*
** echo_server.c: the C baseline of the network benchmarks: a minimal libuv
** echo server. Whatever a connection reads goes straight back: uv_try_write
** of the bytes read (uv_write of a copy of what the kernel would not take,
** reading paused until that is out). With -t, the same over OpenSSL on
** memory BIOs: bytes read feed the SSL, what SSL_read yields is SSL_written
** back, and what the SSL produces is written to the socket.
**
** usage: echo_server [-p PORT] [-t CERT KEY] [-n N]
**   -p PORT  listen on 127.0.0.1:PORT (default 0: any free port)
**   -t       TLS with this certificate (chain) file and key file
**   -n N     idle-connections mode: once N connections are accepted (each
**            reading, nothing arrives), wait 0.3 s, print (VmRSS now - VmRSS
**            right after listening) / N, in bytes, and exit
** Prints the port it listens on as its first line of output.
*/
#include "netbench.h"
#include <signal.h>

typedef struct conn {
  uv_tcp_t tcp;
  SSL *ssl;
  BIO *rbio, *wbio;
  int reading;
} conn;

static SSL_CTX *ctx;
static uv_tcp_t server;
static char rbuf[64 * 1024];      /* libuv reads here (one thread, one loop) */
static char plain[64 * 1024];     /* what SSL_read decrypted */
static long accepted, idle_n;
static long long rss0;
static uv_timer_t idle_timer;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (c->ssl) SSL_free(c->ssl);  /* frees the BIOs too */
  free(c);
}

static void conn_close(conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

/* A queued write is done: read again once everything is out. */
static void on_written(uv_stream_t *s, int status) {
  conn *c = s->data;
  if (uv_is_closing((uv_handle_t *)s)) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (!c->reading && s->write_queue_size == 0) {
    if (uv_read_start(s, on_alloc, on_read) == 0) c->reading = 1;
    else conn_close(c);
  }
}

/* After writing: pause reading while anything waits to go out. */
static void backpressure(conn *c, int queued) {
  if (queued < 0) {
    conn_close(c);
  } else if ((queued > 0 || c->tcp.write_queue_size > 0) && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void tls_read(conn *c, const char *data, size_t n) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (BIO_write(c->rbio, data, (int)n) != (int)n) {
    conn_close(c);
    return;
  }
  if (!SSL_is_init_finished(c->ssl)) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1 && !nb_tls_retry(c->ssl, r)) {
      nb_tls_flush(s, c->wbio, NULL);  /* the alert, if any */
      conn_close(c);
      return;
    }
  }
  int queued = 0;
  if (SSL_is_init_finished(c->ssl)) {
    for (;;) {
      int m = SSL_read(c->ssl, plain, sizeof plain);
      if (m <= 0) {
        if (nb_tls_retry(c->ssl, m)) break;
        conn_close(c);  /* close_notify or a failure */
        return;
      }
      if (SSL_write(c->ssl, plain, m) != m) {
        conn_close(c);
        return;
      }
      int r = nb_tls_flush(s, c->wbio, on_written);
      if (r < 0) {
        conn_close(c);
        return;
      }
      queued |= r;
    }
  }
  int r = nb_tls_flush(s, c->wbio, on_written);
  backpressure(c, r < 0 ? r : (queued | r));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n == 0) return;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (c->ssl) tls_read(c, buf->base, (size_t)n);
  else backpressure(c, nb_write_bytes(s, buf->base, (size_t)n, 0, on_written));
}

static void on_idle_timer(uv_timer_t *t) {
  (void)t;
  long long rss = nb_rss("self");
  printf("%.1f %lld\n", (double)(rss - rss0) / (double)idle_n, rss - rss0);
  fflush(stdout);
  exit(0);
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) {
    fprintf(stderr, "echo_server: accept: %s\n", uv_strerror(status));
    return;
  }
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) die("out of memory");
  check_uv(uv_tcp_init(srv->loop, &c->tcp), "uv_tcp_init");
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (ctx) c->ssl = nb_tls_new(ctx, &c->rbio, &c->wbio, 1);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  c->reading = 1;
  if (idle_n > 0 && ++accepted == idle_n) {
    uv_timer_init(srv->loop, &idle_timer);
    uv_timer_start(&idle_timer, on_idle_timer, 300, 0);
  }
}

static void usage(void) {
  die("usage: echo_server [-p PORT] [-t CERT KEY] [-n N]");
}

int main(int argc, char **argv) {
  int port = 0;
  const char *cert = NULL, *key = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) idle_n = atol(argv[++i]);
    else if (strcmp(argv[i], "-t") == 0 && i + 2 < argc) {
      cert = argv[++i];
      key = argv[++i];
    } else usage();
  }
  signal(SIGPIPE, SIG_IGN);
  if (cert) {
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) die("SSL_CTX_new failed");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die("cannot load certificate %s", cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die("cannot load key %s", key);
  }
  uv_loop_t *loop = uv_default_loop();
  struct sockaddr_in addr;
  check_uv(uv_ip4_addr("127.0.0.1", port, &addr), "uv_ip4_addr");
  check_uv(uv_tcp_init(loop, &server), "uv_tcp_init");
  check_uv(uv_tcp_bind(&server, (struct sockaddr *)&addr, 0), "bind");
  check_uv(uv_listen((uv_stream_t *)&server, 4096, on_connection), "listen");
  struct sockaddr_storage ss;
  int len = sizeof ss;
  check_uv(uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len), "getsockname");
  printf("%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  rss0 = nb_rss("self");
  return uv_run(loop, UV_RUN_DEFAULT);
}
