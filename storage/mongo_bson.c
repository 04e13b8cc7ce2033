/*
 * mongo_bson.c - cJSON <-> BSON for the mongo actors (mongo_internal.h;
 * the mapping is described in mongo.h).
 *
 * DESIGN
 * Both directions walk the tree recursively with a depth bound (BSON
 * allows 100 levels; deeper is refused rather than risking the stack).
 * Numbers: cJSON keeps doubles, so a whole number is sent as the smallest
 * integer type that holds it, which is what MongoDB compares and stores
 * for "id": 42. cJSON also prints a number from its double, with 15
 * significant digits whenever they read back within an epsilon: integers
 * from 10^15 on would come out rounded (2^53 - 1 as 9007199254740990) and
 * those past 2^53 cannot be held at all. So an int64 (or date) result of
 * 10^15 or more in magnitude becomes a raw item holding its exact digits
 * (printed as a JSON number, as Python's json does), and such a raw
 * integer converts back to an int64. A Decimal128 (money) is a raw item
 * too, its exact decimal text (null for NaN and the infinities, which
 * JSON cannot write), and converts back to a Decimal128; a symbol (an
 * old string type) is a string.
 *
 * Thread: any (no shared state).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"

#define DEPTH_MAX 100
#define TWO_POW_53 9007199254740992.0
/* Below this magnitude cJSON prints an integer's every digit. */
#define EXACT_PRINT_MAX 1000000000000000LL

static int append_value(bson_t *out, const char *key, const cJSON *v, int depth);

static int append_children(bson_t *out, const cJSON *parent, bool array, int depth)
{
	const cJSON *c;
	uint32_t i = 0;

	if (depth > DEPTH_MAX)
		return -EINVAL;
	cJSON_ArrayForEach(c, parent) {
		char buf[16];
		const char *key = c->string;

		if (array)
			bson_uint32_to_string(i, &key, buf, sizeof(buf));
		else if (key == NULL)
			return -EINVAL;
		if (append_value(out, key, c, depth) != 0)
			return -EINVAL;
		i++;
	}
	return 0;
}

static bool append_number(bson_t *out, const char *key, double d)
{
	if (d == floor(d) && d >= INT32_MIN && d <= INT32_MAX)
		return bson_append_int32(out, key, -1, (int32_t)d);
	if (d == floor(d) && fabs(d) <= TWO_POW_53)
		return bson_append_int64(out, key, -1, (int64_t)d);
	return bson_append_double(out, key, -1, d);
}

/* A raw item we made from a result (int64_to_json, decimal_to_json): a
 * whole number is an int64 again, any other number a Decimal128. */
static bool append_raw_number(bson_t *out, const char *key, const char *text)
{
	bson_decimal128_t dec;
	char *end;
	long long n;

	if (text == NULL || (*text != '-' && (*text < '0' || *text > '9')))
		return false;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno == 0 && *end == '\0')
		return bson_append_int64(out, key, -1, (int64_t)n);
	return bson_decimal128_from_string(text, &dec) &&
	       bson_append_decimal128(out, key, -1, &dec);
}

static int append_value(bson_t *out, const char *key, const cJSON *v, int depth)
{
	bson_t child;
	bool ok;

	if (cJSON_IsRaw(v))
		ok = append_raw_number(out, key, v->valuestring);
	else if (cJSON_IsString(v))
		ok = bson_append_utf8(out, key, -1, v->valuestring, -1);
	else if (cJSON_IsNumber(v))
		ok = append_number(out, key, v->valuedouble);
	else if (cJSON_IsBool(v))
		ok = bson_append_bool(out, key, -1, cJSON_IsTrue(v));
	else if (cJSON_IsNull(v))
		ok = bson_append_null(out, key, -1);
	else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		bool array = cJSON_IsArray(v);

		ok = array ? bson_append_array_begin(out, key, -1, &child)
			   : bson_append_document_begin(out, key, -1, &child);
		if (!ok)
			return -EINVAL;
		if (append_children(&child, v, array, depth + 1) != 0) {
			/* Close it anyway: `out` must stay consistent for destroy. */
			if (array)
				bson_append_array_end(out, &child);
			else
				bson_append_document_end(out, &child);
			return -EINVAL;
		}
		ok = array ? bson_append_array_end(out, &child)
			   : bson_append_document_end(out, &child);
	} else
		return -EINVAL;
	return ok ? 0 : -EINVAL;
}

int mongo_bson_from_json(bson_t *out, const cJSON *obj)
{
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	return append_children(out, obj, false, 0);
}

struct to_json;
static cJSON *iter_to_json(bson_iter_t *it, bool array, int depth, struct to_json *t);

static cJSON *int64_to_json(int64_t n)
{
	char digits[24];

	if (n > -EXACT_PRINT_MAX && n < EXACT_PRINT_MAX)
		return cJSON_CreateNumber((double)n);
	snprintf(digits, sizeof(digits), "%" PRId64, n);
	return cJSON_CreateRaw(digits);
}

static cJSON *decimal_to_json(const bson_iter_t *it)
{
	bson_decimal128_t dec;
	char text[BSON_DECIMAL128_STRING];

	if (!bson_iter_decimal128(it, &dec))
		return NULL;
	bson_decimal128_to_string(&dec, text);
	/* "NaN", "Infinity", "-Infinity": no JSON number. */
	if (text[0] == 'N' || text[0] == 'I' || text[1] == 'I')
		return cJSON_CreateNull();
	return cJSON_CreateRaw(text);
}

/* -EPROTO for a document deeper than DEPTH_MAX or one whose bytes do
 * not parse (MongoDB sends neither), -ENOMEM otherwise: which one a NULL
 * below meant. */
struct to_json {
	int error;
};

static cJSON *value_to_json(bson_iter_t *it, int depth, struct to_json *t)
{
	bson_iter_t child;
	char oid[25];

	switch (bson_iter_type(it)) {
	case BSON_TYPE_DOUBLE:
		return cJSON_CreateNumber(bson_iter_double(it));
	case BSON_TYPE_INT32:
		return cJSON_CreateNumber(bson_iter_int32(it));
	case BSON_TYPE_INT64:
		return int64_to_json(bson_iter_int64(it));
	case BSON_TYPE_DATE_TIME:
		return int64_to_json(bson_iter_date_time(it));
	case BSON_TYPE_BOOL:
		return cJSON_CreateBool(bson_iter_bool(it));
	case BSON_TYPE_UTF8:
		return cJSON_CreateString(bson_iter_utf8(it, NULL));
	case BSON_TYPE_SYMBOL:
		return cJSON_CreateString(bson_iter_symbol(it, NULL));
	case BSON_TYPE_DECIMAL128:
		return decimal_to_json(it);
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), oid);
		return cJSON_CreateString(oid);
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (depth >= DEPTH_MAX || !bson_iter_recurse(it, &child)) {
			t->error = -EPROTO;
			return NULL;
		}
		return iter_to_json(&child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1, t);
	default:
		return cJSON_CreateNull();
	}
}

static cJSON *iter_to_json(bson_iter_t *it, bool array, int depth, struct to_json *t)
{
	cJSON *out = array ? cJSON_CreateArray() : cJSON_CreateObject();

	if (out == NULL)
		return NULL;
	while (bson_iter_next(it)) {
		cJSON *v = value_to_json(it, depth, t);

		if (v == NULL || !(array ? cJSON_AddItemToArray(out, v)
					 : cJSON_AddItemToObject(out, bson_iter_key(it), v))) {
			cJSON_Delete(v);
			cJSON_Delete(out);
			return NULL;
		}
	}
	/* bson_iter_next also stops at bytes that do not parse. */
	if (it->err_off != 0) {
		t->error = -EPROTO;
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

int mongo_bson_to_json(const bson_t *doc, cJSON **out)
{
	struct to_json t = { -ENOMEM };
	bson_iter_t it;

	*out = NULL;
	if (!bson_iter_init(&it, doc))
		return -EPROTO;
	*out = iter_to_json(&it, false, 0, &t);
	return *out != NULL ? 0 : t.error;
}
