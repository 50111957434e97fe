"""Image restoration (lesson 06): degradations on the device, classical baselines, PSNR / SSIM, and
the restoration task for :func:`genimg_course.train.fit`.

* **Degradations** are pure functions of a ``(B, C, H, W)`` float batch in [0, 1] on any device,
  seeded by an optional ``torch.Generator``: :func:`add_noise`, :func:`downsample` /
  :func:`upsample_bicubic`, :func:`blur`, :func:`centre_hole` and :func:`random_pixels` (which return
  the masked image and the ``missing`` mask, True where a pixel is missing — scikit-image's
  convention), :func:`to_grey`. Each checks its parameter before any work. The same degradations as
  ``torchvision.transforms.v2`` transforms (:class:`AddNoise`, :class:`Downsample`, :class:`Blur`,
  :class:`CentreHole`, :class:`RandomPixels`, :class:`ToGrey`) compose with ``v2.Compose``, and
  :data:`TASKS` names the lesson's tasks (``"sr2"``, ``"denoise25"``, ``"inpaint_centre"``, …).
* **Classical baselines** (CPU, scikit-image): :func:`baseline_denoise` (Gaussian filter, total
  variation, non-local means), :func:`baseline_upscale` (nearest, bilinear, bicubic),
  :func:`baseline_inpaint` (biharmonic); :func:`tune_baseline` picks a denoiser's parameter on
  *training* images (never on the test images).
* **Metrics**: :func:`psnr` and :func:`ssim` per image through torchmetrics, data range 1.
* :class:`RestorationTask` degrades each clean batch on the device inside ``step`` (fresh noise,
  masks and all every step; no degraded copy of the dataset), and :func:`evaluate_restorer` measures
  input, baselines and model on held-out images; :func:`summary` gives the ``T_psnr_model``,
  ``T_psnr_baseline``, ``T_ssim_model``, ``T_ssim_baseline`` figures.

Measured on 100 held-out offline digits (tests/test_restore.py; the anchors review §3 has n=500):
SR ×2 bicubic 20.3 dB, σ=25/255 NL-means ≈ 26.9 dB, σ=0.3 TV ≈ 18.9 dB, centre hole biharmonic ≈ 15.0 dB.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from .models._checks import check_bool, check_int, check_module, check_number, check_tensor, describe
from .train import StepContext, adam, evaluating

__all__ = [
    "Degraded", "add_noise", "downsample", "upsample_bicubic", "blur", "centre_hole", "random_pixels", "apply_mask",
    "to_grey", "Degradation", "AddNoise", "Downsample", "Blur", "CentreHole", "RandomPixels", "ToGrey", "TASKS",
    "make_degradation", "check_images", "psnr", "ssim", "baseline_denoise", "baseline_upscale", "baseline_inpaint",
    "tune_baseline", "tuned_baselines", "ImageTask", "RestorationTask", "evaluate_restorer", "summary", "judge_accuracy",
    "SHIPPED_RESTORERS", "load_restorer", "checkerboard_index", "PHOTO_TRAIN",
]


class Degraded(NamedTuple):
    """What a degradation made: ``image`` (the network's input, the clean size), ``missing`` (bool
    ``(B, 1, H, W)``, True where a pixel is missing; inpainting only) and ``low`` (the low-resolution
    image; super-resolution only)."""

    image: torch.Tensor
    missing: torch.Tensor | None = None
    low: torch.Tensor | None = None


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------

def _batch(x: Any, who: str) -> torch.Tensor:
    """Shape and dtype only (no host sync): a float ``(B, C, H, W)`` batch."""
    check_tensor("x", x, who, dim=4, floating=True)
    return x


def check_images(x: Any, what: str = "images", channels: int | None = None) -> torch.Tensor:
    """A float ``(B, C, H, W)`` batch with values in [0, 1] and no NaN. Reads the values (one host
    sync): call it once at a boundary, not inside a training step."""
    x = check_tensor(what, x, dim=4, floating=True)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{what} must have {channels} channel(s), got shape {tuple(x.shape)}")
    lo, hi = (float(v) for v in torch.aminmax(x.detach().float()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} contain NaN or inf (values from {lo} to {hi}): expected images in [0, 1]")
    if lo < 0.0 or hi > 1.0:
        hint = ("values above 1 look like 0..255 pixels: divide by 255" if hi > 1.0 else
                "values below 0 look like [-1, 1] images: use (x + 1) / 2, or ResidentBatches(..., value_range=(0, 1))")
        raise ValueError(f"{what} must lie in [0, 1], got values from {lo:.3g} to {hi:.3g}: {hint}")
    return x


def _power_of_two_scale(scale: Any, h: int, w: int, who: str) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
        raise ValueError(f"{who}: scale must be a power of 2 (2, 4, 8, …), got {scale!r}")
    if scale > min(h, w) or h % scale or w % scale:
        fits = [s for s in (2, 4, 8, 16, 32, 64) if s <= min(h, w) and h % s == 0 and w % s == 0]
        raise ValueError(f"{who}: scale {scale} does not divide {h}×{w} images; scales that fit: {fits or 'none'}")
    return scale


# ----------------------------------------------------------------------------------------------
# Degradations (pure functions; a generator makes them repeatable)
# ----------------------------------------------------------------------------------------------

def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None, clip: bool = False) -> torch.Tensor:
    """``x + sigma · n``, ``n ~ N(0, I)`` (additive white Gaussian noise). Not clipped by default: the
    Gaussian model the denoisers assume (and the anchors' numbers) keeps values outside [0, 1];
    ``clip=True`` gives the displayable image."""
    _batch(x, "add_noise")
    sigma = check_number("sigma", sigma, low=0)
    check_bool(clip=clip)
    y = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)  # y = x + σ·n
    return y.clamp(0, 1) if clip else y


def downsample(x: torch.Tensor, scale: int, mode: str = "area") -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, H/scale, W/scale)``: ``"area"`` (box average of each scale×scale block)
    or ``"bicubic"`` (antialiased)."""
    _batch(x, "downsample")
    scale = _power_of_two_scale(scale, x.shape[2], x.shape[3], "downsample")
    if mode == "area":
        return F.avg_pool2d(x, scale)
    if mode == "bicubic":
        return F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    raise ValueError(f"downsample: mode must be 'area' or 'bicubic', got {mode!r}")


def upsample_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, C, h, w)`` → ``(B, C, scale·h, scale·w)`` by bicubic interpolation, clipped to [0, 1]:
    the input a super-resolution network takes (SRCNN's convention)."""
    _batch(x, "upsample_bicubic")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
        raise ValueError(f"upsample_bicubic: scale must be a power of 2 (2, 4, 8, …), got {scale!r}")
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel ``2·ceil(3σ) + 1``, reflected
    borders; ``sigma=0`` returns ``x``)."""
    _batch(x, "blur")
    sigma = check_number("sigma", sigma, low=0)
    if sigma == 0:
        return x
    k = 2 * math.ceil(3 * sigma) + 1
    if k > min(x.shape[2:]):
        raise ValueError(f"blur: sigma={sigma:g} needs a {k}×{k} kernel, larger than the {x.shape[2]}×{x.shape[3]} "
                         f"images: use sigma <= {(min(x.shape[2:]) - 1) // 2 / 3:.2g}")
    return v2.functional.gaussian_blur(x, [k, k], [sigma, sigma])


def apply_mask(x: torch.Tensor, missing: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``x`` with the pixels where ``missing`` is True set to ``fill``; ``missing`` is bool
    ``(B or 1, 1, H, W)`` (or ``(H, W)``), the size of the images."""
    _batch(x, "apply_mask")
    if not isinstance(missing, torch.Tensor) or missing.dtype != torch.bool:
        raise TypeError(f"apply_mask: missing must be a bool tensor (True = missing pixel), got {describe(missing)}")
    if missing.dim() == 2:
        missing = missing[None, None]
    if missing.dim() != 4 or missing.shape[1] != 1 or missing.shape[2:] != x.shape[2:] or missing.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"apply_mask: the mask must be (H, W) or (B or 1, 1, H, W) = {(x.shape[0], 1, *x.shape[2:])} for "
                         f"images of shape {tuple(x.shape)}, got a mask of shape {tuple(missing.shape)}")
    return x.masked_fill(missing.to(x.device), fill)


def centre_hole(x: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size``×``size`` square hole in the middle of every image: returns ``(masked image, missing)``
    with ``missing`` bool ``(B, 1, H, W)``."""
    _batch(x, "centre_hole")
    h, w = x.shape[2:]
    size = check_int("size", size, minimum=1)
    if size >= min(h, w):
        raise ValueError(f"centre_hole: size must be from 1 to {min(h, w) - 1} for {h}×{w} images (12 suits 28×28 "
                         f"digits), got {size}")
    missing = torch.zeros(x.shape[0], 1, h, w, dtype=torch.bool, device=x.device)
    top, left = (h - size) // 2, (w - size) // 2
    missing[:, :, top:top + size, left:left + size] = True
    return x.masked_fill(missing, 0.0), missing


def random_pixels(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel (all its channels) missing with probability ``fraction`` in [0, 1): returns
    ``(masked image, missing)``, a fresh mask per image."""
    _batch(x, "random_pixels")
    fraction = check_number("fraction", fraction, low=0, high=1, high_open=True)
    u = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=generator, device=x.device)
    missing = u < fraction
    return x.masked_fill(missing, 0.0), missing


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` → grey ``(B, 1, H, W)``: ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``."""
    _batch(x, "to_grey")
    if x.shape[1] != 3:
        raise ValueError(f"to_grey expects RGB images (B, 3, H, W), got shape {tuple(x.shape)}")
    return v2.functional.rgb_to_grayscale(x, num_output_channels=1)


# ----------------------------------------------------------------------------------------------
# The same degradations as transforms (torchvision.transforms.v2), and the lesson's tasks
# ----------------------------------------------------------------------------------------------

class Degradation(v2.Transform):
    """A degradation as a ``torchvision.transforms.v2`` transform: ``t(x)`` returns the degraded image
    (one ``(C, H, W)`` image or a ``(B, C, H, W)`` batch, float in [0, 1]), so ``v2.Compose`` chains
    them; :meth:`degrade` returns the :class:`Degraded` record (image, mask, low-resolution image)
    that training and evaluation use, and :meth:`baselines` the classical methods to compare with."""

    def degrade(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Degraded:
        raise NotImplementedError

    def baselines(self) -> dict[str, Callable[[Degraded], torch.Tensor]]:
        """Classical methods by name, each mapping a :class:`Degraded` batch to restored images."""
        return {}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, torch.Tensor) or not inpt.is_floating_point():
            return inpt  # labels and the like pass through, as in every v2 transform
        single = inpt.dim() == 3
        out = self.degrade(inpt[None] if single else inpt).image
        return out[0] if single else out


class AddNoise(Degradation):
    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = check_number("sigma", sigma, low=0)

    def degrade(self, x, generator=None):
        return Degraded(add_noise(x, self.sigma, generator))

    def baselines(self):
        return {m: (lambda d, m=m: baseline_denoise(d.image, self.sigma, m)) for m in ("gaussian", "tv", "nlmeans")}


class Downsample(Degradation):
    """Down by ``scale`` (box average), then bicubic back up to the clean size: the SR network's input."""

    def __init__(self, scale: int, mode: str = "area") -> None:
        super().__init__()
        _power_of_two_scale(scale, 2 ** 20, 2 ** 20, "Downsample")
        if mode not in ("area", "bicubic"):
            raise ValueError(f"Downsample: mode must be 'area' or 'bicubic', got {mode!r}")
        self.scale, self.mode = scale, mode

    def degrade(self, x, generator=None):
        low = downsample(x, self.scale, self.mode)
        return Degraded(upsample_bicubic(low, self.scale), low=low)

    def baselines(self):
        return {m: (lambda d, m=m: baseline_upscale(d.low, self.scale, m)) for m in ("nearest", "bilinear", "bicubic")}


class Blur(Degradation):
    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = check_number("sigma", sigma, low=0)

    def degrade(self, x, generator=None):
        return Degraded(blur(x, self.sigma))


class CentreHole(Degradation):
    def __init__(self, size: int = 12) -> None:
        super().__init__()
        self.size = check_int("size", size, minimum=1)

    def degrade(self, x, generator=None):
        image, missing = centre_hole(x, self.size)
        return Degraded(image, missing)

    def baselines(self):
        return {"biharmonic": lambda d: baseline_inpaint(d.image, d.missing)}


class RandomPixels(Degradation):
    def __init__(self, fraction: float = 0.5) -> None:
        super().__init__()
        self.fraction = check_number("fraction", fraction, low=0, high=1, high_open=True)

    def degrade(self, x, generator=None):
        image, missing = random_pixels(x, self.fraction, generator)
        return Degraded(image, missing)

    def baselines(self):
        return {"biharmonic": lambda d: baseline_inpaint(d.image, d.missing)}


class ToGrey(Degradation):
    """RGB → grey, kept as 1 channel (a colouriser maps it back to 3)."""

    def degrade(self, x, generator=None):
        return Degraded(to_grey(x))

    def baselines(self):
        return {"grey": lambda d: d.image.expand(-1, 3, -1, -1)}  # the grey image as RGB: ab = 0


TASKS: dict[str, Callable[[], Degradation]] = {
    "denoise25": lambda: AddNoise(25 / 255), "denoise300": lambda: AddNoise(0.3),
    "sr2": lambda: Downsample(2), "sr4": lambda: Downsample(4),
    "inpaint_centre": lambda: CentreHole(12), "inpaint_random": lambda: RandomPixels(0.5),
    "colourise": lambda: ToGrey(),
}


def make_degradation(task: str) -> Degradation:
    """The degradation of one of the lesson's tasks by name (:data:`TASKS`)."""
    if task not in TASKS:
        raise ValueError(f"unknown restoration task {task!r}: expected one of {sorted(TASKS)}")
    return TASKS[task]()


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------

def _pair(x: Any, y: Any, who: str) -> None:
    check_images(x, f"{who}: x")
    check_images(y, f"{who}: y")
    if x.shape != y.shape:
        raise ValueError(f"{who}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor | float:
    """Peak signal-to-noise ratio in dB, ``10 log10(1 / MSE)`` per image (data range 1), through
    torchmetrics; the mean over images (a float) or, with ``reduction="none"``, one per image."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    _pair(x, y, "psnr")
    per = peak_signal_noise_ratio(x.float(), y.float(), data_range=1.0, reduction="none", dim=(1, 2, 3))
    return per if reduction == "none" else float(per.mean())


def ssim(x: torch.Tensor, y: torch.Tensor, reduction: str = "mean", window: int = 7) -> torch.Tensor | float:
    """Structural similarity (Wang et al. 2004) per image, data range 1, through torchmetrics with a
    uniform ``window``×``window`` window, averaged over the positions whose window lies inside the
    image (scikit-image's ``structural_similarity`` default; torchmetrics alone would also average
    the reflected border, which on digits' flat black borders lowers SSIM by up to 0.15)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _pair(x, y, "ssim")
    window = check_int("window", window, minimum=3)
    if window % 2 == 0 or window > min(x.shape[2:]):
        raise ValueError(f"ssim: window must be odd and at most the image side {min(x.shape[2:])}, got {window}")
    _, full = structural_similarity_index_measure(x.float(), y.float(), gaussian_kernel=False, kernel_size=window,
                                                  data_range=1.0, reduction="none", return_full_image=True)
    p = (window - 1) // 2
    per = full[..., p:full.shape[-2] - p, p:full.shape[-1] - p].flatten(1).mean(1)
    return per if reduction == "none" else float(per.mean())


def checkerboard_index(y: torch.Tensor, border: int = 4) -> float:
    """How much a batch ``(B, C, H, W)`` depends on the pixel's position in its 2x2 block — the
    period-2 pattern of lesson 01's checkerboards. The four phases ``y[..., i::2, j::2]`` (interior
    only, ``border`` pixels cropped) are averaged over the batch; the index is the standard deviation
    of the four phase images divided by the mean absolute value of ``y``'s interior: 0 for an output
    that looks the same at every phase, about 1 for a pure ±a checkerboard."""
    check_tensor("y", y, "checkerboard_index", dim=4, floating=True)
    border = check_int("border", border, minimum=0)
    h, w = y.shape[2] - 2 * border, y.shape[3] - 2 * border
    if h < 4 or w < 4:
        raise ValueError(f"checkerboard_index: {y.shape[2]}×{y.shape[3]} images leave no interior after cropping "
                         f"{border} pixels per side: use a smaller border")
    inner = y[..., border:border + h - h % 2, border:border + w - w % 2].detach().float()
    phases = torch.stack([inner[..., i::2, j::2].mean(0) for i in (0, 1) for j in (0, 1)])  # (4, C, h/2, w/2)
    return float(phases.std(0, unbiased=False).mean() / inner.abs().mean().clamp_min(1e-12))


# ----------------------------------------------------------------------------------------------
# Classical baselines (scikit-image, on the CPU)
# ----------------------------------------------------------------------------------------------

DENOISE_METHODS = ("gaussian", "tv", "nlmeans")
DEFAULT_PARAMS = {"gaussian": 0.8, "tv": 0.6, "nlmeans": 0.8}  # σ_filter in pixels; TV weight / σ; NL-means h / σ


def _numpy_images(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().permute(0, 2, 3, 1).numpy().astype(np.float64)  # (B, H, W, C)


def _back(out: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.stack(out)).float()
    t = t[..., None] if t.dim() == 3 else t
    return t.permute(0, 3, 1, 2).clamp(0, 1).to(like.device)


def baseline_denoise(x: torch.Tensor, sigma: float, method: str = "nlmeans", param: float | None = None) -> torch.Tensor:
    """Denoise a noisy float batch ``(B, C, H, W)`` with scikit-image, clipped to [0, 1]:

    * ``"gaussian"``: a Gaussian filter of ``param`` pixels (default 0.8);
    * ``"tv"``: total variation (Chambolle), weight ``param · sigma`` (default ``0.6 σ``);
    * ``"nlmeans"``: non-local means, ``h = param · sigma`` (default ``0.8 σ``), patch 3, distance 5;
      ``sigma=None`` estimates the noise level (``estimate_sigma``).

    ``param=None`` uses these defaults; :func:`tune_baseline` picks it on training images."""
    from skimage.filters import gaussian
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma

    _batch(x, "baseline_denoise")
    if method not in DENOISE_METHODS:
        raise ValueError(f"baseline_denoise: method must be one of {DENOISE_METHODS}, got {method!r}")
    if sigma is not None:
        sigma = check_number("sigma", sigma, low=0)
    elif method != "nlmeans":
        raise ValueError(f"baseline_denoise: method {method!r} needs the noise level sigma (only 'nlmeans' estimates it)")
    param = DEFAULT_PARAMS[method] if param is None else check_number("param", param, low=0, low_open=True)
    imgs, out = _numpy_images(x), []
    ch = -1 if x.shape[1] > 1 else None
    for im in imgs:
        im = im if ch is not None else im[..., 0]
        if method == "gaussian":
            out.append(gaussian(im, sigma=param, channel_axis=ch, preserve_range=True))
        elif method == "tv":
            out.append(denoise_tv_chambolle(im, weight=param * sigma, channel_axis=ch))
        else:
            s = sigma if sigma is not None else float(np.mean(estimate_sigma(im, channel_axis=ch)))
            out.append(denoise_nl_means(im, h=param * s, sigma=s, patch_size=3, patch_distance=5, fast_mode=True,
                                        channel_axis=ch))
    return _back(out, x)


def baseline_upscale(x_low: torch.Tensor, scale: int, method: str = "bicubic") -> torch.Tensor:
    """Low-resolution ``(B, C, h, w)`` → ``(B, C, scale·h, scale·w)`` by ``"nearest"``, ``"bilinear"`` or
    ``"bicubic"`` interpolation (``F.interpolate``, ``align_corners=False``), clipped to [0, 1]."""
    _batch(x_low, "baseline_upscale")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
        raise ValueError(f"baseline_upscale: scale must be a power of 2 (2, 4, 8, …), got {scale!r}")
    if method not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"baseline_upscale: method must be 'nearest', 'bilinear' or 'bicubic', got {method!r}")
    kw = {} if method == "nearest" else {"align_corners": False}
    return F.interpolate(x_low.float(), scale_factor=scale, mode=method, **kw).clamp(0, 1)


def baseline_inpaint(x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting (scikit-image's ``inpaint_biharmonic``) of the pixels where ``missing``
    (bool ``(B, 1, H, W)`` or ``(H, W)``, the images' size) is True."""
    from skimage.restoration import inpaint_biharmonic

    _batch(x, "baseline_inpaint")
    apply_mask(x, missing)  # checks the mask's type and size
    m = missing[None, None] if missing.dim() == 2 else missing
    m = m.expand(x.shape[0], -1, -1, -1).cpu().numpy()[:, 0]
    imgs, out = _numpy_images(x), []
    for im, mk in zip(imgs, m):
        if x.shape[1] > 1:
            out.append(inpaint_biharmonic(im, mk, channel_axis=-1))
        else:
            out.append(inpaint_biharmonic(im[..., 0], mk))
    return _back(out, x)


DEFAULT_GRIDS = {"gaussian": (0.5, 0.8, 1.0, 1.5, 2.0), "tv": (0.2, 0.4, 0.6, 0.8, 1.0, 1.5),
                 "nlmeans": (0.4, 0.6, 0.8, 1.0, 1.2)}


def tune_baseline(method: str, clean: torch.Tensor, sigma: float, grid: tuple[float, ...] | None = None,
                  seed: int = 0) -> tuple[float, float]:
    """Pick a denoiser's ``param`` (see :func:`baseline_denoise`) by PSNR on TRAINING images ``clean``
    (float ``(B, C, H, W)`` in [0, 1]) noised at ``sigma`` with ``seed``: returns ``(best param, its PSNR)``.
    Tune here, then measure on the test images once: tuning on test images flatters the baseline."""
    if method not in DENOISE_METHODS:
        raise ValueError(f"tune_baseline: method must be one of {DENOISE_METHODS}, got {method!r}")
    check_images(clean, "tune_baseline: clean")
    sigma = check_number("sigma", sigma, low=0, low_open=True)
    grid = DEFAULT_GRIDS[method] if grid is None else tuple(grid)
    if not grid:
        raise ValueError("tune_baseline: grid must list at least one value")
    noisy = add_noise(clean, sigma, torch.Generator(device=clean.device).manual_seed(check_int("seed", seed)))
    scores = [(psnr(baseline_denoise(noisy, sigma, method, p), clean), p) for p in grid]
    best_psnr, best = max(scores)
    return float(best), float(best_psnr)


def tuned_baselines(degrade: Degradation | str, train_clean: torch.Tensor, seed: int = 0,
                    params: dict[str, float] | None = None) -> tuple[dict[str, Callable[[Degraded], torch.Tensor]], dict[str, float]]:
    """The degradation's baselines with each denoiser's parameter tuned on TRAINING images ``train_clean``
    (:func:`tune_baseline`), or taken from ``params`` (a dict method → param recorded earlier, e.g. in a
    shipped restorer's file). Returns ``(baselines, params)``; degradations without a parameter to tune
    (up-scaling, inpainting) return their :meth:`~Degradation.baselines` and ``{}``."""
    degrade = make_degradation(degrade) if isinstance(degrade, str) else degrade
    if not isinstance(degrade, Degradation):
        raise TypeError(f"tuned_baselines: degrade must be a Degradation or a task name from {sorted(TASKS)}, "
                        f"got {describe(degrade)}")
    if not isinstance(degrade, AddNoise):
        return degrade.baselines(), {}
    sigma = degrade.sigma
    if params is None:
        check_images(train_clean, "tuned_baselines: train_clean")
        params = {m: tune_baseline(m, train_clean, sigma, seed=seed)[0] for m in DENOISE_METHODS}
    elif not isinstance(params, dict) or set(params) != set(DENOISE_METHODS):
        raise ValueError(f"tuned_baselines: params must give one value for each of {DENOISE_METHODS}, got {params!r}")
    return ({m: (lambda d, m=m: baseline_denoise(d.image, sigma, m, params[m])) for m in DENOISE_METHODS},
            {m: float(v) for m, v in params.items()})


# ----------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------

class ImageTask:
    """What the one-network image tasks share (:class:`RestorationTask`, ``colourise.ColouriseTask``):
    ``modules={"model": model}`` and its Adam under the same key, the read-only :attr:`model`, and
    :meth:`_clean`, which turns a batch (``x``, ``(x, y)``, uint8 or float) into float images in [0, 1]
    on the device and checks the first batch's range once (one host sync; later steps never sync)."""

    divergence_hint = "lower the learning rate, or check that the clean images are in [0, 1]"

    def _setup(self, model: nn.Module, lr: float) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{type(self).__name__} needs a model with trainable parameters; "
                             f"{type(model).__name__} has none")
        self.modules = {"model": model}
        self.optimizers = {"model": adam(params, lr)}
        self._checked = False

    @property
    def model(self) -> nn.Module:
        """The network being trained: ``modules["model"]`` (read-only)."""
        return self.modules["model"]

    def _check_first(self, x: torch.Tensor) -> None:
        check_images(x, f"{type(self).__name__}: the clean training images")

    def _clean(self, batch: Any) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
            x = x.float() / 255  # uint8 pixels 0..255 → [0, 1], on the device
        if not self._checked:
            self._check_first(x)
            self._checked = True
        return x


class RestorationTask(ImageTask):
    """One step of learning to undo ``degrade``: a clean batch ``x`` (float in [0, 1], e.g. from
    ``ResidentBatches(..., value_range=(0, 1))``, or uint8 0..255, or ``(x, y)``) is degraded on the
    device inside the step (fresh noise / masks every step, from torch's global generator, which
    ``fit`` seeds), the model predicts the clean image from it and ``loss`` is the L2 (MSE) or L1
    distance. Logs ``loss`` and ``psnr`` (of the batch's mean squared error, on the device).
    The first batch's range is checked once (one host sync); later steps never sync."""

    def __init__(self, model: nn.Module, degrade: Degradation | str, loss: str = "l2", lr: float = 1e-3) -> None:
        check_module("model", model, "RestorationTask")
        degrade = make_degradation(degrade) if isinstance(degrade, str) else degrade
        if not isinstance(degrade, Degradation):
            raise TypeError(f"RestorationTask: degrade must be a Degradation (AddNoise(0.1), Downsample(2), …) or a task "
                            f"name from {sorted(TASKS)}, got {describe(degrade)}")
        if loss not in ("l2", "l1"):
            raise ValueError(f"RestorationTask: loss must be 'l2' or 'l1', got {loss!r}")
        lr = check_number("lr", lr, low=0, low_open=True)
        self.degrade, self.loss = degrade, loss
        self._setup(model, lr)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        d = self.degrade.degrade(x)  # on x's device, fresh every call
        pred = self.model(d.image).float()
        mse = F.mse_loss(pred, x)  # (1/N) Σ (x̂ - x)²
        loss = mse if self.loss == "l2" else F.l1_loss(pred, x)  # (1/N) Σ |x̂ - x|
        return {"loss": loss, "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10))}  # PSNR = 10 log10(1 / MSE)

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x = self._clean(batch)
        self.model.train()
        with ctx.autocast():
            out = self.losses(x)
        ctx.update(out["loss"], self.optimizers["model"])
        return {k: v.detach() for k, v in out.items()}


@torch.no_grad()
def evaluate_restorer(model: nn.Module | None, degrade: Degradation | str, clean: torch.Tensor,
                      baselines: dict[str, Callable[[Degraded], torch.Tensor]] | None = None, seed: int = 0,
                      batch_size: int = 256) -> list[dict[str, Any]]:
    """PSNR / SSIM rows on held-out ``clean`` images (float ``(N, C, H, W)`` in [0, 1]) degraded once with
    ``seed``: ``input`` (the degraded image, clipped to [0, 1]), each baseline (default: the
    degradation's :meth:`~Degradation.baselines`; each maps a :class:`Degraded` batch to images) and
    ``model`` (its output clipped to [0, 1]; ``model=None`` skips it). Each row:
    ``{"method", "kind" ("input" / "baseline" / "model"), "psnr", "ssim", "n"}``."""
    degrade = make_degradation(degrade) if isinstance(degrade, str) else degrade
    if not isinstance(degrade, Degradation):
        raise TypeError(f"evaluate_restorer: degrade must be a Degradation or a task name from {sorted(TASKS)}, "
                        f"got {describe(degrade)}")
    if model is not None:
        check_module("model", model, "evaluate_restorer")
    check_images(clean, "evaluate_restorer: clean")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    baselines = degrade.baselines() if baselines is None else baselines
    if not isinstance(baselines, dict) or not all(callable(f) for f in baselines.values()):
        raise TypeError(f"evaluate_restorer: baselines must be a dict of name → callable(Degraded), got {describe(baselines)}")
    g = torch.Generator(device=clean.device).manual_seed(check_int("seed", seed))
    d = degrade.degrade(clean, generator=g)
    shown = d.image.expand(-1, clean.shape[1], -1, -1) if d.image.shape[1] == 1 else d.image  # grey input vs colour
    outputs: dict[str, tuple[str, torch.Tensor]] = {"input": ("input", shown.clamp(0, 1))}
    for name, f in baselines.items():
        outputs[name] = ("baseline", f(d).to(clean.device).clamp(0, 1))
    if model is not None:
        dev = next(model.parameters()).device
        with evaluating(model):
            pred = torch.cat([model(d.image[i:i + batch_size].to(dev)).float().cpu()
                              for i in range(0, clean.shape[0], batch_size)])
        outputs["model"] = ("model", pred.to(clean.device).clamp(0, 1))
    rows = []
    for name, (kind, y) in outputs.items():
        if y.shape != clean.shape:
            raise ValueError(f"evaluate_restorer: {name} returned images of shape {tuple(y.shape)}, expected {tuple(clean.shape)}")
        rows.append({"method": name, "kind": kind, "psnr": psnr(y, clean), "ssim": ssim(y, clean), "n": clean.shape[0]})
    return rows


def summary(rows: list[dict[str, Any]], task: str) -> dict[str, float]:
    """The figures a lesson records for ``task`` from :func:`evaluate_restorer`'s rows:
    ``{task}_psnr_model``, ``{task}_psnr_baseline`` (the best baseline's PSNR), ``{task}_ssim_model``,
    ``{task}_ssim_baseline`` (the best baseline SSIM, whichever method gives it: the stricter test)."""
    base = [r for r in rows if r["kind"] == "baseline"]
    model = [r for r in rows if r["kind"] == "model"]
    if not base or not model:
        raise ValueError("summary needs rows with at least one baseline and the model (evaluate_restorer with a model)")
    return {f"{task}_psnr_model": model[0]["psnr"], f"{task}_psnr_baseline": max(r["psnr"] for r in base),
            f"{task}_ssim_model": model[0]["ssim"], f"{task}_ssim_baseline": max(r["ssim"] for r in base)}


@torch.no_grad()
def judge_accuracy(judge: Any, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """The judge classifier's accuracy on digits ``images`` (float ``(N, 1, 28, 28)`` in [0, 1], e.g.
    restored ones) against their true ``labels``: the task-level measure of a digit restorer (a restorer
    that draws pretty but wrong digits loses here, whatever its PSNR). ``judge``: :func:`metrics.load_judge`."""
    check_images(images, "judge_accuracy: images", channels=1)
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(f"judge_accuracy: labels must be a tensor of shape ({images.shape[0]},), got {describe(labels)}")
    clf = judge.classifier
    dev = next(clf.parameters()).device
    with evaluating(clf):
        pred = torch.cat([clf(images[i:i + batch_size].to(dev) * 2 - 1).argmax(1).cpu()  # the judge reads [-1, 1]
                          for i in range(0, images.shape[0], batch_size)])
    return float((pred == labels.cpu()).float().mean())


# the photos the shipped photo restorers and colourisers learn from: every bundled colour photo but the test
# photo, chelsea (data.load_photo_patches("train", train=PHOTO_TRAIN); three photos alone over-fit)
PHOTO_TRAIN = ("astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "china", "flower")

# name → (the task it undoes, the data it was trained on); made by tools/make_restore_weights.py
SHIPPED_RESTORERS: dict[str, tuple[str, str]] = {
    "restore_sr2_mnist": ("sr2", "mnist"), "restore_sr4_mnist": ("sr4", "mnist"),
    "restore_denoise25_mnist": ("denoise25", "mnist"), "restore_denoise300_mnist": ("denoise300", "mnist"),
    "restore_inpaint_centre_mnist": ("inpaint_centre", "mnist"), "restore_inpaint_random_mnist": ("inpaint_random", "mnist"),
    "restore_denoise25_photo": ("denoise25", "photo"), "restore_sr2_photo": ("sr2", "photo"),
    "restore_sr4_photo": ("sr4", "photo"),
}


def load_restorer(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """A shipped restorer (SHA-256 checked; :data:`SHIPPED_RESTORERS`): a residual ``UNet`` trained longer
    than a lesson can by ``tools/make_restore_weights.py``. ``model.info`` holds its task, training steps
    and seconds, the data, the denoisers' parameters tuned on training images (``baseline_params``), and its
    scores on held-out images (``rows`` of :func:`evaluate_restorer`, the :func:`summary` figures and, for
    digits, the judge's accuracy on its outputs)."""
    from .checkpoints import load_shipped
    from .models.unet import UNet

    if name not in SHIPPED_RESTORERS:
        raise ValueError(f"unknown shipped restorer {name!r}: expected one of {sorted(SHIPPED_RESTORERS)}")
    from .models._checks import check_device
    device = check_device(device)
    state = load_shipped(name)
    model = UNet(**state["config"])
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})  # stored in float16: half the size
    model.info = {k: v for k, v in state.items() if k not in ("model", "config")}
    return model.to(device).eval()
