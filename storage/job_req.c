/*
 * job_req.c - building job requests and reading their replies (job.h),
 * and looking up job types (job_type.h).
 *
 * DESIGN
 * A request is one allocation: the header and its strings behind it. A
 * status reply's hash fields are copied by the job actor into one more
 * block (pointers, then the text), freed with the message.
 *
 * Thread: the caller's (builders, readers); job_req_set_fields on the job
 * actor; job_req_free wherever the message is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"

static void job_req_free(struct msg *m)
{
	struct job_req *q = (struct job_req *)(void *)m;

	free(q->fields);
	free(q);
}

static struct job_req *req_new(uint8_t op, size_t text)
{
	struct job_req *q = calloc(1, sizeof(*q) + text);

	if (q == NULL)
		return NULL;
	call_msg_init(&q->c, JOB_MSG_REQ, job_req_free, 0);
	q->op = op;
	return q;
}

struct job_req *job_req_enqueue(const char *type, const char *payload, size_t len,
				const char *idem_key)
{
	size_t tlen = strlen(type), ilen = idem_key != NULL ? strlen(idem_key) : 0;
	struct job_req *q = req_new(JOB_OP_ENQUEUE, tlen + len + ilen + 3);
	char *p;

	if (q == NULL)
		return NULL;
	p = q->text;
	memcpy(p, type, tlen + 1);
	q->type = p;
	p += tlen + 1;
	memcpy(p, payload, len);
	p[len] = '\0';
	q->payload = p;
	q->payload_len = len;
	p += len + 1;
	if (idem_key != NULL) {
		memcpy(p, idem_key, ilen + 1);
		q->idem = p;
	}
	return q;
}

struct job_req *job_req_status(const char *id)
{
	struct job_req *q = req_new(JOB_OP_STATUS, 0);

	/* Never truncated into another job's id: anything else is not found. */
	if (q != NULL && strlen(id) == JOB_ID_LEN)
		memcpy(q->id, id, JOB_ID_LEN + 1);
	return q;
}

struct call_msg *job_req_call(struct job_req *q)
{
	return &q->c;
}

static const struct job_req *req_of(const struct call_msg *reply)
{
	if (reply == NULL || reply->m.type != JOB_MSG_REQ)
		return NULL;
	return (const struct job_req *)(const void *)reply;
}

const char *job_reply_id(const struct call_msg *reply)
{
	const struct job_req *q = req_of(reply);

	return q != NULL && q->id[0] != '\0' ? q->id : NULL;
}

bool job_reply_created(const struct call_msg *reply)
{
	const struct job_req *q = req_of(reply);

	return q != NULL && q->created;
}

const char *job_reply_field(const struct call_msg *reply, const char *name)
{
	const struct job_req *q = req_of(reply);

	if (q == NULL)
		return NULL;
	for (unsigned i = 0; i + 1 < q->nfields; i += 2)
		if (strcmp(q->fields[i], name) == 0)
			return q->fields[i + 1];
	return NULL;
}

void job_req_set_fields(struct job_req *q, const redisReply *hash)
{
	size_t n = hash->elements, text = 0;
	char *p;

	for (size_t i = 0; i < n; i++)
		text += hash->element[i]->type == REDIS_REPLY_STRING ? hash->element[i]->len + 1 : 1;
	q->fields = malloc(n * sizeof(char *) + text);
	if (q->fields == NULL) {
		q->nfields = 0;
		return;
	}
	p = (char *)(q->fields + n);
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = hash->element[i];
		size_t len = e->type == REDIS_REPLY_STRING ? e->len : 0;

		if (len > 0)
			memcpy(p, e->str, len);
		p[len] = '\0';
		q->fields[i] = p;
		p += len + 1;
	}
	q->nfields = (unsigned)n;
}

bool job_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n] != '\0'; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return false;
	return n == JOB_ID_LEN;
}

const struct job_type *job_type_find(const struct job_type *types, unsigned n,
				     const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}
