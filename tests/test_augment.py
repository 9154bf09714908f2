"""The random affine distortion: identity, shape and range, determinism, real change, ink kept."""
import functools

import torch

from metalearn_lite import EpisodeSampler, FewShotDataset
from metalearn_lite.data.augment import random_affine

IDENTITY = dict(degrees=0.0, scale=0.0, shear=0.0, shift_px=0.0)


def characters(n: int = 32, size: int = 28, seed: int = 0) -> torch.Tensor:
    """``n`` stroke-like images ``(n, 1, size, size)``, ink 1 on background 0, away from the border."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(3):  # three random horizontal/vertical strokes, 2 px thick, inside a 6 px margin
            a, b = sorted(torch.randint(6, size - 6, (2,), generator=g).tolist())
            c = int(torch.randint(6, size - 7, (1,), generator=g))
            if torch.rand(1, generator=g) < 0.5:
                x[i, 0, c:c + 2, a:b + 1] = 1.0
            else:
                x[i, 0, a:b + 1, c:c + 2] = 1.0
    return x


def test_identity_parameters_reproduce_the_image():
    x = characters()
    out = random_affine(x, torch.Generator().manual_seed(0), **IDENTITY)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-5)  # exact up to float32 rounding of the sampling grid


def test_shape_dtype_and_range():
    x = characters(n=7, size=20)
    out = random_affine(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    wide = torch.rand(5, 3, 16, 24, generator=torch.Generator().manual_seed(2))  # several channels, not square
    assert random_affine(wide, torch.Generator().manual_seed(3)).shape == wide.shape


def test_deterministic_for_a_seeded_generator():
    x = characters()
    a = random_affine(x, torch.Generator().manual_seed(7))
    b = random_affine(x, torch.Generator().manual_seed(7))
    c = random_affine(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_default_parameters_change_every_image():
    x = characters()
    out = random_affine(x, torch.Generator().manual_seed(0))
    assert ((out - x).abs().amax(dim=(1, 2, 3)) > 0.1).all()
    # and images of one batch get different maps: the same image twice is distorted differently
    twice = random_affine(x[:1].repeat(2, 1, 1, 1), torch.Generator().manual_seed(0))
    assert not torch.allclose(twice[0], twice[1])


def test_ink_mass_roughly_preserved():
    x = characters(n=64)
    out = random_affine(x, torch.Generator().manual_seed(0))
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    # zoom 0.9-1.1 scales the inked area by at most 1.1^2 (or 0.9^2); nothing leaves the image
    assert ratio.min() > 0.75 and ratio.max() < 1.3
    assert abs(ratio.mean().item() - 1.0) < 0.1


def test_usable_as_an_episode_sampler_transform():
    x = characters(n=40)
    ds = FewShotDataset(x=x, y=torch.arange(8).repeat_interleave(5), class_names=[f"c{i}" for i in range(8)])
    plain = EpisodeSampler(ds, 3, 1, 2, seed=0).episode()
    hooked = EpisodeSampler(ds, 3, 1, 2, seed=0, transform=random_affine).episode()
    again = EpisodeSampler(ds, 3, 1, 2, seed=0, transform=random_affine).episode()
    assert torch.equal(hooked.support_x, again.support_x) and torch.equal(hooked.query_x, again.query_x)
    assert hooked.support_x.shape == plain.support_x.shape and not torch.equal(hooked.support_x, plain.support_x)
    gentle = EpisodeSampler(ds, 3, 1, 2, seed=0, transform=functools.partial(random_affine, **IDENTITY)).episode()
    torch.testing.assert_close(gentle.query_x, plain.query_x, rtol=0, atol=1e-5)
