"""Reptile checked against a slow reference written from the algorithm of Nichol et al. (2018).

Algorithm 1/2 of the paper, in the form the library documents (``metalearn_lite/gradient/reptile.py``)::

    φᵢ = k full-batch steps from θ on task i's data   (SGD: φ ← φ − α g;
                                                       Adam with β₁ = 0, β₂ = 0.999, ε = 1e−8, fresh per task:
                                                       v ← β₂ v + (1 − β₂) g², φ ← φ − α g / (√(v / (1 − β₂ᵗ)) + ε))
    θ ← θ + ε_outer (φ̄ − θ),   φ̄ = mean of φᵢ over the meta-batch

while meta-training the task's data is support + query pooled (``use_query=True``) or the support
set alone; ``adapt`` trains on the support set with ``inner_steps`` (train mode) or
``test_inner_steps`` (eval mode). The network is a one-hidden-layer tanh MLP; its cross-entropy
gradients are written out by the chain rule and every optimiser step is plain Python over float64
numbers, one coordinate at a time. Compared to 1e-10: φ (through the adapted predictions), the
surrogate's value and gradient θ − φ̄, the outer SGD step, and the logged query loss.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import metalearn_lite as ml
from metalearn_lite.data.episodes import Episode, EpisodeBatch
from metalearn_lite.gradient import Reptile

TOL = 1e-10
NAMES = ("0.weight", "0.bias", "2.weight", "2.bias")


def forward(params, x):
    w1, b1, w2, b2 = (params[n] for n in NAMES)
    out = []
    for xi in x:
        a = [math.tanh(sum(w1[j][d] * xi[d] for d in range(len(xi))) + b1[j]) for j in range(len(b1))]
        out.append([sum(w2[k][j] * a[j] for j in range(len(a))) + b2[k] for k in range(len(b2))])
    return out


def loss_and_gradients(params, x, y):
    """Mean cross-entropy over the batch and its gradient, by the chain rule."""
    w1, b1, w2, b2 = (params[n] for n in NAMES)
    n = len(x)
    grads = {name: [[0.0] * len(r) for r in v] if isinstance(v[0], list) else [0.0] * len(v) for name, v in params.items()}
    total = 0.0
    for xi, yi in zip(x, y):
        a = [math.tanh(sum(w1[j][d] * xi[d] for d in range(len(xi))) + b1[j]) for j in range(len(b1))]
        s = [sum(w2[k][j] * a[j] for j in range(len(a))) + b2[k] for k in range(len(b2))]
        m = max(s)
        log_z = m + math.log(sum(math.exp(v - m) for v in s))
        total += (log_z - s[yi]) / n
        ds = [(math.exp(s[k] - log_z) - (1.0 if k == yi else 0.0)) / n for k in range(len(s))]
        for k in range(len(s)):
            grads["2.bias"][k] += ds[k]
            for j in range(len(a)):
                grads["2.weight"][k][j] += ds[k] * a[j]
        for j in range(len(a)):
            dz = sum(w2[k][j] * ds[k] for k in range(len(s))) * (1 - a[j] ** 2)
            grads["0.bias"][j] += dz
            for d in range(len(xi)):
                grads["0.weight"][j][d] += dz * xi[d]
    return total, grads


def elementwise(f, *trees):
    """Apply f to matching scalars of nested lists."""
    if isinstance(trees[0], list):
        return [elementwise(f, *parts) for parts in zip(*trees)]
    return f(*trees)


def inner_loop(theta, x, y, lr, steps, optimizer):
    """k full-batch steps of SGD or Adam(β₁ = 0, β₂ = 0.999, ε = 1e−8) from θ; fresh optimiser state."""
    phi = {n: elementwise(lambda v: v, theta[n]) for n in NAMES}
    v = {n: elementwise(lambda _: 0.0, theta[n]) for n in NAMES}
    beta2, eps = 0.999, 1e-8
    for t in range(1, steps + 1):
        _, g = loss_and_gradients(phi, x, y)
        for n in NAMES:
            if optimizer == "sgd":
                phi[n] = elementwise(lambda p, gi: p - lr * gi, phi[n], g[n])
            else:  # β₁ = 0: the first moment is the gradient itself; bias correction of v only
                v[n] = elementwise(lambda vi, gi: beta2 * vi + (1 - beta2) * gi * gi, v[n], g[n])
                correction = 1 - beta2 ** t
                phi[n] = elementwise(lambda p, gi, vi: p - lr * gi / (math.sqrt(vi / correction) + eps), phi[n], g[n], v[n])
    return phi


def params_of(model):
    return {n: p.detach().tolist() for n, p in model.named_parameters()}


def as_list(x):
    return x.tolist()


def close(actual, expected):
    expected = torch.as_tensor(expected, dtype=torch.float64)
    actual = torch.as_tensor(actual, dtype=torch.float64)
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    err = (actual.detach() - expected).abs().max().item()
    assert err < TOL, f"max abs error {err:.3g}"


def make_model(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model


def episode(seed, n_way=3, k_shot=2, q=2):
    g = torch.Generator().manual_seed(200 + seed)
    return Episode(
        support_x=torch.randn(n_way * k_shot, 4, generator=g, dtype=torch.float64),
        support_y=torch.arange(n_way).repeat_interleave(k_shot),
        query_x=torch.randn(n_way * q, 4, generator=g, dtype=torch.float64),
        query_y=torch.arange(n_way).repeat(q),
    )


@pytest.mark.parametrize("optimizer, lr, steps, test_steps", [("sgd", 0.3, 3, 5), ("adam", 0.05, 4, 2)])
def test_adapt_is_k_full_batch_optimiser_steps_on_the_support_set(optimizer, lr, steps, test_steps):
    model = make_model(0)
    learner = Reptile(model, inner_lr=lr, inner_steps=steps, test_inner_steps=test_steps, inner_optimizer=optimizer)
    ep = episode(0)
    theta = params_of(model)
    sx, sy, qx = as_list(ep.support_x), ep.support_y.tolist(), as_list(ep.query_x)
    for mode, k in (("train", steps), ("eval", test_steps)):
        learner.train(mode == "train")
        phi = inner_loop(theta, sx, sy, lr, k, optimizer)
        close(learner.adapt(ep.support_x, ep.support_y)(ep.query_x), forward(phi, qx))
        close(learner.inner_loop(ep.support_x, ep.support_y, steps=1)["2.weight"],
              inner_loop(theta, sx, sy, lr, 1, optimizer)["2.weight"])
    for n, p in model.named_parameters():  # θ untouched
        close(p, theta[n])


def test_the_first_adam_step_of_each_task_is_lr_times_the_sign_of_the_gradient():
    model = make_model(1)
    learner = Reptile(model, inner_lr=0.01, inner_steps=1, inner_optimizer="adam")
    for seed in (1, 2):  # a fresh Adam per task: the same first step for the second task too
        ep = episode(seed)
        _, g = loss_and_gradients(params_of(model), as_list(ep.support_x), ep.support_y.tolist())
        phi = learner.inner_loop(ep.support_x, ep.support_y)
        for n, p in model.named_parameters():
            gn = torch.tensor(g[n], dtype=torch.float64)
            assert torch.allclose(phi[n] - p.detach(), -0.01 * gn / (gn.abs() + 1e-8), atol=1e-12, rtol=0)


@pytest.mark.parametrize("optimizer, use_query", [("sgd", True), ("sgd", False), ("adam", True)])
def test_meta_step_moves_theta_towards_the_mean_adapted_weights(optimizer, use_query):
    lr, steps, epsilon, batch_size = (0.3, 3, 0.4, 3) if optimizer == "sgd" else (0.05, 3, 0.4, 3)
    model = make_model(2)
    learner = Reptile(model, inner_lr=lr, inner_steps=steps, test_inner_steps=1, inner_optimizer=optimizer,
                      use_query=use_query)
    episodes = [episode(10 + i) for i in range(batch_size)]
    batch = EpisodeBatch.stack(episodes)
    theta = params_of(model)
    phi_mean = {n: elementwise(lambda _: 0.0, theta[n]) for n in NAMES}
    query_losses = []
    for ep in episodes:
        sx, sy = as_list(ep.support_x), ep.support_y.tolist()
        x, y = (sx + as_list(ep.query_x), sy + ep.query_y.tolist()) if use_query else (sx, sy)
        phi = inner_loop(theta, x, y, lr, steps, optimizer)  # train mode: inner_steps, not test_inner_steps
        for n in NAMES:
            phi_mean[n] = elementwise(lambda m, p: m + p / batch_size, phi_mean[n], phi[n])
        phi_support = inner_loop(theta, sx, sy, lr, steps, optimizer)
        query_losses.append(loss_and_gradients(phi_support, as_list(ep.query_x), ep.query_y.tolist())[0])
    direction = {n: elementwise(lambda t, p: t - p, theta[n], phi_mean[n]) for n in NAMES}  # θ − φ̄
    surrogate = 0.5 * sum(v * v for n in NAMES for v in torch.tensor(direction[n], dtype=torch.float64).flatten().tolist())

    learner.train()
    loss, metrics = learner.meta_loss(batch)
    close(loss, surrogate)
    assert abs(metrics["loss"] - sum(query_losses) / batch_size) < TOL
    loss.backward()
    for n, p in model.named_parameters():
        close(p.grad, direction[n])
    torch.optim.SGD(learner.parameters(), lr=epsilon).step()  # θ ← θ + ε (φ̄ − θ)
    for n, p in model.named_parameters():
        close(p, elementwise(lambda t, m: t + epsilon * (m - t), theta[n], phi_mean[n]))


def test_reptile_trains_with_meta_train_and_sgd_as_the_outer_step():
    """Smoke check that the reference setting is the one meta_train runs (one outer step)."""
    model = make_model(3)
    learner = Reptile(model, inner_lr=0.3, inner_steps=2)
    ep = episode(3)
    before = params_of(model)
    phi = inner_loop(before, as_list(torch.cat([ep.support_x, ep.query_x])),
                     ep.support_y.tolist() + ep.query_y.tolist(), 0.3, 2, "sgd")

    class OneTask:
        def sample(self, batch_size):
            return EpisodeBatch.stack([ep] * batch_size)

        def episode(self):
            return ep

    ml.meta_train(learner, OneTask(), steps=1, meta_batch_size=2, optimizer=torch.optim.SGD(learner.parameters(), lr=0.5),
                  progress=False)
    for n, p in model.named_parameters():
        close(p, elementwise(lambda t, m: t + 0.5 * (m - t), before[n], phi[n]))
