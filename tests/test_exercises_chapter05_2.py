"""Section 5.2's exercises: the checkers accept their reference solutions, recognise the typical
wrong answers (a second softmax, per-example cross-entropy, the log of an underflowed attention,
an LSTM that reads each support example alone, …) with the failing case named, say "not
attempted" for the notebook's stubs; the references agree with the library's Matching Networks."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metalearn_lite import Episode, EpisodeBatch
from metalearn_lite.exercises import chapter05_2 as ex
from metalearn_lite.metric import FullContextEmbedding, MatchingNetwork, cosine_similarity_matrix, log_label_distribution


def stub(*args):
    raise NotImplementedError


# -- episode_loss ----------------------------------------------------------------------------------
def test_loss_checker_accepts_the_reference_and_other_correct_answers():
    assert ex.check_episode_loss(ex.episode_loss_reference)

    def with_the_library(logits, support_y, query_y, n_way):
        return F.cross_entropy(log_label_distribution(logits, support_y, n_way), query_y)

    def log_softmax_then_logsumexp(logits, support_y, query_y, n_way):
        log_a = torch.log_softmax(logits, dim=1)
        log_y_hat = torch.stack([torch.logsumexp(log_a[:, support_y == k], 1) for k in range(n_way)], 1)
        return -log_y_hat[torch.arange(len(query_y)), query_y].mean()

    for correct in (with_the_library, log_softmax_then_logsumexp):
        result = ex.check_episode_loss(correct)
        assert result and repr(result).startswith("✓"), result


@pytest.mark.parametrize("wrong, case, words", [
    (ex.double_softmax_loss, "case 1", "F.cross_entropy applied to the probabilities"),
    (ex.support_index_loss, "case 2", "as if example i were class i"),
    (ex.naive_log_loss, "case 4", "torch.logsumexp"),
])
def test_loss_checker_recognises_the_typical_slips(wrong, case, words):
    result = ex.check_episode_loss(wrong)
    assert not result and result.attempted
    assert case in result.message and words in result.message


def test_loss_checker_rejects_other_wrong_answers_with_hints():
    def per_query(logits, support_y, query_y, n_way):  # forgot the mean
        y_hat = torch.softmax(logits, 1) @ F.one_hot(support_y, n_way).to(logits.dtype)
        return -torch.log(y_hat[torch.arange(len(query_y)), query_y])

    def epsilon_log(logits, support_y, query_y, n_way):  # "fixes" the underflow with an ε: wrong value
        y_hat = torch.softmax(logits, 1) @ F.one_hot(support_y, n_way).to(logits.dtype)
        return F.nll_loss(torch.log(y_hat + 1e-12), query_y)

    result = ex.check_episode_loss(per_query)
    assert not result and result.attempted and "case 1" in result.message and "shape ()" in result.message
    result = ex.check_episode_loss(epsilon_log)
    assert not result and result.attempted and "case 4" in result.message and "Hint:" in result.message
    crashing = ex.check_episode_loss(lambda logits, *rest: logits.nonexistent())
    assert not crashing and crashing.attempted and "raised AttributeError" in crashing.message


def test_loss_reference_equals_the_library_meta_loss():
    torch.manual_seed(0)
    learner = MatchingNetwork(nn.Linear(4, 3).double(), scale=7.0)
    g = torch.Generator().manual_seed(1)
    ep = Episode(torch.randn(6, 4, generator=g, dtype=torch.float64), torch.tensor([2, 0, 1, 1, 0, 2]),
                 torch.randn(5, 4, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 1]))
    library, _ = learner.meta_loss(EpisodeBatch.stack([ep]))
    embed = learner.encoder
    logits = 7.0 * cosine_similarity_matrix(embed(ep.query_x), embed(ep.support_x))
    ours = ex.episode_loss_reference(logits, ep.support_y, ep.query_y, 3)
    assert torch.allclose(ours, library, rtol=0, atol=1e-12)


# -- full_context_support --------------------------------------------------------------------------
def test_fce_checker_accepts_the_reference():
    result = ex.check_full_context_support(ex.full_context_support_reference)
    assert result and repr(result).startswith("✓")

    def unbatched(support_emb, lstm):  # a 2-D input is one unbatched sequence: also right
        outputs, _ = lstm(support_emb)
        d = support_emb.shape[-1]
        return support_emb + outputs[:, :d] + outputs[:, d:]

    assert ex.check_full_context_support(unbatched)


@pytest.mark.parametrize("wrong, words", [
    (ex.each_alone_support, "sequence of its own"),
    (ex.no_skip_support, "skip connection is missing"),
    (ex.forward_only_support, "backward hidden states"),
])
def test_fce_checker_recognises_the_typical_slips(wrong, words):
    result = ex.check_full_context_support(wrong)
    assert not result and result.attempted and "case 1" in result.message and words in result.message


def test_fce_checker_rejects_a_concatenation():
    def concatenated(support_emb, lstm):
        outputs, _ = lstm(support_emb[None])
        return outputs[0]  # (S, 2D)

    result = ex.check_full_context_support(concatenated)
    assert not result and result.attempted and "case 1" in result.message and "shape" in result.message


def test_fce_reference_equals_the_library():
    torch.manual_seed(0)
    fce = FullContextEmbedding(5).double()
    support = torch.randn(6, 5, dtype=torch.float64)
    assert torch.allclose(ex.full_context_support_reference(support, fce.support_lstm), fce.embed_support(support),
                          rtol=0, atol=1e-12)


def test_stubs_are_not_attempted_yet():
    for checker in (ex.check_episode_loss, ex.check_full_context_support):
        result = checker(stub)
        assert not result and not result.attempted
        assert repr(result).startswith("…") and "not attempted yet" in result.message


@pytest.mark.parametrize("question", [ex.LEARNED_QUESTION, ex.ANY_WAY_QUESTION])
def test_multiple_choice(question):
    assert question.grade(question.answer).startswith("✓")
    wrong = (question.answer + 1) % len(question.options)
    assert question.grade(wrong).startswith("✗")
    assert "<details>" in question._repr_html_()


def test_a_python_number_for_the_scalar_loss_is_a_cross():
    number = ex.check_episode_loss(lambda *args: ex.episode_loss_reference(*args).item())
    assert not number and "expected a tensor of shape () and dtype torch.float64, got a float" in number.message
    column = ex.check_full_context_support(lambda s, lstm: ex.full_context_support_reference(s, lstm)[None])
    assert not column and "got one of shape (1, 4, 3)" in column.message
