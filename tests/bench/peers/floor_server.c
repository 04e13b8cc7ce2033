/*
 * floor_server.c - the kernel's floor for one request per round trip: a
 * benchmark peer, not a server. Not a test; tests/bench/http_bench.py runs
 * it beside actord and nginx (docs/PERFORMANCE.md, "CPU per request").
 *
 *   floor_server PORT send    one thread, epoll, recv + send per request
 *   floor_server PORT uring   the same, but the answers of one epoll batch
 *                             go out in one io_uring_submit (liburing):
 *                             what batching the system calls saves
 *
 * It does the least any HTTP server must do for a keep-alive request on
 * its own thread: wait for the socket, read the request, write a fixed
 * answer the size of actord's /plaintext answer. No parsing beyond finding
 * each "\r\n\r\n", no routing, no second thread, no timers, no logging.
 * Its CPU time per request is what TCP over loopback, epoll and the system
 * calls cost on this machine: no real server can spend less, so it bounds
 * what a ratio to nginx can reach.
 *
 * One thread (main) owns everything here. Exits on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* actord's /plaintext answer, byte for byte in length (a fixed Date). */
static const char ANSWER[] = "HTTP/1.1 200 OK\r\n"
			     "Server: actord\r\n"
			     "Date: Mon, 07 Dec 2026 04:00:00 GMT\r\n"
			     "Content-Type: text/plain\r\n"
			     "Content-Length: 13\r\n"
			     "\r\n"
			     "Hello, World!";
#define ANSWER_LEN (sizeof(ANSWER) - 1)
#define RING_ENTRIES 4096
#define MAX_EVENTS 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Requests completed by `buf`, given how much of "\r\n\r\n" the previous
 * read of this socket ended with (*matched, updated). */
static unsigned count_requests(const char *buf, size_t len, unsigned char *matched)
{
	static const char end[4] = {'\r', '\n', '\r', '\n'};
	unsigned n = 0, m = *matched;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == end[m])
			m++;
		else
			m = buf[i] == '\r' ? 1 : 0;
		if (m == 4) {
			n++;
			m = 0;
		}
	}
	*matched = (unsigned char)m;
	return n;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
		perror("floor_server: listen");
		exit(1);
	}
	return fd;
}

/* The uring mode's sends are all of the same static bytes, so neither
 * their order nor their buffers' lifetime matters; a short or failed send
 * closes the connection (loopback with room never sends short). */
static void reap(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(ring, head, cqe)
	{
		if (cqe->res != (int)ANSWER_LEN)
			shutdown((int)cqe->user_data, SHUT_RDWR);
		seen++;
	}
	io_uring_cq_advance(ring, seen);
}

static void answer(struct io_uring *ring, int fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (ring == NULL) {
			if (send(fd, ANSWER, ANSWER_LEN, MSG_NOSIGNAL) != (ssize_t)ANSWER_LEN)
				shutdown(fd, SHUT_RDWR);
			continue;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		if (sqe == NULL) { /* ring full: flush it, then queue */
			io_uring_submit(ring);
			reap(ring);
			sqe = io_uring_get_sqe(ring);
		}
		io_uring_prep_send(sqe, fd, ANSWER, ANSWER_LEN, MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, (uint64_t)fd);
	}
}

int main(int argc, char **argv)
{
	static unsigned char matched[1 << 20]; /* per fd: "\r\n\r\n" seen so far */
	struct io_uring ring, *uring = NULL;
	struct epoll_event ev[MAX_EVENTS];
	struct sigaction sa = {.sa_handler = on_signal};
	struct rlimit rl;
	char buf[16384];
	int lfd, ep;

	if (argc != 3 || (strcmp(argv[2], "send") != 0 && strcmp(argv[2], "uring") != 0)) {
		fprintf(stderr, "usage: floor_server PORT send|uring\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max < sizeof(matched) ? rl.rlim_max : sizeof(matched);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(argv[2], "uring") == 0) {
		int rc = io_uring_queue_init(RING_ENTRIES, &ring, 0);
		if (rc < 0) {
			fprintf(stderr, "floor_server: io_uring_queue_init: %s\n", strerror(-rc));
			return 1;
		}
		uring = &ring;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = listen_on(atoi(argv[1]));
	ep = epoll_create1(0);
	ev[0] = (struct epoll_event){.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev[0]);

	while (!stopping) {
		int n = epoll_wait(ep, ev, MAX_EVENTS, 200);

		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			ssize_t got;

			if (fd == lfd) {
				int c, one = 1;
				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if ((size_t)c >= sizeof(matched)) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					matched[c] = 0;
					struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				}
				continue;
			}
			got = recv(fd, buf, sizeof(buf), 0);
			if (got > 0) {
				answer(uring, fd, count_requests(buf, (size_t)got, &matched[fd]));
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* a uring send still queued for fd fails harmlessly */
				if (uring != NULL)
					io_uring_submit(uring);
				close(fd);
			}
		}
		if (uring != NULL) {
			io_uring_submit(uring);
			reap(uring);
		}
	}
	return 0;
}
