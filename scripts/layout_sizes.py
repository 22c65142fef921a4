"""Sizes the layers issue bounds: no non-test .rs file over 900 lines, no function over 120.

Reads every tracked .rs file outside tests (`tests/`, `tests.rs`, `*_tests.rs`, `benches/`,
and the inline `#[cfg(test)]` module, which is cut off at its line) and measures each `fn` from its
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


def test_module_start(lines):
    """Index of the file's inline test module (`#[cfg(test)]`, more attributes, `mod name {`
    at the top level), or the file's length. Only an inline module is cut: a `#[cfg(test)]`
    on a `mod name;` declaration, a function or an indented item is counted as code, since
    cutting there would hide the rest of the file."""
    for i, line in enumerate(lines):
        if line != "#[cfg(test)]":
            continue
        j = i + 1
        while j < len(lines) and not re.match(r"(pub|mod|fn|use|struct|enum|impl)\b", lines[j]):
            j += 1  # further attributes, one or several lines each
        if j < len(lines) and re.match(r"(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", lines[j]):
            return i
    return len(lines)


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
        lines = lines[: test_module_start(lines)]
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
