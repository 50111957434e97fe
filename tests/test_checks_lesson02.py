"""Lesson 02's exercise checks: each accepts a correct answer, names each common slip, says
"Not answered" for `...`, and prints one line, never a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

import copy

import numpy as np

from genimg_course.checks.lesson02 import (check_collapsed_runs, check_g_loss_nonsaturating, check_gan_step,
                                           check_modes_covered, check_optimal_discriminator, mode_clouds,
                                           package_gan_step)
from genimg_course.gan import GANTask
from genimg_course.models import MLPDiscriminator, MLPGenerator
from genimg_course.data import ring_centres
from genimg_course.gan import count_modes


def _one_line(capsys) -> str:
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    lines = out.out.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def modes_covered(points, centres, radius):
    d = torch.cdist(points, centres)
    near = d.min(1).values < radius
    counts = torch.bincount(d.argmin(1)[near], minlength=len(centres))
    return int((counts >= 0.01 * len(points)).sum())


def test_correct_answers_pass_quickly_with_one_line_each(capsys):
    for chk, answer in [(check_g_loss_nonsaturating, lambda a: F.softplus(-a).mean()),
                        (check_g_loss_nonsaturating, lambda a: -F.logsigmoid(a).mean()),
                        (check_g_loss_nonsaturating, lambda a: F.binary_cross_entropy_with_logits(a, torch.ones_like(a))),
                        (check_optimal_discriminator, lambda p, q: p / (p + q)),
                        (check_modes_covered, modes_covered),
                        (check_modes_covered, lambda p, c, r: count_modes(p, c, r)[0]),
                        (check_collapsed_runs, {"C"}), (check_collapsed_runs, "C"), (check_collapsed_runs, ["c"]),
                        (check_collapsed_runs, lambda clouds: {k for k, v in clouds.items()
                                                               if modes_covered(v, ring_centres(8, 2.0), 0.25) < 8})]:
        t0 = time.perf_counter()
        result = chk(answer)
        assert result, result.message
        assert time.perf_counter() - t0 < 1.0
        assert _one_line(capsys).startswith("✓")


@pytest.mark.parametrize("answer, words", [
    (lambda a: F.logsigmoid(a).mean(), "minus sign"),
    (lambda a: torch.log(torch.sigmoid(a)).mean(), "minus sign"),
    (lambda a: -F.softplus(a).mean(), "saturating"),
    (lambda a: torch.log(1 - torch.sigmoid(a)).mean(), "saturating"),
    (lambda a: F.softplus(a).mean(), "more* fake"),
    (lambda a: F.softplus(-a).sum(), "summed"),
    (lambda a: -torch.log(torch.sigmoid(a)).mean(), "softplus"),
    (lambda a: -torch.log(torch.sigmoid(a) + 1e-8).mean(), "epsilon"),
    (lambda a: F.binary_cross_entropy(torch.sigmoid(a), torch.ones_like(a)), "clips log at -100"),
    (lambda a: F.softplus(-a), "mean over the batch"),
    (lambda a: F.softplus(-a).mean().item(), ".item()"),
    (lambda a: F.softplus(-a.detach()).mean(), "not connected"),
])
def test_g_loss_slips_get_their_hint(answer, words, capsys):
    result = check_g_loss_nonsaturating(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


@pytest.mark.parametrize("answer, words", [
    (lambda p, q: q / (p + q), "swapped"),
    (lambda p, q: p / q, "density ratio"),
    (lambda p, q: 0.5 * torch.ones_like(torch.as_tensor(p)), "p_g = p_data"),
    (lambda p, q: (p / (p + q)).sum(), "one value per point"),
    (lambda p, q: p * q, "expected"),
])
def test_optimal_discriminator_slips_get_their_hint(answer, words, capsys):
    result = check_optimal_discriminator(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


def test_optimal_discriminator_works_on_plain_numbers():
    assert check_optimal_discriminator(lambda p, q: p / (p + q))
    assert not check_optimal_discriminator(lambda p, q: torch.as_tensor(p) / (torch.as_tensor(p) + torch.as_tensor(q)) if isinstance(p, torch.Tensor) else 0.5)


def _modes_far_points_counted(points, centres, radius):
    counts = torch.bincount(torch.cdist(points, centres).argmin(1), minlength=len(centres))
    return int((counts >= 0.01 * len(points)).sum())


def _modes_any_point(points, centres, radius):
    d = torch.cdist(points, centres)
    near = d.min(1).values < radius
    return int((torch.bincount(d.argmin(1)[near], minlength=len(centres)) > 0).sum())


@pytest.mark.parametrize("answer, words", [
    (_modes_far_points_counted, "far from every centre"),
    (_modes_any_point, "stray"),
    (lambda p, c, r: int((torch.cdist(p, c).min(1).values < r).sum()), "count modes"),
    (lambda p, c, r: 8, "expected"),
    (lambda p, c, r: 2.5, "whole number"),
])
def test_modes_covered_slips_get_their_hint(answer, words, capsys):
    result = check_modes_covered(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


def _by_quality(clouds):  # a slip: "collapsed" read as "few samples near a mode"
    return {k for k, v in clouds.items() if count_modes(v, ring_centres(8, 2.0), 0.25)[1] < 0.5}


@pytest.mark.parametrize("answer, words", [
    (_by_quality, "quality"), (lambda: {"C"}, "(clouds)"),
    ({"A", "C"}, "quality"), ("A", "quality"), (["B"], "healthy"), (set(), "one run"), ("D", "'A', 'B' and 'C'"),
    (3, "letters"),
])
def test_collapsed_runs_slips_get_their_hint(answer, words, capsys):
    result = check_collapsed_runs(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


def test_mode_clouds_are_what_the_exercise_says():
    clouds, c = mode_clouds(), ring_centres(8, 2.0)
    assert [count_modes(clouds[k], c, 0.25)[0] for k in "ABC"] == [8, 8, 2]
    assert count_modes(clouds["A"], c, 0.25)[1] < 0.5 < count_modes(clouds["B"], c, 0.25)[1]
    assert torch.equal(mode_clouds()["C"], clouds["C"])  # fixed


@pytest.mark.parametrize("chk", [check_g_loss_nonsaturating, check_optimal_discriminator, check_modes_covered,
                                 check_collapsed_runs, check_gan_step])
def test_unanswered_says_not_answered(chk, capsys):
    assert "Not answered" in chk(...).message
    _one_line(capsys)

    def stub(*args):
        raise NotImplementedError()
    assert "Not answered" in chk(stub).message
    _one_line(capsys)


def test_a_crashing_answer_is_one_line_without_traceback(capsys):
    def broken(a):
        return a.no_such_method()
    result = check_g_loss_nonsaturating(broken)
    assert not result and "AttributeError" in result.message
    _one_line(capsys)


# ---------------------------------------------------------------- modes_covered: thresholds and radius (M8)
def _modes(threshold=lambda n: 0.01 * n, strict=False, reach=lambda r: r, squared=False):
    def fn(points, centres, radius):
        d = torch.cdist(points, centres)
        dist, nearest = d.min(1)
        near = (dist ** 2 < reach(radius)) if squared else (dist < reach(radius))
        counts = torch.bincount(nearest[near], minlength=len(centres))
        need = threshold(len(points))
        return int(((counts > need) if strict else (counts >= need)).sum())
    return fn


@pytest.mark.parametrize("answer", [
    _modes(), _modes(threshold=lambda n: n / 100), _modes(squared=True, reach=lambda r: r ** 2),
    lambda p, c, r: np.int64(_modes()(p, c, r)), lambda p, c, r: float(_modes()(p, c, r)),
    lambda p, c, r: torch.tensor(_modes()(p, c, r)),
    lambda p, c, r: int(((torch.bincount(torch.cdist(p, c).argmin(1)[torch.cdist(p, c).min(1).values <= r],
                                         minlength=len(c)) / len(p)) >= 0.01).sum()),
], ids=["reference", "n/100", "squared-vs-r2", "numpy-int", "float", "tensor", "share-<="])
def test_modes_covered_accepts_correct_answers_written_differently(answer, capsys):
    assert check_modes_covered(answer), capsys.readouterr().out


@pytest.mark.parametrize("share", [0.005, 0.008, 0.009])
def test_modes_covered_refuses_a_threshold_below_one_percent(share, capsys):
    result = check_modes_covered(_modes(threshold=lambda n: share * n))
    assert not result and "below 1 %" in result.message, result.message


@pytest.mark.parametrize("share", [0.012, 0.015, 0.02, 0.05, 0.1])
def test_modes_covered_refuses_a_threshold_above_one_percent(share, capsys):
    result = check_modes_covered(_modes(threshold=lambda n: share * n))
    assert not result and "above 1 %" in result.message, result.message


@pytest.mark.parametrize("count", [2, 3, 5, 10, 16, 20, 40, 50, 100])
def test_modes_covered_refuses_a_fixed_number_of_points(count, capsys):
    result = check_modes_covered(_modes(threshold=lambda n: count))
    assert not result and "fixed number of points" in result.message, result.message


def test_modes_covered_refuses_strictly_more_than_one_percent(capsys):
    result = check_modes_covered(_modes(strict=True))
    assert not result and "use >=, not >" in result.message, result.message


@pytest.mark.parametrize("answer, words", [
    (_modes(reach=lambda r: 2 * r), "2 * radius"),
    (_modes(squared=True), "*squared* distance"),
    (_modes(reach=lambda r: r / 2), "radius / 2"),
    (_modes(reach=lambda r: r ** 2), "distance with radius ** 2"),
])
def test_modes_covered_refuses_a_misused_radius(answer, words, capsys):
    result = check_modes_covered(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


def test_modes_covered_clouds_separate_one_percent_from_its_neighbours_and_radius_from_twice_it():
    from genimg_course.checks.lesson02 import _mode_cases
    cases = _mode_cases()
    expected = [count_modes(p, c, r)[0] for _, p, c, r in cases]
    for share in (0.005, 0.009, 0.015, 0.02, 0.1):
        assert [count_modes(p, c, r, min_share=share)[0] for _, p, c, r in cases] != expected
    assert [count_modes(p, c, 2 * r)[0] for _, p, c, r in cases] != expected


# ---------------------------------------------------------------- gan_step (the GAN training step)
def gan_step(G, D, opt_g, opt_d, x, z_d, z_g):
    fake = G(z_d)
    d_loss = F.softplus(-D(x)).mean() + F.softplus(D(fake.detach())).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.softplus(-D(G(z_g))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.detach(), g_loss.detach()


def _step(d_loss=None, g_loss=None, detach=True, zero_d=True, zero_g=True, d_again=False, g_codes="z_g",
          score_before_update=False, ret="pair"):
    """A gan_step with one slip switched on."""
    d_loss = d_loss or (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean())
    g_loss = g_loss or (lambda f: F.softplus(-f).mean())

    def fn(G, D, opt_g, opt_d, x, z_d, z_g):
        fake = G(z_d)
        ld = d_loss(D(x), D(fake.detach() if detach else fake))
        if score_before_update:
            lg = g_loss(D(G(z_g)))
        if zero_d:
            opt_d.zero_grad()
        ld.backward()
        opt_d.step()
        if not score_before_update:
            lg = g_loss(D(G(z_g if g_codes == "z_g" else z_d)))
        if zero_g:
            opt_g.zero_grad()
        lg.backward()
        opt_g.step()
        if d_again:
            opt_d.step()
        return {"pair": (ld, lg), "swapped": (lg, ld), "none": None, "floats": (ld.detach().item(), lg.detach().item())}[ret]
    return fn


def test_gan_step_solution_and_equivalent_answers_pass(capsys):
    def no_grad_fakes(G, D, opt_g, opt_d, x, z_d, z_g):  # BCE-with-logits, fakes under no_grad, module zero_grad
        with torch.no_grad():
            fake = G(z_d)
        r, f = D(x), D(fake)
        d_loss = (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                  + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
        D.zero_grad()
        d_loss.backward()
        opt_d.step()
        o = D(G(z_g))
        g_loss = F.binary_cross_entropy_with_logits(o, torch.ones_like(o))
        G.zero_grad()
        g_loss.backward()
        opt_g.step()
        return float(d_loss.detach()), np.float32(g_loss.detach().item())

    for answer in (gan_step, no_grad_fakes, _step(ret="floats")):
        t0 = time.perf_counter()
        result = check_gan_step(answer)
        assert result, result.message
        assert time.perf_counter() - t0 < 3.0
        assert _one_line(capsys).startswith("✓")


@pytest.mark.parametrize("answer, words", [
    (_step(detach=False), "detached fakes"),
    (_step(zero_d=False), "opt_d.zero_grad()"),
    (_step(zero_g=False), "opt_g.zero_grad()"),
    (_step(d_again=True), "D's weights moved again during G's step"),
    (_step(g_loss=lambda f: -F.softplus(f).mean()), "saturating"),
    (_step(g_loss=lambda f: F.softplus(f).mean()), "G's labels are swapped"),
    (_step(d_loss=lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean()), "D's labels are swapped"),
    (_step(d_loss=lambda r, f: 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean())), "averaged"),
    (_step(d_loss=lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum()), "summed over the batch"),
    (_step(g_loss=lambda f: F.softplus(-f).sum()), "G's loss is summed"),
    (_step(d_loss=lambda r, f: F.softplus(-r).mean()), "only its real term"),
    (_step(g_codes="z_d"), "fresh codes"),
    (_step(score_before_update=True), "before D's update"),
    (_step(ret="swapped"), "swapped"),
    (_step(ret="none"), "return the two losses"),
])
def test_gan_step_slips_get_their_hint(answer, words, capsys):
    result = check_gan_step(answer)
    assert not result and words in result.message, result.message
    assert _one_line(capsys).startswith("✗")


def test_gan_step_without_detach_and_without_zero_grad_names_the_detach(capsys):
    result = check_gan_step(_step(detach=False, zero_g=False))
    assert not result and "detached fakes" in result.message


def test_gan_step_that_updates_d_in_gs_step_by_hand_is_refused(capsys):
    def sneaky(G, D, opt_g, opt_d, x, z_d, z_g):
        out = gan_step(G, D, opt_g, opt_d, x, z_d, z_g)
        with torch.no_grad():
            for p in D.parameters():
                p -= 0.01 * p.grad
        return out
    result = check_gan_step(sneaky)
    assert not result and "D's weights moved during G's step" in result.message


def test_gan_step_that_ignores_the_optimisers_is_refused(capsys):
    def own_optimisers(G, D, opt_g, opt_d, x, z_d, z_g):
        return gan_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1), x, z_d, z_g)
    result = check_gan_step(own_optimisers)
    assert not result and "opt_d.step()" in result.message


def test_package_gan_step_is_one_gantask_step_with_fresh_codes():
    torch.manual_seed(0)
    G, D = MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
    x, z_d, z_g = torch.randn(16, 2), torch.randn(16, 4), torch.randn(16, 4)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    d_loss, g_loss = package_gan_step(G, D, opt_g, opt_d, x, z_d, z_g)
    opt_g2, opt_d2 = torch.optim.Adam(G2.parameters(), 1e-3), torch.optim.Adam(D2.parameters(), 1e-3)
    d2, g2 = gan_step(G2, D2, opt_g2, opt_d2, x, z_d, z_g)
    assert torch.allclose(d_loss, d2) and torch.allclose(g_loss, g2)
    for a, b in ((G, G2), (D, D2)):
        assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))
    assert GANTask(G, D, reuse_fakes=False).reuse_fakes is False


def test_gan_step_check_leaves_the_global_random_stream_alone(capsys):
    torch.manual_seed(5)
    check_gan_step(gan_step)
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))
