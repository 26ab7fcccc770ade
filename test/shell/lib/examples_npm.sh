#!/usr/bin/env bash
# test/shell/lib/examples_npm.sh: the npm packages of examples/ (pinned in
# examples/package-lock.json), for the shell tests that use them.
#
#   examples_npm_ci     npm ci in examples/ unless node_modules was installed
#                       from this very lockfile; prints "not ok" and exits 1
#                       when node, npm or the registry are missing

EXAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../examples" && pwd)"

examples_npm_ci() {
    local sum out
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "not ok - node and npm are required (Debian packages nodejs and npm; bash tools/test.sh installs them)"
        exit 1
    fi
    if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
        echo "not ok - node $(node --version) is too old: the examples (Prisma 7) need node 20.19 or later"
        exit 1
    fi
    sum="$(sha256sum "$EXAMPLES_DIR/package-lock.json" | cut -d' ' -f1)"
    [[ "$(cat "$EXAMPLES_DIR/node_modules/.dbcore-lock" 2>/dev/null)" != "$sum" ]] || return 0
    echo "# installing the examples' packages with npm ci (examples/node_modules)"
    # (its output kept in memory: no file is left behind if the run is killed)
    if ! out="$(cd "$EXAMPLES_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error 2>&1)"; then
        echo "not ok - npm ci in examples/ failed (is the npm registry reachable?)"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
        exit 1
    fi
    echo "$sum" >"$EXAMPLES_DIR/node_modules/.dbcore-lock"
}
