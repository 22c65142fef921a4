"""Sizes the layers issue bounds: no non-test .rs file over 900 lines, no function over 120.

Reads every tracked .rs file outside tests (`tests/`, `tests.rs`, `*_tests.rs`, `benches/`,
and inline `#[cfg(test)]` modules, which are cut out) and measures each `fn` from its
signature to the brace that closes its body. A heuristic: braces in strings and comments are
ignored by stripping them first. Prints the offenders; exit status 1 if there are any.
"""

import re
import subprocess
import sys

MAX_FILE = 900
MAX_FN = 120

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def is_test_path(path):
    return (
        "/tests/" in path
        or path.startswith("tests/")
        or path.endswith("/tests.rs")
        or path.endswith("_tests.rs")
        or "/benches/" in path
        or "/testing/" in path
        or path.startswith("testing/")
    )


def skip_attributes(lines, j):
    """Index of the first line at or after `j` that is not blank, a comment or part of an
    attribute (`#[...]`, which may span lines: its brackets are counted)."""
    depth = 0
    while j < len(lines):
        code = strip(lines[j]).strip()
        if depth == 0 and code and not code.startswith("#["):
            return j
        depth += code.count("[") - code.count("]")
        j += 1
    return j


def without_test_modules(lines):
    """`lines` without its inline test modules: a top-level `#[cfg(test)]`, more attributes,
    then `mod name {` up to its closing brace. Code after a test module is still measured.
    A `#[cfg(test)]` on a `mod name;` declaration, a function or an indented item is counted
    as code: cutting there would hide what follows."""
    kept, i = [], 0
    while i < len(lines):
        j = skip_attributes(lines, i + 1) if lines[i] == "#[cfg(test)]" else i
        if j > i and j < len(lines) and re.match(r"(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", lines[j]):
            depth = 0
            while j < len(lines):
                code = strip(lines[j])
                depth += code.count("{") - code.count("}")
                if depth <= 0:
                    break
                j += 1
            i = j + 1
            continue
        kept.append(lines[i])
        i += 1
    return kept


def main():
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    bad = []
    for path in files:
        if is_test_path(path) or path.startswith("jobs/"):
            continue
        try:
            lines = open(path, encoding="utf-8").read().split("\n")
        except FileNotFoundError:
            continue
        lines = without_test_modules(lines)
        if len(lines) > MAX_FILE:
            bad.append(f"{path}: {len(lines)} lines (over {MAX_FILE})")
        i = 0
        while i < len(lines):
            m = FN.match(lines[i])
            if not m:
                i += 1
                continue
            depth, opened, j = 0, False, i
            while j < len(lines):
                code = strip(lines[j])
                if not opened and ";" in code and "{" not in code:
                    break  # a declaration without a body
                depth += code.count("{") - code.count("}")
                opened = opened or "{" in code
                if opened and depth <= 0:
                    break
                j += 1
            length = j - i + 1
            if opened and length > MAX_FN:
                bad.append(f"{path}:{i + 1}: fn {m.group(6)} is {length} lines (over {MAX_FN})")
            i += 1
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
