#!/usr/bin/env python3
"""Checks the module dependency order against the code (run by ctest as `module_deps`).

Every `#include "m/..."` of a file under src/<module>/ must name a module that comes before <module>
in the order (or <module> itself), and the target the file is built into must link the library that
owns the included header: a library must list it in its own DEPS (or target_link_libraries), a test
or an executable may get it through the libraries it links. Conversely a library links only Herald
libraries it includes a header of (auth/ must not link the SQLite store, config/ only the option
libraries of auth/ and bus/). A header belongs to the library whose SOURCES list it or the .cpp of
the same name; any other header belongs to its module (any of the module's libraries will do, and it
justifies linking the module's main library herald_<module>).

    scripts/check-module-deps.py --order "core > sse,tenancy,store > auth,bus,net,route > config > app > cli" src

Standard library only. Exit status 1 and one line per problem when something is wrong.
"""
import argparse
import os
import re
import sys

CALL = re.compile(r"\b(herald_library|herald_test|add_executable|target_link_libraries)\s*\(", re.S)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"', re.M)
KEYWORDS = {"SOURCES", "DEPS", "LABELS", "PUBLIC", "PRIVATE", "INTERFACE"}


def calls(text):
    """Yields (command, [arguments]) of the CMake calls we read; comments are dropped."""
    text = re.sub(r"#[^\n]*", "", text)
    for m in CALL.finditer(text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.group(1), text[m.end() : i - 1].split()


class Target:
    def __init__(self, name, module, kind):
        self.name, self.module, self.kind = name, module, kind  # kind: library, test, executable
        self.sources, self.deps = [], set()


def read_targets(src):
    targets = {}
    for module in sorted(os.listdir(src)):
        path = os.path.join(src, module, "CMakeLists.txt")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for command, args in calls(text):
            if command == "target_link_libraries":
                if args and args[0] in targets:
                    targets[args[0]].deps.update(a for a in args[1:] if a not in KEYWORDS)
                continue
            if command == "add_executable":
                t = Target(args[0], module, "executable")
                t.sources = [a for a in args[1:] if a.endswith(".cpp")]
                targets[t.name] = t
                continue
            name = ("herald_" if command == "herald_library" else "") + args[0]
            t = Target(name, module, "library" if command == "herald_library" else "test")
            section = None
            for a in args[1:]:
                if a in KEYWORDS:
                    section = a
                elif section == "SOURCES":
                    t.sources.append(a)
                elif section == "DEPS":
                    t.deps.add(a)
            targets[name] = t
    return targets


def closure(targets, name, seen=None):
    seen = set() if seen is None else seen
    for d in targets[name].deps if name in targets else ():
        if d not in seen:
            seen.add(d)
            closure(targets, d, seen)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", required=True, help='tiers separated by ">", modules of a tier by ","')
    ap.add_argument("src")
    args = ap.parse_args()
    tier = {}
    for i, group in enumerate(args.order.split(">")):
        for m in group.split(","):
            tier[m.strip()] = i
    targets = read_targets(args.src)
    modules = {t.module for t in targets.values()}
    problems = []
    for m in sorted(modules - tier.keys()):
        problems.append(f"src/{m}/ is not in the module order {args.order}")

    # Which library owns each header; which target builds each source file.
    owner = {}  # "bus/bus_factory.hpp" -> "herald_bus"
    built_by = {}  # "src/bus/bus_factory.cpp" -> [targets]
    for t in targets.values():
        for s in t.sources:
            built_by.setdefault(f"{t.module}/{s}", []).append(t)
            if t.kind == "library":
                header = s if s.endswith(".hpp") else s[:-4] + ".hpp"
                owner[f"{t.module}/{header}"] = t.name
    libraries_of = {}
    for t in targets.values():
        if t.kind == "library":
            libraries_of.setdefault(t.module, set()).add(t.name)

    used = {}  # library -> the Herald libraries its files include a header of

    def check(path, text, target, module):
        for inc_module, rest in INCLUDE.findall(text):
            if inc_module in tier and target.kind == "library":
                lib = owner.get(f"{inc_module}/{rest}")
                if lib is None and f"herald_{inc_module}" in targets:
                    lib = f"herald_{inc_module}"
                if lib is None and len(libraries_of.get(inc_module, ())) == 1:
                    lib = next(iter(libraries_of[inc_module]))
                used.setdefault(target.name, set()).add(lib)
        direct = target.deps if target.kind == "library" else closure(targets, target.name)
        for inc_module, rest in INCLUDE.findall(text):
            if inc_module not in tier or module not in tier:
                continue
            header = f"{inc_module}/{rest}"
            if inc_module != module and tier[inc_module] >= tier[module]:
                problems.append(f"{path}: includes {header}, but {inc_module}/ is not before "
                                f"{module}/ in the module order")
                continue
            lib = owner.get(header)
            if lib is not None:
                if lib != target.name and lib not in direct:
                    problems.append(f"{path}: includes {header} ({lib}), which {target.name} "
                                    f"does not link")
            elif inc_module != module and not (libraries_of.get(inc_module, set()) & direct):
                problems.append(f"{path}: includes {header}, but {target.name} links no library "
                                f"of {inc_module}/")

    for module in sorted(modules):
        folder = os.path.join(args.src, module)
        main_lib = targets.get(f"herald_{module}")
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if name.endswith(".cpp"):
                users = built_by.get(f"{module}/{name}", [])
            else:
                lib = owner.get(f"{module}/{name}")
                # A test-only header (listed in a test's SOURCES) is checked against that test.
                tests = [t for t in built_by.get(f"{module}/{name}", []) if t.kind != "library"]
                users = [targets[lib]] if lib else (tests or ([main_lib] if main_lib else []))
                if not users:  # a header-only file of a module whose libraries have other names
                    users = [targets[n] for n in sorted(libraries_of.get(module, ()))][:1]
            for t in users:
                check(path, text, t, module)

    for t in sorted(targets.values(), key=lambda t: t.name):
        if t.kind != "library":
            continue
        for d in sorted(t.deps):
            if d in targets and d not in used.get(t.name, set()):
                problems.append(f"src/{t.module}/CMakeLists.txt: {t.name} links {d} but includes "
                                "none of its headers")

    for p in problems:
        print(p)
    if problems:
        print(f"module_deps: {len(problems)} problem(s); the order is {args.order} "
              "(README.md, CMakeLists.txt)", file=sys.stderr)
        return 1
    print(f"module_deps: {len(targets)} targets in {len(modules)} modules follow {args.order}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
