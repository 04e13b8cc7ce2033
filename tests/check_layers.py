#!/usr/bin/env python3
"""The folder order, checked from the tree itself (ctest: `layers`).

docs/ARCHITECTURE.md holds the one line that orders the source folders
("    layers: mailbox -> base -> ... -> tools"; folders on one rank are
separated by commas and never include each other). This script derives the
folder graph from every `#include "..."` line and every CMake link, and
fails on:
  - an include of a folder that is not before the including one (or on its
    rank), or a relative include that climbs out of its folder ("../");
  - a CMake library linking a library of a folder that is not before its own;
  - existence guards (`if(EXISTS`, `if(TARGET`) in the build;
  - a top-level folder with C sources that the order does not name;
  - a database or cache driver's header outside storage/.

Usage: check_layers.py [ROOT]      check the tree (default: the current dir)
       check_layers.py --self-test  prove that each rule catches a violation
"""
import os
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYS_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
ADD_LIB = re.compile(r'add_library\(\s*(actord_\w+)')
LINK = re.compile(r'target_link_libraries\(\s*([\w-]+)([^)]*)\)', re.S)
GUARD = re.compile(r'^\s*if\s*\(\s*(NOT\s+)?(EXISTS|TARGET)\b', re.M | re.I)
# Driver headers: only storage/ talks to Redis, MariaDB and MongoDB.
DRIVERS = ("hiredis/", "mysql.h", "mariadb/", "mongoc/", "bson/", "mongoc.h", "bson.h")
DRIVER_FOLDERS = {"storage"}


def read_order(root):
    path = os.path.join(root, "docs", "ARCHITECTURE.md")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("    layers: "):
                ranks = [r.strip() for r in line[len("    layers: "):].split("->")]
                order = {}
                for i, rank in enumerate(ranks):
                    for folder in rank.split(","):
                        order[folder.strip()] = i
                return order
    raise SystemExit(f"{path}: no '    layers: ' line")


def sources(root, folder):
    for d, _, files in os.walk(os.path.join(root, folder)):
        for name in sorted(files):
            yield os.path.join(d, name)


def check(root):
    order = read_order(root)
    problems = []
    for entry in sorted(os.listdir(root)):
        full = os.path.join(root, entry)
        if (entry.startswith(".") or entry in order or entry == "tests" or entry.startswith("build")
                or not os.path.isdir(full)):
            continue
        if any(p.endswith((".c", ".h")) for p in sources(root, entry)):
            problems.append(f"{entry}/: holds C sources but is not in the layer order")
    lib_folder = {}
    for folder in order:
        for path in sources(root, folder):
            if os.path.basename(path) == "CMakeLists.txt":
                for lib in ADD_LIB.findall(open(path, encoding="utf-8").read()):
                    lib_folder[lib] = folder
    for folder, rank in order.items():
        for path in sources(root, folder):
            rel = os.path.relpath(path, root)
            text = open(path, encoding="utf-8", errors="replace").read()
            if path.endswith((".c", ".h")):
                for inc in INCLUDE.findall(text):
                    if inc.startswith("../") or "/../" in inc:
                        problems.append(f"{rel}: #include \"{inc}\": climbs out of its folder "
                                        "(write it from the top: \"folder/file.h\")")
                        continue
                    top = inc.split("/", 1)[0] if "/" in inc else folder
                    if top == folder:
                        continue
                    if top not in order:
                        if os.path.exists(os.path.join(root, top)):
                            problems.append(f"{rel}: #include \"{inc}\": {top}/ is not a layer")
                        continue
                    if order[top] >= rank:
                        problems.append(f"{rel}: #include \"{inc}\": {folder}/ may include only "
                                        f"folders before it, and {top}/ is not")
                if folder not in DRIVER_FOLDERS:
                    for inc in SYS_INCLUDE.findall(text):
                        if inc.startswith(DRIVERS) or inc in DRIVERS:
                            problems.append(f"{rel}: #include <{inc}>: driver headers belong "
                                            "in storage/")
            elif os.path.basename(path) == "CMakeLists.txt":
                if GUARD.search(text):
                    problems.append(f"{rel}: existence guard (if(EXISTS/TARGET)): every "
                                    "library links only libraries already defined")
                for target, libs in LINK.findall(text):
                    for lib in re.findall(r'\bactord_\w+', libs):
                        other = lib_folder.get(lib)
                        if other is None:
                            problems.append(f"{rel}: {target} links {lib}, which no layer defines")
                        elif other != folder and order[other] >= rank:
                            problems.append(f"{rel}: {target} links {lib} of {other}/, "
                                            f"which is not before {folder}/")
    top = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
    if GUARD.search(top):
        problems.append("CMakeLists.txt: existence guard (if(EXISTS/TARGET))")
    return problems


def self_test():
    """Each rule on a tiny tree: a clean tree passes, each violation fails."""
    def tree(files):
        d = tempfile.mkdtemp(prefix="layers-")
        files = dict(files)
        files.setdefault("docs/ARCHITECTURE.md", "x\n    layers: lo -> mid, side -> hi\n")
        files.setdefault("CMakeLists.txt", "project(x)\n")
        files.setdefault("lo/CMakeLists.txt", "add_library(actord_lo STATIC a.c)\n")
        files.setdefault("mid/CMakeLists.txt", "add_library(actord_mid STATIC b.c)\n"
                                               "target_link_libraries(actord_mid PUBLIC actord_lo)\n")
        files.setdefault("side/CMakeLists.txt", "add_library(actord_side STATIC s.c)\n")
        files.setdefault("hi/CMakeLists.txt", "add_library(actord_hi STATIC c.c)\n")
        files.setdefault("lo/a.h", "#include <stdio.h>\n")
        files.setdefault("mid/b.c", '#include "b.h"\n#include "lo/a.h"\n')
        files.setdefault("mid/b.h", "")
        files.setdefault("side/s.c", '#include "lo/a.h"\n')
        files.setdefault("hi/c.c", '#include "mid/b.h"\n#include "side/s.h"\n')
        for name, text in files.items():
            p = os.path.join(d, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        return d

    cases = {
        "clean": ({}, None),
        "upward include": ({"lo/a.h": '#include "mid/b.h"\n'}, "may include only"),
        "same-rank include": ({"mid/b.c": '#include "side/s.h"\n'}, "may include only"),
        "relative climb": ({"mid/b.c": '#include "../lo/a.h"\n'}, "climbs out"),
        "upward link": ({"lo/CMakeLists.txt": "add_library(actord_lo STATIC a.c)\n"
                                              "target_link_libraries(actord_lo PUBLIC actord_hi)\n"},
                        "which is not before"),
        "guard": ({"CMakeLists.txt": "if(EXISTS x)\nendif()\n"}, "existence guard"),
        "unknown folder": ({"extra/x.c": ""}, "not in the layer order"),
        "driver outside storage": ({"mid/b.c": "#include <hiredis/hiredis.h>\n"}, "driver"),
    }
    failed = 0
    for name, (files, expect) in cases.items():
        d = tree(files)
        try:
            problems = check(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        ok = (not problems) if expect is None else any(expect in p for p in problems)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {problems or 'clean'}")
        failed += not ok
    return failed


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(1 if self_test() else 0)
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem(s); the order is docs/ARCHITECTURE.md's "
              "'layers:' line")
        sys.exit(1)
    print("check_layers: every include and link follows the layer order")


if __name__ == "__main__":
    main()
