"""A small U-Net (Ronneberger, Fischer & Brox, MICCAI 2015) for image restoration (lesson 06), built
so that the diffusion lesson can reuse it with a time embedding.

``x (B, in_channels, H, W)`` [, ``t (B,)`` [, ``y (B,)``]] → ``(B, out_channels, H, W)``, with ``H`` and ``W``
multiples of ``2**depth``. For ``width=32, depth=2`` on 28x28 digits::

    stem   conv 3x3                      (B, 32, 28, 28)  ─────────────── skip 0 ──┐
    down 0 block, stride-2 conv          (B, 64, 14, 14)  ──── skip 1 ──┐          │
    down 1 block, stride-2 conv          (B, 64,  7,  7)                │          │
    middle block                         (B, 64,  7,  7)                │          │
    up 1   up-sample → cat skip → block  (B, 64, 14, 14)  ◄─────────────┘          │
    up 0   up-sample → cat skip → block  (B, 32, 28, 28)  ◄────────────────────────┘
    head   conv 1x1                      (B, out_channels, 28, 28)   (+ x when residual=True)

Channels are ``width * 2**i`` at level ``i`` and stay at the deepest level's in the middle.
A block is two 3x3 convs, each followed by a norm (GroupNorm by default: it works at batch size 1,
as diffusion sampling needs) and SiLU. The skips carry the full-resolution detail that the
bottleneck cannot: without them a restorer blurs.

``up`` chooses how a level doubles its size (lesson 01's checkerboard comes back with one of them):
``"pixelshuffle"`` (sub-pixel convolution, Shi et al. 2016: a 1x1 conv to ``4·c`` channels, then
``PixelShuffle(2)``), ``"transpose"`` (``ConvTranspose2d`` kernel 4, stride 2: overlapping
kernels, the classic checkerboard source) or ``"resize"`` (nearest-neighbour up-sampling then a
3x3 conv, Odena et al. 2016).

``time_dim`` set: ``forward(x, t)`` takes one time (or noise level) per image, embedded
sinusoidally (Vaswani et al. 2017, as in DDPM), passed through a small MLP and added, per channel,
inside every block. ``num_classes`` set (needs ``time_dim``): ``forward(x, t, y)`` also takes a class per
image, ``y (B,)`` long in ``[0, num_classes]``, whose learned embedding is added to the time embedding;
index ``num_classes`` is the "null" class (no condition) that classifier-free guidance needs (Ho &
Salimans 2022), and ``y=None`` means null for every image. ``residual=True`` returns ``x + net(x)``: the network learns the correction
(the noise, the missing detail), not the image (DnCNN's residual learning, Zhang et al. 2017); its
last layer starts at zero, so an untrained residual U-Net returns its input unchanged.

Input checks (shape, dtype, device, size rule) look at shapes only, never at values: ``forward``
runs on every training step, where reading a value would make the host wait for the GPU. NaN and
range are checked once, at the boundaries (``restore.RestorationTask``'s first batch,
``restore.evaluate_restorer``, ``restore.psnr``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_bool, check_int, check_model_input, describe

__all__ = ["UNet", "sinusoidal_embedding", "check_unet_size"]

UP_MODES = ("pixelshuffle", "transpose", "resize")
NORMS = ("group", "batch", "none")


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """``t (B,)`` (integer steps or float noise levels) → ``(B, dim)``: ``[cos(t·f_k), sin(t·f_k)]``
    with frequencies ``f_k = max_period^(-k / (dim/2))`` (Vaswani et al. 2017; DDPM's time embedding)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim % 2))  # odd dim: one zero column


def check_unet_size(h: int, w: int, depth: int, who: str = "UNet") -> None:
    """``ValueError`` unless ``h`` and ``w`` are multiples of ``2**depth``, naming the nearest sizes that fit."""
    m = 2 ** depth
    if h % m == 0 and w % m == 0:
        return

    def near(s: int) -> str:
        lo, hi = (s // m) * m, (s // m + 1) * m
        if s % m == 0:
            return f"{s} (fits)"
        return f"{hi}" if lo == 0 else f"{lo} or {hi}"

    fits = near(h) if h == w else f"H {near(h)}, W {near(w)}"
    raise ValueError(f"{who} got {h}×{w} images; with depth {depth} the sides must be multiples of {m} "
                     f"(2**depth): {fits}. Crop or pad the images, or use a smaller depth")


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, c), c)
    return nn.BatchNorm2d(c) if kind == "batch" else nn.Identity()


class _Block(nn.Module):
    """conv 3x3 → norm → SiLU (+ the time embedding, per channel) → conv 3x3 → norm → SiLU; size kept."""

    def __init__(self, c_in: int, c_out: int, norm: str, time_dim: int | None) -> None:
        super().__init__()
        self.conv1, self.norm1 = nn.Conv2d(c_in, c_out, 3, padding=1), _norm(norm, c_out)
        self.conv2, self.norm2 = nn.Conv2d(c_out, c_out, 3, padding=1), _norm(norm, c_out)
        self.act = nn.SiLU()
        self.time = nn.Linear(time_dim, c_out) if time_dim else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x)))
        if self.time is not None:
            h = h + self.time(temb)[:, :, None, None]  # (B, c) → added at every pixel
        return self.act(self.norm2(self.conv2(h)))


def _up(mode: str, c_in: int, c_out: int) -> nn.Module:
    """Doubles H and W: ``(B, c_in, h, w)`` → ``(B, c_out, 2h, 2w)``."""
    if mode == "pixelshuffle":  # 1x1 conv to 4·c_out channels, then each group of 4 becomes a 2x2 block
        return nn.Sequential(nn.Conv2d(c_in, 4 * c_out, 1), nn.PixelShuffle(2))
    if mode == "transpose":  # overlapping 4x4 kernels at stride 2: uneven overlap → checkerboards
        return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1))


class UNet(nn.Module):
    """``x (B, in_channels, H, W)`` [, ``t (B,)``] → ``(B, out_channels, H, W)``; H, W multiples of ``2**depth``.

    ``width``: channels at full resolution (doubling per level); ``depth``: number of 2x down-samplings;
    ``up``: ``"pixelshuffle"``, ``"transpose"`` or ``"resize"``; ``time_dim``: size of the time embedding
    (``None``: no time input); ``num_classes``: classes of a conditional model (needs ``time_dim``; ``y`` in
    ``[0, num_classes]``, the last index the null class; ``None``: no class input); ``residual``: return ``x + net(x)`` (needs ``in_channels == out_channels``);
    ``norm``: ``"group"`` (default), ``"batch"`` or ``"none"``. The output is not squashed (no sigmoid):
    a restorer's loss compares it with the clean image directly.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 2,
                 up: str = "pixelshuffle", time_dim: int | None = None, residual: bool = False,
                 norm: str = "group", num_classes: int | None = None) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        width = check_int("width", width, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        if depth > 6:
            raise ValueError(f"depth must be from 1 to 6 (each level halves the image: 2 fits 28x28 digits), got {depth}")
        if time_dim is not None:
            time_dim = check_int("time_dim", time_dim, minimum=2)
        if num_classes is not None:
            num_classes = check_int("num_classes", num_classes, minimum=1)
            if time_dim is None:
                raise ValueError(f"num_classes={num_classes} needs a time embedding to add the class embedding to: pass "
                                 "time_dim as well (e.g. time_dim=128), or num_classes=None")
        if up not in UP_MODES:
            raise ValueError(f"up must be one of {UP_MODES}, got {up!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        check_bool(residual=residual)
        if residual and in_channels != out_channels:
            raise ValueError(f"residual=True returns x + net(x), so in_channels must equal out_channels; got "
                             f"in_channels={in_channels}, out_channels={out_channels}. Use residual=False (e.g. for "
                             "grey → colour)")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.up_mode, self.time_dim, self.residual = up, time_dim, residual
        self.num_classes = num_classes
        ch = [width * 2 ** min(i, max(depth - 1, 1)) for i in range(depth + 1)]  # channels per level: w, 2w, …, kept in the middle
        self.time_mlp = (nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
                         if time_dim else None)
        if num_classes is not None:  # one row per class and one for "no class" (index num_classes)
            self.class_emb = nn.Embedding(num_classes + 1, time_dim)
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)  # (B, width, H, W)
        self.down_blocks = nn.ModuleList(_Block(ch[i], ch[i], norm, time_dim) for i in range(depth))
        self.downs = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1) for i in range(depth))  # size / 2
        self.middle = _Block(ch[depth], ch[depth], norm, time_dim)
        self.ups = nn.ModuleList(_up(up, ch[i + 1], ch[i]) for i in range(depth))  # size * 2
        self.up_blocks = nn.ModuleList(_Block(2 * ch[i], ch[i], norm, time_dim) for i in range(depth))  # after cat skip
        self.head = nn.Conv2d(width, out_channels, 1)
        if residual:  # start as the identity, x + 0: training learns only the correction
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def _time(self, x: torch.Tensor, t: torch.Tensor | float | None) -> torch.Tensor | None:
        if self.time_mlp is None:
            if t is not None:
                raise ValueError(f"this UNet has no time input (time_dim=None): call it as model(x), got t={describe(t)}")
            return None
        if t is None:
            raise ValueError(f"this UNet takes a time per image (time_dim={self.time_dim}): call model(x, t) with t of "
                             f"shape ({x.shape[0]},)")
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            t = torch.full((x.shape[0],), float(t), device=x.device)
        if not isinstance(t, torch.Tensor) or t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"t must be a tensor of times of shape ({x.shape[0]},) (int or float), got {describe(t)}")
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if tuple(t.shape) != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},), one time per image, got {tuple(t.shape)}")
        if t.device != x.device:
            raise ValueError(f"t is on {t.device} but the images are on {x.device}: move it with .to({str(x.device)!r})")
        return self.time_mlp(sinusoidal_embedding(t, self.time_dim).to(x.dtype))

    def _class(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """The class embedding ``(B, time_dim)`` (shape, dtype and device checked; values are not read:
        no host sync. Samplers check label values once, at their boundary)."""
        if self.num_classes is None:
            if y is not None:
                raise ValueError(f"this UNet has no class input (num_classes=None): call it as model(x, t), got "
                                 f"y={describe(y)}")
            return None
        if y is None:  # unconditional: the null class for every image
            y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        if not isinstance(y, torch.Tensor) or y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
            raise TypeError(f"y must be integer class indices of shape ({x.shape[0]},) in [0, {self.num_classes}] "
                            f"({self.num_classes} = no class), got {describe(y)}")
        if tuple(y.shape) != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},), one class per image, got {tuple(y.shape)}")
        if y.device != x.device:
            raise ValueError(f"y is on {y.device} but the images are on {x.device}: move it with .to({str(x.device)!r})")
        return self.class_emb(y.long()).to(x.dtype)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None,
                y: torch.Tensor | None = None) -> torch.Tensor:
        check_model_input(self, x, (self.in_channels, "H", "W"), "UNet", "images")
        check_unet_size(x.shape[2], x.shape[3], self.depth)
        temb = self._time(x, t)
        cemb = self._class(x, y)
        if cemb is not None:
            temb = temb + cemb
        h = self.stem(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downs):
            h = block(h, temb)
            skips.append(h)  # (B, ch[i], H / 2^i, W / 2^i)
            h = down(h)  # (B, ch[i+1], H / 2^(i+1), W / 2^(i+1))
        h = self.middle(h, temb)
        for i in reversed(range(self.depth)):
            h = self.ups[i](h)  # (B, ch[i], H / 2^i, W / 2^i)
            h = self.up_blocks[i](torch.cat([h, skips[i]], dim=1), temb)  # skip concatenated: 2·ch[i] in
        out = self.head(h)
        return x + out if self.residual else out
