/*
 * actorctl_http.c - one request to the admin endpoint (actorctl_http.h).
 *
 * Thread: the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "actorctl_http.h"

#define MAX_ANSWER (64u << 20)   /* larger than any admin answer */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until `deadline`; 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		long long left = deadline - now_ms();
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

/* "host:port" out of `addr`, which may also be written as a URL
 * ("http://host:port" or "http://host:port/"): what the Host header says,
 * since the admin endpoint answers a Host that is not an address 400 or 421. */
static int host_port(const char *addr, char *out, size_t outlen)
{
	size_t n;

	if (strncmp(addr, "http://", 7) == 0)
		addr += 7;
	n = strlen(addr);
	if (n > 0 && addr[n - 1] == '/')
		n--;
	if (n >= outlen || memchr(addr, '/', n) != NULL)
		return -EINVAL;
	memcpy(out, addr, n);
	out[n] = '\0';
	return 0;
}

static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t n;

	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	n = (size_t)(colon - h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen || strlen(colon + 1) >= portlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static int connect_to(const char *host, const char *port, long long deadline,
		      char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	int fd = -1, rc, last = ECONNREFUSED;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			last = rc != 0 ? -rc : soerr;
		} else {
			last = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s", last == ETIMEDOUT ? "timed out" : strerror(last));
	return fd;
}

static int send_all(int fd, const char *p, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = wait_fd(fd, POLLOUT, deadline);

			if (rc != 0)
				return rc;
		} else {
			return -errno;
		}
	}
	return 0;
}

/* Read until EOF into a malloc'd buffer. */
static int recv_all(int fd, long long deadline, char **out, size_t *outlen)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *grown = cap < MAX_ANSWER ? realloc(buf, cap * 2 + 1) : NULL;

			if (grown == NULL) {
				free(buf);
				return -EFBIG;
			}
			buf = grown;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
		} else if (n == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			int rc = wait_fd(fd, POLLIN, deadline);

			if (rc != 0) {
				free(buf);
				return rc;
			}
		} else {
			int e = errno;

			free(buf);
			return -e;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

static enum ctl_error parse(char *raw, size_t len, struct ctl_response *out,
			    char *err, size_t errlen)
{
	char *end = strstr(raw, "\r\n\r\n");
	char *line, *save = NULL;
	size_t body_off, clen = (size_t)-1;
	int status;

	if (end == NULL || sscanf(raw, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(err, errlen, "not an HTTP answer");
		return CTL_PROTOCOL;
	}
	*end = '\0';
	body_off = (size_t)(end - raw) + 4;
	for (line = strtok_r(raw, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save))
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtoull(line + 15, NULL, 10);
	if (clen != (size_t)-1 && clen > len - body_off) {
		snprintf(err, errlen, "the answer was cut short");
		return CTL_PROTOCOL;
	}
	out->status = status;
	out->len = clen != (size_t)-1 ? clen : len - body_off;
	out->body = malloc(out->len + 1);
	if (out->body == NULL) {
		snprintf(err, errlen, "out of memory");
		return CTL_PROTOCOL;
	}
	memcpy(out->body, raw + body_off, out->len);
	out->body[out->len] = '\0';
	return CTL_OK;
}

enum ctl_error ctl_request(const char *addr, const char *token, const char *method,
			   const char *path, const char *body, int timeout_ms,
			   struct ctl_response *out, char *err, size_t errlen)
{
	char clen[96] = "";
	long long deadline = now_ms() + timeout_ms;
	char hostport[300], host[256], port[16], req[2048], *raw = NULL;
	size_t rawlen = 0;
	enum ctl_error e;
	int fd, rc, n;

	memset(out, 0, sizeof(*out));
	if (host_port(addr, hostport, sizeof(hostport)) != 0 ||
	    split_addr(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "'%s' is not host:port", addr);
		return CTL_BAD_ADDRESS;
	}
	if (body != NULL)
		snprintf(clen, sizeof(clen), "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n", strlen(body));
	else if (strcmp(method, "POST") == 0)
		/* The admin endpoint takes changes only as JSON requests (a
		 * cross-site form cannot send one). */
		snprintf(clen, sizeof(clen), "Content-Type: application/json\r\n"
			 "Content-Length: 0\r\n");
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: actorctl/" ACTORD_VERSION "\r\n"
		     "Connection: close\r\n%s%s%s%s\r\n%s", method, path, hostport,
		     token != NULL && token[0] != '\0' ? "Authorization: Bearer " : "",
		     token != NULL ? token : "", token != NULL && token[0] != '\0' ? "\r\n" : "",
		     clen, body != NULL ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errlen, "request too long (token?)");
		return CTL_BAD_ADDRESS;
	}
	fd = connect_to(host, port, deadline, err, errlen);
	if (fd < 0)
		return CTL_UNREACHABLE;
	rc = send_all(fd, req, (size_t)n, deadline);
	if (rc == 0)
		rc = recv_all(fd, deadline, &raw, &rawlen);
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "%s", rc == -ETIMEDOUT ? "timed out waiting for the answer"
			 : strerror(-rc));
		return CTL_UNREACHABLE;
	}
	e = parse(raw, rawlen, out, err, errlen);
	free(raw);
	return e;
}

void ctl_response_free(struct ctl_response *r)
{
	free(r->body);
	r->body = NULL;
}
