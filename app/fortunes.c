/*
 * fortunes.c - TechEmpower's Fortunes test type: GET /fortunes.
 *
 * DESIGN
 * One SELECT of every Fortune row; the fortune "Additional fortune added
 * at request time." with id 0 is added to them at request time; the list is
 * sorted by message (byte order of UTF-8 = code point order) and rendered
 * with TechEmpower's exact HTML, each message HTML-escaped (& < > " ')
 * and otherwise raw UTF-8, as text/html; charset=UTF-8. A row holding a
 * NULL is a 502 (MariaDB answered what no Fortune is). Nothing is cached:
 * the rules require the query and the rendering on every request.
 *
 * Thread: the handler actor serving the request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "storage/sql.h"

static const char HEAD[] = "<!DOCTYPE html><html><head><title>Fortunes</title></head>"
			   "<body><table><tr><th>id</th><th>message</th></tr>";
static const char TAIL[] = "</table></body></html>";
static const char EXTRA[] = "Additional fortune added at request time.";

struct fortune {
	long long id;
	const char *message;
	size_t len;
};

static int cmp_fortune(const void *a, const void *b)
{
	return strcmp(((const struct fortune *)a)->message,
		      ((const struct fortune *)b)->message);
}

static void on_fortunes(struct hreq *r, struct call_msg *reply, void *arg)
{
	const struct sql_rows *rs = sql_result(reply, 0);
	unsigned n = sql_rows_count(rs);
	struct fortune *f;

	(void)arg;
	if (reply->status != 0) {
		hreq_fail(r, reply->status, "fortunes query");
		return;
	}
	f = hreq_alloc(r, sizeof(*f) * (n + 1));
	if (f == NULL) {
		hreq_fail(r, -ENOMEM, "fortunes");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *id = sql_rows_text(rs, i, 0, NULL);
		const char *m = sql_rows_text(rs, i, 1, &f[i].len);

		/* A NULL (a schema that drifted) is not a fortune to render
		 * as id 0 or an empty message. */
		if (id == NULL || m == NULL) {
			hreq_error(r, 502, "fortunes query: a Fortune row holds a NULL");
			return;
		}
		f[i].id = (long long)sql_rows_int(rs, i, 0);
		f[i].message = m;
	}
	f[n] = (struct fortune){ 0, EXTRA, sizeof(EXTRA) - 1 };
	qsort(f, n + 1, sizeof(*f), cmp_fortune);
	hreq_write(r, HEAD, sizeof(HEAD) - 1);
	for (unsigned i = 0; i <= n; i++) {
		hreq_printf(r, "<tr><td>%lld</td><td>", f[i].id);
		hreq_write_html(r, f[i].message, f[i].len);
		hreq_write(r, "</td></tr>", 10);
	}
	hreq_write(r, TAIL, sizeof(TAIL) - 1);
	hreq_finish(r, 200, "text/html; charset=UTF-8");
}

static void get_fortunes(struct hreq *r)
{
	struct sql_req *q = sql_req_new();
	int rc = -ENOMEM;

	if (q != NULL) {
		sql_req_stmt(q, "SELECT id, message FROM Fortune");
		rc = hreq_call(r, &sql_kind, sql_req_call(q), on_fortunes, NULL);
	}
	if (rc != 0)
		hreq_fail(r, rc, "fortunes query");
}

int fortunes_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		    size_t errlen)
{
	(void)cfg;
	if (route_add(t, ROUTE_GET | ROUTE_NO_COMPRESS, "/fortunes", get_fortunes, NULL, err, errlen) != 0)
		return -EINVAL;
	return 0;
}
