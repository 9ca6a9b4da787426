#!/usr/bin/python3
"""layers.py: who includes whom in wspool's C tree, and whether it layers.

Reads every .c and .h file of the directories given (default: master),
builds the graph "module x includes a header of module y" (x is a file's
path without its extension, so master/conn.c and master/conn.h are one
module, master/conn; an include counts when it names a header of this
tree, "dir/name.h", whether from a .c or a .h), prints it, and prints the
modules in layers: each one above everything it includes.

It fails (exit status 1) when the graph has a cycle other than the one
allowed (master/conn <-> master/rpc: a connection hands its messages to
the protocol, which writes its answers to the connection), or when a file
in the directories given is over the line limit.

Usage: layers.py [--root DIR] [--max-lines N] [--allow a,b] [DIR...]
"""

import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
ALLOWED = [{"master/conn", "master/rpc"}]


def read_modules(root, dirs):
    """{module: set of modules it includes}, and {path: line count}."""
    graph, lines = {}, {}
    for d in dirs:
        base = os.path.join(root, d)
        for name in sorted(os.listdir(base)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            lines[path] = text.count("\n")
            mod = os.path.splitext(path)[0]
            deps = graph.setdefault(mod, set())
            for inc in INCLUDE.findall(text):
                if not os.path.isfile(os.path.join(root, inc)):
                    continue   # config.h, generated or outside the tree
                dep = os.path.splitext(inc)[0]
                if dep != mod:
                    deps.add(dep)
    for deps in list(graph.values()):
        for dep in deps:
            graph.setdefault(dep, set())
    return graph, lines


def components(graph):
    """Strongly connected components (Tarjan), each a sorted list."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layers(graph, comps):
    """Modules by layer: 0 includes nothing of the tree; each component
    sits one above the highest one it includes."""
    comp_of = {m: i for i, c in enumerate(comps) for m in c}
    level = {}

    def depth(i):
        if i not in level:
            level[i] = 0   # a component never reaches itself again here
            below = {comp_of[d] for m in comps[i] for d in graph[m]} - {i}
            level[i] = 1 + max((depth(j) for j in below), default=-1)
        return level[i]

    rows = {}
    for i, c in enumerate(comps):
        rows.setdefault(depth(i), []).append(
            " <-> ".join(c) if len(c) > 1 else c[0])
    return [sorted(rows[k]) for k in sorted(rows)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--max-lines", type=int, default=700)
    ap.add_argument("--allow", action="append", default=[],
                    help="another allowed cycle, modules comma-separated")
    ap.add_argument("dirs", nargs="*", default=["master"])
    args = ap.parse_args()
    allowed = ALLOWED + [set(a.split(",")) for a in args.allow]

    graph, lines = read_modules(args.root, args.dirs)
    print("includes (module -> modules it includes):")
    for mod in sorted(graph):
        print("  %-20s -> %s" % (mod, ", ".join(sorted(graph[mod])) or "-"))
    comps = components(graph)
    print("\nlayers (top calls down; a module includes only lower ones):")
    rows = layers(graph, comps)
    for n, row in reversed(list(enumerate(rows))):
        print("  %2d  %s" % (n, "  ".join(row)))

    problems = []
    for c in comps:
        if len(c) > 1 and set(c) not in allowed:
            problems.append("cycle: " + " <-> ".join(c))
    for path in sorted(lines):
        if lines[path] > args.max_lines:
            problems.append("%s: %d lines (at most %d)" %
                            (path, lines[path], args.max_lines))
    if problems:
        print("\nFAIL:\n  " + "\n  ".join(problems))
        return 1
    print("\nok: %d modules in %s, one allowed cycle at most, no file over "
          "%d lines" % (len(graph), " ".join(args.dirs), args.max_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
