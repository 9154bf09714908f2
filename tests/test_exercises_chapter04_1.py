"""Section 4.1's exercises: the checker accepts its reference solution, rejects typical wrong
answers with the failing case named (first-order MAML gets its own explanation), says "not
attempted" for the notebook's stub; the reference agrees with the library's MAML."""
from html import escape

import pytest
import torch
from torch import nn

from metalearn_lite import Episode, EpisodeBatch
from metalearn_lite.exercises import chapter04_1 as ex
from metalearn_lite.gradient import MAML


def stub(*args):
    raise NotImplementedError


def test_checker_accepts_the_reference():
    result = ex.check_maml_meta_gradient(ex.maml_meta_gradient_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_checker_recognises_first_order_maml():
    result = ex.check_maml_meta_gradient(ex.first_order_meta_gradient)
    assert not result and result.attempted
    assert "case 1" in result.message and "first-order MAML" in result.message and "(I − α H)" in result.message


def test_checker_rejects_a_missing_factor_two_with_its_hint():
    def without_the_two(w, support_x, support_y, query_x, query_y, alpha):  # L = mean(r²) has gradient (2/K) Xᵀr
        k, m = len(support_x), len(query_x)
        phi = w - alpha / k * support_x.T @ (support_x @ w - support_y)
        hessian = support_x.T @ support_x / k
        return (torch.eye(len(w), dtype=w.dtype) - alpha * hessian) @ (query_x.T @ (query_x @ phi - query_y) / m)

    result = ex.check_maml_meta_gradient(without_the_two)
    assert not result and result.attempted
    assert "case 1" in result.message and "mind the factor 2" in result.message


def test_checker_rejects_the_query_gradient_at_w_and_reports_errors():
    def at_w(w, support_x, support_y, query_x, query_y, alpha):  # forgets to adapt: φ = w
        hessian = 2 / len(support_x) * support_x.T @ support_x
        grad = 2 / len(query_x) * query_x.T @ (query_x @ w - query_y)
        return (torch.eye(len(w), dtype=w.dtype) - alpha * hessian) @ grad

    assert not ex.check_maml_meta_gradient(at_w)
    wrong_shape = ex.check_maml_meta_gradient(lambda *args: ex.maml_meta_gradient_reference(*args)[:, None])
    assert not wrong_shape and wrong_shape.attempted
    crashing = ex.check_maml_meta_gradient(lambda w, *rest: w.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_checker_names_the_type_of_a_wrong_kind_of_answer_and_takes_float32_or_a_list():
    for answer, kind in ((None, "got None"), ("abc", "got a str ('abc')"), ({"a": 1}, "got a dict"), ((None, 1), "got a tuple")):
        result = ex.check_maml_meta_gradient(lambda *args: answer)  # each used to crash the checker
        assert not result and result.attempted
        where = "case 1 (one weight, K = 2 support points, one query point, α = 0.1)"
        assert f"{where}: expected a tensor of shape (1,) and dtype torch.float64, {kind}" in result.message
    assert ex.check_maml_meta_gradient(lambda *args: ex.maml_meta_gradient_reference(*args).float())
    listed = ex.check_maml_meta_gradient(lambda *args: ex.maml_meta_gradient_reference(*args).tolist())
    assert not listed and "got a list" in listed.message
    scalar = ex.check_maml_meta_gradient(lambda *args: ex.maml_meta_gradient_reference(*args)[0])
    assert not scalar and "got one of shape ()" in scalar.message
    slip = ex.check_maml_meta_gradient(lambda *args: ex.first_order_meta_gradient(*args).float())
    assert not slip and "first-order MAML" in slip.message  # float32 slips are still recognised


def test_stub_is_not_attempted_yet():
    result = ex.check_maml_meta_gradient(stub)
    assert not result and not result.attempted
    assert repr(result).startswith("…") and "not attempted yet" in result.message


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.8])
def test_reference_equals_the_library_meta_gradient(alpha):
    g = torch.Generator().manual_seed(7)
    d, k, m = 3, 5, 7
    xs, xq = torch.randn(k, d, generator=g, dtype=torch.float64), torch.randn(m, d, generator=g, dtype=torch.float64)
    w_task = torch.randn(d, generator=g, dtype=torch.float64)
    ys, yq = xs @ w_task, xq @ w_task + 0.3
    model = nn.Linear(d, 1, bias=False).double()
    learner = MAML(model, alpha=alpha, task_type="regression")
    batch = EpisodeBatch.stack([Episode(xs, ys[:, None], xq, yq[:, None])])
    library = torch.autograd.grad(learner.meta_loss(batch)[0], model.weight)[0].reshape(-1)
    expected = ex.maml_meta_gradient_reference(model.weight.detach().reshape(-1), xs, ys, xq, yq, alpha)
    assert torch.allclose(library, expected, rtol=0, atol=1e-12)


def test_multiple_choice_questions_grade_right_and_wrong_answers():
    for question in (ex.QUADRATIC_ALPHA_QUESTION, ex.FIRST_ORDER_QUESTION):
        assert question.grade(question.answer).startswith("✓")
        wrong = (question.answer + 1) % len(question.options)
        assert question.grade(wrong).startswith("✗")
        html = question._repr_html_()
        assert "<details>" in html and escape(question.options[question.answer]) in html
