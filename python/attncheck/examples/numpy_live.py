"""The numpy float64 reference (numpy_attention.attention) as a live implementation.

    python -m attncheck fuzz attncheck.examples.numpy_live:attention

Every property applies to it (THD with cu_seqlens and padded offsets, every
dtype, mask, GQA, Lq != Lk, forward and backward) and every one passes.
"""
import numpy as np

import attncheck
from attncheck.examples.numpy_attention import attention as reference


def _description(b):
    """The dict numpy_attention.attention() reads, from the live batch."""
    return {
        "num_heads_q": b.num_heads_q, "num_heads_kv": b.num_heads_kv,
        "softmax_scale": b.softmax_scale, "causal": int(b.causal),
        "window_left": b.window_left, "window_right": b.window_right,
        "chunk_size": b.chunk_size,
        "cu_seqlens_q": b.cu_seqlens_q, "cu_seqlens_kv": b.cu_seqlens_kv,
        "start_q": b.cu_seqlens_q if b.cu_seqlens_q_padded is None else b.cu_seqlens_q_padded,
        "start_kv": b.cu_seqlens_kv if b.cu_seqlens_kv_padded is None else b.cu_seqlens_kv_padded,
    }


def _inputs(b):
    return (attncheck.as_float32(x) for x in (b.q, b.k, b.v))


@attncheck.implementation(name="numpy-reference",
                          description="numpy float64 reference (attncheck.examples.numpy_attention)")
def attention(batch):
    q, k, v = _inputs(batch)
    res = reference(_description(batch), q, k, v)
    return res["out"].astype(np.float32), res["lse"].astype(np.float32)


@attention.backward
def attention_backward(batch, dout):
    q, k, v = _inputs(batch)
    res = reference(_description(batch), q, k, v, attncheck.as_float32(dout))
    return res["dq"], res["dk"], res["dv"]
