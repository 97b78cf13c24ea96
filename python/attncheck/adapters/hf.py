"""Hugging Face transformers attention functions, called the way a decoder
layer calls them (transformers.models.llama.modeling_llama: LlamaModel builds
the mask with masking_utils.create_causal_mask, LlamaAttention calls the
function of the attention-function registry for config._attn_implementation
with query/key/value [B, H, S, D], the mask, dropout=0.0 and scaling).

    python -m attncheck fuzz attncheck.adapters.hf:sdpa_position_ids
    python -m attncheck fuzz attncheck.adapters.hf:eager_position_ids
    python -m attncheck fuzz attncheck.adapters.hf:sdpa_padded
    python -m attncheck fuzz attncheck.adapters.hf:flex_position_ids --cases 5

`*_position_ids`: one packed row, position ids that restart at 0 for each
document and no attention mask (the packed-training call: DataCollatorWith
Flattening gives exactly these). create_causal_mask(config, inputs_embeds,
attention_mask=None, cache=None, position_ids=ids) finds the documents from
the ids and builds their block-diagonal causal mask.

`sdpa_padded`: the padded [B, S] layout, one document per row (right
padding), the 2D attention_mask (1 = token) and position ids 0..L-1.

Causal self-attention only (create_causal_mask's domain); no LSE (the
functions return none). Forward and backward through autograd for sdpa and
eager; flex_attention is forward only on the CPU, and transformers compiles
it (torch.compile), which takes seconds per new shape.
"""
import numpy as np
import torch
from transformers import PretrainedConfig
from transformers.masking_utils import create_causal_mask
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.llama.modeling_llama import eager_attention_forward

import attncheck

from ._torch import DTYPES as _DTYPES, heads_first as _heads_first


class _Layer(torch.nn.Module):
    """What the attention functions read from the attention layer."""

    def __init__(self, config, groups):
        super().__init__()
        self.config = config
        self.is_causal = True
        self.num_key_value_groups = groups
        self.train(False)


def _function(name):
    return eager_attention_forward if name == "eager" else ALL_ATTENTION_FUNCTIONS[name]


def _call(name, batch, q, k, v, position_ids, attention_mask):
    config = PretrainedConfig()
    config._attn_implementation = name
    bsz, seq = q.shape[0], q.shape[2]
    embeds = torch.empty(bsz, seq, 1, dtype=q.dtype)  # read for batch size, length, dtype
    mask = create_causal_mask(config=config, inputs_embeds=embeds, attention_mask=attention_mask,
                              cache=None, position_ids=position_ids)
    layer = _Layer(config, batch.num_heads_q // batch.num_heads_kv)
    out, _ = _function(name)(layer, q, k, v, mask, dropout=0.0, scaling=batch.softmax_scale)
    return out  # [B, S, H, Dv]


def _position_ids(name, batch, grad):
    q, k, v = (_heads_first(x, batch.dtype, grad) for x in (batch.q, batch.k, batch.v))
    if batch.total_q == 0:
        return q, k, v, torch.zeros(1, 0, batch.num_heads_q, batch.head_dim_v, dtype=q.dtype)
    ids = torch.from_numpy(np.asarray(batch.position_ids, dtype=np.int64))[None, :]
    return q, k, v, _call(name, batch, q, k, v, ids, None)


def _padded(batch, grad):
    q, k, v = (_heads_first(x, batch.dtype, grad) for x in (batch.q, batch.k, batch.v))
    if q.shape[0] == 0 or q.shape[2] == 0:
        return q, k, v, torch.zeros(q.shape[0], q.shape[2], batch.num_heads_q, batch.head_dim_v,
                                    dtype=q.dtype)
    mask2d = torch.from_numpy(np.asarray(batch.kv_mask)).to(torch.int64)
    ids = torch.arange(q.shape[2])[None, :].expand(q.shape[0], -1)
    return q, k, v, _call("sdpa", batch, q, k, v, ids, mask2d)


def _numpy(out, one_row):
    o = out.detach().float()
    return (o[0] if one_row else o).contiguous().numpy()


def _grads(q, k, v, out, dout, dtype, one_row):
    d = torch.from_numpy(attncheck.as_float32(dout)).to(_DTYPES[dtype])
    if one_row:
        d = d.unsqueeze(0)
    if out.requires_grad:
        out.backward(d)
    result = []
    for x in (q, k, v):
        g = x.grad if x.grad is not None else torch.zeros_like(x)
        g = g.transpose(1, 2).float()
        result.append((g[0] if one_row else g).contiguous().numpy())
    return tuple(result)


def _position_ids_adapter(name, backward=True, **caps):
    impl = attncheck.implementation(
        lambda batch: _numpy(_position_ids(name, batch, False)[3], True),
        packing="position_ids", non_causal=False, windows=False, chunked=False, lse=False,
        name="hf-%s-position-ids" % name,
        description="transformers %r attention, packed row, position_ids, no mask" % name, **caps)
    if backward:
        @impl.backward
        def _backward(batch, dout):
            q, k, v, out = _position_ids(name, batch, True)
            return _grads(q, k, v, out, dout, batch.dtype, True)
    return impl


# One call over the whole packed row: a document's bits depend on where it
# sits (measured: P13 bitwise fails by one float32 ulp for sdpa and for
# eager's matmuls), so batch invariance is not claimed.
sdpa_position_ids = _position_ids_adapter("sdpa", batch_invariant=False)
eager_position_ids = _position_ids_adapter("eager", batch_invariant=False)
flex_position_ids = _position_ids_adapter("flex_attention", backward=False, batch_invariant=False)


@attncheck.implementation(packing="bshd", non_causal=False, windows=False, chunked=False,
                          lq_ne_lk=False, lse=False, batch_invariant=False, name="hf-sdpa-padded",
                          description="transformers 'sdpa' attention, padded rows, 2D attention_mask")
def sdpa_padded(batch):
    return _numpy(_padded(batch, False)[3], False)


@sdpa_padded.backward
def sdpa_padded_backward(batch, dout):
    q, k, v, out = _padded(batch, True)
    return _grads(q, k, v, out, dout, batch.dtype, False)
