/*
 * mongo_msg.c - building mongo messages and reading their replies
 * (mongo.h). No driver call here: these run on the handler's thread, and
 * turning cJSON into BSON is left to the mongo actor, which has the time.
 *
 * Thread: the thread that owns the message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"

static void mongo_msg_free(struct msg *m)
{
	struct mongo_msg *mm = (struct mongo_msg *)(void *)m;

	for (unsigned i = 0; i < mm->nreq; i++)
		cJSON_Delete(mm->req[i]);
	if (mm->res != NULL)
		for (unsigned i = 0; i < mm->nreq; i++)
			cJSON_Delete(mm->res[i]);
	cJSON_Delete(mm->projection);
	free(mm->req);
	free(mm->res);
	free(mm);
}

/* A message of `type` on `collection`, or NULL. Takes `first` (the first
 * request document, may be NULL) in every case. */
static struct mongo_msg *msg_new(uint32_t type, const char *collection, cJSON *first)
{
	struct mongo_msg *mm;
	size_t n;

	if (collection == NULL || (n = strlen(collection)) == 0 || n > MONGO_NAME_MAX ||
	    (mm = calloc(1, sizeof(*mm))) == NULL) {
		cJSON_Delete(first);
		return NULL;
	}
	call_msg_init(&mm->c, type, mongo_msg_free, 0);
	memcpy(mm->coll, collection, n + 1);
	mm->n = -1;
	mm->modified = -1;
	return mm;
}

/* Append request documents (all taken). 0, -E2BIG or -ENOMEM. */
static int push_req(struct mongo_msg *mm, cJSON *a, cJSON *b, unsigned max)
{
	unsigned need = mm->nreq + (b != NULL ? 2 : 1);

	if (need > max) {
		cJSON_Delete(a);
		cJSON_Delete(b);
		return -E2BIG;
	}
	if (need > mm->capreq) {
		unsigned cap = mm->capreq > 0 ? mm->capreq * 2 : 4;
		cJSON **p;

		while (cap < need)
			cap *= 2;
		p = realloc(mm->req, cap * sizeof(*p));
		if (p == NULL) {
			cJSON_Delete(a);
			cJSON_Delete(b);
			return -ENOMEM;
		}
		mm->req = p;
		mm->capreq = cap;
	}
	mm->req[mm->nreq++] = a;
	if (b != NULL)
		mm->req[mm->nreq++] = b;
	return 0;
}

static struct call_msg *finish_new(struct mongo_msg *mm, cJSON *first, unsigned max)
{
	if (mm == NULL)
		return NULL;
	if (push_req(mm, first, NULL, max) != 0) {
		mongo_msg_free(&mm->c.m);
		return NULL;
	}
	return &mm->c;
}

struct call_msg *mongo_find(const char *collection, cJSON *filter, int64_t limit)
{
	struct mongo_msg *mm;

	if (!cJSON_IsObject(filter) || limit < 0) {
		cJSON_Delete(filter);
		return NULL;
	}
	mm = msg_new(MONGO_MSG_FIND, collection, filter);
	if (mm != NULL)
		mm->limit = limit;
	return finish_new(mm, filter, MONGO_MAX_QUERIES);
}

int mongo_find_add(struct call_msg *m, cJSON *filter)
{
	if (m == NULL || m->m.type != MONGO_MSG_FIND || !cJSON_IsObject(filter)) {
		cJSON_Delete(filter);
		return -EINVAL;
	}
	return push_req(mongo_msg_of(m), filter, NULL, MONGO_MAX_QUERIES);
}

int mongo_find_project(struct call_msg *m, cJSON *projection)
{
	struct mongo_msg *mm;

	if (m == NULL || m->m.type != MONGO_MSG_FIND || !cJSON_IsObject(projection)) {
		cJSON_Delete(projection);
		return -EINVAL;
	}
	mm = mongo_msg_of(m);
	cJSON_Delete(mm->projection);
	mm->projection = projection;
	return 0;
}

struct call_msg *mongo_insert(const char *collection, cJSON *docs)
{
	const cJSON *d;

	if (!cJSON_IsArray(docs) || cJSON_GetArraySize(docs) == 0 ||
	    cJSON_GetArraySize(docs) > MONGO_MAX_WRITES) {
		cJSON_Delete(docs);
		return NULL;
	}
	cJSON_ArrayForEach(d, docs) {
		if (!cJSON_IsObject(d)) {
			cJSON_Delete(docs);
			return NULL;
		}
	}
	return finish_new(msg_new(MONGO_MSG_INSERT, collection, docs), docs, 1);
}

struct call_msg *mongo_update(const char *collection)
{
	struct mongo_msg *mm = msg_new(MONGO_MSG_UPDATE, collection, NULL);

	return mm != NULL ? &mm->c : NULL;
}

int mongo_update_add(struct call_msg *m, cJSON *filter, cJSON *update)
{
	if (m == NULL || m->m.type != MONGO_MSG_UPDATE || !cJSON_IsObject(filter) ||
	    !cJSON_IsObject(update)) {
		cJSON_Delete(filter);
		cJSON_Delete(update);
		return -EINVAL;
	}
	return push_req(mongo_msg_of(m), filter, update, 2u * MONGO_MAX_WRITES);
}

struct call_msg *mongo_count(const char *collection, cJSON *filter)
{
	if (!cJSON_IsObject(filter)) {
		cJSON_Delete(filter);
		return NULL;
	}
	return finish_new(msg_new(MONGO_MSG_COUNT, collection, filter), filter, 1);
}

unsigned mongo_nqueries(const struct call_msg *reply)
{
	const struct mongo_msg *mm = (const struct mongo_msg *)(const void *)reply;

	return reply->m.type == MONGO_MSG_FIND ? mm->nreq : 0;
}

const cJSON *mongo_docs(const struct call_msg *reply, unsigned i)
{
	const struct mongo_msg *mm = (const struct mongo_msg *)(const void *)reply;

	if (reply->m.type != MONGO_MSG_FIND || reply->status != 0 || mm->res == NULL ||
	    i >= mm->nreq)
		return NULL;
	return mm->res[i];
}

cJSON *mongo_take_docs(struct call_msg *reply, unsigned i)
{
	struct mongo_msg *mm = mongo_msg_of(reply);
	cJSON *d = (cJSON *)mongo_docs(reply, i);

	if (d != NULL)
		mm->res[i] = NULL;
	return d;
}

int64_t mongo_result_n(const struct call_msg *reply)
{
	const struct mongo_msg *mm = (const struct mongo_msg *)(const void *)reply;

	return reply->status == 0 && reply->m.type != MONGO_MSG_FIND ? mm->n : -1;
}

int64_t mongo_result_modified(const struct call_msg *reply)
{
	const struct mongo_msg *mm = (const struct mongo_msg *)(const void *)reply;

	return reply->status == 0 && reply->m.type == MONGO_MSG_UPDATE ? mm->modified : -1;
}
