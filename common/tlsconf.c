/*
 * tlsconf.c: nng TLS configurations from PEM files (see tlsconf.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tlsconf.h"

#define TLSCONF_FILE_MAX (1024 * 1024)

/* The whole of path, NUL-terminated, in *out (malloc'd). 0 or -1. */
static int
tlsconf_read(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(TLSCONF_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	n = fread(buf, 1, TLSCONF_FILE_MAX + 1, f);
	if (ferror(f) || n == 0 || n > TLSCONF_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ?
		    "cannot read it" : n == 0 ? "empty" : "larger than 1 MiB");
		goto fail;
	}
	buf[n] = '\0';
	fclose(f);
	*out = buf;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

int
tlsconf_load(nng_tls_config **out, bool server, const char *cert,
    const char *key, const char *ca, const char *server_name, char *err,
    size_t errlen)
{
	char *cert_pem = NULL, *key_pem = NULL, *ca_pem = NULL;
	nng_tls_config *cfg = NULL;
	const char *what = NULL;
	int rv = -1, nrv;

	*out = NULL;
	if (tlsconf_read(cert, &cert_pem, err, errlen) != 0 ||
	    tlsconf_read(key, &key_pem, err, errlen) != 0 ||
	    tlsconf_read(ca, &ca_pem, err, errlen) != 0)
		goto out;
	if ((nrv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER :
	    NNG_TLS_MODE_CLIENT)) != 0) {
		what = "cannot set up TLS";
		goto nngfail;
	}
	if ((nrv = nng_tls_config_own_cert(cfg, cert_pem, key_pem,
	    NULL)) != 0) {
		what = "the certificate or its key is unusable";
		goto nngfail;
	}
	if ((nrv = nng_tls_config_ca_chain(cfg, ca_pem, NULL)) != 0) {
		what = "the CA file is unusable";
		goto nngfail;
	}
	/* A server asks for no client certificate by default: require one. */
	if ((nrv = nng_tls_config_auth_mode(cfg,
	    NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
		what = "cannot require peer certificates";
		goto nngfail;
	}
	if (!server && server_name != NULL &&
	    (nrv = nng_tls_config_server_name(cfg, server_name)) != 0) {
		what = "cannot set the server name";
		goto nngfail;
	}
	*out = cfg;
	cfg = NULL;
	rv = 0;
	goto out;
nngfail:
	snprintf(err, errlen, "%s (%s, %s): %s", what, cert, ca,
	    nng_strerror(nrv));
out:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	if (key_pem != NULL) {
		explicit_bzero(key_pem, strlen(key_pem));
		free(key_pem);
	}
	free(cert_pem);
	free(ca_pem);
	return rv;
}
