#include "redistls/redistls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/base.h"

bool redistls_host_is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The last OpenSSL error of this thread as text ("" when none); the queue is cleared. */
static void last_error(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    out[0] = '\0';
    if (e != 0) {
        const char *reason = ERR_reason_error_string(e);
        if (reason != NULL)
            snprintf(out, cap, "%s", reason);
        else
            ERR_error_string_n(e, out, cap);
    }
    ERR_clear_error();
}

void redistls_reason(SSL *ssl, const char *fallback, char *why, size_t cap)
{
    long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    char err[160];
    last_error(err, sizeof(err));
    if (verify != X509_V_OK)
        base_why(why, cap, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    else if (err[0] != '\0')
        base_why(why, cap, "%s", err);
    else
        base_why(why, cap, "%s", fallback);
}

const char *redistls_cert_hint(bool cert_requested)
{
    return cert_requested ? " (the server asked for a client certificate: set REDIS_TLS_CERT_FILE and "
                            "REDIS_TLS_KEY_FILE)"
                          : "";
}

/* Called by OpenSSL only when the server asks for a client certificate and the context has none. */
static int on_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509;
    (void)pkey;
    bool *flag = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (flag != NULL)
        *flag = true;
    return 0; /* none: the handshake goes on without one */
}

bool redistls_ctx_expect_host(SSL_CTX *ctx, const char *host)
{
    if (SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE)
        return true;
    /* OpenSSL checks the name (or address) while verifying the chain, so a mismatch fails the
     * handshake with X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH. Setting one
     * clears the other: a node reached by address after one reached by name is checked by address. */
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    if (redistls_host_is_ip(host))
        return X509_VERIFY_PARAM_set1_host(param, NULL, 0) == 1 &&
               X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_ip(param, NULL, 0) == 1 && X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
}

SSL_CTX *redistls_ctx_new(const struct redistls_config *cfg, const char *host, bool *cert_requested,
                          char *why, size_t cap)
{
    char err[160];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        base_why(why, cap, "cannot create a TLS context");
        goto fail;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        base_why(why, cap, "cannot require TLS 1.2 or later");
        goto fail;
    }
    if (cfg != NULL && cfg->insecure_skip_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (cfg != NULL && cfg->ca_file != NULL) {
            if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
                last_error(err, sizeof(err));
                base_why(why, cap, "REDIS_TLS_CA_FILE %s: cannot load: %s", cfg->ca_file, err);
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            last_error(err, sizeof(err));
            base_why(why, cap, "cannot load the system's trusted certificates: %s", err);
            goto fail;
        }
        if (!redistls_ctx_expect_host(ctx, host)) {
            base_why(why, cap, "cannot set the expected certificate name");
            goto fail;
        }
    }
    if (cfg != NULL && cfg->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
            last_error(err, sizeof(err));
            base_why(why, cap, "REDIS_TLS_CERT_FILE %s: cannot load: %s", cfg->cert_file, err);
            goto fail;
        }
        if (cfg->key_file == NULL || SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
            last_error(err, sizeof(err));
            base_why(why, cap, "REDIS_TLS_KEY_FILE %s: cannot load: %s",
                     cfg->key_file != NULL ? cfg->key_file : "(unset)", err);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            base_why(why, cap, "REDIS_TLS_KEY_FILE does not match REDIS_TLS_CERT_FILE");
            goto fail;
        }
    }
    if (cert_requested != NULL) {
        SSL_CTX_set_app_data(ctx, cert_requested);
        SSL_CTX_set_client_cert_cb(ctx, on_client_cert);
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}
