"""torch.nn.attention.flex_attention.flex_attention, eager, on the CPU.

    python -m attncheck fuzz attncheck.adapters.flex:document_mask

The packed row [1, H, T, D] with a BlockMask from create_block_mask whose
mask_mod is the document mask of the batch (document ids per row, padding
rows in no document) combined with the call's causal / sliding-window /
chunked mask, each counted from the document's start and aligned
bottom-right when Lq != Lk, as the flex_attention documentation builds
document masks. return_lse=True gives the LSE (natural log). Forward only:
flex_attention has no backward on the CPU (NotImplementedError).
"""
import numpy as np
import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

import attncheck

from . import _masks

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _tensor(x, dtype):
    t = torch.from_numpy(attncheck.as_float32(x)).to(_DTYPES[dtype])
    return t.permute(1, 0, 2).unsqueeze(0).contiguous()


def _mask_mod(batch):
    dq, pq, dk, pk = (torch.from_numpy(a) for a in _masks.rows(batch))
    # Bottom-right alignment: query i of a document sits at key i + (Lk - Lq).
    shift = torch.from_numpy(np.asarray(batch.seqlens_kv, dtype=np.int64)
                             - np.asarray(batch.seqlens_q, dtype=np.int64))
    dq_safe = dq.clamp(min=0)
    left, right, chunk = batch.window_left, batch.window_right, batch.chunk_size

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


@attncheck.implementation(name="flex-document-mask",
                          description="flex_attention (eager, CPU) with a document BlockMask")
def document_mask(batch):
    q, k, v = (_tensor(x, batch.dtype) for x in (batch.q, batch.k, batch.v))
    bm = create_block_mask(_mask_mod(batch), B=None, H=None, Q_LEN=batch.total_q,
                           KV_LEN=batch.total_kv, device="cpu")
    out, lse = flex_attention(q, k, v, block_mask=bm, scale=batch.softmax_scale,
                              enable_gqa=True, return_lse=True)
    return (out.detach()[0].permute(1, 0, 2).float().numpy(),
            lse.detach()[0].float().numpy())
