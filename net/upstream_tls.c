/*
 * upstream_tls.c - HTTPS for the upstream client: OpenSSL on the actor's
 * non-blocking sockets.
 *
 * DESIGN
 * Contexts: each upstream actor builds one SSL_CTX per distinct set of
 * TLS files (upstream.ca_file, or a proxy route's ca_file / cert_file /
 * key_file) the first time a pool needs it (at most UPSTREAM_TLS_CTXS).
 * Every context: TLS 1.2 or later, peer verification on (the CA file,
 * else the system's store), the client certificate when one is
 * configured. A reload (a new settings snapshot) empties that cache: the
 * files are read again, as nginx's reload does, so a certificate rotated
 * under the same path is picked up. Each pool holds a reference to its
 * context and checks on every call that it was made for the settings in
 * force (one pointer comparison); when not, the pool takes the new
 * context and forgets its session (never resumed across trust settings),
 * its idle connections close when next picked, and its busy ones close
 * when their call ends. Each live SSL holds its own reference.
 *
 * Connections: SNI and host-name verification with the pool's host
 * (an IP address literal is verified against the certificate's IP
 * addresses, without SNI). The handshake, reads and writes are driven by
 * the connection's ev_io: OpenSSL says what it waits for
 * (SSL_ERROR_WANT_READ / WANT_WRITE) and the loop comes back when the
 * socket is ready. A failed handshake is reported with OpenSSL's reason
 * (an expired certificate, a host-name mismatch, an unknown CA...).
 *
 * Resumption: the pool keeps the last session the upstream gave (TLS 1.3
 * tickets arrive after the handshake: the context's new-session callback
 * stores them) and offers it on every new connection to that origin.
 *
 * Thread: the upstream actor owning the connections and contexts.
 * OpenSSL's error queue is per thread; it is cleared after each use.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "upstream_internal.h"

/* A new session (ticket) from the upstream: the pool keeps the latest. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct up_conn *c = SSL_get_app_data(ssl);

	if (c == NULL || SSL_get_SSL_CTX(ssl) != c->pool->tls_ctx)
		return 0;               /* made under settings no longer in force */
	if (c->pool->session != NULL)
		SSL_SESSION_free(c->pool->session);
	c->pool->session = sess;
	return 1;                       /* we hold the reference now */
}

static void last_error(char *why, size_t whylen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(why, whylen, "%s: %s", what, buf);
	} else {
		snprintf(why, whylen, "%s", what);
	}
	ERR_clear_error();
}

static SSL_CTX *ctx_new(const char *ca, const char *cert, const char *key, char *why,
			size_t whylen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		last_error(why, whylen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* An upstream closing without close_notify ends an EOF-framed body
	 * like a plain connection would; Content-Length and chunked framing
	 * still catch a cut response. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	if (ca[0] != '\0' ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		last_error(why, whylen, ca[0] != '\0' ? "cannot load the CA file" :
			   "cannot load the system's CA store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(ctx) != 1)) {
		last_error(why, whylen, "cannot load the client certificate or key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void up_tls_actor_free(struct up_actor *ua)
{
	for (unsigned i = 0; i < ua->ntls; i++)
		SSL_CTX_free(ua->tls[i].ctx);
	ua->ntls = 0;
}

/* The actor's context for `profile`'s TLS files under the settings in
 * force (borrowed: the cache keeps it until the next reload); NULL with
 * the reason. */
static SSL_CTX *tls_ctx_for(struct up_actor *ua, unsigned profile, char *why, size_t whylen)
{
	const struct config_upstream *lim = up_limits(ua);
	const char *ca = lim->ca_file, *cert = "", *key = "";
	struct up_tls_ctx *t;
	char k[sizeof(ua->tls[0].key)];

	/* A reload, even of an unchanged file (which keeps the snapshot):
	 * read the files again, a certificate may have been rotated. */
	if (config_generation() != ua->tls_gen) {
		up_tls_actor_free(ua);
		ua->tls_gen = config_generation();
	}

	if (profile > 0 && profile <= lim->nproxy) {
		const struct config_proxy *px = &lim->proxy[profile - 1];

		if (px->ca_file[0] != '\0')
			ca = px->ca_file;
		cert = px->cert_file;
		key = px->key_file[0] != '\0' ? px->key_file : px->cert_file;
	}
	snprintf(k, sizeof(k), "%s\n%s\n%s", ca, cert, key);
	for (unsigned i = 0; i < ua->ntls; i++)
		if (strcmp(ua->tls[i].key, k) == 0)
			return ua->tls[i].ctx;
	if (ua->ntls == UPSTREAM_TLS_CTXS) {
		snprintf(why, whylen, "more than %d distinct TLS settings", UPSTREAM_TLS_CTXS);
		return NULL;
	}
	t = &ua->tls[ua->ntls];
	t->ctx = ctx_new(ca, cert, key, why, whylen);
	if (t->ctx == NULL)
		return NULL;
	memcpy(t->key, k, sizeof(k));
	ua->ntls++;
	return t->ctx;
}

int up_pool_tls_current(struct up_pool *pl, char *why, size_t whylen)
{
	uint64_t gen = config_generation();
	SSL_CTX *ctx;

	if (pl->tls_ctx != NULL && pl->tls_gen == gen)
		return 0;
	ctx = tls_ctx_for(pl->ua, pl->profile, why, whylen);
	if (ctx != pl->tls_ctx) {
		if (ctx != NULL)
			SSL_CTX_up_ref(ctx);
		SSL_CTX_free(pl->tls_ctx);
		pl->tls_ctx = ctx;
		if (pl->session != NULL)
			SSL_SESSION_free(pl->session);
		pl->session = NULL;
	}
	pl->tls_gen = ctx != NULL ? gen : 0;
	return ctx != NULL ? 0 : -1;
}

bool up_tls_stale(const struct up_conn *c)
{
	return c->ssl != NULL && SSL_get_SSL_CTX(c->ssl) != c->pool->tls_ctx;
}

int up_tls_start(struct up_conn *c)
{
	struct up_pool *pl = c->pool;
	SSL *ssl = SSL_new(pl->tls_ctx);
	unsigned char bin[16];
	bool ip = inet_pton(AF_INET, pl->host, bin) == 1 || inet_pton(AF_INET6, pl->host, bin) == 1;
	int ok;

	if (ssl == NULL) {
		ERR_clear_error();
		return -ENOMEM;
	}
	ok = SSL_set_fd(ssl, c->io.fd) == 1;
	SSL_set_app_data(ssl, c);
	SSL_set_connect_state(ssl);
	if (ip) {
		ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), pl->host) == 1;
	} else {
		ok = ok && SSL_set_tlsext_host_name(ssl, pl->host) == 1;
		ok = ok && SSL_set1_host(ssl, pl->host) == 1;
	}
	if (ok && pl->session != NULL)
		SSL_set_session(ssl, pl->session);
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return -ENOMEM;
	}
	c->ssl = ssl;
	return 0;
}

int up_tls_handshake(struct up_conn *c, int *want, char *why, size_t whylen)
{
	int rc = SSL_connect(c->ssl), err;
	long v;

	if (rc == 1)
		return 1;
	err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*want = err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		return 0;
	}
	v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK) {
		snprintf(why, whylen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
		ERR_clear_error();
	} else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		snprintf(why, whylen, "connection closed during the handshake (%s)",
			 errno != 0 ? strerror(errno) : "EOF");
	} else {
		last_error(why, whylen, "handshake failed");
	}
	return -ECONNABORTED;
}

/* What an SSL_read / SSL_write that returned `n` means: bytes, 0 (a clean
 * end: reads only), -EAGAIN (waits for the socket), or `broken`. */
static ssize_t io_result(SSL *ssl, int n, int broken)
{
	if (n > 0)
		return n;
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return broken;
	}
}

ssize_t up_tls_read(struct up_conn *c, char *buf, size_t len)
{
	return io_result(c->ssl, SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len),
			 -ECONNRESET);
}

ssize_t up_tls_write(struct up_conn *c, const char *buf, size_t len)
{
	ssize_t n = io_result(c->ssl, SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len),
			      -EPIPE);

	return n == 0 ? -EPIPE : n;
}

int up_tls_pending(const struct up_conn *c)
{
	return SSL_pending(c->ssl);
}

void up_tls_free(struct up_conn *c)
{
	if (c->ssl == NULL)
		return;
	SSL_set_app_data(c->ssl, NULL);
	/* Marked shut down (without sending close_notify: the socket may be
	 * broken): OpenSSL would otherwise mark the session as not
	 * resumable, and the pool's session with it. */
	SSL_set_quiet_shutdown(c->ssl, 1);
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
}
