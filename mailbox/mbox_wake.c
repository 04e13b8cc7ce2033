/*
 * mbox_wake.c - deferred wake-up checks, one fence per batch.
 *
 * DESIGN
 * Asking "is the receiver asleep?" needs a full fence after the push
 * (StoreLoad against the receiver's raise-then-recheck). Paying it per
 * message caps a mailbox at ~9 M msgs/s here; paying it once per batch lets
 * it reach ~24 M (../shared/calibration.md). So a thread that runs an
 * attached receiver notes the mailboxes it sent to and checks them all after
 * its batch or before its loop blocks. Other threads check at once.
 *
 * Thread: per-thread state; every function may be called from any thread
 * and only touches the caller's own state plus the receivers' flags.
 */
#include "mbox_internal.h"

#define WAKE_PENDING_MAX 32

/* Owner: the calling thread (thread-local). */
static _Thread_local struct {
	bool deferred;
	unsigned n;
	struct mbox *pending[WAKE_PENDING_MAX];
} tl;

void mbox_set_deferred_wakeups(bool on)
{
	if (!on)
		mbox_flush_wakeups();
	tl.deferred = on;
}

void mbox_wake_sleepers(struct mbox *mb, unsigned want)
{
	for (unsigned i = 0; i < mb->consumers && want > 0; i++) {
		struct mbox_rx *rx = &mb->rx[i];

		/* `sleeping` is raised only after rx->loop was set (attach)
		 * and with a seq_cst store, so seeing 1 means loop is valid. */
		if (atomic_load_explicit(&rx->sleeping, memory_order_relaxed)) {
			ev_async_send(rx->loop, &rx->wake);
			want--;
		}
	}
}

void mbox_wake_note(struct mbox *mb)
{
	if (!tl.deferred) {
		atomic_thread_fence(memory_order_seq_cst);
		mbox_wake_sleepers(mb, 1);
		return;
	}
	for (unsigned i = tl.n; i > 0; i--)
		if (tl.pending[i - 1] == mb)
			return;
	if (tl.n == WAKE_PENDING_MAX)
		mbox_flush_wakeups();
	tl.pending[tl.n++] = mb;
}

void mbox_flush_wakeups(void)
{
	unsigned n = tl.n;

	if (n == 0)
		return;
	/* One StoreLoad for every push this thread made since the last flush. */
	atomic_thread_fence(memory_order_seq_cst);
	tl.n = 0;
	for (unsigned i = 0; i < n; i++)
		mbox_wake_sleepers(tl.pending[i], 1);
}

void mbox_wake_forget(struct mbox *mb)
{
	unsigned j = 0;

	for (unsigned i = 0; i < tl.n; i++)
		if (tl.pending[i] != mb)
			tl.pending[j++] = tl.pending[i];
	tl.n = j;
}
