"""Colourisation (lesson 06): grey → colour, and why an L2 loss paints in sepia.

A colouriser sees only the lightness ``L`` of a photo (CIE Lab) and predicts its two colour
channels ``ab``. Many colours share one lightness (a grey pixel may be a red or a green apple), so
the *mean* of the plausible colours — what an L2 (MSE) loss is minimised by — lies near the middle
of the ab plane: washed out, brownish, "sepia". Zhang, Isola & Efros (ECCV 2016) instead treat ab as
a classification over quantised colours and take the *annealed mean* of the predicted distribution,
which keeps a colour's vividness without the mode's speckle.

* :func:`rgb_to_lab` / :func:`lab_to_rgb`: sRGB (D65) ↔ Lab in torch, differentiable, on any device,
  with scikit-image's constants (``rgb2lab`` / ``lab2rgb``).
* :class:`ColourBins`: the ab plane cut into ``grid``×``grid`` squares, keeping the squares that the
  training images use (:meth:`ColourBins.fit`), their empirical prior, hard :meth:`~ColourBins.encode`,
  annealed-mean :meth:`~ColourBins.decode` and Zhang's rebalancing :meth:`~ColourBins.class_weights`.
* :class:`ColouriseTask`: the training step for :func:`genimg_course.train.fit` with an ``"l2"`` head
  (the network outputs ``ab / 110``) or a ``"class"`` head (``Q`` logits per pixel).
* :func:`colourise`, :func:`chroma`, :func:`saturation_ratio`, :func:`evaluate_colouriser`, and
  :func:`ambiguous_tints`: a toy whose colours L cannot tell, where the L2 mean is known exactly.

Measured (2 shared CPU cores, ``torch.set_num_threads(1)``; photo patches 32×32, train: astronaut,
coffee, rocket at stride 8, 2,523 patches; test: chelsea at stride 32, 64 patches):

* ``ColourBins.fit`` keeps Q = 74 bins at grid 10 (245 at grid 5, 37 at 15, 26 at 20; Zhang et al.
  keep 313 on ImageNet); Lab agrees with scikit-image to 5e-5 (rgb2lab) and 2e-6 (lab2rgb).
* ``UNet(1, K, width=24, depth=2)``, batch 64, Adam 1e-3, 90 s each (l2: 190 steps; class, Q = 74,
  rebalanced: 168 steps), rows of :func:`evaluate_colouriser` on chelsea (PSNR dB / SSIM / saturation):

  ====================== ===== ===== =====
  grey (ab = 0)          19.0  0.929 0.00
  train mean colour      25.5  0.952 0.71
  l2                     21.7  0.860 1.59
  class, T = 1 (mean)    25.2  0.946 1.33
  class, T = 0.38        21.3  0.871 1.69
  class, T = 0.2         18.8  0.813 1.94
  class, T = 0 (mode)    16.9  0.769 2.17
  class unbalanced, 0.38 19.9  0.824 1.62
  ====================== ===== ===== =====

  The class head at T = 0.38 is the more saturated here, but not clearly: over seeds 0, 1, 2 (about
  180 steps each) l2 gives 1.59 / 2.09 / 1.25 and class 1.69 / 2.18 / 1.94 (× 1.06 / 1.04 / 1.55);
  after 600 steps they tie (2.06 and 2.04), and at grid 5 (Q = 245) class falls below (1.48). The
  networks learn the three training photos (saturation 0.83-1.16 on them) and paint the cat in their
  skin and coffee tones, *more* saturated than it is: three photos hold too little ambiguity for the
  L2 mean to show. What holds on photos is the PSNR lesson: the constant training mean colour scores
  best (25.5 dB) while looking sepia (0.71), and T = 1 beats T = 0.38 by 4-5 dB (all three seeds).
* :func:`ambiguous_tints` on the same patches (675 train at stride 16, tints (20, 30) with p = 0.7
  and (−20, −30), 100 steps each, ≈ 60 s): l2 0.43 (the mean tint: 0.43 for the fitted prior
  0.713), class unbalanced T = 1 0.43, T = 0.38 0.83, T = 0.2 0.98, mode 1.00; rebalanced T = 0.38
  0.57, T = 1 0.24 (the weights move probability to the rare tint).

The shipped colourisers (:func:`load_colouriser`, made by ``tools/make_restore_weights.py``) learn from
the seven photos of :data:`genimg_course.restore.PHOTO_TRAIN` (or their tinted versions); each file
records its own rows on chelsea.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .models._checks import check_bool, check_int, check_module, check_number, check_tensor, describe
from .restore import ImageTask
from .train import StepContext, evaluating

__all__ = ["rgb_to_lab", "lab_to_rgb", "ColourBins", "ColouriseTask", "HEADS", "AB_SCALE", "colourise", "chroma",
           "saturation_ratio", "evaluate_colouriser", "ambiguous_tints",
           "SHIPPED_COLOURISERS", "load_colouriser"]

HEADS = ("l2", "class")
AB_SCALE = 110.0  # the l2 head predicts ab / 110: sRGB colours have |a|, |b| < 110

# sRGB (D65) → CIE XYZ, and the D65 white point for the 2° observer: scikit-image's constants
_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------

def _rgb_batch(x: Any, what: str) -> torch.Tensor:
    """A float ``(B, 3, H, W)`` batch in [0, 1], finite. Reads the values (one host sync)."""
    check_tensor(what, x, dim=4, floating=True)
    if x.shape[1] != 3:
        hint = (": a grey image has 1 channel; colourise() takes it as it is" if x.shape[1] == 1 else
                ": channels go second, (B, C, H, W)" if x.shape[-1] == 3 else "")
        raise ValueError(f"{what} must be RGB images (B, 3, H, W), got shape {tuple(x.shape)}{hint}")
    _range(x, what)
    return x


def _range(x: torch.Tensor, what: str) -> None:
    lo, hi = (float(v) for v in torch.aminmax(x.detach().float()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} contain NaN or inf (values from {lo} to {hi}): expected images in [0, 1]")
    if lo < 0.0 or hi > 1.0:
        hint = ("values above 1 look like 0..255 pixels: divide by 255" if hi > 1.0 else
                "values below 0 look like [-1, 1] images: use (x + 1) / 2, or ResidentBatches(..., value_range=(0, 1))")
        raise ValueError(f"{what} must lie in [0, 1], got values from {lo:.3g} to {hi:.3g}: {hint}")


def _head(head: Any, who: str) -> str:
    if head not in HEADS:
        raise ValueError(f"{who}: head must be 'l2' (regress ab, MSE) or 'class' (classify quantised colours, "
                         f"Zhang et al. 2016), got {head!r}")
    return head


def _need_bins(head: str, bins: Any, who: str) -> "ColourBins | None":
    if head == "class":
        if bins is None:
            raise ValueError(f"{who}: the 'class' head needs the colour bins: bins = ColourBins.fit(train_images), "
                             "then pass bins=bins")
        if not isinstance(bins, ColourBins):
            raise TypeError(f"{who}: bins must be a ColourBins (ColourBins.fit(train_images)), got {describe(bins)}")
    return bins


def _expected_channels(head: str, bins: "ColourBins | None") -> int:
    return 2 if head == "l2" else len(bins)


def _check_model_channels(model: nn.Module, head: str, bins: "ColourBins | None", who: str) -> None:
    """From the model's ``in_channels`` / ``out_channels`` attributes when it has them (the UNet has)."""
    c_in, c_out = getattr(model, "in_channels", None), getattr(model, "out_channels", None)
    if isinstance(c_in, int) and c_in != 1:
        raise ValueError(f"{who}: the model must take 1 input channel (the lightness L / 100), got a model with "
                         f"in_channels={c_in}: build it as UNet(in_channels=1, ...)")
    if isinstance(c_out, int):
        _check_output_channels(c_out, head, bins, who)


def _check_output_channels(c_out: int, head: str, bins: "ColourBins | None", who: str) -> None:
    want = _expected_channels(head, bins)
    if c_out != want:
        what = ("2 output channels (a, b) / 110" if head == "l2" else
                f"one logit per colour bin: Q = {want} output channels (len(bins))")
        fix = "UNet(1, 2, ...)" if head == "l2" else f"UNet(1, len(bins)) = UNet(1, {want}, ...)"
        raise ValueError(f"{who}: head {head!r} needs {what}, got a model with {c_out} output channels: "
                         f"build it as {fix}")


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# sRGB ↔ CIE Lab
# ----------------------------------------------------------------------------------------------

def _rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """No checks: ``(B, 3, H, W)`` in [0, 1] → Lab, computed in float32 (float64 stays float64)."""
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(dt)
    lin = torch.where(x > 0.04045, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)  # undo the sRGB gamma
    m = (_XYZ_FROM_RGB / _WHITE[:, None]).to(x.device, dt)  # XYZ relative to the white point
    t = torch.einsum("ij,bjhw->bihw", m, lin)
    # f(t) = t^(1/3) above (6/29)^3, a line below it (the clamp keeps the unused branch's gradient finite)
    f = torch.where(t > 0.008856, t.clamp_min(0.008856) ** (1 / 3), 7.787 * t + 16 / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)  # L, a, b


def _lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """No checks: Lab ``(B, 3, H, W)`` → RGB clipped to [0, 1]."""
    dt = torch.float64 if lab.dtype == torch.float64 else torch.float32
    lab = lab.to(dt)
    fy = (lab[:, 0] + 16) / 116
    fx = lab[:, 1] / 500 + fy
    fz = (fy - lab[:, 2] / 200).clamp_min(0)  # scikit-image sets the invalid z < 0 to 0
    f = torch.stack([fx, fy, fz], dim=1)
    t = torch.where(f > 0.2068966, f ** 3, (f - 16 / 116) / 7.787)  # f⁻¹
    m = (_RGB_FROM_XYZ * _WHITE[None, :]).to(lab.device, dt)
    lin = torch.einsum("ij,bjhw->bihw", m, t)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, 12.92 * lin)  # sRGB gamma
    return rgb.clamp(0, 1)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB ``(B, 3, H, W)`` float in [0, 1] (D65) → CIE Lab ``(B, 3, H, W)``: ``L`` in [0, 100], ``a`` and
    ``b`` within about ±110 (sRGB reaches a ∈ [-86, 98], b ∈ [-108, 95]). Differentiable, on ``x``'s
    device, float32 (float64 in, float64 out). Same constants as ``skimage.color.rgb2lab``. Reads the
    values once to check the range (one host sync)."""
    return _rgb_to_lab(_rgb_batch(x, "rgb_to_lab: x"))


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab ``(B, 3, H, W)`` → sRGB ``(B, 3, H, W)`` clipped to [0, 1] (colours outside the sRGB gamut
    are clipped, as ``skimage.color.lab2rgb`` does). Differentiable inside the gamut."""
    check_tensor("lab", lab, "lab_to_rgb", dim=4, floating=True)
    if lab.shape[1] != 3:
        raise ValueError("lab_to_rgb expects Lab images (B, 3, H, W) with channels L, a, b, got shape "
                         f"{tuple(lab.shape)}"
                         + (": join L and ab with torch.cat([L, ab], dim=1)" if lab.shape[1] in (1, 2) else ""))
    if not bool(torch.isfinite(lab).all()):
        raise ValueError("lab_to_rgb: lab contains NaN or inf")
    return _lab_to_rgb(lab)


# ----------------------------------------------------------------------------------------------
# Quantised colours (Zhang, Isola & Efros 2016, §2.1)
# ----------------------------------------------------------------------------------------------

_AB_REACH = 128.0  # the lookup table covers a, b in [-128, 128]


class ColourBins:
    """The ab plane cut into ``grid``×``grid`` squares centred on multiples of ``grid``; the ``Q`` squares
    the training images use are the classes of the ``"class"`` head.

    ``centres``: ``(Q, 2)`` float, the bins' (a, b); ``prior``: ``(Q,)``, the fraction of training pixels
    in each bin (sums to 1); ``mean_ab``: ``(2,)``, the training pixels' mean colour. Build it with
    :meth:`fit`; save it with :meth:`state_dict` and load it with :meth:`from_state` (plain tensors:
    ``torch.load(..., weights_only=True)`` reads them). The tensors live on the CPU; :meth:`encode`
    and :meth:`decode` work on any device (copies are kept per device)."""

    def __init__(self, centres: torch.Tensor, prior: torch.Tensor, grid: float = 10.0,
                 mean_ab: torch.Tensor | None = None) -> None:
        grid = check_number("grid", grid, low=2, high=64)
        centres = check_tensor("centres", centres, "ColourBins", dim=2, floating=True)
        if centres.shape[1] != 2:
            raise ValueError(f"ColourBins: centres must have shape (Q, 2), one (a, b) per bin, "
                             f"got {tuple(centres.shape)}")
        prior = check_tensor("prior", prior, "ColourBins", dim=1, floating=True)
        if prior.shape[0] != centres.shape[0]:
            raise ValueError(f"ColourBins: prior must have one value per bin ({centres.shape[0]}), "
                             f"got shape {tuple(prior.shape)}")
        if not bool(torch.isfinite(prior).all()) or bool((prior < 0).any()) or not float(prior.sum()) > 0:
            raise ValueError("ColourBins: prior must be finite, >= 0 and not all 0 (the bins' training frequencies)")
        if not bool(torch.isfinite(centres).all()) or float(centres.abs().max()) > _AB_REACH:
            raise ValueError(f"ColourBins: centres must be finite (a, b) within ±{_AB_REACH:g}")
        self.grid = grid
        self.centres = centres.detach().float().cpu().contiguous()
        self.prior = (prior.detach().float() / prior.sum()).cpu()
        self.mean_ab = (self.prior @ self.centres if mean_ab is None else
                        check_tensor("mean_ab", mean_ab, "ColourBins", dim=1, floating=True).detach().float().cpu())
        if self.mean_ab.shape != (2,):
            raise ValueError(f"ColourBins: mean_ab must have shape (2,), got {tuple(self.mean_ab.shape)}")
        self._k = math.ceil(_AB_REACH / grid)  # cells k = -K..K along a and along b
        self._lut = self._table()
        self._cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _table(self) -> torch.Tensor:
        """For every grid cell, the index of the nearest kept bin (a kept cell is its own bin)."""
        k = torch.arange(-self._k, self._k + 1, dtype=torch.float32) * self.grid
        cells = torch.stack(torch.meshgrid(k, k, indexing="ij"), -1).reshape(-1, 2)  # (n², 2), a-major
        return torch.cdist(cells, self.centres).argmin(1)  # (n²,)

    def __len__(self) -> int:
        """Q, the number of bins (the class head's output channels)."""
        return self.centres.shape[0]

    def __repr__(self) -> str:
        return f"ColourBins(Q={len(self)}, grid={self.grid:g})"

    @classmethod
    def fit(cls, images: Any, grid: float = 10, min_count: int = 1, batch_size: int = 256) -> "ColourBins":
        """The bins of ``grid``×``grid`` ab squares holding at least ``min_count`` pixels of the training
        ``images`` (uint8 ``(N, 3, H, W)`` 0..255, float in [0, 1], or an ``ImageSet``), and their prior."""
        from .data import ImageSet

        if isinstance(images, ImageSet):
            images = images.images
        if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
            check_tensor("images", images, "ColourBins.fit", dim=4)
            if images.shape[1] != 3:
                raise ValueError(f"ColourBins.fit: images must be RGB (N, 3, H, W), got shape {tuple(images.shape)}")
            scale = 1 / 255
        else:
            _rgb_batch(images, "ColourBins.fit: images")
            scale = 1.0
        grid = check_number("grid", grid, low=2, high=64)
        min_count = check_int("min_count", min_count, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        k = math.ceil(_AB_REACH / grid)
        n = 2 * k + 1
        counts = torch.zeros(n * n, dtype=torch.float64)
        ab_sum = torch.zeros(2, dtype=torch.float64)
        for i in range(0, images.shape[0], batch_size):
            ab = _rgb_to_lab(images[i:i + batch_size].float().cpu() * scale)[:, 1:]  # (b, 2, H, W)
            ab_sum += ab.double().sum((0, 2, 3))
            cell = _cells(ab, grid, k)
            counts += torch.bincount(cell.flatten(), minlength=n * n).double()
        kept = (counts >= min_count).nonzero()[:, 0]
        if kept.numel() < 2:
            raise ValueError(f"ColourBins.fit: only {kept.numel()} colour bin(s) hold >= {min_count} pixels: "
                             "grey images, or min_count too high? The class head needs at least 2 colours")
        centres = torch.stack([kept // n - k, kept % n - k], 1).float() * grid  # (Q, 2)
        return cls(centres, counts[kept].float(), grid, (ab_sum / counts.sum()).float())

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._cache:
            self._cache[device] = (self._lut.to(device), self.centres.to(device))
        return self._cache[device]

    def encode(self, ab: torch.Tensor) -> torch.Tensor:
        """``ab (B, 2, H, W)`` → the nearest bin's index ``(B, H, W)`` (int64): exact for colours in a kept
        square; a colour in a square no training pixel used goes to the bin nearest that square's centre.
        A table look-up on ``ab``'s device (no host sync)."""
        check_tensor("ab", ab, "ColourBins.encode", dim=4, floating=True)
        if ab.shape[1] != 2:
            raise ValueError(f"ColourBins.encode expects ab (B, 2, H, W), got shape {tuple(ab.shape)}"
                             + (": pass lab[:, 1:], not the whole Lab image" if ab.shape[1] == 3 else ""))
        lut, _ = self._on(ab.device)
        return lut[_cells(ab, self.grid, self._k)]

    def decode(self, logits: torch.Tensor, temperature: float = 0.38) -> torch.Tensor:
        """``logits (B, Q, H, W)`` → ``ab (B, 2, H, W)``: the annealed mean (Zhang et al. eq. 5),
        ``Σ_q f_T(p)_q c_q`` with ``f_T(p) = softmax(log p / T)``. ``T = 1``: the mean of the predicted
        distribution (L2's washed-out answer); ``T → 0``: its mode (vivid, but patchy); ``T = 0`` takes
        the arg max exactly. Zhang et al. use 0.38."""
        check_tensor("logits", logits, "ColourBins.decode", dim=4, floating=True)
        if logits.shape[1] != len(self):
            raise ValueError(f"ColourBins.decode expects logits (B, Q, H, W) with Q = {len(self)} channels "
                             f"(one per bin), got shape {tuple(logits.shape)}")
        temperature = check_number("temperature", temperature, low=0)
        _, centres = self._on(logits.device)
        if temperature == 0:  # the mode
            return centres[logits.argmax(1)].permute(0, 3, 1, 2)
        p = torch.softmax(logits.float() / temperature, dim=1)  # softmax(log p / T) = softmax(z / T)
        return torch.einsum("bqhw,qc->bchw", p, centres)  # Σ_q f_T(p)_q · c_q

    def smoothed_prior(self, sigma: float = 5.0) -> torch.Tensor:
        """``p̃ (Q,)``: the prior blurred by a Gaussian of ``sigma`` ab units over the bins' centres, sums to 1."""
        sigma = check_number("sigma", sigma, low=0)
        if sigma == 0:
            return self.prior.clone()
        d2 = torch.cdist(self.centres, self.centres) ** 2
        p = torch.exp(-d2 / (2 * sigma ** 2)) @ self.prior  # p̃_q ∝ Σ_r exp(-|c_q - c_r|² / 2σ²) p_r
        return p / p.sum()

    def class_weights(self, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
        """Zhang et al.'s rebalancing weights ``(Q,)`` (eq. 4): ``w ∝ ((1 - λ) p̃ + λ / Q)⁻¹``, scaled so
        that ``Σ_q p̃_q w_q = 1`` (the expected weight under the smoothed prior is 1: the loss keeps
        its scale). Rare colours weigh more; ``lam=1`` gives all bins weight 1."""
        lam = check_number("lam", lam, low=0, high=1)
        p = self.smoothed_prior(sigma)
        w = 1 / ((1 - lam) * p + lam / len(self))  # w ∝ ((1 - λ) p̃ + λ/Q)⁻¹
        return w / (p * w).sum()  # E_p̃[w] = 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors: ``centres``, ``prior``, ``grid``, ``mean_ab`` (safe for ``weights_only=True``)."""
        return {"centres": self.centres.clone(), "prior": self.prior.clone(), "grid": torch.tensor(self.grid),
                "mean_ab": self.mean_ab.clone()}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> "ColourBins":
        """The bins saved by :meth:`state_dict`."""
        if not isinstance(d, dict) or not {"centres", "prior", "grid"} <= set(d):
            raise ValueError("ColourBins.from_state expects the dict of ColourBins.state_dict() (centres, prior, "
                             f"grid, mean_ab), got {describe(d) if not isinstance(d, dict) else sorted(d)}")
        return cls(d["centres"], d["prior"], float(d["grid"]), d.get("mean_ab"))


def _cells(ab: torch.Tensor, grid: float, k: int) -> torch.Tensor:
    """The grid cell of each ab pixel ``(B, H, W)``: a-major index into the ``(2k+1)²`` cells."""
    q = torch.round(ab.float() / grid).long().clamp_(-k, k) + k  # (B, 2, H, W)
    return q[:, 0] * (2 * k + 1) + q[:, 1]


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def _full_precision(x: torch.Tensor) -> Any:
    """Autocast off on ``x``'s device: colour conversions and losses in float32."""
    return torch.autocast(x.device.type, enabled=False)


def _ab_chroma(ab: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(ab[:, 0] ** 2 + ab[:, 1] ** 2 + 1e-12)  # C = √(a² + b²), (B, H, W)


class ColouriseTask(ImageTask):
    """One step of learning ``L → ab`` for :func:`genimg_course.train.fit`. A batch of clean colour images
    (float ``(B, 3, H, W)`` in [0, 1], uint8 0..255, or an ``(x, y)`` pair from ``ResidentBatches``) is
    turned into Lab on the device inside the step; the model sees ``L / 100`` ``(B, 1, H, W)``.

    * ``head="l2"``: the model outputs ``ab / 110`` ``(B, 2, H, W)``; loss = MSE.
    * ``head="class"``: the model outputs ``Q = len(bins)`` logits ``(B, Q, H, W)``; loss = cross-entropy
      against ``bins.encode(ab)``, each pixel weighted by ``bins.class_weights()`` of its true bin when
      ``rebalance`` (Zhang et al. eq. 2 and 4).

    Logs ``loss`` and ``saturation``: the batch's mean chroma ``√(a² + b²)`` of the prediction over
    the target's (the class head's prediction decoded at ``temperature``). The first batch's range is
    checked once (one host sync); later steps never sync."""

    def __init__(self, model: nn.Module, head: str = "l2", bins: ColourBins | None = None, lr: float = 1e-3,
                 rebalance: bool = True, temperature: float = 0.38, lam: float = 0.5, sigma: float = 5.0) -> None:
        check_module("model", model, "ColouriseTask")
        head = _head(head, "ColouriseTask")
        bins = _need_bins(head, bins, "ColouriseTask")
        check_bool(rebalance=rebalance)
        lr = check_number("lr", lr, low=0, low_open=True)
        self.temperature = check_number("temperature", temperature, low=0)
        _check_model_channels(model, head, bins, "ColouriseTask")
        self.head, self.bins, self.rebalance = head, bins, rebalance
        self._setup(model, lr)
        dev = next(model.parameters()).device
        self._weights = (bins.class_weights(lam, sigma).to(dev) if head == "class" and rebalance else None)

    def _check_first(self, x: torch.Tensor) -> None:
        _rgb_batch(x, "ColouriseTask: the clean training images")

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad(), _full_precision(x):  # Lab in float32 even under bf16 autocast
            lab = _rgb_to_lab(x)
        L, ab = lab[:, :1], lab[:, 1:]
        out = self.model(L / 100)  # the model sees L / 100 in [0, 1]
        if out.shape[1] != _expected_channels(self.head, self.bins) or out.shape[2:] != x.shape[2:]:
            _check_output_channels(out.shape[1], self.head, self.bins, "ColouriseTask")
            raise ValueError(f"ColouriseTask: the model returned shape {tuple(out.shape)} for images {tuple(x.shape)}: "
                             "the output must keep H and W")
        with _full_precision(x):
            out = out.float()
            if self.head == "l2":
                loss = F.mse_loss(out, ab / AB_SCALE)  # (1/N) Σ (âb/110 - ab/110)²
                pred_ab = out.detach() * AB_SCALE
            else:
                target = self.bins.encode(ab)  # (B, H, W) bin indices
                ce = F.cross_entropy(out, target, reduction="none")  # -log p̂(q* | L) per pixel
                # L = -(1/HW) Σ_hw w_{q*(hw)} log p̂(q*(hw)): Zhang's weighting, not F.cross_entropy(weight=)'s
                # weighted mean, which divides by Σ w and so undoes part of the rebalancing
                loss = (self._weights.to(ce.device)[target] * ce).mean() if self._weights is not None else ce.mean()
                with torch.no_grad():
                    pred_ab = self.bins.decode(out.detach(), self.temperature)
            sat = _ab_chroma(pred_ab).mean() / _ab_chroma(ab).mean().clamp_min(1e-6)  # mean C(pred) / mean C(true)
        return {"loss": loss, "saturation": sat.detach()}

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x = self._clean(batch)
        self.model.train()
        with ctx.autocast():
            out = self.losses(x)
        ctx.update(out["loss"], self.optimizers["model"])
        return {k: v.detach() for k, v in out.items()}


# ----------------------------------------------------------------------------------------------
# Colourising, measuring
# ----------------------------------------------------------------------------------------------

def _lightness(rgb_or_grey: Any, who: str) -> torch.Tensor:
    """``L (B, 1, H, W)`` in [0, 100] of RGB ``(B, 3, H, W)`` or grey ``(B, 1, H, W)`` images in [0, 1]."""
    x = check_tensor("images", rgb_or_grey, who, dim=4, floating=True)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{who} expects RGB (B, 3, H, W) or grey (B, 1, H, W) images in [0, 1], "
                         f"got shape {tuple(x.shape)}")
    _range(x, f"{who}: images")
    return _rgb_to_lab(x.expand(-1, 3, -1, -1))[:, :1]  # a grey image g is the colour (g, g, g)


@torch.no_grad()
def _predict_ab(model: nn.Module, head: str, L: torch.Tensor, bins: ColourBins | None, temperature: float,
                batch_size: int) -> torch.Tensor:
    dev = _model_device(model)
    out = []
    with evaluating(model):
        for i in range(0, L.shape[0], batch_size):
            y = model((L[i:i + batch_size] / 100).to(dev)).float()
            if y.shape[1] != _expected_channels(head, bins):
                _check_output_channels(y.shape[1], head, bins, "colourise")
            out.append((y * AB_SCALE if head == "l2" else bins.decode(y, temperature)).to(L.device))
    return torch.cat(out)


def colourise(model: nn.Module, head: str, rgb_or_grey: torch.Tensor, bins: ColourBins | None = None,
              temperature: float = 0.38, batch_size: int = 256) -> torch.Tensor:
    """Colour images ``(B, 3, H, W)`` in [0, 1]: the input's lightness L with the ab that ``model``
    predicts from it (``head`` ``"l2"`` or ``"class"``, decoded at ``temperature``), in eval mode and
    without gradients (the model's mode is put back afterwards). The input: RGB ``(B, 3, H, W)`` (only its
    L is used) or grey ``(B, 1, H, W)`` images in [0, 1] (a grey value g is the colour (g, g, g)); the
    result is on the input's device."""
    check_module("model", model, "colourise")
    head = _head(head, "colourise")
    bins = _need_bins(head, bins, "colourise")
    temperature = check_number("temperature", temperature, low=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    _check_model_channels(model, head, bins, "colourise")
    L = _lightness(rgb_or_grey, "colourise")
    ab = _predict_ab(model, head, L, bins, temperature, batch_size)
    return _lab_to_rgb(torch.cat([L, ab], dim=1)).float()


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """Per-image mean chroma ``√(a² + b²)`` (CIE Lab) of RGB images ``(B, 3, H, W)`` in [0, 1]: ``(B,)``.
    0 for a grey image; 26 for the chelsea test patches, 28 for the training patches."""
    _rgb_batch(rgb, "chroma: rgb")
    return _ab_chroma(_rgb_to_lab(rgb)[:, 1:]).flatten(1).mean(1)


def saturation_ratio(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean chroma of ``pred`` over mean chroma of ``target`` (both RGB ``(B, 3, H, W)`` in [0, 1]),
    over the whole batch: 1.0 is as colourful as the truth, 0 a grey image; an L2 colouriser scores well
    below 1."""
    _rgb_batch(pred, "saturation_ratio: pred")
    _rgb_batch(target, "saturation_ratio: target")
    if pred.shape != target.shape:
        raise ValueError(f"saturation_ratio: pred and target must have the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    t = float(chroma(target).mean())
    if t < 0.01:  # grey images give about 0.005 (the sRGB matrix's rows sum to the white point to 5 digits)
        raise ValueError(f"saturation_ratio: the target images are grey (mean chroma {t:.2g}): the ratio is undefined")
    return float(chroma(pred).mean()) / t


def evaluate_colouriser(models: dict[str, tuple], clean: torch.Tensor, bins: ColourBins | None = None,
                        temperature: float = 0.38, batch_size: int = 256) -> list[dict[str, Any]]:
    """Rows on held-out colour images ``clean`` (float ``(N, 3, H, W)`` in [0, 1]), each
    ``{"method", "kind", "psnr", "ssim", "saturation_ratio", "n"}`` (PSNR / SSIM on RGB through
    :func:`genimg_course.restore.psnr` / :func:`~genimg_course.restore.ssim`):

    * ``"grey"`` (kind ``"baseline"``): the true L with ab = 0, the colouriser's own input;
    * ``"train mean colour"`` (baseline, when ``bins`` are given): the true L with the training pixels'
      mean ab everywhere — what an L2 colouriser that ignored L would paint;
    * each of ``models`` (kind ``"model"``): ``name → (model, head)`` or ``(model, head, temperature)``
      (a class head decoded at that temperature instead of ``temperature``)."""
    from .restore import psnr, ssim

    if not isinstance(models, dict):
        raise TypeError(f"evaluate_colouriser: models must be a dict name → (model, head), got {describe(models)}")
    _rgb_batch(clean, "evaluate_colouriser: clean")
    temperature = check_number("temperature", temperature, low=0)
    if bins is not None and not isinstance(bins, ColourBins):
        raise TypeError(f"evaluate_colouriser: bins must be a ColourBins or None, got {describe(bins)}")
    plan = []
    for name, spec in models.items():
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise TypeError(f"evaluate_colouriser: models[{name!r}] must be (model, head) or "
                            f"(model, head, temperature), got {describe(spec)}")
        model, head, t = (*spec, temperature) if len(spec) == 2 else spec
        check_module("model", model, f"evaluate_colouriser: models[{name!r}]")
        head = _head(head, f"evaluate_colouriser: models[{name!r}]")
        _need_bins(head, bins, f"evaluate_colouriser: models[{name!r}]")
        _check_model_channels(model, head, bins, f"evaluate_colouriser: models[{name!r}]")
        plan.append((name, model, head, check_number("temperature", t, low=0)))
    lab = _rgb_to_lab(clean)
    L = lab[:, :1]
    outputs = [("grey", "baseline", torch.zeros_like(lab[:, 1:]))]
    if bins is not None:
        mean_ab = bins.mean_ab.to(clean.device)[None, :, None, None].expand_as(lab[:, 1:])
        outputs.append(("train mean colour", "baseline", mean_ab))
    for name, model, head, t in plan:
        outputs.append((name, "model", _predict_ab(model, head, L, bins, t, batch_size)))
    target_chroma = float(_ab_chroma(lab[:, 1:]).mean())
    rows = []
    for name, kind, ab in outputs:
        rgb = _lab_to_rgb(torch.cat([L, ab], dim=1)).float()
        sat = float(_ab_chroma(_rgb_to_lab(rgb)[:, 1:]).mean()) / max(target_chroma, 1e-6)
        rows.append({"method": name, "kind": kind, "psnr": psnr(rgb, clean.float()), "ssim": ssim(rgb, clean.float()),
                     "saturation_ratio": sat, "n": clean.shape[0]})
    return rows


def ambiguous_tints(rgb: torch.Tensor, tints: Any = ((20.0, 30.0), (-20.0, -30.0)), probs: Any = (0.7, 0.3),
                    lightness: tuple[float, float] = (61.0, 79.0), seed: int = 0) -> torch.Tensor:
    """A colourisation problem that L cannot answer: each image ``rgb (N, 3, H, W)`` in [0, 1] keeps its
    texture (its L squeezed linearly into ``lightness``) and is painted one flat colour, ``tints[k]`` (an
    ``(a, b)`` pair) with probability ``probs[k]``, drawn independently of the content with ``seed``.
    Returns RGB ``(N, 3, H, W)`` in [0, 1].

    The L2 optimum is the mean tint ``Σ_k p_k t_k``: for the defaults ``0.7 t − 0.3 t = 0.4 t``, a
    saturation ratio of 0.4 (a grey-brown "sepia"); a classification head learns ``p`` and its mode
    paints a real tint (ratio 1), its annealed mean at T = 0.38 gives ``(0.7^(1/T) − 0.3^(1/T)) /
    (0.7^(1/T) + 0.3^(1/T)) = 0.81``. Every tint must stay inside the sRGB gamut over ``lightness``:
    a clipped colour changes L, and L would then tell the network the tint."""
    x = _rgb_batch(rgb, "ambiguous_tints: rgb")
    t = torch.as_tensor(tints, dtype=torch.float32) if not isinstance(tints, torch.Tensor) else tints.float()
    if t.dim() != 2 or t.shape[1] != 2 or t.shape[0] < 2:
        raise ValueError(f"ambiguous_tints: tints must be at least two (a, b) pairs, got {describe(tints)}")
    p = torch.as_tensor(probs, dtype=torch.float64) if not isinstance(probs, torch.Tensor) else probs.double()
    if p.shape != (t.shape[0],) or bool((p < 0).any()) or abs(float(p.sum()) - 1) > 1e-6:
        raise ValueError(f"ambiguous_tints: probs must be {t.shape[0]} numbers >= 0 summing to 1 (one per tint), "
                         f"got {probs!r}")
    if not isinstance(lightness, (tuple, list)) or len(lightness) != 2:
        raise ValueError(f"ambiguous_tints: lightness must be a pair (low, high) within [0, 100], got {lightness!r}")
    lo, hi = (check_number(f"lightness[{i}]", v, low=0, high=100) for i, v in enumerate(lightness))
    if not lo < hi:
        raise ValueError(f"ambiguous_tints: lightness must be (low, high) with low < high, got {tuple(lightness)}")
    seed = check_int("seed", seed)
    Ls = torch.linspace(lo, hi, 33)
    for a, b in t.tolist():
        lab = torch.stack([Ls, torch.full_like(Ls, a), torch.full_like(Ls, b)]).view(1, 3, -1, 1)
        err = (_rgb_to_lab(_lab_to_rgb(lab)) - lab).abs().amax(1).flatten()
        if float(err.max()) > 0.05:
            bad = Ls[err > 0.05]
            raise ValueError(f"ambiguous_tints: the tint ({a:g}, {b:g}) leaves the sRGB gamut at L from "
                             f"{bad.min():.0f} to {bad.max():.0f}: a clipped colour changes L, which would tell the "
                             "network the tint. "
                             "Use a smaller tint or a narrower lightness range")
    g = torch.Generator().manual_seed(seed)
    k = torch.multinomial(p.float(), x.shape[0], replacement=True, generator=g).to(x.device)  # (N,) each image's tint
    L = lo + (hi - lo) * _rgb_to_lab(x)[:, :1] / 100  # texture kept, lightness squeezed into [lo, hi]
    ab = t.to(x.device)[k][:, :, None, None].expand(-1, -1, *x.shape[2:])
    return _lab_to_rgb(torch.cat([L, ab], dim=1)).to(x.dtype)


SHIPPED_COLOURISERS = ("colourise_l2_photo", "colourise_class_photo", "colourise_l2_tints", "colourise_class_tints")


def load_colouriser(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """A shipped colouriser (SHA-256 checked): ``"colourise_{l2,class}_photo"`` (trained on the photo
    patches of astronaut, coffee and rocket) or ``"colourise_{l2,class}_tints"`` (trained on their
    :func:`ambiguous_tints`), by ``tools/make_restore_weights.py``. The model carries ``head``, ``bins``
    (a :class:`ColourBins`; the L2 models' are the training patches' too, for the "train mean colour"
    row), ``temperature`` and ``info`` (steps, seconds, recipe, its rows of :func:`evaluate_colouriser`
    on the held-out patches)."""
    from .checkpoints import load_shipped
    from .models._checks import check_device
    from .models.unet import UNet

    if name not in SHIPPED_COLOURISERS:
        raise ValueError(f"unknown shipped colouriser {name!r}: expected one of {list(SHIPPED_COLOURISERS)}")
    device = check_device(device)
    state = load_shipped(name)
    model = UNet(**state["config"])
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})  # stored in float16
    model.head_kind, model.temperature = state["head"], state["temperature"]
    model.bins = ColourBins.from_state(state["bins"])
    model.info = {k: v for k, v in state.items() if k not in ("model", "config", "bins")}
    return model.to(device).eval()
