# Sourced by the check scripts (scripts/check-jobs.sh, scripts/check-aarch64.sh) after they cd
# to the repository: one "check: TEXT ... ok|FAILED" line per check, and `failed` set to 1 by
# any failure (the script's exit status); and the helpers both read their runs with.
failed=0
# check TEXT COMMAND…: "check: TEXT ... ok" if the command succeeds, else "... FAILED" and the
# run fails.
check() {
    local text="$1"
    shift
    if "$@"; then
        echo "check: $text ... ok"
    else
        echo "check: $text ... FAILED"
        failed=1
    fi
}
# json_at FILE KEY…: the value at a path of keys in a JSON file.
json_at() {
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    v = v[key]
print(v)' "$@"
}
# surface_csv N: a regression dataset on stdout, y = 3a - 2b + ab on an N x N grid over
# [-1, 1) (the MLP's `task: regression` fits it).
surface_csv() {
    python3 -c '
import sys
n = int(sys.argv[1])
print("a,b,label")
for i in range(n):
    for j in range(n):
        a, b = i / (n / 2) - 1, j / (n / 2) - 1
        print(f"{a},{b},{3 * a - 2 * b + a * b}")' "$1"
}
