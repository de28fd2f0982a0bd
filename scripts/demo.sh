#!/usr/bin/env bash
# The suite's main job in one command: install what is needed, build the
# release preset, start every server of the suite and run the same scenarios
# against each (ioclient compare --quick: under 2 minutes), then print the
# side-by-side table and where the report (table, charts, JSON, CSV) is.
# Usage: scripts/demo.sh [extra ioclient compare options, e.g. --servers epoll_server,uring_server]
# For the full run (under 15 minutes): build/release/bin/ioclient compare --report build/report-full
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset release >/dev/null
build/release/bin/ioclient compare --quick --report build/report "$@"
echo
echo "The report: $(pwd)/build/report/index.html (open it in a browser; it needs no network)"
