#!/usr/bin/env bash
# Campaign speed through each library adapter: `attncheck bench` over every
# adapter of python/attncheck/adapters (cases/s of forward+backward on the CI
# case mix, T <= 256, D <= 64, and the bridge's share of the case time), in the
# venv of ci/libs.sh. Run it on an otherwise idle machine: torch and jax use
# every core.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$PWD/$(bash ci/libs.sh)
adapters=(torch_sdpa:per_document torch_sdpa:block_mask torch_sdpa:per_document_is_causal
          torch_sdpa:packed_is_causal hf:sdpa_position_ids hf:eager_position_ids hf:sdpa_padded
          flex:document_mask flex:torchtitan_chunked jax_dpa:seq_lengths ulysses:global_ids)
specs=()
for a in "${adapters[@]}"; do specs+=("attncheck.adapters.$a"); done
cd "${TMPDIR:-/tmp}"
"$py" -m attncheck bench "${specs[@]}" --skip-campaign --reps 1 "$@" | grep -E "^py:|bridge"
