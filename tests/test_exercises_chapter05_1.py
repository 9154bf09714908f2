"""Section 5.1's exercises: the checker accepts its reference solution, recognises first-order
MAML, refuses weight mutation, says "not attempted" for the notebook's stub; the reference agrees
with the library's MAML; the multiple-choice answers are graded."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metalearn_lite import Episode, EpisodeBatch
from metalearn_lite.exercises import chapter05_1 as ex
from metalearn_lite.gradient import MAML


def stub(*args):
    raise NotImplementedError


def test_checker_accepts_the_reference():
    result = ex.check_task_meta_loss(ex.task_meta_loss_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_checker_recognises_first_order_maml():
    result = ex.check_task_meta_loss(ex.first_order_task_meta_loss)
    assert not result and result.attempted
    assert "case 1" in result.message and "first-order MAML" in result.message and "create_graph=True" in result.message


def test_checker_refuses_in_place_adaptation_and_restores_the_weights():
    def in_place(model, params, support_x, support_y, query_x, query_y, alpha, steps):  # the article's pattern
        for _ in range(steps):
            grads = torch.autograd.grad(F.cross_entropy(model(support_x), support_y), list(model.parameters()))
            with torch.no_grad():
                for p, g in zip(model.parameters(), grads):
                    p -= alpha * g
        return F.cross_entropy(model(query_x), query_y)

    result = ex.check_task_meta_loss(in_place)
    assert not result and result.attempted and "changed the model's own weights" in result.message
    assert ex.check_task_meta_loss(ex.task_meta_loss_reference)  # the checker's models were restored


def test_checker_rejects_other_slips():
    def from_theta_every_step(model, params, support_x, support_y, query_x, query_y, alpha, steps):
        phi = dict(params)
        for _ in range(steps):  # always differentiates at θ: right for one step only
            grads = torch.autograd.grad(F.cross_entropy(torch.func.functional_call(model, params, (support_x,)), support_y),
                                        list(params.values()), create_graph=True)
            phi = {n: p - alpha * g for (n, p), g in zip(phi.items(), grads)}
        return F.cross_entropy(torch.func.functional_call(model, phi, (query_x,)), query_y)

    result = ex.check_task_meta_loss(from_theta_every_step)
    assert not result and result.attempted and "case 2" in result.message
    crashing = ex.check_task_meta_loss(lambda model, params, *rest: params.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_stub_is_not_attempted_yet():
    result = ex.check_task_meta_loss(stub)
    assert not result and not result.attempted and "not attempted yet" in result.message


@pytest.mark.parametrize("steps", [1, 2])
def test_reference_agrees_with_the_library(steps):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(3)
    ep = Episode(torch.randn(6, 4, generator=g, dtype=torch.float64), labels.repeat_interleave(2),
                 torch.randn(9, 4, generator=g, dtype=torch.float64), labels.repeat_interleave(3))
    learner = MAML(model, alpha=0.4, inner_steps=steps)
    library = torch.autograd.grad(learner.meta_loss(EpisodeBatch.stack([ep]))[0], list(model.parameters()))
    loss = ex.task_meta_loss_reference(model, dict(model.named_parameters()), ep.support_x, ep.support_y,
                                       ep.query_x, ep.query_y, 0.4, steps)
    ours = torch.autograd.grad(loss, list(model.parameters()))
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(ours, library))


@pytest.mark.parametrize("question", [ex.CREATE_GRAPH_QUESTION, ex.BATCHNORM_QUESTION])
def test_multiple_choice(question):
    assert question.grade(question.answer).startswith("✓")
    wrong = (question.answer + 1) % len(question.options)
    assert question.grade(wrong).startswith("✗")
    assert "<details>" in question._repr_html_()
