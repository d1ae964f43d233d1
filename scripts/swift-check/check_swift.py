#!/usr/bin/env python3
"""Parses Swift files with tree-sitter-swift and fails on any syntax error.

There is no Swift compiler on the CI machine; a real Swift grammar still catches broken syntax
in the hand-written app and wrapper code. Usage:
    check_swift.py FILE_OR_DIR...        check every .swift file
    check_swift.py --self-test           prove a deliberately broken file is caught
"""

import pathlib
import sys

import tree_sitter_swift
from tree_sitter import Language, Parser

PARSER = Parser(Language(tree_sitter_swift.language()))
HERE = pathlib.Path(__file__).resolve().parent


def problems(source: bytes):
    """(line, column, kind) of every ERROR or MISSING node."""
    found = []
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            kind = "missing " + node.type if node.is_missing else "syntax error"
            found.append((node.start_point[0] + 1, node.start_point[1] + 1, kind))
            continue
        if node.has_error:
            stack.extend(node.children)
    return sorted(found)


def swift_files(paths):
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.swift") if ".build" not in p.parts)
        else:
            yield path


def check(paths) -> int:
    files = list(swift_files(paths))
    if not files:
        print("check_swift: no Swift files found in " + " ".join(paths), file=sys.stderr)
        return 1
    failures = 0
    for path in files:
        for line, column, kind in problems(path.read_bytes()):
            print(f"{path}:{line}:{column}: {kind}", file=sys.stderr)
            failures += 1
    print(f"check_swift: {len(files)} files, {failures} problems")
    return 1 if failures else 0


def self_test() -> int:
    good = (HERE / "fixtures" / "good.swift").read_bytes()
    broken = (HERE / "fixtures" / "broken.swift").read_bytes()
    if problems(good):
        print("self-test: the good fixture was reported broken", file=sys.stderr)
        return 1
    if not problems(broken):
        print("self-test: the broken fixture was NOT caught", file=sys.stderr)
        return 1
    print("check_swift self-test: the broken fixture is caught, the good one passes")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(check(sys.argv[1:]))
