"""jax.nn.dot_product_attention (XLA) on the CPU.

    python -m attncheck fuzz attncheck.adapters.jax_dpa:seq_lengths

The padded [B, S, H, D] layout with query_seq_lengths and
key_value_seq_lengths, is_causal for causal masks and local_window_size
(left, right) for sliding windows, as jax documents them; backward through
jax.vjp. `seq_lengths` in every dtype without the LSE: return_residual gives
the log-sum-exp in the input dtype, so for float16/bfloat16 inputs it is
rounded to that dtype, not the float32 LSE of the contract;
`seq_lengths_lse` judges it for float32 inputs. Cases with a causal or
window mask and Lq != Lk are refused: jax aligns those masks top-left. Declared without chunked attention
(no such argument) and without Dv != D (it raises ValueError "value shape
should be [..,D]").
"""
import jax
import jax.numpy as jnp
import numpy as np

import attncheck

jax.config.update("jax_platforms", "cpu")

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def _call(batch, q, k, v):
    window = None
    if batch.window_left >= 0 or (not batch.causal and batch.window_right >= 0):
        window = (batch.window_left if batch.window_left >= 0 else batch.q_mask.shape[1]
                  + batch.kv_mask.shape[1],
                  batch.window_right if batch.window_right >= 0 else batch.q_mask.shape[1]
                  + batch.kv_mask.shape[1])
    return jax.nn.dot_product_attention(
        q, k, v, scale=batch.softmax_scale, is_causal=bool(batch.causal),
        query_seq_lengths=jnp.asarray(batch.seqlens_q), key_value_seq_lengths=jnp.asarray(batch.seqlens_kv),
        local_window_size=window, implementation="xla", return_residual=True)


def _inputs(batch, *xs):
    return [jnp.asarray(attncheck.as_float32(x), dtype=_DTYPES[batch.dtype]) for x in xs]


def _refuses(batch):
    masked = batch.causal or batch.window_left >= 0 or batch.window_right >= 0
    if masked and any(int(a) != int(b) for a, b in zip(batch.seqlens_q, batch.seqlens_kv)):
        return "jax aligns causal and window masks top-left when Lq != Lk"
    return None


def _forward(batch):
    q, k, v = _inputs(batch, batch.q, batch.k, batch.v)
    out, lse = _call(batch, q, k, v)
    # The residual is [B, T, N]; the contract's padded LSE is [B, N, T].
    lse = np.asarray(lse, dtype=np.float32).transpose(0, 2, 1)
    return np.asarray(out, dtype=np.float32), lse


def _backward(batch, dout):
    q, k, v, do = _inputs(batch, batch.q, batch.k, batch.v, dout)
    _, vjp = jax.vjp(lambda a, b, c: _call(batch, a, b, c)[0], q, k, v)
    return tuple(np.asarray(g, dtype=np.float32) for g in vjp(do))


_CAPS = dict(packing="bshd", chunked=False, dv_ne_d=False, batch_invariant=False,
             refuses=_refuses)

seq_lengths = attncheck.implementation(
    lambda batch: _forward(batch)[0], lse=False, backward=_backward,
    name="jax-dot-product-attention",
    description="jax.nn.dot_product_attention (xla) with sequence lengths", **_CAPS)

seq_lengths_lse = attncheck.implementation(
    _forward, dtypes=("float32",), backward=_backward, name="jax-dot-product-attention-lse",
    description="jax.nn.dot_product_attention (xla), float32, with its LSE (return_residual)",
    **_CAPS)
