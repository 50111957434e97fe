"""robust: FGSM / PGD on the judge and on a discriminator, robustness curves, the smallest flipping
eps, and FID gaming; what the attacks leave alone (the eps-ball, the range, the RNG, model modes,
parameter gradients); bad input refused before any work."""
from __future__ import annotations

import math

import pytest
import torch

from genimg_course import metrics, robust
from genimg_course.checkpoints import load_shipped
from genimg_course.data import to_float
from genimg_course.models import CNNClassifier, DCGANDiscriminator

pytestmark = pytest.mark.usefixtures("isolated", "one_thread")

EPS8 = robust.eps_from_pixels(8)  # 16/255 in [-1, 1] units


@pytest.fixture(scope="module")
def clf(judge):
    return robust.load_judge_classifier()


@pytest.fixture(scope="module")
def digits(mnist_test):
    return to_float(mnist_test.images[:64]), mnist_test.labels[:64].long()


def tiny_d(seed=0):
    torch.manual_seed(seed)
    return DCGANDiscriminator(width=4, norm="layer").eval()


def ce_sum(model, y):
    return lambda x: torch.nn.functional.cross_entropy(model(x), y, reduction="sum")


# ---------------------------------------------------------------- the attacks' bounds

@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_an_attack_stays_in_the_eps_ball_and_in_range(clf, digits, method):
    x, y = digits
    x_adv = robust.attack_classifier(clf, x, y, EPS8, method=method, steps=5)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float((x_adv - x).abs().max()) <= EPS8 + 1e-6
    assert float(x_adv.min()) >= -1.0 and float(x_adv.max()) <= 1.0


def test_eps_zero_changes_nothing(clf, digits):
    x, y = digits
    loss = ce_sum(clf, y)
    assert torch.equal(robust.fgsm(loss, x, 0.0), x)
    assert torch.equal(robust.pgd(loss, x, 0.0), x)
    assert torch.equal(robust.attack_classifier(clf, x, y, 0.0), x)
    assert torch.equal(robust.attack_discriminator(tiny_d(), x, 0.0), x)


def test_pgd_does_at_least_as_much_damage_as_fgsm_on_the_judge(clf, digits):
    x, y = digits[0][:32], digits[1][:32]
    eps = robust.eps_from_pixels(16)  # on 1,000 digits: FGSM leaves 72 % accuracy, PGD-10 31 %
    acc = {m: robust.robustness_curve(clf, x, y, [eps], method=m, steps=5)[0]["accuracy"] for m in ("fgsm", "pgd")}
    assert acc["pgd"] <= acc["fgsm"] < 0.95


def test_a_targeted_attack_makes_the_judge_say_the_target(clf, digits):
    x, y = digits[0][:24], digits[1][:24]
    target = (y + 1) % 10
    eps = robust.eps_from_pixels(64)  # targeted is harder: at 32 grey levels PGD-20 reaches the target for a third
    with torch.no_grad():
        hit = float((clf(robust.attack_classifier(clf, x, y, eps, steps=20, targeted_y=target)).argmax(1) == target).float().mean())
        untargeted = float((clf(robust.attack_classifier(clf, x, y, eps)).argmax(1) == target).float().mean())
    assert hit > 0.6 and hit > untargeted + 0.3


def test_the_discriminator_attack_moves_the_verdict_the_way_asked(digits):
    x, _ = digits
    D = tiny_d()
    with torch.no_grad():
        before = D(x)
        to_fake = D(robust.attack_discriminator(D, x, EPS8, toward="fake", steps=5))
        to_real = D(robust.attack_discriminator(D, x, EPS8, toward="real", method="fgsm"))
    assert bool((to_fake < before).all()) and bool((to_real > before).all())


# ---------------------------------------------------------------- curves and the smallest flipping eps

def test_the_robustness_curve_states_eps_in_both_units_and_starts_at_the_clean_accuracy(clf, digits):
    x, y = digits
    rows = robust.robustness_curve(clf, x, y, [0.0, EPS8], method="fgsm")
    assert {"eps", "eps_pixels", "accuracy", "mean_linf", "mean_l2", "flipped_share"} <= set(rows[0])
    assert rows[1]["eps_pixels"] == pytest.approx(8.0) and rows[1]["mean_linf"] == pytest.approx(EPS8, rel=1e-4)
    assert rows[0]["accuracy"] == float((clf(x).argmax(1) == y).float().mean())
    assert rows[0]["flipped_share"] == 0.0 and rows[0]["mean_l2"] == 0.0


def test_min_flip_eps_is_in_range_repeatable_and_a_few_grey_levels_for_the_judge(clf, digits):
    x, y = digits[0][:16], digits[1][:16]
    top = robust.eps_from_pixels(32)
    eps = robust.min_flip_eps(clf, x, y, eps_max=top, steps=3, iters=3)
    assert eps.shape == (16,)
    assert bool(((eps >= 0) & (eps <= top) | torch.isinf(eps)).all())
    assert 2 < float(eps.median()) / robust.GREY_LEVEL < 32
    assert torch.equal(eps, robust.min_flip_eps(clf, x, y, eps_max=top, steps=3, iters=3))


def test_min_flip_eps_of_a_discriminator_is_zero_where_d_says_fake_already(digits):
    x, _ = digits
    D = tiny_d()
    eps = robust.min_flip_eps_discriminator(D, x[:16], toward="fake", steps=3, iters=3)
    with torch.no_grad():
        fake_already = D(x[:16]) <= 0
    assert bool((eps[fake_already] == 0).all()) and bool((eps[~fake_already] > 0).all())


# ---------------------------------------------------------------- FID gaming

def test_frechet_distance_is_the_course_fid_of_the_same_features(judge, mnist_test):
    a, b = metrics.reference_split(mnist_test.images, 500, 0)
    fa, fb = metrics.judge_features(a, judge), metrics.judge_features(b, judge)
    # the real-vs-real floor at n = 500 that tools/make_gan_weights.py recorded with metrics.fid (torchmetrics)
    floor = load_shipped("dcgan_mnist")["fid_real_vs_real"]
    assert float(robust.frechet_distance(fb, fa)) == pytest.approx(floor, rel=1e-5)


def test_fid_gaming_lowers_fid_with_a_change_of_a_few_grey_levels(judge, mnist_test):
    from genimg_course.gan import load_pretrained
    from genimg_course.sampling import generate

    samples = generate(load_pretrained("dcgan_mnist"), 160, seed=0)
    ref = metrics.judge_features(mnist_test.images[:160], judge)
    gamed = robust.fid_gaming(samples, ref, judge, eps=EPS8, steps=3)
    assert float((gamed - samples).abs().max()) <= EPS8 + 1e-6
    assert float(gamed.min()) >= -1 and float(gamed.max()) <= 1
    before = float(robust.frechet_distance(metrics.judge_features(samples, judge), ref))
    after = float(robust.frechet_distance(metrics.judge_features(gamed, judge), ref))
    assert after < 0.7 * before


def test_fid_gaming_at_eps_zero_changes_nothing(judge):
    x = torch.rand(128, 1, 28, 28) * 2 - 1
    assert torch.equal(robust.fid_gaming(x, torch.zeros(128, 128, dtype=torch.float64), judge, eps=0.0), x)


# ---------------------------------------------------------------- what the attacks leave alone

def test_the_attacks_leave_the_global_rng_model_modes_and_parameter_gradients_alone(digits):
    x, y = digits[0][:8], digits[1][:8]
    torch.manual_seed(0)
    model = CNNClassifier(width=4).train()
    model.dropout.eval()  # a mixed state, to be given back as it was
    D = tiny_d().train()
    state = torch.get_rng_state()
    robust.attack_classifier(model, x, y, EPS8, steps=2)
    robust.attack_classifier(model, x, y, EPS8, method="fgsm", targeted_y=(y + 1) % 10)
    robust.min_flip_eps(model, x, y, steps=1, iters=1)
    robust.attack_discriminator(D, x, EPS8, steps=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.training and not model.dropout.training and model.body.training and D.training
    assert all(p.grad is None for p in [*model.parameters(), *D.parameters()])


def test_pgd_draws_its_random_start_from_its_own_generator(digits):
    x, y = digits[0][:8], digits[1][:8]
    torch.manual_seed(0)
    model = CNNClassifier(width=4).eval()  # pgd calls loss_fn as given: a model in train mode would draw dropout
    state = torch.get_rng_state()
    a = robust.pgd(ce_sum(model, y), x, EPS8, steps=2, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, robust.pgd(ce_sum(model, y), x, EPS8, steps=2, seed=3))
    assert not torch.equal(a, robust.pgd(ce_sum(model, y), x, EPS8, steps=2, seed=4))


def test_train_discriminator_leaves_the_global_rng_and_g_alone(digits):
    from genimg_course.gan import load_pretrained

    G = load_pretrained("dcgan_mnist").train()
    state = torch.get_rng_state()
    D = robust.train_discriminator(G, digits[0], steps=3, batch_size=8, width=4)
    assert torch.equal(torch.get_rng_state(), state) and G.training and not D.training
    assert all(p.grad is None for p in G.parameters())


def test_train_discriminator_with_spectral_norm_wraps_every_conv(digits):
    from torch.nn.utils import parametrize

    from genimg_course.gan import load_pretrained

    G = load_pretrained("dcgan_mnist")
    D = robust.train_discriminator(G, digits[0], steps=2, batch_size=8, width=4, norm="none", spectral_norm=True)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    plain = robust.train_discriminator(G, digits[0], steps=2, batch_size=8, width=4)
    assert not any(parametrize.is_parametrized(m, "weight") for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(TypeError, match="spectral_norm must be True or False"):
        robust.train_discriminator(G, digits[0], steps=1, spectral_norm="yes")


def test_the_judge_classifier_is_a_copy_that_cannot_change_the_judge(judge, digits):
    clf = robust.load_judge_classifier()
    clf.train()
    assert not judge.classifier.training and clf.fc.weight.data_ptr() != judge.classifier.fc.weight.data_ptr()
    x = digits[0][:4]
    assert torch.equal(clf.eval().features(x).double(), judge(x))


# ---------------------------------------------------------------- bad input, refused before any work

X = torch.zeros(4, 1, 28, 28)
Y = torch.zeros(4, dtype=torch.long)
NET = CNNClassifier(width=4)


def never(x):
    raise AssertionError("loss_fn was called: the input should have been refused first")


BAD = [
    ("eps negative", lambda: robust.pgd(never, X, -0.1), ValueError, r"pgd: eps must be a float >= 0 and < 2 .* got -0.1"),
    ("eps 2 or more", lambda: robust.fgsm(never, X, 2.0), ValueError, r"fgsm: eps must be a float >= 0 and < 2 .* got 2.0"),
    ("eps a string", lambda: robust.pgd(never, X, "8/255"), TypeError, r"eps must be a float >= 0 .* got str '8/255'"),
    ("eps NaN", lambda: robust.attack_classifier(NET, X, Y, math.nan), ValueError, r"eps must be a float >= 0 .* got nan"),
    ("uint8 images", lambda: robust.pgd(never, torch.zeros(4, 1, 28, 28, dtype=torch.uint8), 0.1),
     TypeError, r"x must be float images in \[-1, 1\], got torch.uint8: scale uint8 digits with data.to_float"),
    ("wrong shape", lambda: robust.fgsm(never, torch.zeros(4, 28, 28), 0.1),
     ValueError, r"x must have shape \(B, 1, 28, 28\) with B >= 1, got \(4, 28, 28\)"),
    ("0..255 floats", lambda: robust.pgd(never, torch.full((2, 1, 28, 28), 255.0), 0.1),
     ValueError, r"x must lie in \[-1, 1\], got values in \[255, 255\] \(0..255 pixels\? use data.to_float\)"),
    ("NaN images", lambda: robust.pgd(never, torch.full((2, 1, 28, 28), math.nan), 0.1), ValueError, "x contains NaN"),
    ("not a tensor", lambda: robust.fgsm(never, [[0.0]], 0.1), TypeError, r"x must be float images .* got list"),
    ("steps 0", lambda: robust.pgd(never, X, 0.1, steps=0), ValueError, r"pgd: steps must be an integer >= 1, got int 0"),
    ("steps a float", lambda: robust.attack_classifier(NET, X, Y, 0.1, steps=2.0), ValueError,
     r"steps must be an integer >= 1, got float 2.0"),
    ("step_size negative", lambda: robust.pgd(never, X, 0.1, step_size=-1.0), ValueError, "step_size must be None .* got float -1.0"),
    ("loss_fn not callable", lambda: robust.pgd(3, X, 0.1), TypeError, "loss_fn must be a function .* got int 3"),
    ("loss_fn not a scalar", lambda: robust.fgsm(lambda x: x, X, 0.1), TypeError,
     r"loss_fn must return a scalar tensor .* got a float32 tensor of shape \(4, 1, 28, 28\)"),
    ("method unknown", lambda: robust.attack_classifier(NET, X, Y, 0.1, method="cw"), ValueError,
     "method must be one of 'pgd', 'fgsm', got 'cw'"),
    ("labels of the wrong shape", lambda: robust.attack_classifier(NET, X, torch.zeros(4, 1, dtype=torch.long), 0.1),
     ValueError, r"y must have shape \(4,\), one label per image, got \(4, 1\)"),
    ("float labels", lambda: robust.attack_classifier(NET, X, torch.zeros(4), 0.1), TypeError,
     r"y must be integer class labels of shape \(4,\), got a float32 tensor"),
    ("labels out of range", lambda: robust.attack_classifier(NET, X, torch.full((4,), 10), 0.1), ValueError,
     r"y must be classes 0..9, got values in \[10, 10\]"),
    ("target of the wrong shape", lambda: robust.attack_classifier(NET, X, Y, 0.1, targeted_y=torch.zeros(3, dtype=torch.long)),
     ValueError, r"targeted_y must have shape \(4,\)"),
    ("classifier not a module", lambda: robust.attack_classifier("judge", X, Y, 0.1), TypeError,
     "classifier must be a network .* got str 'judge'"),
    ("toward unknown", lambda: robust.attack_discriminator(tiny_d(), X, 0.1, toward="up"), ValueError,
     "toward must be one of 'fake', 'real', got 'up'"),
    ("labels to an unconditional D", lambda: robust.attack_discriminator(tiny_d(), X, 0.1, y=Y), ValueError,
     "D is not conditional: do not pass labels y"),
    ("an empty eps_list", lambda: robust.robustness_curve(NET, X, Y, []), ValueError, "eps_list must hold at least one eps"),
    ("eps_list a number", lambda: robust.robustness_curve(NET, X, Y, 0.1), TypeError, "eps_list must be a list of floats"),
    ("eps_max 0", lambda: robust.min_flip_eps(NET, X, Y, eps_max=0.0), ValueError, "eps_max must be a float > 0"),
    ("too few samples to game", lambda: robust.fid_gaming(X, torch.zeros(200, 128, dtype=torch.float64)), ValueError,
     "needs at least 128 images per side, got 4 samples"),
    ("reference of the wrong shape", lambda: robust.fid_gaming(torch.zeros(200, 1, 28, 28), torch.zeros(200, 64)),
     ValueError, r"reference features must be float \(M, 128\)"),
    ("judge not a JudgeFeatures", lambda: robust.fid_gaming(X, X, judge=NET), TypeError,
     "judge must be a metrics.JudgeFeatures"),
    ("levels negative", lambda: robust.eps_from_pixels(-2), ValueError, "levels must be a number >= 0"),
]


@pytest.mark.parametrize("case, call, error, match", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_naming_what_was_expected_and_what_came(case, call, error, match):
    with pytest.raises(error, match=match):
        call()
