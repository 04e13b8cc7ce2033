/*
 * rconn_deadline.c - per-command deadlines on a Redis connection: one
 * timer for the earliest deadline; an expired command is answered
 * -ETIMEDOUT at once, and a link whose oldest command is stuck past its
 * deadline is dropped and remade (a stalled server answers nothing).
 *
 * Thread: the owning actor's thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "rconn_internal.h"
#include "base/clock.h"

/* The oldest command of `l` missed its deadline long ago: Redis answers in
 * order, so nothing behind it can arrive either. */
static bool stuck(const struct rc_link *l, uint64_t now, uint64_t *next)
{
	const struct rc_cmd *h = rc_cmd_of(list_first(&l->cmds));
	uint64_t at;

	if (h == NULL || h->internal || h->fn != NULL)
		return false;
	at = h->sent_ns + l->set.command_timeout_ms * NS_PER_MS;
	if (now >= at)
		return true;
	if (at < *next)
		*next = at;
	return false;
}

void rc_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;
	struct rc_link *links[2] = { c->cur, c->old };
	struct rc_cmd *expired = NULL, *cmd;
	uint64_t now = clock_now_ns(), next = UINT64_MAX;

	(void)loop;
	(void)revents;
	for (int i = 0; i < 2; i++)
		for (cmd = links[i] != NULL ? rc_cmd_of(list_first(&links[i]->cmds)) : NULL; cmd != NULL;
		     cmd = rc_cmd_of(list_next(&links[i]->cmds, &cmd->node)))
			if (cmd->fn != NULL && !cmd->internal && cmd->deadline_ns <= now) {
				cmd->expired_next = expired;
				expired = cmd;
			}
	/* Answer them. Callbacks may send but never free a command record:
	 * those are freed only by hiredis' reply callbacks, which cannot run
	 * here while in_deadline keeps follow_config from closing a link. */
	c->in_deadline = true;
	while ((cmd = expired) != NULL) {
		rconn_reply_fn fn = cmd->fn;

		expired = cmd->expired_next;
		cmd->fn = NULL;
		rc_count_done(c, cmd, true, true);
		fn(cmd->arg, -ETIMEDOUT, NULL);
	}
	c->in_deadline = false;
	links[0] = c->cur;
	links[1] = c->old;
	for (int i = 0; i < 2; i++)
		if (links[i] != NULL && stuck(links[i], now, &next))
			rc_drop_link(links[i], -ETIMEDOUT, "no reply within redis.command_timeout_ms");
	links[0] = c->cur;
	links[1] = c->old;
	for (int i = 0; i < 2; i++)
		for (cmd = links[i] != NULL ? rc_cmd_of(list_first(&links[i]->cmds)) : NULL; cmd != NULL;
		     cmd = rc_cmd_of(list_next(&links[i]->cmds, &cmd->node)))
			if (cmd->fn != NULL && !cmd->internal && cmd->deadline_ns < next)
				next = cmd->deadline_ns;
	for (int i = 0; i < 2; i++)
		if (links[i] != NULL)
			stuck(links[i], now, &next);
	ev_timer_stop(c->loop, &c->deadline_w);
	if (next != UINT64_MAX)
		rc_arm_deadline(c, next, now);
}
