"""Chapter 2's exercises: every checker accepts its reference solution, rejects typical wrong
answers with the failing case named, and says "not attempted" for the notebook's stubs; the
references agree with the library."""
import torch

import metalearn_lite as ml
from metalearn_lite.exercises import chapter02 as ex


def stub(*args):
    raise NotImplementedError


# -- relabel ----------------------------------------------------------------------------------


def test_relabel_accepts_the_reference():
    result = ex.check_relabel(ex.relabel_reference)
    assert result and result.attempted and repr(result).startswith("✓")


def test_relabel_rejects_sorted_order():
    result = ex.check_relabel(lambda labels: torch.unique(labels, return_inverse=True)[1])
    assert not result and result.attempted
    assert "case 1" in result.message and "order they first appear" in result.message


def test_relabel_rejects_floats_and_reports_errors():
    as_floats = ex.check_relabel(lambda labels: ex.relabel_reference(labels).float())
    assert not as_floats and "int64" in as_floats.message
    as_list = ex.check_relabel(lambda labels: ex.relabel_reference(labels).tolist())
    assert not as_list and "got a list" in as_list.message
    crashing = ex.check_relabel(lambda labels: labels.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_relabel_reference_matches_the_sampler_numbering():
    blobs = ml.make_blob_classes()
    episode = ml.EpisodeSampler(blobs, n_way=5, k_shot=2, q_queries=1, seed=4).episode()
    original = episode.task["classes"].repeat_interleave(2)  # the support's original class ids
    assert torch.equal(ex.relabel_reference(original), episode.support_y)


# -- split_support_query ----------------------------------------------------------------------


def test_split_accepts_the_reference():
    assert ex.check_split_support_query(ex.split_support_query_reference)


def test_split_rejects_interleaved_labels():
    def interleaved(x_by_class, k_shot):
        s_x, _, q_x, _ = ex.split_support_query_reference(x_by_class, k_shot)
        n, q = x_by_class.shape[0], x_by_class.shape[1] - k_shot
        return s_x, torch.arange(n).repeat(k_shot), q_x, torch.arange(n).repeat(q)

    result = ex.check_split_support_query(interleaved)
    assert not result and result.attempted and "repeat_interleave" in result.message


def test_split_rejects_query_taken_from_the_front():
    def wrong(x_by_class, k_shot):  # queries = the first Q examples, overlapping the support set
        n, per_class = x_by_class.shape[:2]
        q = per_class - k_shot
        labels = torch.arange(n)
        return (x_by_class[:, :k_shot].flatten(0, 1), labels.repeat_interleave(k_shot),
                x_by_class[:, :q].flatten(0, 1), labels.repeat_interleave(q))

    assert not ex.check_split_support_query(wrong)


def test_split_reference_rebuilds_a_sampler_episode():
    blobs = ml.make_blob_classes()
    n, k, q = 4, 3, 2
    episode = ml.EpisodeSampler(blobs, n_way=n, k_shot=k, q_queries=q, seed=7).episode()
    x_by_class = torch.cat([episode.support_x.view(n, k, -1), episode.query_x.view(n, q, -1)], dim=1)
    got = ex.split_support_query_reference(x_by_class, k)
    expected = (episode.support_x, episode.support_y, episode.query_x, episode.query_y)
    assert all(torch.equal(g, e) for g, e in zip(got, expected))


def test_split_answers_of_the_wrong_kind_get_a_cross_naming_the_type():
    for answer, kind in ((None, "got None"), ("abc", "got a str"), ({"x": 1}, "got a dict")):
        result = ex.check_split_support_query(lambda x, k: answer)
        assert not result and result.attempted and f"expected a tuple of 4 values, {kind}" in result.message
    nones = ex.check_split_support_query(lambda x, k: (None, None, None, None))  # used to crash the checker
    assert not nones and "value 1 of the tuple: expected a tensor of shape (5,) and dtype torch.float32, got None" in nones.message

    def float_labels(x_by_class, k_shot):
        sx, sy, qx, qy = ex.split_support_query_reference(x_by_class, k_shot)
        return sx, sy.float(), qx, qy

    result = ex.check_split_support_query(float_labels)
    assert "value 2 of the tuple: the values are right, but the tensor's dtype is torch.float32" in result.message


# -- stubs and questions ----------------------------------------------------------------------


def test_stubs_are_not_attempted_yet():
    for checker in (ex.check_relabel, ex.check_split_support_query):
        result = checker(stub)
        assert not result and not result.attempted
        assert repr(result).startswith("…") and "not attempted yet" in result.message


def test_multiple_choice_questions_grade_right_and_wrong_answers():
    for question in (ex.EPISODE_LABELS_QUESTION, ex.BANDIT_SUPPORT_QUESTION):
        assert question.grade(question.answer).startswith("✓")
        wrong = (question.answer + 1) % len(question.options)
        assert question.grade(wrong).startswith("✗")
        html = question._repr_html_()
        assert "<details>" in html and question.options[question.answer] in html


def test_split_answers_are_compared_as_returned():
    listed = ex.check_split_support_query(lambda x, k: tuple(t.tolist() for t in ex.split_support_query_reference(x, k)))
    assert not listed and "value 1 of the tuple: expected a tensor of shape (5,) and dtype torch.float32, got a list" in listed.message
    float_labels = ex.check_split_support_query(
        lambda x, k: tuple(t.float() for t in ex.split_support_query_reference(x, k)))
    assert not float_labels and "value 2 of the tuple: the values are right, but the tensor's dtype is torch.float32" in float_labels.message
    flat = ex.check_split_support_query(
        lambda x, k: (lambda s, sy, q, qy: (s.flatten(), sy, q, qy))(*ex.split_support_query_reference(x, k)))
    assert not flat and flat.message.startswith("case 2")  # case 1's examples are scalars: flattening changes nothing
    assert "value 1 of the tuple: expected a tensor of shape (6, 2) and dtype torch.float32" in flat.message
    assert "got one of shape (12,)" in flat.message
