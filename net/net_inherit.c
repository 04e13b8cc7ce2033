/*
 * net_inherit.c - listening sockets handed over by the process this one
 * replaces (a binary upgrade, server/upgrade.c).
 *
 * DESIGN
 * The old process lists the descriptors it passes in one environment
 * variable (NET_INHERIT_ENV, "5,6,7": nginx's model). At start-up the
 * composition root gives that list to net_inherit_load, which keeps every
 * descriptor that is a listening TCP socket together with its bound
 * address (getsockname). A listener pool's actor that opens an address
 * takes an inherited socket bound there before it would open a new one
 * (net_inherit_take), so the kernel's accept queue, and every connection
 * waiting in it, passes from the old process to the new one: nothing is
 * refused while both run. When the new process has fewer network actors
 * than the old one had, the remaining sockets of an address are taken too
 * (the pool's last actor watches them all), since closing one would reset
 * the connections queued on it. Sockets no configured address wants any
 * more are closed once start-up is over (net_inherit_close_unused).
 *
 * The table is process-wide and fixed after net_inherit_load: one slot per
 * inherited descriptor, whose `taken` flag is claimed with a CAS.
 *
 * Thread: load and close_unused on the controlling thread (before and
 * after actor_system_start); take and count on network actors.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "actors/log.h"

#define NET_INHERIT_MAX 1024

struct inherited {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	atomic_bool taken;
};

/* Owner: written by net_inherit_load before any actor runs, then only
 * the `taken` flags change. */
static struct inherited table[NET_INHERIT_MAX];
static unsigned ntable;

int net_inherit_load(const char *list, char *err, size_t errlen)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		char *end;
		long fd = strtol(p, &end, 10);
		struct inherited *in;
		int listening = 0;
		socklen_t optlen = sizeof(listening);

		if (end == p || fd < 0 || fd > 65535 || (*end != ',' && *end != '\0')) {
			snprintf(err, errlen, "%s: not a list of descriptors: %s", NET_INHERIT_ENV,
				 list);
			return -EINVAL;
		}
		p = *end == ',' ? end + 1 : end;
		if (ntable == NET_INHERIT_MAX) {
			snprintf(err, errlen, "%s: more than %d descriptors", NET_INHERIT_ENV,
				 NET_INHERIT_MAX);
			return -E2BIG;
		}
		in = &table[ntable];
		in->addrlen = sizeof(in->addr);
		if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) != 0 ||
		    !listening ||
		    getsockname((int)fd, (struct sockaddr *)&in->addr, &in->addrlen) != 0) {
			snprintf(err, errlen, "%s: descriptor %ld is not a listening socket",
				 NET_INHERIT_ENV, fd);
			return -EBADF;
		}
		in->fd = (int)fd;
		atomic_init(&in->taken, false);
		ntable++;
	}
	return 0;
}

static bool same_addr(const struct inherited *in, const struct sockaddr *sa, socklen_t len)
{
	return in->addrlen == len && memcmp(&in->addr, sa, len) == 0;
}

/* Each address getaddrinfo gives for `addr`, as open_listener binds them. */
static struct addrinfo *resolve(const struct config_addr *addr)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", addr->port);
	if (getaddrinfo(addr->host[0] != '\0' ? addr->host : NULL, port, &hints, &res) != 0)
		return NULL;
	return res;
}

int net_inherit_take(const struct config_addr *addr)
{
	struct addrinfo *res, *ai;
	int fd = -1;

	if (ntable == 0 || (res = resolve(addr)) == NULL)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		for (unsigned i = 0; i < ntable; i++) {
			bool no = false;

			if (same_addr(&table[i], ai->ai_addr, ai->ai_addrlen) &&
			    atomic_compare_exchange_strong(&table[i].taken, &no, true)) {
				fd = table[i].fd;
				break;
			}
		}
	}
	freeaddrinfo(res);
	return fd;
}

unsigned net_inherit_count(const struct config_addr *addr)
{
	struct addrinfo *res, *ai;
	unsigned n = 0;

	if (ntable == 0 || (res = resolve(addr)) == NULL)
		return 0;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		for (unsigned i = 0; i < ntable; i++)
			if (same_addr(&table[i], ai->ai_addr, ai->ai_addrlen))
				n++;
	freeaddrinfo(res);
	return n;
}

void net_inherit_close_unused(void)
{
	for (unsigned i = 0; i < ntable; i++) {
		if (atomic_load(&table[i].taken))
			continue;
		atomic_store(&table[i].taken, true);
		log_info("upgrade: closing inherited socket %d: no configured address uses it",
			 table[i].fd);
		close(table[i].fd);
	}
}
