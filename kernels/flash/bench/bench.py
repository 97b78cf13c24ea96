#!/usr/bin/env python3
"""Times kernels/flash on a GPU (flash-bench-cuda: the simple kernels and the
tensor-core ones, flash-tc) and, when PyTorch is installed,
torch.nn.functional.scaled_dot_product_attention with its flash backend on
the same shapes in the same run; prints TFLOP/s and the ratio kernel / SDPA.

    python3 kernels/flash/bench/bench.py --binary build/default/bin/flash-bench-cuda

FLOP count (flash-attention's): forward 4*B*S^2*H*D, halved when causal;
backward 2.5 x forward.
"""
import argparse
import csv
import io
import subprocess
import sys


def sdpa_ms(batch, seqlen, heads, dim, causal, reps):
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.randn(batch, heads, seqlen, dim, device="cuda", dtype=torch.bfloat16,
                           requires_grad=True) for _ in range(3))
    do = torch.randn_like(q)

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run_fwd():
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def timed(fn):
        fn()
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        torch.cuda.synchronize()
        return a.elapsed_time(b) / reps

    fwd = timed(run_fwd)
    out = run_fwd()
    bwd = timed(lambda: torch.autograd.grad(out, (q, k, v), do, retain_graph=True))
    return fwd, bwd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="path of flash-bench-cuda")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("extra", nargs="*", help="further flash-bench options")
    args = ap.parse_args()
    res = subprocess.run([args.binary, "--csv", "--reps", str(args.reps), *args.extra],
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        sys.exit(res.returncode)
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    try:
        import torch  # noqa: F401
        have_torch = torch.cuda.is_available()
    except ImportError:
        have_torch = False
    print(f"{'kernel':>6} {'seqlen':>6} {'dim':>4} {'causal':>6} {'fwd TF/s':>9} {'bwd TF/s':>9}"
          + (f" {'sdpa fwd':>9} {'sdpa bwd':>9} {'fwd x':>6} {'bwd x':>6}" if have_torch else ""))
    sdpa = {}
    for r in rows:
        s, d, c, b, h = (int(r[x]) for x in ("seqlen", "dim", "causal", "batch", "heads"))
        line = (f"{r['kernel']:>6} {s:6d} {d:4d} {c:6d} {float(r['fwd_tflops']):9.3f} "
                f"{float(r['bwd_tflops']):9.3f}")
        if have_torch:
            if (b, s, h, d, c) not in sdpa:
                sdpa[(b, s, h, d, c)] = sdpa_ms(b, s, h, d, bool(c), args.reps)
            fwd, bwd = sdpa[(b, s, h, d, c)]
            flops = 4.0 * b * s * s * h * d / (2.0 if c else 1.0)
            sf, sb = flops / (fwd * 1e-3) * 1e-12, 2.5 * flops / (bwd * 1e-3) * 1e-12
            line += f" {sf:9.3f} {sb:9.3f} {float(r['fwd_tflops']) / sf:6.2f} {float(r['bwd_tflops']) / sb:6.2f}"
        print(line)
    if not have_torch:
        print("(PyTorch with CUDA not found: SDPA columns omitted)")


if __name__ == "__main__":
    main()
