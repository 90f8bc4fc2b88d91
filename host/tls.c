/*
** tls.c: placeholder until wrap_ssl lands: plain sockets never call these.
*/
#include "tls.h"

int gl_tls_feed(gl_sock *s, const char *data, size_t n) { (void)s, (void)data, (void)n; return 0; }
int gl_tls_pump(lua_State *L, gl_sock *s) { (void)L, (void)s; return 0; }
int gl_tls_write(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n) {
  return gl_sock_write_raw(L, s, sidx, data, n);
}
void gl_tls_accepted(lua_State *L, int lidx, int cidx) { (void)L, (void)lidx, (void)cidx; }
void gl_tls_close_notify(lua_State *L, gl_sock *s) { (void)L, (void)s; }
void gl_tls_free(gl_sock *s) { (void)s; }
void gl_open_tls(lua_State *L) { (void)L; }
