"""Lesson 06's explorers: the before/after wipe and the live restoration explorer. Everything runs
headless (no kernel): the explorers draw once when built, and setting a control's ``.value`` redraws."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from genimg_course import restore  # noqa: E402
from genimg_course.models.unet import UNet  # noqa: E402
from genimg_course.widgets import (BeforeAfter, RestorationExplorer, before_after,  # noqa: E402
                                   restoration_explorer, wipe)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from genimg_course.data import load_mnist

    return load_mnist("test", "offline", verbose=False).images[:6].float() / 255  # (6, 1, 28, 28) in [0, 1]


@pytest.fixture
def model() -> UNet:
    """A tiny residual U-Net whose head is not the identity's zeros, so its output differs from its input."""
    torch.manual_seed(0)
    m = UNet(1, 1, width=8, depth=2, residual=True)
    nn.init.normal_(m.head.weight, std=0.05)
    return m


class Spy:
    """Counts a module's forward calls and records the mode and grad state each ran in."""

    def __init__(self, m: nn.Module) -> None:
        self.calls, self.training, self.grad = 0, [], []
        m.register_forward_hook(self)

    def __call__(self, module, inputs, output) -> None:
        self.calls += 1
        self.training.append(module.training)
        self.grad.append(torch.is_grad_enabled())


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def reference_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was = model.training
    model.eval()
    with torch.no_grad():
        y = model(x).clamp(0, 1)
    model.train(was)
    return y


# ---------------------------------------------------------------- wipe / before_after

def test_wipe_takes_the_left_columns_from_before_and_the_rest_from_after():
    b, a = torch.zeros(1, 4, 10), torch.ones(1, 4, 10)
    img = wipe(b, a, 0.3)
    assert img.shape == (4, 10)
    assert (img[:, :3] == 0).all() and (img[:, 3:] == 1).all()
    assert (wipe(b, a, 0.0) == 1).all() and (wipe(b, a, 1.0) == 0).all()


def test_wipe_shows_grey_beside_colour_as_rgb_and_clips_a_raw_output():
    grey, rgb = torch.full((1, 1, 6, 6), 0.5), torch.rand(3, 6, 6) * 1.4 - 0.2  # a model's raw output overshoots
    img = wipe(grey, rgb, 0.5)
    assert img.shape == (6, 6, 3)
    assert np.allclose(img[:, :3], 0.5)
    assert np.allclose(img[:, 3:], rgb.clamp(0, 1).permute(1, 2, 0).numpy()[:, 3:])


def test_before_after_draws_once_headless_and_the_slider_moves_the_split(digits):
    noisy = restore.add_noise(digits[:1], 0.2, torch.Generator().manual_seed(0))[0]  # not clipped: the raw input
    e = before_after(noisy, digits[0], titles=("noisy", "clean"), position=0.25)
    assert isinstance(e, BeforeAfter) and "application/vnd.jupyter.widget-view+json" in e._repr_mimebundle_()
    assert e.split == 7 and len(e.figure.axes) == 1
    assert "noisy" in titles(e.figure)[0] and "clean" in titles(e.figure)[0]
    line = e.figure.axes[0].lines[0]
    assert line.get_xdata()[0] == pytest.approx(6.5)
    assert np.allclose(e.image[:, :7], noisy[0, :, :7].clamp(0, 1).numpy())
    assert np.allclose(e.image[:, 7:], digits[0, 0, :, 7:].numpy())
    first = e.image.copy()
    e.slider.value = 0.75
    assert e.split == 21 and e.figure.axes[0].lines[0].get_xdata()[0] == pytest.approx(20.5)
    assert not np.allclose(first, e.image)
    assert np.allclose(e.image[:, :21], noisy[0, :, :21].clamp(0, 1).numpy())


@pytest.mark.parametrize("before, after, kwargs, error, words", [
    (torch.rand(2, 1, 8, 8), torch.rand(1, 8, 8), {}, ValueError, "got a batch of shape (2, 1, 8, 8)"),
    (torch.rand(8, 8, 3), torch.rand(3, 8, 8), {}, ValueError, ".permute(2, 0, 1)"),
    (torch.rand(8, 8), torch.rand(1, 8, 8), {}, ValueError, "x[None]"),
    ((torch.rand(1, 8, 8) * 255).to(torch.uint8), torch.rand(1, 8, 8), {}, TypeError, "divide by 255"),
    (torch.full((1, 8, 8), float("nan")), torch.rand(1, 8, 8), {}, ValueError, "NaN"),
    (torch.rand(1, 8, 8), torch.rand(1, 8, 10), {}, ValueError, "same height and width"),
    (torch.rand(1, 8, 8), torch.rand(1, 8, 8), {"position": 1.5}, ValueError, "position must be a number >= 0 and <= 1"),
    (torch.rand(1, 8, 8), torch.rand(1, 8, 8), {"titles": "before"}, ValueError, "two strings"),
    ([[0.5]], torch.rand(1, 8, 8), {}, TypeError, "got list"),
])
def test_before_after_rejects_bad_inputs(before, after, kwargs, error, words):
    with pytest.raises(error) as e:
        before_after(before, after, **kwargs)
    assert words in str(e.value)


# ---------------------------------------------------------------- restoration_explorer

def test_headless_noise_explorer_shows_degraded_baseline_model_clean_with_their_psnr(model, digits):
    e = restoration_explorer(model, digits, kind="noise", value=0.1, baseline="nlmeans")
    assert isinstance(e, RestorationExplorer) and "application/vnd.jupyter.widget-view+json" in e._repr_mimebundle_()
    assert list(e.outputs) == ["degraded", "nlmeans", "model", "clean"]
    t = titles(e.figure)
    assert len(t) == 4 and t[0].startswith("σ = 0.100") and t[1].startswith("nlmeans") and t[2].startswith("model")
    assert t[3] == "clean (target)"
    clean = digits[:1]
    assert torch.equal(e.outputs["clean"], clean)
    noisy = e.degraded.image
    assert 0.08 < float((noisy - clean).std()) < 0.12  # σ = 0.1 noise, not clipped for the model
    expected = {"degraded": noisy.clamp(0, 1), "nlmeans": restore.baseline_denoise(noisy, 0.1, "nlmeans"),
                "model": reference_output(model, noisy)}
    for i, (name, y) in enumerate(expected.items()):
        assert torch.allclose(e.outputs[name], y, atol=1e-5), name
        assert t[i].endswith(f"{restore.psnr(y, clean):.2f} dB"), (name, t[i])
        assert e.psnrs[name] == pytest.approx(restore.psnr(y, clean), abs=1e-4)
    assert "over nlmeans" in e.info.value


def test_moving_sigma_reruns_the_model_with_the_same_noise_pattern(model, digits):
    spy = Spy(model)
    e = restoration_explorer(model, digits, kind="noise", value=0.1)
    assert spy.calls == 1 and len(e.figure.axes) == 3  # no baseline: degraded | model | clean
    n1, out1, t1 = (e.degraded.image - digits[:1]) / 0.1, e.outputs["model"].clone(), titles(e.figure)
    e.control.value = 0.3
    assert spy.calls == 2
    assert not torch.allclose(out1, e.outputs["model"]) and titles(e.figure) != t1
    assert torch.allclose((e.degraded.image - digits[:1]) / 0.3, n1, atol=1e-4)  # σ scales one fixed noise draw
    assert e.psnrs["degraded"] < restore.psnr((digits[:1] + 0.1 * n1).clamp(0, 1), digits[:1])


def test_the_noise_is_seeded_per_image(model, digits):
    e = restoration_explorer(model, digits, kind="noise", seed=3)
    first = e.degraded.image.clone()
    e.index.value = 4
    assert torch.equal(e.outputs["clean"], digits[4:5]) and e.runs == 2
    e.index.value = 0
    assert torch.equal(e.degraded.image, first)
    assert not torch.equal(restoration_explorer(model, digits, kind="noise", seed=4).degraded.image, first)


def test_scale_dropdown_switches_between_x2_and_x4(model, digits):
    e = restoration_explorer(model, digits, kind="scale", baseline="bicubic")
    assert list(e.control.options) == [2, 4] and e.control.value == 2
    x = digits[:1]
    assert torch.allclose(e.degraded.image, restore.upsample_bicubic(restore.downsample(x, 2), 2))
    out2 = e.outputs["model"].clone()
    e.control.value = 4
    assert torch.allclose(e.degraded.image, restore.upsample_bicubic(restore.downsample(x, 4), 4))
    assert not torch.allclose(out2, e.outputs["model"])
    assert torch.allclose(e.outputs["model"], reference_output(model, e.degraded.image), atol=1e-5)
    bicubic = restore.baseline_upscale(restore.downsample(x, 4), 4, "bicubic")
    assert titles(e.figure)[1] == f"bicubic\n{restore.psnr(bicubic, x):.2f} dB"


def test_hole_slider_changes_the_hole(model, digits):
    e = restoration_explorer(model, digits, kind="hole", baseline="biharmonic")
    assert e.control.value == 12 and int(e.degraded.missing.sum()) == 144  # the lesson's 12×12 hole on 28×28
    out12 = e.outputs["model"].clone()
    e.control.value = 6
    assert int(e.degraded.missing.sum()) == 36 and not torch.allclose(out12, e.outputs["model"])
    assert titles(e.figure)[0].startswith("6×6 hole")


def test_the_wipe_moves_without_rerunning_the_model(model, digits):
    spy = Spy(model)
    e = restoration_explorer(model, digits, kind="noise", value=0.2)
    assert torch.equal(e.wipe.before, e.outputs["degraded"][0]) and torch.equal(e.wipe.after, e.outputs["model"][0])
    first = e.wipe.image.copy()
    e.wipe.slider.value = 0.9
    assert spy.calls == 1 and not np.allclose(first, e.wipe.image)
    e.control.value = 0.4  # a new σ: the wipe shows the new pair at its current split
    assert e.wipe.position == pytest.approx(0.9) and torch.equal(e.wipe.after, e.outputs["model"][0])


def test_the_model_runs_in_eval_mode_without_gradients_and_its_mode_is_restored(digits):
    torch.manual_seed(0)
    m = UNet(1, 1, width=8, depth=2, residual=True, norm="batch").train()  # BatchNorm: train and eval differ
    spy = Spy(m)
    e = restoration_explorer(m, digits, kind="noise")
    e.control.value = 0.2
    assert m.training and spy.training == [False, False] and spy.grad == [False, False]
    assert torch.allclose(e.outputs["model"], reference_output(m, e.degraded.image), atol=1e-5)
    m.eval()
    restoration_explorer(m, digits, kind="noise")
    assert not m.training


def test_a_callable_baseline_is_used_as_given(model, digits):
    f = restore.AddNoise(0.1).baselines()["gaussian"]
    e = restoration_explorer(model, digits, kind="noise", value=0.1, baseline=f)
    assert list(e.outputs) == ["degraded", "baseline", "model", "clean"]
    assert torch.allclose(e.outputs["baseline"], restore.baseline_denoise(e.degraded.image, 0.1, "gaussian"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_on_the_gpu_gets_its_input_there(digits):
    m = UNet(1, 1, width=8, depth=2, residual=True).cuda()
    e = restoration_explorer(m, digits, kind="noise")
    assert e.outputs["model"].device.type == "cpu"


def test_a_model_that_changes_the_shape_is_named(digits):
    with pytest.raises(ValueError, match=r"input's shape \(1, 1, 28, 28\), got \(1, 1, 14, 14\)"):
        restoration_explorer(nn.AvgPool2d(2), digits)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"model": "unet"}, TypeError, "model must be a network (a torch nn.Module), got str"),
    ({"images": "digits"}, TypeError, "images must be a tensor"),
    ({"images": torch.rand(1, 28, 28)}, ValueError, "must have 4 dimensions, got shape (1, 28, 28)"),
    ({"images": torch.rand(2, 1, 28, 28) * 255}, ValueError, "divide by 255"),
    ({"images": torch.rand(2, 3, 28, 28)}, ValueError, "in_channels=1 but the images have 3 channel(s)"),
    ({"kind": "blur"}, ValueError, "kind must be one of ('noise', 'scale', 'hole')"),
    ({"values": (-0.1, 0.5)}, ValueError, "0 <= low < high <= 1"),
    ({"values": 0.5}, ValueError, "the σ slider's range (low, high)"),
    ({"value": 0.7}, ValueError, "must lie in values = (0, 0.5), got 0.7"),
    ({"kind": "scale", "values": (2, 3)}, ValueError, "power of 2 (2, 4, 8, …), got 3"),
    ({"kind": "scale", "values": (2, 8)}, ValueError, "scale 8 does not divide 28×28 images; scales that fit: [2, 4]"),
    ({"kind": "scale", "value": 8}, ValueError, "one of values = (2, 4), got 8"),
    ({"kind": "hole", "values": (1, 28)}, ValueError, "1 <= low < high <= 27 for 28×28 images"),
    ({"kind": "hole", "value": 25}, ValueError, "must lie in values = (2, 21), got 25"),
    ({"baseline": "bicubic"}, ValueError, "expected one of ['gaussian', 'tv', 'nlmeans']"),
    ({"baseline": 3}, TypeError, "callable(Degraded)"),
    ({"seed": "0"}, TypeError, "seed must be an integer"),
])
def test_restoration_explorer_rejects_bad_inputs_before_running_the_model(model, digits, kwargs, error, words):
    spy = Spy(model)
    args = {"model": model, "images": digits, **kwargs}
    with pytest.raises(error) as e:
        restoration_explorer(**args)
    assert words in str(e.value)
    assert spy.calls == 0
