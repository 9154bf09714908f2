"""Section 3.1's exercises: the checker accepts its reference solution, rejects typical wrong
answers with the failing case named (a step without create_graph gets its own explanation), says
"not attempted" for the notebook's stub; the reference agrees with the library's MAML."""
from html import escape

import torch
import torch.nn.functional as F

import metalearn_lite as ml
from metalearn_lite.exercises import chapter03_1 as ex
from metalearn_lite.gradient import MAML


def stub(model, params, x, y, alpha):
    raise NotImplementedError


def test_checker_accepts_the_reference():
    result = ex.check_inner_sgd_step(ex.inner_sgd_step_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_checker_recognises_a_first_order_step():
    result = ex.check_inner_sgd_step(ex.first_order_inner_sgd_step)
    assert not result and result.attempted
    assert "case 4" in result.message and "create_graph=True" in result.message and "first-order MAML" in result.message


def test_checker_rejects_wrong_steps_with_hints():
    def plus(model, params, x, y, alpha):  # gradient ascent
        phi = ex.inner_sgd_step_reference(model, params, x, y, -alpha)
        return phi

    result = ex.check_inner_sgd_step(plus)
    assert not result and result.attempted and "case 1" in result.message and "Hint" in result.message

    def in_place(model, params, x, y, alpha):  # modifies the model's own weights
        loss = F.mse_loss(model(x), y)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p -= alpha * g
        return dict(model.named_parameters())

    assert not ex.check_inner_sgd_step(in_place)

    def no_grad(model, params, x, y, alpha):  # right values, but φ does not depend on θ at all
        return {n: v.detach() for n, v in ex.inner_sgd_step_reference(model, params, x, y, alpha).items()}

    result = ex.check_inner_sgd_step(no_grad)
    assert not result and result.attempted and "case 4" in result.message

    wrong_type = ex.check_inner_sgd_step(lambda model, params, x, y, alpha: list(params.values()))
    assert not wrong_type and wrong_type.attempted and "case 1" in wrong_type.message
    crashing = ex.check_inner_sgd_step(lambda model, params, x, y, alpha: params.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_checker_names_the_type_of_a_wrong_kind_of_answer():
    for answer, kind in ((None, "got None"), ("abc", "got a str"), ((None, "x"), "got a tuple")):
        result = ex.check_inner_sgd_step(lambda model, params, x, y, alpha: answer)
        assert not result and result.attempted
        where = "case 1 (a 1-4-1 tanh network, K = 4 points, α = 0.1: the values of φ)"
        assert f"{where}: expected a dict with the keys of params, {kind}" in result.message
        assert "Hint:" in result.message
    floats = ex.check_inner_sgd_step(
        lambda model, params, x, y, alpha: {n: v.float() for n, v in ex.inner_sgd_step_reference(model, params, x, y, alpha).items()})
    assert not floats and "the values are right, but the tensor's dtype is torch.float32" in floats.message


def test_stub_is_not_attempted_yet():
    result = ex.check_inner_sgd_step(stub)
    assert not result and not result.attempted
    assert repr(result).startswith("…") and "not attempted yet" in result.message


def test_reference_equals_the_library_inner_step():
    ml.seed_everything(0)
    learner = MAML(ml.MLP(1, 1, (8, 8)).double(), alpha=0.05, task_type="regression")
    episode = ml.SinusoidTasks(k_shot=5, seed=3).episode()
    xs, ys = episode.support_x.double(), episode.support_y.double()
    library = learner.adapted_params(xs, ys)
    mine = ex.inner_sgd_step_reference(learner.model, learner.theta(), xs, ys, 0.05)
    assert list(library) == list(mine)
    assert all(torch.allclose(library[n], mine[n], rtol=0, atol=1e-12) for n in mine)


def test_multiple_choice_questions_grade_right_and_wrong_answers():
    for question in (ex.AVERAGE_CURVE_QUESTION, ex.SECOND_ORDER_QUESTION):
        assert question.grade(question.answer).startswith("✓")
        wrong = (question.answer + 1) % len(question.options)
        assert question.grade(wrong).startswith("✗")
        html = question._repr_html_()
        assert "<details>" in html and escape(question.options[question.answer]) in html


def test_phi_entries_are_compared_as_returned_not_reshaped():
    def reshaped(model, params, x, y, alpha):  # right values, wrong shapes: (4, 1) weights as (1, 4)
        phi = ex.inner_sgd_step_reference(model, params, x, y, alpha)
        return {n: v.reshape(1, -1) if v.dim() == 2 else v for n, v in phi.items()}

    result = ex.check_inner_sgd_step(reshaped)
    assert not result and "φ['0.weight'] has shape (1, 4), expected (4, 1) (that of params['0.weight'])" in result.message
    listed = ex.check_inner_sgd_step(
        lambda model, params, x, y, alpha: {n: v.tolist() for n, v in ex.inner_sgd_step_reference(model, params, x, y, alpha).items()})
    assert not listed and "φ['0.weight'] is a list, expected a tensor of shape (4, 1)" in listed.message
    ints = ex.check_inner_sgd_step(
        lambda model, params, x, y, alpha: {n: v.long() for n, v in ex.inner_sgd_step_reference(model, params, x, y, alpha).items()})
    assert not ints and "φ['0.weight'] has dtype torch.int64, expected torch.float64" in ints.message
