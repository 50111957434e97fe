"""The PatchGAN discriminator: its receptive field computed analytically equals the one measured by
back-propagation, its shapes, and its refusals of bad input."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genimg_course.models.patchgan import PatchGAN, ReceptiveField, receptive_field

pytestmark = pytest.mark.usefixtures("one_thread")


def empirical_window(model: nn.Module, size: int, channels: int = 1) -> tuple[int, int, torch.Tensor]:
    """The rows and columns of a ``size×size`` input on which the gradient of the centre output
    is non-zero (float64), and the non-zero mask."""
    model = model.double()
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = model(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    mask = x.grad[0].abs().sum(0) > 0
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1), mask


@pytest.mark.parametrize("layers,size", [(1, 48), (2, 96), (3, 160)])
def test_receptive_field_analytic_equals_empirical(layers: int, size: int) -> None:
    torch.manual_seed(layers)
    d = PatchGAN(1, width=4, layers=layers, norm="none").eval()
    rf = receptive_field(d)
    h, w, mask = empirical_window(d, size)
    assert (h, w) == (rf.size, rf.size)
    assert int(mask.sum()) == rf.size ** 2  # every pixel of the r×r window, and none outside it
    assert rf.jump == 2 ** layers
    assert rf.size < size  # the window lay inside the image (not cut by the border)


def test_receptive_field_of_the_documented_configs() -> None:
    assert PatchGAN(1, layers=1).receptive_field == ReceptiveField(16, 2)
    assert PatchGAN(1).receptive_field == ReceptiveField(34, 4)  # the default
    assert PatchGAN(3, layers=3).receptive_field == ReceptiveField(70, 8)  # pix2pix's 70x70 PatchGAN
    assert receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == (70, 8)


def test_receptive_field_with_dilation_and_pooling_matches_backprop() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, dilation=2), nn.AvgPool2d(2), nn.Conv2d(3, 2, 5, stride=2, padding=2),
                        nn.Tanh(), nn.Conv2d(2, 1, 3))
    rf = receptive_field(net)
    assert rf == receptive_field([(3, 1, 2), (2, 2), (5, 2), (3, 1)])
    h, w, mask = empirical_window(net, 64)
    assert (h, w) == (rf.size, rf.size) and int(mask.sum()) == rf.size ** 2
    # the slip of forgetting the jump (r += k - 1 for every layer) gives a smaller window
    assert 1 + sum(k - 1 for k in (5, 2, 5, 3)) < rf.size


def test_batchnorm_in_eval_keeps_the_window_but_instance_norm_sees_everything() -> None:
    torch.manual_seed(0)
    rf = receptive_field(PatchGAN(1, layers=2)).size
    h, w, _ = empirical_window(PatchGAN(1, width=4, layers=2, norm="batch").eval(), 96)
    assert (h, w) == (rf, rf)
    _, _, mask = empirical_window(PatchGAN(1, width=4, layers=2, norm="instance"), 96)
    assert bool(mask.all())  # the normalisation statistics reach every pixel


def test_shapes_and_condition() -> None:
    assert PatchGAN(1)(torch.zeros(3, 1, 28, 28)).shape == (3, 1, 5, 5)
    assert PatchGAN(1)(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 6, 6)
    assert PatchGAN(1, layers=1)(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 12, 12)
    assert PatchGAN(3, layers=3, norm="batch")(torch.zeros(2, 3, 256, 256)).shape == (2, 1, 30, 30)
    d = PatchGAN(1, conditional_channels=2)
    assert d.net[0].in_channels == 3
    assert d(torch.zeros(2, 1, 28, 28), torch.zeros(2, 2, 28, 28)).shape == (2, 1, 5, 5)
    assert d.output_size(28, 32) == (5, 6)


def test_the_condition_changes_the_output() -> None:
    torch.manual_seed(0)
    d = PatchGAN(1, width=8, conditional_channels=1, norm="none")
    x = torch.rand(2, 1, 28, 28)
    assert not torch.allclose(d(x, torch.zeros_like(x)), d(x, torch.ones_like(x)))


@pytest.mark.parametrize("call,match", [
    (lambda: PatchGAN(1)(torch.zeros(2, 3, 28, 28)), r"\(B, 1, H, W\)"),
    (lambda: PatchGAN(1)(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)), "to_float"),
    (lambda: PatchGAN(1)(torch.zeros(2, 1, 8, 8)), "at least 12x12"),
    (lambda: PatchGAN(1, conditional_channels=1)(torch.zeros(2, 1, 28, 28)), "D\\(x, condition\\)"),
    (lambda: PatchGAN(1, conditional_channels=1)(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 14, 14)), "condition"),
    (lambda: PatchGAN(1, conditional_channels=1)(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28)), "one condition per image"),
    (lambda: PatchGAN(1)(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)), "conditional_channels=c"),
    (lambda: PatchGAN(1, norm="layer"), "norm must be one of"),
    (lambda: PatchGAN(1, layers=0), ">= 1"),
    (lambda: PatchGAN(1, layers=6), "from 1 to 5"),
    (lambda: PatchGAN(0), "in_channels"),
    (lambda: receptive_field("conv"), "nn.Module"),
    (lambda: receptive_field([(4, 0)]), "stride"),
    (lambda: receptive_field(nn.ReLU()), "no Conv2d"),
    (lambda: receptive_field(nn.ConvTranspose2d(1, 1, 4, 2)), "transposed"),
])
def test_bad_input_is_refused_with_a_message(call, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        call()
