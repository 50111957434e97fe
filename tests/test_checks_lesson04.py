"""Lesson 04's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, and nothing ever shows a traceback."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course.checks.lesson04 import (ZERO_GRADIENT_CASES, _EPS, _gp_problem, _slips, check_gradient_penalty,
                                           check_hinge_d_loss, check_zero_gradient)


def gp(critic, real, fake, eps, *, norm="sample", target="right", create_graph=True, shared_eps=False,
       leaf=True, reduce="mean"):
    """The gradient penalty, with one slip switched on at a time."""
    e = (eps[:1] if shared_eps else eps).view(-1, 1, 1, 1)
    x_hat = e * real + (1 - e) * fake
    if leaf:
        x_hat = x_hat.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    n = g.flatten(1).norm(2, dim=1) if norm == "sample" else g.norm()
    pen = {"right": (n - 1) ** 2, "squared": n ** 2, "squared_minus_1": (n ** 2 - 1) ** 2, "plus": (n + 1) ** 2}[target]
    return pen.mean() if reduce == "mean" else pen.sum() if reduce == "sum" else pen


def right_gp(critic, real, fake, eps):
    return gp(critic, real, fake, eps)


def hinge(r, f):
    return F.relu(1 - r).mean() + F.relu(1 + f).mean()


def right_zero_gradient():
    return {"saturating G loss, fake logit -10": True, "non-saturating G loss, fake logit -10": False,
            "hinge D loss, real score 3": True, "hinge D loss, fake score 0.5": False,
            "Wasserstein critic loss, real score 3": False, "hinge G loss, fake score -10": False}


def test_right_answers_pass_quickly():
    t0 = time.perf_counter()
    assert check_gradient_penalty(right_gp)
    assert check_hinge_d_loss(hinge)
    assert check_zero_gradient(right_zero_gradient)
    assert time.perf_counter() - t0 < 3


def test_the_notebooks_wording_of_the_gradient_penalty_passes_too():
    def by_hand(critic, real, fake, eps):
        eps = eps.view(-1, *([1] * (real.dim() - 1)))
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)[0]
        return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    assert check_gradient_penalty(by_hand)


def test_the_hinge_slips_give_distinct_numbers():
    from genimg_course.checks import lesson04

    r, f = lesson04._REAL, lesson04._FAKE
    values = [fn(r, f).item() for fn, _ in HINGE_SLIPS] + [hinge(r, f).item()]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-3


def test_the_slips_give_distinct_numbers_so_each_hint_is_unambiguous():
    critic, real, fake = _gp_problem()
    values = [v for v, _ in _slips(critic, real, fake, _EPS)] + [right_gp(critic, real, fake, _EPS).item()]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-3


@pytest.mark.parametrize("kwargs, words", [
    ({"norm": "batch"}, "one norm over the whole batch"),
    ({"shared_eps": True}, "same ε"),
    ({"create_graph": False}, "create_graph=True"),
    ({"target": "squared"}, "target is 1"),
    ({"target": "squared_minus_1"}, "squared the norm before subtracting 1"),
    ({"target": "plus"}, "sign error"),
    ({"reduce": "sum"}, "summed over the batch"),
    ({"reduce": "none"}, "did you forget `.mean()`"),
])
def test_each_gradient_penalty_slip_gets_its_hint(kwargs, words):
    r = check_gradient_penalty(lambda c, re, fa, e: gp(c, re, fa, e, **kwargs))
    assert not r and words in r.message
    if "reduce" not in kwargs and "create_graph" not in kwargs:
        assert "expected" in r.message and "your penalty is" in r.message


def test_a_negated_penalty_is_named_as_a_sign_error():
    r = check_gradient_penalty(lambda c, re, fa, e: -right_gp(c, re, fa, e))
    assert not r and "sign error" in r.message and "positive" in r.message


def test_swapped_eps_is_explained_as_valid_but_not_comparable():
    r = check_gradient_penalty(lambda c, re, fa, e: right_gp(c, re, fa, 1 - e))
    assert not r and "swapped ε and 1 − ε" in r.message and "just as valid" in r.message


def test_the_gradient_at_the_real_images_is_named():
    r = check_gradient_penalty(lambda c, re, fa, e: right_gp(c, re, fa, torch.ones_like(e)))
    assert not r and "gradient at the real images" in r.message


def test_forgetting_requires_grad_on_x_hat_is_explained_not_a_traceback():
    def no_leaf(critic, real, fake, eps):
        e = eps.view(-1, 1, 1, 1)
        x_hat = e * real + (1 - e) * fake  # real/fake do not require grad: nothing to differentiate
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()

    r = check_gradient_penalty(no_leaf)
    assert not r and "requires_grad_(True)" in r.message and "Traceback" not in r.message


def test_eps_that_is_not_reshaped_gets_a_broadcasting_hint():
    def flat_eps(critic, real, fake, eps):
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()

    r = check_gradient_penalty(flat_eps)
    assert not r and "(B, 1, 1, 1)" in r.message


def test_returning_a_float_asks_for_a_tensor():
    r = check_gradient_penalty(lambda c, re, fa, e: right_gp(c, re, fa, e).item())
    assert not r and "return a tensor" in r.message


def test_changing_the_inputs_in_place_is_refused():
    def in_place(critic, real, fake, eps):
        out = right_gp(critic, real, fake, eps)
        real.mul_(0)
        return out

    r = check_gradient_penalty(in_place)
    assert not r and "in place" in r.message


def test_a_wrong_signature_names_the_expected_one():
    r = check_gradient_penalty(lambda critic, real, fake: 0.0)
    assert not r and "(critic, real, fake, eps)" in r.message


def test_an_unknown_wrong_value_lists_the_steps():
    r = check_gradient_penalty(lambda c, re, fa, e: right_gp(c, re, fa, e) + 0.123)
    assert not r and "expected" in r.message and "one L2 norm per sample" in r.message


HINGE_SLIPS = [
    (lambda r, f: (1 - r).mean() + (1 + f).mean(), "max(0, ·)"),
    (lambda r, f: f.mean() - r.mean(), "Wasserstein critic loss"),
    (lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), "signs are swapped"),
    (lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), "margin of 1"),
    (lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), "summed"),
    (lambda r, f: F.relu(1 - r + f).mean(), "separately"),
    (lambda r, f: F.relu(1 - r).mean() - F.relu(1 + f).mean(), "sign error"),
    (lambda r, f: F.relu(1 - r).mean(), "left out the fake term"),
    (lambda r, f: -f.mean(), "generator's hinge loss"),
    (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), "binary cross-entropy"),
    (lambda r, f: torch.clamp(1 - r, max=0).mean() + torch.clamp(1 + f, max=0).mean(), "clamp(min=0)"),
]


@pytest.mark.parametrize("fn, words", HINGE_SLIPS)
def test_each_hinge_slip_gets_its_hint(fn, words):
    r = check_hinge_d_loss(fn)
    assert not r and words in r.message and "expected" in r.message


def test_hinge_success_counts_the_scores_beyond_the_margin():
    r = check_hinge_d_loss(hinge)
    assert r and "5 of the 12 scores get zero gradient" in r.message


def test_hinge_returned_as_a_float_asks_for_a_tensor():
    r = check_hinge_d_loss(lambda rr, ff: float(hinge(rr, ff).detach()))
    assert not r and "return a tensor" in r.message


def test_hinge_computed_without_autograd_is_caught():
    r = check_hinge_d_loss(lambda rr, ff: torch.tensor(hinge(rr, ff).detach().item()))
    assert not r and "does not depend on the scores" in r.message


def test_zero_gradient_wrong_answers_are_explained_one_by_one():
    answers = right_zero_gradient()
    answers["saturating G loss, fake logit -10"] = False
    answers["hinge D loss, real score 3"] = False
    r = check_zero_gradient(lambda: answers)
    assert not r and "2 of 6 wrong" in r.message and "-4.5e-05" in r.message and "margin of 1" in r.message


def test_zero_gradient_needs_exactly_the_cases():
    r = check_zero_gradient(lambda: {"saturating G loss, fake logit -10": True})
    assert not r and "missing" in r.message


def test_zero_gradient_needs_booleans():
    answers = right_zero_gradient()
    answers["hinge G loss, fake score -10"] = "no"
    r = check_zero_gradient(lambda: answers)
    assert not r and "True (gradient ≈ 0) or False" in r.message


def test_zero_gradient_with_ellipsis_values_is_not_answered():
    r = check_zero_gradient(lambda: {c: ... for c in ZERO_GRADIENT_CASES})
    assert not r and "Not answered" in r.message


@pytest.mark.parametrize("check", [check_gradient_penalty, check_hinge_d_loss, check_zero_gradient])
def test_unanswered_exercises_say_so(check, capsys):
    def stub(*args):
        raise NotImplementedError()

    for answer in (..., stub):
        r = check(answer)
        assert not r and "Not answered" in r.message
    assert "Traceback" not in capsys.readouterr().out


def test_a_learners_crash_is_reported_in_one_line():
    def crash(critic, real, fake, eps):
        return 1 / 0

    r = check_gradient_penalty(crash)
    assert not r and r.message.startswith("✗ Your code raised ZeroDivisionError")
