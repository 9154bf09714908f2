"""Gradient-based meta-learners: MAML (exact and first-order), Meta-SGD, ANIL, Reptile.

The meta-gradients are checked against central finite differences (float64) and against the
closed form on linear regression; the other algorithms against their update rules computed by
hand; and MAML must actually learn (sinusoids, Omniglot).
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metalearn_lite as ml
from metalearn_lite import EpisodeBatch, EpisodeSampler
from metalearn_lite.data.episodes import Episode
from metalearn_lite.gradient import ANIL, MAML, MetaSGD, Reptile


# --- tiny networks and tasks --------------------------------------------------------------------
def tiny_convnet(n_way=3, bn=True):
    """conv → BatchNorm (batch statistics only) → ReLU → linear, on 1×6×6 images."""
    norm = nn.BatchNorm2d(2, track_running_stats=False) if bn else nn.Identity()
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), norm, nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, n_way))


def tiny_mlp(n_way=3):
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, n_way))


def classification_batch(x_shape, n_way=3, k_shot=2, q_queries=2, tasks=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    episodes = []
    for _ in range(tasks):
        episodes.append(Episode(
            support_x=torch.randn(n_way * k_shot, *x_shape, generator=g, dtype=dtype),
            support_y=torch.arange(n_way).repeat_interleave(k_shot),
            query_x=torch.randn(n_way * q_queries, *x_shape, generator=g, dtype=dtype),
            query_y=torch.arange(n_way).repeat_interleave(q_queries),
        ))
    return EpisodeBatch.stack(episodes)


def grad_of(loss, module):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(module.parameters()))])


def finite_difference(f, module, eps=1e-6):
    """Central differences (f(θ + εe_j) − f(θ − εe_j)) / 2ε for every entry θ_j of ``module``."""
    grads = []
    with torch.no_grad():  # the learners switch autograd on for their own inner loops
        for p in module.parameters():
            flat = p.view(-1)
            for j in range(flat.numel()):
                old = flat[j].item()
                flat[j] = old + eps
                up = float(f())
                flat[j] = old - eps
                down = float(f())
                flat[j] = old
                grads.append((up - down) / (2 * eps))
    return torch.tensor(grads, dtype=torch.float64)


# --- exact meta-gradients -----------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("net, x_shape", [(tiny_convnet, (1, 6, 6)), (tiny_mlp, (4,))], ids=["conv-batchnorm", "mlp"])
def test_exact_maml_meta_gradient_equals_finite_differences(net, x_shape, steps):
    torch.manual_seed(0)
    learner = MAML(net().double(), alpha=0.5, inner_steps=steps)
    batch = classification_batch(x_shape)
    analytic = grad_of(learner.meta_loss(batch)[0], learner)
    numeric = finite_difference(lambda: learner.meta_loss(batch)[0], learner)
    assert torch.allclose(analytic, numeric, rtol=1e-6, atol=1e-8), (analytic - numeric).abs().max()
    # one backward per task (the default, lean on memory) and the protocol's plain loop agree
    plain = MAML(learner.model, alpha=0.5, inner_steps=steps, backward_per_task=False)
    loss, metrics = plain.meta_loss(batch)
    assert torch.allclose(grad_of(loss, learner), analytic, rtol=1e-12, atol=1e-14)
    assert learner.meta_loss(batch)[1] == pytest.approx(metrics, rel=1e-12)
    # the second-order terms matter: first-order MAML is measurably off the true meta-gradient
    first_order = MAML(learner.model, alpha=0.5, inner_steps=steps, first_order=True)
    assert (grad_of(first_order.meta_loss(batch)[0], learner) - numeric).abs().max() > 1e-3


def test_anil_meta_gradient_equals_finite_differences():
    torch.manual_seed(1)
    body = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU(), nn.Flatten())
    learner = ANIL(body, nn.Linear(72, 3), alpha=0.5, inner_steps=2).double()
    batch = classification_batch((1, 6, 6))
    analytic = grad_of(learner.meta_loss(batch)[0], learner)
    numeric = finite_difference(lambda: learner.meta_loss(batch)[0], learner)
    assert torch.allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    assert analytic[: sum(p.numel() for p in body.parameters())].abs().max() > 1e-3  # the body is meta-learned


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_on_linear_regression_matches_the_closed_form(steps):
    """f(x) = wᵀx, L(w) = (1/K)‖Xw − y‖²: φ = Aw + b with A = I − (2α/K)XᵀX, b = (2α/K)Xᵀy,
    and the meta-gradient is (Aᵀ)^steps ∇_φ L_q(φ) with ∇_φ L_q = (2/M) X_qᵀ(X_q φ − y_q)."""
    torch.manual_seed(0)
    d, K, M, B, alpha = 3, 5, 7, 4, 0.05
    model = nn.Linear(d, 1, bias=False).double()
    learner = MAML(model, alpha=alpha, inner_steps=steps, task_type="regression")
    g = torch.Generator().manual_seed(1)
    episodes = []
    for _ in range(B):
        w_task = torch.randn(d, 1, generator=g, dtype=torch.float64)
        xs, xq = torch.randn(K, d, generator=g, dtype=torch.float64), torch.randn(M, d, generator=g, dtype=torch.float64)
        episodes.append(Episode(xs, xs @ w_task + 0.1, xq, xq @ w_task + 0.1))
    batch = EpisodeBatch.stack(episodes)

    w = model.weight.detach().T  # (d, 1)
    expected_grad = torch.zeros(d, 1, dtype=torch.float64)
    for ep in episodes:
        A = torch.eye(d, dtype=torch.float64) - 2 * alpha / K * ep.support_x.T @ ep.support_x
        b = 2 * alpha / K * ep.support_x.T @ ep.support_y
        phi = w
        for _ in range(steps):
            phi = A @ phi + b
        grad_phi = 2 / M * ep.query_x.T @ (ep.query_x @ phi - ep.query_y)
        expected_grad += torch.linalg.matrix_power(A.T, steps) @ grad_phi / B
        assert torch.allclose(learner.adapted_params(ep.support_x, ep.support_y)["weight"].T, phi, atol=1e-12)
    loss, metrics = learner.meta_loss(batch)
    assert torch.allclose(torch.autograd.grad(loss, model.weight)[0].T, expected_grad, atol=1e-12)
    assert set(metrics) == {"loss", "mse"} and metrics["loss"] == pytest.approx(float(loss.detach()))

    # in eval() mode test_inner_steps applies: one more step than in training
    evaluating = MAML(model, alpha=alpha, inner_steps=steps, test_inner_steps=steps + 1, task_type="regression").eval()
    ep = episodes[0]
    A = torch.eye(d, dtype=torch.float64) - 2 * alpha / K * ep.support_x.T @ ep.support_x
    b = 2 * alpha / K * ep.support_x.T @ ep.support_y
    phi = w
    for _ in range(steps + 1):
        phi = A @ phi + b
    assert torch.allclose(evaluating.adapt(ep.support_x, ep.support_y)(ep.query_x), ep.query_x @ phi, atol=1e-12)


def test_first_order_maml_is_the_query_gradient_at_phi():
    """FOMAML: θ ← θ − β · (1/B) Σᵢ ∇_φ L_query(φᵢ), φᵢ = θ − α ∇_θ L_support(θ) (two steps here)."""
    torch.manual_seed(2)
    model = tiny_convnet().double()
    learner = MAML(model, alpha=0.3, inner_steps=2, first_order=True)
    batch = classification_batch((1, 6, 6), tasks=3)
    by_hand = [torch.zeros_like(p) for p in model.parameters()]
    for ep in batch:
        phi = copy.deepcopy(model)  # plain SGD on a copy: no functional_call, no torch.func
        for _ in range(2):
            grads = torch.autograd.grad(F.cross_entropy(phi(ep.support_x), ep.support_y), list(phi.parameters()))
            with torch.no_grad():
                for p, gr in zip(phi.parameters(), grads):
                    p -= 0.3 * gr
        query_grads = torch.autograd.grad(F.cross_entropy(phi(ep.query_x), ep.query_y), list(phi.parameters()))
        for total, gr in zip(by_hand, query_grads):
            total += gr / len(batch)
    learner.zero_grad()
    learner.meta_loss(batch)[0].backward()
    for p, expected in zip(model.parameters(), by_hand):
        assert torch.allclose(p.grad, expected, atol=1e-12)


# --- Meta-SGD, ANIL, Reptile ----------------------------------------------------------------------
def test_meta_sgd_inner_step_uses_learned_step_sizes_and_learns_them():
    torch.manual_seed(3)
    learner = MetaSGD(tiny_mlp(), alpha=0.1)
    batch = classification_batch((4,), dtype=torch.float32)
    alphas = learner.step_sizes()
    assert set(alphas) == {n for n, _ in learner.model.named_parameters()}
    assert all(a.shape == p.shape and torch.all(a == 0.1) for a, p in zip(alphas.values(), learner.model.parameters()))
    with torch.no_grad():  # give every entry its own step size, then check φ = θ − α ∘ ∇L by hand
        for a in learner.alphas.values():
            a.uniform_(0.05, 0.2)
    ep = batch[0]
    theta = dict(learner.model.named_parameters())
    grads = torch.autograd.grad(F.cross_entropy(learner.model(ep.support_x), ep.support_y), list(theta.values()))
    phi = learner.adapted_params(ep.support_x, ep.support_y)
    for (name, p), gr in zip(theta.items(), grads):
        assert torch.allclose(phi[name], p - learner.step_sizes()[name] * gr, atol=1e-6)

    before = {k: v.detach().clone() for k, v in learner.alphas.items()}
    learner.zero_grad()
    learner.meta_loss(batch)[0].backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in learner.alphas.values())
    tasks = EpisodeSampler(ml.make_blob_classes(num_classes=10, dim=4, informative=4), 3, 2, 2, seed=0)
    ml.meta_train(learner, tasks, steps=1, meta_batch_size=2, lr=1e-2, progress=False)
    assert all(not torch.equal(before[k], learner.alphas[k]) for k in before)


def test_anil_adapts_the_head_only():
    torch.manual_seed(4)
    body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    learner = ANIL(body, nn.Linear(6, 3), alpha=0.5, inner_steps=3)
    ep = classification_batch((4,), dtype=torch.float32)[0]
    phi = learner.adapted_params(ep.support_x, ep.support_y)
    theta = dict(learner.model.named_parameters())
    assert set(phi) == set(theta) == {"body.0.weight", "body.0.bias", "head.weight", "head.bias"}
    for name in ("body.0.weight", "body.0.bias"):
        assert phi[name] is theta[name]  # left out of the inner loop: the very same tensors
    for name in ("head.weight", "head.bias"):
        assert not torch.allclose(phi[name], theta[name])
    # the predictor is the head at φ_h on the body's features
    expected = F.linear(body(ep.query_x), phi["head.weight"], phi["head.bias"])
    assert torch.allclose(learner.adapt(ep.support_x, ep.support_y)(ep.query_x), expected, atol=1e-6)


@pytest.mark.parametrize("use_query", [True, False])
def test_reptile_step_with_sgd_is_theta_plus_epsilon_times_mean_phi_minus_theta(use_query):
    torch.manual_seed(5)
    k, inner_lr, epsilon, B = 3, 0.02, 0.5, 4
    model = ml.MLP(1, 1, (8,))
    learner = Reptile(model, inner_lr=inner_lr, inner_steps=k, use_query=use_query, task_type="regression")
    theta = [p.detach().clone() for p in model.parameters()]
    batch = ml.SinusoidTasks(k_shot=5, q_queries=5, seed=11).sample(B)
    phi_mean = [torch.zeros_like(p) for p in theta]
    for ep in batch:  # by hand: k steps of torch.optim.SGD on a copy of the network
        copy_ = copy.deepcopy(model)
        opt = torch.optim.SGD(copy_.parameters(), lr=inner_lr)
        x = torch.cat([ep.support_x, ep.query_x]) if use_query else ep.support_x
        y = torch.cat([ep.support_y, ep.query_y]) if use_query else ep.support_y
        for _ in range(k):
            opt.zero_grad()
            F.mse_loss(copy_(x), y).backward()
            opt.step()
        for total, p in zip(phi_mean, copy_.parameters()):
            total += p.detach() / B
    history = ml.meta_train(
        learner, ml.SinusoidTasks(k_shot=5, q_queries=5, seed=11), steps=1, meta_batch_size=B,
        optimizer=torch.optim.SGD(learner.parameters(), lr=epsilon), progress=False,
    )
    for p, t, phi in zip(model.parameters(), theta, phi_mean):
        assert torch.allclose(p.detach(), t + epsilon * (phi - t), atol=1e-6)
    # the logged numbers are the real query error after adapting on the support set, not the surrogate
    surrogate = 0.5 * sum(((t - phi) ** 2).sum() for t, phi in zip(theta, phi_mean))
    assert history.train["surrogate"][0] == pytest.approx(float(surrogate), rel=1e-5)
    with torch.no_grad():
        learner_at_theta = Reptile(copy.deepcopy(model), inner_lr=inner_lr, inner_steps=k, task_type="regression")
        for p, t in zip(learner_at_theta.parameters(), theta):
            p.copy_(t)
    expected = sum(F.mse_loss(learner_at_theta.adapt(ep.support_x, ep.support_y)(ep.query_x), ep.query_y) for ep in batch) / B
    assert history.train["loss"][0] == pytest.approx(float(expected), rel=1e-5)
    assert history.train["mse"][0] == pytest.approx(float(expected), rel=1e-5)


# --- adaptation leaves the model alone; errors ---------------------------------------------------
LEARNERS = {
    "maml": lambda: MAML(tiny_convnet(), alpha=0.4, inner_steps=2),
    "fomaml": lambda: MAML(tiny_convnet(), alpha=0.4, first_order=True),
    "meta-sgd": lambda: MetaSGD(tiny_convnet(), alpha=0.4),
    "anil": lambda: ANIL(tiny_convnet()[:4], nn.Linear(72, 3), alpha=0.4),
    "reptile": lambda: Reptile(tiny_convnet(), inner_lr=0.1, inner_steps=3, inner_optimizer="adam"),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_adapt_never_changes_the_model_nor_writes_gradients(name):
    torch.manual_seed(6)
    learner = LEARNERS[name]()
    ep = classification_batch((1, 6, 6), dtype=torch.float32)[0]
    state = copy.deepcopy(learner.state_dict())
    for mode in (learner.train, learner.eval):
        mode()
        scores = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
        assert scores.shape == (6, 3)
        with torch.no_grad():  # adapt works even when called without autograd (it turns it on itself)
            assert learner.adapt(ep.support_x, ep.support_y)(ep.query_x).shape == (6, 3)
        assert all(p.grad is None for p in learner.parameters())
        assert all(torch.equal(v, state[k]) for k, v in learner.state_dict().items())
    tasks = EpisodeSampler(ml.FewShotDataset(torch.randn(60, 1, 6, 6), torch.arange(6).repeat_interleave(10), [str(c) for c in range(6)]), 3, 1, 2)
    result = ml.evaluate(learner, tasks, episodes=3)
    assert result.episodes == 3 and all(p.grad is None for p in learner.parameters())
    assert all(torch.equal(v, state[k]) for k, v in learner.state_dict().items())


def test_bad_arguments_are_explained():
    net = tiny_mlp()
    with pytest.raises(ValueError, match="alpha must be a positive finite number, got 0"):
        MAML(net, alpha=0)
    with pytest.raises(ValueError, match="alpha must be a positive finite number, got -0.1"):
        MetaSGD(net, alpha=-0.1)
    with pytest.raises(ValueError, match="inner_steps must be an integer >= 0, got -1"):
        MAML(net, alpha=0.1, inner_steps=-1)
    with pytest.raises(ValueError, match="test_inner_steps must be an integer >= 0, got -2"):
        ANIL(nn.Identity(), net, alpha=0.1, test_inner_steps=-2)
    with pytest.raises(ValueError, match="inner_lr must be a positive finite number"):
        Reptile(net, inner_lr=0.0)
    with pytest.raises(ValueError, match="inner_optimizer must be one of"):
        Reptile(net, inner_lr=0.1, inner_optimizer="rmsprop")
    with pytest.raises(ValueError, match="model must be a torch.nn.Module, got function"):
        MAML(lambda x: x, alpha=0.1)
    with pytest.raises(ValueError, match="body must be a torch.nn.Module"):
        ANIL("conv", net, alpha=0.1)
    with pytest.raises(ValueError, match="tracks running statistics"):
        MAML(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), alpha=0.1)
    with pytest.raises(ValueError, match="task_type must be one of"):
        MAML(net, alpha=0.1, task_type="ranking")
    learner = MAML(net, alpha=0.1)
    with pytest.raises(ValueError, match="support_x has 6 examples but support_y has 5 labels"):
        learner.adapt(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match="outputs scores of shape \\(4, 3\\) but the task has 2 classes"):
        learner.adapt(torch.randn(4, 4), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="no example of class"):
        Reptile(net, inner_lr=0.1).adapt(torch.randn(4, 4), torch.tensor([0, 2, 0, 2]))


# --- MAML learns ---------------------------------------------------------------------------------
def test_maml_beats_joint_pretraining_on_sinusoids():
    """MAML's sinusoid experiment in miniature: after one step of size α = 0.01 on K = 10 points,
    the MAML initialisation fits new sinusoids far better than a network pretrained on all tasks."""
    ml.seed_everything(0)
    steps, meta_batch, alpha = 200, 10, 0.01
    maml = MAML(ml.MLP(1, 1, (40, 40)), alpha=alpha, task_type="regression")
    ml.meta_train(maml, ml.SinusoidTasks(k_shot=10, seed=0), steps=steps, meta_batch_size=meta_batch, lr=1e-2, progress=False)

    ml.seed_everything(0)
    pretrained = ml.MLP(1, 1, (40, 40))
    optimizer, tasks = torch.optim.Adam(pretrained.parameters(), lr=1e-2), ml.SinusoidTasks(k_shot=10, seed=0)
    for _ in range(steps):  # plain regression on all the points of all the tasks
        b = tasks.sample(meta_batch)
        loss = F.mse_loss(pretrained(torch.cat([b.support_x, b.query_x], 1)), torch.cat([b.support_y, b.query_y], 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fine_tuned = MAML(pretrained, alpha=alpha, task_type="regression")  # fine-tune: same α, same steps

    held_out = ml.SinusoidTasks(k_shot=10, q_queries=50, seed=123)
    episodes = [held_out.episode() for _ in range(200)]
    maml_mse, baseline_mse = ml.evaluate(maml, episodes), ml.evaluate(fine_tuned, episodes)
    # paired over the same 200 held-out tasks: MAML's error is lower, well beyond the 95% interval
    gain, ci = ml.mean_ci95([b - m for m, b in zip(maml_mse.scores, baseline_mse.scores)])
    assert gain - ci > 0 and maml_mse.mean < 0.8 * baseline_mse.mean


def test_maml_learns_omniglot_one_shot_on_unseen_alphabets(omniglot_root):
    from metalearn_lite.data.omniglot import load_omniglot

    dataset = load_omniglot("images_background_small1", root=omniglot_root, progress=False)
    alphabets = dataset.alphabet_names()
    train, test = dataset.split_by_alphabet(alphabets[:-2])  # the last two alphabets are never seen
    assert not set(train.alphabets) & set(test.alphabets)
    ml.seed_everything(0)
    learner = MAML(ml.ConvNet4(out_features=5, hidden=32), alpha=0.4)
    ml.meta_train(learner, EpisodeSampler(train, 5, 1, 2, seed=0), steps=100, meta_batch_size=2, lr=3e-3, progress=False)
    result = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 5, seed=1), episodes=60)
    assert result.mean - result.ci95 > 0.4  # chance is 0.2
