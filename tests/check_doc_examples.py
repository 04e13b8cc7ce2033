#!/usr/bin/env python3
"""The C examples of the guides compile (ctest: `doc_examples`).

docs/HANDLERS.md, JOBS.md and MONGODB.md teach the handler API by example;
an example that no longer compiles against the headers (a renamed call, a
changed signature) teaches the wrong thing. Every ```c block of those files
is compiled with the project's warnings as errors (-fsyntax-only):

- a block with a function body is compiled as a file;
- a block of statements is compiled as the body of a function that has a
  request `r` in scope;
- what an example leaves to the reader (its own types, callbacks and
  inputs, the GIVEN table below) is declared in front of it, only where
  the block uses it and does not define it;
- a block with a line that is only `...` is an outline, not code: skipped.

Usage: check_doc_examples.py CC [ROOT]      (the include flags: pkg-config)
       check_doc_examples.py CC --self-test (a broken example must fail)
"""
import os
import re
import subprocess
import sys
import tempfile

DOCS = ["docs/HANDLERS.md", "docs/JOBS.md", "docs/MONGODB.md"]

PRELUDE = """#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "actors/log.h"
#include "handler/handler_api.h"
#include "handler/hreq_stream.h"
#include "handler/session.h"
#include "handler/web.h"
#include "handler/ws_api.h"
#include "net/upstream.h"
#include "storage/cache.h"
#include "storage/job.h"
#include "storage/job_type.h"
#include "storage/mongo.h"
#include "storage/pubsub.h"
#include "storage/sql.h"
#include "worker/sched.h"
#include "worker/worker.h"
"""

# Name -> (how a block defines it, what to declare when it only uses it).
CALLBACK = "(struct hreq *r, struct call_msg *reply, void *arg)"
GIVEN = {
    "user_query": (r"struct user_query \{",
                   "struct user_query { struct call_msg c; };\n"
                   "struct user_query *user_query_new(const char *id);\n"
                   "cJSON *user_to_json(const struct user_query *q);"),
    "on_quote": (None, f"void on_quote{CALLBACK};"),
    "on_stored": (r"^static void on_stored\(",
                  f"void on_stored{CALLBACK};"),
    "on_enqueued": (r"^static void on_enqueued\(", f"void on_enqueued{CALLBACK};"),
    "on_queued": (None, f"void on_queued{CALLBACK};"),
    "tally": (r"struct tally \{", "struct tally { uint64_t bytes, lines; };"),
    "count_piece": (r"^static int count_piece\(",
                    "int count_piece(struct hreq *r, const char *data, size_t len,"
                    " void *arg);"),
    "report_args": (None, "struct report_args { char id[64]; };\n"
                          "int write_report_file(void *args);\n"
                          "void fill_report_args(struct report_args *a, const char *id,"
                          " const cJSON *payload);"),
    "my_state": (None, "struct my_state { unsigned messages; };"),
    "on_open": (None, "void on_open(struct ws_conn *w);\n"
                      "void on_message(struct ws_conn *w, const char *data, size_t len,"
                      " bool text);\n"
                      "void on_close(struct ws_conn *w, unsigned code, const char *reason);"),
    "check_sleep": (None, "int check_sleep(const cJSON *payload, const struct ad_config *cfg,"
                          " char *err, size_t errlen);\n"
                          "void run_sleep(struct job *j, const cJSON *payload);\n"
                          "int check_sql(const cJSON *payload, const struct ad_config *cfg,"
                          " char *err, size_t errlen);\n"
                          "void run_sql(struct job *j, const cJSON *payload);"),
    # A statement block's inputs.
    "payload_json": (None, "extern const char *payload_json;"),
    "user": (r"\buser\b.*=", "extern const char *user;"),
    "id": (r"\bid\b.*=", "extern const char *id;"),
    "rc": (r"\bint rc\b", "extern int rc;"),
}

FLAGS = ["-std=gnu11", "-D_GNU_SOURCE", "-fsyntax-only", "-Wall", "-Wextra",
         "-Wstrict-prototypes", "-Werror", "-Wno-unused-function",
         "-Wno-unused-parameter", "-Wno-unused-variable"]


def blocks_of(path):
    """(line, text) of every ```c block."""
    out, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if cur is None and line.strip() == "```c":
                cur = (n + 1, [])
            elif cur is not None and line.strip() == "```":
                out.append((cur[0], "".join(cur[1])))
                cur = None
            elif cur is not None:
                cur[1].append(line)
    return out


def source_of(block):
    """The file to compile for `block`, or None for an outline."""
    if re.search(r"^\s*\.\.\.\s*$", block, re.M):
        return None
    given = []
    for name, (defines, decl) in GIVEN.items():
        if not re.search(rf"\b{name}\b", block):
            continue
        if defines is not None and re.search(defines, block, re.M):
            continue
        given.append(decl)
    body = re.search(r"^\{", block, re.M) is not None
    src = PRELUDE + "\n".join(given) + "\n"
    if body:
        return src + block
    return (src + "void doc_example(struct hreq *r);\n"
            "void doc_example(struct hreq *r)\n{\n" + block + "}\n")


def include_flags():
    out = subprocess.run(["pkg-config", "--cflags", "libcjson", "libmongoc-1.0"],
                         capture_output=True, text=True, check=True).stdout.split()
    return ["-isystem" + f[2:] if f.startswith("-I") else f for f in out]


def compile_ok(cc, root, src, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".c", prefix="doc-example-",
                                     delete=False) as f:
        f.write(src)
    try:
        p = subprocess.run([cc, *FLAGS, "-I", root, "-I", os.path.join(root, "app"), *extra,
                            f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    return p.returncode == 0, p.stderr.replace(f.name, "example")


def check(cc, root):
    extra = include_flags()
    problems, compiled, outlines = [], 0, 0
    for doc in DOCS:
        for line, block in blocks_of(os.path.join(root, doc)):
            src = source_of(block)
            if src is None:
                outlines += 1
                continue
            ok, err = compile_ok(cc, root, src, extra)
            compiled += 1
            if not ok:
                problems.append(f"{doc}:{line}: the example does not compile:\n{err}")
    return problems, compiled, outlines


def self_test(cc, root):
    """A correct example passes; a wrong call, an outline and a statement
    block are each taken as they should be."""
    extra = include_flags()
    cases = [
        ("function", "static void get(struct hreq *r)\n{\n\threq_text(r, 200, \"hi\");\n}\n",
         True),
        ("wrong call", "static void get(struct hreq *r)\n{\n\threq_text(r, \"hi\");\n}\n",
         False),
        ("statements", "hreq_text(r, 200, \"hi\");\n", True),
        ("undeclared name", "hreq_text(r, 200, nobody_declared_this);\n", False),
        ("given callback", "rc = hreq_call(r, &job_kind, NULL, on_queued, NULL);\n", True),
    ]
    failed = 0
    for name, block, want in cases:
        ok, err = compile_ok(cc, root, source_of(block), extra)
        good = ok == want
        print(f"{'ok  ' if good else 'FAIL'} {name}: {'compiles' if ok else 'refused'}")
        failed += not good
    outline = source_of("const fn x[] = {\n\ta,\n\t...\n};\n") is None
    print(f"{'ok  ' if outline else 'FAIL'} outline: {'skipped' if outline else 'compiled'}")
    return failed + (not outline)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cc = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if sys.argv[2:] == ["--self-test"]:
        sys.exit(1 if self_test(cc, root) else 0)
    if len(sys.argv) > 2:
        root = sys.argv[2]
    problems, compiled, outlines = check(cc, root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_doc_examples: {len(problems)} of {compiled} examples do not compile")
        sys.exit(1)
    print(f"check_doc_examples: {compiled} examples compile ({outlines} outlines skipped)")


if __name__ == "__main__":
    main()
