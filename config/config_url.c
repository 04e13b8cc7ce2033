/*
 * config_url.c - the one parser of http:// and https:// URLs (config.h):
 * the configuration validates upstream URLs with it at load, and the
 * upstream client (net/upstream_call.c) parses URLs handlers give it (and
 * redirect Locations) at run time; and the check of upstream.resolver.
 *
 * DESIGN
 * Only what an HTTP/1.1 client needs: scheme "http" or "https"
 * (case-insensitive), a host (name, IPv4 literal or "[IPv6]"), an optional
 * port, and the request target (path and query) sent as is. User info,
 * fragments, whitespace and control characters are refused rather than
 * guessed at.
 *
 * It never resolves a name (that may block): an address literal is
 * converted at once; names are resolved by the upstream actors at run
 * time (dns/dns.h), so a changed address is followed.
 *
 * Thread: any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"

static int refuse(char *why, size_t whylen, const char *fmt, const char *arg)
{
	snprintf(why, whylen, fmt, arg);
	return -EINVAL;
}

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

int config_url_parse(const char *s, struct config_url *out, char *why, size_t whylen)
{
	const char *h, *hend, *p, *t;
	size_t hlen, n = strlen(s);
	unsigned long port = 80;

	memset(out, 0, sizeof(*out));
	if (n >= sizeof(out->url))
		return refuse(why, whylen, "longer than %s bytes", "511");
	if (strncasecmp(s, "https://", 8) == 0) {
		out->tls = true;
		port = 443;
	} else if (strncasecmp(s, "http://", 7) != 0) {
		return refuse(why, whylen, "'%s' is not an http:// or https:// URL", s);
	}
	for (const char *c = s; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#')
			return refuse(why, whylen, "'%s': spaces, control characters and "
				      "fragments are not allowed", s);
	h = s + (out->tls ? 8 : 7);
	t = h + strcspn(h, "/?");          /* authority ends at the target */
	if (memchr(h, '@', (size_t)(t - h)) != NULL)
		return refuse(why, whylen, "'%s': user info is not supported", s);
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(t - h));
		if (hend == NULL)
			return refuse(why, whylen, "'%s': unterminated [IPv6] host", s);
		h++;
		p = hend + 1;
	} else {
		hend = memchr(h, ':', (size_t)(t - h));
		if (hend == NULL)
			hend = t;
		p = hend;
		for (const char *c = h; c < hend; c++)
			if (!host_char(*c))
				return refuse(why, whylen, "'%s': invalid character in the host", s);
	}
	hlen = (size_t)(hend - h);
	if (hlen == 0)
		return refuse(why, whylen, "'%s' has no host", s);
	if (hlen >= sizeof(out->host))
		return refuse(why, whylen, "'%s': host too long", s);
	if (p < t) {
		char *end;

		if (*p != ':' || p + 1 == t || p[1] < '0' || p[1] > '9')
			return refuse(why, whylen, "'%s': expected :port after the host", s);
		port = strtoul(p + 1, &end, 10);
		if (end != t || port == 0 || port > 65535)
			return refuse(why, whylen, "'%s': port must be 1..65535", s);
	}
	memcpy(out->host, h, hlen);
	out->port = (uint16_t)port;
	memcpy(out->url, s, n);
	if (*t == '\0')
		out->target[0] = '/';
	else if (*t == '?')
		snprintf(out->target, sizeof(out->target), "/%s", t);
	else
		memcpy(out->target, t, strlen(t));
	if (inet_pton(AF_INET, out->host, out->addr) == 1) {
		out->family = AF_INET;
	} else if (inet_pton(AF_INET6, out->host, out->addr) == 1) {
		out->family = AF_INET6;
	} else if (h[-1] == '[') {
		memset(out, 0, sizeof(*out));
		return refuse(why, whylen, "'%s': not an IPv6 address inside []", s);
	}
	return 0;
}

int config_resolver_check(const char *s, char *why, size_t whylen)
{
	char item[80], addr[INET6_ADDRSTRLEN + 8], *end;
	uint8_t bin[16];

	while (*s != '\0') {
		size_t n = strcspn(s, ",");
		const char *port = NULL;

		if (n == 0 || n >= sizeof(item))
			return refuse(why, whylen, "'%s': expected \"ip[:port],...\"", s);
		memcpy(item, s, n);
		item[n] = '\0';
		if (item[0] == '[') {
			char *close = strchr(item, ']');

			if (close == NULL || (close[1] != '\0' && close[1] != ':'))
				return refuse(why, whylen, "'%s': expected \"[ipv6]:port\"", item);
			snprintf(addr, sizeof(addr), "%.*s", (int)(close - item - 1), item + 1);
			port = close[1] == ':' ? close + 2 : NULL;
		} else {
			char *colon = strchr(item, ':');

			snprintf(addr, sizeof(addr), "%.*s",
				 (int)(colon != NULL ? (size_t)(colon - item) : n), item);
			port = colon != NULL ? colon + 1 : NULL;
		}
		if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
			return refuse(why, whylen, "'%s' is not an IP address", addr);
		if (port != NULL) {
			unsigned long p = strtoul(port, &end, 10);

			if (*port < '0' || *port > '9' || *end != '\0' || p == 0 || p > 65535)
				return refuse(why, whylen, "'%s': port must be 1..65535", item);
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}
