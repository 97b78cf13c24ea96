"""The findings of README "Real libraries" as regression tests: each committed
counterexample (python/tests/libs/*.h5, the shrunk case a campaign saved)
still fails on the adapter it was found with, with the property's diagnosis,
and passes on the corrected usage of the same library.

Needs the venv of ci/libs.sh (torch, transformers, jax); run by
`bash ci/libs-test.sh`.
"""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "libs")

# case file, adapter it fails on, a substring of the failure, corrected adapter
FINDINGS = [
    ("sdpa-packed-is-causal-P5.h5", "torch_sdpa:packed_is_causal",
     "changed when the other documents did", "torch_sdpa:per_document"),
    ("sdpa-packed-is-causal-P5.h5", "torch_sdpa:packed_is_causal",
     "changed when the other documents did", "hf:sdpa_position_ids"),
    ("sdpa-per-document-is-causal-P1.h5", "torch_sdpa:per_document_is_causal",
     "exceeds its bound", "torch_sdpa:per_document"),
    ("sdpa-block-mask-P4.h5", "torch_sdpa:block_mask",
     "poisoned padding rows changed a real output", "torch_sdpa:per_document"),
    ("sdpa-block-mask-flash-P2.h5", "torch_sdpa:block_mask_flash", "exceeds its bound",
     "torch_sdpa:per_document_math"),
    ("hf-sdpa-padded-P2.h5", "hf:sdpa_padded", "exceeds its bound", "torch_sdpa:per_document"),
    ("flex-torchtitan-chunked-P1.h5", "flex:torchtitan_chunked", "exceeds its bound",
     "flex:document_mask"),
    ("ulysses-ids-after-shard-P8.h5", "ulysses:ids_after_shard", "exceeds its bound",
     "ulysses:global_ids"),
]


def replay(case, adapter):
    cmd = [sys.executable, "-m", "attncheck", "replay", os.path.join(CASES, case),
           "--impl", "py:attncheck.adapters." + adapter]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    return p.returncode, p.stdout


class Findings(unittest.TestCase):
    def test_every_case_file_is_used(self):
        files = sorted(f for f in os.listdir(CASES) if f.endswith(".h5"))
        self.assertEqual(files, sorted({f[0] for f in FINDINGS}))

    def test_counterexamples_still_fail_and_the_corrected_usage_passes(self):
        for case, adapter, message, corrected in FINDINGS:
            with self.subTest(case=case, adapter=adapter):
                code, text = replay(case, adapter)
                self.assertEqual(code, 1, text)
                self.assertIn(message, text)
            with self.subTest(case=case, corrected=corrected):
                code, text = replay(case, corrected)
                self.assertEqual(code, 0, text)


if __name__ == "__main__":
    unittest.main()
