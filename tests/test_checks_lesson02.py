"""Lesson 02's exercise checks: each accepts a correct answer, names each common slip, says
"Not answered" for `...`, and prints one line, never a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks.lesson02 import (check_collapsed_runs, check_g_loss_nonsaturating, check_modes_covered,
                                           check_optimal_discriminator, mode_clouds)
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
                                 check_collapsed_runs])
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
