#!/bin/bash
# labs.sh [--quick] [--index]: every lab of `ioclient lab`, one after another,
# as the docs quote them: first the date, the commit and the machine, then
# each lab's output. --index prints instead one markdown line per lab, its
# verdict and reason, for the last column of docs/labs.md's index.
# Run it from the repository root after a release build (or set B to the
# binary directory); a full run takes about two minutes, --quick under one.
set -euo pipefail
B=${B:-build/release/bin}
quick=() index=0
for a in "$@"; do
  case $a in
    --quick) quick=(--quick) ;;
    --index) index=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "labs.sh: unknown option $a (--quick, --index)" >&2; exit 2 ;;
  esac
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit, $(nproc) CPUs, kernel $(uname -r)," \
     "load average $(cut -d" " -f1 /proc/loadavg), binaries $B"
for lab in $("$B/ioclient" lab | awk 'NF && $1 != "ioclient" {print $1}'); do
  if [ $index = 1 ]; then
    "$B/ioclient" lab "$lab" "${quick[@]}" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
verdict = r["verdict"] + (" " + r["condition"] if r["condition"] else "")
print("| `%s` | %s: %s |" % (r["lab"], verdict, r["reason"]))'
  else
    echo; "$B/ioclient" lab "$lab" "${quick[@]}"
  fi
done
