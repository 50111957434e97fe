"""metrics: FID/KID on the shipped judge's features, and their input checks."""
from __future__ import annotations


import pytest
import torch

from genimg_course.data import to_float
from genimg_course.metrics import (JudgeFeatures, evaluate_generator, evaluate_samples, evaluation_table, fid, kid,
                                  memorisation, precision_recall, real_vs_real, reference_split)
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
    with pytest.raises(ValueError, match=r"two disjoint sets of n = 5 need 10 images, got 8: lower n \(at most 4 here\)"):
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


def test_kid_is_the_same_for_the_same_inputs_and_seed(judge, mnist_test):
    real, other = mnist_test.images[:300], mnist_test.images[300:600]
    a = kid(real, other, judge, subsets=5, subset_size=100)
    assert kid(real, other, judge, subsets=5, subset_size=100) == a
    assert kid(real, other, judge, subsets=5, subset_size=100, seed=1) != a


def test_kid_leaves_the_global_rng_alone(judge, mnist_test):
    state = torch.get_rng_state()
    kid(mnist_test.images[:300], mnist_test.images[300:600], judge, subsets=5, subset_size=100)
    assert torch.equal(torch.get_rng_state(), state)


def test_kid_draws_the_subsets_torchmetrics_draws_from_the_same_seed(judge, mnist_test):
    import warnings

    from torchmetrics.image.kid import KernelInceptionDistance

    from genimg_course.metrics import judge_features

    real, other = mnist_test.images[:300], mnist_test.images[300:600]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=5, subset_size=100)
    metric.update(judge_features(real, judge), real=True)
    metric.update(judge_features(other, judge), real=False)
    torch.manual_seed(7)  # torchmetrics draws from the global generator: seeded alike, the same subsets
    expected = tuple(float(v) for v in metric.compute())
    assert kid(real, other, judge, subsets=5, subset_size=100, seed=7) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_kid_refuses_a_seed_that_is_not_a_non_negative_integer(seed):
    with pytest.raises(ValueError, match=f"seed must be an integer >= 0 .* got {seed!r}"):
        kid(digits(4), digits(4), subset_size=2, seed=seed)


def test_evaluate_samples_gives_the_same_kid_each_time_and_leaves_the_global_rng_alone(judge, mnist_train, mnist_test):
    samples = mnist_test.images[:200]
    state = torch.get_rng_state()
    a = evaluate_samples(samples, "a", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)
    b = evaluate_samples(samples, "a", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)
    assert torch.equal(torch.get_rng_state(), state)
    assert (a.quality.kid, a.quality.kid_std, a.floor_kid) == (b.quality.kid, b.quality.kid_std, b.floor_kid)
    c = evaluate_samples(samples, "a", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge, kid_seed=1)
    assert c.quality.kid != a.quality.kid and c.quality.fid == a.quality.fid


def test_evaluate_generator_refuses_a_bad_kid_seed_before_sampling(mnist_train, mnist_test):
    with pytest.raises(ValueError, match="kid_seed must be an integer >= 0 .* got -1"):
        evaluate_generator(torch.nn.Linear(1, 1), "x", family="gan", train=mnist_train, test=mnist_test, n=200,
                           kid_seed=-1)


# ---------------------------------------------------------------- sample sizes, ranges, the judge's input

def test_fid_refuses_fewer_images_than_the_judge_has_features(judge, mnist_test):
    with pytest.raises(ValueError, match=r"needs at least 128 images per side, got 2 real"):
        fid(mnist_test.images[:2], mnist_test.images[2:4], judge)


def test_fid_warns_when_the_two_sides_differ_in_size(judge, mnist_test):
    with pytest.warns(UserWarning, match=r"real \(300\) and fake \(200\) sets differ in size"):
        fid(mnist_test.images[:300], mnist_test.images[300:500], judge)


def test_fid_warns_for_unit_range_images_read_as_minus_one_to_one(judge, mnist_test):
    x = mnist_test.images[:200].float() / 255  # [0, 1]
    with pytest.warns(UserWarning, match=r"looks like \[0, 1\] images .* pass value_range=\(0, 1\)"):
        wrong = fid(mnist_test.images[200:400], x, judge)
    right = fid(mnist_test.images[200:400], x, judge, value_range=(0, 1))
    assert wrong > 5 * right


def test_real_vs_real_takes_the_value_range(judge, mnist_test):
    as_unit = mnist_test.images.float() / 255
    assert real_vs_real(as_unit, 200, judge, value_range=(0, 1)) == pytest.approx(real_vs_real(mnist_test.images, 200, judge), rel=1e-4)


def test_the_judge_refuses_unscaled_float_pixels(judge, mnist_test):
    with pytest.raises(ValueError, match=r"uint8 pixels 0..255 or float images in \[-1, 1\]; these float images reach 255"):
        judge(mnist_test.images[:8].float())


@pytest.mark.parametrize("n", [1, 0, 2.5, True])
def test_reference_split_refuses_a_bad_n(n, mnist_test):
    with pytest.raises(ValueError, match="n .* must be an integer >= 2"):
        reference_split(mnist_test.images, n)


def test_reference_split_names_the_largest_n_that_fits(mnist_test):
    with pytest.raises(ValueError, match=r"need 2000 images, got 1000: lower n \(at most 500 here\)"):
        reference_split(mnist_test.images, 1000)


# ---------------------------------------------------------------- precision/recall and memorisation

def test_precision_and_recall_of_a_set_with_itself_are_one():
    f = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(f, f) == (1.0, 1.0)


def test_a_collapsed_generator_is_precise_but_has_no_recall():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g)
    collapsed = real[:1].repeat(300, 1) + 0.01 * torch.randn(300, 4, generator=g)  # every sample near one real point
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.05


def test_samples_far_from_the_data_have_no_precision():
    g = torch.Generator().manual_seed(0)
    precision, _ = precision_recall(torch.randn(300, 4, generator=g), 10 + torch.randn(300, 4, generator=g))
    assert precision == 0.0


@pytest.mark.parametrize("real, fake, k, match", [
    (torch.zeros(10, 4), torch.zeros(10, 5), 3, "differ in dimension: 4 vs 5"),
    (torch.zeros(3, 4), torch.zeros(10, 4), 3, "needs more than 3 features per side, got 3 real"),
    (torch.zeros(10), torch.zeros(10, 4), 3, r"real_features must be a \(N, D\) tensor"),
    (torch.zeros(10, 4), torch.zeros(10, 4), 0, "k .* must be a positive integer, got 0"),
])
def test_precision_recall_says_what_it_expected(real, fake, k, match):
    with pytest.raises(ValueError, match=match):
        precision_recall(real, fake, k=k)


def test_memorisation_catches_a_generator_that_copies_its_training_digits(mnist_train, mnist_test):
    copies = memorisation(mnist_train.images[:300], mnist_train.images, mnist_test.images[:300])
    assert copies["ratio"] < 0.01 and copies["near_copy_share"] == 1.0
    fresh = memorisation(mnist_test.images[300:600], mnist_train.images, mnist_test.images[:300])
    assert 0.8 < fresh["ratio"] < 1.25 and fresh["near_copy_share"] < 0.05


# ---------------------------------------------------------------- the protocol

def test_evaluate_samples_states_n_the_floor_and_the_test_reference(judge, mnist_train, mnist_test):
    samples = mnist_test.images[:200]  # real digits standing in for a good generator (they overlap the reference)
    e = evaluate_samples(samples, "stand-in", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)
    q = e.quality
    assert (q.n, q.reference, q.model, q.family) == (200, "test", "stand-in", "gan")
    assert q.floor == pytest.approx(real_vs_real(mnist_test.images, 200, judge), rel=1e-6)
    assert 0.0 <= e.precision <= 1.0 and 0.0 <= e.floor_recall <= 1.0
    table = evaluation_table(e)
    assert "real vs real (floor)" in table and "n = 200 images per side" in table and "held-out test digits" in table


def test_evaluate_samples_refuses_a_sample_count_other_than_n(judge, mnist_train, mnist_test):
    with pytest.raises(ValueError, match="expects exactly n = 200 samples .* got 150"):
        evaluate_samples(mnist_test.images[:150], "x", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)


def test_evaluate_generator_times_and_counts_a_generator_and_records_it(judge, mnist_train, mnist_test, tmp_path):
    from genimg_course.figures import Figures, read_quality
    from genimg_course.gan import load_pretrained

    G = load_pretrained("dcgan_mnist")  # about 3x its floor at n = 500 (the shipped cGAN sits at its floor)
    e = evaluate_generator(G, "shipped DCGAN", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)
    assert e.quality.parameters == sum(p.numel() for p in G.parameters()) and e.quality.sample_seconds > 0
    assert e.quality.ratio > 1.5 and e.memorisation["near_copy_share"] < 0.05
    figures = Figures("03_dcgan", folder=tmp_path)
    e.record(figures)
    assert read_quality(tmp_path)[0][1] == e.quality
    assert figures.values["shipped_dcgan_precision"] == round(e.precision, 4)


def test_evaluation_table_refuses_rows_at_different_n(judge, mnist_train, mnist_test):
    a = evaluate_samples(mnist_test.images[:200], "a", family="gan", train=mnist_train, test=mnist_test, n=200, judge=judge)
    b = evaluate_samples(mnist_test.images[:250], "b", family="gan", train=mnist_train, test=mnist_test, n=250, judge=judge)
    with pytest.raises(ValueError, match=r"different n cannot share a floor row: got n = \[200, 250\]"):
        evaluation_table(a, b)
