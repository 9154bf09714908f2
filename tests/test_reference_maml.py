"""MAML's inner loop adapts the normalisation layers' scale and shift too (as its docstring says)."""
import torch
import torch.nn.functional as F
from torch.func import functional_call

import metalearn_lite as ml
from helpers import image_episode
from metalearn_lite.gradient import MAML


def test_the_inner_step_adapts_batch_norm_scale_and_shift_like_every_other_parameter():
    torch.manual_seed(0)
    model = ml.ConvNet4(hidden=4, out_features=3, norm="batch").double()
    learner = MAML(model, alpha=0.3, inner_steps=1)
    ep = image_episode(n_way=3, k_shot=2, q_queries=1)
    x = ep.support_x.double()
    theta = dict(model.named_parameters())
    norm_names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norm_names
    loss = F.cross_entropy(functional_call(model, theta, (x,)), ep.support_y)
    grads = dict(zip(theta, torch.autograd.grad(loss, list(theta.values()))))
    learner.eval()
    phi = learner.adapt(x, ep.support_y).params
    for layer in norm_names:
        for p in ("weight", "bias"):
            name = f"{layer}.{p}"
            assert grads[name].abs().max() > 0
            assert torch.allclose(phi[name], theta[name] - 0.3 * grads[name], atol=1e-12, rtol=0)
