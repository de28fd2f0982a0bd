#!/usr/bin/env bash
# Fuzz the FTP core and every parser with libFuzzer (tests/fuzz), or measure
# how much of the core the corpus reaches.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/fuzz.sh [TARGET|all] [SECONDS] [--runs N]
       scripts/fuzz.sh --coverage
       scripts/fuzz.sh --merge [TARGET|all]
       scripts/fuzz.sh --list | --help

Builds the fuzz preset (clang, libFuzzer, ASan + UBSan) and fuzzes TARGET
(default all, one target after another: one core) for SECONDS each
(default 60). Each target starts from its corpus, tests/fuzz/corpus/TARGET/,
which it only reads, with the FTP dictionary tests/fuzz/ftp.dict; the inputs
it finds that reach new code go to build/fuzz/corpus/TARGET/. A broken
promise or a sanitizer report stops the run: the input is saved as
build/fuzz/artifacts/TARGET-crash-..., the script names it and exits 1.
Replay one with build/fuzz/fuzz/fuzz_TARGET FILE (or any preset's replay
binary, build/dev/fuzz/fuzz_TARGET FILE).

  --runs N     also stop each target after N executions
  --coverage   build the fuzz-coverage preset (clang source-based coverage),
               replay every target's corpus, and print the line coverage of
               the FTP core: ftp/session.cpp, session_files.cpp, command.cpp,
               line_reader.cpp, data_address.cpp, path.cpp, listing.cpp, with
               the lines no input reached
  --merge      fold build/fuzz/corpus/TARGET into tests/fuzz/corpus/TARGET,
               keeping only inputs that reach code the corpus does not
               (libFuzzer -merge=1 on edges alone: new hit counts would add
               thousands of files)
  --list       the targets

Every preset's ctest replays the corpus once (fuzz_replay.TARGET), so a
finding kept in the corpus guards the ordinary test suite.
EOF
}

cd "$(dirname "$0")/.."
targets=(ftp_session ftp_line_reader ftp_data_address ftp_listing client_reply client_url live_counters)
core=(ftp/session.cpp ftp/session_files.cpp ftp/command.cpp ftp/line_reader.cpp ftp/data_address.cpp
      ftp/path.cpp ftp/listing.cpp)

mode=fuzz target=all seconds=60 runs=""
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
    --coverage) mode=coverage ;;
    --merge) mode=merge ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    -*) echo "fuzz.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    *) positional+=("$1") ;;
  esac
  shift
done
[ ${#positional[@]} -gt 0 ] && target=${positional[0]}
[ ${#positional[@]} -gt 1 ] && seconds=${positional[1]}
if [ "$target" = all ]; then
  chosen=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $target "* ]]; then
  chosen=("$target")
else
  echo "fuzz.sh: no target '$target'; the targets: ${targets[*]}" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }

scripts/install-deps.sh

if [ "$mode" = coverage ]; then
  cmake --preset fuzz-coverage >/dev/null
  cmake --build --preset fuzz-coverage
  dir=build/fuzz-coverage
  rm -rf "$dir/profiles"
  mkdir -p "$dir/profiles"
  objects=()
  for t in "${targets[@]}"; do
    LLVM_PROFILE_FILE="$dir/profiles/$t.profraw" "$dir/fuzz/fuzz_$t" "tests/fuzz/corpus/$t" 2>/dev/null |
      sed "s/^/$t: /"
    objects+=(-object "$dir/fuzz/fuzz_$t")
  done
  llvm-profdata merge -sparse "$dir"/profiles/*.profraw -o "$dir/profiles/corpus.profdata"
  # The first -object is the positional binary llvm-cov wants; the rest follow. The binaries name
  # their sources as the build saw them (build/fuzz-coverage/../../ftp/...): path-equivalence
  # maps those to the tree, so that the core's files can be named to filter on.
  cov=("${objects[@]:1}" -instr-profile="$dir/profiles/corpus.profdata" -path-equivalence="$PWD/$dir/../..,$PWD")
  sources=("${core[@]/#/$PWD/}")
  echo
  echo "Line coverage of the FTP core by the corpus (llvm-cov):"
  llvm-cov report "${cov[@]}" "${sources[@]}" 2>/dev/null |
    awk 'BEGIN { printf "  %-24s %8s %8s %8s\n", "file", "lines", "missed", "cover" }
         NF >= 13 && $1 != "Filename" && $1 !~ /^-/ { printf "  %-24s %8s %8s %8s\n", $1, $8, $9, $10 }'
  echo
  echo "Lines of the core no input reached (file:line: code):"
  llvm-cov show "${cov[@]}" "${sources[@]}" -show-line-counts -use-color=false 2>/dev/null |
    awk -F'|' -v root="$PWD/" '/^\/.*:$/ { file = substr($0, 1, length($0) - 1); sub(root, "", file) }
                               $2 ~ /^ *0$/ { gsub(/ /, "", $1); printf "  %s:%s: %s\n", file, $1, $3 }'
  exit 0
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

if [ "$mode" = merge ]; then
  for t in "${chosen[@]}"; do
    [ -d "build/fuzz/corpus/$t" ] || continue
    before=$(ls "tests/fuzz/corpus/$t" | wc -l)
    "build/fuzz/fuzz/fuzz_$t" -merge=1 -use_counters=0 "tests/fuzz/corpus/$t" "build/fuzz/corpus/$t" 2>/dev/null
    echo "$t: $before -> $(ls "tests/fuzz/corpus/$t" | wc -l) inputs in tests/fuzz/corpus/$t"
  done
  exit 0
fi

mkdir -p build/fuzz/artifacts
for t in "${chosen[@]}"; do
  mkdir -p "build/fuzz/corpus/$t"
  echo "== fuzz_$t for ${seconds}s${runs:+ or $runs runs}"
  log="build/fuzz/fuzz_$t.log"
  if ! "build/fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" ${runs:+-runs=$runs} -dict=tests/fuzz/ftp.dict \
       -print_final_stats=1 -timeout=10 -artifact_prefix="build/fuzz/artifacts/$t-" \
       "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E "CONTRACT VIOLATED|ERROR: |SUMMARY: |Test unit written to" "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz_$t found a failure (log: $log)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | sed 's/^stat::/  /'
  grep -E "^(#[0-9]+).*DONE" "$log" | tail -1 | sed 's/^/  /'
done
