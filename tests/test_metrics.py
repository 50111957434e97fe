"""metrics: each lesson's figures JSON, and FID/KID on the shipped judge's features."""
from __future__ import annotations

import json
import math
import os

import pytest
import torch

from genimg_course.data import to_float
from genimg_course.metrics import Figures, JudgeFeatures, fid, kid, real_vs_real
from genimg_course.profiles import resolve
from genimg_course.train import evaluate_accuracy

pytestmark = pytest.mark.usefixtures("isolated")


def read_strict_json(path):
    """Parse like a strict JSON reader (browsers, jq): NaN and Infinity are not JSON."""
    def refuse(token):
        raise ValueError(f"{token} is not valid JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


# ---------------------------------------------------------------- Figures

def test_figures_writes_the_lesson_json_into_GENIMG_FIGURES_DIR(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_FIGURES_DIR", str(tmp_path / "figs"))
    figures = Figures("01_cnn_basics")
    assert figures.path == tmp_path / "figs" / "01_cnn_basics.json"
    assert read_strict_json(figures.path)["lesson"] == "01_cnn_basics"  # written on creation


def test_figures_default_to_figures_under_the_working_directory(isolated, monkeypatch):
    monkeypatch.delenv("GENIMG_FIGURES_DIR")
    assert Figures("00_setup").path.resolve() == (isolated / "figures" / "00_setup.json").resolve()


def test_an_explicit_folder_beats_the_environment(tmp_path):
    assert Figures("00_setup", folder=tmp_path).path == tmp_path / "00_setup.json"


def test_figures_record_the_profile_and_device():
    profile = resolve("smoke")
    values = read_strict_json(Figures("00_setup", profile).path)
    assert values["profile"] == "smoke" and values["device"] == str(profile.device)


def test_each_record_is_written_at_once_and_returned(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    assert figures.record("test_accuracy", 0.98) == 0.98
    figures.record("confusions", {"4": [9, 7]})
    values = read_strict_json(figures.path)
    assert values["test_accuracy"] == 0.98 and values["confusions"] == {"4": [9, 7]}
    assert values["elapsed_s"] >= 0


def test_figures_carry_the_compute_card_peaks_as_running_maxima(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    first = read_strict_json(figures.path)["peak_ram_gib"]
    assert 0 < first < 64  # this test process, in GiB
    figures.values["peak_ram_gib"] = 1e3  # a peak seen earlier is never lowered by a later write
    figures.record("x", 1)
    assert read_strict_json(figures.path)["peak_ram_gib"] == 1e3
    assert "peak_ram_gib" not in repr(figures)


def test_a_scalar_tensor_is_recorded_as_a_number(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    assert figures.record("loss", torch.tensor(0.5)) == 0.5
    assert read_strict_json(figures.path)["loss"] == 0.5


def test_recording_leaves_no_temporary_files(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    for i in range(3):
        figures.record(f"x{i}", i)
    assert os.listdir(tmp_path) == ["01_cnn_basics.json"]


def test_the_figures_file_gets_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = Figures("00_setup", folder=tmp_path).path
    finally:
        os.umask(previous)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, torch.tensor(float("nan"))])
def test_nan_or_inf_is_refused(tmp_path, value):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(ValueError, match="NaN/inf"):
        figures.record("loss", value)
    assert "loss" not in read_strict_json(figures.path)


def test_nan_inside_a_list_is_refused(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(ValueError):
        figures.record("curve", [1.0, math.nan])
    read_strict_json(figures.path)


def test_a_non_serialisable_value_is_refused_with_its_type(tmp_path):
    figures = Figures("01_cnn_basics", folder=tmp_path)
    with pytest.raises(TypeError, match="JSON-serialisable.*object"):
        figures.record("thing", object())


@pytest.mark.parametrize("lesson", ["", "a/b", "a\\b", None, 1])
def test_a_lesson_name_must_be_a_plain_name(tmp_path, lesson):
    with pytest.raises(ValueError, match="plain name"):
        Figures(lesson, folder=tmp_path)  # type: ignore[arg-type]


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
