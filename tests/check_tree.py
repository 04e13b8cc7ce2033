#!/usr/bin/env python3
"""The test list, checked against the tree (ctest: `tree`).

tests/CMakeLists.txt is the one list of every test. This fails when a test
file on disk is not in it (a test that would silently never run), when a
listed file does not exist, or when tests/unit/ has a folder that mirrors
no source folder of the layer order (docs/ARCHITECTURE.md).

Usage: check_tree.py [ROOT]
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_layers import read_order  # noqa: E402


def problems_of(root):
    listed_text = open(os.path.join(root, "tests", "CMakeLists.txt"), encoding="utf-8").read()
    # File names as the list writes them: relative to tests/ ("unit/x/y.c"),
    # or bare inside an e2e entry ("test_http.py"); ${VAR}/... are helpers.
    listed = set(re.findall(r'(?<![\w/}$.-])[\w.-]+(?:/[\w.-]+)*\.(?:c|py)\b', listed_text))
    problems = []
    patterns = ["unit/*/test_*.c", "stress/stress_*.c", "fuzz/fuzz_*.c", "e2e/test_*.py"]
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(root, "tests", pattern))):
            rel = os.path.relpath(path, os.path.join(root, "tests"))
            name = os.path.basename(rel)
            if rel not in listed and name not in listed:
                problems.append(f"tests/{rel}: not in tests/CMakeLists.txt, so it never runs")
    for ref in sorted(listed):
        base = root if ref.startswith("tests/") else os.path.join(root, "tests")
        if "/" in ref and not os.path.exists(os.path.join(base, ref)):
            problems.append(f"tests/CMakeLists.txt: {ref}: no such file")
    order = read_order(root)
    for d in sorted(glob.glob(os.path.join(root, "tests", "unit", "*"))):
        name = os.path.basename(d)
        if os.path.isdir(d) and name not in order and name != "common":
            problems.append(f"tests/unit/{name}/: mirrors no source folder")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = problems_of(root)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("check_tree: every test file is listed in tests/CMakeLists.txt")


if __name__ == "__main__":
    main()
