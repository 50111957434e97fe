"""Lesson 10's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, nothing ever shows a traceback, and no check moves torch's global random state."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks.lesson10 import (check_cfg_combine, check_ddim_step, check_ddpm_step, check_diffusion_loss,
                                           check_q_sample, reference_schedule)

pytestmark = pytest.mark.usefixtures("one_thread")

# ---------------------------------------------------------------- right answers


def q_sample(x0, t, noise, schedule):
    a = schedule.alpha_bars[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def diffusion_loss(model, x0, t, noise, schedule, y=None):
    return F.mse_loss(model(q_sample(x0, t, noise, schedule), t, y), noise)


def ddpm_step(eps, x_t, t, schedule, noise):
    b, a, ab = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    mean = (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()
    return mean if t == 0 else mean + b.sqrt() * noise


def ddim_step(eps, x_t, t, t_prev, schedule, eta=0.0, noise=None):
    ab = schedule.alpha_bars[t]
    ab_prev = schedule.alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
    out = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).sqrt() * eps
    return out + sigma * noise if eta > 0 else out


def cfg_combine(eps_cond, eps_uncond, scale):
    return eps_uncond + scale * (eps_cond - eps_uncond)


def test_right_answers_pass_quickly_and_leave_the_random_state():
    state = torch.random.get_rng_state()
    t0 = time.perf_counter()
    assert check_q_sample(q_sample)
    assert check_diffusion_loss(diffusion_loss)
    assert check_ddpm_step(ddpm_step)
    assert check_ddim_step(ddim_step)
    assert check_cfg_combine(cfg_combine)
    assert time.perf_counter() - t0 < 5
    assert torch.equal(state, torch.random.get_rng_state())


def test_a_package_style_schedule_object_is_accepted():
    s = reference_schedule()
    assert s.T == 1000 and s.betas.dtype == torch.float32
    assert torch.allclose(s.alpha_bars, torch.cumprod(1 - s.betas.double(), 0).float())


def test_unanswered_exercises_say_so(capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError()

    for chk in (check_q_sample, check_diffusion_loss, check_ddpm_step, check_ddim_step, check_cfg_combine):
        assert not chk(todo)
        assert not chk()
    assert "Not answered yet" in capsys.readouterr().out


def _hint(result):
    assert not result
    assert "Traceback" not in result.message
    return result.message


# ---------------------------------------------------------------- slips, each with its hint


@pytest.mark.parametrize("wrong, phrase", [
    (lambda x0, t, n, s: s.alpha_bars[t].view(-1, 1, 1, 1) * x0 + (1 - s.alpha_bars[t].view(-1, 1, 1, 1)) * n,
     "square roots"),
    (lambda x0, t, n, s: s.alphas[t].view(-1, 1, 1, 1).sqrt() * x0 + (1 - s.alphas[t].view(-1, 1, 1, 1)).sqrt() * n,
     "one step of the forward process"),
    (lambda x0, t, n, s: (1 - s.betas[t].view(-1, 1, 1, 1)).sqrt() * x0 + s.betas[t].view(-1, 1, 1, 1).sqrt() * n,
     "one step of the forward process"),
    (lambda x0, t, n, s: (1 - s.alpha_bars[t].view(-1, 1, 1, 1)).sqrt() * x0 + s.alpha_bars[t].view(-1, 1, 1, 1).sqrt() * n,
     "swapped"),
    (lambda x0, t, n, s: q_sample(x0, (t - 1).clamp(min=0), n, s), "off by one"),
    (lambda x0, t, n, s: s.alpha_bars[t].sqrt() * x0 + (1 - s.alpha_bars[t]).sqrt() * n, "(B, 1, 1, 1)"),
    (lambda x0, t, n, s: q_sample(x0, t[:1].expand_as(t), n, s), "first image's timestep"),
])
def test_q_sample_slips(wrong, phrase):
    assert phrase in _hint(check_q_sample(wrong))


def test_q_sample_in_place_is_refused():
    def in_place(x0, t, noise, s):
        a = s.alpha_bars[t].view(-1, 1, 1, 1)
        x0.mul_(a.sqrt())
        return x0 + (1 - a).sqrt() * noise

    assert "in place" in _hint(check_q_sample(in_place))


@pytest.mark.parametrize("wrong, phrase", [
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(x0, t, y), n), "clean x0"),
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(q_sample(x0, t, n, s), t, y), x0), "not x0"),
    (lambda m, x0, t, n, s, y=None: ((m(q_sample(x0, t, n, s), t, y) - n) ** 2).sum(), "not their sum"),
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(q_sample(x0, t, n, s), t), n), "pass the labels on"),
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(q_sample(x0, t, n, s), t.float() / 1000, y), n), "timesteps t"),
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(q_sample(x0, t, n, s), t, y), n).detach(), "no gradient"),
    (lambda m, x0, t, n, s, y=None: F.mse_loss(m(q_sample(x0, t, n, s), t, y), n).item(), "should return a tensor"),
    (lambda m, x0, t, n, s, y=None: (m(q_sample(x0, t, n, s), t, y) - n).abs().mean(), "L1"),
])
def test_diffusion_loss_slips(wrong, phrase):
    assert phrase in _hint(check_diffusion_loss(wrong))


def _ddpm_variant(kind):
    def step(eps, x_t, t, s, noise):
        b, a, ab = s.betas[t], s.alphas[t], s.alpha_bars[t]
        coef = b.sqrt() if kind == "sqrt_beta_coef" else b
        mean = (x_t - coef / (1 - ab).sqrt() * eps) / (ab.sqrt() if kind == "alpha_bar" else a.sqrt())
        if kind == "noise_at_zero":
            return mean + b.sqrt() * noise
        if t == 0:
            return mean
        if kind == "tilde":
            ab_prev = s.alpha_bars[t - 1]
            return mean + ((1 - ab_prev) / (1 - ab) * b).sqrt() * noise
        if kind == "beta_scale":
            return mean + b * noise
        return mean + b.sqrt() * noise

    return step


@pytest.mark.parametrize("kind, phrase", [("tilde", "posterior's variance"), ("beta_scale", "σ_t = √β_t"),
                                          ("noise_at_zero", "at t = 0"), ("sqrt_beta_coef", "not √β_t"),
                                          ("alpha_bar", "not by √ᾱ_t")])
def test_ddpm_step_slips(kind, phrase):
    assert phrase in _hint(check_ddpm_step(_ddpm_variant(kind)))


def test_ddim_wrapping_index_is_named():
    def wraps(eps, x_t, t, t_prev, s, eta=0.0, noise=None):
        ab, ab_prev = s.alpha_bars[t], s.alpha_bars[t_prev]
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps

    assert "last* element" in _hint(check_ddim_step(wraps))


def test_ddim_eta_ignored_and_clipping_are_named():
    def no_eta(eps, x_t, t, t_prev, s, eta=0.0, noise=None):
        return ddim_step(eps, x_t, t, t_prev, s)

    def clipped(eps, x_t, t, t_prev, s, eta=0.0, noise=None):
        ab = s.alpha_bars[t]
        ab_prev = s.alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
        x0 = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        out = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).sqrt() * eps
        return out + sigma * noise if eta > 0 else out

    assert "eta is ignored" in _hint(check_ddim_step(no_eta))
    assert "clipped" in _hint(check_ddim_step(clipped))


def test_ddim_success_says_eta_one_is_ancestral():
    r = check_ddim_step(ddim_step)
    assert r and "ancestral DDPM step" in r.message


@pytest.mark.parametrize("wrong, phrase", [
    (lambda c, u, s: (1 + s) * c - s * u, "s = 1 + w"),
    (lambda c, u, s: c + s * (u - c), "swapped"),
    (lambda c, u, s: s * c, "unconditional prediction is part of it"),
    (lambda c, u, s: [c], "returned a list"),
])
def test_cfg_slips(wrong, phrase):
    assert phrase in _hint(check_cfg_combine(wrong))


def test_a_non_function_is_named():
    assert "expected a function" in _hint(check_cfg_combine(3))
    assert "must accept" in _hint(check_ddim_step(lambda a, b: a))
