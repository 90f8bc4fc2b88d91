/*
** x509.c: certificate objects (LuaSec 1.2's ssl.x509 methods) and what a
** TLS socket tells about its peer, for lib/green/luasec.lua.
**
** A certificate ("green.x509") holds a reference to an OpenSSL X509; it
** never changes. Its methods give LuaSec's results: pem() the PEM text,
** subject()/issuer() an array of {oid=, name=, value=}, digest([alg])
** lowercase hex ("sha1" default; nil, "digest algorithm not supported
** (alg)"), serial() uppercase hex, notbefore()/notafter() OpenSSL's "Mon DD
** HH:MM:SS YYYY GMT", validat(time) a boolean, extensions() the subject and
** issuer alternative names by OID ({name=, dNSName={...}, iPAddress={...},
** rfc822Name=, uniformResourceIdentifier=, ...}), pubkey() -> pem, type,
** bits, issued(ca, ...) -> true or false, reason (ca: the issuer, then an
** optional chain), getsignaturename(), setencode("utf8"|"ai5"): how names
** read (utf8: UTF-8; ai5, the default: OpenSSL's escaped form). tostring:
** "X509 certificate: 0x...". Misuse raises; bad data returns nil.
**
** Opened as part of "green.core":
**   core.x509_load(data [, "pem"|"der"]) -> certificate, or nil
**   core.sock_buffered(sock) -> plaintext bytes buffered (LuaSec's dirty)
**   sock:tls_peer_chain()   -> array of certificates as OpenSSL holds it
**                              (a client's includes the peer's own first),
**                              and the peer's certificate (nil: none)
**   sock:tls_verification() -> array of {depth, reason} errors the
**                              handshake met (empty: verified)
**   sock:tls_info()         -> cipher description, bits, algbits, protocol
**                              (nil before the handshake)
**   sock:tls_finished()     -> our Finished message, the peer's (or nil)
**   sock:tls_sniname()      -> the name the client asked for (server), or nil
*/
#include <string.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "io/net.h"
#include "io/socket.h"
#include "io/tls.h"

#define X509_MT "green.x509"

typedef struct cert {
  X509 *x;
  int utf8;  /* setencode("utf8") */
} cert;

/* The certificate at idx, raising with the method's name. */
static cert *check_cert(lua_State *L, int idx, const char *what) {
  cert *c = luaL_testudata(L, idx, X509_MT);
  if (c == NULL) gl_net_typeerror(L, idx, what, "certificate");
  if (c->x == NULL) gl_net_argerror(L, idx, what, "certificate expected, got a freed one");
  return c;
}

/* Push a certificate object for x (takes a new reference to it). */
static void push_cert(lua_State *L, X509 *x) {
  cert *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->x = NULL;
  c->utf8 = 0;
  luaL_setmetatable(L, X509_MT);
  X509_up_ref(x);
  c->x = x;
}

/* Push what an OpenSSL memory BIO holds, and free it. */
static int push_bio(lua_State *L, BIO *b) {
  char *data;
  long n = BIO_get_mem_data(b, &data);
  lua_pushlstring(L, data, n > 0 ? (size_t)n : 0);
  BIO_free(b);
  return 1;
}

/* --------------------------------------------------------- loading */

/* x509_load(data [, format]) -> certificate, or nil */
static int l_load(lua_State *L) {
  size_t len;
  const char *data = gl_net_checkstring(L, 1, "x509_load", &len);
  const char *format = lua_isnoneornil(L, 2) ? "pem" : gl_net_checkstring(L, 2, "x509_load", NULL);
  int der = strcmp(format, "der") == 0;
  if (!der && strcmp(format, "pem") != 0) gl_net_argerror(L, 2, "x509_load", "\"pem\" or \"der\" expected");
  if (len > INT_MAX) return 0;
  BIO *b = BIO_new_mem_buf(data, (int)len);
  if (b == NULL) return luaL_error(L, "not enough memory");
  X509 *x = der ? d2i_X509_bio(b, NULL) : PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  ERR_clear_error();
  if (x == NULL) {
    lua_pushnil(L);
    return 1;
  }
  push_cert(L, x);
  X509_free(x);
  return 1;
}

/* --------------------------------------------------------- methods */

static int m_gc(lua_State *L) {
  cert *c = luaL_testudata(L, 1, X509_MT);
  if (c == NULL) return luaL_error(L, "bad argument #1 to '__gc' (certificate expected)");
  if (c->x) X509_free(c->x);
  c->x = NULL;
  return 0;
}

static int m_tostring(lua_State *L) {
  cert *c = check_cert(L, 1, "__tostring");
  lua_pushfstring(L, "X509 certificate: %p", (void *)c);
  return 1;
}

static int m_pem(lua_State *L) {
  cert *c = check_cert(L, 1, "pem");
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL || PEM_write_bio_X509(b, c->x) != 1) {
    BIO_free(b);
    ERR_clear_error();
    return 0;
  }
  return push_bio(L, b);
}

/* Push an ASN1 string as the certificate's encoding asks. */
static void push_asn1_string(lua_State *L, const ASN1_STRING *s, int utf8) {
  if (utf8) {
    unsigned char *out = NULL;
    int n = ASN1_STRING_to_UTF8(&out, s);
    if (n >= 0) {
      lua_pushlstring(L, (const char *)out, (size_t)n);
      OPENSSL_free(out);
      return;
    }
    ERR_clear_error();
  }
  lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

static void push_oid(lua_State *L, const ASN1_OBJECT *obj, int names) {
  char buf[256];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, !names);
  if (n < 0 || n >= (int)sizeof buf) n = 0;
  lua_pushlstring(L, buf, (size_t)n);
}

static int push_name(lua_State *L, const X509_NAME *name, int utf8) {
  int n = X509_NAME_entry_count(name);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    lua_createtable(L, 0, 3);
    push_oid(L, X509_NAME_ENTRY_get_object(e), 0);
    lua_setfield(L, -2, "oid");
    push_oid(L, X509_NAME_ENTRY_get_object(e), 1);
    lua_setfield(L, -2, "name");
    push_asn1_string(L, X509_NAME_ENTRY_get_data(e), utf8);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_subject(lua_State *L) {
  cert *c = check_cert(L, 1, "subject");
  return push_name(L, X509_get_subject_name(c->x), c->utf8);
}

static int m_issuer(lua_State *L) {
  cert *c = check_cert(L, 1, "issuer");
  return push_name(L, X509_get_issuer_name(c->x), c->utf8);
}

static int m_digest(lua_State *L) {
  cert *c = check_cert(L, 1, "digest");
  const char *alg = lua_isnoneornil(L, 2) ? "sha1" : gl_net_checkstring(L, 2, "digest", NULL);
  const EVP_MD *md = strcmp(alg, "sha1") == 0 ? EVP_sha1()
                   : strcmp(alg, "sha256") == 0 ? EVP_sha256()
                   : strcmp(alg, "sha512") == 0 ? EVP_sha512() : NULL;
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (md == NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "digest algorithm not supported (%s)", alg);
    return 2;
  }
  if (X509_digest(c->x, md, buf, &n) != 1) {
    ERR_clear_error();
    lua_pushnil(L);
    lua_pushliteral(L, "error processing the certificate");
    return 2;
  }
  char hex[2 * EVP_MAX_MD_SIZE];
  for (unsigned i = 0; i < n; i++) {
    hex[2 * i] = "0123456789abcdef"[buf[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[buf[i] & 15];
  }
  lua_pushlstring(L, hex, 2 * (size_t)n);
  return 1;
}

static int m_serial(lua_State *L) {
  cert *c = check_cert(L, 1, "serial");
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->x), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  BN_free(bn);
  if (hex == NULL) {
    ERR_clear_error();
    return 0;
  }
  lua_pushstring(L, hex);
  OPENSSL_free(hex);
  return 1;
}

static int push_time(lua_State *L, const ASN1_TIME *t) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL || ASN1_TIME_print(b, t) != 1) {
    BIO_free(b);
    ERR_clear_error();
    return 0;
  }
  return push_bio(L, b);
}

static int m_notbefore(lua_State *L) {
  return push_time(L, X509_get0_notBefore(check_cert(L, 1, "notbefore")->x));
}

static int m_notafter(lua_State *L) {
  return push_time(L, X509_get0_notAfter(check_cert(L, 1, "notafter")->x));
}

/* validat(time) -> is the certificate valid at that moment (seconds) */
static int m_validat(lua_State *L) {
  cert *c = check_cert(L, 1, "validat");
  if (lua_type(L, 2) != LUA_TNUMBER) gl_net_typeerror(L, 2, "validat", "number");
  lua_Number n = lua_tonumber(L, 2);
  if (!(n >= -1e15 && n <= 1e15)) return gl_net_argerror(L, 2, "validat", "time out of range");
  time_t when = (time_t)n;
  int ok = X509_cmp_time(X509_get0_notBefore(c->x), &when) < 0;
  when -= 1;  /* LuaSec's: the last second counts */
  ok = ok && X509_cmp_time(X509_get0_notAfter(c->x), &when) > 0;
  lua_pushboolean(L, ok);
  return 1;
}

/* Add one general name to the table on top (keyed by its kind). */
static void add_general_name(lua_State *L, const GENERAL_NAME *g, int utf8) {
  static const char *const kinds[] = {
    "otherName", "rfc822Name", "dNSName", "x400Address", "directoryName",
    "ediPartyName", "uniformResourceIdentifier", "iPAddress", "registeredID"
  };
  int type = g->type;
  if (type < 0 || type > 8) return;
  if (lua_getfield(L, -1, kinds[type]) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, kinds[type]);
  }
  switch (type) {
    case GEN_EMAIL: case GEN_DNS: case GEN_URI:
      push_asn1_string(L, g->d.ia5, utf8);
      break;
    case GEN_IPADD: {
      const unsigned char *ip = ASN1_STRING_get0_data(g->d.ip);
      int n = ASN1_STRING_length(g->d.ip);
      char buf[64];
      if (n == 4) {
        snprintf(buf, sizeof buf, "%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3]);
      } else if (n == 16) {
        char *p = buf;
        for (int i = 0; i < 16; i += 2) p += snprintf(p, 6, "%s%x", i ? ":" : "", (ip[i] << 8) | ip[i + 1]);
      } else {
        buf[0] = '\0';
      }
      lua_pushstring(L, buf);
      break;
    }
    case GEN_RID:
      push_oid(L, g->d.rid, 0);
      break;
    case GEN_DIRNAME:
      push_name(L, g->d.dirn, utf8);
      break;
    default:
      lua_pushboolean(L, 1);  /* present; its form is not decoded */
  }
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
}

static int m_extensions(lua_State *L) {
  cert *c = check_cert(L, 1, "extensions");
  lua_newtable(L);
  static const int nids[] = { NID_subject_alt_name, NID_issuer_alt_name };
  for (int k = 0; k < 2; k++) {
    int crit = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(c->x, nids[k], &crit, NULL);
    if (names == NULL) continue;
    ASN1_OBJECT *obj = OBJ_nid2obj(nids[k]);
    push_oid(L, obj, 0);
    lua_newtable(L);
    lua_pushstring(L, nids[k] == NID_subject_alt_name ? "X509v3 Subject Alternative Name"
                                                      : "X509v3 Issuer Alternative Name");
    lua_setfield(L, -2, "name");
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
      add_general_name(L, sk_GENERAL_NAME_value(names, i), c->utf8);
    GENERAL_NAMES_free(names);
    lua_rawset(L, -3);
  }
  ERR_clear_error();
  return 1;
}

static int m_pubkey(lua_State *L) {
  cert *c = check_cert(L, 1, "pubkey");
  EVP_PKEY *k = X509_get0_pubkey(c->x);
  BIO *b = k ? BIO_new(BIO_s_mem()) : NULL;
  if (b == NULL || PEM_write_bio_PUBKEY(b, k) != 1) {
    BIO_free(b);
    ERR_clear_error();
    return 0;
  }
  push_bio(L, b);
  int id = EVP_PKEY_base_id(k);
  lua_pushstring(L, id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_DSA ? "DSA" : id == EVP_PKEY_DH ? "DH"
                    : id == EVP_PKEY_EC ? "EC" : "Unknown");
  lua_pushinteger(L, EVP_PKEY_bits(k));
  return 3;
}

/* issuer:issued(subject [, chain...]) -> true, or nil, reason: does the
** issuer (trusted) with the rest as intermediates vouch for subject? */
static int m_issued(lua_State *L) {
  cert *issuer = check_cert(L, 1, "issued");
  cert *subject = check_cert(L, 2, "issued");
  int top = lua_gettop(L);
  for (int i = 3; i <= top; i++) check_cert(L, i, "issued");
  X509_STORE *store = X509_STORE_new();
  STACK_OF(X509) *chain = sk_X509_new_null();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int ok = store && chain && ctx && X509_STORE_add_cert(store, issuer->x) == 1;
  for (int i = 3; ok && i <= top; i++) ok = sk_X509_push(chain, ((cert *)lua_touserdata(L, i))->x) > 0;
  ok = ok && X509_STORE_CTX_init(ctx, store, subject->x, chain) == 1;
  if (!ok) {
    lua_pushnil(L);
    lua_pushliteral(L, "not enough memory");
  } else if (X509_verify_cert(ctx) == 1) {
    lua_pushboolean(L, 1);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(chain);
  X509_STORE_free(store);
  ERR_clear_error();
  return lua_gettop(L) - top;
}

static int m_signame(lua_State *L) {
  cert *c = check_cert(L, 1, "getsignaturename");
  push_oid(L, OBJ_nid2obj(X509_get_signature_nid(c->x)), 1);
  return 1;
}

static int m_setencode(lua_State *L) {
  cert *c = check_cert(L, 1, "setencode");
  const char *e = gl_net_checkstring(L, 2, "setencode", NULL);
  int ok = strcmp(e, "utf8") == 0 || strcmp(e, "ai5") == 0;
  if (ok) c->utf8 = e[0] == 'u';
  lua_pushboolean(L, ok);
  return 1;
}

/* ------------------------------------------------ the peer of a socket */

static int s_peer_chain(lua_State *L) {
  SSL *ssl = gl_tls_check(L, 1, "tls_peer_chain");
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
  int n = chain ? sk_X509_num(chain) : 0;
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    push_cert(L, sk_X509_value(chain, i));
    lua_rawseti(L, -2, i + 1);
  }
  X509 *peer = SSL_get1_peer_certificate(ssl);
  if (peer) {
    push_cert(L, peer);
    X509_free(peer);
  } else {
    lua_pushnil(L);
  }
  return 2;
}

static int s_verification(lua_State *L) {
  SSL *ssl = gl_tls_check(L, 1, "tls_verification");
  int depths[16], codes[16];
  int n = gl_tls_verify_errors(ssl, depths, codes, 16);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, depths[i]);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, X509_verify_cert_error_string(codes[i]));
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, i + 1);
  }
  /* a failure no certificate was blamed for (e.g. no certificate at all) */
  long result = SSL_get_verify_result(ssl);
  if (n == 0 && result != X509_V_OK && SSL_get0_peer_certificate(ssl) != NULL) {
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, 0);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, X509_verify_cert_error_string(result));
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, 1);
  }
  return 1;
}

static int s_info(lua_State *L) {
  SSL *ssl = gl_tls_check(L, 1, "tls_info");
  const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
  if (cipher == NULL || !SSL_is_init_finished(ssl)) return 0;
  char buf[256];
  int algbits = 0;
  SSL_CIPHER_description(cipher, buf, sizeof buf);
  size_t len = strlen(buf);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) len--;
  lua_pushlstring(L, buf, len);
  lua_pushinteger(L, SSL_CIPHER_get_bits(cipher, &algbits));
  lua_pushinteger(L, algbits);
  lua_pushstring(L, SSL_get_version(ssl));
  return 4;
}

static int s_finished(lua_State *L) {
  SSL *ssl = gl_tls_check(L, 1, "tls_finished");
  char buf[EVP_MAX_MD_SIZE * 2];
  size_t n = SSL_get_finished(ssl, buf, sizeof buf);
  if (n == 0) lua_pushnil(L);
  else lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf);
  n = SSL_get_peer_finished(ssl, buf, sizeof buf);
  if (n == 0) lua_pushnil(L);
  else lua_pushlstring(L, buf, n < sizeof buf ? n : sizeof buf);
  return 2;
}

static int s_sniname(lua_State *L) {
  SSL *ssl = gl_tls_check(L, 1, "tls_sniname");
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name) lua_pushstring(L, name);
  else lua_pushnil(L);
  return 1;
}

/* sock_buffered(sock) -> bytes received and not yet read (LuaSec's dirty) */
static int l_buffered(lua_State *L) {
  gl_sock *s = gl_sock_test(L, 1);
  if (s == NULL) return gl_net_typeerror(L, 1, "sock_buffered", "socket");
  lua_pushinteger(L, s->io ? (lua_Integer)s->st.len : 0);
  return 1;
}

void gl_open_x509(lua_State *L) {
  lua_pushcfunction(L, l_load);
  lua_setfield(L, -2, "x509_load");
  lua_pushcfunction(L, l_buffered);
  lua_setfield(L, -2, "sock_buffered");
  static const luaL_Reg methods[] = {
    {"pem", m_pem}, {"subject", m_subject}, {"issuer", m_issuer}, {"digest", m_digest},
    {"serial", m_serial}, {"notbefore", m_notbefore}, {"notafter", m_notafter},
    {"validat", m_validat}, {"extensions", m_extensions}, {"pubkey", m_pubkey},
    {"issued", m_issued}, {"getsignaturename", m_signame}, {"setencode", m_setencode},
    {NULL, NULL}
  };
  luaL_newmetatable(L, X509_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, m_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__close");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  static const luaL_Reg sock_methods[] = {
    {"tls_peer_chain", s_peer_chain}, {"tls_verification", s_verification},
    {"tls_info", s_info}, {"tls_finished", s_finished}, {"tls_sniname", s_sniname},
    {NULL, NULL}
  };
  lua_getfield(L, -1, "SocketMethods");
  luaL_setfuncs(L, sock_methods, 0);
  lua_pop(L, 1);
}
