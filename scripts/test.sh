#!/usr/bin/env bash
# Sets up the machine and runs every test: type check, build, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm test --silent
