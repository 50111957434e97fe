"""Lesson 10's explorers: diffusion_explorer (the forward and the reverse process on one slider) and
guidance_explorer (classifier-free guidance scale and digit). A tiny untrained U-Net on a 50-step
schedule keeps each test to a second or two; everything runs headless (the explorers draw once when built)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from genimg_course import diffusion as D  # noqa: E402
from genimg_course.models import UNet  # noqa: E402
from genimg_course.widgets import (DiffusionExplorer, GuidanceExplorer, diffusion_explorer,  # noqa: E402
                                   guidance_explorer)

T = 50
STEPS = 10


def _unet(num_classes: int | None = 10, kind: str | None = "eps", time_dim: int | None = 32) -> UNet:
    torch.manual_seed(0)  # PyTorch's default init: varied outputs without training
    m = UNet(1, 1, width=8, depth=2, time_dim=time_dim, num_classes=num_classes)
    if kind is not None:
        m.diffusion_kind = kind
    return m


@pytest.fixture(scope="module")
def model() -> UNet:
    return _unet()


@pytest.fixture(scope="module")
def schedule() -> D.Schedule:
    return D.cosine_schedule(T)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 28, 28, generator=g) * 2 - 1  # "digits" in [-1, 1]


@pytest.fixture(scope="module")
def explorer(model, schedule, images) -> DiffusionExplorer:
    return diffusion_explorer(model, schedule, images, seed=0, steps=STEPS)


# ---------------------------------------------------------------- diffusion_explorer

def test_diffusion_explorer_builds_headless_with_a_widget(explorer, schedule):
    assert isinstance(explorer, DiffusionExplorer)
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()
    assert explorer.slider.min == 0 and explorer.slider.max == schedule.T - 1
    assert explorer.t == schedule.T // 2 and explorer.figure is not None
    assert explorer.timesteps == D.ddim_timesteps(T, STEPS)
    assert explorer.trajectory.shape == explorer.x0_hats.shape == (STEPS, 3, 1, 28, 28)


@pytest.mark.parametrize("t", [0, 7, 25, T - 1])
def test_forward_frame_is_q_sample_with_the_fixed_noise(explorer, schedule, images, t):
    f = explorer.frame(t)
    want = D.q_sample(images, torch.full((3,), t, dtype=torch.long), explorer.noise, schedule)
    assert torch.equal(f["forward"], want)
    ab = float(schedule.alpha_bars[t])
    assert f["sqrt_alpha_bar"] == pytest.approx(ab ** 0.5) and f["snr"] == pytest.approx(ab / (1 - ab))


def test_forward_noise_is_fixed_by_the_seed(model, schedule, images, explorer):
    again = diffusion_explorer(model, schedule, images, seed=0, steps=STEPS)
    other = diffusion_explorer(model, schedule, images, seed=1, steps=STEPS)
    assert torch.equal(again.noise, explorer.noise)
    assert torch.equal(again.frame(30)["forward"], explorer.frame(30)["forward"])
    assert not torch.equal(other.noise, explorer.noise)


def test_reverse_at_the_last_step_is_what_ddim_sample_returns(explorer, model, schedule):
    f = explorer.frame(0)
    assert f["t_shown"] == 0
    want = D.ddim_sample(model, schedule, 3, STEPS, labels=torch.arange(3) % 10, x_T=explorer.x_T)
    assert torch.allclose(f["reverse"], want, atol=1e-5)
    # eta = 0 to alpha_bar = 1: the last step returns the network's guess of x_0 itself
    assert torch.allclose(f["x0_hat"], want, atol=1e-5)


def test_reverse_shows_the_nearest_stored_step_and_its_x0_hat(explorer, schedule):
    ts = explorer.timesteps
    for t in (T - 1, 30, 12, 1):  # 30 lies halfway between the stored 33 and 27
        i = min(range(len(ts)), key=lambda j: (abs(ts[j] - t), ts[j]))  # a tie goes to the smaller timestep
        f = explorer.frame(t)
        assert f["t_shown"] == ts[i] and abs(f["t_shown"] - t) <= (T - 1) / (STEPS - 1) / 2 + 0.5
        assert torch.equal(f["reverse"], explorer.trajectory[i])
        # x0_hat is (x_t - sqrt(1 - ab) eps) / sqrt(ab) at the step: recover eps from the step's input and output
        x_in = explorer.x_T if i == 0 else explorer.trajectory[i - 1]
        ab = float(schedule.alpha_bars[ts[i]])
        eps = (x_in - ab ** 0.5 * f["x0_hat"]) / (1 - ab) ** 0.5
        want = D.ddim_step(eps, x_in, ts[i], ts[i + 1] if i + 1 < len(ts) else -1, schedule)
        assert torch.allclose(f["reverse"], want, atol=1e-5)


def test_update_redraws_and_the_slider_calls_it(explorer):
    explorer.slider.value = 40
    assert explorer.t == 40 and explorer.shown["t_shown"] == explorer.frame(40)["t_shown"]
    assert "SNR" in explorer.info.value and "√ᾱ" in explorer.info.value


def test_conditional_labels_default_to_one_class_per_column_and_can_be_given(model, schedule, images):
    e = diffusion_explorer(model, schedule, images, labels=7, steps=2)
    assert e.labels.tolist() == [7, 7, 7]
    want = D.ddim_sample(model, schedule, 3, 2, labels=7, x_T=e.x_T)
    assert torch.allclose(e.frame(0)["reverse"], want, atol=1e-5)
    assert diffusion_explorer(model, schedule, images, steps=2).labels.tolist() == [0, 1, 2]


def test_an_unconditional_model_samples_without_labels(schedule, images):
    m = _unet(num_classes=None)
    e = diffusion_explorer(m, schedule, images, steps=3)
    assert e.labels is None
    assert torch.allclose(e.frame(0)["reverse"], D.ddim_sample(m, schedule, 3, 3, x_T=e.x_T), atol=1e-5)
    with pytest.raises(ValueError, match="unconditional"):
        diffusion_explorer(m, schedule, images, labels=[0, 1, 2], steps=3)


@pytest.mark.parametrize("t, err, msg", [(T, ValueError, r"\[0, 50\).*got 50"), (-1, ValueError, "got -1"),
                                         (2.5, TypeError, "integer timestep"), (True, TypeError, "integer timestep")])
def test_frame_refuses_a_timestep_outside_the_schedule(explorer, t, err, msg):
    with pytest.raises(err, match=msg):
        explorer.frame(t)


def test_diffusion_explorer_refuses_a_model_without_time_input(schedule, images):
    with pytest.raises(ValueError, match="no time input"):
        diffusion_explorer(_unet(num_classes=None, time_dim=None), schedule, images)


@pytest.mark.parametrize("bad, msg", [
    (torch.rand(3, 1, 28, 28) * 2 + 1, r"\[-1, 1\]"),        # values above 1
    (torch.rand(3, 1, 28, 28), "no value below 0"),          # [0, 1] digits, not [-1, 1]
    (torch.rand(3, 28, 28) * 2 - 1, r"\(B, C, H, W\)"),      # no channel axis
    (torch.rand(3, 3, 28, 28) * 2 - 1, r"\(B, 1, H, W\).*\(3, 3, 28, 28\)"),  # colour
    ((torch.rand(3, 1, 28, 28) * 255).to(torch.uint8), "to_float"),
])
def test_diffusion_explorer_refuses_images_that_are_not_grey_in_minus1_1(model, schedule, bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        diffusion_explorer(model, schedule, bad)


def test_diffusion_explorer_refuses_bad_labels_steps_and_a_flow_model(model, schedule, images):
    with pytest.raises(ValueError, match="classes 0 to 9"):
        diffusion_explorer(model, schedule, images, labels=10)
    with pytest.raises(ValueError, match=r"steps must be from 1 to 50"):
        diffusion_explorer(model, schedule, images, steps=51)
    with pytest.raises(ValueError, match="flow_sample"):
        diffusion_explorer(_unet(kind="flow"), schedule, images)
    with pytest.raises(TypeError, match="Schedule"):
        diffusion_explorer(model, None, images)


# ---------------------------------------------------------------- guidance_explorer

@pytest.fixture(scope="module")
def guide(model, schedule) -> GuidanceExplorer:
    return guidance_explorer(model, schedule, digit=3, seed=0, n=4, steps=5)


def test_guidance_explorer_builds_headless_with_a_widget(guide):
    assert isinstance(guide, GuidanceExplorer) and guide.kind == "eps"
    assert "application/vnd.jupyter.widget-view+json" in guide._repr_mimebundle_()
    assert guide.scales == (0.0, 1.0, 2.0, 3.0, 5.0, 7.0) and guide.slider.value == 3.0
    assert guide.digit_dropdown.options == tuple(range(10)) and guide.digit_dropdown.value == 3
    assert guide.samples.shape == (4, 1, 28, 28) and guide.figure is not None


@pytest.mark.parametrize("scale", [0.0, 1.0, 5.0])
def test_guidance_render_is_ddim_sample_from_the_fixed_noise(guide, model, schedule, scale):
    want = D.ddim_sample(model, schedule, 4, 5, labels=3, guidance=scale, x_T=guide.x_T)
    assert torch.allclose(guide.render(3, scale), want, atol=1e-6)


def test_guidance_uses_the_same_noise_for_every_scale_and_digit(model, schedule, guide):
    again = guidance_explorer(model, schedule, digit=5, seed=0, n=4, steps=5)
    assert torch.equal(again.x_T, guide.x_T)
    assert not torch.equal(guidance_explorer(model, schedule, seed=1, n=4, steps=5).x_T, guide.x_T)


def test_guidance_caches_each_digit_and_scale(model, schedule):
    g = guidance_explorer(model, schedule, digit=3, n=2, steps=3)
    assert g.runs == 1
    first = g.render(3, 3.0)
    assert g.runs == 1 and first is g.samples
    g.slider.value = 7.0
    assert g.runs == 2 and g.scale == 7.0
    g.digit_dropdown.value = 4
    assert g.runs == 3 and g.digit == 4
    g.slider.value = 3.0
    g.digit_dropdown.value = 3
    assert g.runs == 4  # (4, 3) was new; (3, 3) came from the cache
    assert torch.equal(g.samples, first)
    assert "s = 3" in g.info.value


def test_guidance_explorer_samples_a_flow_model_with_flow_sample():
    m = _unet(kind="flow")
    g = guidance_explorer(m, digit=2, n=2, steps=3, scales=(0, 2))
    assert g.kind == "flow" and g.schedule is None
    assert torch.allclose(g.render(2, 2.0), D.flow_sample(m, 2, 3, labels=2, guidance=2.0, x_T=g.x_T), atol=1e-6)


def test_guidance_explorer_takes_the_model_s_own_schedule(schedule):
    m = _unet()
    m.schedule = schedule
    assert guidance_explorer(m, n=1, steps=2).schedule is schedule


def test_guidance_explorer_refuses_an_unconditional_model(schedule):
    with pytest.raises(ValueError, match="class-conditional.*got num_classes = None"):
        guidance_explorer(_unet(num_classes=None), schedule)


def test_guidance_explorer_refuses_a_model_without_time_input(schedule):
    with pytest.raises(ValueError, match="no time input"):
        guidance_explorer(_unet(num_classes=None, time_dim=None, kind=None), schedule)


@pytest.mark.parametrize("digit, err", [(10, ValueError), (-1, ValueError), (2.0, TypeError)])
def test_guidance_explorer_refuses_a_digit_outside_the_classes(model, schedule, digit, err):
    with pytest.raises(err, match="class 0 to 9"):
        guidance_explorer(model, schedule, digit=digit)


def test_guidance_render_refuses_a_digit_or_scale_out_of_range(guide):
    runs = guide.runs
    with pytest.raises(ValueError, match="class 0 to 9.*got 10"):
        guide.render(10, 1.0)
    with pytest.raises(ValueError, match="scale"):
        guide.render(3, -1.0)
    assert guide.runs == runs


@pytest.mark.parametrize("scales, msg", [((), "at least one"), ([1, -2], r">= 0.*-2"), ([1, float("nan")], ">= 0"),
                                         ("1,2", "list of guidance scales")])
def test_guidance_explorer_refuses_empty_or_negative_scales(model, schedule, scales, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        guidance_explorer(model, schedule, scales=scales)


def test_guidance_explorer_refuses_a_model_it_cannot_sample(schedule):
    with pytest.raises(ValueError, match="cannot tell how to sample"):
        guidance_explorer(_unet(kind=None))
    with pytest.raises(ValueError, match="schedule=None"):
        guidance_explorer(_unet(kind="flow"), schedule)
    with pytest.raises(ValueError, match="one of scales"):
        guidance_explorer(_unet(), schedule, scales=(0, 1), scale=2)


def test_the_explorer_s_stochastic_reverse_path_is_ddim_with_eta_and_seeded_noise():
    from genimg_course import diffusion as D
    from genimg_course.models import UNet
    from genimg_course.widgets import diffusion_explorer
    torch.manual_seed(0)
    model = UNet(1, 1, width=8, depth=2, time_dim=32, num_classes=10).eval()
    s = D.cosine_schedule(50)
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    e = diffusion_explorer(model, s, images, seed=4, steps=10, eta=1.0)
    want = D.ddim_sample(model, s, 3, 10, eta=1.0, labels=torch.arange(3), x_T=e.x_T.clone(),
                         generator=torch.Generator().manual_seed(5))
    assert torch.allclose(e.frame(0)["reverse"], want, atol=1e-5)
    plain = diffusion_explorer(model, s, images, seed=4, steps=10)
    assert not torch.allclose(plain.frame(0)["reverse"], want, atol=1e-3)
    with pytest.raises(ValueError, match="eta"):
        diffusion_explorer(model, s, images, eta=-1)
