"""colourise.py: Lab against scikit-image, colour bins (fit, encode, annealed-mean decode, Zhang's
rebalancing weights, a weights_only round trip), ColouriseTask under fit with both heads, colourise,
the saturation ratio, evaluate_colouriser's rows, and bad input named before any work."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchmetrics.functional.image  # noqa: F401  (imported at collection: its ~1.5 s import is no test's time)
from skimage.color import lab2rgb, rgb2lab
from torch import nn

from genimg_course import colourise as C
from genimg_course.data import ResidentBatches, load_photo_patches
from genimg_course.models import UNet
from genimg_course.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread

RED, BLUE = (255, 0, 0), (0, 0, 255)  # Lab (53.2, 80.1, 67.2) and (32.3, 79.2, -107.9)


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2)


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).double().numpy()


def _two_colours(n: int = 4) -> torch.Tensor:
    """uint8 (n, 3, 8, 8): the left half red, the right half blue."""
    x = torch.zeros(n, 3, 8, 8, dtype=torch.uint8)
    x[:, :, :, :4] = torch.tensor(RED, dtype=torch.uint8)[:, None, None]
    x[:, :, :, 4:] = torch.tensor(BLUE, dtype=torch.uint8)[:, None, None]
    return x


@pytest.fixture(scope="module")
def patches():
    """768 training photo patches of 16×16 (uint8) and the bins fitted on them."""
    s = load_photo_patches("train", patch=16, stride=16, verbose=False)
    return s, C.ColourBins.fit(s.images)


# ---- Lab -----------------------------------------------------------------------------------------

def test_rgb_to_lab_matches_skimage_and_round_trips():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 16, 16, generator=g, dtype=torch.float64)
    x[0, :, 0, :8] = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1],
                                   [0.04045, 0.0031, 0.5]], dtype=torch.float64).T  # corners, thresholds
    lab = C.rgb_to_lab(x.float())
    ref = _nchw(rgb2lab(_nhwc(x)))
    assert (lab.double() - ref).abs().max() < 2e-4  # measured 4e-5 (float32)
    assert lab[:, 0].min() >= -1e-3 and lab[:, 0].max() <= 100 + 1e-3
    assert (C.lab_to_rgb(lab).double() - x).abs().max() < 1e-5  # measured 3e-6
    assert C.rgb_to_lab(x).dtype == torch.float64 and (C.rgb_to_lab(x) - ref).abs().max() < 1e-9


def test_lab_to_rgb_matches_skimage_outside_the_gamut_too():
    g = torch.Generator().manual_seed(1)
    lab = torch.rand(2, 3, 16, 16, generator=g) * torch.tensor([100.0, 220, 220])[:, None, None] \
        - torch.tensor([0.0, 110, 110])[:, None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the out-of-gamut z < 0 pixels
        ref = _nchw(lab2rgb(_nhwc(lab)))
    out = C.lab_to_rgb(lab)
    assert out.min() >= 0 and out.max() <= 1
    assert (out.double() - ref).abs().max() < 1e-5  # measured 2e-6


def test_rgb_to_lab_has_finite_gradients_even_at_black():
    x = torch.rand(1, 3, 8, 8)
    x[0, :, 0, 0] = 0.0
    x[0, :, 0, 1] = 0.04045
    x.requires_grad_(True)
    C.rgb_to_lab(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ---- bins ----------------------------------------------------------------------------------------

def test_fit_keeps_the_bins_the_images_use_with_their_prior():
    x = _two_colours()
    x[0, :, :, :] = torch.tensor(RED, dtype=torch.uint8)[:, None, None]  # one image all red: 5/8 red pixels
    bins = C.ColourBins.fit(x)
    assert len(bins) == 2
    assert {tuple(c) for c in bins.centres.tolist()} == {(80.0, 70.0), (80.0, -110.0)}
    red = [i for i, c in enumerate(bins.centres.tolist()) if c[1] == 70.0][0]
    assert abs(bins.prior[red].item() - 5 / 8) < 1e-6 and abs(bins.prior.sum().item() - 1) < 1e-6
    assert torch.equal(C.ColourBins.fit(x.float() / 255).centres, bins.centres)  # uint8 or float, the same bins
    assert len(C.ColourBins.fit(x, grid=20)) == 2 and abs(bins.mean_ab[0].item() - 79.8) < 0.5


def test_encode_gives_the_nearest_bin(patches):
    _, bins = patches
    q = bins.encode(bins.centres.T[None, :, :, None])  # each centre as one pixel: (1, 2, Q, 1)
    assert torch.equal(q[0, :, 0], torch.arange(len(bins)))
    g = torch.Generator().manual_seed(0)
    pick = torch.randint(len(bins), (500,), generator=g)
    ab = bins.centres[pick] + (torch.rand(500, 2, generator=g) - 0.5) * bins.grid * 0.98  # inside kept squares
    brute = torch.cdist(ab, bins.centres).argmin(1)
    assert torch.equal(bins.encode(ab.T[None, :, :, None])[0, :, 0], brute)
    far = torch.tensor([[300.0, -300.0]])  # off the table: still the nearest bin to the table's edge
    assert bins.encode(far.T[None, :, :, None]).item() in range(len(bins))


def test_decode_one_hot_is_the_centre_small_T_the_mode_and_T1_the_mean(patches):
    _, bins = patches
    Q = len(bins)
    one_hot = torch.full((1, Q, 1, 3), -30.0)
    for j, q in enumerate((0, Q // 2, Q - 1)):
        one_hot[0, q, 0, j] = 30.0
    ab = bins.decode(one_hot)
    assert torch.allclose(ab[0, :, 0].T, bins.centres[[0, Q // 2, Q - 1]], atol=1e-3)
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(Q, generator=g) * 2, 0)
    logits = p.log()[None, :, None, None]
    mean = p @ bins.centres
    assert torch.allclose(bins.decode(logits, 1.0)[0, :, 0, 0], mean, atol=1e-3)
    mode = bins.centres[p.argmax()]
    assert torch.allclose(bins.decode(logits, 0.01)[0, :, 0, 0], mode, atol=1e-2)
    assert torch.equal(bins.decode(logits, 0)[0, :, 0, 0], mode)
    mid = bins.decode(logits, 0.38)[0, :, 0, 0]  # the annealed mean: between the mean and the mode, more vivid
    assert mid.norm() > mean.norm() and not torch.allclose(mid, mean, atol=1e-2)


def test_class_weights_have_expectation_one_and_favour_rare_colours(patches):
    _, bins = patches
    p = bins.smoothed_prior(5.0)
    assert abs(p.sum().item() - 1) < 1e-5 and not torch.allclose(p, bins.prior)
    w = bins.class_weights(0.5, 5.0)
    assert w.shape == (len(bins),) and abs((p * w).sum().item() - 1) < 1e-5
    assert w[p.argmin()] > w[p.argmax()] and w.argmax() == p.argmin()
    expected = 1 / (0.5 * p + 0.5 / len(bins))
    assert torch.allclose(w, expected / (p * expected).sum(), rtol=1e-5)
    assert torch.allclose(bins.class_weights(lam=1.0), torch.ones(len(bins)), atol=1e-5)
    assert torch.equal(bins.smoothed_prior(0), bins.prior)


def test_bins_survive_a_weights_only_round_trip(patches, tmp_path):
    _, bins = patches
    torch.save({"bins": bins.state_dict()}, tmp_path / "b.pt")
    back = C.ColourBins.from_state(torch.load(tmp_path / "b.pt", weights_only=True)["bins"])
    assert len(back) == len(bins) and back.grid == bins.grid
    assert torch.equal(back.centres, bins.centres) and torch.allclose(back.prior, bins.prior)
    assert torch.equal(back.mean_ab, bins.mean_ab)
    ab = torch.randn(2, 2, 4, 4) * 40
    assert torch.equal(back.encode(ab), bins.encode(ab))


# ---- training ------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", ["l2", "class"])
def test_a_tiny_task_trains_under_fit_and_its_loss_falls(patches, head):
    s, bins = patches
    torch.manual_seed(0)
    model = UNet(1, 2 if head == "l2" else len(bins), width=8, depth=2)
    task = C.ColouriseTask(model, head, bins=bins if head == "class" else None, lr=3e-3)
    few = s.subset(32, seed=0)  # the same 32 patches every step: the loss must fall fast
    h = fit(task, ResidentBatches(few, 32, value_range=(0, 1)), steps=30, log_every=5, progress=False)
    loss = h.values["loss"]
    assert len(loss) == 6 and loss[-1] < {"l2": 0.7, "class": 0.92}[head] * loss[0], loss  # measured 0.33, 0.89
    assert set(h.values) == {"loss", "saturation"} and 0 < h.last("saturation") < 5
    out = task.step(s.images[:4], fit_ctx())  # uint8 batches work too, and what comes back is detached
    assert all(not v.requires_grad and v.dim() == 0 for v in out.values())


def fit_ctx():
    from genimg_course.train import StepContext

    return StepContext(torch.device("cpu"), None)


def test_rebalanced_loss_is_zhangs_weighted_mean_not_a_normalised_one(patches):
    s, bins = patches
    torch.manual_seed(0)
    model = UNet(1, len(bins), width=8, depth=2)
    x = s.images[:8].float() / 255
    lab = C.rgb_to_lab(x)
    with torch.no_grad():
        logits = model(lab[:, :1] / 100)
        target = bins.encode(lab[:, 1:])
        ce = F.cross_entropy(logits, target, reduction="none")
        w = bins.class_weights()
        got = C.ColouriseTask(model, "class", bins).losses(x)["loss"]
        plain = C.ColouriseTask(model, "class", bins, rebalance=False).losses(x)["loss"]
    assert torch.allclose(got, (w[target] * ce).mean(), rtol=1e-4)
    assert not torch.allclose(got, F.cross_entropy(logits, target, weight=w), rtol=1e-3)
    assert torch.allclose(plain, ce.mean(), rtol=1e-4)


# ---- colourising and measuring -------------------------------------------------------------------

def _grey_model(head: str, bins=None) -> UNet:
    """A UNet whose head outputs ab = 0 ("l2") or logits that pick the bin nearest grey ("class")."""
    m = UNet(1, 2 if head == "l2" else len(bins), width=8, depth=2)
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.zero_()
        if head == "class":
            m.head.bias[bins.centres.norm(dim=1).argmin()] = 50.0
    return m


def test_colourise_keeps_L_and_restores_the_mode(patches):
    s, bins = patches
    x = s.images[:6].float() / 255
    m = _grey_model("l2")
    m.train()
    out = C.colourise(m, "l2", x)
    assert m.training and out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    lab_out, lab_in = C.rgb_to_lab(out), C.rgb_to_lab(x)
    assert (lab_out[:, 0] - lab_in[:, 0]).abs().max() < 0.05 and lab_out[:, 1:].abs().max() < 0.05
    m.eval()
    grey_in = C.colourise(m, "l2", lab_to_grey(lab_in))  # a grey (B, 1, H, W) input of the same L
    assert not m.training and (grey_in - out).abs().max() < 1e-4
    mc = _grey_model("class", bins)
    nearest = bins.centres[bins.centres.norm(dim=1).argmin()]
    assert (C.rgb_to_lab(C.colourise(mc, "class", x, bins))[:, 1:].mean((0, 2, 3)) - nearest).abs().max() < 1.5


def lab_to_grey(lab: torch.Tensor) -> torch.Tensor:
    """The grey image (B, 1, H, W) with lightness L."""
    return C.lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1))[:, :1]


def test_saturation_ratio_is_one_for_the_truth_zero_for_grey_and_half_for_half_the_chroma(patches):
    s, _ = patches
    x = s.images[:32].float() / 255
    lab = C.rgb_to_lab(x)
    assert abs(C.saturation_ratio(x, x) - 1) < 1e-6
    assert C.saturation_ratio(lab_to_grey(lab).expand(-1, 3, -1, -1), x) < 1e-3
    half = C.lab_to_rgb(torch.cat([lab[:, :1], lab[:, 1:] / 2], 1))
    assert abs(C.saturation_ratio(half, x) - 0.5) < 0.02
    assert C.chroma(x).shape == (32,) and (C.chroma(x) > 0).all()


def test_evaluate_colouriser_rows(patches):
    s, bins = patches
    clean = s.images[::24][:32].float() / 255
    rows = C.evaluate_colouriser({"l2": (_grey_model("l2"), "l2"), "class": (_grey_model("class", bins), "class", 1.0)},
                                 clean, bins=bins)
    assert [r["method"] for r in rows] == ["grey", "train mean colour", "l2", "class"]
    assert [r["kind"] for r in rows] == ["baseline", "baseline", "model", "model"]
    assert all(set(r) == {"method", "kind", "psnr", "ssim", "saturation_ratio", "n"} and r["n"] == 32 for r in rows)
    grey, mean, l2, _ = rows
    assert grey["saturation_ratio"] < 1e-3 and mean["saturation_ratio"] > 0.1
    assert abs(l2["psnr"] - grey["psnr"]) < 0.01 and abs(l2["ssim"] - grey["ssim"]) < 1e-3  # ab = 0 is the grey row
    assert [r["method"] for r in C.evaluate_colouriser({}, clean)] == ["grey"]


# ---- bad input -----------------------------------------------------------------------------------

def test_bad_images_are_named_with_what_fits():
    with pytest.raises(ValueError, match=r"RGB images \(B, 3, H, W\), got shape \(2, 1, 8, 8\).*grey image"):
        C.rgb_to_lab(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"channels go second"):
        C.chroma(torch.rand(2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide by 255"):
        C.rgb_to_lab(torch.rand(2, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match=r"\[0, 1\].*\(x \+ 1\) / 2"):
        C.saturation_ratio(torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        C.rgb_to_lab(torch.full((1, 3, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="float tensor"):
        C.rgb_to_lab(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"torch.cat\(\[L, ab\]"):
        C.lab_to_rgb(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="grey"):
        C.saturation_ratio(torch.rand(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5))
    with pytest.raises(ValueError, match=r"RGB \(B, 3, H, W\) or grey \(B, 1, H, W\)"):
        C.colourise(UNet(1, 2, width=8), "l2", torch.rand(1, 2, 8, 8))


def test_bad_heads_bins_and_models_are_refused_at_construction(patches):
    s, bins = patches
    Q = len(bins)
    with pytest.raises(ValueError, match=r"head must be 'l2' .* or 'class'.*got 'mse'"):
        C.ColouriseTask(UNet(1, 2, width=8), "mse")
    with pytest.raises(ValueError, match=r"'class' head needs the colour bins: bins = ColourBins.fit"):
        C.ColouriseTask(UNet(1, Q, width=8), "class")
    with pytest.raises(ValueError, match=rf"Q = {Q} output channels .*with 2 output channels.*UNet\(1, {Q}"):
        C.ColouriseTask(UNet(1, 2, width=8), "class", bins=bins)
    with pytest.raises(ValueError, match=rf"'l2' needs 2 output channels .*got a model with {Q}"):
        C.ColouriseTask(UNet(1, Q, width=8), "l2")
    with pytest.raises(ValueError, match=r"1 input channel .*in_channels=3"):
        C.ColouriseTask(UNet(3, 2, width=8), "l2")
    with pytest.raises(TypeError, match="bins must be a ColourBins"):
        C.colourise(UNet(1, Q, width=8), "class", torch.rand(1, 3, 8, 8), bins=bins.state_dict())
    with pytest.raises(ValueError, match=rf"Q = {Q} output channels"):
        C.evaluate_colouriser({"c": (UNet(1, 2, width=8), "class")}, torch.rand(2, 3, 8, 8), bins=bins)
    with pytest.raises(TypeError, match=r"\(model, head\)"):
        C.evaluate_colouriser({"c": UNet(1, 2, width=8)}, torch.rand(2, 3, 8, 8))
    # a network without an out_channels attribute: its first output is checked (shape only)
    task = C.ColouriseTask(nn.Sequential(nn.Conv2d(1, 5, 1)), "class", bins=bins)
    with pytest.raises(ValueError, match=rf"Q = {Q} output channels .*got a model with 5"):
        task.step(s.images[:2], fit_ctx())


def test_bad_bin_arguments_are_named(patches):
    _, bins = patches
    with pytest.raises(ValueError, match=r"logits \(B, Q, H, W\) with Q = \d+ channels"):
        bins.decode(torch.randn(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"pass lab\[:, 1:\]"):
        bins.encode(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        bins.decode(torch.randn(1, len(bins), 4, 4), -0.1)
    with pytest.raises(ValueError, match="lam must be a number >= 0 and <= 1"):
        bins.class_weights(lam=1.5)
    with pytest.raises(ValueError, match="grid must be a number >= 2"):
        C.ColourBins.fit(_two_colours(), grid=1)
    with pytest.raises(ValueError, match=r"only 1 colour bin"):
        C.ColourBins.fit(torch.full((2, 3, 4, 4), 0.5))
    with pytest.raises(ValueError, match="ColourBins.state_dict"):
        C.ColourBins.from_state({"centres": bins.centres})


# ---- the ambiguous-tint toy ----------------------------------------------------------------------

def test_ambiguous_tints_keep_texture_and_give_the_predicted_saturations(patches):
    s, _ = patches
    x = s.images[:200].float() / 255
    t = C.ambiguous_tints(x, seed=0)
    lab, lab_x = C.rgb_to_lab(t), C.rgb_to_lab(x)
    assert t.shape == x.shape and lab[:, 0].min() > 60.9 and lab[:, 0].max() < 79.1
    assert torch.allclose(lab[:, 0], 61 + 0.18 * lab_x[:, 0], atol=0.05)  # L squeezed, texture kept
    bins = C.ColourBins.fit(t)
    assert len(bins) == 2 and {tuple(c) for c in bins.centres.tolist()} == {(20.0, 30.0), (-20.0, -30.0)}
    p = bins.prior[bins.centres[:, 0] > 0].item()
    assert abs(p - 0.7) < 0.08  # 200 draws
    mean_tint = C.lab_to_rgb(torch.cat([lab[:, :1], bins.mean_ab[None, :, None, None].expand(200, -1, 16, 16)], 1))
    assert abs(C.saturation_ratio(mean_tint, t) - (2 * p - 1)) < 0.01  # the L2 optimum: |Σ p_k t_k| / |t|
    logits = bins.prior.log()[None, :, None, None].expand(200, -1, 16, 16)  # a head that learned p exactly
    annealed = C.lab_to_rgb(torch.cat([lab[:, :1], bins.decode(logits, 0.38)], 1))
    q = p ** (1 / 0.38) / (p ** (1 / 0.38) + (1 - p) ** (1 / 0.38))
    assert abs(C.saturation_ratio(annealed, t) - (2 * q - 1)) < 0.01
    assert not torch.equal(t, C.ambiguous_tints(x, seed=1))


def test_ambiguous_tints_refuse_tints_outside_the_gamut_and_bad_probabilities():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(-20, -30\) leaves the sRGB gamut at L from \d+ to \d+"):
        C.ambiguous_tints(x, lightness=(40, 79))
    with pytest.raises(ValueError, match="probs must be 2 numbers >= 0 summing to 1"):
        C.ambiguous_tints(x, probs=(0.7, 0.2))
    with pytest.raises(ValueError, match=r"at least two \(a, b\) pairs"):
        C.ambiguous_tints(x, tints=((20, 30),), probs=(1.0,))
