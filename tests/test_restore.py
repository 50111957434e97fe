"""restore.py: degradations (statistics, shapes, bad parameters named), metrics, classical baselines
reproducing the anchors review §3 on small subsets, RestorationTask under fit, evaluate_restorer."""
from __future__ import annotations

import pytest
import torch
import torchmetrics.functional.image  # noqa: F401  (imported at collection: its ~1.5 s import is no test's time)
from torchvision.transforms import v2

from genimg_course import restore as R
from genimg_course.data import ImageSet, ResidentBatches, load_mnist, to_float
from genimg_course.models import UNet
from genimg_course.train import fit


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread


@pytest.fixture(scope="module")
def digits():
    """100 held-out offline digits in [0, 1] (the review used 500 random ones)."""
    s = load_mnist("test", source="offline", verbose=False).subset(100, seed=0)
    return to_float(s.images, (0, 1))


# ---- degradations ------------------------------------------------------------------------------

def test_noise_has_the_asked_std_and_a_seed_repeats_it():
    x = torch.full((8, 1, 32, 32), 0.5)
    y = R.add_noise(x, 0.1, torch.Generator().manual_seed(0))
    assert abs((y - x).std().item() - 0.1) < 0.005
    assert torch.equal(y, R.add_noise(x, 0.1, torch.Generator().manual_seed(0)))
    assert R.add_noise(x, 0.6, clip=True).max() <= 1


def test_downsample_and_upsample_shapes():
    x = torch.rand(2, 3, 28, 28)
    assert R.downsample(x, 2).shape == (2, 3, 14, 14)
    assert R.downsample(x, 4, "bicubic").shape == (2, 3, 7, 7)
    assert torch.allclose(R.downsample(x, 2)[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    assert R.upsample_bicubic(R.downsample(x, 4), 4).shape == x.shape


def test_masks_have_the_asked_size():
    x = torch.rand(4, 1, 28, 28)
    img, missing = R.centre_hole(x, 12)
    assert missing.dtype == torch.bool and missing.shape == (4, 1, 28, 28)
    assert missing[0].sum() == 144 and missing[0, 0, 8:20, 8:20].all() and (img[missing.expand_as(img)] == 0).all()
    img, missing = R.random_pixels(torch.rand(16, 3, 32, 32), 0.5, torch.Generator().manual_seed(0))
    assert missing.shape == (16, 1, 32, 32) and abs(missing.float().mean().item() - 0.5) < 0.02
    assert R.to_grey(torch.rand(2, 3, 8, 8)).shape == (2, 1, 8, 8)
    assert R.blur(x, 1.0).shape == x.shape and R.blur(x, 1.0).std() < x.std()


def test_bad_degradation_parameters_are_named_before_any_work():
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="sigma must be a number >= 0"):
        R.add_noise(x, -0.1)
    with pytest.raises(ValueError, match="power of 2"):
        R.downsample(x, 3)
    with pytest.raises(ValueError, match=r"scale 8 does not divide 28×28 .*fit: \[2, 4\]"):
        R.downsample(x, 8)
    with pytest.raises(ValueError, match="fraction must be a number >= 0 and < 1"):
        R.random_pixels(x, 1.0)
    with pytest.raises(ValueError, match=r"size must be from 1 to 27"):
        R.centre_hole(x, 28)
    with pytest.raises(ValueError, match=r"mask of shape \(1, 1, 14, 14\)"):
        R.apply_mask(x, torch.zeros(1, 1, 14, 14, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"RGB images \(B, 3, H, W\)"):
        R.to_grey(x)
    with pytest.raises(TypeError, match="float tensor"):
        R.add_noise(x.to(torch.uint8), 0.1)
    with pytest.raises(ValueError, match="4 dimensions"):
        R.blur(x[0], 1.0)
    with pytest.raises(ValueError, match="unknown restoration task"):
        R.make_degradation("deblur")


def test_degradations_compose_as_torchvision_v2_transforms():
    t = v2.Compose([v2.ToDtype(torch.float32, scale=True), R.CentreHole(4), R.AddNoise(0.0)])
    img = t(torch.full((1, 16, 16), 255, dtype=torch.uint8))  # one (C, H, W) image
    assert img.shape == (1, 16, 16) and img[0, 8, 8] == 0 and img[0, 0, 0] == 1
    x, label = R.AddNoise(0.1)(torch.rand(1, 8, 8), 3)  # labels pass through
    assert label == 3 and x.shape == (1, 8, 8)


# ---- metrics -----------------------------------------------------------------------------------

def test_psnr_and_ssim_by_hand_and_validated():
    x = torch.zeros(2, 1, 16, 16)
    y = x + 0.1
    assert R.psnr(y, x) == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.01)
    assert R.ssim(x + 0.5, x + 0.5) == pytest.approx(1.0)
    assert R.psnr(y, x, reduction="none").shape == (2,)
    with pytest.raises(ValueError, match=r"\[0, 1\].*0..255"):
        R.psnr(x + 255, x)
    with pytest.raises(ValueError, match="NaN"):
        R.ssim(torch.full_like(x, float("nan")), x)
    with pytest.raises(ValueError, match="same shape"):
        R.psnr(x, x[:, :, :8])


def test_ssim_matches_scikit_images_default():
    from skimage.metrics import structural_similarity
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ref = structural_similarity(x[0, 0].numpy(), y[0, 0].numpy(), data_range=1.0)
    assert R.ssim(y, x) == pytest.approx(ref, abs=0.01)  # only the sample-covariance factor 49/48 differs


# ---- classical baselines: the anchors review §3 (n=500) on 100 digits ----------------------------
# Tolerance ±0.5 dB / ±0.03 SSIM: the means over 100 of the 500 digits differ by the subset's spread
# (per-image PSNR std ≈ 2 dB → ≈ 0.2 dB standard error), and bicubic results are clipped to [0, 1] here.

def test_super_resolution_baselines_match_the_review(digits):
    rows = {r["method"]: r for r in R.evaluate_restorer(None, "sr2", digits)}
    assert rows["bicubic"]["psnr"] == pytest.approx(20.43, abs=0.5)  # measured 20.48
    assert rows["bicubic"]["ssim"] == pytest.approx(0.856, abs=0.03)  # 0.861
    assert rows["nearest"]["psnr"] == pytest.approx(17.95, abs=0.5)  # 17.88
    rows = {r["method"]: r for r in R.evaluate_restorer(None, "sr4", digits)}
    assert rows["bicubic"]["psnr"] == pytest.approx(14.63, abs=0.5)  # 14.61


def test_denoising_baselines_match_the_review(digits):
    d = R.AddNoise(25 / 255)
    rows = {r["method"]: r for r in R.evaluate_restorer(None, d, digits[:40], baselines={"nlmeans": d.baselines()["nlmeans"]})}
    assert rows["input"]["psnr"] == pytest.approx(22.81, abs=0.5)
    assert rows["nlmeans"]["psnr"] == pytest.approx(26.98, abs=0.7)  # 40 images: wider; measured 26.97 on 100
    assert rows["nlmeans"]["ssim"] == pytest.approx(0.873, abs=0.03)
    d = R.AddNoise(0.3)
    rows = {r["method"]: r for r in R.evaluate_restorer(None, d, digits, baselines={"tv": lambda b: R.baseline_denoise(b.image, 0.3, "tv", 2 / 3)})}
    assert rows["tv"]["psnr"] == pytest.approx(18.92, abs=0.5)  # TV weight 0.2 as in the review; 18.9
    assert rows["tv"]["ssim"] == pytest.approx(0.672, abs=0.03)


def test_inpainting_baseline_matches_the_review(digits):
    rows = {r["method"]: r for r in R.evaluate_restorer(None, "inpaint_centre", digits)}
    assert rows["input"]["psnr"] == pytest.approx(12.58, abs=0.5)  # 12.53
    assert rows["biharmonic"]["psnr"] == pytest.approx(14.82, abs=0.5)  # 15.01
    assert rows["biharmonic"]["ssim"] == pytest.approx(0.729, abs=0.03)


def test_tune_baseline_picks_on_training_images():
    train = to_float(load_mnist("train", source="offline", verbose=False).subset(30, seed=1).images, (0, 1))
    p, score = R.tune_baseline("tv", train, 0.3, grid=(0.1, 0.6, 3.0))
    assert p == 0.6 and 17 < score < 20  # far too little and far too much smoothing both lose
    with pytest.raises(ValueError, match="method must be one of"):
        R.tune_baseline("bm3d", train, 0.3)


def test_baselines_refuse_bad_input():
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="method must be one of"):
        R.baseline_denoise(x, 0.1, "median")
    with pytest.raises(ValueError, match="mask"):
        R.baseline_inpaint(x, torch.zeros(2, 1, 20, 20, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs the noise level"):
        R.baseline_denoise(x, None, "tv")


# ---- the task --------------------------------------------------------------------------------------

def test_restoration_task_runs_under_fit_with_fresh_noise_each_step():
    torch.manual_seed(0)
    data = ImageSet(torch.randint(0, 256, (16, 1, 16, 16), dtype=torch.uint8), torch.zeros(16, dtype=torch.long), ["x"], "r", "t")
    model = UNet(1, 1, 8, 2, residual=True)
    seen = []
    model.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    task = R.RestorationTask(model, R.AddNoise(0.2), loss="l1")
    assert set(task.modules) == set(task.optimizers) == {"model"}
    batches = ResidentBatches(data, 16, value_range=(0, 1))  # one batch per epoch: the same images each step
    h = fit(task, batches, steps=3, log_every=1, progress=False)
    assert h.steps[-1] == 3 and h.last("loss") > 0 and h.last("psnr") > 0
    assert len(seen) == 3
    clean = batches.images.float() / 255
    noise = [s - clean[batches._permutation(i)] for i, s in enumerate(seen)]  # one batch per epoch: epoch i = step i
    assert not torch.allclose(noise[0], noise[1]) and 0.15 < noise[0].std() < 0.25


def test_restoration_task_refuses_images_outside_unit_range():
    task = R.RestorationTask(UNet(1, 1, 8, 2), "denoise25")
    batches = ResidentBatches(ImageSet(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), ["x"], "z", "t"), 4)
    with pytest.raises(ValueError, match="value_range=\\(0, 1\\)"):
        fit(task, batches, steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        fit(R.RestorationTask(UNet(1, 1, 8, 2), "sr2"), [torch.full((2, 1, 8, 8), float("nan"))], steps=1, progress=False)
    with pytest.raises(ValueError, match="loss must be 'l2' or 'l1'"):
        R.RestorationTask(UNet(1, 1, 8, 2), "sr2", loss="ssim")


def test_evaluate_restorer_rows_and_summary(digits):
    torch.manual_seed(0)
    model = UNet(1, 1, 8, 2, residual=True)
    rows = R.evaluate_restorer(model, "sr2", digits[:20])
    assert [r["kind"] for r in rows] == ["input", "baseline", "baseline", "baseline", "model"]
    assert rows == R.evaluate_restorer(model, "sr2", digits[:20])  # deterministic with the seed
    s = R.summary(rows, "sr2")
    assert set(s) == {"sr2_psnr_model", "sr2_psnr_baseline", "sr2_ssim_model", "sr2_ssim_baseline"}
    assert s["sr2_psnr_baseline"] == max(r["psnr"] for r in rows if r["kind"] == "baseline")


def test_colourisation_is_measured_against_the_grey_image_as_rgb():
    from genimg_course.data import load_photo_patches
    clean = to_float(load_photo_patches("test", patch=32, verbose=False).images[:8], (0, 1))
    rows = R.evaluate_restorer(UNet(1, 3, 8, 2), "colourise", clean)
    assert [r["method"] for r in rows] == ["input", "grey", "model"]
    assert rows[0]["psnr"] == rows[1]["psnr"] and 5 < rows[1]["psnr"] < 40


def test_training_is_repeatable_with_a_seed():
    data = ImageSet(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), torch.zeros(8, dtype=torch.long), ["x"], "r", "t")

    def run():
        torch.manual_seed(0)
        task = R.RestorationTask(UNet(1, 1, 8, 2), R.RandomPixels(0.5))
        fit(task, ResidentBatches(data, 4, value_range=(0, 1)), steps=2, progress=False, seed=3)
        return torch.cat([p.flatten() for p in task.model.parameters()])

    assert torch.equal(run(), run())


# ---- lesson 06's additions: tuned baselines, the judge on restored digits, the checkerboard index ------

def test_tuned_baselines_tune_on_the_images_given_or_take_recorded_params(digits):
    base, params = R.tuned_baselines("denoise25", digits[:40])
    assert set(base) == set(params) == set(R.DENOISE_METHODS)
    assert params["tv"] == R.tune_baseline("tv", digits[:40], 25 / 255)[0]
    noisy = R.make_degradation("denoise25").degrade(digits[:4], torch.Generator().manual_seed(0))
    assert torch.equal(base["nlmeans"](noisy), R.baseline_denoise(noisy.image, 25 / 255, "nlmeans", params["nlmeans"]))
    again, same = R.tuned_baselines("denoise25", None, params=params)
    assert same == params and torch.equal(again["tv"](noisy), base["tv"](noisy))
    up, none = R.tuned_baselines("sr2", None)
    assert set(up) == {"nearest", "bilinear", "bicubic"} and none == {}
    with pytest.raises(ValueError, match="one value for each of"):
        R.tuned_baselines("denoise25", None, params={"tv": 0.5})
    with pytest.raises(TypeError, match="must be a Degradation or a task name"):
        R.tuned_baselines(3, digits)


def test_judge_accuracy_reads_restored_digits_and_loses_on_wrong_ones(judge):
    test = load_mnist("test", source="offline", verbose=False)
    x, y = to_float(test.images[:200], (0, 1)), test.labels[:200]
    assert R.judge_accuracy(judge, x, y) > 0.95
    assert R.judge_accuracy(judge, x, (y + 1) % 10) < 0.05  # the right picture, the wrong digit
    assert R.judge_accuracy(judge, torch.zeros_like(x), y) < 0.3
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        R.judge_accuracy(judge, x * 2 - 1, y)
    with pytest.raises(ValueError, match=r"labels must be a tensor of shape \(200,\)"):
        R.judge_accuracy(judge, x, y[:10])


def test_checkerboard_index_is_zero_for_smooth_images_and_one_for_a_checkerboard():
    flat = torch.full((2, 1, 28, 28), 0.5)
    board = torch.ones(2, 1, 28, 28)
    board[..., ::2, ::2] = board[..., 1::2, 1::2] = -1
    ramp = torch.linspace(0, 1, 28).expand(2, 1, 28, 28).contiguous()
    assert R.checkerboard_index(flat) == 0 and R.checkerboard_index(board) == pytest.approx(1.0)
    assert R.checkerboard_index(ramp) < 0.05  # a smooth gradient has almost no period-2 part
    assert R.checkerboard_index(flat + 0.1 * board) == pytest.approx(0.2, abs=0.01)
    with pytest.raises(ValueError, match="leave no interior"):
        R.checkerboard_index(torch.rand(1, 1, 8, 8), border=3)
