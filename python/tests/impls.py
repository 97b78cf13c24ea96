"""Python implementations the bridge tests point attncheck at (test_bridge.py)."""
import numpy as np

import attncheck
from attncheck.examples.numpy_attention import attention as reference
from attncheck.examples.numpy_live import attention as thd_reference

seen = []  # what record_views saw


def _inner_failure(x):
    return x / 0  # ZeroDivisionError: the message must name this line


@attncheck.implementation(dtypes=("float32",))
def raises(batch):
    return _inner_failure(1)


@attncheck.implementation(dtypes=("float32",))
def wrong_shape(batch):
    out, lse = thd_reference(batch)
    return out[:, :, :1], lse


@attncheck.implementation(dtypes=("float32",))
def wrong_dtype(batch):
    out, lse = thd_reference(batch)
    return out.astype(np.int32), lse


@attncheck.implementation(dtypes=("float32",))
def missing_lse(batch):
    return thd_reference(batch)[0]


@attncheck.implementation(dtypes=("float32",), lse=False)
def no_lse(batch):
    """Declares lse=False: out alone, LSE not judged."""
    return thd_reference(batch)[0]


@attncheck.implementation(dtypes=("float32",))
def record_views(batch):
    seen.append({"owndata": batch.q.flags.owndata, "writeable": batch.q.flags.writeable,
                 "dtype": batch.q.dtype.name, "shape": batch.q.shape,
                 "expected": (batch.total_q, batch.num_heads_q, batch.head_dim)})
    return thd_reference(batch)


def _bshd_description(b, lq, lk):
    """One sequence per batch row: cu_seqlens over the padded [B, S] layout."""
    n, sq, sk = b.num_seqs, b.q_mask.shape[1], b.kv_mask.shape[1]
    return {"num_heads_q": b.num_heads_q, "num_heads_kv": b.num_heads_kv,
            "softmax_scale": b.softmax_scale, "causal": int(b.causal),
            "window_left": b.window_left, "window_right": b.window_right,
            "chunk_size": b.chunk_size,
            "cu_seqlens_q": np.concatenate([[0], np.cumsum(lq)]),
            "cu_seqlens_kv": np.concatenate([[0], np.cumsum(lk)]),
            "start_q": np.arange(n + 1) * sq, "start_kv": np.arange(n + 1) * sk}


@attncheck.implementation(packing="bshd", name="numpy-bshd")
def bshd(batch):
    """The numpy reference on the padded [B, S, H, D] layout with masks."""
    n, sq = batch.q_mask.shape
    sk = batch.kv_mask.shape[1]
    lq, lk = batch.q_mask.sum(axis=1), batch.kv_mask.sum(axis=1)
    d = _bshd_description(batch, lq, lk)
    q, k, v = (attncheck.as_float32(x).reshape((-1,) + x.shape[2:])
               for x in (batch.q, batch.k, batch.v))
    r = reference(d, q, k, v)
    out = r["out"].reshape(n, sq, batch.num_heads_q, -1).astype(np.float32)
    lse = r["lse"].reshape(batch.num_heads_q, n, sq).transpose(1, 0, 2).astype(np.float32)
    return out, lse


@bshd.backward
def bshd_backward(batch, dout):
    n, sq = batch.q_mask.shape
    sk = batch.kv_mask.shape[1]
    d = _bshd_description(batch, batch.q_mask.sum(axis=1), batch.kv_mask.sum(axis=1))
    q, k, v, do = (attncheck.as_float32(x).reshape((-1,) + x.shape[2:])
                   for x in (batch.q, batch.k, batch.v, dout))
    r = reference(d, q, k, v, do)
    return (r["dq"].reshape(batch.q.shape), r["dk"].reshape(batch.k.shape),
            r["dv"].reshape(batch.v.shape))


@attncheck.implementation(packing="eos", name="numpy-eos")
def eos(batch):
    """The numpy reference with documents read off the EOS token ids."""
    ends = np.flatnonzero(batch.tokens == batch.eos_id) + 1
    if not len(ends) or ends[-1] != len(batch.tokens):
        ends = np.append(ends, len(batch.tokens))
    cu = np.concatenate([[0], ends])
    d = {"num_heads_q": batch.num_heads_q, "num_heads_kv": batch.num_heads_kv,
         "softmax_scale": batch.softmax_scale, "causal": int(batch.causal),
         "window_left": batch.window_left, "window_right": batch.window_right,
         "chunk_size": batch.chunk_size, "cu_seqlens_q": cu, "cu_seqlens_kv": cu,
         "start_q": cu, "start_kv": cu}
    q, k, v = (attncheck.as_float32(x) for x in (batch.q, batch.k, batch.v))
    r = reference(d, q, k, v)
    return r["out"].astype(np.float32), r["lse"].astype(np.float32)
