#!/usr/bin/env bash
# Sets up the machine and runs every test: type check, build, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
npm test --silent -- --json --outputFile="$results" || status=$?
# One closing line that any CI reads the same way, whatever jest printed above it.
if [ -s "$results" ]; then
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);' "$results"
fi
exit "$status"
