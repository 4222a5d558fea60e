#!/usr/bin/env python3
"""Prints the dependency matrix between the library's top-level folders.

A folder depends on another when one of its files has a `using Decant.X` directive, or names one
of folder X's types qualified (`Decant.X.Type` or `X.Type`). Exits non-zero if any two folders depend on each other, directly or
through others (a cycle). Usage: scripts/folder-deps.py [--markdown]
"""
import os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "Decant")
pattern = re.compile(r"^\s*using\s+(?:static\s+)?(?:\w+\s*=\s*)?Decant\.(\w+)|\bDecant\.(\w+)\.", re.M)

def sources(folder):
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            if name.endswith(".cs"):
                yield re.sub(r"//.*", "", open(os.path.join(dirpath, name), encoding="utf-8").read())

declaration = re.compile(r"\b(?:class|struct|interface|enum|record)\s+(\w+)")
types = {}
for folder in os.listdir(ROOT):
    if os.path.isdir(os.path.join(ROOT, folder)) and folder not in ("obj", "bin"):
        types[folder] = {name for text in sources(folder) for name in declaration.findall(text)}

deps = {}
for folder in sorted(os.listdir(ROOT)):
    path = os.path.join(ROOT, folder)
    if not os.path.isdir(path) or folder in ("obj", "bin"):
        continue
    deps[folder] = set()
    for text in sources(folder):
        for match in pattern.finditer(text):
            deps[folder].add(match.group(1) or match.group(2))
        for other, names in types.items():
            if re.search(r"(?<![\w.])" + other + r"\.(" + "|".join(names or ["$^"]) + r")\b", text):
                deps[folder].add(other)
    deps[folder].discard(folder)

folders = list(deps)
order = ["Model", "Interop", "References", "Manifests", "Blobs", "Sources", "Tree", "Layers", "Cache",
         "Semantics", "Writers", "Export"]
folders.sort(key=lambda f: order.index(f) if f in order else len(order))
markdown = "--markdown" in sys.argv
if markdown:
    print("| depends on → | " + " | ".join(folders) + " |")
    print("|---" * (len(folders) + 1) + "|")
    for f in folders:
        print(f"| **{f}** | " + " | ".join("●" if g in deps[f] else ("·" if f != g else "—") for g in folders) + " |")
else:
    width = max(map(len, folders))
    for f in folders:
        print(f.ljust(width), " ".join(sorted(deps[f], key=folders.index)))

def reaches(a, b, seen):
    for n in deps.get(a, ()):
        if n == b:
            return True
        if n not in seen:
            seen.add(n)
            if reaches(n, b, seen):
                return True
    return False

cycles = sorted({tuple(sorted((a, b))) for a in folders for b in deps[a] if reaches(b, a, set())})
for a, b in cycles:
    print(f"cycle: {a} <-> {b}", file=sys.stderr)
sys.exit(1 if cycles else 0)
