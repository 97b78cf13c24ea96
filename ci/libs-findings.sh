#!/usr/bin/env bash
# The findings table of README "Real libraries": runs every library adapter
# (python/attncheck/adapters) through the fuzz campaign in the venv of
# ci/libs.sh, one campaign per adapter, and prints each one's summary rows,
# failures and time. Logs, results files and the shrunk counterexamples go to
# DIR (default attncheck-findings/). The default campaign (200 cases, seed 1,
# up to 512 tokens) for the torch and transformers adapters; fewer, smaller
# cases where a library is slow on the CPU (jax recompiles per shape, flex
# eager materializes the mask, transformers compiles flex_attention), with the
# settings printed.
#
#   bash ci/libs-findings.sh [DIR] [ADAPTER ...]    e.g. torch_sdpa:block_mask
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-attncheck-findings}
shift || true
py=$(bash ci/libs.sh)
py=$root/$py
mkdir -p "$out"
out=$(cd "$out" && pwd)

declare -A settings=(
  [torch_sdpa:per_document]=""
  [torch_sdpa:per_document_math]=""
  [torch_sdpa:per_document_flash]=""
  [torch_sdpa:block_mask]=""
  [torch_sdpa:block_mask_math]="--property P2"
  [torch_sdpa:block_mask_flash]="--property P2"
  [torch_sdpa:per_document_is_causal]=""
  [torch_sdpa:packed_is_causal]=""
  [hf:sdpa_position_ids]=""
  [hf:eager_position_ids]=""
  [hf:sdpa_padded]=""
  [hf:flex_position_ids]="--cases 8 --max-tokens 64"
  [flex:document_mask]="--cases 50 --max-tokens 256"
  [flex:torchtitan_chunked]="--cases 50 --max-tokens 256"
  [jax_dpa:seq_lengths]="--cases 12 --max-tokens 128"
  [jax_dpa:seq_lengths_lse]="--cases 12 --max-tokens 128"
  [ulysses:global_ids]=""
  [ulysses:ids_after_shard]=""
)
order=(torch_sdpa:per_document torch_sdpa:per_document_math torch_sdpa:per_document_flash
       torch_sdpa:block_mask torch_sdpa:block_mask_math torch_sdpa:block_mask_flash
       torch_sdpa:per_document_is_causal
       torch_sdpa:packed_is_causal hf:sdpa_position_ids hf:eager_position_ids hf:sdpa_padded
       hf:flex_position_ids flex:document_mask flex:torchtitan_chunked jax_dpa:seq_lengths
       jax_dpa:seq_lengths_lse ulysses:global_ids ulysses:ids_after_shard)
[ $# -gt 0 ] && order=("$@")

status=0
for a in "${order[@]}"; do
  if [ -z "${settings[$a]+set}" ]; then
    echo "attncheck: unknown adapter $a; known: ${!settings[*]}" >&2
    exit 2
  fi
  tag=${a//:/-}
  # Each campaign in its own directory, so that counterexample names stay apart.
  mkdir -p "$out/$tag"
  # shellcheck disable=SC2086
  cmd="python -m attncheck fuzz attncheck.adapters.$a ${settings[$a]}"
  echo "== $cmd"
  start=$(date +%s)
  set +e
  (cd "$out/$tag" && "$py" -m attncheck fuzz "attncheck.adapters.$a" ${settings[$a]} --no-progress \
     > "$out/$tag/log.txt" 2>&1)
  rc=$?
  set -e
  echo "   exit $rc, $(( $(date +%s) - start )) s"
  [ $rc -gt 1 ] && status=2
  grep -E '^py:|^FAILED|shrunk case|diagnosis|case file' "$out/$tag/log.txt" | sed 's/^/   /' | cut -c1-400
done
exit $status
