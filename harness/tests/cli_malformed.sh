#!/usr/bin/env bash
# Every malformed batch description given to `attncheck validate` is answered
# by exit code 2 and a message naming the field (and index), never a crash;
# valid descriptions exit 0; fuzz usage errors exit 2.
set -u
bin="$1"
failures=0

expect() {  # expect CODE SUBSTRING ARGS...
  local code="$1" want="$2"
  shift 2
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: attncheck $* -> exit $rc (want $code), output:"
    echo "$out" | sed 's/^/    /'
    echo "    (expected to contain: $want)"
    failures=$((failures + 1))
  fi
}

v="validate"
# Malformed descriptions: one per line, exit 2 and the named field.
expect 2 "cu_seqlens_q[2]"        $v --cu-seqlens-q 0,3,2
expect 2 "cu_seqlens_q[0]"        $v --cu-seqlens-q 1,3
expect 2 "cu_seqlens_kv[1]"       $v --cu-seqlens-q 0,3 --cu-seqlens-kv 0,-1 --total-kv 3
expect 2 "cu_seqlens_kv"          $v --cu-seqlens-q 0,3 --cu-seqlens-kv 0,1,2
expect 2 "cu_seqlens_q[1]"        $v --cu-seqlens-q 0,9 --total-q 4
expect 2 "total_kv"               $v --cu-seqlens-q 0,3 --cu-seqlens-kv 0,3 --total-q 3 --total-kv 2
expect 2 "cu_seqlens_q_padded[1]" $v --cu-seqlens-q 0,5 --cu-seqlens-q-padded 0,4
expect 2 "cu_seqlens_q_padded[0]" $v --cu-seqlens-q 0,2 --cu-seqlens-q-padded 1,4
expect 2 "cu_seqlens_q_padded[2]" $v --cu-seqlens-q 0,2,3 --cu-seqlens-q-padded 0,4,2
expect 2 "cu_seqlens_q_padded"    $v --cu-seqlens-q 0,2,3 --cu-seqlens-q-padded 0,4
expect 2 "cu_seqlens_q_padded[1]" $v --cu-seqlens-q 0,2 --cu-seqlens-q-padded 0,4 --total-q 3
expect 2 "num_heads_q"            $v --cu-seqlens-q 0,2 --heads-q 6 --heads-kv 4
expect 2 "num_heads_kv"           $v --cu-seqlens-q 0,2 --heads-kv 0
expect 2 "num_heads_q"            $v --cu-seqlens-q 0,2 --heads-q -1
expect 2 "head_dim"               $v --cu-seqlens-q 0,2 --head-dim 0
expect 2 "head_dim_v"             $v --cu-seqlens-q 0,2 --head-dim-v 0
expect 2 "softmax_scale"          $v --cu-seqlens-q 0,2 --scale 0
expect 2 "softmax_scale"          $v --cu-seqlens-q 0,2 --scale -1
expect 2 "window_left"            $v --cu-seqlens-q 0,2 --window -2,0
expect 2 "window_right"           $v --cu-seqlens-q 0,2 --window 1,-3
expect 2 "window_right"           $v --cu-seqlens-q 0,2 --causal --window 1,2
expect 2 "--window"               $v --cu-seqlens-q 0,2 --window 1
expect 2 "chunk_size"             $v --cu-seqlens-q 0,2 --chunk -4
expect 2 "position_ids[2]"        $v --position-ids 0,1,3,0
expect 2 "position_ids[0]"        $v --position-ids 1,2,3
expect 2 "position_ids[1]"        $v --position-ids 0,-1
expect 2 "position_ids[2]"        $v --position-ids 0,0,2
expect 2 "position_ids[3]"        $v --cu-seqlens-q 0,3,5 --position-ids 0,1,2,1,2
expect 2 "position_ids"           $v --cu-seqlens-q 0,3 --position-ids 0,1
expect 2 "attention_mask[5]"      $v --attention-mask 1,1,0,1,0,1 --mask-shape 2,3
expect 2 "attention_mask[1]"      $v --attention-mask 1,2 --mask-shape 1,2
expect 2 "attention_mask"         $v --attention-mask 1,1,1 --mask-shape 2,2
expect 2 "--mask-shape"           $v --attention-mask 1,1
expect 2 "tokens[1]"              $v --tokens 4,-7,2 --eos-id 2
expect 2 "eos_id"                 $v --tokens 4,7,2 --eos-id -5
expect 2 "--eos-id"               $v --tokens 4,7,2
expect 2 "dtype"                  $v --cu-seqlens-q 0,2 --dtype int8
expect 2 "exactly one way"        $v --cu-seqlens-q 0,2 --tokens 1,2 --eos-id 2
expect 2 "exactly one way"        $v
expect 2 "Could not convert"      $v --cu-seqlens-q 0,x

# Valid descriptions.
expect 0 "cu_seqlens_q [0, 3, 5]" $v --cu-seqlens-q 0,3,5 --cu-seqlens-q-padded 0,4,8 --total-q 9
expect 0 "cu_seqlens_q [0, 3, 5, 6]" $v --position-ids 0,1,2,0,1,0
expect 0 "cu_seqlens_q_padded [0, 3, 6]" $v --attention-mask 1,1,0,1,0,0 --mask-shape 2,3
expect 0 "cu_seqlens_q [0, 3, 5, 6]" $v --tokens 5,7,2,9,2,4 --eos-id 2
expect 0 "valid:" $v --cu-seqlens-q 0,3,5 --position-ids 0,1,2,0,1 --heads-q 8 --heads-kv 2 --causal --window 4,0 --chunk 2 --dtype bf16

# fuzz usage errors.
expect 2 "--cases"  fuzz --cases 0
expect 2 "unknown implementation" fuzz --impl no-such-impl --no-progress
expect 2 "unknown property" fuzz --property P99 --no-progress
expect 2 "unknown dtype" fuzz --dtypes int8 --no-progress
expect 2 "reproduce" fuzz --impl reference-f32 --property P1 --reproduce garbage --no-progress
expect 2 "subcommand" 
expect 0 "attncheck: 9 cases, 0 failed" fuzz --impl reference-f32 --cases 1 --no-progress

if [ "$failures" -ne 0 ]; then
  echo "$failures CLI expectation(s) failed"
  exit 1
fi
echo "all CLI expectations held"
