"""Widgets and live pictures: latent_explorer, conv_explorer's controls, and the
LiveSamples fit callback. Everything runs headless (no kernel): explorers draw once when built."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from genimg_course.models import DCGANGenerator  # noqa: E402
from genimg_course.train import History, fit  # noqa: E402
from genimg_course.viz import LiveSamples  # noqa: E402
from genimg_course.widgets import LatentExplorer, conv_explorer, latent_explorer  # noqa: E402


@pytest.fixture
def G():
    torch.manual_seed(0)
    return DCGANGenerator(latent_dim=16, width=8)  # PyTorch's default init: varied outputs without training


@pytest.fixture
def G_cond():
    torch.manual_seed(0)
    return DCGANGenerator(latent_dim=16, width=8, num_classes=10)


# ---------------------------------------------------------------- latent_explorer

def test_latent_explorer_builds_headless_for_an_unconditional_generator(G):
    e = latent_explorer(G, steps=6)
    assert isinstance(e, LatentExplorer) and e.class_dropdown is None
    assert e.strip.shape == (6, 1, 28, 28) and e.image.shape == (28, 28)
    assert 0 <= e.image.min() and e.image.max() <= 1
    assert "application/vnd.jupyter.widget-view+json" in e._repr_mimebundle_()
    assert "|z(t)|" in e.info.value


def test_latent_explorer_builds_headless_for_a_conditional_generator(G_cond):
    e = latent_explorer(G_cond, num_classes=10)
    assert list(e.class_dropdown.options) == list(range(10))
    before = e.image.copy()
    e.class_dropdown.value = 7
    assert not np.allclose(before, e.image)


def test_slider_changes_the_image_but_not_the_codes(G):
    e = latent_explorer(G)
    before, z0 = e.image.copy(), e.z0.clone()
    e.slider.value = 1.0
    assert not np.allclose(before, e.image)
    assert torch.equal(z0, e.z0)
    with torch.no_grad():  # at t = 1 the current image is G(z1)
        expected = (G.eval()(e.z1[None])[0, 0] + 1) / 2
    assert np.allclose(e.image, expected.numpy(), atol=1e-5)


def test_resample_draws_new_codes_and_redraws(G):
    e = latent_explorer(G, seed=3)
    z0, z1, before = e.z0.clone(), e.z1.clone(), e.image.copy()
    e.resample_button.click()
    assert not torch.equal(z0, e.z0) and not torch.equal(z1, e.z1)
    assert not np.allclose(before, e.image)


def test_same_seed_gives_the_same_codes(G):
    assert torch.equal(latent_explorer(G, seed=5).z0, latent_explorer(G, seed=5).z0)


def test_slerp_toggle_changes_the_in_between_image(G):
    e = latent_explorer(G)
    before = e.image.copy()
    e.method.value = "slerp"
    assert not np.allclose(before, e.image)


def test_latent_explorer_restores_training_mode(G):
    G.train()
    latent_explorer(G)
    assert G.training


@pytest.mark.parametrize("make, kwargs, error, words", [
    (lambda: "G", {}, TypeError, "nn.Module"),
    (lambda: nn.Linear(4, 4), {}, ValueError, "latent_dim"),
    (lambda: DCGANGenerator(latent_dim=16, width=8), {"num_classes": 10}, ValueError, "not conditional"),
    (lambda: DCGANGenerator(latent_dim=16, width=8, num_classes=10), {"num_classes": 5}, ValueError, "does not match"),
    (lambda: DCGANGenerator(latent_dim=16, width=8), {"steps": 1}, ValueError, "steps"),
    (lambda: DCGANGenerator(latent_dim=16, width=8), {"seed": "0"}, TypeError, "seed"),
])
def test_latent_explorer_rejects_bad_inputs(make, kwargs, error, words):
    with pytest.raises(error) as e:
        latent_explorer(make(), **kwargs)
    assert words in str(e.value)


# ---------------------------------------------------------------- conv_explorer

def test_conv_explorer_reacts_to_each_control():
    w = conv_explorer(torch.rand(3, 32, 32), kernel="blur (box)", stride=1, padding=0)
    kernel_w, stride_w, padding_w = w.children[0].children
    shape = w.children[1]
    assert "(30, 30)" in shape.value
    padding_w.value = 1
    assert "(32, 32)" in shape.value
    stride_w.value = 2
    assert "(16, 16)" in shape.value
    kernel_w.value = "Laplacian"
    assert "(16, 16)" in shape.value and "2·1" in shape.value


# ---------------------------------------------------------------- LiveSamples

class CountingG(nn.Module):
    latent_dim, num_classes = 4, None

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 16)
        self.calls = 0

    def forward(self, z):
        self.calls += 1
        return torch.tanh(self.lin(z)).view(-1, 1, 4, 4)


class NullTask:
    def __init__(self):
        self.modules, self.optimizers = {"m": nn.Linear(1, 1)}, {}

    def step(self, batch, ctx):
        return {"loss": torch.tensor(1.0)}


def test_live_samples_does_nothing_outside_a_notebook():
    G = CountingG()
    cb = LiveSamples(G, torch.randn(8, 4))
    fit(NullTask(), iter(lambda: (torch.zeros(2, 1),), None), steps=6, log_every=2, callbacks=[cb], progress=False)
    assert G.calls == 0 and plt.get_fignums() == []


def test_live_samples_in_a_notebook_displays_once_then_updates_in_place(fake_notebook):
    shown, updates = fake_notebook
    G = CountingG().train()
    cb = LiveSamples(G, torch.randn(8, 4), every=2)
    for n in range(1, 7):
        cb(History(list(range(1, n + 1)), {"loss": [1.0] * n}))
    assert len(shown) == 1 and len(updates) == 2 and G.calls == 3  # calls 2, 4, 6 draw
    assert G.training  # sampled in eval mode, mode restored
    assert plt.get_fignums() == []


def test_live_samples_uses_the_same_codes_every_time():
    G = CountingG()
    cb = LiveSamples(G, torch.randn(8, 4))
    assert torch.equal(cb.sample(), cb.sample()) and cb.sample().shape == (8, 1, 4, 4)


def test_live_samples_passes_labels_to_a_conditional_generator(G_cond):
    y = torch.arange(10)
    x = LiveSamples(G_cond, torch.randn(10, 16), y=y).sample()
    assert x.shape == (10, 1, 28, 28)


@pytest.mark.parametrize("kwargs, words", [
    ({"z": torch.randn(8, 3)}, "(n, 4)"),
    ({"z": torch.randn(8)}, "(n, 4)"),
    ({"z": torch.randn(8, 4), "y": torch.zeros(8, dtype=torch.long)}, "not conditional"),
    ({"z": torch.randn(8, 4), "every": 0}, "every"),
])
def test_live_samples_rejects_bad_inputs(kwargs, words):
    with pytest.raises(ValueError) as e:
        LiveSamples(CountingG(), **kwargs)
    assert words in str(e.value)


def test_live_samples_needs_labels_for_a_conditional_generator(G_cond):
    with pytest.raises(ValueError, match="conditional"):
        LiveSamples(G_cond, torch.randn(4, 16))


def test_moving_the_slider_keeps_the_strip_and_only_redraws_the_current_image(G):
    e = latent_explorer(G)
    strip = e.strip
    e.slider.value = 0.2
    assert e.strip is strip
    e.method.value = "slerp"  # a new path: a new strip
    assert e.strip is not strip


# ---------------------------------------------------------------- VAE latent spaces (lesson 05)
def test_the_path_can_start_at_given_codes(G):
    z0, z1 = torch.zeros(G.latent_dim), torch.ones(G.latent_dim)
    ex = latent_explorer(G, z0=z0, z1=z1)
    assert torch.equal(ex.z0, z0) and torch.equal(ex.z1, z1)
    with pytest.raises(ValueError, match="both z0 and z1"):
        latent_explorer(G, z0=z0)
    with pytest.raises(ValueError, match=r"shape \(%d,\)" % G.latent_dim):
        latent_explorer(G, z0=torch.zeros(3, 2), z1=z1)


def test_the_plane_explorer_decodes_where_the_sliders_point():
    from genimg_course.models import ConvVAE
    from genimg_course.widgets import latent_plane_explorer

    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=2, width=8, hidden=32)
    ex = latent_plane_explorer(vae, codes=torch.randn(50, 2), labels=torch.arange(50) % 10)
    first = ex.image.copy()
    assert first.shape == (28, 28) and 0 <= first.min() and first.max() <= 1
    ex.z0_slider.value, ex.z1_slider.value = 2.5, -2.5
    assert torch.allclose(ex.z, torch.tensor([2.5, -2.5])) and not np.allclose(ex.image, first)


def test_the_plane_explorer_needs_a_2d_latent_space():
    from genimg_course.models import ConvVAE
    from genimg_course.widgets import latent_plane_explorer

    with pytest.raises(ValueError, match="2-D latent space"):
        latent_plane_explorer(ConvVAE(latent_dim=3))


def test_decode_grid_spans_the_prior_row_by_row():
    from genimg_course.models import ConvVAE
    from genimg_course.viz import decode_grid, plot_latent_codes

    grid = decode_grid(ConvVAE(latent_dim=2, width=8, hidden=32), n=5)
    assert grid.shape == (25, 1, 28, 28) and -1 <= grid.min() and grid.max() <= 1
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_latent_codes(torch.zeros(4, 3))
