"""The episode sampler: class balance, disjoint support/query, labels 0..N-1, determinism, errors."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metalearn_lite import EpisodeBatch, EpisodeSampler, FewShotDataset, make_blob_classes


def indexed_dataset(num_classes: int, per_class: int) -> FewShotDataset:
    """Each example's value is its own position, so we can see exactly which ones were drawn."""
    n = num_classes * per_class
    y = torch.arange(num_classes).repeat_interleave(per_class)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(num_classes))  # interleave classes
    return FewShotDataset(x=torch.arange(n).float()[:, None], y=y[perm], class_names=[f"c{i}" for i in range(num_classes)])


sizes = st.tuples(
    st.integers(1, 12),  # classes in the dataset
    st.integers(2, 12),  # examples per class
).flatmap(lambda cp: st.tuples(
    st.just(cp[0]), st.just(cp[1]),
    st.integers(1, cp[0]),  # n_way
    st.integers(1, cp[1] - 1),  # k_shot
).flatmap(lambda t: st.tuples(*map(st.just, t), st.integers(1, t[1] - t[3]), st.integers(0, 2**31 - 1))))


@settings(max_examples=60, deadline=None)
@given(sizes)
def test_episode_invariants(params):
    num_classes, per_class, n, k, q, seed = params
    ds = indexed_dataset(num_classes, per_class)
    ep = EpisodeSampler(ds, n, k, q, seed=seed).episode()
    assert ep.support_x.shape == (n * k, 1) and ep.query_x.shape == (n * q, 1)
    # labels 0..N-1, class-balanced, laid out class by class
    assert torch.equal(ep.support_y, torch.arange(n).repeat_interleave(k))
    assert torch.equal(ep.query_y, torch.arange(n).repeat_interleave(q))
    support, query = ep.support_x[:, 0].long(), ep.query_x[:, 0].long()
    # support and query never share an example, and nothing is drawn twice
    drawn = torch.cat([support, query])
    assert len(set(drawn.tolist())) == len(drawn)
    # every example really belongs to the class its label says, and classes are distinct
    classes = ep.task["classes"]
    assert len(set(classes.tolist())) == n
    assert torch.equal(ds.y[support], classes[ep.support_y])
    assert torch.equal(ds.y[query], classes[ep.query_y])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_same_seed_same_episodes_and_different_seed_differs(seed):
    ds = make_blob_classes(num_classes=30, per_class=10)
    a = EpisodeSampler(ds, 5, 2, 3, seed=seed).sample(3)
    b = EpisodeSampler(ds, 5, 2, 3, seed=seed).sample(3)
    c = EpisodeSampler(ds, 5, 2, 3, seed=seed + 1).sample(3)
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)
    assert not torch.equal(a.support_x, c.support_x)


def test_class_choice_is_uniform():
    ds = make_blob_classes(num_classes=10, per_class=5)
    sampler = EpisodeSampler(ds, 2, 1, 1, seed=0)
    counts = torch.zeros(10)
    for _ in range(2000):
        counts[sampler.episode().task["classes"]] += 1
    assert counts.sum() == 4000
    assert (counts - 400).abs().max() < 80  # ~4 standard deviations


def test_meta_batch_stacks_and_unstacks():
    ds = make_blob_classes(num_classes=20, per_class=8, dim=6)
    batch = EpisodeSampler(ds, 4, 2, 3, seed=1).sample(5)
    assert isinstance(batch, EpisodeBatch) and len(batch) == 5
    assert batch.support_x.shape == (5, 8, 6) and batch.query_y.shape == (5, 12)
    assert batch.task["classes"].shape == (5, 4)
    episodes = list(batch)
    assert len(episodes) == 5 and torch.equal(episodes[2].query_x, batch.query_x[2])
    assert batch.n_way == 4 and episodes[0].n_way == 4


def test_transform_applies_to_support_and_query():
    ds = make_blob_classes(num_classes=10, per_class=5, dim=3, informative=2)
    plain = EpisodeSampler(ds, 3, 1, 2, seed=0).episode()
    shifted = EpisodeSampler(ds, 3, 1, 2, seed=0, transform=lambda x, g: x + 100).episode()
    assert torch.allclose(shifted.support_x, plain.support_x + 100)
    assert torch.allclose(shifted.query_x, plain.query_x + 100)


@pytest.mark.parametrize(
    "n, k, q, message",
    [
        (11, 1, 1, "n_way=11 is larger than the number of classes"),
        (5, 4, 2, "has only 5"),
        (0, 1, 1, "n_way must be a positive integer"),
        (5, 0, 1, "k_shot must be a positive integer"),
        (5, 1, -1, "q_queries must be a positive integer"),
        (5, 1.5, 1, "k_shot must be a positive integer"),
    ],
)
def test_impossible_episodes_say_which_limit(n, k, q, message):
    ds = make_blob_classes(num_classes=10, per_class=5)
    with pytest.raises(ValueError, match=message):
        EpisodeSampler(ds, n, k, q)


def test_smallest_class_is_named():
    x = torch.zeros(7, 2)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    ds = FewShotDataset(x, y, ["a", "b", "tiny"], name="toy")
    with pytest.raises(ValueError, match="class 'tiny' of toy has only 1"):
        EpisodeSampler(ds, 2, 1, 1)
    with pytest.raises(ValueError, match="positive integer"):
        EpisodeSampler(make_blob_classes(), 5, 1, 1).sample(0)
