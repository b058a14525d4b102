#!/usr/bin/env bash
# Sets up the machine and runs the demonstration on its built-in defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run demo --silent
