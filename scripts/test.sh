#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole test suite (every CTest tier: unit, api, kernel, vm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 600 -j2
