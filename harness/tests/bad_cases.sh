#!/usr/bin/env bash
# Every file of the committed bad-case corpus (harness/tests/bad_cases, built by
# harness/byok/make_bad_cases.py) must be refused by `attncheck replay` with
# exit 2 and a message naming the file and the expected object (EXPECTED lists
# a substring per file); the corpus' valid control file must replay and pass.
set -uo pipefail
attncheck=$1
dir=$2
fail=0
count=0
while IFS=$'\t' read -r file substring; do
  [ -z "$file" ] && continue
  count=$((count + 1))
  err=$("$attncheck" replay "$dir/$file" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then
    echo "FAIL $file: exit $rc, expected 2 ($err)"
    fail=1
  elif [[ "$err" != *"$substring"* ]]; then
    echo "FAIL $file: message lacks '$substring': $err"
    fail=1
  elif [[ "$err" != *"$file"* ]]; then
    echo "FAIL $file: message does not name the file: $err"
    fail=1
  else
    echo "ok   $file: $err"
  fi
done < "$dir/EXPECTED"
if [ "$count" -lt 15 ]; then
  echo "FAIL: only $count bad cases in $dir/EXPECTED (want at least 15)"
  fail=1
fi
if ! out=$("$attncheck" replay "$dir/valid_base.h5" --impl reference-f32 2>&1); then
  echo "FAIL valid_base.h5 does not replay: $out"
  fail=1
else
  echo "ok   valid_base.h5 replays and passes"
fi
echo "$count bad cases checked"
exit $fail
