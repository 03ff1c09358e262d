/* redistls: TLS for Redis connections (rediss://, CONTRACT §3). The settings (REDIS_TLS_*), an OpenSSL
 * client context built from them for one server (its chain verified against REDIS_TLS_CA_FILE or the
 * system store, its name or address checked by OpenSSL itself, an optional client certificate), and
 * one-line reasons for what OpenSSL refused. pkg/redisconn hands the context to h2o's socket TLS;
 * pkg/syncconn drives it on a blocking socket. Neither hiredis nor anything else does TLS here:
 * Debian 12's hiredis 0.14 has none. */
#ifndef BOLLARD_REDISTLS_H
#define BOLLARD_REDISTLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct redistls_config {
    char *ca_file;             /* REDIS_TLS_CA_FILE: PEM bundle to trust; NULL = the system store */
    char *cert_file;           /* REDIS_TLS_CERT_FILE: client certificate (chain), with key_file */
    char *key_file;            /* REDIS_TLS_KEY_FILE */
    bool insecure_skip_verify; /* REDIS_TLS_INSECURE_SKIP_VERIFY: ENVIRONMENT=dev only (pkg/config) */
};

/* A client context for connections to `host` (a DNS name or an IP literal: the certificate must
 * name it; SNI is the caller's, for names only). Each connection object keeps its own: the expected
 * name lives in the context's verification parameters. `cert_requested` (may be NULL; must outlive
 * the context) is set when a server asks for a client certificate and none is configured: a TLS
 * 1.3 server that requires one refuses it only after the handshake, and its alert can be lost to
 * the reset that follows, so the caller adds redistls_cert_hint() to the "connection lost" that
 * remains. NULL with the reason (a file that cannot be read or does not match). Free with
 * SSL_CTX_free. */
SSL_CTX *redistls_ctx_new(const struct redistls_config *cfg, const char *host, bool *cert_requested,
                          char *why, size_t cap);

/* Makes `host` the name (or address) the next sessions made from ctx expect in the certificate: a
 * Redis Cluster connection moves between nodes with one context (a session copies the expectation
 * when it is made). True when verification is off. */
bool redistls_ctx_expect_host(SSL_CTX *ctx, const char *host);

/* " (the server asked for a client certificate: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)"
 * when cert_requested, "" otherwise. */
const char *redistls_cert_hint(bool cert_requested);

/* True when host is an IPv4 or IPv6 literal (no SNI for those: RFC 6066 §3). */
bool redistls_host_is_ip(const char *host);

/* The reason of a failed handshake or TLS read/write, from the verification result of `ssl` (may be
 * NULL) and this thread's OpenSSL error queue (which it clears): "certificate verify failed:
 * unable to get local issuer certificate", "tlsv13 alert certificate required", … `fallback` is
 * used when neither says anything. */
void redistls_reason(SSL *ssl, const char *fallback, char *why, size_t cap);

#endif
