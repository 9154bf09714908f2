"""Chapter 6's exercises: the return-to-go checker accepts its reference, names each typical slip,
says "not attempted" for the notebook's stub, and agrees with the library."""
import torch

from metalearn_lite.exercises import chapter06 as ex
from metalearn_lite.rl.maml_rl import discounted_returns


def stub(*args):
    raise NotImplementedError


def test_checker_accepts_the_reference_and_the_library():
    assert ex.check_discounted_returns(ex.discounted_returns_reference)
    assert ex.check_discounted_returns(discounted_returns)


def test_checker_names_each_slip():
    expected = {ex._from_the_start: "discounted from the first step", ex._forwards: "adds up the past",
                ex._undiscounted: "γ is missing", ex._excluding_now: "must include the reward"}
    for wrong, phrase in expected.items():
        result = ex.check_discounted_returns(wrong)
        assert not result and result.attempted and phrase in result.message, (wrong.__name__, result.message)


def test_checker_reports_stubs_and_crashes():
    result = ex.check_discounted_returns(stub)
    assert not result and not result.attempted and "not attempted" in result.message
    crash = ex.check_discounted_returns(lambda r, g: r.nonexistent())
    assert not crash and crash.attempted and "raised AttributeError" in crash.message


def test_reference_matches_a_closed_form():
    r = torch.randn(7, dtype=torch.float64)
    g = ex.discounted_returns_reference(r, 0.8)
    ref = torch.stack([sum(0.8 ** (u - t) * r[u] for u in range(t, 7)) for t in range(7)])
    assert torch.allclose(g, ref, atol=1e-12)


def test_questions_grade_their_answer():
    for q in (ex.RL2_QUESTION, ex.DICE_QUESTION, ex.ES_QUESTION):
        assert q.grade(q.answer).startswith("✓")
        assert all(q.grade(i).startswith("✗") for i in range(len(q.options)) if i != q.answer)


def test_returns_are_compared_as_returned():
    listed = ex.check_discounted_returns(lambda r, g: ex.discounted_returns_reference(r, g).tolist())
    assert not listed and "got a list" in listed.message
    nan = ex.check_discounted_returns(lambda r, g: ex.discounted_returns_reference(r, g) + float("nan"))
    assert not nan and "expected finite values, got NaN entries" in nan.message
    ints = ex.check_discounted_returns(lambda r, g: ex.discounted_returns_reference(r, g).round().long())
    assert not ints and "got integer values of dtype torch.int64" in ints.message
