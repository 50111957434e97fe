"""One step of our diffusion maths against the reference schedulers of Hugging Face ``diffusers``
(``DDPMScheduler``, ``DDIMScheduler``): the schedules, the forward process, the DDPM ancestral step
and the DDIM step (eta 0 and 1). ``diffusers`` is a test-only dependency; it imports without any model.

Two kinds of comparison:

* **native**: our ``linear_schedule(1000)`` / ``cosine_schedule(1000)`` (computed in float64, stored in
  float32) against diffusers' own schedules (computed and stored in float32). Their gap is float32
  rounding, and the tolerances below are the measured gaps (diffusers 0.42.1, torch 2.14) with a margin.
* **exact**: one float64 schedule fed to both sides (our ``Schedule`` holding float64 tensors; the
  scheduler's ``betas``, ``alphas`` and ``alphas_cumprod`` replaced by the same float64 tensors), so that
  only the step formulas are compared: they agree to about 1e-12 (measured at most 2.7e-12).

Both count timesteps ``t = 0 … T-1``; diffusers' "previous timestep" ``-1`` (``alpha_bar = 1``, with
``set_alpha_to_one=True``) is our ``t_prev = -1``.
"""
from __future__ import annotations

import pytest
import torch

from genimg_course import diffusion as D

diffusers = pytest.importorskip("diffusers")

T = 1000
SHAPE = (4, 1, 28, 28)
EXACT = 1e-10  # float64 on both sides: the formulas alone

SCHEDULES = {  # our schedule, and the scheduler arguments that mean the same
    "linear": (lambda: D.linear_schedule(T), dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02)),
    "cosine": (lambda: D.cosine_schedule(T), dict(beta_schedule="squaredcos_cap_v2")),
}


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    """Random float64 x0 in [-1, 1], a noise, an x_t and a model's eps prediction, fixed by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return {"x0": torch.rand(SHAPE, generator=g, dtype=torch.float64) * 2 - 1,
            "noise": torch.randn(SHAPE, generator=g, dtype=torch.float64),
            "x_t": torch.randn(SHAPE, generator=g, dtype=torch.float64),
            "eps": torch.randn(SHAPE, generator=g, dtype=torch.float64)}


def _ddpm(name: str, **kw):
    return diffusers.DDPMScheduler(num_train_timesteps=T, clip_sample=False, prediction_type="epsilon",
                                   **SCHEDULES[name][1], **kw)


def _ddim(name: str):
    s = diffusers.DDIMScheduler(num_train_timesteps=T, clip_sample=False, set_alpha_to_one=True, steps_offset=0,
                                prediction_type="epsilon", **SCHEDULES[name][1])
    s.set_timesteps(50)  # "leading" spacing: 980, 960, …, 0; their previous step is t - T // 50
    return s


def _float64_pair(name: str, scheduler):
    """Our schedule's betas in float64, as an our-side ``Schedule`` and inside ``scheduler``."""
    b = SCHEDULES[name][0]().betas.double()
    a = 1 - b
    ab = torch.cumprod(a, 0)
    scheduler.betas, scheduler.alphas, scheduler.alphas_cumprod = b, a, ab
    return D.Schedule(b, a, ab, T, name), scheduler


# ---------------------------------------------------------------- the schedules

def test_linear_schedule_matches_ddpm_scheduler_linear():
    ours, theirs = D.linear_schedule(T), _ddpm("linear")
    # betas: float64 linspace rounded to float32 vs a float32 linspace: measured 1.9e-9
    assert torch.allclose(ours.betas.double(), theirs.betas.double(), rtol=0, atol=1e-8)
    # alpha_bar: our float64 cumprod vs their float32 cumprod: measured 2.4e-7 (3.8e-7 relative)
    assert torch.allclose(ours.alpha_bars.double(), theirs.alphas_cumprod.double(), rtol=1e-6, atol=1e-6)
    # against a float64 cumprod of their betas, only our float32 storage is left
    assert torch.allclose(ours.alpha_bars.double(), torch.cumprod(1 - theirs.betas.double(), 0), rtol=1e-6, atol=1e-8)


def test_cosine_schedule_matches_ddpm_scheduler_squaredcos_cap_v2():
    ours, theirs = D.cosine_schedule(T), _ddpm("cosine")
    # the same float64 formula, rounded to float32 on both sides, capped at max_beta = 0.999 by both: measured 0
    assert torch.allclose(ours.betas.double(), theirs.betas.double(), rtol=0, atol=1e-7)
    assert float(ours.betas.max()) == pytest.approx(0.999) and float(theirs.betas.max()) == pytest.approx(0.999)
    assert int(ours.betas.argmax()) == int(theirs.betas.argmax()) == T - 1  # only the last step is capped
    # alpha_bar: float64 vs float32 cumprod: measured 3.0e-7 absolute (1.3e-5 relative at the tiny tail)
    assert torch.allclose(ours.alpha_bars.double(), theirs.alphas_cumprod.double(), rtol=3e-5, atol=1e-6)


# ---------------------------------------------------------------- the forward process

@pytest.mark.parametrize("name", SCHEDULES)
def test_q_sample_matches_add_noise(name):
    x = _tensors(0)
    t = torch.tensor([0, 1, 500, 999])
    ours, theirs = _float64_pair(name, _ddpm(name))
    assert torch.allclose(D.q_sample(x["x0"], t, x["noise"], ours), theirs.add_noise(x["x0"], x["noise"], t),
                          rtol=0, atol=EXACT)
    # native: their float32 alpha_bar near 1 (t = 0) moves sqrt(1 - alpha_bar) most; measured 7.8e-6 (linear)
    native = SCHEDULES[name][0]()
    assert torch.allclose(D.q_sample(x["x0"], t, x["noise"], native), _ddpm(name).add_noise(x["x0"], x["noise"], t),
                          rtol=0, atol=2e-5)


# ---------------------------------------------------------------- the DDPM step

@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("t", [0, 1, 10, 500, 999])
def test_ddpm_step_matches_ddpm_scheduler_fixed_large(name, t):
    """``variance_type="fixed_large"`` is sigma_t^2 = beta_t, as ours. Their step draws its noise with
    ``randn_tensor(shape, generator, device=cpu, dtype=model_output.dtype)``, i.e. ``torch.randn`` from the
    generator on the CPU in float64: the same seed gives us the same noise. At ``t = 0`` neither adds noise."""
    x = _tensors(1)
    ours, theirs = _float64_pair(name, _ddpm(name, variance_type="fixed_large"))
    seed = 1000 + t
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    want = theirs.step(x["eps"], t, x["x_t"], generator=torch.Generator().manual_seed(seed)).prev_sample
    got = D.ddpm_step(x["eps"], x["x_t"], t, ours, noise if t > 0 else None)
    assert torch.allclose(got, want, rtol=0, atol=EXACT)


@pytest.mark.parametrize("name", SCHEDULES)
def test_ddpm_step_mean_and_variance_separately(name):
    """The mean (their step at t = 0 adds no noise; elsewhere noise = 0 is passed to ours and the variance
    term subtracted from theirs) and the variance (their ``fixed_large`` variance is beta_t for t > 0)."""
    x = _tensors(2)
    ours, theirs = _float64_pair(name, _ddpm(name, variance_type="fixed_large"))
    for t in (1, 250, 998):
        assert float(theirs._get_variance(t)) == pytest.approx(float(ours.betas[t]), rel=1e-9)
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        theirs_mean = theirs.step(x["eps"], t, x["x_t"], generator=torch.Generator().manual_seed(t)).prev_sample \
            - float(ours.betas[t]) ** 0.5 * noise
        ours_mean = D.ddpm_step(x["eps"], x["x_t"], t, ours, torch.zeros(SHAPE, dtype=torch.float64))
        assert torch.allclose(ours_mean, theirs_mean, rtol=0, atol=EXACT)


def test_ddpm_step_matches_the_native_linear_scheduler_in_float32_precision():
    """Native float32 schedules. Mid-chain the gap is float32 rounding (measured 1.2e-6 at t = 500). Near
    t = 0 diffusers recovers beta_t as 1 - alpha_bar_t / alpha_bar_{t-1} in float32, which cancels (their
    fixed_large variance at t = 1 is 1.19925e-4 where beta_1 = 1.19920e-4): a gap of 2e-4 there, theirs."""
    x = _tensors(3)
    theirs = _ddpm("linear", variance_type="fixed_large")
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    want = theirs.step(x["eps"], 500, x["x_t"], generator=torch.Generator().manual_seed(7)).prev_sample
    assert torch.allclose(D.ddpm_step(x["eps"], x["x_t"], 500, D.linear_schedule(T), noise), want, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- the DDIM step

@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("t", [980, 500, 20, 0])
def test_ddim_step_eta0_matches_ddim_scheduler(name, t):
    x = _tensors(4)
    theirs = _ddim(name)
    assert t in theirs.timesteps.tolist()
    t_prev = t - T // 50 if t >= T // 50 else -1  # their prev of 0 is -20: alpha_bar = 1 (set_alpha_to_one)
    want = theirs.step(x["eps"], t, x["x_t"], eta=0.0).prev_sample
    # native float32 schedules: measured at most 2.8e-6 (t = 20)
    got = D.ddim_step(x["eps"], x["x_t"], t, t_prev, SCHEDULES[name][0](), 0.0)
    assert torch.allclose(got, want, rtol=0, atol=1e-5)
    ours, theirs = _float64_pair(name, _ddim(name))
    want = theirs.step(x["eps"], t, x["x_t"], eta=0.0).prev_sample
    assert torch.allclose(D.ddim_step(x["eps"], x["x_t"], t, t_prev, ours, 0.0), want, rtol=0, atol=EXACT)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("t", [980, 500, 20, 0])
def test_ddim_step_eta1_matches_ddim_scheduler_with_the_same_noise(name, t):
    x = _tensors(5)
    t_prev = t - T // 50 if t >= T // 50 else -1
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    want = _ddim(name).step(x["eps"], t, x["x_t"], eta=1.0, variance_noise=noise).prev_sample
    got = D.ddim_step(x["eps"], x["x_t"], t, t_prev, SCHEDULES[name][0](), 1.0, noise)
    assert torch.allclose(got, want, rtol=0, atol=1e-5)  # native float32 schedules: measured at most 2.4e-6
    ours, theirs = _float64_pair(name, _ddim(name))
    want = theirs.step(x["eps"], t, x["x_t"], eta=1.0, variance_noise=noise).prev_sample
    assert torch.allclose(D.ddim_step(x["eps"], x["x_t"], t, t_prev, ours, 1.0, noise), want, rtol=0, atol=EXACT)
    if t > 0:  # eta = 1 adds noise: the step is not the eta = 0 one
        assert not torch.allclose(got, D.ddim_step(x["eps"], x["x_t"], t, t_prev, SCHEDULES[name][0](), 0.0))
