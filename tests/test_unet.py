"""models/unet.py: shapes for every up-sampling mode and depth, the size rule's message, the time
embedding, residual mode, bad input named before any work, and a tiny overfit."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genimg_course.models import UNet
from genimg_course.models.unet import UP_MODES, sinusoidal_embedding


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("up", UP_MODES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_output_has_the_input_size_for_every_up_mode_and_depth(up, depth):
    m = UNet(1, 3, width=8, depth=depth, up=up)
    assert m(torch.rand(2, 1, 32, 24)).shape == (2, 3, 32, 24)


def test_width_32_depth_2_is_small():
    for up in UP_MODES:
        assert 100_000 < n_params(UNet(1, 1, 32, 2, up)) < 500_000  # 386k / 460k / 417k


def test_a_side_that_does_not_fit_names_the_sizes_that_do():
    with pytest.raises(ValueError, match=r"got 30×30 .*depth 2 .*multiples of 4.*28 or 32"):
        UNet(1, 1, 8, 2)(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match=r"H 24 or 32, W 24 or 32"):
        UNet(1, 1, 8, 3)(torch.rand(1, 1, 28, 30))


def test_bad_inputs_are_named():
    m = UNet(1, 1, 8, 2)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\).*\(2, 3, 28, 28\)"):
        m(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="shape"):
        m(torch.rand(1, 28, 28))
    with pytest.raises(TypeError, match="uint8.*to_float"):
        m(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="residual=True.*in_channels=1, out_channels=3"):
        UNet(1, 3, residual=True)
    with pytest.raises(ValueError, match="up must be one of"):
        UNet(up="bilinear")
    with pytest.raises(ValueError, match="no time input"):
        m(torch.rand(1, 1, 28, 28), torch.zeros(1))


def test_time_embedding_changes_the_output_and_is_checked():
    torch.manual_seed(0)
    m = UNet(1, 1, 8, 2, time_dim=16).eval()
    x = torch.rand(2, 1, 28, 28)
    a, b = m(x, torch.tensor([0, 0])), m(x, torch.tensor([10, 500]))
    assert a.shape == (2, 1, 28, 28) and not torch.allclose(a, b)
    assert torch.allclose(m(x, 3.0), m(x, torch.tensor([3.0, 3.0])))
    with pytest.raises(ValueError, match=r"call model\(x, t\)"):
        m(x)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        m(x, torch.zeros(3))
    e = sinusoidal_embedding(torch.tensor([0.0, 1.0]), 16)
    assert e.shape == (2, 16) and torch.allclose(e[0, :8], torch.ones(8))  # cos(0) = 1


def test_residual_returns_x_plus_the_correction():
    m = UNet(1, 1, 8, 2, residual=True)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(m(x), x)  # its last layer starts at zero: an untrained residual U-Net is the identity
    torch.nn.init.normal_(m.head.weight)
    with torch.no_grad():
        plain = m.head(m.up_blocks[0](torch.cat([m.ups[0](m.up_blocks[1](torch.cat([m.ups[1](m.middle(m.downs[1](
            m.down_blocks[1](m.downs[0](m.down_blocks[0](m.stem(x), None)), None)), None)),
            m.down_blocks[1](m.downs[0](m.down_blocks[0](m.stem(x), None)), None)], 1), None)),
            m.down_blocks[0](m.stem(x), None)], 1), None))
    assert torch.allclose(m(x), x + plain, atol=1e-6)


def test_a_unet_overfits_denoising_on_16_digits():
    from genimg_course.data import load_mnist, to_float
    torch.manual_seed(0)
    x = to_float(load_mnist("train", source="offline", verbose=False).images[:16], (0, 1))
    g = torch.Generator().manual_seed(1)
    noisy = x + 0.3 * torch.randn(x.shape, generator=g)
    m = UNet(1, 1, 16, 2, residual=True)
    opt = torch.optim.Adam(m.parameters(), 3e-3)

    def psnr():
        with torch.no_grad():
            return -10 * torch.log10(F.mse_loss(m(noisy).clamp(0, 1), x)).item()

    before = psnr()
    for _ in range(40):
        loss = F.mse_loss(m(noisy), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert psnr() > before + 4.0  # measured: 10.4 → 20.1 dB (+9.7; the clipped noisy input is 13.3)


def test_class_input_changes_the_output_null_is_the_default_and_plain_state_dicts_are_unchanged():
    torch.manual_seed(0)
    m = UNet(1, 1, 8, 2, time_dim=16, num_classes=3).eval()
    assert m.num_classes == 3 and m.class_emb.weight.shape == (4, 16)  # 3 classes + the null class
    x, t = torch.rand(2, 1, 28, 28), torch.tensor([5, 5])
    with torch.no_grad():
        a, b = m(x, t, torch.tensor([0, 1])), m(x, t, torch.tensor([2, 2]))
        null, none = m(x, t, torch.tensor([3, 3])), m(x, t)
    assert not torch.allclose(a, b) and torch.equal(null, none)  # y=None is the null class
    # without num_classes the model is what it was: no class embedding in its weights
    assert not any(k.startswith("class_emb") for k in UNet(1, 1, 8, 2, time_dim=16).state_dict())
    assert UNet(1, 1, 8, 2).num_classes is None


def test_class_input_is_checked():
    m = UNet(1, 1, 8, 2, time_dim=16, num_classes=3)
    x, t = torch.rand(2, 1, 28, 28), torch.zeros(2)
    with pytest.raises(TypeError, match=r"integer class indices of shape \(2,\) in \[0, 3\]"):
        m(x, t, torch.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(2,\), one class per image"):
        m(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="no class input"):
        UNet(1, 1, 8, 2, time_dim=16)(x, t, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="needs a time embedding.*time_dim"):
        UNet(1, 1, 8, 2, num_classes=10)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        UNet(1, 1, 8, 2, time_dim=16, num_classes=0)
