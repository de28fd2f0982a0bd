#!/usr/bin/env bash
# The soak of issue #8, outside the test suite: install what is needed, build
# the release preset, then start every server at once and drive each with a
# mixed, verified, rate-bounded load for 10 minutes (ioclient soak). One row
# per server: messages, verification failures, connection errors, descriptors
# and memory at start and end, and a verdict; the same as JSON in build/soak.json.
# Exit 0 only if every server had no failure, stayed flat and exited 0.
# Usage: scripts/soak.sh [extra ioclient soak options, e.g. --duration 60 --servers epoll_server]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset release >/dev/null
exec build/release/bin/ioclient soak --duration 600 --json build/soak.json "$@"
