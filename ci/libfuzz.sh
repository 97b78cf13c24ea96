#!/usr/bin/env bash
# Input fuzzing (harness/fuzz/README.md): builds the `fuzz` preset (clang,
# libFuzzer + ASan + UBSan) and runs each libFuzzer target for N seconds
# (argument, else $ATTNCHECK_FUZZ_SECONDS, else 60) on a copy of its committed
# seed corpus; the committed corpus is never grown. Prints execs, exec/s and
# coverage per target; exits non-zero on any crash, printing the crash
# input's path (kept under build/fuzz/artifacts/<target>/).
#
#   ci/libfuzz.sh [SECONDS] [TARGET...]     (targets: fuzz_batch fuzz_packing fuzz_casefile)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds="${1:-${ATTNCHECK_FUZZ_SECONDS:-60}}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_batch fuzz_packing fuzz_casefile)
if ! [[ "${seconds}" =~ ^[0-9]+$ ]] || [ "${seconds}" -lt 1 ]; then
  echo "libfuzz: seconds must be a positive integer, got '${seconds}'" >&2
  exit 2
fi

bash ci/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
echo "== attncheck libFuzzer targets: preset fuzz, ${seconds} s each"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${jobs}"

# Inputs larger than these are not worth mutating: the byte-decoded targets
# read a few bytes per field (4096 rows at most); case files are ~10-40 KB.
max_len() {
  case "$1" in
    fuzz_casefile) echo 65536 ;;
    *) echo 8192 ;;
  esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/attncheck-libfuzz.XXXXXX")
# fuzz_casefile writes and reads case files on every input (write_case
# fsyncs): keep those on tmpfs when there is one.
scratch="${work}"
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch=$(mktemp -d /dev/shm/attncheck-libfuzz.XXXXXX)
trap 'rm -rf "${work}" "${scratch}"' EXIT
# One target: fuzz it for ${seconds} s; its summary line goes to
# ${work}/${target}.line and its exit status to ${work}/${target}.rc.
run_target() {
  local target=$1
  local bin="build/fuzz/bin/${target}"
  local corpus="${work}/${target}"
  local artifacts="${root}/build/fuzz/artifacts/${target}"
  mkdir -p "${corpus}" "${artifacts}"
  cp -R "harness/fuzz/corpus/${target}/." "${corpus}/"
  local extra=()
  [ -f "harness/fuzz/${target}.dict" ] && extra+=("-dict=harness/fuzz/${target}.dict")
  local log="${work}/${target}.log"
  local rc=0
  ATTNCHECK_FUZZ_TMPDIR="${scratch}" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "${bin}" -max_total_time="${seconds}" -max_len="$(max_len "${target}")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="${artifacts}/" \
    "${extra[@]}" "${corpus}" >"${log}" 2>&1 || rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E rss: R".
  local last execs rate cov ft corp line crash
  last=$(grep -E '^#[0-9]+' "${log}" | tail -n 1 || true)
  # (after a crash libFuzzer prints its final stats twice: the last ones)
  execs=$(grep -Eo 'stat::number_of_executed_units: +[0-9]+' "${log}" | tail -n 1 | grep -Eo '[0-9]+$' || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "${log}" | tail -n 1 | grep -Eo '[0-9]+$' || true)
  cov=$(grep -Eo 'cov: [0-9]+' <<<"${last}" | grep -Eo '[0-9]+$' || true)
  ft=$(grep -Eo 'ft: [0-9]+' <<<"${last}" | grep -Eo '[0-9]+$' || true)
  corp=$(grep -Eo 'corp: [0-9]+/[0-9A-Za-z]+' <<<"${last}" | cut -d' ' -f2 || true)
  line="${target}: ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
  if [ "${rc}" -ne 0 ]; then
    crash=$(grep -Eo "Test unit written to [^ ]+" "${log}" | tail -n 1 | sed 's/^Test unit written to //' || true)
    line="${line}: FAILED (exit ${rc}); crash input: ${crash:-none written, see the log above}; reproduce with: ${bin} ${crash:-<input>}"
  fi
  echo "${line}" >"${work}/${target}.line"
  echo "${rc}" >"${work}/${target}.rc"
}

# Each target is one single-threaded process with a fixed time budget: up to
# one per core at once, each with the whole of its ${seconds} s.
status=0
summary=()
started=()
for target in "${targets[@]}"; do
  if [ ! -x "build/fuzz/bin/${target}" ] || [ ! -d "harness/fuzz/corpus/${target}" ]; then
    echo "libfuzz: unknown target ${target} (no build/fuzz/bin/${target} or harness/fuzz/corpus/${target})" >&2
    status=1
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "${jobs}" ]; do wait -n || true; done
  echo "== ${target}: $(ls "harness/fuzz/corpus/${target}" | wc -l) seeds, ${seconds} s"
  run_target "${target}" &
  started+=("${target}")
done
wait || true
for target in "${started[@]}"; do
  rc=$(cat "${work}/${target}.rc" 2>/dev/null || echo 1)
  line=$(cat "${work}/${target}.line" 2>/dev/null || echo "${target}: no result (the fuzzing process did not finish)")
  if [ "${rc}" -ne 0 ]; then
    status=1
    echo "== ${target} failed: the last lines of its log"
    tail -n 60 "${work}/${target}.log" || true
    echo "libfuzz: ${line}" >&2
  fi
  echo "${line}"
  summary+=("${line}")
done

echo "== libFuzzer summary"
printf '  %s\n' "${summary[@]}"
exit ${status}
