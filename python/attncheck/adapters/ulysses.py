"""Ulysses sequence parallelism around the transformers 'sdpa' attention
function, the structure of DeepSpeed's UlyssesSPAttentionHF (the DeepSpeed
#7887 thread): the packed row is split into cp contiguous shards, one per
rank; an all-to-all turns [T/cp tokens, all heads] into [all T tokens, H/cp
heads] on each rank; each rank runs the attention function with the mask that
masking_utils.create_causal_mask builds from position ids; a second
all-to-all returns the output to the sequence shards. The cp ranks run one
after another in this process and the all-to-alls are the concatenations they
compute, so the arithmetic is what the ranks would do.

    python -m attncheck fuzz attncheck.adapters.ulysses:global_ids --property P8
    python -m attncheck fuzz attncheck.adapters.ulysses:ids_after_shard --property P8

`global_ids`: the position ids of the whole row are made before sharding and
each rank all-gathers them with the tokens (what DeepSpeed requires since the
thread: position ids are an input of the sharded batch).

`ids_after_shard`: each rank makes the position ids of its own shard
(0..T/cp-1, what a model makes when none are passed, or a collator run after
sharding), and the all-gathered ids are those. The mask then puts a document
boundary at every shard boundary and none at the real ones.

Both cp = 2, causal self-attention, forward and backward (autograd through
the shards), Hq divisible by cp, Hkv divisible by cp or dividing it
(replicated), as DeepSpeed's Ulysses requires.
"""
import numpy as np
import torch

import attncheck

from . import hf

CP = 2


def _refuses(batch):
    if batch.num_heads_q % CP:
        return "Ulysses splits the %d query heads over cp=%d ranks" % (batch.num_heads_q, CP)
    if batch.num_heads_kv % CP and CP % batch.num_heads_kv:
        return ("Ulysses splits (or replicates) the %d kv heads over cp=%d ranks"
                % (batch.num_heads_kv, CP))
    return None


def _shards(total):
    step = -(-total // CP)
    return [(r * step, min(total, (r + 1) * step)) for r in range(CP)]


def _ulysses(batch, q, k, v, ids):
    """q [1, Hq, T, D] etc. -> out [1, T, Hq, Dv]."""
    hq, hkv = batch.num_heads_q, batch.num_heads_kv
    group = hq // hkv
    per_rank = hq // CP
    outs = []
    for r in range(CP):
        heads = list(range(r * per_rank, (r + 1) * per_rank))
        # The kv heads these query heads read (replicated when Hkv < cp).
        kv_heads = sorted({h // group for h in heads})
        qr = q[:, heads]
        kr, vr = k[:, kv_heads], v[:, kv_heads]
        local = _Local(batch, len(heads), len(kv_heads))
        outs.append(hf._call("sdpa", local, qr, kr, vr, ids, None))  # [1, T, per_rank, Dv]
    return torch.cat(outs, dim=2)


class _Local:
    """The batch as one rank sees it after the all-to-all."""

    def __init__(self, batch, hq, hkv):
        self.num_heads_q, self.num_heads_kv = hq, hkv
        self.softmax_scale = batch.softmax_scale


def _ids(batch, after_shard):
    ids = np.asarray(batch.position_ids, dtype=np.int64)
    if after_shard:
        ids = np.concatenate([np.arange(e - s) for s, e in _shards(len(ids))]).astype(np.int64)
    return torch.from_numpy(ids)[None, :]


def _run(batch, after_shard, grad):
    q, k, v = (hf._heads_first(x, batch.dtype, grad) for x in (batch.q, batch.k, batch.v))
    if batch.total_q == 0:
        return q, k, v, torch.zeros(1, 0, batch.num_heads_q, batch.head_dim_v, dtype=q.dtype)
    return q, k, v, _ulysses(batch, q, k, v, _ids(batch, after_shard))


def _adapter(after_shard, name, description):
    impl = attncheck.implementation(
        lambda batch: hf._numpy(_run(batch, after_shard, False)[3], True),
        packing="position_ids", non_causal=False, windows=False, chunked=False, lse=False,
        batch_invariant=False, cp=CP, refuses=_refuses, name=name, description=description)

    @impl.backward
    def _backward(batch, dout):
        q, k, v, out = _run(batch, after_shard, True)
        return hf._grads(q, k, v, out, dout, batch.dtype, True)
    return impl


global_ids = _adapter(False, "ulysses-cp2-hf-sdpa-global-ids",
                      "Ulysses cp=2 over transformers sdpa, position ids made before sharding")
ids_after_shard = _adapter(True, "ulysses-cp2-hf-sdpa-ids-after-shard",
                           "Ulysses cp=2 over transformers sdpa, position ids made per shard")
