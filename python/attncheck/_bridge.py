"""The Python half of the bridge (bridge.cpp calls these functions).

call_forward / call_backward build the batch object from the fields the C++
side prepared, call the implementation, and check what came back: every
output present, of the expected shape and of an accepted dtype, converted to
contiguous float32 (numpy, no per-element Python). Whatever breaks the
contract raises ContractError naming the field, the expected and the actual
shape or dtype; the campaign reports it as a failed case.
"""
import os
import time
import traceback

import numpy as np

try:  # bfloat16 arrays: ml_dtypes.bfloat16 when installed, else the uint16 bits
    import ml_dtypes

    BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    BFLOAT16 = np.dtype(np.uint16)


class ContractError(Exception):
    """An implementation returned something the contract does not allow."""


class Batch:
    """One packed batch as an implementation receives it (README "Your own kernel, live").

    Arrays are read-only numpy arrays, valid during the call only: copy what
    you keep. q, k, v (and dout) are in the storage dtype (`dtype`).
    """

    def __init__(self, fields):
        self.__dict__.update(fields)

    def __repr__(self):
        lens = ",".join(str(int(x)) for x in self.seqlens_q)
        lens_kv = ",".join(str(int(x)) for x in self.seqlens_kv)
        mask = "causal" if self.causal else "full"
        if self.window_left >= 0 or self.window_right >= 0:
            mask += " window(%d,%d)" % (self.window_left, self.window_right)
        if self.chunk_size:
            mask += " chunk %d" % self.chunk_size
        return ("Batch(%s, %d docs q=[%s] kv=[%s], Hq=%d Hkv=%d D=%d Dv=%d, %s, %s%s)"
                % (self.packing, self.num_seqs, lens, lens_kv, self.num_heads_q,
                   self.num_heads_kv, self.head_dim, self.head_dim_v, mask, self.dtype,
                   ", padded" if self.has_padding else ""))


def shapes(b):
    """Expected (shape, axes) of each output for the batch's packing."""
    hq, hkv, d, dv = b.num_heads_q, b.num_heads_kv, b.head_dim, b.head_dim_v
    if b.packing == "bshd":
        n, sq, sk = b.num_seqs, b.q_mask.shape[1], b.kv_mask.shape[1]
        return {
            "out": ((n, sq, hq, dv), "[batch, seqlen_q, num_heads_q, head_dim_v]"),
            "lse": ((n, hq, sq), "[batch, num_heads_q, seqlen_q]"),
            "dq": ((n, sq, hq, d), "[batch, seqlen_q, num_heads_q, head_dim]"),
            "dk": ((n, sk, hkv, d), "[batch, seqlen_kv, num_heads_kv, head_dim]"),
            "dv": ((n, sk, hkv, dv), "[batch, seqlen_kv, num_heads_kv, head_dim_v]"),
        }
    tq, tk = b.total_q, b.total_kv
    return {
        "out": ((tq, hq, dv), "[total_q, num_heads_q, head_dim_v]"),
        "lse": ((hq, tq), "[num_heads_q, total_q]"),
        "dq": ((tq, hq, d), "[total_q, num_heads_q, head_dim]"),
        "dk": ((tk, hkv, d), "[total_kv, num_heads_kv, head_dim]"),
        "dv": ((tk, hkv, dv), "[total_kv, num_heads_kv, head_dim_v]"),
    }


def accepted_dtypes(b, name):
    """Dtypes an output may have: the storage dtype or a wider float (LSE: float32/64)."""
    if name == "lse":
        return ("float32", "float64")
    names = ["float32", "float64"]
    if b.dtype == "float16":
        names.append("float16")
    if b.dtype == "bfloat16":
        names.append(BFLOAT16.name)  # 'bfloat16', or 'uint16' (bits) without ml_dtypes
    return tuple(names)


def as_float32(x):
    """A storage-dtype array (bfloat16 as ml_dtypes or uint16 bits) as float32."""
    a = np.asarray(x)
    if a.dtype == np.uint16:  # bfloat16 bits: the high half of a float32
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def normalize(b, name, x, expect):
    shape, axes = expect[name]
    if x is None:
        raise ContractError("%s: missing; expected an array of shape %s %s"
                            % (name, shape, axes))
    try:
        a = np.asarray(x)
    except Exception as e:  # e.g. a tensor that needs .detach() or is on a GPU
        raise ContractError("%s: %s is not convertible to a numpy array (%s: %s); return "
                            "numpy arrays (tensor.detach().cpu().numpy())"
                            % (name, type(x).__name__, type(e).__name__, e))
    if a.shape != shape:
        raise ContractError("%s: shape %s, expected %s %s" % (name, a.shape, shape, axes))
    ok = accepted_dtypes(b, name)
    if a.dtype.name not in ok:
        raise ContractError("%s: dtype %s, expected one of %s (storage dtype %s)"
                            % (name, a.dtype.name, ", ".join(ok), b.dtype))
    if a.dtype == np.uint16:
        a = as_float32(a)
    return np.ascontiguousarray(a, dtype=np.float32)


def split(result, names):
    """An array, a tuple/list in `names` order, or a dict keyed by `names`."""
    if isinstance(result, dict):
        unknown = sorted(set(result) - set(names))
        if unknown:
            raise ContractError("returned dict has unknown key(s) %s; expected %s"
                                % (", ".join(unknown), ", ".join(names)))
        return [result.get(n) for n in names]
    if isinstance(result, (tuple, list)):
        if len(result) > len(names):
            raise ContractError("returned %d values; expected at most %d (%s)"
                                % (len(result), len(names), ", ".join(names)))
        return list(result) + [None] * (len(names) - len(result))
    return [result] + [None] * (len(names) - 1)


def call_forward(impl, fields):
    b = Batch(fields)
    t0 = time.perf_counter()
    result = impl.forward(b)
    inner = time.perf_counter() - t0
    out, lse = split(result, ("out", "lse"))
    expect = shapes(b)
    out = normalize(b, "out", out, expect)
    if lse is None:
        if impl.caps.lse:
            raise ContractError("lse: missing; the implementation declares lse=True (declare "
                                "lse=False if it returns none); expected shape %s %s"
                                % expect["lse"])
    elif not impl.caps.lse:
        raise ContractError("lse: returned, but the implementation declares lse=False")
    else:
        lse = normalize(b, "lse", lse, expect)
    return out, lse, inner


def call_backward(impl, fields, dout):
    b = Batch(fields)
    t0 = time.perf_counter()
    result = impl.backward_fn(b, dout)
    inner = time.perf_counter() - t0
    expect = shapes(b)
    dq, dk, dv = (normalize(b, n, x, expect)
                  for n, x in zip(("dq", "dk", "dv"), split(result, ("dq", "dk", "dv"))))
    return dq, dk, dv, inner


def call_refuses(impl, fields):
    why = impl.caps.refuses(Batch(fields))
    return None if why is None else str(why)


_OWN = os.path.abspath(__file__).rstrip("c")


def describe_exception(exc, tb):
    """One line: the exception and the innermost frames of its traceback."""
    if isinstance(exc, ContractError):
        return "contract: %s" % exc
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) != _OWN]
    where = " <- ".join("%s:%d in %s: %s" % (os.path.basename(f.filename), f.lineno, f.name,
                                              (f.line or "").strip())
                        for f in reversed(frames[-3:]))
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().replace("\n", " | ")
    return "Python raised %s [traceback, innermost first: %s]" % (text, where or "?")
