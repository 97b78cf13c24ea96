"""A deliberately wrong implementation: the DeepSpeed #7887 pattern.

Given a packed row described by position ids only (no cu_seqlens, no mask),
it runs the mask of the call (causal, window, chunk) over the whole row as if
it were one sequence, the way scaled_dot_product_attention(is_causal=True)
does on a packed row: position ids reach the rotary embedding, but nothing
turns them into document boundaries, so every token attends to the documents
before it. attncheck's isolation property (P5) catches it and shrinks the
case to two one-token documents:

    python -m attncheck fuzz attncheck.examples.position_ids_only:attention --property P5

`fixed` is the same code with the mask built from the position ids (a new
document starts where the id is 0): it passes.
"""
import numpy as np

import attncheck


def _attend(batch, doc, pos):
    """Attention over the row with the call's mask; doc: document index of each
    row, pos: its position in that document."""
    q, k, v = (attncheck.as_float32(x).astype(np.float64) for x in (batch.q, batch.k, batch.v))
    t = q.shape[0]
    i = np.arange(t)[:, None]
    j = np.arange(t)[None, :]
    ok = doc[:, None] == doc[None, :]
    if batch.window_right >= 0:  # causal is window_right = 0
        ok &= j <= i + batch.window_right
    if batch.window_left >= 0:
        ok &= j >= i - batch.window_left
    if batch.chunk_size > 0:  # chunks count from the document's start
        ok &= pos[:, None] // batch.chunk_size == pos[None, :] // batch.chunk_size
    group = batch.num_heads_q // batch.num_heads_kv
    out = np.zeros((t, batch.num_heads_q, v.shape[2]))
    lse = np.full((batch.num_heads_q, t), -np.inf)
    for h in range(batch.num_heads_q):
        s = np.where(ok, batch.softmax_scale * (q[:, h] @ k[:, h // group].T), -np.inf)
        seen = ok.any(axis=1)
        m = np.where(seen, s.max(axis=1), 0.0)
        p = np.exp(s - m[:, None])
        total = np.where(seen, p.sum(axis=1), 1.0)
        out[:, h] = (p / total[:, None]) @ v[:, h // group]
        lse[h] = np.where(seen, m + np.log(total), -np.inf)
    return out.astype(np.float32), lse.astype(np.float32)


@attncheck.implementation(packing="position_ids", name="position-ids-only",
                          description="mask over the whole packed row (wrong: no document boundaries)")
def attention(batch):
    rows = np.arange(batch.q.shape[0])
    return _attend(batch, np.zeros_like(rows), rows)


@attncheck.implementation(packing="position_ids", name="position-ids-fixed",
                          description="document mask derived from the position ids")
def fixed(batch):
    return _attend(batch, np.cumsum(batch.position_ids == 0) - 1, batch.position_ids)
