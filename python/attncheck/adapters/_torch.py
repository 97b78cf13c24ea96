"""numpy <-> torch for the torch-based adapters (torch_sdpa, flex, hf)."""
import torch

import attncheck

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def heads_first(x, dtype, grad=False):
    """[T, H, D] (one packed row) or [B, S, H, D] numpy in the storage dtype ->
    [1 or B, H, T or S, D] torch tensor in `dtype`."""
    t = torch.from_numpy(attncheck.as_float32(x)).to(DTYPES[dtype])
    if t.dim() == 3:
        t = t.unsqueeze(0)
    return t.transpose(1, 2).contiguous().requires_grad_(grad)


def thd(t):
    """[1, H, T, W] -> [T, H, W] float32 numpy."""
    return t.detach()[0].permute(1, 0, 2).float().contiguous().numpy()
