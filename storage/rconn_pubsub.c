/*
 * rconn_pubsub.c - subscriptions on a Redis connection (one channel with
 * its own callback: rconn_subscribe; verbs on many channels whose pushes
 * go to opts.on_push: rconn_pubsub), how a reply's error maps to a
 * status, and the connection's state as its owner sees it.
 *
 * Thread: the owning actor's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rconn_internal.h"

/* A subscription's message, or its end: hiredis runs a channel's callback
 * for every message and once with NULL when it frees the context (a lost
 * connection, or ours dropped). */
static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
	struct rc_cmd *cmd = priv;
	struct rc_link *l = cmd->link;
	struct rconn *c = l->c;
	rconn_reply_fn fn = cmd->fn;
	void *arg = cmd->arg;

	if (r != NULL) {
		fn(arg, 0, r);
		return;
	}
	l->ac = NULL;
	rc_link_lost(l, -ENOTCONN, ac->c.err != 0 ? ac->c.errstr : "connection closed");
	list_remove(&cmd->node);
	rc_put_cmd(c, cmd);
	fn(arg, l->fail_status != 0 ? l->fail_status : -ENOTCONN, NULL);
}

int rconn_subscribe(struct rconn *c, const char *channel, rconn_reply_fn fn, void *arg)
{
	struct rc_link *l = c->cur;
	struct rc_cmd *cmd;

	if (l == NULL || !l->up || l->ac == NULL)
		return -ENOTCONN;
	cmd = rc_get_cmd(c);
	if (cmd == NULL)
		return -ENOMEM;
	*cmd = (struct rc_cmd){ .link = l, .fn = fn, .arg = arg, .deadline_ns = UINT64_MAX,
				.internal = true };
	if (redisAsyncCommand(l->ac, on_message, cmd, "SUBSCRIBE %s", channel) != REDIS_OK) {
		rc_put_cmd(c, cmd);
		return -ENOTCONN;
	}
	list_push_back(&l->subs, &cmd->node);
	return 0;
}

bool rconn_connected(const struct rconn *c)
{
	return c->cur != NULL && c->cur->up;
}

bool rconn_busy(const struct rconn *c)
{
	return (c->cur != NULL && !list_empty(&c->cur->cmds)) ||
	       (c->old != NULL && !list_empty(&c->old->cmds));
}

int rconn_reply_status(const redisReply *reply)
{
	/* Errors that say "not now" rather than "never": a server loading
	 * its data, running a script, mid-failover, out of memory under
	 * noeviction (OOM), short of replicas for min-replicas-to-write
	 * (NOREPLICAS), or refusing writes after a failed snapshot (MISCONF).
	 * The code must be the whole first word: BUSYKEY and BUSYGROUP are
	 * permanent refusals, not BUSY. */
	static const char *const transient[] = { "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
						 "READONLY", "OOM", "NOREPLICAS", "MISCONF" };

	if (reply->type != REDIS_REPLY_ERROR)
		return 0;
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
		size_t n = strlen(transient[i]);

		if (reply->len >= n && strncmp(reply->str, transient[i], n) == 0 &&
		    (reply->len == n || reply->str[n] == ' '))
			return -EAGAIN;
	}
	return -EBADMSG;
}

/* hiredis keeps this callback per channel and runs it for every push on
 * it, and once with NULL when it frees the context. */
static void on_push_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = priv;

	(void)ac;
	if (!c->destroying && c->opts.on_push != NULL)
		c->opts.on_push(c->opts.ctx, r);
}

int rconn_pubsub(struct rconn *c, const char *verb, int n, const char *const *channels,
		 const size_t *lens)
{
	const char **argv;
	size_t *argl;
	int rc = 0;

	if (!rconn_connected(c) || c->cur->ac == NULL)
		return -ENOTCONN;
	if (n <= 0)
		return 0;
	argv = malloc(sizeof(*argv) * (size_t)(n + 1));
	argl = malloc(sizeof(*argl) * (size_t)(n + 1));
	if (argv == NULL || argl == NULL) {
		free(argv);
		free(argl);
		return -ENOMEM;
	}
	argv[0] = verb;
	argl[0] = strlen(verb);
	for (int i = 0; i < n; i++) {
		argv[i + 1] = channels[i];
		argl[i + 1] = lens[i];
	}
	if (redisAsyncCommandArgv(c->cur->ac, on_push_reply, c, n + 1, argv, argl) != REDIS_OK)
		rc = -ENOTCONN;
	free(argv);
	free(argl);
	return rc;
}
