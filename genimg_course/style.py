"""Neural style transfer (lesson 08): Gram matrices, the style / content / total-variation losses,
three feature extractors, and Gatys et al.'s optimisation of an image's pixels.

* **Losses**: :func:`gram_matrix` (``(B, C, H, W)`` → ``(B, C, C)``, divided by ``C·H·W``),
  :func:`style_loss` (MSE between Gram matrices, summed over layers with optional weights),
  :func:`content_loss` (MSE between feature maps), :func:`total_variation` (anisotropic, L1).
* **Feature extractors**, each a frozen module in eval mode whose ``forward`` returns a list of
  feature maps at several depths, with ``style_layers``, ``content_layers`` (indices into that list)
  and ``min_size`` (the smallest image side it accepts):

  - :class:`RandomFeatures`: a small multi-scale CNN with random, seeded, never-trained filters.
    Ustyuzhaninov, Brendel, Gatys & Bethge (ICLR 2017, "What does it take to generate natural
    textures?") showed that random shallow networks already synthesise textures through their Gram
    matrices. Always available offline.
  - :class:`ClassifierFeatures` / :func:`judge_features`: the course's trained digit judge (lesson 01)
    run on each colour channel as a grey image; trained, always on disk, but trained on digits.
  - :func:`vgg_features`: torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``, 548 MB by
    torchvision's metadata, whose file torchvision checks against the hash in its name), with
    ImageNet normalisation inside. Used only when the weights are in torch's cache or ``download=True`` is passed.

* :func:`transfer`: Gatys, Ecker & Bethge (CVPR 2016): start from the content photo (or noise) and
  optimise its pixels with L-BFGS or Adam so that its deep features match the content image and its
  Gram matrices match the style image. Each step is :func:`pixel_step` (a closure for Adam and
  L-BFGS alike, then the clamp to [0, 1]); ``style_loss_fn`` and ``step_fn`` take a learner's own.
* **Measures**: :func:`held_out_style_loss` (the Gram loss under a *different* random network, a
  judge of style that was not optimised against) and :func:`content_distance` (pixel RMSE of the
  layout, at a quarter of the resolution).
* **Images**: :func:`load_photo` (a scikit-image photo as ``(1, 3, size, size)``) and
  :func:`make_style_image` (a course-made, painting-like style image built offline).

Measured (one shared CPU thread, ``torch.set_num_threads(1)``): astronaut at 128 px, the
``"strokes"`` style at 128 px, ``RandomFeatures()``, the defaults (content weight 1, style weight 1e5,
no TV), 40 s per route. The Gram losses are small numbers because of the ``C·H·W`` normalisation.
Optimised style loss (seed 0) / held-out style loss (seed 1) / content distance:

* the content photo itself: 7.5e-6 / 4.8e-6 / 0;
* L-BFGS (lr 1), 464 steps: 1.4e-8 / 4.5e-8 / 0.234;
* Adam (lr 0.02), 593 steps: 9.6e-9 / 2.2e-8 / 0.072.

After 10 s the optimised style loss is already 4.9e-8 (L-BFGS) and 1.1e-8 (Adam), a 150–700×
drop from the photo's, so 128 px fits the 60 s budget on one thread. Here Adam reaches the lower style
loss *and* keeps the layout; L-BFGS, one gradient per step without line search and clamped to [0, 1]
after each, paints a stronger but noisier texture over the whole image. The held-out network (seed 1;
seed 2 gives 3.5e-8 and 1.2e-8) ranks the two routes as the optimised one does.

L-BFGS's end value depends on where it stops: its loss jumps. In one 300-step run (astronaut and strokes at
128 px, defaults, 2 threads, 2026-12-02; the same trace twice) its style loss was 1.8e-8 at step 40, 1.1e-5
at step 60, 1.3e-8 at step 140 and 2e-5 at step 180. Lesson 08 measures it (``lbfgs_jumps_10x``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models._checks import check_int, check_module, check_number, check_tensor, describe

__all__ = [
    "gram_matrix", "style_loss", "content_loss", "total_variation", "RandomFeatures", "VGGFeatures",
    "vgg_features", "vgg_weights_available", "VGG_LAYERS", "transfer", "Transfer", "held_out_style_loss",
    "content_distance", "check_image", "load_photo", "make_style_image", "STYLE_KINDS", "ClassifierFeatures",
    "judge_features", "pixel_step",
]


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------

def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps: ``(B, C, H, W)`` → ``(B, C, C)``, entry ``(i, j)`` the sum over
    positions of channel ``i`` times channel ``j``, divided by ``C·H·W``.

    Gatys et al. (2016) keep the raw sum ``G = F Fᵀ`` and put the size into the loss instead,
    ``E_l = Σ (G − A)² / (4 N_l² M_l²)`` (``N_l`` channels, ``M_l = H·W`` positions); the PyTorch
    tutorial divides ``G`` by ``B·C·H·W`` (``a*b*c*d``; with its batch of one, ``C·H·W`` as here).
    The normalisation matters for the style weight: the raw sum grows with the number of positions,
    so without it the style loss of a 512 px image is 16× that of a 128 px one (its square in the
    loss: 256×), layers of different sizes get very different weights, and a style weight tuned at
    one size is wrong at another. Divided by ``C·H·W``, a Gram entry is a mean over positions
    (further scaled by ``1/C``), so the same ``style_weight`` works across image sizes.
    """
    check_tensor("features", features, "gram_matrix", dim=4, floating=True)
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def _feature_list(feats: Any, name: str, who: str) -> list[torch.Tensor]:
    if isinstance(feats, torch.Tensor):
        feats = [feats]
    if not isinstance(feats, (list, tuple)) or not feats:
        raise TypeError(f"{who}: {name} must be a non-empty list of (B, C, H, W) feature maps, got {describe(feats)}")
    for i, f in enumerate(feats):
        check_tensor(f"{name}[{i}]", f, who, dim=4, floating=True)
    return list(feats)


def style_loss(feats_x: Sequence[torch.Tensor], feats_style: Sequence[torch.Tensor],
               weights: Sequence[float] | None = None) -> torch.Tensor:
    """Σ_l w_l · MSE(G(x_l), G(s_l)) over a list of layers (``w_l = 1`` when ``weights`` is None).

    ``feats_x`` and ``feats_style`` are lists of ``(B, C_l, H_l, W_l)`` maps from the same
    extractor; the style maps may have another height and width (a Gram matrix is ``C×C`` whatever
    the image size) and a batch of one (shared by every image of ``feats_x``). A scalar tensor.
    """
    fx = _feature_list(feats_x, "feats_x", "style_loss")
    fs = _feature_list(feats_style, "feats_style", "style_loss")
    if len(fx) != len(fs):
        raise ValueError(f"style_loss: feats_x has {len(fx)} layers but feats_style has {len(fs)}: "
                         "pass the maps of the same layers of the same extractor")
    if weights is None:
        weights = [1.0] * len(fx)
    if isinstance(weights, torch.Tensor):
        weights = weights.tolist()
    if not isinstance(weights, (list, tuple)) or len(weights) != len(fx):
        raise ValueError(f"style_loss: weights must be one number per layer ({len(fx)}), got {describe(weights)}")
    total = fx[0].new_zeros(())
    for i, (a, s, w) in enumerate(zip(fx, fs, weights)):
        w = check_number(f"weights[{i}]", w, low=0)
        if a.shape[1] != s.shape[1]:
            raise ValueError(f"style_loss: layer {i} has {a.shape[1]} channels in feats_x but {s.shape[1]} in "
                             "feats_style: pass the maps of the same layers of the same extractor")
        if s.shape[0] not in (1, a.shape[0]):
            raise ValueError(f"style_loss: layer {i}: feats_style has batch {s.shape[0]}, expected 1 or "
                             f"{a.shape[0]} (that of feats_x)")
        gx, gs = gram_matrix(a), gram_matrix(s)
        total = total + w * F.mse_loss(gx, gs.expand_as(gx))
    return total


def content_loss(feat_x: torch.Tensor, feat_content: torch.Tensor) -> torch.Tensor:
    """MSE between two feature maps of the same shape ``(B, C, H, W)`` (Gatys et al.'s content loss
    up to their factor 1/2 and their sum instead of a mean). A scalar tensor."""
    if isinstance(feat_x, (list, tuple)) or isinstance(feat_content, (list, tuple)):
        fx = _feature_list(feat_x, "feat_x", "content_loss")
        fc = _feature_list(feat_content, "feat_content", "content_loss")
        if len(fx) != len(fc):
            raise ValueError(f"content_loss: {len(fx)} maps in feat_x but {len(fc)} in feat_content")
        return sum((content_loss(a, c) for a, c in zip(fx, fc)), fx[0].new_zeros(()))
    check_tensor("feat_x", feat_x, "content_loss", dim=4, floating=True)
    check_tensor("feat_content", feat_content, "content_loss", dim=4, floating=True)
    if feat_x.shape != feat_content.shape:
        raise ValueError(f"content_loss: feat_x has shape {tuple(feat_x.shape)} but feat_content "
                         f"{tuple(feat_content.shape)}: the content image must have the size of the result")
    return F.mse_loss(feat_x, feat_content)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic L1 total variation of ``(B, C, H, W)`` images: the mean absolute difference
    between vertical neighbours plus that between horizontal neighbours (0 for a constant image;
    ``|∂x| + |∂y|``, not the isotropic ``√(∂x² + ∂y²)``, whose gradient is undefined where the
    image is flat). A scalar tensor."""
    check_tensor("x", x, "total_variation", dim=4, floating=True)
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"total_variation needs images at least 2×2, got shape {tuple(x.shape)}")
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return dx + dy


# ----------------------------------------------------------------------------------------------
# Feature extractors
# ----------------------------------------------------------------------------------------------

def _freeze(m: nn.Module) -> nn.Module:
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class RandomFeatures(nn.Module):
    """A multi-scale CNN with random, fixed, seeded filters: block ``i`` is a ``kernel_sizes[i]``
    convolution (reflect padding) to ``channels[i]`` maps and a ReLU, its output one feature map of
    the returned list; a 2×2 average pool halves the size before the next block.

    Filters are drawn once from ``torch.Generator().manual_seed(seed)`` (He-normal, zero-mean per
    filter, biases 0) and never trained; the same ``seed`` gives the same network on any machine.
    The input ``(B, 3, H, W)`` in [0, 1] is centred to [-1, 1] first, so that the ReLUs see both
    signs. ``style_layers`` are all blocks, ``content_layers`` the deepest; ``receptive_field`` (the
    deepest block's, in pixels; 38 for the default) is also ``min_size``.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128), kernel_sizes: Sequence[int] = (3, 5, 7),
                 seed: int = 0, in_channels: int = 3) -> None:
        super().__init__()
        channels, kernel_sizes = tuple(channels), tuple(kernel_sizes)
        if not channels or len(channels) != len(kernel_sizes):
            raise ValueError(f"RandomFeatures: channels {channels} and kernel_sizes {kernel_sizes} must be "
                             "non-empty and of the same length (one kernel size per block)")
        for i, (c, k) in enumerate(zip(channels, kernel_sizes)):
            check_int(f"channels[{i}]", c, minimum=1)
            check_int(f"kernel_sizes[{i}]", k, minimum=1)
            if k % 2 == 0:
                raise ValueError(f"RandomFeatures: kernel_sizes[{i}] must be odd (a centred filter), got {k}")
        seed = check_int("seed", seed)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        self.channels, self.kernel_sizes, self.seed = channels, kernel_sizes, seed
        g = torch.Generator().manual_seed(seed)
        convs, c_in = [], in_channels
        for c, k in zip(channels, kernel_sizes):
            conv = nn.Conv2d(c_in, c, k, padding=k // 2, padding_mode="reflect")
            w = torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (c_in * k * k))
            w = w - w.mean(dim=(1, 2, 3), keepdim=True)
            conv.weight.data.copy_(w)
            conv.bias.data.zero_()
            convs.append(conv)
            c_in = c
        self.convs = nn.ModuleList(convs)
        rf, jump = 1, 1
        for i, k in enumerate(kernel_sizes):
            if i > 0:
                rf, jump = rf + jump, jump * 2  # the 2×2 average pool
            rf += (k - 1) * jump
        self.receptive_field = rf
        self.min_size = max(rf, 2 ** (len(channels) - 1))
        self.style_layers = tuple(range(len(channels)))
        self.content_layers = (len(channels) - 1,)
        _freeze(self)

    def train(self, mode: bool = True) -> "RandomFeatures":
        return super().train(False)  # always eval: nothing here trains

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_tensor("x", x, "RandomFeatures", dim=4, floating=True)
        if x.shape[1] != self.convs[0].in_channels:
            raise ValueError(f"RandomFeatures expects ({x.shape[0]}, {self.convs[0].in_channels}, H, W) images, "
                             f"got {tuple(x.shape)}")
        h = x * 2 - 1
        out = []
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = F.avg_pool2d(h, 2)
            h = F.relu(conv(h))
            out.append(h)
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_sizes={self.kernel_sizes}, seed={self.seed}"


class ClassifierFeatures(nn.Module):
    """Feature maps of a trained grey-image :class:`~genimg_course.models.CNNClassifier` (the course's
    judge, trained on 28×28 digits) for RGB images: each colour channel goes through the classifier's
    convolutional body as a grey image (mapped from [0, 1] to the [-1, 1] it was trained on), and the
    three channels' maps are stacked, so a layer of ``c`` filters gives ``3·c`` maps (and its Gram
    matrix the correlations of the filters within and across colours).

    The maps are the outputs of the four conv-BatchNorm-ReLU layers (two per block, a 2×2 max-pool
    between the blocks); ``style_layers`` are all four, ``content_layers`` the deepest. Its filters
    were trained to tell digits apart: stroke and edge detectors at the scale of a 28-pixel digit.
    ``receptive_field`` (14 px for the judge: 3, 5, then 6, 10, 14 after the pool) is ``min_size``.
    Frozen, eval mode (BatchNorm uses its running statistics). Built by :func:`judge_features`."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        import copy

        check_module("classifier", classifier, "ClassifierFeatures")
        body = getattr(classifier, "body", None)
        if not isinstance(body, nn.Sequential) or getattr(classifier, "in_channels", None) != 1:
            raise ValueError("ClassifierFeatures expects a grey-image CNNClassifier (in_channels=1, with a .body of "
                             f"conv blocks), such as metrics.load_judge().classifier; got {describe(classifier)}")
        self.body = copy.deepcopy(body)
        self._taps: list[tuple[int, int]] = [(b, i) for b, block in enumerate(self.body)
                                             for i, m in enumerate(block) if isinstance(m, nn.ReLU)]
        if not self._taps:
            raise ValueError("ClassifierFeatures: the classifier's body has no ReLU layers to read maps from")
        rf, jump, pools = 1, 1, 0  # the deepest tapped map's receptive field, layer by layer
        for bi, block in enumerate(self.body):
            for i, m in enumerate(block):
                if (bi, i) > max(self._taps):
                    break
                if isinstance(m, nn.Conv2d):
                    rf += (m.kernel_size[0] - 1) * m.dilation[0] * jump
                    jump *= m.stride[0]
                elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                    st = m.stride if isinstance(m.stride, int) else m.stride[0]
                    rf, jump, pools = rf + (k - 1) * jump, jump * st, pools + 1
        self.receptive_field = rf
        self.min_size = max(rf, 2 ** pools)
        self.style_layers = tuple(range(len(self._taps)))
        self.content_layers = (len(self._taps) - 1,)
        _freeze(self)

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_tensor("x", x, "ClassifierFeatures", dim=4, floating=True)
        if x.shape[1] != 3:
            raise ValueError(f"ClassifierFeatures expects (B, 3, H, W) RGB images in [0, 1], got {tuple(x.shape)}")
        b = x.shape[0]
        h = x.reshape(b * 3, 1, *x.shape[-2:]) * 2 - 1  # each colour channel as a grey image in [-1, 1]
        out, last = [], max(self._taps)
        for bi, block in enumerate(self.body):
            for i, m in enumerate(block):
                h = m(h)
                if (bi, i) in self._taps:
                    out.append(h.reshape(b, 3 * h.shape[1], *h.shape[-2:]))  # (B, 3·c, h, w)
                if (bi, i) == last:
                    return out
        return out


def judge_features(device: torch.device | str = "cpu") -> ClassifierFeatures:
    """:class:`ClassifierFeatures` of the course's shipped judge (``metrics.load_judge``, lesson 01's digit
    classifier): a trained CNN that is always there offline, trained on something else than photos."""
    from .metrics import load_judge

    return ClassifierFeatures(load_judge(device).classifier).to(device)


def _vgg_names() -> list[str]:
    names = []
    for b, n in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


#: VGG19's layer names, in order, as ``torchvision.models.vgg19().features`` holds them.
VGG_LAYERS: tuple[str, ...] = tuple(_vgg_names())


def _vgg_file() -> Path:
    from torchvision.models import VGG19_Weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def vgg_weights_available() -> tuple[bool, str]:
    """Whether torchvision's VGG19 ImageNet weights are in torch's cache, and, if not, why and how to
    get them."""
    path = _vgg_file()
    if path.exists():
        return True, str(path)
    return False, (f"the VGG19 ImageNet weights are not in torch's cache ({path}): getting them needs the network "
                   "(548 MB): call vgg_features(download=True) once, or torchvision.models.vgg19("
                   "weights='IMAGENET1K_V1'), or copy vgg19-dcbb9e9d.pth into that folder")


class VGGFeatures(nn.Module):
    """Feature maps of torchvision's VGG19 at the named ``layers`` (see :data:`VGG_LAYERS`), the
    network cut after the deepest one; ImageNet normalisation (mean 0.485, 0.456, 0.406, std 0.229,
    0.224, 0.225) is done inside, so it takes ``(B, 3, H, W)`` images in [0, 1]. Frozen, eval mode.
    Built by :func:`vgg_features`."""

    def __init__(self, features: nn.Sequential, layers: Sequence[str], content_layer: str) -> None:
        super().__init__()
        names = list(layers)
        if content_layer not in names:
            names.append(content_layer)
        names.sort(key=VGG_LAYERS.index)
        self.layers = tuple(names)
        last = VGG_LAYERS.index(names[-1])
        self.body = features[: last + 1]
        self._index = {VGG_LAYERS.index(n): k for k, n in enumerate(names)}
        self.style_layers = tuple(k for k, n in enumerate(names) if n in layers)
        self.content_layers = (names.index(content_layer),)
        pools = sum(1 for n in VGG_LAYERS[:last] if n.startswith("pool"))
        self.min_size = 2 * 2 ** pools  # the deepest map at least 2×2
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        _freeze(self)

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_tensor("x", x, "VGGFeatures", dim=4, floating=True)
        if x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects (B, 3, H, W) RGB images in [0, 1], got {tuple(x.shape)}")
        h = (x - self.mean) / self.std
        out: list[torch.Tensor | None] = [None] * len(self.layers)
        for i, m in enumerate(self.body):
            h = m(h)
            if i in self._index:
                out[self._index[i]] = h
        return out  # type: ignore[return-value]


def vgg_features(layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                 content_layer: str = "relu4_2", download: bool = False) -> VGGFeatures:
    """:class:`VGGFeatures` of torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``) at the
    style ``layers`` and the ``content_layer`` (Gatys et al.'s choice by default).

    Offline by default: raises ``FileNotFoundError`` saying how to get the weights when they are not
    in torch's cache; with ``download=True`` torchvision downloads them (548 MB) and checks the
    file's hash."""
    for n in (*layers, content_layer):
        if n not in VGG_LAYERS:
            raise ValueError(f"vgg_features: unknown VGG19 layer {n!r}; layers are named like 'relu4_1', "
                             f"one of {', '.join(VGG_LAYERS)}")
    if not layers:
        raise ValueError("vgg_features: layers must name at least one style layer, such as 'relu1_1'")
    ok, why = vgg_weights_available()
    if not ok and not download:
        raise FileNotFoundError(f"vgg_features: {why}")
    from torchvision.models import VGG19_Weights, vgg19

    net = vgg19(weights=VGG19_Weights.IMAGENET1K_V1, progress=False)
    return VGGFeatures(net.features, tuple(layers), content_layer)


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------

def check_image(x: Any, name: str, who: str, min_size: int | None = None) -> torch.Tensor:
    """``x`` must be one RGB image ``(1, 3, H, W)``, float, finite, in [0, 1], and at least
    ``min_size`` on each side. Reads the values (one host sync): call it once, outside any loop."""
    if isinstance(x, torch.Tensor) and x.dim() == 3 and x.shape[0] == 3:
        raise ValueError(f"{who}: {name} must be one RGB image of shape (1, 3, H, W), got {tuple(x.shape)}: "
                         "add the batch dimension with .unsqueeze(0)")
    check_tensor(name, x, who, dim=4, floating=True)
    if x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"{who}: {name} must be one RGB image of shape (1, 3, H, W), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{who}: {name} contains NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        hint = (": scale 0..255 images by 1/255" if hi > 1.5
                else ": map [-1, 1] images with (x + 1) / 2" if lo < 0 else "")
        raise ValueError(f"{who}: {name} must have values in [0, 1], got [{lo:.3g}, {hi:.3g}]{hint}")
    if min_size is not None and min(x.shape[-2:]) < min_size:
        raise ValueError(f"{who}: {name} is {x.shape[-2]}×{x.shape[-1]} px, smaller than the feature extractor's "
                         f"receptive field: it needs at least {min_size}×{min_size} px (resize it with "
                         f"F.interpolate, or use an extractor with smaller kernels)")
    return x


def _to_tensor(img: np.ndarray, size: int) -> torch.Tensor:
    from skimage.transform import resize

    img = img[..., :3] if img.ndim == 3 else np.stack([img] * 3, axis=-1)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = resize(img, (size, size), anti_aliasing=True, preserve_range=False)
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).clamp(0, 1)


def load_photo(name: str = "astronaut", size: int = 128) -> torch.Tensor:
    """A photo that scikit-image ships (``"astronaut"``, ``"chelsea"``, ``"coffee"``, ``"rocket"``, …),
    centre-cropped to a square and resized to ``(1, 3, size, size)`` float in [0, 1]. Offline."""
    from skimage import data

    size = check_int("size", size, minimum=8)
    fn = getattr(data, name, None) if isinstance(name, str) else None
    if fn is None or not callable(fn):
        raise ValueError(f"load_photo: {name!r} is not a scikit-image photo; try 'astronaut', 'chelsea', 'coffee'")
    return _to_tensor(fn(), size)


#: The style images :func:`make_style_image` makes.
STYLE_KINDS = ("strokes", "mosaic")


def make_style_image(size: int = 128, kind: str = "strokes", seed: int = 0) -> torch.Tensor:
    """A course-made, painting-like style image ``(1, 3, size, size)`` in [0, 1], made offline.

    * ``"strokes"``: about ``size²/40`` short, thick, elongated brush dabs (filled ellipses, one
      orientation per ``size/4`` region of a smooth random field, so strokes flow), each with a colour
      taken from scikit-image's ``coffee`` photo where the dab lies, drawn in random order over a
      dark ground: the photo's palette, none of its layout. Procedural, seeded by ``seed``.
    * ``"mosaic"``: scikit-image's ``rocket`` photo cut into SLIC superpixels (about 120), each filled
      with its mean colour posterised to 4 levels per channel, with dark borders: a stained-glass /
      poster look. ``seed`` turns the photo by ``seed % 4`` quarter turns first (and mirrors it when
      ``seed // 4`` is odd): the same recipe and palette, other cells (``seed=0``: the photo as it is).

    Neither is a painting: they are textures with a painting's ingredients (flat colour regions,
    strokes, hard edges), enough for the Gram matrices to carry a clearly different style than a photo.
    """
    from skimage import data, draw

    size = check_int("size", size, minimum=16)
    seed = check_int("seed", seed)
    if kind not in STYLE_KINDS:
        raise ValueError(f"make_style_image: kind must be one of {STYLE_KINDS}, got {kind!r}")
    if kind == "mosaic":
        from skimage.segmentation import find_boundaries, slic

        img = _to_tensor(data.rocket(), size)[0].permute(1, 2, 0).numpy().astype(np.float64)
        img = np.rot90(img, seed % 4)
        img = np.ascontiguousarray(img[:, ::-1] if (seed // 4) % 2 else img)
        seg = slic(img, n_segments=120, compactness=10, start_label=0)
        out = np.zeros_like(img)
        for s in range(seg.max() + 1):
            m = seg == s
            if m.any():
                out[m] = np.round(img[m].mean(0) * 3) / 3
        out[find_boundaries(seg, mode="thick")] = 0.08
    else:
        rng = np.random.default_rng(seed)
        src = _to_tensor(data.coffee(), size)[0].permute(1, 2, 0).numpy()
        out = np.full((size, size, 3), 0.1, dtype=np.float32)
        cells = max(2, size // 32)
        field = rng.uniform(0, np.pi, (cells + 1, cells + 1))  # stroke direction, smooth over the image
        n = max(50, size * size // 40)
        length, width = max(3.0, size / 14), max(1.5, size / 48)
        for _ in range(n):
            r, c = rng.uniform(0, size, 2)
            gi, gj = int(r / size * cells), int(c / size * cells)
            angle = field[gi, gj] + rng.normal(0, 0.25)
            rr, cc = draw.ellipse(r, c, width * rng.uniform(0.7, 1.3), length * rng.uniform(0.6, 1.4),
                                  shape=(size, size), rotation=angle)
            colour = src[int(r), int(c)] * rng.uniform(0.85, 1.15)
            out[rr, cc] = colour
        out = np.clip(out, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)


# ----------------------------------------------------------------------------------------------
# Transfer
# ----------------------------------------------------------------------------------------------

def pixel_step(x: torch.Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """One optimisation step on the pixels ``x`` (a leaf tensor with ``requires_grad``) that works for
    Adam and for L-BFGS alike: the step goes through a *closure* that recomputes the loss and its
    gradient (L-BFGS may call it more than once per step; Adam calls it once), then the pixels are
    clamped back to [0, 1]. Returns the loss the closure computed first, detached."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        x.grad = torch.autograd.grad(loss, x)[0]  # d loss / d pixels; the network's weights get no gradient
        return loss.detach()

    loss = optimizer.step(closure)
    with torch.no_grad():
        x.clamp_(0, 1)  # an image's pixels live in [0, 1]
    return loss


class Transfer(NamedTuple):
    """What :func:`transfer` returns: ``image`` ``(1, 3, H, W)`` in [0, 1] and ``history``, a dict with
    per-step lists ``"loss"``, ``"style"``, ``"content"``, ``"tv"`` (the weighted terms' raw values:
    ``style`` and ``content`` before their weights) and ``"seconds"`` (cumulative), plus ``"steps"``."""

    image: torch.Tensor
    history: dict[str, Any]


def transfer(content: torch.Tensor, style: torch.Tensor, features: nn.Module | None = None, steps: int = 100,
             content_weight: float = 1.0, style_weight: float = 1e5, tv_weight: float = 0.0,
             optimizer: str = "lbfgs", lr: float | None = None, init: str = "content", seed: int = 0,
             callback: Callable[[int, torch.Tensor, dict[str, float]], Any] | None = None,
             max_seconds: float | None = None,
             style_loss_fn: Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor] | None = None,
             step_fn: Callable[..., Any] | None = None) -> Transfer:
    """Gatys et al. (2016): optimise the pixels of an image so that its features match ``content``'s
    (at ``features.content_layers``) and its Gram matrices match ``style``'s (at
    ``features.style_layers``): loss ``content_weight·content + style_weight·style + tv_weight·TV``.

    ``content`` and ``style`` are ``(1, 3, H, W)`` images in [0, 1] (sizes may differ; both at least
    ``features.min_size``). ``features`` is an extractor returning a list of maps (default
    ``RandomFeatures()``). ``optimizer``: ``"lbfgs"`` (one L-BFGS iteration, one gradient, per step;
    ``lr`` 1 by default, no line search) or ``"adam"`` (``lr`` 0.02 by default). ``init``:
    ``"content"`` (start from the photo) or ``"noise"`` (uniform noise seeded by ``seed``). The pixels
    are clamped to [0, 1] after every step. ``callback(step, image, losses)`` is called after each
    step; returning ``True`` stops. ``max_seconds`` stops once that much time has passed.
    ``style_loss_fn(feats_x, feats_style)`` replaces :func:`style_loss` (e.g. a learner's own, on the
    lists of style maps); ``step_fn(x, optimizer, loss_fn)`` replaces :func:`pixel_step` (one step
    through a closure; the pixels are clamped to [0, 1] after it in any case).
    Returns :class:`Transfer` ``(image, history)``; ``image`` detached.
    """
    who = "transfer"
    if features is None:
        features = RandomFeatures()
    check_module("features", features, who)
    min_size = getattr(features, "min_size", None)
    check_image(content, "content", who, min_size)
    check_image(style, "style", who, min_size)
    steps = check_int("steps", steps, minimum=1)
    cw = check_number("content_weight", content_weight, low=0)
    sw = check_number("style_weight", style_weight, low=0)
    tw = check_number("tv_weight", tv_weight, low=0)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"{who}: optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if init not in ("content", "noise"):
        raise ValueError(f"{who}: init must be 'content' or 'noise', got {init!r}")
    lr = (1.0 if optimizer == "lbfgs" else 0.02) if lr is None else check_number("lr", lr, low=0, low_open=True)
    if max_seconds is not None:
        max_seconds = check_number("max_seconds", max_seconds, low=0, low_open=True)
    for name, fn in (("callback", callback), ("style_loss_fn", style_loss_fn), ("step_fn", step_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{who}: {name} must be callable, got {describe(fn)}")
    p = next(features.parameters(), None)
    if p is not None and p.device != content.device:
        raise ValueError(f"{who}: the features' weights are on {p.device} but the images on {content.device}")
    style = style.to(content.device)

    with torch.no_grad():
        fc, fs = features(content), features(style)
    n = len(fc)
    s_idx = tuple(getattr(features, "style_layers", range(n)))
    c_idx = tuple(getattr(features, "content_layers", (n - 1,)))
    target_c = [fc[i] for i in c_idx]
    target_s = [fs[i] for i in s_idx]

    if init == "content":
        x = content.detach().clone().contiguous()
    else:
        g = torch.Generator().manual_seed(check_int("seed", seed))
        x = torch.rand(content.shape, generator=g).to(content.device).contiguous()
    x.requires_grad_(True)
    opt = (torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=50) if optimizer == "lbfgs"
           else torch.optim.Adam([x], lr=lr))
    hist: dict[str, Any] = {"loss": [], "style": [], "content": [], "tv": [], "seconds": [], "steps": 0}
    last: dict[str, torch.Tensor] = {}

    s_loss = style_loss if style_loss_fn is None else style_loss_fn
    step_once = pixel_step if step_fn is None else step_fn

    def loss_fn(img: torch.Tensor) -> torch.Tensor:
        f = features(img)
        ls = s_loss([f[i] for i in s_idx], target_s)
        if not isinstance(ls, torch.Tensor) or ls.numel() != 1:
            raise TypeError(f"{who}: style_loss_fn must return one number as a tensor, got {describe(ls)}")
        ls = ls.reshape(())
        lc = content_loss([f[i] for i in c_idx], target_c)
        ltv = total_variation(img) if tw > 0 else img.new_zeros(())
        loss = cw * lc + sw * ls + tw * ltv  # Gatys et al.: α·content + β·style (+ TV)
        last.update(loss=loss.detach(), style=ls.detach(), content=lc.detach(), tv=ltv.detach())
        return loss

    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        last.clear()
        step_once(x, opt, loss_fn)
        if not last:
            raise RuntimeError(f"{who}: step_fn did not compute the loss: it must call loss_fn(x) (inside the "
                               "optimizer's closure)")
        with torch.no_grad():
            x.clamp_(0, 1)
        losses = {k: float(v) for k, v in last.items()}
        for k, v in losses.items():
            hist[k].append(v)
        hist["seconds"].append(time.perf_counter() - t0)
        hist["steps"] = step
        if not math.isfinite(losses["loss"]):
            raise FloatingPointError(f"{who}: the loss became {losses['loss']} at step {step}: lower lr or the weights")
        if callback is not None and callback(step, x.detach(), losses) is True:
            break
        if max_seconds is not None and hist["seconds"][-1] >= max_seconds:
            break
    return Transfer(x.detach().clamp(0, 1), hist)


# ----------------------------------------------------------------------------------------------
# Measures
# ----------------------------------------------------------------------------------------------

_JUDGES: dict[int, RandomFeatures] = {}


def held_out_style_loss(result: torch.Tensor, style: torch.Tensor, seed: int = 1,
                        features: nn.Module | None = None) -> float:
    """The style loss (:func:`style_loss`, all layers, unit weights) of ``result`` against ``style``
    measured with ``RandomFeatures(seed=seed)``: a network with the default architecture but
    *other* random filters than the default extractor (seed 0), so a held-out judge of style — a
    result that only fooled the filters it was optimised against scores badly here. Use a seed
    other than the one optimised against. Both ``(1, 3, H, W)`` in [0, 1]. ``features``: another
    extractor to judge with instead (e.g. a random network of another architecture); ``seed`` is
    then unused."""
    if features is not None:
        check_module("features", features, "held_out_style_loss")
        judge = features
    else:
        seed = check_int("seed", seed)
        if seed not in _JUDGES:
            _JUDGES[seed] = RandomFeatures(seed=seed)
        judge = _JUDGES[seed]
    min_size = getattr(judge, "min_size", None)
    check_image(result, "result", "held_out_style_loss", min_size)
    check_image(style, "style", "held_out_style_loss", min_size)
    judge = judge.to(result.device)
    with torch.no_grad():
        return float(style_loss(judge(result), judge(style.to(result.device))))


def content_distance(result: torch.Tensor, content: torch.Tensor) -> float:
    """RMSE between ``result`` and ``content`` after both are averaged over 4×4 blocks: how far the
    layout (shapes, shading, colour of regions) moved, mostly blind to the fine texture a style
    paints on. 0 for the content itself; in [0, 1]. Both ``(1, 3, H, W)`` in [0, 1], same size."""
    check_image(result, "result", "content_distance")
    check_image(content, "content", "content_distance")
    if result.shape != content.shape:
        raise ValueError(f"content_distance: result is {tuple(result.shape)} but content {tuple(content.shape)}")
    k = 4 if min(result.shape[-2:]) >= 8 else 1
    a, b = F.avg_pool2d(result, k), F.avg_pool2d(content.to(result.device), k)
    return float((a - b).pow(2).mean().sqrt())
