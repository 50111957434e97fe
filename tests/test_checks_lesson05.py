"""Lesson 05's exercise checks: right answers pass, each usual slip gets its own hint, an unanswered
exercise says so, and nothing ever shows a traceback."""
from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from genimg_course import vae
from genimg_course.checks import lesson05
from genimg_course.checks.lesson05 import (BETA_QUESTIONS, check_beta_reading, check_elbo, check_gaussian_kl,
                                           check_log_mean_exp, check_reparameterize, check_vae_step)

# ---------------------------------------------------------------- right answers


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)


def recon_sum(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def elbo(logits, x, mu, logvar):
    return -recon_sum(logits, x) - gaussian_kl(mu, logvar).sum(1)


def log_mean_exp(log_w):
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])


RESULTS = {0.5: {"recon": 98.1, "kl": 25.3, "active_dims": 8},
           1.0: {"recon": 104.2, "kl": 18.0, "active_dims": 6},
           4.0: {"recon": 140.2, "kl": 7.1, "active_dims": 3}}
RIGHT_READING = {"sharpest_reconstructions": 0.5, "highest_rate": 0.5, "most_collapsed": 4}


def test_right_answers_pass_quickly():
    t0 = time.perf_counter()
    assert check_reparameterize(reparameterize)
    assert check_gaussian_kl(gaussian_kl)
    assert check_elbo(elbo)
    assert check_log_mean_exp(log_mean_exp)
    assert check_beta_reading(RIGHT_READING, RESULTS)
    assert time.perf_counter() - t0 < 5  # five checks, each well under a second on a quiet CPU


def test_the_packages_own_functions_pass():
    assert check_reparameterize(vae.reparameterize)
    assert check_gaussian_kl(vae.gaussian_kl)
    assert check_elbo(lambda logits, x, mu, logvar: -(vae.bernoulli_nll(logits, x) + vae.gaussian_kl(mu, logvar).sum(1)))


def test_equivalent_forms_pass():
    assert check_reparameterize(lambda mu, logvar, eps: mu + torch.sqrt(torch.exp(logvar)) * eps)
    assert check_reparameterize(lambda mu, logvar, eps: (mu.double() + torch.exp(0.5 * logvar.double()) * eps.double()))
    assert check_gaussian_kl(lambda mu, logvar: -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()))
    assert check_gaussian_kl(lambda mu, logvar: gaussian_kl(mu.double(), logvar.double()))
    # sigmoid then the probability form of the cross-entropy is the same number (less stable)
    assert check_elbo(lambda lo, x, mu, lv: -F.binary_cross_entropy(torch.sigmoid(lo), x, reduction="none").sum((1, 2, 3))
                      - gaussian_kl(mu, lv).sum(1))
    assert check_elbo(lambda lo, x, mu, lv: elbo(lo.double(), x.double(), mu.double(), lv.double()))

    def by_max(log_w):
        m = log_w.max(dim=1, keepdim=True).values
        return (m + torch.log(torch.exp(log_w - m).mean(dim=1, keepdim=True))).squeeze(1)

    assert check_log_mean_exp(by_max)
    assert check_beta_reading(lambda: {"sharpest_reconstructions": 0.5, "highest_rate": torch.tensor(0.5),
                                       "most_collapsed": 4.0}, RESULTS)


def test_success_messages_report_the_numbers():
    kl = check_gaussian_kl(gaussian_kl)
    assert "closed form" in kl.message and "Monte Carlo" in kl.message and "±" in kl.message
    assert "Jensen" in check_log_mean_exp(log_mean_exp).message
    assert "β = 4: recon 140.2" in check_beta_reading(RIGHT_READING, RESULTS).message


# ---------------------------------------------------------------- the slips give distinct numbers


def _min_gap(values):
    flat = [v.detach().double().flatten() for v in values]
    return min((a - b).abs().max().item() for i, a in enumerate(flat) for b in flat[i + 1:] if a.shape == b.shape)


def test_the_slips_give_distinct_numbers_so_each_hint_is_unambiguous():
    mu, lv, eps = lesson05._MU, lesson05._LOGVAR, lesson05._EPS
    assert _min_gap([v for v, _ in lesson05._reparameterize_slips(mu, lv, eps)] + [reparameterize(mu, lv, eps)]) > 1e-2
    mu, lv = lesson05._KL_MU, lesson05._KL_LOGVAR
    assert _min_gap([v for v, _ in lesson05._kl_slips(mu, lv)] + [gaussian_kl(mu, lv)]) > 1e-2
    w = lesson05._LOG_W
    assert _min_gap([v for v, _ in lesson05._lme_slips(w)] + [log_mean_exp(w)]) > 1e-2
    problem = lesson05._ELBO_PROBLEM
    slips = [(v.expand(4) if v.dim() == 0 else v, hint) for v, hint in lesson05._elbo_slips(*problem)]
    slips.append((elbo(*problem), "the right answer"))
    for i, (a, ha) in enumerate(slips):
        for b, hb in slips[i + 1:]:
            # the per-pixel mean and the per-pixel-and-batch mean are one slip: close numbers, the same advice
            if not (ha.startswith("you averaged the cross-entropy") and hb.startswith("you averaged the cross-entropy")):
                assert (a - b).abs().max() > 0.1, (ha, hb)


# ---------------------------------------------------------------- 1. reparameterize


@pytest.mark.parametrize("fn, words", [
    (lambda mu, lv, eps: mu + torch.exp(lv) * eps, "the variance sigma², instead of its square root"),
    (lambda mu, lv, eps: mu + lv * eps, "logvar itself as sigma"),
    (lambda mu, lv, eps: mu + 0.5 * lv * eps, "0.5 * logvar is log sigma"),
    (lambda mu, lv, eps: mu + torch.exp(-0.5 * lv) * eps, "1 / sigma"),
    (lambda mu, lv, eps: mu + torch.exp(0.5 * lv), "you forgot eps"),
    (lambda mu, lv, eps: mu + eps, "you forgot sigma"),
    (lambda mu, lv, eps: torch.exp(0.5 * lv) * eps, "forgot to add mu"),
    (lambda mu, lv, eps: mu * torch.exp(0.5 * lv) + eps, "sigma multiplies eps, not mu"),
    (lambda mu, lv, eps: mu - torch.exp(0.5 * lv) * eps, "with a plus"),
], ids=["variance", "logvar as sigma", "log sigma", "1/sigma", "no eps", "no sigma", "no mu", "swapped", "minus"])
def test_each_reparameterize_slip_gets_its_hint(fn, words):
    r = check_reparameterize(fn)
    assert not r and words in r.message and "expected z" in r.message


def test_own_noise_is_named_with_the_trick():
    r = check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * torch.randn_like(mu))
    assert not r and "drew your own noise" in r.message and "reparameterisation trick" in r.message


def test_sampling_with_torch_normal_is_named():
    r = check_reparameterize(lambda mu, lv, eps: torch.normal(mu, torch.exp(0.5 * lv)))
    assert not r and "torch.normal" in r.message and "same mu, logvar and eps" in r.message


def test_a_seeded_function_that_ignores_eps_is_named():
    def seeded(mu, lv, eps):
        g = torch.Generator().manual_seed(0)
        return mu + torch.exp(0.5 * lv) * torch.randn(mu.shape, generator=g)

    r = check_reparameterize(seeded)
    assert not r and "ignores eps" in r.message


@pytest.mark.parametrize("fn, words", [
    (lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(), "carries no gradient"),
    (lambda mu, lv, eps: mu.detach() + torch.exp(0.5 * lv) * eps, "no gradient reaches mu"),
    (lambda mu, lv, eps: mu + torch.exp(0.5 * lv).detach() * eps, "no gradient reaches logvar"),
    (lambda mu, lv, eps: torch.tensor((mu + torch.exp(0.5 * lv) * eps).tolist()), "carries no gradient"),
], ids=["detached z", "detached mu", "detached sigma", "rebuilt tensor"])
def test_missing_gradients_are_explained_with_the_trick(fn, words):
    r = check_reparameterize(fn)
    assert not r and words in r.message and "reparameterisation trick" in r.message and "values are right" in r.message


def test_reparameterize_returning_a_tuple_is_named():
    r = check_reparameterize(lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps, torch.exp(0.5 * lv)))
    assert not r and "returned a tuple of 2 items" in r.message and "alone" in r.message


def test_reparameterize_nan_from_sqrt_of_logvar_is_named():
    r = check_reparameterize(lambda mu, lv, eps: mu + torch.sqrt(lv) * eps)
    assert not r and "NaN" in r.message and "exp(0.5 * logvar)" in r.message


def test_reparameterize_wrong_shape_and_in_place_changes_are_named():
    r = check_reparameterize(lambda mu, lv, eps: reparameterize(mu, lv, eps).sum(1))
    assert not r and "(B, D) = (4, 3)" in r.message

    def in_place(mu, lv, eps):
        return mu + torch.exp(lv.mul_(0.5)) * eps

    r = check_reparameterize(in_place)
    assert not r and "in place" in r.message


def test_reparameterize_with_the_wrong_signature_names_the_expected_one():
    r = check_reparameterize(lambda mu, logvar: mu)
    assert not r and "(mu, logvar, eps)" in r.message


# ---------------------------------------------------------------- 2. gaussian_kl


@pytest.mark.parametrize("fn, words", [
    (lambda mu, lv: -gaussian_kl(mu, lv), "wrong sign"),
    (lambda mu, lv: 2 * gaussian_kl(mu, lv), "factor 0.5 is missing"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 + lv), "- 1 - logvar"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv), "the - 1 is missing"),
    (lambda mu, lv: 0.5 * (lv.exp() - 1 - lv), "mu² is missing"),
    (lambda mu, lv: 0.5 * (mu + lv.exp() - 1 - lv), "mu must be squared"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv ** 2 - 1 - torch.log(lv ** 2)), "you used logvar as sigma"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv ** 2 - 1 - lv), "logvar² as the variance"),
    (lambda mu, lv: 0.5 * (mu ** 2 + lv - 1 - lv), "logvar as the variance sigma²"),
    (lambda mu, lv: 0.5 * (mu ** 2 + torch.exp(2 * lv) - 1 - 2 * lv), "treated logvar as log sigma"),
    (lambda mu, lv: 0.5 * (lv + (1 + mu ** 2) * torch.exp(-lv) - 1), "the other direction"),
], ids=["sign", "no 0.5", "+logvar", "no -1", "no mu²", "mu unsquared", "logvar as sigma", "logvar² as variance",
        "logvar as variance", "logvar as log sigma", "reversed KL"])
def test_each_kl_slip_gets_its_hint(fn, words):
    r = check_gaussian_kl(fn)
    assert not r and words in r.message and "expected" in r.message


def test_kl_summed_over_the_dimensions_asks_for_one_per_dimension():
    r = check_gaussian_kl(lambda mu, lv: gaussian_kl(mu, lv).sum(1))
    assert not r and "return one KL per dimension, shape (B, D)" in r.message and "the lesson sums them" in r.message
    assert "sum over the dimensions" in r.message
    r = check_gaussian_kl(lambda mu, lv: gaussian_kl(mu, lv).sum())
    assert not r and "one number" in r.message


def test_kl_nan_from_a_log_of_logvar_is_named():
    r = check_gaussian_kl(lambda mu, lv: 0.5 * (mu ** 2 + lv - 1 - torch.log(lv)))
    assert not r and "NaN" in r.message and "sigma² = exp(logvar)" in r.message


def test_an_unknown_wrong_kl_quotes_the_monte_carlo_estimate():
    r = check_gaussian_kl(lambda mu, lv: gaussian_kl(mu, lv) + 0.123)
    assert not r and "Monte Carlo" in r.message and "±" in r.message and "0.5 * (mu² + exp(logvar) - 1 - logvar)" in r.message


def test_the_monte_carlo_estimate_agrees_with_the_closed_form():
    mc, se = lesson05._kl_monte_carlo(lesson05._KL_MU[0], lesson05._KL_LOGVAR[0])
    closed = float(vae.gaussian_kl(lesson05._KL_MU[0], lesson05._KL_LOGVAR[0]).sum())
    assert abs(mc - closed) < 4 * se and se < 0.02


def test_kl_returning_numpy_asks_for_a_tensor():
    r = check_gaussian_kl(lambda mu, lv: gaussian_kl(mu, lv).numpy())
    assert not r and "should return a tensor" in r.message


# ---------------------------------------------------------------- 3. elbo


def _kl(mu, lv):
    return gaussian_kl(mu, lv).sum(1)


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


@pytest.mark.parametrize("fn, words", [
    (lambda lo, x, mu, lv: recon_sum(lo, x) + _kl(mu, lv), "you returned the loss, -ELBO"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x), "forgot the KL"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x) + _kl(mu, lv), "the KL is subtracted"),
    (lambda lo, x, mu, lv: -_bce(lo, x).mean(1) - _kl(mu, lv), "averaged the cross-entropy over the 784 pixels"),
    (lambda lo, x, mu, lv: -F.binary_cross_entropy_with_logits(lo, x) - _kl(mu, lv), "784x too small"),
    (lambda lo, x, mu, lv: -F.binary_cross_entropy_with_logits(lo, x, reduction="sum") - _kl(mu, lv),
     "reduction='sum' sums the cross-entropy over the whole batch"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x).mean() - _kl(mu, lv), "averaged the reconstruction over the batch"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x) - gaussian_kl(mu, lv).mean(1), "not averaged"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x) - gaussian_kl(mu, lv).sum(), "summed the KL over the batch too"),
    (lambda lo, x, mu, lv: -recon_sum(lo, x) - _kl(mu, lv).mean(), "averaged the KL over the batch"),
    (lambda lo, x, mu, lv: -recon_sum(torch.sigmoid(lo), x) - _kl(mu, lv), "applies it again"),
    (lambda lo, x, mu, lv: -recon_sum(x, lo) - _kl(mu, lv), "swapped the arguments"),
    (lambda lo, x, mu, lv: -F.mse_loss(torch.sigmoid(lo), x, reduction="none").sum((1, 2, 3)) - _kl(mu, lv),
     "squared error"),
], ids=["loss", "no KL", "+KL", "pixel mean", "batch+pixel mean", "batch sum", "recon batch mean", "KL dim mean",
        "KL batch sum", "KL batch mean", "double sigmoid", "swapped", "MSE"])
def test_each_elbo_slip_gets_its_hint(fn, words):
    r = check_elbo(fn)
    assert not r and words in r.message and "expected ELBO" in r.message


def test_logits_passed_to_binary_cross_entropy_are_named():
    r = check_elbo(lambda lo, x, mu, lv: -F.binary_cross_entropy(lo, x, reduction="none").sum((1, 2, 3)) - _kl(mu, lv))
    assert not r and "binary_cross_entropy_with_logits" in r.message and "logits" in r.message
    assert "Traceback" not in r.message


def test_logits_used_as_probabilities_by_hand_are_named():
    def by_hand(lo, x, mu, lv):
        return (x * torch.log(lo) + (1 - x) * torch.log(1 - lo)).sum((1, 2, 3)) - _kl(mu, lv)

    r = check_elbo(by_hand)
    assert not r and "NaN" in r.message and "logits, not probabilities" in r.message


@pytest.mark.parametrize("fn, words", [
    (lambda lo, x, mu, lv: elbo(lo, x, mu, lv).mean(), "(yours is the mean over the batch)"),
    (lambda lo, x, mu, lv: elbo(lo, x, mu, lv).sum(), "(yours is the sum over the batch)"),
    (lambda lo, x, mu, lv: -elbo(lo, x, mu, lv).mean(), "(yours is the training loss"),
    (lambda lo, x, mu, lv: -F.binary_cross_entropy_with_logits(lo, x, reduction="none") - _kl(mu, lv).view(-1, 1, 1, 1),
     "sum the cross-entropy over all the pixels"),
], ids=["mean", "sum", "loss", "per pixel"])
def test_elbo_of_the_wrong_shape_asks_for_one_per_image(fn, words):
    r = check_elbo(fn)
    assert not r and "one ELBO per image, shape (B,) = (4,)" in r.message and words in r.message


def test_elbo_without_autograd_is_caught():
    r = check_elbo(lambda lo, x, mu, lv: elbo(lo, x, mu, lv).detach())
    assert not r and "cannot be trained with" in r.message
    r = check_elbo(lambda lo, x, mu, lv: -recon_sum(lo, x) - _kl(mu.detach(), lv))
    assert not r and "gradient with respect to mu" in r.message


def test_elbo_with_the_wrong_signature_names_the_expected_one():
    r = check_elbo(lambda logits, x: logits)
    assert not r and "(logits, x, mu, logvar)" in r.message


# ---------------------------------------------------------------- 4. log_mean_exp


@pytest.mark.parametrize("fn, words", [
    (lambda w: torch.logsumexp(w, 1), "subtract log K"),
    (lambda w: torch.logsumexp(w, 1) + math.log(w.shape[1]), "don't add it"),
    (lambda w: torch.logsumexp(w, 1) / w.shape[1], "not logsumexp / K"),
    (lambda w: w.mean(1), "Jensen"),
    (lambda w: w.max(1).values, "largest log-weight"),
    (lambda w: torch.logsumexp(w - w.max(1, keepdim=True).values, 1) - math.log(w.shape[1]), "did not add it back"),
], ids=["logsumexp", "+log K", "/K", "mean of logs", "max", "max not added back"])
def test_each_log_mean_exp_slip_gets_its_hint(fn, words):
    r = check_log_mean_exp(fn)
    assert not r and words in r.message and "expected" in r.message


def test_the_naive_formula_underflows_and_is_pointed_to_the_max_trick():
    r = check_log_mean_exp(lambda w: torch.log(torch.exp(w).mean(1)))
    assert not r and "around -1000" in r.message and "underflows" in r.message
    assert "torch.logsumexp" in r.message and "max" in r.message


def test_overflow_at_plus_1000_is_named():
    def only_negative_safe(w):  # stable below 0 only: overflows at +1000
        if w.max() < -500:
            return torch.logsumexp(w, 1) - math.log(w.shape[1])
        return torch.log(torch.exp(w).mean(1))

    r = check_log_mean_exp(only_negative_safe)
    assert not r and "around +1000" in r.message and "overflows" in r.message


def test_one_max_over_the_whole_tensor_is_named():
    def global_max(w):
        m = w.max()
        return m + torch.log(torch.exp(w - m).mean(1))

    r = check_log_mean_exp(global_max)
    assert not r and "each row's own max" in r.message


@pytest.mark.parametrize("fn, words", [
    (lambda w: torch.logsumexp(w, 0) - math.log(w.shape[0]), "not dim=0"),
    (lambda w: torch.logsumexp(w, 1, keepdim=True) - math.log(w.shape[1]), ".squeeze(1)"),
    (lambda w: w - math.log(w.shape[1]), "average over the K samples"),
    (lambda w: torch.logsumexp(w.flatten(), 0) - math.log(w.numel()), "not one number"),
], ids=["dim 0", "keepdim", "not reduced", "scalar"])
def test_log_mean_exp_of_the_wrong_shape_is_named(fn, words):
    r = check_log_mean_exp(fn)
    assert not r and words in r.message


def test_log_mean_exp_changing_its_input_in_place_is_refused():
    def in_place(w):
        m = w.max(1, keepdim=True).values
        w -= m
        return (m + torch.log(torch.exp(w).mean(1, keepdim=True))).squeeze(1)

    r = check_log_mean_exp(in_place)
    assert not r and "in place" in r.message


# ---------------------------------------------------------------- 5. beta reading


def test_wrong_readings_quote_the_measured_numbers():
    r = check_beta_reading({"sharpest_reconstructions": 4, "highest_rate": 0.5, "most_collapsed": 4}, RESULTS)
    assert not r and "1 of 3 wrong" in r.message
    assert "β = 4 has recon 140.2 nats, but β = 0.5 has 98.1" in r.message and "sharper" in r.message
    r = check_beta_reading({"sharpest_reconstructions": 0.5, "highest_rate": 4, "most_collapsed": 0.5}, RESULTS)
    assert not r and "2 of 3 wrong" in r.message
    assert "β = 4 has KL 7.1 nats, but β = 0.5 has 25.3" in r.message
    assert "β = 0.5 keeps 8 active dimensions, but β = 4 only 3" in r.message


def test_ties_accept_either_beta():
    results = {b: dict(row) for b, row in RESULTS.items()}
    results[4.0]["active_dims"] = 3
    results[1.0]["active_dims"] = 3
    for collapsed in (1, 4):
        assert check_beta_reading({**RIGHT_READING, "most_collapsed": collapsed}, results)


def test_the_betas_can_be_ints_in_the_results():
    results = {1: RESULTS[1.0], 4: RESULTS[4.0], 0.5: RESULTS[0.5]}
    assert check_beta_reading(RIGHT_READING, results)


@pytest.mark.parametrize("answers, words", [
    ({"sharpest_reconstructions": 0.5, "highest_rate": 0.5}, "missing ['most_collapsed']"),
    ({**RIGHT_READING, "most_collapsed": 2}, "not one of the β values measured: 0.5, 1, 4"),
    ({**RIGHT_READING, "most_collapsed": "4"}, "should be one of the β values measured"),
    ({**RIGHT_READING, "most_collapsed": True}, "should be one of the β values measured"),
    ([0.5, 0.5, 4], "should be a dict"),
])
def test_malformed_answers_are_named(answers, words):
    r = check_beta_reading(answers, RESULTS)
    assert not r and words in r.message


def test_missing_or_malformed_results_are_named():
    r = check_beta_reading(RIGHT_READING)
    assert not r and "pass the measured results too" in r.message
    r = check_beta_reading(RIGHT_READING, {0.5: {"recon": 98.1}})
    assert not r and "'active_dims'" in r.message and "rerun" in r.message
    r = check_beta_reading(RIGHT_READING, {})
    assert not r and "results should be" in r.message


def test_beta_answers_left_as_ellipsis_are_not_answered():
    r = check_beta_reading({q: ... for q in BETA_QUESTIONS}, RESULTS)
    assert not r and "Not answered" in r.message


# ---------------------------------------------------------------- unanswered, broken, wrong types

ALL_CHECKS = [check_reparameterize, check_gaussian_kl, check_elbo, check_vae_step, check_log_mean_exp,
              check_beta_reading]


@pytest.mark.parametrize("chk", ALL_CHECKS)
def test_unanswered_exercises_say_so(chk, capsys):
    def stub(*args):
        raise NotImplementedError()

    for answer in (..., stub):
        r = chk(answer, RESULTS) if chk is check_beta_reading else chk(answer)
        assert not r and "Not answered" in r.message
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("chk", [check_reparameterize, check_gaussian_kl, check_elbo, check_log_mean_exp])
def test_returning_none_or_a_wrong_type_is_named_politely(chk, capsys):
    r = chk(lambda *args: None)
    assert not r and "returned None" in r.message and "return" in r.message
    r = chk(lambda *args: 1.5)
    assert not r and "should return a tensor" in r.message
    r = chk(lambda *args: torch.zeros(2, dtype=torch.long))
    assert not r and "torch.int64" in r.message
    r = chk("not a function")
    assert not r and "expected a function" in r.message
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("chk", [check_reparameterize, check_gaussian_kl, check_elbo, check_log_mean_exp])
def test_a_learners_crash_is_reported_in_one_line(chk, capsys):
    r = chk(lambda *args: 1 / 0)
    out = capsys.readouterr().out
    assert not r and r.message.startswith("✗ Your code raised ZeroDivisionError")
    assert "Traceback" not in out and out.count("\n") == 1


# ---------------------------------------------------------------- the VAE training step


def vae_step(model, opt, x, slip=""):
    """The exercise's answer, or the same step with one named slip."""
    if slip not in ("no_zero_grad", "zero_grad_after_step"):
        opt.zero_grad()
    if slip == "binarise":
        x = torch.bernoulli(x)
    mu, logvar = model.encode(x)
    eps = torch.randn_like(mu)
    z = {"z_mu": mu, "detached": (mu + torch.exp(0.5 * logvar) * eps).detach(),
         "variance": mu + logvar.exp() * eps}.get(slip, mu + torch.exp(0.5 * logvar) * eps)
    logits = model.decode(z)
    if slip == "sigmoid":
        logits = torch.sigmoid(logits)
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    recon = per_pixel.mean(1) if slip == "pixel_mean" else per_pixel.sum(1)
    kl = gaussian_kl(mu, logvar)
    kl = kl.mean(1) if slip == "kl_mean_dims" else kl.sum(1)
    loss = {"kl_sign": lambda: (recon - kl).mean(), "no_kl": lambda: recon.mean(),
            "batch_sum": lambda: (recon + kl).sum(), "elbo_ascent": lambda: -(recon + kl).mean(),
            "default_mean": lambda: F.binary_cross_entropy_with_logits(logits, x) + kl.mean(),
            }.get(slip, lambda: (recon + kl).mean())()
    loss.backward()
    if slip != "no_step":
        opt.step()
    if slip == "zero_grad_after_step":
        opt.zero_grad()
    return {"none": None, "elbo": -loss.item(), "tuple": (loss, recon, kl), "per_image": recon + kl,
            "item": loss.item()}.get(slip, loss)


def test_vae_step_right_answers_pass_written_in_several_ways():
    assert check_vae_step(vae_step)
    assert check_vae_step(vae.vae_step)
    assert check_vae_step(lambda m, o, x: vae_step(m, o, x, "item"))  # a float instead of a tensor

    def with_forward_and_probabilities(model, opt, x):  # model(x) samples z itself; BCE on probabilities
        opt.zero_grad(set_to_none=True)
        logits, mu, logvar, _ = model(x)
        recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / x.shape[0]
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
        (recon + kl).backward()
        opt.step()
        return (recon + kl).detach()

    assert check_vae_step(with_forward_and_probabilities)

    def with_package_reparameterize(model, opt, x):
        mu, logvar = model.encode(x)
        logits = model.decode(vae.reparameterize(mu, logvar))
        loss = (vae.bernoulli_nll(logits, x) + vae.gaussian_kl(mu, logvar).sum(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    assert check_vae_step(with_package_reparameterize)


@pytest.mark.parametrize("slip, phrase", [
    ("no_zero_grad", "without opt.zero_grad() before it"),
    ("zero_grad_after_step", "zero the gradients *after* opt.step()"),
    ("kl_sign", "the KL enters with the wrong sign"),
    ("elbo_ascent", "you minimised the ELBO instead of maximising it"),
    ("pixel_mean", "averaged over the 784 pixels instead of summed"),
    ("default_mean", "averaged over the 784 pixels instead of summed"),
    ("kl_mean_dims", "the KL is averaged over the code's dimensions"),
    ("no_kl", "the KL term is missing"),
    ("batch_sum", "you summed over the batch"),
    ("z_mu", "you decoded z = mu, without sampling"),
    ("detached", "no reconstruction gradient reaches the encoder"),
    ("variance", "you scaled eps by exp(logvar), the variance"),
    ("sigmoid", "you applied a sigmoid before binary_cross_entropy_with_logits"),
    ("binarise", "you binarised x inside the step"),
    ("no_step", "opt.step() is missing"),
    ("none", "vae_step returned None"),
    ("elbo", "you returned"),
    ("tuple", "return the loss alone"),
    ("per_image", "return the batch's loss, one number"),
])
def test_vae_step_slips_get_their_hint(slip, phrase, capsys):
    r = check_vae_step(lambda m, o, x: vae_step(m, o, x, slip))
    assert not r and phrase in r.message, r.message
    assert "Traceback" not in capsys.readouterr().out


def test_vae_step_z_mu_is_caught_through_the_logvar_heads_gradient():
    """With z = mu the reconstruction never reaches logvar: the logvar head moves by the KL's gradient only."""
    model, x, stale = lesson05._step_problem()
    right, _ = lesson05._simulated_step(model, x, stale)
    z_mu, _ = lesson05._simulated_step(model, x, stale, "z_mu")
    assert float((right["logvar_head.weight"] - z_mu["logvar_head.weight"]).abs().max()) > 1e-4


def test_vae_step_unanswered_a_crash_and_a_non_function(capsys):
    def stub(model, opt, x):
        raise NotImplementedError()

    assert "Not answered" in check_vae_step(stub).message
    assert "Not answered" in check_vae_step().message
    r = check_vae_step(lambda m, o, x: 1 / 0)
    assert not r and r.message.startswith("✗ Your code raised ZeroDivisionError")
    assert "vae_step must accept (model, opt, x)" in check_vae_step(lambda m, x: 0).message
    assert "expected a function" in check_vae_step(3).message
    assert "Traceback" not in capsys.readouterr().out


def test_the_packages_vae_step_is_the_tasks_loss():
    """genimg_course.vae.vae_step minimises what VAETask.losses computes, on the same eps."""
    torch.manual_seed(0)
    model = lesson05._TinyVAE()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    torch.manual_seed(5)
    want = float(vae.VAETask(model, binarize=False).losses(x, None)["loss"].detach())
    torch.manual_seed(5)
    got = vae.vae_step(model, torch.optim.SGD(model.parameters(), lr=0.0), x)
    assert math.isclose(got, want, rel_tol=1e-5)
