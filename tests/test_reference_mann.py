"""MANN checked against a slow reference written from the equations of Santoro et al. (2016).

The step, as the library documents it (``metalearn_lite/memory/mann.py``; n = H least-used slots)::

    z_t        = [f(x_t), f(x_{t−1}), onehot(y_{t−1})]          (label offset: y_0 = no label)
    h_t, c_t   = LSTM([z_t, r_{t−1}], (h_{t−1}, c_{t−1}))
    k, a, σ, β = tanh, tanh, sigmoid, 1 + softplus of W [h_t, z_t]    (per head)
    w^lu_j     = one-hot of the j-th smallest u_{t−1}               (ties: lower slot first)
    w^w_t      = σ w^r_{t−1} + (1 − σ) w^lu_{t−1}                   (LRUA)
    M_t(i)     = M_{t−1}(i) · [i not least-used] + Σ_j w^w_j(i) a_j   (erase, then write)
    w^r_t(i)   = softmax_i(β cos(k, M_t(i))),  r_t = Σ_i w^r_t(i) M_t(i)   (read after writing)
    u_t        = γ u_{t−1} + Σ_j w^r_j + Σ_j w^w_j
    scores_t   = W_o [h_t, r_t]

The reference is plain Python over float64 numbers, one step and one slot at a time; it reads the
library's weights (LSTM, interface, output layer, encoder, LayerNorm) and none of its step code.
Compared per step to 1e-10: read and write weights, erased slots, usage and scores; after
``adapt``: the memory, and each query's scores (the query as the next step, last support label in).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from metalearn_lite.memory import MANN

from plain_math import add, dot, linear, matvec, rows, sigmoid, softmax

TOL = 1e-10


def softplus(x):
    return x if x > 20 else math.log1p(math.exp(x))  # torch's softplus (threshold 20)


def cosine(a, b):
    na, nb = math.sqrt(dot(a, a)), math.sqrt(dot(b, b))
    return 0.0 if na == 0 or nb == 0 else dot(a, b) / (na * nb)


def features(learner, x):
    """f(x) = LayerNorm(encoder(x)); the encoder here is one linear map."""
    out = []
    for xi in x:
        e = linear(learner.encoder[1], xi.flatten().tolist())
        mean = sum(e) / len(e)
        var = sum((v - mean) ** 2 for v in e) / len(e)
        ln = learner.feature_norm
        out.append([(v - mean) / math.sqrt(var + ln.eps) * w + b for v, w, b in zip(e, ln.weight.tolist(), ln.bias.tolist())])
    return out


def initial_state(learner):
    c, s, w, h = learner.controller.hidden_size, learner.slots, learner.width, learner.heads
    return {"h": [0.0] * c, "c": [0.0] * c, "M": [[0.0] * w for _ in range(s)], "u": [0.0] * s,
            "wr": [[0.0] * s for _ in range(h)], "r": [0.0] * (h * w), "f": [0.0] * learner.feature_dim}


def step(learner, state, f_t, prev_label):
    """One step of the equations above; returns scores, the new state and the step's weights."""
    n_slots, width, heads = learner.slots, learner.width, learner.heads
    onehot = [1.0 if (prev_label is not None and k == prev_label) else 0.0 for k in range(learner.max_way)]
    z = f_t + state["f"] + onehot if learner.previous_features else f_t + onehot
    # controller
    cell, d = learner.controller, learner.controller.hidden_size
    gates = add(matvec(rows(cell.weight_ih), z + state["r"]), matvec(rows(cell.weight_hh), state["h"]),
                cell.bias_ih.tolist(), cell.bias_hh.tolist())
    i_g = [sigmoid(v) for v in gates[:d]]
    f_g = [sigmoid(v) for v in gates[d:2 * d]]
    g_g = [math.tanh(v) for v in gates[2 * d:3 * d]]
    o_g = [sigmoid(v) for v in gates[3 * d:]]
    c = [f_g[j] * state["c"][j] + i_g[j] * g_g[j] for j in range(d)]
    h = [o_g[j] * math.tanh(c[j]) for j in range(d)]
    # interface: per head [key (W), write vector (W), gate, strength]
    iface = linear(learner.interface, h + z if learner.interface_skip else h)
    block = 2 * width + 2
    keys = [[math.tanh(v) for v in iface[j * block:j * block + width]] for j in range(heads)]
    adds = [[math.tanh(v) for v in iface[j * block + width:j * block + 2 * width]] for j in range(heads)]
    gate = [sigmoid(iface[j * block + 2 * width]) for j in range(heads)]
    beta = [1 + softplus(iface[j * block + 2 * width + 1]) if learner.key_strength else 1.0 for j in range(heads)]
    # least-used slots of u_{t−1}; LRUA write weights
    least = sorted(range(n_slots), key=lambda i: (state["u"][i], i))[:heads]
    ww = [[gate[j] * state["wr"][j][i] + (1 - gate[j]) * (1.0 if i == least[j] else 0.0) for i in range(n_slots)]
          for j in range(heads)]
    # erase the least-used slots, then write
    memory = []
    for i in range(n_slots):
        old = [0.0] * width if i in least else list(state["M"][i])
        memory.append([old[w] + sum(ww[j][i] * adds[j][w] for j in range(heads)) for w in range(width)])
    # read from the memory just written
    wr = [softmax([beta[j] * cosine(keys[j], memory[i]) for i in range(n_slots)]) for j in range(heads)]
    reads = []
    for j in range(heads):
        reads += [sum(wr[j][i] * memory[i][w] for i in range(n_slots)) for w in range(width)]
    usage = [learner.gamma * state["u"][i] + sum(wr[j][i] for j in range(heads)) + sum(ww[j][i] for j in range(heads))
             for i in range(n_slots)]
    scores = linear(learner.output, h + reads)
    erased = [1.0 if i in least else 0.0 for i in range(n_slots)]
    new = {"h": h, "c": c, "M": memory, "u": usage, "wr": wr, "r": reads, "f": f_t}
    return scores, new, {"read": wr, "write": ww, "least_used": erased, "usage": usage}


def close(actual, expected):
    expected = torch.tensor(expected, dtype=torch.float64)
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    err = (actual.detach() - expected).abs().max().item()
    assert err < TOL, f"max abs error {err:.3g}"


CONFIGS = {
    "library defaults": {},
    "paper-like (no skips, beta = 1)": dict(key_strength=False, previous_features=False, interface_skip=False,
                                             binding_init=False),
}


def make_learner(seed, **kwargs):
    torch.manual_seed(seed)
    learner = MANN(nn.Sequential(nn.Flatten(), nn.Linear(5, 4)), feature_dim=4, max_way=4, controller_size=5,
                   memory_slots=5, memory_width=3, read_heads=2, gamma=0.9, support_order="given", **kwargs).double()
    with torch.no_grad():
        learner.feature_norm.weight.normal_(1.0, 0.3)
        learner.feature_norm.bias.normal_(0.0, 0.3)
        learner.interface.bias.add_(0.5 * torch.randn_like(learner.interface.bias))
    return learner


def sequence(seed, n_way=3, length=10):
    g = torch.Generator().manual_seed(50 + seed)
    y = torch.cat([torch.arange(n_way), torch.randint(0, n_way, (length - n_way,), generator=g)])
    y = y[torch.randperm(length, generator=g)]
    return torch.randn(length, 1, 5, generator=g, dtype=torch.float64), y


@pytest.mark.parametrize("config", CONFIGS)
def test_every_step_of_an_episode_equals_the_equations(config):
    learner = make_learner(0, **CONFIGS[config])
    x, y = sequence(0)
    trace = learner.memory_trace(x, y)
    state, prev = initial_state(learner), None
    for t, f_t in enumerate(features(learner, x)):
        scores, state, info = step(learner, state, f_t, prev)  # step t sees (x_t, y_{t−1})
        prev = int(y[t])
        close(trace.write_weights[t], info["write"])
        close(trace.least_used[t], info["least_used"])
        close(trace.read_weights[t], info["read"])
        close(trace.usage[t], info["usage"])
        close(trace.scores[t], scores[:3])


@pytest.mark.parametrize("config", CONFIGS)
def test_adapt_writes_the_support_sequence_and_scores_each_query_as_the_next_step(config):
    learner = make_learner(1, **CONFIGS[config])
    support_x, support_y = sequence(1, length=7)
    g = torch.Generator().manual_seed(7)
    query_x = torch.randn(4, 1, 5, generator=g, dtype=torch.float64)
    state, prev = initial_state(learner), None
    for t, f_t in enumerate(features(learner, support_x)):
        _, state, _ = step(learner, state, f_t, prev)
        prev = int(support_y[t])
    expected = [step(learner, state, f_q, prev)[0][:3] for f_q in features(learner, query_x)]
    with torch.no_grad():
        predictor = learner.adapt(support_x, support_y)
        close(predictor.state.memory[0], state["M"])
        close(predictor.state.usage[0], state["u"])
        close(predictor.state.read_weights[0], state["wr"])
        close(predictor(query_x), expected)
        close(predictor(query_x[2:3]), expected[2:3])  # a query alone: the same (queries are independent)
