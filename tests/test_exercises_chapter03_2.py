"""Section 3.2's exercises: the checker accepts its reference solution, rejects typical wrong
answers with the failing case named (1-nearest-neighbour gets its own explanation), says
"not attempted" for the notebook's stub; the reference agrees with the library's ProtoNet."""
from html import escape

import torch
from torch import nn

from metalearn_lite.exercises import chapter03_2 as ex
from metalearn_lite.metric import ProtoNet


def stub(support_emb, support_y, query_emb, n_way):
    raise NotImplementedError


def test_checker_accepts_the_reference():
    result = ex.check_nearest_prototype(ex.nearest_prototype_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_checker_recognises_nearest_neighbour():
    result = ex.check_nearest_prototype(ex.nearest_neighbour_labels)
    assert not result and result.attempted
    assert "labels differ" in result.message and "1-nearest-neighbour" in result.message


def test_checker_rejects_wrong_answers_with_hints():
    def sorted_reshape(support_emb, support_y, query_emb, n_way):  # assumes a sorted, balanced support set
        prototypes = support_emb.reshape(n_way, -1, support_emb.shape[1]).mean(1)
        return torch.cdist(query_emb, prototypes).argmin(1)

    result = ex.check_nearest_prototype(sorted_reshape)
    assert not result and result.attempted and "case 2" in result.message and "Hint" in result.message

    def farthest(support_emb, support_y, query_emb, n_way):
        return -ex.nearest_prototype_reference(support_emb, support_y, query_emb, n_way) + n_way - 1

    assert not ex.check_nearest_prototype(farthest)

    def distances(support_emb, support_y, query_emb, n_way):  # the distances, not the labels
        one_hot = torch.nn.functional.one_hot(support_y, n_way).to(support_emb.dtype)
        return torch.cdist(query_emb, (one_hot.T @ support_emb) / one_hot.sum(0)[:, None])

    result = ex.check_nearest_prototype(distances)
    assert not result and result.attempted and "case 1" in result.message
    crashing = ex.check_nearest_prototype(lambda s, y, q, n: s.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_checker_names_the_type_of_a_wrong_kind_of_answer():
    for answer, kind in ((None, "got None"), ("abc", "got a str ('abc')"), ({"a": 1}, "got a dict"), ((None, 1), "got a tuple")):
        result = ex.check_nearest_prototype(lambda *args: answer)  # each used to crash the checker
        assert not result and result.attempted
        where = "case 1 (3-way 2-shot, support sorted by class, 4-d embeddings)"
        assert f"{where}: expected a tensor of shape (12,) and dtype torch.int64, {kind}" in result.message
    floats = ex.check_nearest_prototype(lambda *args: ex.nearest_prototype_reference(*args).float())
    assert floats.message.endswith("the values are right, but the tensor's dtype is torch.float32: return a torch.int64 tensor.")
    listed = ex.check_nearest_prototype(lambda *args: ex.nearest_prototype_reference(*args).tolist())
    assert not listed and "got a list" in listed.message and "return a torch tensor" in listed.message
    shifted = ex.check_nearest_prototype(lambda *args: ex.nearest_prototype_reference(*args) + 0.3)
    assert not shifted and "got floating-point values of dtype torch.float32" in shifted.message
    as_int32 = ex.check_nearest_prototype(lambda *args: ex.nearest_prototype_reference(*args).int())
    assert not as_int32 and "the values are right, but the tensor's dtype is torch.int32" in as_int32.message
    column = ex.check_nearest_prototype(lambda *args: ex.nearest_prototype_reference(*args)[:, None])
    assert not column and "got one of shape (12, 1)" in column.message


def test_stub_is_not_attempted_yet():
    result = ex.check_nearest_prototype(stub)
    assert not result and not result.attempted
    assert repr(result).startswith("…") and "not attempted yet" in result.message


def test_reference_equals_the_library_protonet():
    for case in ex._cases():
        support, support_y, query, n_way = case.args
        scores = ProtoNet(nn.Identity()).adapt(support, support_y)(query)
        assert torch.equal(scores.argmax(1), ex.nearest_prototype_reference(support, support_y, query, n_way))


def test_cases_tell_prototypes_from_nearest_neighbour():
    support, support_y, query, n_way = ex._cases()[3].args
    assert not torch.equal(ex.nearest_neighbour_labels(support, support_y, query, n_way),
                           ex.nearest_prototype_reference(support, support_y, query, n_way))


def test_multiple_choice_question_grades_right_and_wrong_answers():
    question = ex.ATTENTION_VOTE_QUESTION
    assert question.grade(question.answer).startswith("✓")
    assert question.grade((question.answer + 1) % len(question.options)).startswith("✗")
    html = question._repr_html_()
    assert "<details>" in html and escape(question.options[question.answer]) in html
