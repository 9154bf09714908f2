"""Matching Networks checked against a slow reference written from the paper's equations.

Vinyals et al. (2016), eqs. 1–2 and Appendix A.2 (full context embeddings), as the book's
chapter 4.2 writes them:

    g(xᵢ, S)  = g'(xᵢ) + h→ᵢ + h←ᵢ                    bidirectional LSTM over g'(x₁) … g'(x_S)
    r_{k−1}   = Σᵢ a(h_{k−1}, g(xᵢ)) g(xᵢ),  a = softmax_i(h_{k−1}ᵀ g(xᵢ))
    ĥ_k, c_k  = LSTM(f'(x̂), [h_{k−1}, r_{k−1}], c_{k−1})
    h_k       = ĥ_k + f'(x̂),  h₀ = f'(x̂), c₀ = 0,  f(x̂, S) = h_K
    a(x̂, xᵢ)  = softmax_i(s · cos(f(x̂, S), g(xᵢ, S))),   ŷ = Σᵢ a(x̂, xᵢ) onehot(yᵢ)

The reference below is plain Python over float64 numbers (explicit loops over examples, time
steps and vector components); it reads the library's weights (the LSTM matrices, the encoder)
but none of its forward code. Every equation is compared separately where the library exposes
the quantity (g, f, the attention), and the final scores always, to 1e-10.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from metalearn_lite.metric import MatchingNetwork

from plain_math import add, dot, matvec, rows, sigmoid, softmax

TOL = 1e-10


# --- plain-Python linear algebra (the rest in plain_math.py) -------------------------------------
def cosine(a, b):
    return dot(a, b) / (math.sqrt(dot(a, a)) * math.sqrt(dot(b, b)))


def lstm_step(x_parts, h, c, w_x_parts, w_h, bias):
    """One LSTM step (gates i, f, g, o): z = Σ W_x·x + W_h h + b; c' = f c + i g; h' = o tanh(c')."""
    z = add(*[matvec(w, x) for w, x in zip(w_x_parts, x_parts)], matvec(w_h, h), bias)
    d = len(h)
    i = [sigmoid(v) for v in z[:d]]
    f = [sigmoid(v) for v in z[d:2 * d]]
    g = [math.tanh(v) for v in z[2 * d:3 * d]]
    o = [sigmoid(v) for v in z[3 * d:]]
    c_new = [f[j] * c[j] + i[j] * g[j] for j in range(d)]
    h_new = [o[j] * math.tanh(c_new[j]) for j in range(d)]
    return h_new, c_new


# --- the reference ---------------------------------------------------------------------------------
def reference_encoder(learner, x):
    """f' = g': the encoder here is one linear map on the flattened input."""
    lin = learner.encoder[1]
    return [add(matvec(rows(lin.weight), xi.flatten().tolist()), lin.bias.tolist()) for xi in x]


def reference_g(learner, g_prime):
    """g(xᵢ, S) = g'(xᵢ) + h→ᵢ + h←ᵢ."""
    lstm, d, n = learner.fce.support_lstm, learner.fce.dim, len(g_prime)
    zeros = [0.0] * d

    def run(direction_suffix, order):
        w_ih = rows(getattr(lstm, "weight_ih_l0" + direction_suffix))
        w_hh = rows(getattr(lstm, "weight_hh_l0" + direction_suffix))
        b = add(getattr(lstm, "bias_ih_l0" + direction_suffix).tolist(), getattr(lstm, "bias_hh_l0" + direction_suffix).tolist())
        h, c, out = zeros, zeros, {}
        for i in order:
            h, c = lstm_step([g_prime[i]], h, c, [w_ih], w_hh, b)
            out[i] = h
        return out

    forward = run("", range(n))  # h→ᵢ: has read g'(x₁) … g'(xᵢ)
    backward = run("_reverse", reversed(range(n)))  # h←ᵢ: has read g'(x_S) … g'(xᵢ)
    return [add(g_prime[i], forward[i], backward[i]) for i in range(n)]


def reference_f(learner, f_prime, g):
    """f(x̂, S) = h_K of the attention LSTM."""
    cell, d = learner.fce.query_cell, learner.fce.dim
    w_ih = rows(cell.weight_ih)
    w_x = [r[:d] for r in w_ih]  # acts on f'(x̂)
    w_r = [r[d:] for r in w_ih]  # acts on r_{k−1}
    w_h = rows(cell.weight_hh)  # acts on h_{k−1}
    b = add(cell.bias_ih.tolist(), cell.bias_hh.tolist())
    out = []
    for fq in f_prime:
        h, c = list(fq), [0.0] * d  # h₀ = f'(x̂), c₀ = 0
        for _ in range(learner.fce.processing_steps):
            a = softmax([dot(h, gi) for gi in g])  # a(h_{k−1}, g(xᵢ))
            r = [sum(a[i] * g[i][j] for i in range(len(g))) for j in range(d)]  # r_{k−1}
            h_hat, c = lstm_step([fq, r], h, c, [w_x, w_r], w_h, b)
            h = add(h_hat, fq)  # h_k = ĥ_k + f'(x̂)
        out.append(h)
    return out


def reference_scores(learner, f, g, support_y, n_way):
    """a(x̂, xᵢ) = softmax_i(s cos(f, gᵢ)); log ŷ_k = log Σ_{i: yᵢ=k} a(x̂, xᵢ)."""
    attention = [softmax([learner.scale * cosine(fq, gi) for gi in g]) for fq in f]
    log_y = [[math.log(sum(a[i] for i in range(len(g)) if support_y[i] == k)) for k in range(n_way)] for a in attention]
    return attention, log_y


def close(actual, expected):
    expected = torch.tensor(expected, dtype=torch.float64)
    assert actual.shape == expected.shape
    err = (actual.detach() - expected).abs().max().item()
    assert err < TOL, f"max abs error {err:.3g}"


def make_learner(seed, dim, steps, scale, fce=True, in_features=5):
    torch.manual_seed(seed)
    learner = MatchingNetwork(nn.Sequential(nn.Flatten(), nn.Linear(in_features, dim)), fce=fce, scale=scale,
                              processing_steps=steps, embedding_dim=dim).double()
    with torch.no_grad():  # larger weights than the default init, so every gate and term matters
        for p in learner.parameters():
            p.mul_(2.0)
    return learner


def episode(seed, n_way=3, k_shot=2, q=4, in_features=5):
    g = torch.Generator().manual_seed(seed)
    support_x = torch.randn(n_way * k_shot, 1, in_features, generator=g, dtype=torch.float64)
    support_y = torch.randperm(n_way * k_shot, generator=g) % n_way  # classes interleaved, not sorted
    query_x = torch.randn(q, 1, in_features, generator=g, dtype=torch.float64)
    return support_x, support_y, query_x, n_way


@pytest.mark.parametrize("seed, dim, steps, scale", [(0, 4, 3, 1.0), (1, 3, 1, 5.0), (2, 5, 4, 2.0)])
def test_full_context_embeddings_equal_the_papers_equations(seed, dim, steps, scale):
    learner = make_learner(seed, dim, steps, scale)
    support_x, support_y, query_x, n_way = episode(seed)
    g_prime = reference_encoder(learner, support_x)
    f_prime = reference_encoder(learner, query_x)
    g = reference_g(learner, g_prime)
    f = reference_f(learner, f_prime, g)
    attention, log_y = reference_scores(learner, f, g, support_y.tolist(), n_way)

    with torch.no_grad():
        close(learner.embed(support_x), g_prime)  # g'
        lib_g = learner.embed_support(support_x)
        close(lib_g, g)  # g(xᵢ, S): skip connection + both directions
        close(learner.embed_query(query_x, lib_g), f)  # f(x̂, S): attention LSTM, K steps
        close(learner.fce.embed_query(torch.tensor(f_prime, dtype=torch.float64), torch.tensor(g, dtype=torch.float64)), f)
        close(learner.attention(support_x, support_y, query_x), attention)  # eq. 2
        close(learner.adapt(support_x, support_y)(query_x), log_y)  # log ŷ, eq. 1


def test_zero_processing_steps_give_f_equal_to_f_prime():
    learner = make_learner(3, 4, 0, 1.0)
    support_x, support_y, query_x, n_way = episode(3)
    g = reference_g(learner, reference_encoder(learner, support_x))
    f = reference_encoder(learner, query_x)  # h₀ = f'(x̂)
    _, log_y = reference_scores(learner, f, g, support_y.tolist(), n_way)
    with torch.no_grad():
        close(learner.adapt(support_x, support_y)(query_x), log_y)


def test_without_fce_the_scores_are_eqs_1_and_2_on_the_encoder():
    learner = make_learner(4, 4, 2, 3.0, fce=False)
    support_x, support_y, query_x, n_way = episode(4)
    attention, log_y = reference_scores(learner, reference_encoder(learner, query_x),
                                        reference_encoder(learner, support_x), support_y.tolist(), n_way)
    with torch.no_grad():
        close(learner.attention(support_x, support_y, query_x), attention)
        close(learner.adapt(support_x, support_y)(query_x), log_y)
