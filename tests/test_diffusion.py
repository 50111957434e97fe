"""Correctness oracles for genimg_course.diffusion: the closed form of the forward process against
iterating it; every sampler against data whose optimal denoiser is known in closed form (one point,
two points), where a correct sampler must reproduce the data; classifier-free guidance's identities;
and the refusals of bad input."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genimg_course import diffusion as D
from genimg_course.models import UNet

SHAPE = (1, 4, 4)


def _points(k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    return (torch.rand(k, *SHAPE, generator=g) * 1.6 - 0.8)  # k data points inside [-1, 1]


def _posterior_mean(x: torch.Tensor, centres: torch.Tensor, scale: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """E[x0 | x] for x0 uniform over ``centres`` and x = scale * x0 + std * noise (per image scale / std)."""
    d = ((x[:, None] - scale.view(-1, 1, 1, 1, 1) * centres[None]) ** 2).flatten(2).sum(2)  # (B, k)
    w = torch.softmax(-d / (2 * std.view(-1, 1) ** 2), dim=1)
    return torch.einsum("bk,kchw->bchw", w, centres)


class OptimalEps(nn.Module):
    """The exact eps-predictor for data uniform over a few points, under ``schedule``."""

    def __init__(self, centres: torch.Tensor, schedule: D.Schedule) -> None:
        super().__init__()
        self.centres, self.ab = centres.double(), schedule.alpha_bars.double()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.ab[t.long()]
        s, sd = ab.sqrt(), (1 - ab).sqrt()
        x = x.double()
        m = _posterior_mean(x, self.centres, s, sd)
        return ((x - s.view(-1, 1, 1, 1) * m) / sd.view(-1, 1, 1, 1)).float()


class OptimalVelocity(nn.Module):
    """The exact flow-matching velocity E[eps - x0 | x_t] for data uniform over a few points
    (x_t = (1 - t) x0 + t eps; the model's time input is 1000 t)."""

    def __init__(self, centres: torch.Tensor) -> None:
        super().__init__()
        self.centres = centres.double()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u = (t.double() / 1000).clamp_min(1e-6)
        x = x.double()
        m = _posterior_mean(x, self.centres, 1 - u, u)
        return ((x - m) / u.view(-1, 1, 1, 1)).float()


def _nearest(samples: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = ((samples[:, None] - centres[None]) ** 2).flatten(2).mean(2).sqrt()  # RMS distance (n, k)
    return d.min(1)


# ---------------------------------------------------------------- schedules and the forward process
@pytest.mark.parametrize("make", [D.linear_schedule, D.cosine_schedule])
def test_schedule_signal_falls_and_matches_its_betas(make) -> None:
    s = make(T=200)
    assert s.T == 200 and s.betas.shape == (200,)
    assert torch.all(s.snr()[1:] < s.snr()[:-1]), "the signal-to-noise ratio must fall with t"
    assert torch.allclose(s.alpha_bars, torch.cumprod(1 - s.betas.double(), 0).float(), rtol=1e-5)


def test_closed_form_equals_iterating_the_forward_process() -> None:
    s = D.linear_schedule(T=100)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20_000, 1, 1, 1), 0.7)
    x = x0.clone()
    for t in range(60):  # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z, steps t = 0 .. 59
        x = (1 - s.betas[t]).sqrt() * x + s.betas[t].sqrt() * torch.randn(x.shape, generator=g)
    closed = D.q_sample(x0, torch.full((20_000,), 59, dtype=torch.long), torch.randn(x0.shape, generator=g), s)
    ab = float(s.alpha_bars[59])
    for sample in (x, closed):  # both N(sqrt(ab) x0, (1 - ab) I): 20,000 draws, the mean within 4 standard errors
        assert abs(float(sample.mean()) - math.sqrt(ab) * 0.7) < 4 * math.sqrt((1 - ab) / 20_000)
        assert abs(float(sample.var()) - (1 - ab)) < 0.03 * (1 - ab)


def test_q_sample_is_exact_on_given_noise() -> None:
    s = D.cosine_schedule(T=50)
    x0, noise = torch.rand(3, *SHAPE) * 2 - 1, torch.randn(3, *SHAPE)
    t = torch.tensor([0, 10, 49])
    ab = s.alpha_bars[t].view(-1, 1, 1, 1)
    assert torch.allclose(D.q_sample(x0, t, noise, s), ab.sqrt() * x0 + (1 - ab).sqrt() * noise, atol=1e-6)


# ---------------------------------------------------------------- samplers against known optimal denoisers
@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "ddim_eta1"])
def test_diffusion_samplers_reproduce_one_point(sampler: str) -> None:
    s = D.linear_schedule(T=200)
    c = _points(1)
    model = OptimalEps(c, s)
    g = torch.Generator().manual_seed(1)
    if sampler == "ddpm":
        out = D.ddpm_sample(model, s, 16, generator=g, shape=SHAPE)
    else:
        out = D.ddim_sample(model, s, 16, steps=20, eta=1.0 if sampler == "ddim_eta1" else 0.0, generator=g, shape=SHAPE)
    assert out.shape == (16, *SHAPE)
    assert float((out - c).abs().max()) < 1e-3


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_diffusion_samplers_reproduce_two_points_half_and_half(sampler: str) -> None:
    s = D.cosine_schedule(T=200)
    c = _points(2)
    model = OptimalEps(c, s)
    g = torch.Generator().manual_seed(2)
    out = (D.ddpm_sample(model, s, 400, generator=g, shape=SHAPE) if sampler == "ddpm"
           else D.ddim_sample(model, s, 400, steps=25, generator=g, shape=SHAPE))
    dist, which = _nearest(out, c)
    assert float(dist.max()) < 0.02, "every sample lands on one of the two data points"
    assert 0.4 < float(which.float().mean()) < 0.6, "and they split about evenly"


@pytest.mark.parametrize("method,steps", [("euler", 40), ("heun", 20)])
def test_flow_sampler_reproduces_one_and_two_points(method: str, steps: int) -> None:
    g = torch.Generator().manual_seed(3)
    c1 = _points(1)
    out = D.flow_sample(OptimalVelocity(c1), 16, steps=steps, method=method, generator=g, shape=SHAPE)
    assert float((out - c1).abs().max()) < 1e-3
    c2 = _points(2)
    out = D.flow_sample(OptimalVelocity(c2), 400, steps=steps, method=method, generator=g, shape=SHAPE)
    dist, which = _nearest(out, c2)
    assert float(dist.max()) < 0.05 and 0.4 < float(which.float().mean()) < 0.6


def test_ddim_eta0_is_deterministic_given_the_start() -> None:
    s = D.linear_schedule(T=100)
    model = OptimalEps(_points(2), s)
    x_T = torch.randn(8, *SHAPE, generator=torch.Generator().manual_seed(4))
    a = D.ddim_sample(model, s, 8, steps=10, x_T=x_T, shape=SHAPE, generator=torch.Generator().manual_seed(5))
    b = D.ddim_sample(model, s, 8, steps=10, x_T=x_T, shape=SHAPE, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)


def test_cfg_combine_identities() -> None:
    g = torch.Generator().manual_seed(3)
    c, u = torch.randn(2, *SHAPE, generator=g), torch.randn(2, *SHAPE, generator=g)
    # u + 1 * (c - u) rounds to c only within float32's precision: compare absolutely
    assert torch.allclose(D.cfg_combine(c, u, 1.0), c, atol=1e-6) and torch.allclose(D.cfg_combine(c, u, 0.0), u)
    w = 2.0  # Ho & Salimans' (1 + w) eps_c - w eps_u is scale 1 + w
    assert torch.allclose(D.cfg_combine(c, u, 1 + w), (1 + w) * c - w * u, atol=1e-6)


def test_ema_follows_its_formula() -> None:
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema = D.EMA(net, decay=0.9, warmup=False)
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(net)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))


def test_a_conditional_unet_trains_and_samples_with_guidance() -> None:
    torch.manual_seed(0)
    s = D.linear_schedule(T=20)
    m = UNet(1, 1, width=8, depth=2, time_dim=16, num_classes=10)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    loss = D.diffusion_loss(m, x0, torch.tensor([0, 5, 10, 19]), torch.randn_like(x0), s, y=torch.tensor([1, 2, 3, 4]))
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))
    out = D.ddim_sample(m, s, 3, steps=4, labels=torch.tensor([0, 1, 2]), guidance=2.0,
                        generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 1, 28, 28) and torch.isfinite(out).all()


# ---------------------------------------------------------------- bad input, named before any work
def test_refusals() -> None:
    s = D.linear_schedule(T=10)
    x0 = torch.zeros(2, *SHAPE)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        D.q_sample(x0, torch.tensor([0, 10]), torch.zeros_like(x0), s)
    with pytest.raises(ValueError):
        D.make_schedule(torch.tensor([0.1, 0.0, 0.2]))  # a beta of 0: the signal does not fall
    with pytest.raises(ValueError, match="steps"):
        D.ddim_sample(OptimalEps(_points(1), s), s, 2, steps=0, shape=SHAPE)
    with pytest.raises(ValueError, match="time_dim"):
        D.ddim_sample(UNet(1, 1, width=8), s, 2, steps=2)
    m = UNet(1, 1, width=8, depth=2, time_dim=16, num_classes=10)
    with pytest.raises(ValueError, match="10"):
        D.ddim_sample(m, s, 2, steps=2, labels=torch.tensor([3, 12]))
    with pytest.raises(ValueError):
        D.diffusion_loss(m, torch.full((2, 1, 28, 28), 255.0), torch.tensor([0, 1]), torch.zeros(2, 1, 28, 28), s)


def test_load_diffusion_names_what_it_has() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        D.load_diffusion("gan")
    from genimg_course.checkpoints import SHIPPED
    for name, file in D.SHIPPED_DIFFUSION.items():
        if file not in SHIPPED:
            with pytest.raises(FileNotFoundError, match="no .* checkpoint is shipped"):
                D.load_diffusion(name)


def test_clipped_eps_leaves_an_in_range_estimate_alone_and_steps_through_the_clipped_posterior_mean():
    s = D.linear_schedule(1000)
    g = torch.Generator().manual_seed(5)
    x0 = torch.rand(4, 1, 6, 6, generator=g) * 1.8 - 0.9  # inside [-1, 1]
    eps = torch.randn(x0.shape, generator=g)
    for t in (0, 10, 500, 999):
        x_t = D.q_sample(x0, torch.full((4,), t), eps, s)
        assert torch.allclose(D.clipped_eps(eps, x_t, t, s), eps, atol=2e-3 if t == 999 else 1e-4)
    # an estimate outside [-1, 1]: DDPM's step through the clipped eps is the posterior mean of the clipped x0
    t = 700
    ab, ab_prev, a, b = (float(v) for v in (s.alpha_bars[t], s.alpha_bars[t - 1], s.alphas[t], s.betas[t]))
    x_t = torch.randn(4, 1, 6, 6, generator=g)
    wild = torch.randn(x_t.shape, generator=g) * 3
    x0_hat = ((x_t - (1 - ab) ** 0.5 * wild) / ab ** 0.5).clamp(-1, 1)
    assert (x0_hat.abs() == 1).any()
    mean = ab_prev ** 0.5 * b / (1 - ab) * x0_hat + a ** 0.5 * (1 - ab_prev) / (1 - ab) * x_t
    got = D.ddpm_step(D.clipped_eps(wild, x_t, t, s), x_t, t, s, torch.zeros_like(x_t))
    assert torch.allclose(got, mean, atol=1e-4)
    with pytest.raises(ValueError, match=r"t must be a timestep in \[0, 1000\)"):
        D.clipped_eps(wild, x_t, 1000, s)


def test_the_samplers_clip_the_estimate_by_default_and_can_be_told_not_to():
    class Wild(torch.nn.Module):  # predicts noise far too large: the unclipped estimate leaves [-1, 1]
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(-3.0))

        def forward(self, x, t):
            return self.w * x

    s = D.linear_schedule(50)
    x_T = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    kw = dict(shape=(1, 4, 4), x_T=x_T)
    clipped = D.ddim_sample(Wild(), s, 3, 10, **kw)
    raw = D.ddim_sample(Wild(), s, 3, 10, clip_denoised=False, **kw)
    assert clipped.abs().max() <= 1 + 1e-5 and raw.abs().max() > 2
    ddpm = D.ddpm_sample(Wild(), s, 3, generator=torch.Generator().manual_seed(1), **kw)
    assert ddpm.abs().max() <= 1.5
    with pytest.raises(TypeError, match="clip_denoised"):
        D.ddim_sample(Wild(), s, 3, 10, clip_denoised="yes", **kw)
