"""The contract's mask of a THD batch, built from the batch's own fields with
numpy: the adapters hand it to the libraries in their own mask formats."""
import numpy as np

from attncheck.examples import numpy_attention


def _desc(batch):
    return {"causal": batch.causal, "window_left": batch.window_left,
            "window_right": batch.window_right, "chunk_size": batch.chunk_size}


def visible(lq, lk, batch):
    """[lq, lk] bool of one document: may its query i see its key j? (causal
    and windows aligned bottom-right, chunks counted from the document start)"""
    return numpy_attention.visible(lq, lk, _desc(batch))


def starts_q(batch):
    """First row of each document in the q buffer."""
    return batch.cu_seqlens_q if batch.cu_seqlens_q_padded is None else batch.cu_seqlens_q_padded


def starts_kv(batch):
    return batch.cu_seqlens_kv if batch.cu_seqlens_kv_padded is None else batch.cu_seqlens_kv_padded


def rows(batch):
    """Per row of q and of kv: document index (-1 for padding) and position in
    the document."""
    def side(start, lens, total):
        doc = np.full(total, -1, dtype=np.int64)
        pos = np.zeros(total, dtype=np.int64)
        for i, n in enumerate(lens):
            n = int(n)
            doc[start[i]:start[i] + n] = i
            pos[start[i]:start[i] + n] = np.arange(n)
        return doc, pos
    dq, pq = side(starts_q(batch), batch.seqlens_q, batch.total_q)
    dk, pk = side(starts_kv(batch), batch.seqlens_kv, batch.total_kv)
    return dq, pq, dk, pk


def dense(batch):
    """Block-diagonal [total_q, total_kv] mask of the batch (padding rows see
    nothing and are seen by nothing)."""
    m = np.zeros((batch.total_q, batch.total_kv), dtype=bool)
    sq, sk = starts_q(batch), starts_kv(batch)
    for i in range(batch.num_seqs):
        lq, lk = int(batch.seqlens_q[i]), int(batch.seqlens_kv[i])
        if lq and lk:
            m[sq[i]:sq[i] + lq, sk[i]:sk[i] + lk] = visible(lq, lk, batch)
    return m
