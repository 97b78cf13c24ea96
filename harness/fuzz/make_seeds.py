#!/usr/bin/python3
"""Write the seed corpora of fuzz_batch and fuzz_packing (harness/fuzz/README.md).

Usage: make_seeds.py [CORPUS_DIR]      (default: harness/fuzz/corpus/)

Each seed is a hand-made input in the byte encoding the target documents at
the top of its source (ByteReader, harness/fuzz/fuzz_input.hpp): valid batches
and conversions of several shapes and the typical malformed ones. The
fuzz_casefile seeds are case files copied from golden/ and
harness/tests/bad_cases/ (see the README); this script does not touch them.
Writes are reproducible: the same script gives the same bytes.
"""
import os
import struct
import sys

RAW = 0xFF


def pick(v, lo):
    """Byte(s) that ByteReader.pick(lo, hi) decodes to v (raw int32 when out of range)."""
    b = v - lo
    if 0 <= b < RAW:
        return bytes([b])
    return bytes([RAW]) + struct.pack("<i", v)


def u16(v):
    return struct.pack("<H", v)


# ---------------------------------------------------------------- fuzz_batch --

def batch(hq=2, hkv=1, d=8, dv=8, causal=False, dtype=0, ids=None, q_padded=None,
          kv_padded=None, self_attn=True, inputs=None, wl=-1, wr=-1, chunk=0, scale=0,
          cu_q=(0,), cu_kv=None, q_mode="len", kv_mode="len", total_q_extra=0,
          total_kv_extra=0):
    """ids: None or (size_delta, mode, payload bytes); padded: (size_delta, mode, entries)."""
    out = pick(hq, -1) + pick(hkv, -1) + pick(d, -1) + pick(dv, -1)
    flags = (1 if causal else 0) | (dtype << 1)
    flags |= 8 if ids is not None else 0
    flags |= 16 if q_padded is not None else 0
    flags |= 32 if kv_padded is not None else 0
    flags |= 64 if self_attn else 0
    flags |= 128 if inputs is not None else 0
    out += bytes([flags]) + pick(wl, -3) + pick(wr, -3) + pick(chunk, -2)
    out += scale if isinstance(scale, bytes) else bytes([scale])

    def offsets(cu, mode):
        o = bytes([len(cu), 1 if mode == "len" else 0])
        if mode == "len":
            for i in range(1, len(cu)):
                o += pick(cu[i] - cu[i - 1], -2)
        else:
            for v in cu:
                o += pick(v, -2)
        return o

    def padded(p, actual):
        delta, mode, entries = p
        o = pick(delta, -2) + bytes([1 if mode == "len" else 0])
        if mode == "len":  # entries: the extra rows of each slot
            for extra in entries:
                o += pick(extra, -2)
        else:
            for v in entries:
                o += pick(v, -2)
        return o

    out += offsets(cu_q, q_mode)
    if not self_attn:
        out += offsets(cu_kv, kv_mode)
    if q_padded is not None:
        out += padded(q_padded, cu_q)
    if kv_padded is not None and not (self_attn and q_padded is not None):
        out += padded(kv_padded, cu_kv if cu_kv is not None else cu_q)
    out += pick(total_q_extra, -2)
    if not (self_attn and (q_padded is None) == (kv_padded is None)):
        out += pick(total_kv_extra, -2)
    if ids is not None:
        delta, mode, payload = ids
        out += pick(delta, -2) + bytes([mode]) + payload
    if inputs is not None:
        mode, q_delta, floats = inputs
        out += bytes([mode]) + pick(q_delta, -1)
        if mode == 1:
            out += bytes([len(floats) - 1]) + b"".join(struct.pack("<f", f) for f in floats)
    return out


def batch_seeds():
    s = {}
    s["self_causal_gqa_ids"] = batch(hq=4, hkv=2, causal=True, cu_q=(0, 3, 8, 8, 10),
                                     ids=(0, 0, b""), inputs=(0, 0, []))
    s["cross_tail_padding"] = batch(self_attn=False, cu_q=(0, 2, 5), cu_kv=(0, 4, 5),
                                    total_q_extra=2, total_kv_extra=3, inputs=(0, 0, []))
    s["padded_q_kv"] = batch(self_attn=False, hq=2, hkv=2, d=16, dv=4, cu_q=(0, 3, 7),
                             cu_kv=(0, 5, 9), q_padded=(0, "len", [1, 1]),
                             kv_padded=(0, "len", [0, 1]), total_kv_extra=0, inputs=(0, 0, []))
    s["self_padded_ids_bf16"] = batch(dtype=1, cu_q=(0, 5, 6, 13), q_padded=(0, "len", [3, 0, 2]),
                                      kv_padded=(0, "len", []), ids=(0, 0, b""),
                                      inputs=(1, 0, [0.5, -1.0, 2.0, 0.0]))
    s["window_chunk_f16"] = batch(dtype=2, wl=3, wr=2, chunk=4, cu_q=(0, 9, 17),
                                  inputs=(1, 0, [0.25, 1.5]))
    s["zero_length_docs"] = batch(self_attn=False, cu_q=(0, 0, 4, 4, 4), cu_kv=(0, 3, 3, 3, 7),
                                  total_q_extra=1)
    s["many_docs"] = batch(cu_q=tuple(range(0, 2 * 64 + 1, 2)), ids=(0, 0, b""))
    s["no_docs"] = batch(cu_q=(0,))
    s["huge_total"] = batch(cu_q=(0, 4, 6), total_q_extra=2**31 - 1 - 6)
    s["lq_ne_lk_cp"] = batch(self_attn=False, causal=True, cu_q=(0, 5, 8), cu_kv=(0, 6, 8),
                             ids=(0, 0, b""))
    # Invalid descriptions.
    s["gqa_3_over_2"] = batch(hq=3, hkv=2, cu_q=(0, 2))
    s["heads_zero"] = batch(hq=0, cu_q=(0, 2))
    s["cu_decreasing"] = batch(cu_q=(0, 3, 2), q_mode="abs")
    s["cu_starts_at_1"] = batch(cu_q=(1, 3), q_mode="abs")
    s["cu_empty"] = batch(cu_q=())
    s["cu_beyond_total"] = batch(cu_q=(0, 3, 6), total_q_extra=-2)
    s["cu_int32_wrap"] = batch(cu_q=(0, 2**31 - 2, 2**31 + 2))
    s["padded_overlap"] = batch(cu_q=(0, 3, 7), q_padded=(0, "abs", [0, 2, 8]),
                                kv_padded=(0, "abs", []))
    s["padded_short"] = batch(self_attn=False, cu_q=(0, 3), cu_kv=(0, 3),
                              q_padded=(-1, "len", []), total_kv_extra=0)
    s["kv_count_mismatch"] = batch(self_attn=False, cu_q=(0, 2, 4), cu_kv=(0, 4))
    s["causal_right_3"] = batch(causal=True, wr=3, cu_q=(0, 2))
    s["window_left_minus2"] = batch(wl=-2, cu_q=(0, 2))
    s["chunk_negative"] = batch(chunk=-1, cu_q=(0, 2))
    s["scale_nan"] = batch(scale=3, cu_q=(0, 2))
    s["scale_raw_negative"] = batch(scale=bytes([5]) + struct.pack("<d", -0.5), cu_q=(0, 2))
    s["ids_edited"] = batch(cu_q=(0, 3, 5), ids=(0, 1, bytes([2]) + u16(1) + pick(2, -2)
                                                + u16(3) + pick(-1, -2)))
    s["ids_raw"] = batch(cu_q=(0, 2, 3), ids=(0, 2, pick(0, -2) + pick(1, -2) + pick(0, -2)))
    s["ids_short"] = batch(cu_q=(0, 3), ids=(-1, 0, b""))
    s["inputs_nan_real"] = batch(cu_q=(0, 2), inputs=(1, 0, [float("nan")]))
    s["inputs_q_short"] = batch(cu_q=(0, 2), inputs=(0, -1, []))
    s["inputs_not_bf16"] = batch(dtype=1, cu_q=(0, 2), inputs=(1, 0, [1.0 + 2**-12]))
    return s


# -------------------------------------------------------------- fuzz_packing --

def packing_seeds():
    s = {}
    # 0: position ids
    s["ids_docs"] = bytes([0, 0]) + u16(8) + pick(3, 0) + pick(1, 0) + pick(4, 0)
    s["ids_single_token_docs"] = bytes([0, 0]) + u16(4) + pick(1, 0) * 4
    s["ids_gap"] = bytes([0, 1]) + u16(6) + pick(6, 0) + bytes([1]) + u16(3) + pick(4, -3)
    s["ids_negative"] = bytes([0, 1]) + u16(5) + pick(5, 0) + bytes([1]) + u16(2) + pick(-1, -3)
    s["ids_first_not_zero"] = bytes([0, 2]) + u16(3) + pick(1, -3) + pick(2, -3) + pick(0, -3)
    s["ids_raw"] = bytes([0, 2]) + u16(6) + b"".join(pick(v, -3) for v in (0, 1, 2, 0, 0, 1))
    s["ids_missing"] = bytes([0, 3]) + u16(0)
    s["ids_empty"] = bytes([0, 0]) + u16(0)
    # 1: ids + validity flags
    def pairs(*ps):
        return b"".join(pick(a, 0) + pick(b, 0) for a, b in ps)
    s["valid_between_and_tail"] = bytes([1, 0]) + u16(12) + pick(0, -1) + pairs((3, 1), (4, 2), (2, 0))
    s["valid_leading_padding"] = bytes([1, 0]) + u16(7) + pick(0, -1) + pairs((0, 2), (3, 0), (2, 0))
    s["valid_no_padding"] = bytes([1, 0]) + u16(6) + pick(0, -1) + pairs((2, 0), (4, 0))
    s["valid_all_padding"] = bytes([1, 0]) + u16(4) + pick(0, -1) + pairs((0, 4))
    s["valid_id_after_padding"] = (bytes([1, 1]) + u16(6) + pick(0, -1) + pairs((2, 1), (3, 0))
                                   + bytes([1]) + u16(3) + bytes([1]) + pick(1, -3))
    s["valid_flag_2"] = (bytes([1, 1]) + u16(4) + pick(0, -1) + pairs((4, 0))
                         + bytes([1]) + u16(2) + bytes([0, 2]))
    s["valid_raw"] = bytes([1, 2]) + u16(5) + pick(0, -1) + b"".join(
        bytes([f]) + pick(v, -3) for f, v in ((1, 0), (1, 1), (0, 9), (1, 0), (0, -3)))
    s["valid_size_mismatch"] = bytes([1, 0]) + u16(3) + pick(1, -1) + pairs((3, 0))
    # 2: padded [B, S] mask
    def mask(b, sl, delta, mode, tail):
        return bytes([2]) + pick(b, -1) + pick(sl, -1) + pick(delta, -2) + bytes([mode]) + tail
    s["mask_3x4"] = mask(3, 4, 0, 0, pick(2, 0) + pick(0, 0) + pick(3, 0))
    s["mask_full_rows"] = mask(2, 3, 0, 0, pick(3, 0) + pick(3, 0))
    s["mask_hole"] = mask(2, 4, 0, 1, pick(2, 0) + pick(4, 0) + bytes([1]) + u16(3) + pick(1, -1))
    s["mask_value_2"] = mask(1, 3, 0, 1, pick(3, 0) + bytes([1]) + u16(1) + pick(2, -1))
    s["mask_zero_columns"] = mask(2, 0, 0, 0, b"")
    s["mask_zero_rows"] = mask(0, 5, 0, 0, b"")
    s["mask_raw"] = mask(2, 2, 0, 2, b"".join(pick(v, -1) for v in (1, 0, 1, 1)))
    s["mask_wrong_size"] = mask(2, 3, 1, 0, pick(1, 0) + pick(2, 0))
    s["mask_negative_batch"] = mask(-1, 3, 0, 0, b"")
    # 3: EOS tokens
    def eos(e, toks):
        return bytes([3]) + pick(e, -2) + u16(len(toks)) + b"".join(pick(t, -2) for t in toks)
    s["eos_docs"] = eos(2, (5, 2, 6, 6, 2, 8))
    s["eos_trailing"] = eos(0, (1, 0, 0, 3, 0))
    s["eos_none"] = eos(7, (1, 2, 3))
    s["eos_negative_token"] = eos(2, (1, -1, 2))
    s["eos_negative_id"] = eos(-1, (1, 2))
    s["eos_empty"] = eos(1, ())
    # 4: position_ids_for on a given segmentation
    def seg(cu, padded, total):
        out = bytes([4, len(cu)]) + b"".join(pick(v, -2) for v in cu)
        if padded is None:
            out += bytes([0])
        else:
            out += bytes([1]) + pick(len(padded) - len(cu), -2) + b"".join(pick(v, -2) for v in padded)
        return out + bytes([0]) + u16(total)
    s["seg_unpadded"] = seg((0, 3, 4, 6), None, 6)
    s["seg_padded"] = seg((0, 2, 2, 5), (0, 4, 8, 12), 12)
    s["seg_tail_padding"] = seg((0, 3), None, 5)
    s["seg_outside"] = seg((0, 3, 5), None, 4)
    s["seg_zero_docs"] = seg((0,), None, 2)
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    for target, seeds in (("fuzz_batch", batch_seeds()), ("fuzz_packing", packing_seeds())):
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
