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


@pytest.mark.parametrize("holds, what", [
    ("False", r"got str 'False'.*compare explicitly"),
    ([False], r"got list \[False\].*compare explicitly"),
    (float("nan"), r"got float nan.*compare explicitly"),
    (-0.3, r"got float -0\.3.*compare explicitly"),
    (1, r"got int 1"),
    (None, r"got NoneType None"),
    (lambda: False, r"got the callable .*never checked: call it"),
    (torch.tensor([True, False]), r"tensor of shape \(2,\) is not one truth value.*\.all\(\) or \.any\(\)"),
    (torch.tensor([True]), r"tensor of shape \(1,\)"),
    (torch.tensor(1.0), r"0-d tensor of dtype torch\.float32 is not a boolean"),
    (np.array([True, True]), r"NumPy array of shape \(2,\)"),
    (np.float64(0.7), r"got float64 .*0\.7"),
])
def test_claim_refuses_anything_but_a_real_boolean(capsys, holds, what):
    with pytest.raises(TypeError, match=r"claim\(\) takes a real boolean \(True or False\).*" + what):
        ml.claim(holds, "a statement")
    assert capsys.readouterr().out == ""


def test_claim_accepts_0d_numpy_bool_arrays_and_refuses_false_ones(capsys):
    ml.claim(np.array(True), "0-d array")
    assert capsys.readouterr().out == "✓ 0-d array\n"
    with pytest.raises(ml.ClaimError):
        ml.claim(np.array(False), "0-d array")
    with pytest.raises(ml.ClaimError):
        ml.claim(torch.tensor(False), "0-d tensor")


@pytest.mark.parametrize("statement, evidence, message", [
    ("", "", r"needs the statement the text makes, a non-empty string"),
    (None, "", r"needs the statement"),
    ("the loss falls", 0.34, r"evidence must be a string.*got float 0\.34"),
])
def test_claim_refuses_a_missing_statement_or_non_string_evidence(statement, evidence, message):
    with pytest.raises(TypeError, match=message):
        ml.claim(True, statement, evidence)
