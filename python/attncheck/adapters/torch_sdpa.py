"""torch.nn.functional.scaled_dot_product_attention (SDPA) on the CPU.

    python -m attncheck fuzz attncheck.adapters.torch_sdpa:per_document
    python -m attncheck fuzz attncheck.adapters.torch_sdpa:per_document_math   (or _flash)
    python -m attncheck fuzz attncheck.adapters.torch_sdpa:block_mask --property P4
    python -m attncheck fuzz attncheck.adapters.torch_sdpa:per_document_is_causal --property P1
    python -m attncheck fuzz attncheck.adapters.torch_sdpa:packed_is_causal --property P5

Four ways a packed THD batch reaches SDPA, each forward and backward through
autograd in the storage dtype, enable_gqa=True, SDPA's default backend choice
(on the CPU: its flash kernel or the math path). SDPA returns no LSE
(lse=False).

`per_document`: packing expressed the right way: one SDPA call per document
on that document's rows [1, H, L, D], with the boolean attn_mask of the
contract's mask (True = attend; causal aligned bottom-right, windows,
chunks). Padding rows are never read. `per_document_math` and
`per_document_flash` force SDPA's math path and its CPU flash kernel. A row whose mask row is all False gets
0 from SDPA (torch >= 2.5).

`block_mask`: one SDPA call on the whole packed row [1, H, T, D] with the
block-diagonal boolean attn_mask of the documents from cu_seqlens (padding
rows see nothing and are seen by nothing); `block_mask_math` and
`block_mask_flash` force the backend.

`per_document_is_causal`: the per-document loop with is_causal=True instead
of a mask, the natural call for causal attention. SDPA documents is_causal as
the top-left aligned lower triangle, so a document with Lq != Lk gets the
top-left mask, not the bottom-right one of the contract (and of
flash_attn_varlen_func).

`packed_is_causal`: the natural call on a packed row described by position
ids only: SDPA(q, k, v, is_causal=True) over the whole row, the pattern of
the DeepSpeed #7887 thread. SDPA does what its documentation says (a lower
triangular mask over the row); the position ids never reach it.
"""
import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import attncheck

from . import _masks
from ._torch import heads_first as _tensor, thd as _thd


def _with_backward(forward):
    """Backward of an adapter: autograd through the same forward."""
    def backward(batch, dout):
        q, k, v = (_tensor(x, batch.dtype, True) for x in (batch.q, batch.k, batch.v))
        out = forward(batch, q, k, v)
        if out.requires_grad:
            out.backward(_tensor(dout, batch.dtype))
        grads = [x.grad if x.grad is not None else torch.zeros_like(x) for x in (q, k, v)]
        return tuple(_thd(g) for g in grads)
    return backward


def _adapter(forward, **caps):
    impl = attncheck.implementation(
        lambda batch: _thd(forward(batch, *(_tensor(x, batch.dtype)
                                            for x in (batch.q, batch.k, batch.v)))),
        lse=False, **caps)
    impl.backward(_with_backward(forward))
    return impl


def _per_document(batch, q, k, v, is_causal):
    out = torch.zeros(1, batch.num_heads_q, batch.total_q, batch.head_dim_v, dtype=q.dtype)
    sq = _masks.starts_q(batch)
    sk = _masks.starts_kv(batch)
    pieces = []
    for i in range(batch.num_seqs):
        lq, lk = int(batch.seqlens_q[i]), int(batch.seqlens_kv[i])
        if lq == 0 or lk == 0:
            continue
        qi, ki, vi = q[:, :, sq[i]:sq[i] + lq], k[:, :, sk[i]:sk[i] + lk], v[:, :, sk[i]:sk[i] + lk]
        if is_causal:
            o = F.scaled_dot_product_attention(qi, ki, vi, is_causal=True,
                                               scale=batch.softmax_scale, enable_gqa=True)
        else:
            mask = torch.from_numpy(_masks.visible(lq, lk, batch))
            o = F.scaled_dot_product_attention(qi, ki, vi, attn_mask=mask,
                                               scale=batch.softmax_scale, enable_gqa=True)
        pieces.append((sq[i], lq, o))
    if not pieces:
        return out
    rows = torch.cat([torch.arange(s, s + n) for s, n, _ in pieces])
    return out.index_copy(2, rows, torch.cat([o for _, _, o in pieces], dim=2))


def _block_mask(batch, q, k, v):
    if batch.total_q == 0 or batch.total_kv == 0:
        return torch.zeros(1, batch.num_heads_q, batch.total_q, batch.head_dim_v, dtype=q.dtype)
    mask = torch.from_numpy(_masks.dense(batch))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=batch.softmax_scale,
                                          enable_gqa=True)


def _packed_is_causal(batch, q, k, v):
    if batch.total_q == 0:
        return torch.zeros(1, batch.num_heads_q, 0, batch.head_dim_v, dtype=q.dtype)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=batch.softmax_scale,
                                          enable_gqa=True)


per_document = _adapter(lambda b, q, k, v: _per_document(b, q, k, v, False),
                        name="torch-sdpa-per-document",
                        description="torch SDPA per document, contract mask as bool attn_mask")


def _on(backend, forward):
    def run(batch, q, k, v):
        with sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext():
            return forward(batch, q, k, v)
    return run


# The same calls with the backend forced (SDPA's CPU choices): the math
# reference path and the CPU flash kernel.
per_document_math = _adapter(_on(SDPBackend.MATH,
                                 lambda b, q, k, v: _per_document(b, q, k, v, False)),
                             name="torch-sdpa-per-document-math",
                             description="torch SDPA per document, math backend")
per_document_flash = _adapter(_on(SDPBackend.FLASH_ATTENTION,
                                  lambda b, q, k, v: _per_document(b, q, k, v, False)),
                              dv_ne_d=False,  # "No available kernel" when Dv != D
                              name="torch-sdpa-per-document-flash",
                              description="torch SDPA per document, CPU flash backend")

block_mask = _adapter(_block_mask, batch_invariant=False, name="torch-sdpa-block-mask",
                      description="torch SDPA, one call, block-diagonal bool attn_mask")

block_mask_math = _adapter(_on(SDPBackend.MATH, _block_mask), batch_invariant=False,
                           name="torch-sdpa-block-mask-math",
                           description="torch SDPA, one call, block-diagonal mask, math backend")
block_mask_flash = _adapter(_on(SDPBackend.FLASH_ATTENTION, _block_mask), batch_invariant=False,
                            dv_ne_d=False, name="torch-sdpa-block-mask-flash",
                            description="torch SDPA, one call, block-diagonal mask, CPU flash")

per_document_is_causal = _adapter(lambda b, q, k, v: _per_document(b, q, k, v, True),
                                  non_causal=False, windows=False, chunked=False,
                                  name="torch-sdpa-per-document-is-causal",
                                  description="torch SDPA per document, is_causal=True")

packed_is_causal = _adapter(_packed_is_causal, packing="position_ids", non_causal=False,
                            windows=False, chunked=False, name="torch-sdpa-packed-is-causal",
                            description="torch SDPA is_causal=True on a packed row "
                                        "(position ids only)")
