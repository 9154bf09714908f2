"""Section 4.2's exercises: the checkers accept their reference solutions, reject typical wrong
answers with the failing case named (dot-product attention gets its own explanation), say "not
attempted" for the notebook's stubs; the references agree with the library's metric module."""
from html import escape

import torch
import torch.nn.functional as F
from torch import nn

from metalearn_lite.exercises import chapter04_2 as ex
from metalearn_lite.metric import MatchingNetwork, ProtoNet, class_means, cosine_attention, label_distribution


def stub(*args):
    raise NotImplementedError


# -- matching_prediction ---------------------------------------------------------------------------
def test_matching_checker_accepts_the_reference():
    result = ex.check_matching_prediction(ex.matching_prediction_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_matching_checker_recognises_dot_product_attention():
    result = ex.check_matching_prediction(ex.dot_product_prediction)
    assert not result and result.attempted
    assert "case 1" in result.message and "cosine similarity" in result.message and "F.normalize" in result.message


def test_matching_checker_rejects_other_wrong_answers_with_hints():
    def softmax_over_queries(query_emb, support_emb, support_y, n_way, scale):
        cos = F.normalize(query_emb, dim=-1) @ F.normalize(support_emb, dim=-1).T
        return torch.softmax(scale * cos, dim=0) @ F.one_hot(support_y, n_way).to(cos.dtype)

    def without_scale(query_emb, support_emb, support_y, n_way, scale):
        return ex.matching_prediction_reference(query_emb, support_emb, support_y, n_way, 1.0)

    def one_hot_of_observed_classes(query_emb, support_emb, support_y, n_way, scale):
        return ex.matching_prediction_reference(query_emb, support_emb, support_y, int(support_y.max()) + 1, scale)

    for wrong, case in ((softmax_over_queries, "case 1"), (without_scale, "case 3"), (one_hot_of_observed_classes, "case 4")):
        result = ex.check_matching_prediction(wrong)
        assert not result and result.attempted and case in result.message and "Hint:" in result.message
    crashing = ex.check_matching_prediction(lambda q, *rest: q.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_matching_reference_equals_the_library():
    g = torch.Generator().manual_seed(3)
    support_x, query_x = torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)
    support_y = torch.tensor([2, 0, 1, 1, 0, 2])
    for scale in (1.0, 7.0):
        expected = ex.matching_prediction_reference(query_x, support_x, support_y, 3, scale)
        assert torch.allclose(label_distribution(cosine_attention(query_x, support_x, scale), support_y, 3), expected, atol=1e-6)
        log_y_hat = MatchingNetwork(nn.Identity(), scale=scale).adapt(support_x, support_y)(query_x)
        assert torch.allclose(log_y_hat.exp(), expected, atol=1e-6)


# -- prototypes ------------------------------------------------------------------------------------
def test_prototype_checker_accepts_the_reference_and_rejects_sorted_reshape():
    assert ex.check_prototypes(ex.prototypes_reference)
    result = ex.check_prototypes(ex.sorted_prototypes)
    assert not result and result.attempted
    assert "case 2" in result.message and "labels shuffled" in result.message and "do not assume" in result.message


def test_prototype_checker_rejects_a_sum_instead_of_a_mean():
    def summed(embeddings, labels, n_way):
        return F.one_hot(labels, n_way).to(embeddings.dtype).T @ embeddings

    result = ex.check_prototypes(summed)
    assert not result and result.attempted and "case 1" in result.message


def test_stubs_are_not_attempted_yet():
    for checker in (ex.check_matching_prediction, ex.check_prototypes):
        result = checker(stub)
        assert not result and not result.attempted
        assert repr(result).startswith("…") and "not attempted yet" in result.message


def test_prototype_reference_equals_the_library():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(7, 3, generator=g), torch.tensor([1, 0, 2, 2, 0, 1, 1])
    expected = ex.prototypes_reference(x, y, 3)
    assert torch.allclose(class_means(x, y, 3), expected, atol=1e-6)
    assert torch.allclose(ProtoNet(nn.Identity()).prototypes(x, y), expected, atol=1e-6)


def test_multiple_choice_questions_grade_right_and_wrong_answers():
    for question in (ex.SCALE_QUESTION, ex.ORDER_QUESTION):
        assert question.grade(question.answer).startswith("✓")
        wrong = (question.answer + 1) % len(question.options)
        assert question.grade(wrong).startswith("✗")
        html = question._repr_html_()
        assert "<details>" in html and escape(question.options[question.answer]) in html


def test_scale_question_answer_is_what_the_library_gives():
    # classes of 1, 2, 3 support examples: a vanishing scale gives the class frequencies
    g = torch.Generator().manual_seed(5)
    support, query = torch.randn(6, 2, generator=g), torch.randn(1, 2, generator=g)
    y_hat = label_distribution(cosine_attention(query, support, 1e-9), torch.tensor([0, 1, 1, 2, 2, 2]), 3)
    assert torch.allclose(y_hat, torch.tensor([[1 / 6, 2 / 6, 3 / 6]]), atol=1e-6)


def test_answers_are_compared_as_returned():
    listed = ex.check_prototypes(lambda e, y, n: ex.prototypes_reference(e, y, n).tolist())
    assert not listed and "got a list" in listed.message and "return a torch tensor" in listed.message
    flat = ex.check_prototypes(lambda e, y, n: ex.prototypes_reference(e, y, n).flatten())
    assert not flat and "expected a tensor of shape (2, 2) and dtype torch.float64" in flat.message
    assert "got one of shape (4,)" in flat.message
    nan = ex.check_matching_prediction(lambda *args: ex.matching_prediction_reference(*args) * float("nan"))
    assert not nan and "expected finite values, got NaN entries" in nan.message
