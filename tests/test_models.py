"""ConvNet4 and MLP: shapes, the normalisation choices, clear errors on wrong input."""
import pytest
import torch
from torch.func import functional_call

from metalearn_lite import MLP, ConvNet4


@pytest.mark.parametrize("norm", ["batch", "group", "layer", "none"])
def test_convnet4_shapes(norm):
    net = ConvNet4(norm=norm)
    assert net(torch.rand(7, 1, 28, 28)).shape == (7, 64) and net.feature_dim == 64
    head = ConvNet4(out_features=5, norm=norm, hidden=32)
    assert head(torch.rand(3, 1, 28, 28)).shape == (3, 5)
    assert ConvNet4(in_channels=3, image_size=84, hidden=32)(torch.rand(2, 3, 84, 84)).shape == (2, 32 * 5 * 5)


def test_batchnorm_keeps_no_running_statistics():
    """With batch statistics only, the network is a pure function of its parameters (torch.func)."""
    net = ConvNet4(norm="batch")
    assert list(net.buffers()) == []
    x = torch.rand(4, 1, 28, 28)
    net.eval()
    params = dict(net.named_parameters())
    assert torch.allclose(functional_call(net, params, (x,)), net(x))
    net.train()
    assert torch.allclose(net(x), functional_call(net, params, (x,)))


def test_layer_norm_is_per_example():
    net = ConvNet4(norm="layer").eval()
    x = torch.rand(5, 1, 28, 28)
    assert torch.allclose(net(x)[:1], net(x[:1]), atol=1e-5)


def test_wrong_input_gets_clear_errors():
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, 1, 28, 28\)"):
        ConvNet4()(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="norm must be one of"):
        ConvNet4(norm="instance")
    with pytest.raises(ValueError, match="too small"):
        ConvNet4(image_size=8)
    with pytest.raises(ValueError, match="last dimension 1"):
        MLP()(torch.rand(4, 2))


def test_mlp_matches_maml_sinusoid_network():
    net = MLP(1, 1, (40, 40))
    assert net(torch.rand(10, 1)).shape == (10, 1)
    assert sum(p.numel() for p in net.parameters()) == (1 * 40 + 40) + (40 * 40 + 40) + (40 + 1)
