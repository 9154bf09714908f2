"""Chapter 1's exercises: every checker accepts its reference solution, rejects typical wrong
answers with the failing case named, and says "not attempted" for the notebook's stubs; the
nearest-neighbour reference agrees with the library's ``NearestNeighbour``."""
import re

import pytest
import torch

import metalearn_lite as ml
from metalearn_lite.exercises import MultipleChoice
from metalearn_lite.exercises import chapter01 as ex


def stub(*args):
    raise NotImplementedError


# -- images_per_episode -----------------------------------------------------------------------


def test_images_per_episode_accepts_the_reference():
    result = ex.check_images_per_episode(ex.images_per_episode)
    assert result and result.attempted and repr(result).startswith("✓")


def test_images_per_episode_rejects_queries_counted_once():
    result = ex.check_images_per_episode(lambda n, k, q: n * k + q)
    assert not result and result.attempted
    assert "case 1" in result.message and "expected 30, got 10" in result.message
    assert "Hint:" in result.message


def test_images_per_episode_rejects_support_only_and_reports_errors():
    assert not ex.check_images_per_episode(lambda n, k, q: n * k)
    crashing = ex.check_images_per_episode(lambda n, k, q: n.bit_count() / 0)
    assert not crashing and crashing.attempted and "raised ZeroDivisionError" in crashing.message


def test_images_per_episode_stub_is_not_attempted():
    result = ex.check_images_per_episode(stub)
    assert not result and not result.attempted and "not attempted yet" in result.message


def test_images_per_episode_matches_the_sampler():
    blobs = ml.make_blob_classes()
    episode = ml.EpisodeSampler(blobs, n_way=4, k_shot=3, q_queries=2, seed=0).episode()
    assert len(episode.support_x) + len(episode.query_x) == ex.images_per_episode(4, 3, 2)


# -- nearest_neighbour_predict ----------------------------------------------------------------


def test_nearest_neighbour_accepts_the_reference():
    result = ex.check_nearest_neighbour_predict(ex.nearest_neighbour_predict)
    assert result and result.attempted and repr(result).startswith("✓")


@pytest.mark.parametrize("answer, message", [
    # labels 2.4, 0.4, ... used to be truncated to the right ones with .long()
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q) + 0.4,
     r"expected a tensor of shape \(4,\) and dtype torch.int64, got floating-point values of dtype torch.float32 "
     r"\(\[2.4, 0.4, 1.4, 1.4\]\)"),
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q).float(),
     r"the values are right, but the tensor's dtype is torch.float32: return a torch.int64 tensor"),
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q).tolist(), r"got a list \(\[2, 0, 1, 1\]\): return a torch tensor"),
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q).numpy(), r"got a ndarray.*: return a torch tensor"),
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q)[:, None], r"got one of shape \(4, 1\)"),
    (lambda s, y, q: ex.nearest_neighbour_predict(s, y, q).int(), r"the tensor's dtype is torch.int32"),
])
def test_nearest_neighbour_compares_what_was_returned(answer, message):
    result = ex.check_nearest_neighbour_predict(answer)
    assert not result and result.attempted
    assert re.search(r"^case 1 \(3-way 1-shot, queries close to their support image\): .*" + message, result.message), result.message


def test_nearest_neighbour_rejects_the_position_instead_of_the_label():
    def positions(support_x, support_y, query_x):
        return torch.cdist(query_x.flatten(1), support_x.flatten(1)).argmin(dim=1)

    result = ex.check_nearest_neighbour_predict(positions)
    assert not result and result.attempted
    assert "case 2" in result.message and "not its position" in result.message


def test_nearest_neighbour_rejects_farthest_and_wrong_shapes():
    def farthest(support_x, support_y, query_x):
        return support_y[torch.cdist(query_x.flatten(1), support_x.flatten(1)).argmax(dim=1)]

    assert not ex.check_nearest_neighbour_predict(farthest)
    column = ex.check_nearest_neighbour_predict(lambda s, y, q: ex.nearest_neighbour_predict(s, y, q)[:, None])
    assert not column and column.attempted
    assert not ex.check_nearest_neighbour_predict(lambda s, y, q: None)


def test_nearest_neighbour_stub_is_not_attempted():
    result = ex.check_nearest_neighbour_predict(stub)
    assert not result and not result.attempted and "not attempted yet" in result.message


def test_nearest_neighbour_reference_agrees_with_the_library():
    learner = ml.NearestNeighbour()
    for case in ex.NN_CASES:
        support_x, support_y, query_x = case.args
        library = learner.adapt(support_x, support_y)(query_x).argmax(dim=1)
        assert torch.equal(ex.nearest_neighbour_predict(*case.args), library), case.description
    blobs = ml.make_blob_classes()
    for seed in range(3):
        episode = ml.EpisodeSampler(blobs, n_way=5, k_shot=3, q_queries=4, seed=seed).episode()
        library = learner.adapt(episode.support_x, episode.support_y)(episode.query_x).argmax(dim=1)
        assert torch.equal(ex.nearest_neighbour_predict(episode.support_x, episode.support_y, episode.query_x), library)


def test_nearest_neighbour_cases_tell_label_from_position():
    # case 2 is there to catch "return the position": on it the two must differ
    support_x, support_y, query_x = ex.NN_CASES[1].args
    positions = torch.cdist(query_x.flatten(1), support_x.flatten(1)).argmin(dim=1)
    assert not torch.equal(positions, ex.nearest_neighbour_predict(support_x, support_y, query_x))


def test_a_tensor_or_none_where_an_int_is_expected_gets_a_cross_naming_the_type():
    tensor = ex.check_images_per_episode(lambda n, k, q: torch.tensor([n * (k + q)]))
    assert not tensor and tensor.attempted
    assert "case 1" in tensor.message and "expected an int, got a tensor of shape (1,) ([30])" in tensor.message
    pair = ex.check_images_per_episode(lambda n, k, q: torch.tensor([n, k + q]))  # used to crash the checker
    assert not pair and "expected an int, got a tensor of shape (2,)" in pair.message
    nothing = ex.check_images_per_episode(lambda n, k, q: None)
    assert "expected an int, got None" in nothing.message and "`return` missing" in nothing.message


def test_nearest_neighbour_editing_its_inputs_does_not_corrupt_the_hidden_cases():
    before = [tuple(a.clone() for a in case.args) for case in ex.NN_CASES]

    def zeroes_the_labels(support_x, support_y, query_x):
        support_y.zero_()
        query_x.add_(1.0)
        return ex.nearest_neighbour_predict(support_x, support_y, query_x)

    assert not ex.check_nearest_neighbour_predict(zeroes_the_labels)
    assert all(torch.equal(a, b) for case, saved in zip(ex.NN_CASES, before) for a, b in zip(case.args, saved))
    # a wrong answer (all zeros) is still told apart afterwards
    assert not ex.check_nearest_neighbour_predict(lambda s, y, q: torch.zeros(len(q), dtype=torch.long))
    assert ex.check_nearest_neighbour_predict(ex.nearest_neighbour_predict)


# -- multiple choice --------------------------------------------------------------------------


def test_new_alphabets_question_grades_and_renders():
    q = ex.NEW_ALPHABETS_QUESTION
    assert isinstance(q, MultipleChoice)
    assert q.grade(q.answer).startswith("✓")
    assert all(q.grade(i).startswith("✗") for i in range(len(q.options)) if i != q.answer)
    static = q._repr_html_()
    assert "<details>" in static and "disjoint" in static
    assert f'<div class="ml-fb ml-right">✓ Correct.' in static
