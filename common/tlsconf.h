/*
 * tlsconf.h: an nng TLS configuration built from PEM files, for the
 * master (server: the registry and every worker's link) and the worker
 * (client). Mutual TLS: both sides present a certificate and verify the
 * other's against their CA. A leaf: it uses nng and nothing of wspool.
 */
#ifndef COMMON_TLSCONF_H
#define COMMON_TLSCONF_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/*
 * Build a configuration: own certificate and key, the CA that signs the
 * peers (required: a peer without a certificate from it fails the
 * handshake), and for a client the DNS name the server's certificate must
 * carry (NULL: no name check; mbedtls never matches IP SANs). Files are
 * read whole (at most 1 MiB each); the key's copy is wiped. Returns 0
 * with *out set (free with nng_tls_config_free), or -1 with err set.
 */
int tlsconf_load(nng_tls_config **out, bool server, const char *cert,
    const char *key, const char *ca, const char *server_name, char *err,
    size_t errlen);

#endif /* COMMON_TLSCONF_H */
