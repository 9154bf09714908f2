"""Section 3.3's exercises: the checker accepts its reference solution, rejects typical wrong
answers with the failing case named (a swapped gate gets its own explanation), says "not
attempted" for the notebook's stub; the reference agrees with the library's LRUA functions."""
from html import escape

import torch

from metalearn_lite.exercises import chapter03_3 as ex
from metalearn_lite.memory import least_used_weights, lrua_write_weights


def stub(prev_read, prev_usage, gate):
    raise NotImplementedError


def test_checker_accepts_the_reference_and_the_library():
    result = ex.check_lrua_write_weights(ex.lrua_write_weights_reference)
    assert result and result.attempted and repr(result).startswith("✓")
    library = ex.check_lrua_write_weights(lambda r, u, g: lrua_write_weights(r, least_used_weights(u, r.shape[1]), g))
    assert library


def test_reference_equals_the_library_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    for heads, slots in ((1, 5), (4, 16)):
        read = torch.softmax(torch.randn(3, heads, slots, generator=g), -1)
        usage = torch.randint(0, 4, (3, slots), generator=g).float()  # ties included
        gate = torch.rand(3, heads, generator=g)
        mine = ex.lrua_write_weights_reference(read, usage, gate)
        assert torch.allclose(mine, lrua_write_weights(read, least_used_weights(usage, heads), gate))


def test_checker_recognises_a_swapped_gate():
    def swapped(read, usage, gate):
        return ex.lrua_write_weights_reference(read, usage, 1 - gate)

    result = ex.check_lrua_write_weights(swapped)
    assert not result and result.attempted and "case 1" in result.message and "other way round" in result.message


def test_checker_rejects_wrong_answers_with_hints():
    def most_used(read, usage, gate):  # argmax instead of argmin
        return ex.lrua_write_weights_reference(read, -usage, gate)

    result = ex.check_lrua_write_weights(most_used)
    assert not result and result.attempted and "case 1" in result.message and "Hint" in result.message

    def same_slot_for_all_heads(read, usage, gate):  # every head writes to the single least-used slot
        least = torch.nn.functional.one_hot(usage.argmin(-1), usage.shape[-1]).to(read.dtype)[:, None]
        return gate[..., None] * read + (1 - gate[..., None]) * least

    result = ex.check_lrua_write_weights(same_slot_for_all_heads)
    assert not result and "case 4" in result.message and "j-th least-used" in result.message

    def unstable(read, usage, gate):  # ties broken the other way: the highest index first
        flipped = ex.lrua_write_weights_reference(read.flip(-1), usage.flip(-1), gate)
        return flipped.flip(-1)

    result = ex.check_lrua_write_weights(unstable)
    assert not result and "case 5" in result.message and "stable" in result.message

    crashing = ex.check_lrua_write_weights(lambda read, usage, gate: read @ usage)
    assert not crashing and crashing.attempted and "raised" in crashing.message


def test_checker_names_the_type_of_a_wrong_kind_of_answer_and_takes_float32_or_a_list():
    for answer, kind in ((None, "got None"), ("abc", "got a str ('abc')"), ({"a": 1}, "got a dict"), ((None, 1), "got a tuple")):
        result = ex.check_lrua_write_weights(lambda *args: answer)  # each used to crash the checker
        assert not result and result.attempted
        where = "case 1 (one head, σ = 0: all the weight on the least-used slot)"
        assert f"{where}: expected a tensor of shape (1, 1, 6) and dtype torch.float64, {kind}" in result.message
    assert ex.check_lrua_write_weights(lambda *args: ex.lrua_write_weights_reference(*args).float())
    listed = ex.check_lrua_write_weights(lambda *args: ex.lrua_write_weights_reference(*args).tolist())
    assert not listed and "got a list" in listed.message
    squeezed = ex.check_lrua_write_weights(lambda *args: ex.lrua_write_weights_reference(*args).squeeze())
    assert not squeezed and "got one of shape (6,)" in squeezed.message
    nan = ex.check_lrua_write_weights(lambda *args: ex.lrua_write_weights_reference(*args) * float("nan"))
    assert not nan and "expected finite values, got NaN entries (6 of 6)" in nan.message
    assert not ex.check_lrua_write_weights(lambda *args: ex.lrua_write_weights_reference(*args).float() + 1e-4)


def test_stub_is_not_attempted_yet():
    result = ex.check_lrua_write_weights(stub)
    assert not result and not result.attempted
    assert repr(result).startswith("…") and "not attempted yet" in result.message


def test_multiple_choice_questions_grade_right_and_wrong_answers():
    for question in (ex.METANET_MEMORY_QUESTION, ex.FIRST_PRESENTATION_QUESTION):
        assert question.grade(question.answer).startswith("✓")
        wrong = (question.answer + 1) % len(question.options)
        assert question.grade(wrong).startswith("✗")
        html = question._repr_html_()
        assert "<details>" in html and escape(question.options[question.answer]) in html
