"""Lesson 08's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, and nothing ever shows a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks import lesson08
from genimg_course.checks.lesson08 import (check_gram_matrix, check_pixel_lr, check_pixel_step, check_receptive_field,
                                           check_style_loss, check_total_variation)

pytestmark = pytest.mark.usefixtures("one_thread")

# ---------------------------------------------------------------- right answers


def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(feats_x, feats_style, weights=None):
    weights = [1.0] * len(feats_x) if weights is None else weights
    return sum(w * F.mse_loss(gram_matrix(a), gram_matrix(s)) for w, a, s in zip(weights, feats_x, feats_style))


def total_variation(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def receptive_field(kernel_sizes):
    rf, jump = 1, 1
    for i, k in enumerate(kernel_sizes):
        if i > 0:
            rf += jump  # the 2x2 pool
            jump *= 2
        rf += (k - 1) * jump
    return rf


def pixel_step(x, optimizer, loss_fn):
    def closure():
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    with torch.no_grad():
        x.clamp_(0, 1)
    return loss


def test_right_answers_pass_quickly():
    check_pixel_step(pixel_step)  # the first optimiser step of a session imports parts of torch
    t0 = time.perf_counter()
    assert check_gram_matrix(gram_matrix)
    assert check_style_loss(style_loss)
    assert check_total_variation(total_variation)
    assert check_receptive_field(receptive_field)
    assert check_pixel_step(pixel_step)
    assert check_pixel_lr(0.02)
    assert time.perf_counter() - t0 < 5


def test_package_versions_pass_too():
    from genimg_course import style as S

    assert check_gram_matrix(S.gram_matrix)
    assert check_style_loss(S.style_loss)
    assert check_total_variation(S.total_variation)
    assert check_pixel_step(S.pixel_step)


def test_unanswered_and_raising_answers_say_so_without_a_traceback(capsys):
    def todo(*args):
        raise NotImplementedError

    for chk in (check_gram_matrix, check_style_loss, check_total_variation, check_receptive_field, check_pixel_step):
        r = chk(todo)
        assert not r and "Not answered yet" in r.message
    assert "Not answered yet" in check_gram_matrix().message
    r = check_gram_matrix(lambda f: f.reshape(1, 2, 3))
    assert not r and "raised RuntimeError" in r.message and "Traceback" not in capsys.readouterr().out


def test_success_messages_report_the_numbers():
    assert "size-free" in check_gram_matrix(gram_matrix).message
    assert "38 px" in check_receptive_field(receptive_field).message
    assert "grey levels per step" in check_pixel_lr(0.02).message


# ---------------------------------------------------------------- each slip, its own hint


def _gram_raw(f):
    b, c = f.shape[:2]
    m = f.reshape(b, c, -1)
    return m @ m.transpose(1, 2)


@pytest.mark.parametrize("answer, phrase", [
    (_gram_raw, "no normalisation"),
    (lambda f: _gram_raw(f) / f.shape[1], "divided by C = 4 only"),
    (lambda f: _gram_raw(f) / (f.shape[2] * f.shape[3]), "divided by H·W"),
    (lambda f: _gram_raw(f) / f.numel(), "B·C·H·W"),
    (lambda f: _gram_raw(f) / (f.shape[1] ** 2 * f.shape[2] * f.shape[3]), "C²·H·W"),
    (lambda f: (lambda m: m.transpose(1, 2) @ m)(f.reshape(*f.shape[:2], -1)) / f[0].numel(), "Fᵀ F"),
    (lambda f: (lambda m: m @ m.T)(f.reshape(f.shape[1], -1)) / f[0].numel(), "merges the images"),
    (lambda f: (lambda m: m @ m.transpose(1, 2))(f.reshape(*f.shape[:2], -1) - f.reshape(*f.shape[:2], -1).mean(2, keepdim=True)) / f[0].numel(), "covariance"),
    (lambda f: gram_matrix(f).detach(), "no gradient"),
])
def test_gram_slips(answer, phrase):
    r = check_gram_matrix(answer)
    assert not r and phrase in r.message, r.message


def _mse_grams(feats_x, feats_style, weights=None):
    return [F.mse_loss(gram_matrix(a), gram_matrix(s)) for a, s in zip(feats_x, feats_style)]


@pytest.mark.parametrize("answer, phrase", [
    (lambda fx, fs, weights=None: sum(_mse_grams(fx, fs)), "weights are ignored"),
    (lambda fx, fs, weights=None: sum(w * m for w, m in zip(weights or [1] * 3, _mse_grams(fx, fs))) / 3, "averaged over the layers"),
    (lambda fx, fs, weights=None: sum(F.mse_loss(w * gram_matrix(a), w * gram_matrix(s))
                                      for w, a, s in zip(weights or [1] * 3, fx, fs)), "squared"),
    (lambda fx, fs, weights=None: sum(w * ((gram_matrix(a) - gram_matrix(s)) ** 2).sum()
                                      for w, a, s in zip(weights or [1] * 3, fx, fs)), "summed the squared"),
    (lambda fx, fs, weights=None: sum(w * F.mse_loss(_gram_raw(a), _gram_raw(s))
                                      for w, a, s in zip(weights or [1] * 3, fx, fs)), "not normalised"),
    (lambda fx, fs, weights=None: sum(w * F.mse_loss(a, s) for w, a, s in zip(weights or [1] * 3, fx, fs)), "Compare Gram matrices"),
    (lambda fx, fs, weights: style_loss(fx, fs, weights), "weights=None"),
])
def test_style_loss_slips(answer, phrase):
    r = check_style_loss(answer)
    assert not r and phrase in r.message, r.message


def test_style_loss_comparing_features_of_the_same_size_is_named():
    def features_when_they_fit(fx, fs, weights=None):
        weights = weights or [1.0] * len(fx)
        return sum(w * (F.mse_loss(a, s) if a.shape == s.shape else F.mse_loss(gram_matrix(a), gram_matrix(s)))
                   for w, a, s in zip(weights, fx, fs))

    r = check_style_loss(features_when_they_fit)
    assert not r and "feature maps, not their Gram" in r.message, r.message


def _d(x):
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


@pytest.mark.parametrize("answer, phrase", [
    (lambda x: sum(d.pow(2).mean() for d in _d(x)), "squared the differences"),
    (lambda x: _d(x)[0].abs().mean(), "only the vertical"),
    (lambda x: _d(x)[1].abs().mean(), "only the horizontal"),
    (lambda x: sum(d.abs().sum() for d in _d(x)), "summed"),
    (lambda x: (_d(x)[0][..., :, :-1] ** 2 + _d(x)[1][..., :-1, :] ** 2).sqrt().mean(), "isotropic"),
    (lambda x: torch.cat([d.abs().flatten() for d in _d(x)]).mean(), "pooled"),
])
def test_tv_slips(answer, phrase):
    r = check_total_variation(answer)
    assert not r and phrase in r.message, r.message


@pytest.mark.parametrize("answer, phrase", [
    (lambda ks: 1 + sum(k - 1 for k in ks), "ignored the 2×2 average pools"),
    (lambda ks: 1 + sum((k - 1) * 2 ** i for i, k in enumerate(ks)), "not their width"),
    (lambda ks: 1 + sum((k - 1) * 2 ** (i + 1) for i, k in enumerate(ks)), "first block works on the image"),
    (lambda ks: float(receptive_field(ks)), "floor division"),
])
def test_receptive_field_slips(answer, phrase):
    r = check_receptive_field(answer)
    assert not r and phrase in r.message, r.message


def _step_without(slip):
    def step(x, optimizer, loss_fn):
        def closure():
            if slip != "zero_grad":
                optimizer.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            if slip != "return":
                return loss

        if slip == "closure":
            optimizer.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            optimizer.step()
        else:
            loss = optimizer.step(closure)
        if slip == "rebind":
            x = x.clamp(0, 1)
        elif slip == "grad_clamp":
            x.clamp_(0, 1)
        elif slip != "clamp":
            with torch.no_grad():
                x.clamp_(0, 1)
        return loss.item() if slip == "item" else loss

    return step


@pytest.mark.parametrize("slip, phrase", [
    ("clamp", "left [0, 1]"), ("rebind", "only rebinds"), ("zero_grad", "accumulate"), ("closure", "needs a closure"),
    ("return", "returns nothing"), ("grad_clamp", "under torch.no_grad()"), ("item", ".item()"),
])
def test_pixel_step_slips(slip, phrase):
    r = check_pixel_step(_step_without(slip))
    assert not r and phrase in r.message, r.message


@pytest.mark.parametrize("lr, phrase", [(1e-3, "default for a network's *weights*"), (1e-4, "too small"),
                                         (0.5, "too large"), (-1, "positive number"), ("0.02", "positive number")])
def test_pixel_lr_slips(lr, phrase):
    r = check_pixel_lr(lr)
    assert not r and phrase in r.message, r.message


def test_adam_moves_every_pixel_by_lr_whatever_the_gradient_scale():
    for scale in (1e-4, 1.0, 1e4):
        assert lesson08._adam_first_step(0.02, scale) == pytest.approx(0.02, rel=1e-3)


def test_slips_give_distinct_numbers_so_each_hint_is_unambiguous():
    for slips in (lesson08._gram_slips(lesson08._GRAM_X), lesson08._tv_slips(lesson08._TV_X),
                  lesson08._style_slips(lesson08._SX, lesson08._SS, lesson08._SW)):
        values = [v.detach().double().flatten() for v, _ in slips]
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                if a.shape == b.shape:
                    assert (a - b).abs().max() > 1e-3 * a.abs().max()
    for ks in lesson08._RF_CASES[:1]:
        got = [v for v, _ in lesson08._rf_slips(ks)] + [receptive_field(ks)]
        assert len(set(got)) == len(got)


def test_checks_leave_the_random_state_as_they_found_it():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_pixel_step(pixel_step)
    check_gram_matrix(gram_matrix)
    assert torch.equal(torch.get_rng_state(), state)
