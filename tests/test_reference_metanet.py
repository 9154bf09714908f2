"""Meta Networks checked against a slow reference written from the paper's equations.

Munkhdalai & Yu (2017), §3, in the form the library documents (``metalearn_lite/memory/meta_networks.py``)::

    ∇_i   = ∇_W ℓ(b(W, x'_i), y'_i)            per-example loss gradient of b's two layers, slow weights
    W*_i  = m(∇_i)                              coordinate-wise meta learner, memory M
    Q*    = d(∇_Q L_emb)                        L_emb: prototype cross-entropy of u(Q, x'_i)
    r'_i  = u(Q, Q*, x'_i) = ReLU(Q g'_i + b) + ReLU(Q* g'_i)               keys
    a     = softmax_i(s · cos(u(Q, Q*, x), r'_i))       attention over the *stored examples*
    W*    = Σ_i a_i W*_i
    ŷ     = W₂ z + b₂ + W₂* z,   z = ReLU(W₁ h + b₁) + ReLU(W₁* h)    layer augmentation

The gradients are written out by hand (chain rule, no autograd), the meta learners m and d are
evaluated coordinate by coordinate, and everything is plain Python over float64 numbers; only the
library's weights are read. Compared to 1e-10: the memory M, Q*, the keys, and the scores.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from metalearn_lite.memory import MetaNetwork

from plain_math import add, dot, linear, matvec, rows, softmax

TOL = 1e-10


def relu(v):
    return [max(x, 0.0) for x in v]


def normalize(v):
    n = math.sqrt(dot(v, v))
    return [x / n for x in v]


def coordinate_mlp(mlp, grad_matrix):
    """m(∇) coordinate by coordinate: MLP(log|g|/p, sign g, g), or MLP(−1, e^p g, g) for |g| < e^−p."""
    p = mlp.p
    l1, l2, l3 = mlp.net[0], mlp.net[2], mlp.net[4]
    out = []
    for row in grad_matrix:
        out_row = []
        for g in row:
            if abs(g) >= math.exp(-p):
                features = [math.log(abs(g)) / p, math.copysign(1.0, g), g]
            else:
                features = [-1.0, math.exp(p) * g, g]
            out_row.append(linear(l3, relu(linear(l2, relu(linear(l1, features)))))[0])
        out.append(out_row)
    return out


def example_gradients(learner, h, slot, in_play):
    """∇_{W₁}, ∇_{W₂} of −log softmax_{in play}(W₂ ReLU(W₁ h + b₁) + b₂)[slot], by the chain rule."""
    w2 = rows(learner.output_layer.weight)
    pre = linear(learner.hidden_layer, h)
    a = relu(pre)
    s = linear(learner.output_layer, a)
    p_in = softmax([s[l] for l in in_play])
    p = [0.0] * len(s)
    for l, v in zip(in_play, p_in):
        p[l] = v
    ds = [p[l] - (1.0 if l == slot else 0.0) for l in range(len(s))]
    grad_w2 = [[ds[l] * a[k] for k in range(len(a))] for l in range(len(s))]
    da = [sum(w2[l][k] * ds[l] for l in range(len(s))) for k in range(len(a))]
    dz = [da[k] if pre[k] > 0 else 0.0 for k in range(len(a))]
    grad_w1 = [[dz[k] * h[j] for j in range(len(h))] for k in range(len(a))]
    return grad_w1, grad_w2


def embedding_loss_gradient(learner, g, y, n_way):
    """∇_Q of L_emb = mean_i −log softmax_k(−‖r_i − c_k‖²)[y_i], r_i = ReLU(Q g_i + b), c_k = class means."""
    n, e_dim = len(g), learner.representation_layer.weight.shape[0]
    pre = [linear(learner.representation_layer, gi) for gi in g]
    r = [relu(v) for v in pre]
    counts = [sum(1 for yi in y if yi == k) for k in range(n_way)]
    c = [[sum(r[i][e] for i in range(n) if y[i] == k) / counts[k] for e in range(e_dim)] for k in range(n_way)]
    err = []  # ∂L/∂logit_{ik}
    for i in range(n):
        p = softmax([-sum((r[i][e] - c[k][e]) ** 2 for e in range(e_dim)) for k in range(n_way)])
        err.append([(p[k] - (1.0 if k == y[i] else 0.0)) / n for k in range(n_way)])
    d_c = [[sum(err[i][k] * 2 * (r[i][e] - c[k][e]) for i in range(n)) for e in range(e_dim)] for k in range(n_way)]
    d_r = [[sum(err[j][k] * -2 * (r[j][e] - c[k][e]) for k in range(n_way)) + d_c[y[j]][e] / counts[y[j]]
            for e in range(e_dim)] for j in range(n)]
    d_pre = [[d_r[j][e] if pre[j][e] > 0 else 0.0 for e in range(e_dim)] for j in range(n)]
    return [[sum(d_pre[j][e] * g[j][d] for j in range(n)) for d in range(len(g[0]))] for e in range(e_dim)]


def trunk(encoder, x):
    return [linear(encoder[1], xi.flatten().tolist()) for xi in x]


def reference(learner, support_x, support_y, query_x, slots):
    y = support_y.tolist()
    n_way = max(y) + 1
    in_play = sorted(slots)
    # memory: per-example fast weights of b
    h_support = trunk(learner.base_encoder, support_x)
    memory_hidden, memory_output = [], []
    for h_i, y_i in zip(h_support, y):
        g1, g2 = example_gradients(learner, h_i, slots[y_i], in_play)
        memory_hidden.append(coordinate_mlp(learner.m_hidden, g1))
        memory_output.append(coordinate_mlp(learner.m_output, g2))
    # task-level fast weights of u, and the keys
    g_support = trunk(learner.representation_encoder, support_x)
    fast_q = coordinate_mlp(learner.d, embedding_loss_gradient(learner, g_support, y, n_way))

    def u(g_i):
        return add(relu(linear(learner.representation_layer, g_i)), relu(matvec(fast_q, g_i)))

    keys = [normalize(u(g_i)) for g_i in g_support]
    # each query: attention over the stored examples, then b with slow + fast weights
    scores = []
    for h_q, g_q in zip(trunk(learner.base_encoder, query_x), trunk(learner.representation_encoder, query_x)):
        r = normalize(u(g_q))
        a = softmax([learner.scale * dot(r, k) for k in keys])
        fast_hidden = [[sum(a[i] * memory_hidden[i][row][col] for i in range(len(a))) for col in range(len(h_q))]
                       for row in range(len(memory_hidden[0]))]
        fast_output = [[sum(a[i] * memory_output[i][row][col] for i in range(len(a))) for col in range(len(fast_hidden))]
                       for row in range(len(memory_output[0]))]
        z = add(relu(linear(learner.hidden_layer, h_q)), relu(matvec(fast_hidden, h_q)))
        s = add(linear(learner.output_layer, z), matvec(fast_output, z))
        scores.append([s[slots[k]] for k in range(n_way)])
    return memory_hidden, memory_output, fast_q, keys, scores


def close(actual, expected):
    expected = torch.tensor(expected, dtype=torch.float64)
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    err = (actual.detach() - expected).abs().max().item()
    assert err < TOL, f"max abs error {err:.3g}"


def make_learner(seed, in_features=5, dim=4, max_way=5):
    torch.manual_seed(seed)
    learner = MetaNetwork(
        base_encoder=nn.Sequential(nn.Flatten(), nn.Linear(in_features, dim)),
        representation_encoder=nn.Sequential(nn.Flatten(), nn.Linear(in_features, dim)),
        base_dim=dim, representation_input_dim=dim, hidden=3, representation_dim=3, max_way=max_way,
        scale=3.0, meta_hidden=4,
    ).double()
    with torch.no_grad():
        for p in learner.parameters():
            p.mul_(1.5)
    return learner


def episode(seed, n_way=3, k_shot=2, q=4, in_features=5):
    g = torch.Generator().manual_seed(100 + seed)
    support_x = torch.randn(n_way * k_shot, 1, in_features, generator=g, dtype=torch.float64)
    support_y = torch.randperm(n_way * k_shot, generator=g) % n_way
    query_x = torch.randn(q, 1, in_features, generator=g, dtype=torch.float64)
    return support_x, support_y, query_x


@pytest.mark.parametrize("seed, slots", [(0, None), (1, [3, 0, 4]), (2, [1, 4, 2])])
def test_meta_network_forward_pass_equals_the_papers_equations(seed, slots):
    learner = make_learner(seed)
    support_x, support_y, query_x = episode(seed)
    ref_slots = list(range(3)) if slots is None else slots
    memory_hidden, memory_output, fast_q, keys, scores = reference(learner, support_x, support_y, query_x, ref_slots)
    with torch.no_grad():
        if slots is None:
            predictor = learner.adapt(support_x, support_y)
        else:
            predictor = learner.adapt_with_slots(support_x, support_y, torch.tensor(slots))
        close(predictor.memory[0], memory_hidden)  # W*_i of the hidden layer, one per support example
        close(predictor.memory[1], memory_output)  # W*_i of the output layer
        close(predictor.fast_q, fast_q)  # Q*
        close(predictor.keys, keys)  # normalised r'_i
        close(predictor(query_x), scores)  # ŷ over the N slots in play
