"""Lesson 09's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, nothing ever shows a traceback, and no check moves torch's global random state."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genimg_course import fusion
from genimg_course.checks.lesson09 import check_feature_loss, check_invert_codes, check_linear_probe, check_slant

pytestmark = pytest.mark.usefixtures("one_thread")

# ---------------------------------------------------------------- right answers


def feature_loss(real, fake):
    return 0.5 * (real - fake).pow(2).sum(1).mean()


def invert_codes(G, x, z0, steps, lr, prior):
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = ((G(z) - x).pow(2).flatten(1).mean(1) + prior * z.pow(2).mean(1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return z.detach()


def slant(x):
    w = (x[:, 0] + 1) / 2
    h, wd = w.shape[1:]
    rows = torch.arange(h, dtype=w.dtype)[:, None]
    cols = torch.arange(wd, dtype=w.dtype)[None, :]
    m = w.sum((1, 2))
    r = (w * rows).sum((1, 2)) / m
    c = (w * cols).sum((1, 2)) / m
    cov = (w * (rows - r[:, None, None]) * (cols - c[:, None, None])).sum((1, 2)) / m
    var = (w * (rows - r[:, None, None]) ** 2).sum((1, 2)) / m
    return -cov / var


def linear_probe(z, t, ridge):
    zm, tm = z.mean(0), t.mean()
    zc, tc = z - zm, t - tm
    n, d = z.shape
    W = torch.linalg.solve(zc.T @ zc + ridge * n * torch.eye(d), zc.T @ tc)
    return W, tm - zm @ W


def test_right_answers_pass_and_leave_the_random_state():
    state = torch.random.get_rng_state()
    assert check_feature_loss(feature_loss)
    assert check_invert_codes(invert_codes)
    assert check_slant(slant)
    assert check_linear_probe(linear_probe)
    assert torch.equal(state, torch.random.get_rng_state())


def test_the_package_functions_pass_their_checks():
    assert check_feature_loss(fusion.feature_loss)
    assert check_slant(fusion.slant)
    assert check_linear_probe(lambda z, t, ridge: fusion.linear_probe(z, t, ridge))
    assert check_invert_codes(lambda G, x, z0, steps, lr, prior: fusion.invert(G, x, steps=steps, lr=lr, z0=z0,
                                                                               prior=prior).z)


def test_a_mean_over_the_batch_in_the_inversion_loss_passes_too():
    def mean_loop(G, x, z0, steps, lr, prior):
        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):
            loss = (F.mse_loss(G(z), x, reduction="none").flatten(1).mean(1) + prior * z.pow(2).mean(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return z.detach()

    assert check_invert_codes(mean_loop)


def test_unanswered_exercises_say_so(capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError()

    for chk in (check_feature_loss, check_invert_codes, check_slant, check_linear_probe):
        assert not chk(todo)
        assert not chk()
    assert "Not answered yet" in capsys.readouterr().out


def _hint(result):
    assert not result
    assert "Traceback" not in result.message
    return result.message


# ---------------------------------------------------------------- slips, each with its hint


@pytest.mark.parametrize("wrong, phrase", [
    (lambda r, f: 0.5 * F.mse_loss(f, r), "averaged over the features"),
    (lambda r, f: F.mse_loss(f, r), "F.mse_loss"),
    (lambda r, f: (r - f).pow(2).sum(1).mean(), "factor 1/2"),
    (lambda r, f: 0.5 * (r - f).pow(2).sum(), "summed over the images"),
    (lambda r, f: 0.5 * (r - f).abs().sum(1).mean(), "L1"),
    (lambda r, f: -0.5 * (r - f).pow(2).sum(1).mean(), "sign is flipped"),
    (lambda r, f: 0.5 * (r - f).pow(2).sum(1), "one loss per image"),
    (lambda r, f: feature_loss(r, f).detach(), "no gradient"),
    (lambda r, f: feature_loss(r, f).item(), "should return a tensor"),
    (lambda r, f: (feature_loss(r, f), 0), "returned a tuple"),
])
def test_feature_loss_slips(wrong, phrase):
    assert phrase in _hint(check_feature_loss(wrong))


def _loop(kind):
    def loop(G, x, z0, steps, lr, prior):
        z = z0 if kind == "in_place" else z0.clone()
        z.requires_grad_(True)
        params = list(G.parameters()) + [z] if kind == "trains_G" else [z]
        opt = torch.optim.SGD(params, lr=lr) if kind == "sgd" else torch.optim.Adam(params, lr=lr)
        p = 0.0 if kind == "no_prior" else prior
        for _ in range(steps + (1 if kind == "extra" else 0)):
            pen = z.norm(dim=1) if kind == "norm" else z.pow(2).mean(1)
            loss = ((G(z) - x).pow(2).flatten(1).mean(1) + p * pen).sum()
            if kind != "no_zero_grad":
                opt.zero_grad()
            loss.backward()
            opt.step()
        if kind == "images":
            return G(z).detach()
        return z0.clone() if kind == "no_step" else z.detach()

    return loop


@pytest.mark.parametrize("kind, phrase", [
    ("no_prior", "prior term is missing"), ("sgd", "plain SGD"), ("no_zero_grad", "pile up"),
    ("extra", "one step too many"), ("norm", "(the norm)"), ("trains_G", "weights changed"),
    ("images", "returned images"), ("no_step", "never stepped"),
])
def test_invert_codes_slips(kind, phrase):
    assert phrase in _hint(check_invert_codes(_loop(kind)))


def test_invert_codes_in_place_start_is_refused():
    def in_place(G, x, z0, steps, lr, prior):
        with torch.no_grad():
            z0.add_(0.0)
            z0.mul_(1.01)
        return invert_codes(G, x, z0, steps, lr, prior)

    assert "z0 changed in place" in _hint(check_invert_codes(in_place))



@pytest.mark.parametrize("wrong, phrase", [
    (lambda x: -slant(x), "sign is flipped"),
    (lambda x: torch.rad2deg(torch.atan(slant(x))), "degrees"),
    (lambda x: slant(x)[:3], "one number per image"),
    (lambda x: slant(x)[:, None], "one number per image"),
])
def test_slant_slips(wrong, phrase):
    assert phrase in _hint(check_slant(wrong))


def test_slant_with_raw_weights_or_the_column_variance_is_named():
    def moments(x, raw=False, col=False):
        w = x[:, 0] if raw else (x[:, 0] + 1) / 2
        h, wd = w.shape[1:]
        rows = torch.arange(h, dtype=w.dtype)[:, None]
        cols = torch.arange(wd, dtype=w.dtype)[None, :]
        m = w.sum((1, 2))
        r = (w * rows).sum((1, 2)) / m
        c = (w * cols).sum((1, 2)) / m
        cov = (w * (rows - r[:, None, None]) * (cols - c[:, None, None])).sum((1, 2)) / m
        var = (w * ((cols - c[:, None, None]) if col else (rows - r[:, None, None])) ** 2).sum((1, 2)) / m
        return -cov / var

    assert "negative ink" in _hint(check_slant(lambda x: moments(x, raw=True)))
    assert "var(row)" in _hint(check_slant(lambda x: moments(x, col=True)))


def test_linear_probe_slips():
    def no_intercept(z, t, ridge):
        n, d = z.shape
        return torch.linalg.solve(z.T @ z + ridge * n * torch.eye(d), z.T @ t), 0.0

    def unscaled(z, t, ridge):
        zm, tm = z.mean(0), t.mean()
        zc, tc = z - zm, t - tm
        W = torch.linalg.solve(zc.T @ zc + ridge * torch.eye(z.shape[1]), zc.T @ tc)
        return W, tm - zm @ W

    def plain(z, t, ridge):
        return linear_probe(z, t, 0.0)

    def penalised_b(z, t, ridge):
        a = torch.cat([z, torch.ones(len(z), 1)], 1)
        w = torch.linalg.solve(a.T @ a + ridge * len(z) * torch.eye(a.shape[1]), a.T @ t)
        return w[:-1], w[-1]

    assert "no intercept" in _hint(check_linear_probe(no_intercept))
    assert "not scaled by N" in _hint(check_linear_probe(unscaled))
    assert "ridge is missing" in _hint(check_linear_probe(plain))
    assert "intercept is penalised" in _hint(check_linear_probe(penalised_b))
    assert "shape (6,)" in _hint(check_linear_probe(lambda z, t, r: (linear_probe(z, t, r)[0][:, None],
                                                                      linear_probe(z, t, r)[1])))
    assert "a pair (W, b)" in _hint(check_linear_probe(lambda z, t, r: linear_probe(z, t, r)[0]))
    assert "b = mean(target)" in _hint(check_linear_probe(lambda z, t, r: (linear_probe(z, t, r)[0], 0.0)))


def test_a_non_function_is_named():
    assert "expected a function" in _hint(check_slant(3))
    assert "must accept" in _hint(check_linear_probe(lambda a: a))
