"""torch.nn.attention.flex_attention.flex_attention, eager, on the CPU.

    python -m attncheck fuzz attncheck.adapters.flex:document_mask
    python -m attncheck fuzz attncheck.adapters.flex:torchtitan_chunked --property P1

`document_mask`: the packed row [1, H, T, D] with a BlockMask from
create_block_mask whose mask_mod is the document mask of the batch (document
ids per row, padding rows in no document) and the call's causal /
sliding-window / chunked mask, positions counted from the document's start
and aligned bottom-right when Lq != Lk, as the flex_attention documentation
builds document masks. return_lse=True gives the LSE (natural log).

`torchtitan_chunked`: the mask TorchTitan builds for a packed batch of token
ids (torchtitan/models/attention.py: get_causal_mask_mod,
get_document_mask_mod(batch, eos_id), get_fixed_block_mask_mod, joined with
and_masks, for Llama 4's chunked-attention layers): causal, the same
EOS-delimited document, and the same fixed block of `chunk_size` rows, where
the blocks are counted over the packed row (q_idx // size == kv_idx // size),
not from each document's start.

Both are forward only: flex_attention has no backward on the CPU
(NotImplementedError "does not support backward on CPU").
"""
import numpy as np
import torch
from torch.nn.attention.flex_attention import and_masks, create_block_mask, flex_attention

import attncheck

from . import _masks
from ._torch import heads_first as _tensor, thd as _thd


def _contract_mask_mod(batch):
    dq, pq, dk, pk = (torch.from_numpy(a) for a in _masks.rows(batch))
    # Bottom-right alignment: query i of a document sits at key i + (Lk - Lq).
    shift = torch.from_numpy(np.asarray(batch.seqlens_kv, dtype=np.int64)
                             - np.asarray(batch.seqlens_q, dtype=np.int64))
    dq_safe = dq.clamp(min=0)
    left, chunk = batch.window_left, batch.chunk_size
    right = 0 if batch.causal else batch.window_right

    def mask_mod(b, h, qi, ki):
        pos = pq[qi] + shift[dq_safe[qi]]
        ok = (dq[qi] >= 0) & (dq[qi] == dk[ki])
        if right >= 0:
            ok = ok & (pk[ki] <= pos + right)
        if left >= 0:
            ok = ok & (pk[ki] >= pos - left)
        if chunk > 0:
            ok = ok & (torch.div(pk[ki], chunk, rounding_mode="floor")
                       == torch.div(pos, chunk, rounding_mode="floor"))
        return ok
    return mask_mod


def _run(batch, mask_mod, q_len, kv_len):
    q, k, v = (_tensor(x, batch.dtype) for x in (batch.q, batch.k, batch.v))
    if q_len == 0 or kv_len == 0:
        return (np.zeros((q_len, batch.num_heads_q, batch.head_dim_v), np.float32),
                np.full((batch.num_heads_q, q_len), -np.inf, np.float32))
    bm = create_block_mask(mask_mod, B=None, H=None, Q_LEN=q_len, KV_LEN=kv_len, device="cpu")
    out, lse = flex_attention(q, k, v, block_mask=bm, scale=batch.softmax_scale,
                              enable_gqa=True, return_lse=True)
    return _thd(out), lse.detach()[0].float().numpy()


@attncheck.implementation(batch_invariant=False, name="flex-document-mask",
                          description="flex_attention (eager, CPU) with a document BlockMask")
def document_mask(batch):
    return _run(batch, _contract_mask_mod(batch), batch.total_q, batch.total_kv)


def _torchtitan_mask_mod(tokens, eos_id, chunk):
    # Document index per row: EOS ends a document; the row's last token closes
    # the last one (TorchTitan's get_document_mask_mod).
    eos = torch.from_numpy(np.asarray(tokens) == eos_id)[None, :]
    eos[:, -1] = True
    ends = torch.cumsum(eos.to(torch.int32), dim=1)
    doc = torch.zeros_like(ends)
    doc[:, 1:] = ends[:, :-1]

    def causal(b, h, qi, ki):
        return qi >= ki

    def same_document(b, h, qi, ki):
        return doc[b, qi] == doc[b, ki]

    def same_block(b, h, qi, ki):
        return (qi // chunk) == (ki // chunk)

    mods = [causal, same_document] + ([same_block] if chunk > 0 else [])
    return and_masks(*mods)


@attncheck.implementation(packing="eos", non_causal=False, windows=False, batch_invariant=False,
                          name="flex-torchtitan-chunked",
                          description="flex_attention with TorchTitan's causal & document(EOS) "
                                      "& fixed-block mask")
def torchtitan_chunked(batch):
    if batch.total_q == 0:
        return _run(batch, None, 0, 0)
    mod = _torchtitan_mask_mod(batch.tokens, batch.eos_id, batch.chunk_size)
    return _run(batch, mod, batch.total_q, batch.total_kv)
