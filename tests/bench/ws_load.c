/*
 * ws_load.c - the WebSocket benchmark's client (tests/bench/ws_bench.sh;
 * not a test): CONNS connections join one chat room, the first one
 * publishes MSGS messages at a fixed RATE, and every connection times
 * each delivery.
 *
 * DESIGN
 * One thread, epoll, non-blocking sockets, no library: the handshake is
 * written by hand, server frames are parsed in place (they are never
 * masked), the publisher's frames are masked as RFC 6455 requires. Each
 * message's text is "<seq> <monotonic ns at send>"; the server wraps it
 * in the chat envelope ({"text":"..."}), and the client finds the time
 * there, so publish-to-delivery latency is measured on one clock. The
 * client's own CPU time is printed too: it must stay well below one core
 * for the figures to be the server's.
 *
 * Output: a few lines, then one JSON line: connections, messages,
 * deliveries expected and seen, delivered messages/s (deliveries over the
 * time from the first send to the last delivery), latency p50/p99/max,
 * client CPU seconds, connections lost.
 *
 * Usage: ws_load HOST PORT PATH CONNS RATE MSGS [WAIT_S [HOLD_S]]
 * WAIT_S (30): longest wait for deliveries after the last send; HOLD_S
 * (0.5): idle time between "connections open" and the first send (the
 * benchmark reads the server's memory then).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define BATCH 500

struct conn {
	int fd;
	int state;                 /* 0 connecting, 1 handshake sent, 2 open, 3 lost */
	size_t len;
	uint8_t *buf;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static const char *host, *path;
static int port;
static struct conn *conns;
static uint32_t *lat;            /* microseconds */
static uint64_t nlat, maxlat, seen, lost, first_send, last_seen;

static int open_one(struct conn *c, int ep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN };
	int one = 1;

	inet_pton(AF_INET, host, &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -1;
	c->buf = malloc(BUF);
	c->len = 0;
	c->state = 0;
	ev.data.ptr = c;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void handshake(struct conn *c, int ep)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", path, host);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (write(c->fd, req, (size_t)n) != n) {
		c->state = 3;
		lost++;
		return;
	}
	c->state = 1;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One delivered text frame: find the send time in it. */
static void delivered(const uint8_t *p, size_t n, uint64_t now)
{
	const char *t = memmem(p, n, "\"text\":\"", 8);
	const char *sp;
	uint64_t sent, us;

	if (t == NULL)
		return;
	t += 8;
	sp = memchr(t, ' ', n - (size_t)(t - (const char *)p));
	if (sp == NULL)
		return;
	sent = strtoull(sp + 1, NULL, 10);
	us = now > sent ? (now - sent) / 1000 : 0;
	if (us > UINT32_MAX)
		us = UINT32_MAX;
	lat[nlat++] = (uint32_t)us;
	if (us > maxlat)
		maxlat = us;
	seen++;
	last_seen = now;
}

static void readable(struct conn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
		size_t off = 0;
		uint64_t now;

		if (r <= 0) {
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (c->state != 3) {
				c->state = 3;
				lost++;
				close(c->fd);
			}
			return;
		}
		c->len += (size_t)r;
		if (c->state == 1) {
			uint8_t *end = memmem(c->buf, c->len, "\r\n\r\n", 4);

			if (end == NULL)
				continue;
			if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
				c->state = 3;
				lost++;
				return;
			}
			c->state = 2;
			off = (size_t)(end + 4 - c->buf);
		}
		now = now_ns();
		while (c->len - off >= 2) {
			uint8_t op = c->buf[off] & 0x0f;
			uint64_t n = c->buf[off + 1] & 0x7f;
			size_t h = 2;

			if (n == 126) {
				if (c->len - off < 4)
					break;
				n = ((uint64_t)c->buf[off + 2] << 8) | c->buf[off + 3];
				h = 4;
			} else if (n == 127) {
				if (c->len - off < 10)
					break;
				n = 0;
				for (int i = 0; i < 8; i++)
					n = (n << 8) | c->buf[off + 2 + i];
				h = 10;
			}
			if (c->len - off < h + n)
				break;
			if (op == 1)
				delivered(c->buf + off + h, n, now);
			else if (op == 8 && c->state != 3) {
				c->state = 3;
				lost++;
			}
			off += h + n;
		}
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
		if (c->len == BUF) {      /* a frame larger than the buffer: not ours */
			c->state = 3;
			lost++;
			return;
		}
	}
}

static void publish(struct conn *c, unsigned seq)
{
	uint8_t f[128];
	char text[64];
	int n = snprintf(text, sizeof(text), "%u %llu", seq, (unsigned long long)now_ns());
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

	f[0] = 0x81;
	f[1] = (uint8_t)(0x80 | n);
	memcpy(f + 2, key, 4);
	for (int i = 0; i < n; i++)
		f[6 + i] = (uint8_t)text[i] ^ key[i % 4];
	if (write(c->fd, f, (size_t)(6 + n)) != 6 + n)
		fprintf(stderr, "ws_load: the publisher could not write\n");
}

int main(int argc, char **argv)
{
	int ep, nconns, rate, msgs;
	double wait_s, hold_s, cpu0;
	uint64_t t0, next, end, expected, interval;
	unsigned sent = 0, open_n = 0;
	struct epoll_event evs[512];

	if (argc < 7) {
		fprintf(stderr, "usage: ws_load HOST PORT PATH CONNS RATE MSGS [WAIT_S [HOLD_S]]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	nconns = atoi(argv[4]);
	rate = atoi(argv[5]);
	msgs = atoi(argv[6]);
	wait_s = argc > 7 ? atof(argv[7]) : 30;
	hold_s = argc > 8 ? atof(argv[8]) : 0.5;
	conns = calloc((size_t)nconns, sizeof(*conns));
	lat = malloc(sizeof(*lat) * (size_t)nconns * (size_t)msgs);
	ep = epoll_create1(0);
	if (conns == NULL || lat == NULL || ep < 0)
		return 1;
	/* Connect and upgrade, BATCH at a time. */
	for (int i = 0; i < nconns; i += BATCH) {
		int top = i + BATCH < nconns ? i + BATCH : nconns;
		uint64_t until = now_ns() + 30000000000ull;

		for (int j = i; j < top; j++)
			if (open_one(&conns[j], ep) != 0) {
				perror("ws_load: connect");
				return 1;
			}
		while (open_n < (unsigned)top && now_ns() < until) {
			int n = epoll_wait(ep, evs, 512, 100);

			for (int k = 0; k < n; k++) {
				struct conn *c = evs[k].data.ptr;

				if (c->state == 0 && (evs[k].events & EPOLLOUT))
					handshake(c, ep);
				else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
					int was = c->state;

					readable(c);
					if (was == 1 && c->state == 2)
						open_n++;
				}
			}
			if (lost > 0) {
				fprintf(stderr, "ws_load: %llu connections failed to open\n",
					(unsigned long long)lost);
				return 1;
			}
		}
	}
	if (open_n < (unsigned)nconns) {
		fprintf(stderr, "ws_load: only %u of %d connections opened\n", open_n, nconns);
		return 1;
	}
	printf("ws_load: %d connections open on %s:%d%s\n", nconns, host, port, path);
	fflush(stdout);
	usleep((useconds_t)(hold_s * 1e6)); /* subscriptions settle; memory is read */
	cpu0 = cpu_s();
	interval = 1000000000ull / (uint64_t)rate;
	expected = (uint64_t)msgs * (uint64_t)nconns;
	t0 = first_send = next = now_ns();
	end = UINT64_MAX;
	while (seen < expected) {
		uint64_t now = now_ns();
		int timeout_ms, n;

		if (sent < (unsigned)msgs && now >= next) {
			publish(&conns[0], sent++);
			next += interval;
			if (sent == (unsigned)msgs)
				end = now + (uint64_t)(wait_s * 1e9);
		}
		if (now > end)
			break;
		timeout_ms = sent < (unsigned)msgs ? (int)((next > now ? next - now : 0) / 1000000) : 50;
		n = epoll_wait(ep, evs, 512, timeout_ms);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;

			if (c->state == 2)
				readable(c);
		}
	}
	{
		double secs = (double)(last_seen - t0) / 1e9, dseen = (double)seen;
		double cpu = cpu_s() - cpu0;
		uint32_t p50 = 0, p99 = 0;

		if (nlat > 0) {
			qsort(lat, nlat, sizeof(*lat), cmp_u32);
			p50 = lat[nlat / 2];
			p99 = lat[(size_t)((double)nlat * 0.99)];
		}
		printf("ws_load: %u messages at %d/s to %d members: %llu of %llu delivered in "
		       "%.2f s, %.0f msgs/s, latency p50 %.2f ms p99 %.2f ms max %.2f ms, "
		       "client CPU %.2f s, %llu connections lost\n", sent, rate, nconns,
		       (unsigned long long)seen, (unsigned long long)expected, secs,
		       secs > 0 ? dseen / secs : 0, p50 / 1000.0, p99 / 1000.0,
		       (double)maxlat / 1000.0, cpu, (unsigned long long)lost);
		printf("{\"connections\":%d,\"rate\":%d,\"messages\":%u,\"expected\":%llu,"
		       "\"delivered\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"p50_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"client_cpu_s\":%.2f,\"lost\":%llu}\n",
		       nconns, rate, sent, (unsigned long long)expected, (unsigned long long)seen,
		       secs, secs > 0 ? dseen / secs : 0, p50 / 1000.0, p99 / 1000.0,
		       (double)maxlat / 1000.0, cpu, (unsigned long long)lost);
	}
	return 0;
}
