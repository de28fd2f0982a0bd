#!/usr/bin/env bash
# Build and run the whole test suite: unit tests and the integration tests
# that start every server.
#   scripts/test.sh                  the dev preset (debug, asserts on)
#   scripts/test.sh asan             under AddressSanitizer + UBSan
#   scripts/test.sh tsan -R threads  any further arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-dev}
shift || true
scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset" -j "$(nproc)" "$@"
