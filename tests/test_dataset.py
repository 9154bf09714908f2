"""FewShotDataset: validation, subsets, splits by alphabet, rotations as new classes."""
import pytest
import torch

from metalearn_lite import FewShotDataset, make_blob_classes


def test_mismatched_lengths_and_bad_labels_are_refused():
    with pytest.raises(ValueError, match="same length"):
        FewShotDataset(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match="must lie in 0..1"):
        FewShotDataset(torch.zeros(2, 2), torch.tensor([0, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="int64"):
        FewShotDataset(torch.zeros(2, 2), torch.tensor([0.0, 1.0]), ["a", "b"])


def test_split_by_alphabet_is_disjoint_and_complete():
    ds = make_blob_classes(num_classes=40, per_class=3, groups=4)
    a, b = ds.split_by_alphabet(["group0", "group2"])
    assert set(a.alphabets) == {"group0", "group2"} and set(b.alphabets) == {"group1", "group3"}
    assert not set(a.class_names) & set(b.class_names)
    assert a.num_classes + b.num_classes == 40 and len(a) + len(b) == len(ds)
    # relabelled 0..n-1, and every example kept its own class name
    assert a.y.max() == a.num_classes - 1
    name_of = {n: i for i, n in enumerate(ds.class_names)}
    for i in range(len(a)):
        original = name_of[a.class_names[a.y[i]]]
        assert any(torch.equal(a.x[i], ds.x[j]) for j in ds.indices_by_class[original].tolist())
    with pytest.raises(ValueError, match="unknown alphabets"):
        ds.split_by_alphabet(["Klingon"])


def test_rotations_make_four_times_the_classes():
    x = torch.arange(2 * 9, dtype=torch.float).reshape(2, 1, 3, 3)
    ds = FewShotDataset(x, torch.tensor([0, 1]), ["A/c1", "A/c2"], alphabets=["A", "A"])
    rot = ds.with_rotations()
    assert rot.num_classes == 8 and len(rot) == 8
    assert rot.class_names[3] == "A/c2/rot90" and rot.alphabets == ["A"] * 8
    i = (rot.y == 3).nonzero().item()
    assert torch.equal(rot.x[i], torch.rot90(x[1], 1, dims=(-2, -1)))
    with pytest.raises(ValueError, match="square images"):
        make_blob_classes().with_rotations()
