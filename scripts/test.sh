#!/usr/bin/env bash
# Build and run the whole test suite: unit tests and the integration tests
# that start every server. Usage: scripts/test.sh [dev|asan|tsan]  (default dev)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-dev}
scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset" -j "$(nproc)"
