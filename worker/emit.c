/*
 * emit.c: --emit-routes: the module's route table as alien-rpc client
 * route definitions (TypeScript) or as a JSON manifest, for the clients
 * of a C module that no TypeScript generator can read.
 *
 * Design notes:
 * - Everything written is either fixed text, a type expression the module
 *   declared (schema_type_text_invalid has kept it to one balanced line
 *   at load), or a name written as a quoted, escaped string, or as a bare
 *   identifier only when it is one. So no module string can end a
 *   comment, a string or the object early.
 * - Route names are the JSON "method": the TypeScript object's keys are
 *   the names exactly (quoted when not identifiers), so that the client
 *   sends what the key says. Param names only document the positions:
 *   one that cannot be a TypeScript parameter name (a keyword, a
 *   duplicate, not an identifier) is replaced there, never in JSON.
 * - The text is built in memory and written with one fwrite, so a failure
 *   half-way leaves stdout empty.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/emit.h"
#include "worker/module.h"
#include "worker/schema.h"

/* Names a param may not take in the TypeScript signature: ours. */
#define EMIT_OPTIONS_NAME "requestOptions"
#define EMIT_REST_NAME "rest"

/* Words that cannot name a parameter in strict code (ES modules are). */
static const char *const emit_reserved[] = {
	"arguments", "await", "break", "case", "catch", "class", "const",
	"continue", "debugger", "default", "delete", "do", "else", "enum",
	"eval", "export", "extends", "false", "finally", "for", "function",
	"if", "implements", "import", "in", "instanceof", "interface", "let",
	"new", "null", "package", "private", "protected", "public", "return",
	"static", "super", "switch", "this", "throw", "true", "try", "typeof",
	"var", "void", "while", "with", "yield",
};

/* ---- strings ---------------------------------------------------------- */

/*
 * s as a quoted string, valid both as JSON and as a TypeScript literal:
 * quotes, backslashes and control characters escaped, and U+2028/U+2029
 * too (JavaScript line terminators). -1 when s is not UTF-8.
 */
static int
emit_string(FILE *f, const char *s)
{
	size_t n = strlen(s), i = 0, len;

	fputc('"', f);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if ((len = schema_utf8_next(s + i, n - i)) == 0)
			return -1;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (len == 3 && c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] & 0xfe) == 0xa8)
			fprintf(f, "\\u%04x", 0x2000u + ((unsigned char)s[i + 2] -
			    0x80u));
		else
			fwrite(s + i, 1, len, f);
		i += len;
	}
	fputc('"', f);
	return 0;
}

/* An IdentifierName in ASCII (what may be written unquoted). */
static bool
emit_is_ident(const char *s)
{
	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '$'))
			return false;
	return true;
}

static bool
emit_is_reserved(const char *s)
{
	for (size_t i = 0; i < WSPOOL_ARRAY_LEN(emit_reserved); i++)
		if (strcmp(s, emit_reserved[i]) == 0)
			return true;
	return false;
}

/* A route name as an object key: bare when an identifier, else quoted.
 * "__proto__" is computed: as a plain key it would set the prototype. */
static int
emit_key(FILE *f, const char *name)
{
	if (strcmp(name, "__proto__") == 0) {
		fputs("[\"__proto__\"]", f);
		return 0;
	}
	if (emit_is_ident(name)) {
		fputs(name, f);
		return 0;
	}
	return emit_string(f, name);
}

/* ---- TypeScript ------------------------------------------------------- */

static const char *
emit_ts_type(enum wspool_type t)
{
	switch (t) {
	case WSPOOL_T_ANY: return "unknown";
	case WSPOOL_T_NULL: return "null";
	case WSPOOL_T_BOOL: return "boolean";
	case WSPOOL_T_NUMBER:
	case WSPOOL_T_INTEGER:
	case WSPOOL_T_UINT: return "number";
	case WSPOOL_T_STRING: return "string";
	case WSPOOL_T_ARRAY: return "unknown[]";
	case WSPOOL_T_OBJECT: return "Record<string, unknown>";
	}
	return "unknown";
}

/* Whether a param of s would be called name: as it is, or as another
 * one is. Those of s before index `upto` have their final names in
 * done; the later ones are taken as they will be when usable. */
static bool
emit_name_taken(const struct wspool_schema *s, char **done, size_t upto,
    const char *name)
{
	if (strcmp(name, EMIT_OPTIONS_NAME) == 0 ||
	    strcmp(name, EMIT_REST_NAME) == 0)
		return true;
	for (size_t j = 0; j < s->nparams; j++) {
		const char *other = j < upto ? done[j] : s->params[j].name;

		if (j != upto && other != NULL && strcmp(other, name) == 0)
			return true;
	}
	return false;
}

/*
 * The TypeScript names of s's params (done[i], malloc'd): the declared
 * name when it can be one, else argN; a clash gets _2, _3... Returns 0
 * or -1 (out of memory).
 */
static int
emit_param_names(const struct wspool_schema *s, char **done)
{
	for (size_t i = 0; i < s->nparams; i++) {
		const char *name = s->params[i].name;
		char base[32];

		if (name == NULL || !emit_is_ident(name) ||
		    emit_is_reserved(name)) {
			snprintf(base, sizeof(base), "arg%zu", i);
			name = base;
		}
		if ((done[i] = strdup(name)) == NULL)
			return -1;
		/* At most nparams + 1 names are taken besides this one:
		 * the loop ends. */
		for (size_t k = 2; emit_name_taken(s, done, i, done[i]); k++) {
			free(done[i]);
			if (asprintf(&done[i], "%s_%zu", name, k) < 0) {
				done[i] = NULL;
				return -1;
			}
		}
	}
	return 0;
}

/* The params of a route's signature, requestOptions included. */
static int
emit_ts_params(FILE *f, const struct wspool_schema *s, char *err,
    size_t errlen)
{
	char **names;
	int rv = -1;

	if (s == NULL) {
		/* Anything goes: the request options cannot follow a rest. */
		fputs("...params: unknown[]", f);
		return 0;
	}
	if ((names = calloc(s->nparams + 1, sizeof(*names))) == NULL ||
	    emit_param_names(s, names) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->nparams; i++) {
		const struct wspool_param *p = &s->params[i];

		fprintf(f, "%s%s: ", names[i], p->optional ? "?" : "");
		if (p->ts_type != NULL)
			fprintf(f, p->nullable ? "(%s) | null" : "%s", p->ts_type);
		else if (p->nullable && p->type != WSPOOL_T_ANY &&
		    p->type != WSPOOL_T_NULL)
			fprintf(f, "%s | null", emit_ts_type(p->type));
		else
			fputs(emit_ts_type(p->type), f);
		fputs(", ", f);
	}
	fputs(s->rest ? "...rest: unknown[]" :
	    EMIT_OPTIONS_NAME "?: ws.RequestOptions", f);
	rv = 0;
out:
	for (size_t i = 0; names != NULL && i < s->nparams; i++)
		free(names[i]);
	free(names);
	return rv;
}

int
emit_ts(FILE *f, const struct wspool_module *def, char *err, size_t errlen)
{
	fputs("// Route definitions of the wspool module ", f);
	if (emit_string(f, def->name) != 0) {
		snprintf(err, errlen, "the module name is not UTF-8");
		return -1;
	}
	fputs(" for alien-rpc clients.\n"
	    "// Generated by wspool --emit-routes ts: do not edit.\n"
	    "import type { ws } from \"@alien-rpc/client\"\n"
	    "import websocket from \"@alien-rpc/client/protocols/websocket\"\n"
	    "\n"
	    "export default {\n", f);
	for (size_t i = 0; i < def->nroutes; i++) {
		const struct wspool_route *r = &def->routes[i];
		const char *result = r->result_type != NULL ? r->result_type :
		    "unknown";

		fputs("  ", f);
		if (emit_key(f, r->name) != 0) {
			snprintf(err, errlen, "route %zu: the name is not UTF-8",
			    i);
			return -1;
		}
		fprintf(f, ": {protocol: websocket, pattern: \"%s\"} as "
		    "ws.Route<(", r->pattern == WSPOOL_REQUEST ? "r" :
		    r->pattern == WSPOOL_SUBSCRIPTION ? "s" : "n");
		if (emit_ts_params(f, r->schema, err, errlen) != 0)
			return -1;
		if (r->pattern == WSPOOL_REQUEST)
			fprintf(f, ") => Promise<%s>>,\n", result);
		else if (r->pattern == WSPOOL_SUBSCRIPTION)
			fprintf(f, ") => ReadableStream<%s>>,\n", result);
		else
			fputs(") => Promise<void>>,\n", f);
	}
	fputs("}\n", f);
	return 0;
}

/* ---- JSON ------------------------------------------------------------- */

static const char *
emit_json_type(enum wspool_type t)
{
	switch (t) {
	case WSPOOL_T_ANY: return "any";
	case WSPOOL_T_NULL: return "null";
	case WSPOOL_T_BOOL: return "boolean";
	case WSPOOL_T_NUMBER: return "number";
	case WSPOOL_T_INTEGER: return "integer";
	case WSPOOL_T_UINT: return "uint";
	case WSPOOL_T_STRING: return "string";
	case WSPOOL_T_ARRAY: return "array";
	case WSPOOL_T_OBJECT: return "object";
	}
	return "any";
}

/* s quoted, or null for NULL. */
static int
emit_json_string_or_null(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return 0;
	}
	return emit_string(f, s);
}

static int
emit_json_params(FILE *f, const struct wspool_schema *s)
{
	if (s == NULL) {
		fputs("\"params\": null, \"rest\": true", f);
		return 0;
	}
	fputs("\"params\": [", f);
	for (size_t i = 0; i < s->nparams; i++) {
		const struct wspool_param *p = &s->params[i];

		fputs(i > 0 ? ", {\"name\": " : "{\"name\": ", f);
		if (emit_json_string_or_null(f, p->name) != 0)
			return -1;
		fprintf(f, ", \"type\": \"%s\", \"optional\": %s, "
		    "\"nullable\": %s, \"ts_type\": ", emit_json_type(p->type),
		    p->optional ? "true" : "false",
		    p->nullable ? "true" : "false");
		/* Checked at load: UTF-8. */
		emit_json_string_or_null(f, p->ts_type);
		fputc('}', f);
	}
	fprintf(f, "], \"rest\": %s", s->rest ? "true" : "false");
	return 0;
}

int
emit_json(FILE *f, const struct wspool_module *def, char *err, size_t errlen)
{
	static const char *const patterns[] = {
		[WSPOOL_REQUEST] = "request",
		[WSPOOL_SUBSCRIPTION] = "subscription",
		[WSPOOL_NOTIFICATION] = "notification",
	};

	fputs("[\n", f);
	for (size_t i = 0; i < def->nroutes; i++) {
		const struct wspool_route *r = &def->routes[i];

		fputs("  {\"name\": ", f);
		if (emit_string(f, r->name) != 0) {
			snprintf(err, errlen, "route %zu: the name is not UTF-8",
			    i);
			return -1;
		}
		/* module_open has checked the pattern. */
		fprintf(f, ", \"pattern\": \"%s\", ", patterns[r->pattern]);
		if (emit_json_params(f, r->schema) != 0) {
			snprintf(err, errlen, "route %s: a param name is not "
			    "UTF-8", r->name);
			return -1;
		}
		fputs(", \"result_type\": ", f);
		emit_json_string_or_null(f, r->pattern == WSPOOL_NOTIFICATION ?
		    NULL : r->result_type);
		fprintf(f, ", \"idempotent\": %s, \"timeout_ms\": %u}%s\n",
		    r->idempotent ? "true" : "false", (unsigned)r->timeout_ms,
		    i + 1 < def->nroutes ? "," : "");
	}
	fputs("]\n", f);
	return 0;
}

/* ---- the mode --------------------------------------------------------- */

int
emit_main(const char *format, const char *module_path)
{
	char err[1024];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rv, status = 1;

	if (module_open(module_path, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		log_error("cannot emit the routes: %s", strerror(errno));
		goto out;
	}
	err[0] = '\0';
	rv = strcmp(format, "ts") == 0 ? emit_ts(f, module_def(), err,
	    sizeof(err)) : emit_json(f, module_def(), err, sizeof(err));
	if (fclose(f) != 0 && rv == 0) {
		rv = -1;
		snprintf(err, sizeof(err), "%s", strerror(errno));
	}
	f = NULL;
	if (rv != 0) {
		log_error("cannot emit the routes of %s: %s", module_path, err);
		goto out;
	}
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error("cannot write the routes: %s", strerror(errno));
		goto out;
	}
	status = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	module_unload();
	return status;
}
