/*
 * module.c: loads the route module (dlopen), refuses a malformed one with
 * a clear reason, and looks routes and cleanups up.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <openssl/evp.h>

#include "proto/proto.h"
#include "worker/module.h"
#include "worker/schema.h"

static struct {
	void *mo_dl;
	const struct wspool_module *mo_def;
	const struct wspool_route **mo_routes;     /* sorted by name */
	const struct wspool_cleanup **mo_cleanups; /* sorted by name */
	bool mo_inited;
} module;

static int
module_route_cmp_cb(const void *a, const void *b)
{
	const struct wspool_route *const *ra = a, *const *rb = b;

	return strcmp((*ra)->name, (*rb)->name);
}

static int
module_cleanup_cmp_cb(const void *a, const void *b)
{
	const struct wspool_cleanup *const *ca = a, *const *cb = b;

	return strcmp((*ca)->name, (*cb)->name);
}

/* Compare a counted name with a NUL-terminated one, as strcmp would. */
static int
module_name_cmp(const char *name, size_t len, const char *s)
{
	size_t slen = strlen(s);
	int c = memcmp(name, s, len < slen ? len : slen);

	if (c != 0)
		return c;
	return len < slen ? -1 : len > slen ? 1 : 0;
}

static int
module_check_routes(const struct wspool_module *def, char *err, size_t errlen)
{
	for (size_t i = 0; i < def->nroutes; i++) {
		const struct wspool_route *r = &def->routes[i];
		const char *why;

		if (r->name == NULL || r->name[0] == '\0') {
			snprintf(err, errlen, "route %zu has no name", i);
			return -1;
		}
		if (strlen(r->name) > PROTO_MAX_STR) {
			snprintf(err, errlen, "route %zu: name too long", i);
			return -1;
		}
		if (r->handler == NULL) {
			snprintf(err, errlen, "route %s has no handler", r->name);
			return -1;
		}
		if (r->protocol != WSPOOL_WS) {
			snprintf(err, errlen, "route %s: unknown protocol %d",
			    r->name, (int)r->protocol);
			return -1;
		}
		if (r->pattern != WSPOOL_REQUEST &&
		    r->pattern != WSPOOL_SUBSCRIPTION &&
		    r->pattern != WSPOOL_NOTIFICATION) {
			snprintf(err, errlen, "route %s: unknown pattern %d",
			    r->name, (int)r->pattern);
			return -1;
		}
		if ((why = schema_invalid(r->schema)) != NULL) {
			snprintf(err, errlen, "route %s: bad schema: %s",
			    r->name, why);
			return -1;
		}
		if ((why = schema_type_text_invalid(r->result_type)) != NULL) {
			snprintf(err, errlen, "route %s: bad result_type: %s",
			    r->name, why);
			return -1;
		}
	}
	return 0;
}

static int
module_check_cleanups(const struct wspool_module *def, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < def->ncleanups; i++) {
		const struct wspool_cleanup *c = &def->cleanups[i];

		if (c->name == NULL || c->name[0] == '\0' ||
		    strlen(c->name) > PROTO_MAX_STR) {
			snprintf(err, errlen, "cleanup %zu has no usable name",
			    i);
			return -1;
		}
		if (c->run == NULL && c->fn == NULL) {
			snprintf(err, errlen, "cleanup %s has no function "
			    "(.run)", c->name);
			return -1;
		}
	}
	return 0;
}

/* Sort the lookup arrays, which also reveals duplicate names. */
static int
module_index(const struct wspool_module *def, char *err, size_t errlen)
{
	size_t i;

	module.mo_routes = calloc(def->nroutes + 1, sizeof(*module.mo_routes));
	module.mo_cleanups = calloc(def->ncleanups + 1,
	    sizeof(*module.mo_cleanups));
	if (module.mo_routes == NULL || module.mo_cleanups == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < def->nroutes; i++)
		module.mo_routes[i] = &def->routes[i];
	qsort(module.mo_routes, def->nroutes, sizeof(*module.mo_routes),
	    module_route_cmp_cb);
	for (i = 1; i < def->nroutes; i++) {
		if (strcmp(module.mo_routes[i - 1]->name,
		    module.mo_routes[i]->name) == 0) {
			snprintf(err, errlen, "duplicate route %s",
			    module.mo_routes[i]->name);
			return -1;
		}
	}
	for (i = 0; i < def->ncleanups; i++)
		module.mo_cleanups[i] = &def->cleanups[i];
	qsort(module.mo_cleanups, def->ncleanups, sizeof(*module.mo_cleanups),
	    module_cleanup_cmp_cb);
	for (i = 1; i < def->ncleanups; i++) {
		if (strcmp(module.mo_cleanups[i - 1]->name,
		    module.mo_cleanups[i]->name) == 0) {
			snprintf(err, errlen, "duplicate cleanup %s",
			    module.mo_cleanups[i]->name);
			return -1;
		}
	}
	return 0;
}

int
module_load(const char *path, char *err, size_t errlen)
{
	const struct wspool_module *def;

	if (module_open(path, err, errlen) != 0)
		return -1;
	def = module.mo_def;
	if (def->init != NULL && def->init() != 0) {
		snprintf(err, errlen, "%s: module %s: init failed", path,
		    def->name);
		module_unload();
		return -1;
	}
	module.mo_inited = true;
	return 0;
}

int
module_open(const char *path, char *err, size_t errlen)
{
	const struct wspool_module *def;
	char *local = NULL;
	const char *open_path = path;
	int rv = -1;

	/* dlopen searches the library path for a bare name: mean the file. */
	if (strchr(path, '/') == NULL && access(path, F_OK) == 0) {
		if (asprintf(&local, "./%s", path) < 0) {
			local = NULL;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		open_path = local;
	}
	if ((module.mo_dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
		goto out;
	}
	if ((def = dlsym(module.mo_dl, "wspool_module")) == NULL) {
		snprintf(err, errlen, "%s defines no wspool_module symbol "
		    "(use WSPOOL_MODULE)", path);
		goto out;
	}
	if (def->abi_version != WSPOOL_ABI_VERSION) {
		snprintf(err, errlen, "%s: abi_version %u, this worker runs %u: "
		    "rebuild the module against this wspool.h", path,
		    (unsigned)def->abi_version, (unsigned)WSPOOL_ABI_VERSION);
		goto out;
	}
	if (def->name == NULL || def->name[0] == '\0' ||
	    strlen(def->name) > PROTO_MAX_STR) {
		snprintf(err, errlen, "%s: the module has no usable name", path);
		goto out;
	}
	if ((def->nroutes > 0 && def->routes == NULL) ||
	    (def->ncleanups > 0 && def->cleanups == NULL)) {
		snprintf(err, errlen, "%s: a count is set with a NULL table",
		    path);
		goto out;
	}
	if (module_check_routes(def, err, errlen) != 0 ||
	    module_check_cleanups(def, err, errlen) != 0 ||
	    module_index(def, err, errlen) != 0)
		goto out;
	module.mo_def = def;
	rv = 0;
out:
	free(local);
	if (rv != 0)
		module_unload();
	return rv;
}

const struct wspool_module *
module_def(void)
{
	return module.mo_def;
}

const struct wspool_route *
module_route(const char *name, size_t len)
{
	size_t lo = 0, hi = module.mo_def ? module.mo_def->nroutes : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = module_name_cmp(name, len, module.mo_routes[mid]->name);

		if (c == 0)
			return module.mo_routes[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct wspool_cleanup *
module_cleanup(const char *name, size_t len)
{
	size_t lo = 0, hi = module.mo_def ? module.mo_def->ncleanups : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = module_name_cmp(name, len,
		    module.mo_cleanups[mid]->name);

		if (c == 0)
			return module.mo_cleanups[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool
module_cleanup_known(const struct wspool_cleanup *e)
{
	const struct wspool_module *def = module.mo_def;
	uintptr_t p = (uintptr_t)e, base;

	/* Compared as integers: pointers into different objects may not be
	 * compared in C. */
	if (def == NULL || def->ncleanups == 0)
		return false;
	base = (uintptr_t)def->cleanups;
	return p >= base && p < base + def->ncleanups * sizeof(*e) &&
	    (p - base) % sizeof(*e) == 0;
}

/*
 * What a master compares at join (HELLO): SHA-256 over a canonical msgpack
 * of the ABI version, the routes by name (name, pattern, timeout,
 * idempotent) and the cleanup names in order. Anything a master relies on
 * about a route is in it.
 */
int
module_digest(char out[MODULE_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";
	const struct wspool_module *def = module.mo_def;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv = -1;

	if (def == NULL)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint32(&pk, def->abi_version);
	msgpack_pack_array(&pk, def->nroutes);
	for (size_t i = 0; i < def->nroutes; i++) {
		const struct wspool_route *r = module.mo_routes[i];
		size_t n = strlen(r->name);

		msgpack_pack_array(&pk, 4);
		msgpack_pack_str(&pk, n);
		msgpack_pack_str_body(&pk, r->name, n);
		msgpack_pack_int(&pk, (int)r->pattern);
		msgpack_pack_uint32(&pk, r->timeout_ms);
		if (r->idempotent)
			msgpack_pack_true(&pk);
		else
			msgpack_pack_false(&pk);
	}
	msgpack_pack_array(&pk, def->ncleanups);
	for (size_t i = 0; i < def->ncleanups; i++) {
		size_t n = strlen(module.mo_cleanups[i]->name);

		msgpack_pack_str(&pk, n);
		msgpack_pack_str_body(&pk, module.mo_cleanups[i]->name, n);
	}
	if (sb.data != NULL && EVP_Digest(sb.data, sb.size, md, &mdlen,
	    EVP_sha256(), NULL) == 1 && mdlen * 2 < MODULE_DIGEST_HEX) {
		for (unsigned int i = 0; i < mdlen; i++) {
			out[2 * i] = hex[md[i] >> 4];
			out[2 * i + 1] = hex[md[i] & 0xf];
		}
		out[2 * mdlen] = '\0';
		rv = 0;
	}
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

void
module_unload(void)
{
	if (module.mo_inited && module.mo_def->fini != NULL)
		module.mo_def->fini();
	module.mo_inited = false;
	if (module.mo_dl != NULL)
		dlclose(module.mo_dl);
	free(module.mo_routes);
	free(module.mo_cleanups);
	memset(&module, 0, sizeof(module));
}
