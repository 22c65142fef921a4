# Sourced by the check scripts (scripts/check-jobs.sh, scripts/check-aarch64.sh) after they cd
# to the repository: one "check: TEXT ... ok|FAILED" line per check, and `failed` set to 1 by
# any failure (the script's exit status).
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
