import numpy as np
import pytest
import torch

import metalearn_lite as ml


def test_claim_prints_statement_and_evidence(capsys):
    ml.claim(3 > 2, "three beats two", "3 vs 2")
    assert capsys.readouterr().out == "✓ three beats two (3 vs 2)\n"


def test_claim_accepts_numpy_and_torch_booleans(capsys):
    ml.claim(np.bool_(True), "numpy")
    ml.claim(torch.tensor(True), "torch")
    assert capsys.readouterr().out == "✓ numpy\n✓ torch\n"


def test_false_claim_raises_with_the_statement_and_what_to_do(capsys):
    with pytest.raises(ml.ClaimError, match=r"The text says: 'the loss falls'.*\(1\.0 -> 2\.0\).*fresh kernel"):
        ml.claim(False, "the loss falls", "1.0 -> 2.0")
    assert capsys.readouterr().out == ""
    assert issubclass(ml.ClaimError, AssertionError)
