"""metrics: FID/KID on the shipped judge's features, and their input checks."""
from __future__ import annotations


import pytest
import torch

from genimg_course.data import to_float
from genimg_course.metrics import JudgeFeatures, fid, kid, real_vs_real
from genimg_course.train import evaluate_accuracy

pytestmark = pytest.mark.usefixtures("isolated")


# ---------------------------------------------------------------- FID/KID input checks (no judge needed)

def digits(n=4, dtype=torch.uint8):
    return torch.zeros(n, 1, 28, 28, dtype=dtype)


@pytest.mark.parametrize("metric", [fid, kid])
@pytest.mark.parametrize("real, fake, error, match", [
    (digits(), digits(4, torch.int64), TypeError, "fake must be uint8 .* got torch.int64"),
    ([[0.0]], digits(), TypeError, "real must be a tensor of images"),
    (torch.zeros(4, 28, 28, dtype=torch.uint8), digits(), ValueError, r"real must have shape \(N, 1, 28, 28\).*got \(4, 28, 28\)"),
    (digits(), torch.zeros(4, 3, 28, 28), ValueError, r"fake must have shape \(N, 1, 28, 28\).*got \(4, 3, 28, 28\)"),
    (digits(1), digits(), ValueError, "real needs at least 2 images.*got 1"),
    (digits(), torch.full((4, 1, 28, 28), float("nan")), ValueError, "fake contains NaN"),
    (digits(), torch.full((4, 1, 28, 28), 255.0), ValueError, r"fake must be in \[-1, 1\].*got values in \[255, 255\]"),
])
def test_fid_and_kid_say_what_input_they_expected(metric, real, fake, error, match):
    with pytest.raises(error, match=match):
        metric(real, fake)


def test_fid_refuses_real_and_fake_of_different_sizes():
    with pytest.raises(ValueError, match="28"):
        fid(digits(4), torch.zeros(4, 1, 32, 32, dtype=torch.uint8))


def test_kid_subset_size_larger_than_the_sets_is_an_error():
    with pytest.raises(ValueError, match="subset_size 10 is larger than the smaller set \\(4 images\\)"):
        kid(digits(4), digits(8), subset_size=10)


def test_real_vs_real_needs_two_disjoint_sets_of_n():
    with pytest.raises(ValueError, match="2 x 5 = 10 images, got 8"):
        real_vs_real(digits(8), 5)


# ---------------------------------------------------------------- with the shipped judge

def test_the_judge_gives_128_features_in_eval_mode(judge, mnist_test):
    assert isinstance(judge, JudgeFeatures)
    judge.train()  # torchmetrics may call .train(): the judge stays in eval mode
    assert not judge.training and not judge.classifier.training
    feats = judge(mnist_test.images[:8])
    assert feats.shape == (8, 128) and feats.dtype == torch.float64


def test_the_judge_reads_uint8_and_float_images_alike(judge, mnist_test):
    x = mnist_test.images[:16]
    assert torch.allclose(judge(x), judge(to_float(x)), atol=1e-4)


def test_the_judge_classifies_held_out_digits_well(judge, mnist_test):
    acc = evaluate_accuracy(judge.classifier, to_float(mnist_test.images), mnist_test.labels)
    assert acc > 0.95


def test_fid_of_a_set_with_itself_is_about_zero(judge, mnist_test):
    x = mnist_test.images[:500]
    assert abs(fid(x, x, judge)) < 1e-2


def test_noise_is_much_further_from_digits_than_real_digits_are(judge, mnist_test):
    real = mnist_test.images[:500]
    noise = torch.randint(0, 256, (500, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    baseline = real_vs_real(mnist_test.images, 500, judge)
    assert baseline > 0
    assert fid(real, noise, judge) > 10 * baseline


def test_real_vs_real_is_repeatable_for_a_seed(judge, mnist_test):
    assert real_vs_real(mnist_test.images, 200, judge, seed=1) == real_vs_real(mnist_test.images, 200, judge, seed=1)


def test_kid_returns_mean_and_std_and_separates_noise_from_digits(judge, mnist_test):
    real, other = mnist_test.images[:300], mnist_test.images[300:600]
    noise = torch.randint(0, 256, (300, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    result = kid(real, other, judge, subsets=5, subset_size=100)
    assert isinstance(result, tuple) and len(result) == 2
    mean, std = result
    assert std >= 0
    noise_mean, _ = kid(real, noise, judge, subsets=5, subset_size=100)
    assert noise_mean > mean + 3 * std
