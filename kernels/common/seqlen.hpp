// Where sequence b of a packed (THD) batch lives.
//
// Actual lengths come from cu_seqlens (prefix sums); memory offsets from
// cu_seqlens_padded when given, else from cu_seqlens. Rows
// [start + len, next start) are padding between sequences.
#pragma once

#include "kernels/common/host_device.hpp"

namespace attncheck::kernels {

struct SeqlenInfo {
  int q_start = 0, q_len = 0;    // memory offset and actual length of the queries
  int kv_start = 0, kv_len = 0;  // the same for keys and values

  ATTNCHECK_HD SeqlenInfo(const int* cu_q, const int* cu_kv, const int* cu_q_padded,
                          const int* cu_kv_padded, int b)
      : q_start(cu_q_padded ? cu_q_padded[b] : cu_q[b]),
        q_len(cu_q[b + 1] - cu_q[b]),
        kv_start(cu_kv_padded ? cu_kv_padded[b] : cu_kv[b]),
        kv_len(cu_kv[b + 1] - cu_kv[b]) {}
};

}  // namespace attncheck::kernels
