"""Interactive explorers (ipywidgets) for the notebooks.

:func:`conv_explorer` lets a learner pick a classic 3x3 kernel and a stride and padding, and see
the input, the output and the output shape. The computation lives in :func:`apply_kernel`, a plain
function that works (and is tested) without any widget.

:func:`latent_explorer` walks a generator's latent space: a slider moves between two latent codes
(:func:`genimg_course.sampling.interpolate`, linear or spherical), a button draws new codes, and a
class dropdown appears for a conditional generator (or a VAE, starting from the codes of two real images).

:func:`latent_plane_explorer` moves a point through a 2-D latent space with two sliders and shows
where it sits among the codes of real images and what the decoder makes of it.

:func:`before_after` shows two images as one picture split by a vertical line that a slider moves
(a "wipe"), and :func:`restoration_explorer` re-runs a trained restorer live as a noise level, a
down-sampling factor or a hole size changes, beside a classical baseline and the clean image, each
with its PSNR (lesson 06). Both take float images in [0, 1] (the restoration lessons' range).

Each explorer draws once with its default settings when it is built, so a notebook executed
headless (papermill, nbval, CI) still shows a picture and exercises the code path. The explorers
get their images from :func:`genimg_course.sampling.decode` only: in [-1, 1], whatever the family.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .models._checks import check_int, check_module, check_number, describe
from .sampling import decode, interpolate, labels_for

__all__ = ["KERNELS", "as_gray_image", "apply_kernel", "conv_explorer", "LatentExplorer",
           "latent_explorer", "LatentPlaneExplorer", "latent_plane_explorer", "wipe", "BeforeAfter", "before_after",
           "RestorationExplorer", "restoration_explorer"]

# Classic 3x3 kernels, as cross-correlation weights (what F.conv2d computes).
KERNELS: dict[str, torch.Tensor] = {
    "identity": torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "edge x (Sobel)": torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "edge y (Sobel)": torch.tensor([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "blur (box)": torch.full((3, 3), 1.0 / 9),
    "blur (Gaussian)": torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "Laplacian": torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
}


def as_gray_image(image: Any) -> torch.Tensor:
    """A tensor or array of shape ``(H, W)``, ``(1, H, W)`` or ``(C, H, W)`` (uint8 0..255 or
    float) → float ``(H, W)`` in [0, 1] (colour is averaged to gray)."""
    if isinstance(image, np.ndarray):
        if image.dtype == object or image.dtype.kind not in "biuf":
            raise TypeError(f"image must be a uint8 (0..255) or float array, got a NumPy array of dtype {image.dtype}")
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch tensor or NumPy array of shape (H, W) or (C, H, W), "
                        f"got {type(image).__name__}")
    x = image.detach().cpu()
    if x.dim() == 4 and x.shape[0] == 1:
        raise ValueError(f"image must be one image (H, W) or (C, H, W), got a batch of shape {tuple(x.shape)}: "
                         "pass images[0]")
    if x.dim() == 3 and x.shape[0] not in (1, 3, 4):
        raise ValueError(f"image must be (H, W) or (C, H, W) with C in 1, 3, 4 (channels first), got "
                         f"{tuple(x.shape)}; for a channels-last (H, W, C) array use .permute(2, 0, 1)")
    if x.dim() not in (2, 3):
        raise ValueError(f"image must be (H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or not (x.is_floating_point() or x.dtype == torch.uint8):
        raise TypeError(f"image must be uint8 (0..255) or float, got {x.dtype}")
    scale_u8 = x.dtype == torch.uint8
    x = x.float()
    if x.dim() == 3:
        x = x[:3].mean(0)  # (C, H, W) -> (H, W): gray
    if min(x.shape) < 3:
        raise ValueError(f"image must be at least 3x3 pixels for a 3x3 kernel, got {tuple(x.shape)}")
    if scale_u8:
        return x / 255.0
    if not torch.isfinite(x).all():
        raise ValueError(f"image must hold finite pixel values, got NaN or inf in an image of shape {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:  # e.g. [-1, 1] or 0..255 stored as float: rescale for display
        x = (x - lo) / (hi - lo) if hi > lo else torch.zeros_like(x)
    return x


def apply_kernel(image: Any, kernel: str | torch.Tensor = "edge x (Sobel)", stride: int = 1,
                 padding: int = 0) -> torch.Tensor:
    """``F.conv2d`` of a gray image with a named kernel from :data:`KERNELS` (or a ``(k, k)``
    tensor): returns the ``(H_out, W_out)`` output, ``H_out = (H + 2p - k) // s + 1``."""
    x = as_gray_image(image)
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise KeyError(f"unknown kernel {kernel!r}; choose one of {list(KERNELS)}")
        w = KERNELS[kernel]
    elif isinstance(kernel, torch.Tensor) and kernel.dim() == 2 and kernel.numel() > 0:
        w = kernel.float()
        if not torch.isfinite(w).all():
            raise ValueError(f"kernel must hold finite weights, got {kernel.tolist()}")
    else:
        raise TypeError(f"kernel must be a name from {list(KERNELS)} or a (k, k) tensor, got {describe(kernel)}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    if min(x.shape[0] + 2 * padding, x.shape[1] + 2 * padding) < max(w.shape):
        raise ValueError(f"a {tuple(w.shape)} kernel does not fit a {tuple(x.shape)} image with padding {padding}")
    return F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


def conv_explorer(image: Any, kernel: str = "edge x (Sobel)", stride: int = 1, padding: int = 0) -> Any:
    """A kernel dropdown and stride / padding sliders over ``image``; shows the input, the output
    and its shape. Returns the widget (display it, or make it a cell's last expression)."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    x = as_gray_image(image)
    if kernel not in KERNELS:
        raise KeyError(f"unknown kernel {kernel!r}; choose one of {list(KERNELS)}")
    for name, v, lo, hi in (("stride", stride, 1, 4), ("padding", padding, 0, 3)):  # the sliders' ranges
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{name} must be an integer from {lo} to {hi} (the slider's range), got {v!r}")
    apply_kernel(x, kernel, stride, padding)  # fails here, before any widget, if the kernel does not fit
    kernel_w = W.Dropdown(options=list(KERNELS), value=kernel, description="kernel")
    stride_w = W.IntSlider(value=stride, min=1, max=4, description="stride")
    padding_w = W.IntSlider(value=padding, min=0, max=3, description="padding")
    shape_w = W.HTML()
    out = W.Output()

    def update(*_: Any) -> None:
        k, s, p = kernel_w.value, stride_w.value, padding_w.value
        y = apply_kernel(x, k, s, p)
        h, w = x.shape
        shape_w.value = (f"<code>({h}, {w})</code> → <code>{tuple(y.shape)}</code> &nbsp; "
                         f"= floor(({h} + 2·{p} − 3) / {s}) + 1")
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), gridspec_kw=dict(width_ratios=[4, 1.3, 4]))
        axes[0].imshow(x.numpy(), cmap="gray", vmin=0, vmax=1)
        axes[0].set_title(f"input {tuple(x.shape)}")
        v = float(KERNELS[k].abs().max())
        axes[1].imshow(KERNELS[k].numpy(), cmap="RdBu", vmin=-v, vmax=v)
        for (i, j), val in np.ndenumerate(KERNELS[k].numpy()):
            axes[1].text(j, i, f"{val:.2g}", ha="center", va="center", fontsize=7)
        axes[1].set_title(k, fontsize=9)
        axes[2].imshow(y.numpy(), cmap="gray")
        axes[2].set_title(f"output {tuple(y.shape)}")
        for ax in axes:
            ax.set_axis_off()
        fig.tight_layout()
        _show_in(out, fig)

    for w in (kernel_w, stride_w, padding_w):
        w.observe(update, names="value")
    update()  # draw once with the defaults, so a headless run shows (and tests) a picture
    return W.VBox([W.HBox([kernel_w, stride_w, padding_w]), shape_w, out])


def _show_in(out: Any, fig: Any) -> None:
    """Replace what an ``ipywidgets.Output`` shows with ``fig``, then free the figure."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        display(fig)
    plt.close(fig)


class _Explorer:
    """Shared by the explorers: displaying the object displays its ``widget``."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class LatentExplorer(_Explorer):
    """The object :func:`latent_explorer` returns: its widget (display it, or make it a cell's last
    expression) and its state, for code and tests: ``z0``, ``z1`` (the two codes), ``strip``
    (``(steps, C, H, W)`` images along the path, float in [-1, 1]), ``image`` (the current image as
    an ``(H, W)`` or ``(H, W, 3)`` array in [0, 1]) and the controls ``slider``, ``method``,
    ``resample_button`` and ``class_dropdown`` (``None`` for an unconditional generator)."""

    def __init__(self, G: torch.nn.Module, num_classes: int | None = None, seed: int = 0, steps: int = 8,
                 t: float = 0.5, method: str = "linear", z0: torch.Tensor | None = None,
                 z1: torch.Tensor | None = None) -> None:
        import ipywidgets as W

        if not isinstance(G, torch.nn.Module):
            raise TypeError(f"G must be a generator (an nn.Module with a latent_dim), got {type(G).__name__}")
        latent_dim = getattr(G, "latent_dim", None)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"G must have an integer attribute latent_dim (the length of z), got {latent_dim!r}")
        g_classes = getattr(G, "num_classes", None)
        if num_classes is not None:
            if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
                raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
            if not g_classes:
                raise ValueError(f"num_classes={num_classes} but G is not conditional (G.num_classes is "
                                 f"{g_classes!r}): leave num_classes=None for an unconditional generator")
            if num_classes != g_classes:
                raise ValueError(f"num_classes={num_classes} does not match G.num_classes={g_classes}")
        num_classes = g_classes or None
        if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 32:
            raise ValueError(f"steps must be an integer from 2 to 32 (images in the strip), got {steps!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if method not in ("linear", "slerp"):
            raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
        check_number("t", t, low=0.0, high=1.0)
        self.G, self.latent_dim, self.num_classes, self.steps = G, latent_dim, num_classes, steps
        self._rng = torch.Generator().manual_seed(seed)
        self.z0, self.z1 = self._draw()
        if (z0 is None) != (z1 is None):
            raise ValueError("pass both z0 and z1 (the two ends of the path), or neither")
        if z0 is not None:
            for name, z in (("z0", z0), ("z1", z1)):
                if not isinstance(z, torch.Tensor) or z.shape != (latent_dim,):
                    got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                    raise ValueError(f"{name} must be one code of shape ({latent_dim},), got {got}")
                if not z.is_floating_point() or not bool(torch.isfinite(z).all()):
                    raise ValueError(f"{name} must be a finite float code of shape ({latent_dim},), got {describe(z)}"
                                     + ("" if not z.is_floating_point() else " with NaN or inf"))
            self.z0, self.z1 = z0.detach().float().cpu(), z1.detach().float().cpu()

        self.slider = W.FloatSlider(value=t, min=0.0, max=1.0, step=0.01, description="t", readout_format=".2f",
                                    continuous_update=True)
        self.method = W.ToggleButtons(options=["linear", "slerp"], value=method, description="path")
        self.resample_button = W.Button(description="resample", tooltip="draw two new latent codes",
                                        icon="refresh")
        self.class_dropdown = (W.Dropdown(options=list(range(num_classes)), value=0, description="class")
                               if num_classes else None)
        self.info = W.HTML()
        self.out = W.Output()
        controls = [self.slider, self.resample_button] + ([self.class_dropdown] if self.class_dropdown else [])
        self.widget = W.VBox([W.HBox(controls), self.method, self.info, self.out])

        self.slider.observe(lambda _: self._redraw(strip=False), names="value")  # the strip stays: only t moved
        self.method.observe(self._redraw, names="value")
        if self.class_dropdown is not None:
            self.class_dropdown.observe(self._redraw, names="value")
        self.resample_button.on_click(lambda _: self.resample())
        self._redraw()  # draw once with the defaults, so a headless run shows (and tests) a picture

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(2, self.latent_dim, generator=self._rng)
        return z[0], z[1]

    def resample(self) -> None:
        """Draw two new latent codes and redraw."""
        self.z0, self.z1 = self._draw()
        self._redraw()

    @torch.no_grad()
    def generate(self, ts: Any) -> torch.Tensor:
        """Images ``(T, C, H, W)`` (CPU float in [-1, 1]) at fractions ``ts`` along the current path."""
        z = interpolate(self.z0, self.z1, ts, self.method.value)
        label = getattr(self.class_dropdown, "value", 0)  # the chosen class (no dropdown: unconditional)
        x = decode(self.G, z, y=labels_for(self.G, z.shape[0], label=label))
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"G must return images (B, 1 or 3, H, W), got {got}")
        return x.float().cpu()

    def _redraw(self, *_: Any, strip: bool = True) -> None:
        import matplotlib.pyplot as plt
        from torchvision.utils import make_grid

        t = float(self.slider.value)
        if strip or not hasattr(self, "strip"):
            self.strip = self.generate(torch.linspace(0, 1, self.steps))
        current = self.generate([t])[0]
        to01 = lambda x: ((x + 1) / 2).clamp(0, 1)  # noqa: E731  [-1, 1] -> [0, 1] for display
        img = to01(current)
        self.image = (img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy()
        z = interpolate(self.z0, self.z1, [t], self.method.value)[0]
        cls = f", class {self.class_dropdown.value}" if self.class_dropdown is not None else ""
        self.info.value = (f"z(t) = {'(1 − t)·z0 + t·z1' if self.method.value == 'linear' else 'slerp(z0, z1; t)'}"
                           f" &nbsp; t = {t:.2f}{cls} &nbsp; |z0| = {self.z0.norm():.2f}, |z1| = {self.z1.norm():.2f}, "
                           f"|z(t)| = {z.norm():.2f} (typical |z| ≈ √{self.latent_dim} = {self.latent_dim ** 0.5:.2f})")
        grid = make_grid(to01(self.strip), nrow=self.steps, padding=1, pad_value=1.0)  # (3, h, w)
        fig, axes = plt.subplots(1, 2, figsize=(min(12.0, 1.0 * self.steps + 2.2), 2.0),
                                 gridspec_kw=dict(width_ratios=[self.steps, 1.6]))
        axes[0].imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        side = self.strip.shape[-1] + 1
        axes[0].axvline(1 + t * (self.steps - 1) * side + side / 2 - 1, color="tab:red", lw=2, alpha=0.7)
        axes[0].set_title(f"z0 → z1 in {self.steps} steps ({self.method.value})", fontsize=9)
        axes[1].imshow(self.image, cmap="gray" if self.image.ndim == 2 else None, vmin=0, vmax=1,
                       interpolation="nearest")
        axes[1].set_title(f"t = {t:.2f}", fontsize=9)
        for ax in axes:
            ax.set_axis_off()
        fig.tight_layout()
        _show_in(self.out, fig)

    def __repr__(self) -> str:
        return (f"LatentExplorer(latent_dim={self.latent_dim}, num_classes={self.num_classes}, steps={self.steps}, "
                f"t={self.slider.value:.2f}, method={self.method.value!r})")


def latent_explorer(G: torch.nn.Module, num_classes: int | None = None, seed: int = 0, steps: int = 8,
                    z0: torch.Tensor | None = None, z1: torch.Tensor | None = None) -> LatentExplorer:
    """Walk ``G``'s latent space between two random codes: a slider ``t`` in [0, 1] moves along the
    path ``z(t)`` (linear, or spherical with the "slerp" toggle), the strip shows ``steps`` images
    from ``z0`` to ``z1`` with the current ``t`` marked, and the image at ``t`` beside it.
    "resample" draws two new codes; a conditional ``G`` (``G.num_classes``) gets a class dropdown.
    ``num_classes`` may be given to state what you expect; it must agree with ``G.num_classes``.
    ``z0``, ``z1`` (each ``(latent_dim,)``) start the path at given codes, e.g. a VAE's encodings
    of two real images.

    Draws once with its defaults when built, so a notebook executed headless shows a picture.
    Returns a :class:`LatentExplorer` (display it, or make it a cell's last expression).
    """
    return LatentExplorer(G, num_classes=num_classes, seed=seed, steps=steps, z0=z0, z1=z1)


class LatentPlaneExplorer(_Explorer):
    """The object :func:`latent_plane_explorer` returns: ``widget``, the sliders ``z0_slider`` and
    ``z1_slider``, ``z`` (the current code, ``(2,)``) and ``image`` (the decoded image, ``(H, W)`` in [0, 1])."""

    def __init__(self, G: torch.nn.Module, codes: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                 limit: float = 3.0, z: tuple[float, float] = (0.0, 0.0)) -> None:
        import ipywidgets as W

        check_module("G", G, "latent_plane_explorer")
        if getattr(G, "latent_dim", None) != 2:
            raise ValueError(f"latent_plane_explorer needs a generator with a 2-D latent space (G.latent_dim == 2), "
                             f"got latent_dim={getattr(G, 'latent_dim', None)!r}")
        if codes is not None:
            codes = torch.as_tensor(codes).detach().float().cpu()
            if codes.dim() != 2 or codes.shape[1] != 2:
                raise ValueError(f"codes must be (N, 2) latent codes of real images, got {tuple(codes.shape)}")
            if codes.shape[0] == 0:
                raise ValueError("codes is empty (shape (0, 2)): pass the codes of some real images, or None")
            if labels is not None and (not hasattr(labels, "__len__") or len(labels) != codes.shape[0]):
                raise ValueError(f"labels must give one class per code, ({codes.shape[0]},), got {describe(labels)}")
        elif labels is not None:
            raise ValueError("labels colour the codes of real images: pass codes too, or no labels")
        check_number("limit", limit, low=0.0, low_open=True)
        if not isinstance(z, (tuple, list)) or len(z) != 2:
            raise ValueError(f"z must be a starting point (z[0], z[1]), got {describe(z)}")
        for i, v in enumerate(z):
            check_number(f"z[{i}]", v, low=-float(limit), high=float(limit))
        self.G, self.codes, self.labels, self.limit = G, codes, labels, float(limit)
        kw = dict(min=-limit, max=limit, step=0.05, readout_format=".2f", continuous_update=True)
        self.z0_slider = W.FloatSlider(value=z[0], description="z[0]", **kw)
        self.z1_slider = W.FloatSlider(value=z[1], description="z[1]", **kw)
        self.out = W.Output()
        self.widget = W.VBox([W.HBox([self.z0_slider, self.z1_slider]), self.out])
        for sl in (self.z0_slider, self.z1_slider):
            sl.observe(self._redraw, names="value")
        self._redraw()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(2,)`` code → ``(H, W)`` image in [0, 1] (CPU); a conditional model draws class 0."""
        if not isinstance(z, torch.Tensor) or z.shape != (2,):
            raise ValueError(f"z must be one 2-D code of shape (2,), got {describe(z)}")
        x = decode(self.G, z[None], y=labels_for(self.G, 1, label=0))[0]  # (C, H, W) in [-1, 1]
        return (((x[0] if x.shape[0] == 1 else x.mean(0)) + 1) / 2).clamp(0, 1)

    def _redraw(self, *_: Any) -> None:
        import matplotlib.pyplot as plt

        from .viz import plot_latent_codes

        self.z = torch.tensor([self.z0_slider.value, self.z1_slider.value], dtype=torch.float32)
        self.image = self.decode(self.z).numpy()
        fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), gridspec_kw=dict(width_ratios=[1.5, 1]))
        if self.codes is not None:
            plot_latent_codes(self.codes, self.labels, ax=axes[0])
        axes[0].plot(*self.z.tolist(), marker="x", color="red", markersize=12, mew=3)
        axes[0].set_xlim(-self.limit, self.limit)
        axes[0].set_ylim(-self.limit, self.limit)
        axes[0].set_title("codes of real images; x = your z", fontsize=9)
        axes[1].imshow(self.image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[1].set_title(f"decoder(z), z = ({self.z[0]:.2f}, {self.z[1]:.2f})", fontsize=9)
        axes[1].set_axis_off()
        fig.tight_layout()
        _show_in(self.out, fig)

    def __repr__(self) -> str:
        return f"LatentPlaneExplorer(z=({self.z[0]:.2f}, {self.z[1]:.2f}), limit={self.limit:g})"


def latent_plane_explorer(G: torch.nn.Module, codes: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                          limit: float = 3.0) -> LatentPlaneExplorer:
    """Two sliders move a code ``z = (z[0], z[1])`` through a 2-D latent space; the left panel shows
    it among ``codes`` ``(N, 2)`` of real images (coloured by ``labels``), the right one what ``G``
    decodes there. ``G``: a generator with ``latent_dim == 2``, e.g. a ``ConvVAE(latent_dim=2)``. Draws once
    with ``z = (0, 0)`` when built, so a headless run shows a picture."""
    return LatentPlaneExplorer(G, codes, labels, limit)


# ---------------------------------------------------------------- before / after, and live restoration (lesson 06)

def _one_image(name: str, x: Any, who: str) -> torch.Tensor:
    """One float image ``(C, H, W)`` or ``(1, C, H, W)`` (C = 1 grey or 3 RGB; a tensor or NumPy array)
    → a CPU float ``(C, H, W)`` tensor clipped to [0, 1] (a model's raw output may overshoot a little)."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind != "f":
            raise TypeError(f"{who}: {name} must be a float image in [0, 1], got a NumPy array of dtype {x.dtype}"
                            + (" (0..255 pixels?): divide by 255" if x.dtype.kind in "iu" else ""))
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: {name} must be one image, a float tensor (C, H, W) in [0, 1], got {describe(x)}")
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    elif x.dim() == 4:
        raise ValueError(f"{who}: {name} must be one image (C, H, W) or (1, C, H, W), got a batch of shape "
                         f"{tuple(x.shape)}: pass {name}[i]")
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        hint = ("; for a channels-last (H, W, C) array use .permute(2, 0, 1)" if x.dim() == 3 and x.shape[-1] in (1, 3)
                else "; for an (H, W) image use x[None]" if x.dim() == 2 else "")
        raise ValueError(f"{who}: {name} must be (C, H, W) with C = 1 (grey) or 3 (RGB), got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{who}: {name} must be a float image in [0, 1], got {x.dtype}"
                        + (" (0..255 pixels?): divide by 255" if x.dtype == torch.uint8 else ""))
    x = x.detach().float().cpu()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{who}: {name} holds NaN or inf: expected a float image in [0, 1]")
    return x.clamp(0, 1)


def _as_array(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` → ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB), for ``imshow``."""
    return (x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)).numpy()


def _pair_images(before: Any, after: Any, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    b, a = _one_image("before", before, who), _one_image("after", after, who)
    if b.shape[1:] != a.shape[1:]:
        raise ValueError(f"{who}: before and after must have the same height and width, got {tuple(b.shape)} and "
                         f"{tuple(a.shape)}")
    if b.shape[0] != a.shape[0]:  # grey beside colour (e.g. a colouriser's input and output): show grey as RGB
        b, a = b.expand(3, -1, -1), a.expand(3, -1, -1)
    return b, a


def _split_column(position: float, width: int) -> int:
    return int(math.floor(position * width + 0.5))  # columns [0, split) show before, [split, W) after


def wipe(before: Any, after: Any, position: float = 0.5) -> np.ndarray:
    """One picture from two images of the same size (each ``(C, H, W)`` or ``(1, C, H, W)``, float; clipped
    to [0, 1]): columns left of ``round(position · W)`` from ``before``, the rest from ``after``. Returns
    ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB; a grey image beside a colour one is shown as RGB) in [0, 1]."""
    position = check_number("position", position, low=0.0, high=1.0)
    b, a = _pair_images(before, after, "wipe")
    split = _split_column(position, b.shape[-1])
    out = a.clone()
    out[..., :split] = b[..., :split]
    return _as_array(out)


class BeforeAfter(_Explorer):
    """The object :func:`before_after` returns: ``widget``, the ``slider`` (the split, 0 = all
    ``after``, 1 = all ``before``), ``before`` and ``after`` (CPU ``(C, H, W)`` in [0, 1]), ``titles``,
    ``split`` (the first column taken from ``after``), ``image`` (the picture shown, ``(H, W)`` or
    ``(H, W, 3)`` in [0, 1]) and ``figure`` (the last matplotlib figure drawn)."""

    def __init__(self, before: Any, after: Any, titles: tuple[str, str] = ("before", "after"),
                 position: float = 0.5) -> None:
        import ipywidgets as W

        position = check_number("position", position, low=0.0, high=1.0)
        self.titles = self._check_titles(titles)
        self.before, self.after = _pair_images(before, after, "before_after")
        self.slider = W.FloatSlider(value=position, min=0.0, max=1.0, step=0.01, description="wipe",
                                    readout_format=".2f", continuous_update=True)
        self.out = W.Output()
        self.widget = W.VBox([self.slider, self.out])
        self.slider.observe(self._redraw, names="value")
        self._redraw()  # draw once at `position`, so a headless run shows (and tests) a picture

    @staticmethod
    def _check_titles(titles: Any) -> tuple[str, str]:
        if not isinstance(titles, (tuple, list)) or len(titles) != 2 or not all(isinstance(t, str) for t in titles):
            raise ValueError(f"before_after: titles must be two strings (before, after), got {describe(titles)}")
        return titles[0], titles[1]

    @property
    def position(self) -> float:
        """Where the split is, as a fraction of the width (the slider's value)."""
        return float(self.slider.value)

    def set_images(self, before: Any, after: Any, titles: tuple[str, str] | None = None) -> None:
        """Show two new images (same rules as :func:`before_after`) at the current split, and redraw."""
        self.before, self.after = _pair_images(before, after, "before_after")
        if titles is not None:
            self.titles = self._check_titles(titles)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        import matplotlib.pyplot as plt

        h, w = self.before.shape[1:]
        self.split = _split_column(self.position, w)
        self.image = wipe(self.before, self.after, self.position)
        fig, ax = plt.subplots(figsize=(3.6, 3.6 * h / w + 0.4))
        ax.imshow(self.image, cmap="gray" if self.image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.axvline(self.split - 0.5, color="tab:red", lw=2)  # pixel j covers [j - 0.5, j + 0.5]
        label = dict(transform=ax.transAxes, va="top", fontsize=8, color="white",
                     bbox=dict(facecolor="black", alpha=0.6, lw=0, pad=1.5))
        ax.text(0.02, 0.98, self.titles[0], ha="left", **label)
        ax.text(0.98, 0.98, self.titles[1], ha="right", **label)
        ax.set_title(f"◀ {self.titles[0]} | {self.titles[1]} ▶", fontsize=9)
        ax.set_axis_off()
        fig.tight_layout()
        self.figure = fig
        _show_in(self.out, fig)

    def __repr__(self) -> str:
        return f"BeforeAfter(shape={tuple(self.before.shape)}, titles={self.titles}, position={self.position:.2f})"


def before_after(before: Any, after: Any, titles: tuple[str, str] = ("before", "after"),
                 position: float = 0.5) -> BeforeAfter:
    """One picture of two images split by a vertical line: ``before`` on the left, ``after`` on the right;
    a slider moves the line. ``before``, ``after``: one image each, ``(C, H, W)`` or ``(1, C, H, W)``
    (grey or RGB), float in [0, 1] (a model's raw output is clipped), the same height and width.

    Draws once at ``position`` (a fraction of the width) when built, so a headless run shows a picture.
    Returns a :class:`BeforeAfter` (display it, or make it a cell's last expression)."""
    return BeforeAfter(before, after, titles=titles, position=position)


RESTORATION_KINDS = ("noise", "scale", "hole")


class RestorationExplorer(_Explorer):
    """The object :func:`restoration_explorer` returns: ``widget``; the controls ``control`` (the σ
    slider, the scale dropdown or the hole-size slider), ``index`` (which image) and ``wipe`` (a
    :class:`BeforeAfter` between the degraded input and the model's output, with its own ``slider``);
    and the state of the last render: ``degraded`` (the :class:`~genimg_course.restore.Degraded`
    record), ``outputs`` (panel name → CPU ``(1, C, H, W)`` in [0, 1]: ``"degraded"``, the baseline's
    name if any, ``"model"``, ``"clean"``), ``psnrs`` (panel name → PSNR in dB against the clean image),
    ``figure`` (the panels' matplotlib figure) and ``runs`` (how many times the model has run)."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, kind: str = "noise", values: Any = None,
                 value: Any = None, baseline: Any = None, seed: int = 0) -> None:
        import ipywidgets as W

        from . import restore

        who = "restoration_explorer"
        check_module("model", model, who)
        images = restore.check_images(images, f"{who}: images")
        if kind not in RESTORATION_KINDS:
            raise ValueError(f"{who}: kind must be one of {RESTORATION_KINDS} (a noise level σ, a down-sampling "
                             f"factor, a centre hole's size), got {kind!r}")
        n, c, h, w = images.shape
        for attr in ("in_channels", "out_channels"):
            m = getattr(model, attr, None)
            if isinstance(m, int) and not isinstance(m, bool) and m != c:
                raise ValueError(f"{who}: the model has {attr}={m} but the images have {c} channel(s) "
                                 f"(shape {tuple(images.shape)}): pass images the model was trained on")
        self.seed = check_int("seed", seed)
        self.kind = kind
        self.values, start = self._check_control(kind, values, value, h, w)
        self._baseline_name, self._baseline = self._check_baseline(baseline, kind, start)
        self.model, self.images = model, images.detach().float().cpu()
        self.runs = 0

        if kind == "noise":
            lo, hi = self.values
            self.control = W.FloatSlider(value=start, min=lo, max=hi, step=(hi - lo) / 100, description="σ",
                                         readout_format=".3f", continuous_update=True)
        elif kind == "scale":
            self.control = W.Dropdown(options=list(self.values), value=start, description="scale ×")
        else:
            self.control = W.IntSlider(value=start, min=self.values[0], max=self.values[1], description="hole",
                                       continuous_update=True)
        self.index = W.IntSlider(value=0, min=0, max=n - 1, description="image", continuous_update=True,
                                 disabled=n == 1)
        self.info = W.HTML()
        self.out = W.Output()
        self.wipe: BeforeAfter | None = None
        self._redraw()  # draw once with the defaults, so a headless run shows (and tests) a picture
        self.widget = W.VBox([W.HBox([self.control, self.index]), self.info, self.out, self.wipe.widget])
        self.control.observe(self._redraw, names="value")
        self.index.observe(self._redraw, names="value")

    # ---- checks, before any work
    @staticmethod
    def _check_control(kind: str, values: Any, value: Any, h: int, w: int) -> tuple[tuple, Any]:
        who = "restoration_explorer"
        side = min(h, w)
        if kind == "noise":
            values = (0.0, 0.5) if values is None else values
            if not isinstance(values, (tuple, list)) or len(values) != 2:
                raise ValueError(f"{who}: for kind='noise', values must be the σ slider's range (low, high), e.g. "
                                 f"(0.0, 0.5), got {describe(values)}")
            lo, hi = (check_number(f"values[{i}] (σ)", v) for i, v in enumerate(values))
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"{who}: for kind='noise', values must be (low, high) with 0 <= low < high <= 1 "
                                 f"(σ in units of the [0, 1] pixel range), got {tuple(values)}")
            value = min(max(25 / 255, lo), hi) if value is None else check_number("value (σ)", value)
            if not lo <= value <= hi:
                raise ValueError(f"{who}: value (the starting σ) must lie in values = ({lo:g}, {hi:g}), got {value:g}")
            return (lo, hi), float(value)
        if kind == "scale":
            values = (2, 4) if values is None else values
            if not isinstance(values, (tuple, list)) or not values:
                raise ValueError(f"{who}: for kind='scale', values must list the down-sampling factors, e.g. (2, 4), "
                                 f"got {describe(values)}")
            fits = [s for s in (2, 4, 8, 16, 32, 64) if s <= side and h % s == 0 and w % s == 0]
            for s in values:
                if isinstance(s, bool) or not isinstance(s, int) or s < 2 or s & (s - 1):
                    raise ValueError(f"{who}: each scale must be a power of 2 (2, 4, 8, …), got {s!r} in {tuple(values)}")
                if s not in fits:
                    raise ValueError(f"{who}: scale {s} does not divide {h}×{w} images; scales that fit: {fits or 'none'}")
            value = values[0] if value is None else value
            if value not in values:
                raise ValueError(f"{who}: value (the starting scale) must be one of values = {tuple(values)}, got {value!r}")
            return tuple(values), value
        top = side - 1  # CentreHole leaves at least one row and column
        values = (2, max(3, side * 3 // 4)) if values is None else values
        if not isinstance(values, (tuple, list)) or len(values) != 2:
            raise ValueError(f"{who}: for kind='hole', values must be the hole-size slider's range (low, high) in "
                             f"pixels, e.g. (2, {top}), got {describe(values)}")
        lo, hi = (check_int(f"values[{i}] (hole size)", v) for i, v in enumerate(values))
        if not 1 <= lo < hi <= top:
            raise ValueError(f"{who}: for kind='hole', values must be (low, high) with 1 <= low < high <= {top} for "
                             f"{h}×{w} images, got {tuple(values)}")
        # the lesson's 12-pixel hole on 28×28 digits, in proportion for other sizes
        value = min(max(side * 3 // 7, lo), hi) if value is None else check_int("value (hole size)", value)
        if not lo <= value <= hi:
            raise ValueError(f"{who}: value (the starting hole size) must lie in values = ({lo}, {hi}), got {value}")
        return (lo, hi), value

    @staticmethod
    def _check_baseline(baseline: Any, kind: str, start: Any) -> tuple[str | None, Any]:
        if baseline is None:
            return None, None
        if isinstance(baseline, str):
            names = list(RestorationExplorer._degradation_for(kind, start).baselines())
            if baseline not in names:
                raise ValueError(f"restoration_explorer: baseline {baseline!r} is not a classical method for "
                                 f"kind={kind!r}: expected one of {names}, or a callable(Degraded) → images")
            return baseline, None
        if not callable(baseline):
            raise TypeError(f"restoration_explorer: baseline must be a method name or a callable(Degraded) → images "
                            f"(e.g. from Degradation.baselines()), got {describe(baseline)}")
        name = getattr(baseline, "__name__", "")
        return (name if name and not name.startswith("<") else "baseline"), baseline

    @staticmethod
    def _degradation_for(kind: str, v: Any) -> Any:
        from . import restore

        if kind == "noise":
            return restore.AddNoise(float(v))
        if kind == "scale":
            return restore.Downsample(int(v))
        return restore.CentreHole(int(v))

    def degradation(self) -> Any:
        """The degradation at the control's current value: ``AddNoise(σ)``, ``Downsample(scale)`` or ``CentreHole(size)``."""
        return self._degradation_for(self.kind, self.control.value)

    # ---- the work
    def _generator(self, index: int) -> torch.Generator:
        # one stream per (seed, image): the same image always gets the same noise, whatever was shown before
        return torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0]))

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The model on a degraded batch ``x`` ``(B, C, H, W)``: moved to the model's device, eval mode
        (the previous mode restored after), no gradients; returns CPU float ``(B, C, H, W)``, not clipped."""
        from .train import evaluating

        p = next(iter(self.model.parameters()), None)
        dev, dtype = (p.device, p.dtype) if p is not None and p.is_floating_point() else (torch.device("cpu"), torch.float32)
        with evaluating(self.model):
            y = self.model(x.to(dev, dtype))
        self.runs += 1
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != tuple(x.shape):
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else describe(y)
            raise ValueError(f"restoration_explorer: the model must return images of its input's shape "
                             f"{tuple(x.shape)}, got {got}")
        y = y.detach().float().cpu()
        if not bool(torch.isfinite(y).all()):
            raise ValueError("restoration_explorer: the model's output holds NaN or inf")
        return y

    def _redraw(self, *_: Any) -> None:
        import matplotlib.pyplot as plt

        from . import restore

        i = int(self.index.value)
        clean = self.images[i:i + 1]  # (1, C, H, W)
        degrade = self.degradation()
        d = degrade.degrade(clean, generator=self._generator(i))
        outputs = {"degraded": d.image.clamp(0, 1)}  # what the model sees (noise is not clipped for it)
        if self._baseline_name is not None:
            f = self._baseline if self._baseline is not None else degrade.baselines()[self._baseline_name]
            b = f(d)
            if not isinstance(b, torch.Tensor) or tuple(b.shape) != tuple(clean.shape):
                got = tuple(b.shape) if isinstance(b, torch.Tensor) else describe(b)
                raise ValueError(f"restoration_explorer: the baseline must return images of shape {tuple(clean.shape)}, "
                                 f"got {got}")
            outputs[self._baseline_name] = b.detach().float().cpu().clamp(0, 1)
        outputs["model"] = self.run(d.image).clamp(0, 1)
        outputs["clean"] = clean
        self.degraded, self.outputs = d, outputs
        self.psnrs = {k: restore.psnr(v, clean) for k, v in outputs.items() if k != "clean"}

        v = self.control.value
        what = {"noise": f"σ = {v:.3f} ({v * 255:.0f}/255)", "scale": f"÷{v}, bicubic ×{v} back",
                "hole": f"{v}×{v} hole"}[self.kind]
        gain = self.psnrs["model"] - self.psnrs["degraded"]
        vs = (f", {self.psnrs['model'] - self.psnrs[self._baseline_name]:+.2f} dB over {self._baseline_name}"
              if self._baseline_name is not None else "")
        self.info.value = (f"image {i}: {what} &nbsp; model {gain:+.2f} dB over the degraded input{vs} "
                           f"(PSNR = 10·log10(1 / MSE), against the clean image)")
        fig, axes = plt.subplots(1, len(outputs), figsize=(2.3 * len(outputs), 2.7))
        for ax, (name, y) in zip(axes, outputs.items()):
            img = _as_array(y[0])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            label = what if name == "degraded" else name
            ax.set_title(f"{label}\n{self.psnrs[name]:.2f} dB" if name in self.psnrs else f"{name} (target)",
                         fontsize=9)
            ax.set_axis_off()
        fig.tight_layout()
        self.figure = fig
        _show_in(self.out, fig)
        if self.wipe is None:
            self.wipe = BeforeAfter(outputs["degraded"], outputs["model"], titles=("degraded", "model"))
        else:
            self.wipe.set_images(outputs["degraded"], outputs["model"])

    def __repr__(self) -> str:
        return (f"RestorationExplorer(kind={self.kind!r}, value={self.control.value!r}, index={self.index.value}, "
                f"images={tuple(self.images.shape)}, baseline={self._baseline_name!r})")


def restoration_explorer(model: torch.nn.Module, images: torch.Tensor, kind: str = "noise", values: Any = None,
                         value: Any = None, baseline: Any = None, seed: int = 0) -> RestorationExplorer:
    """Re-run a trained restorer live. ``images``: held-out clean images, float ``(N, C, H, W)`` in [0, 1];
    ``model``: an ``nn.Module`` mapping a degraded batch to restored images of the same shape (e.g. a
    residual ``UNet``), on any device (each input is moved to it; eval mode and no gradients while it
    runs, its mode restored after). ``kind`` picks the degradation and its control:

    * ``"noise"``: ``AddNoise(σ)``; a σ slider over ``values = (low, high)`` (default ``(0.0, 0.5)``),
      starting at ``value`` (the σ the model was trained at; default 25/255);
    * ``"scale"``: ``Downsample(scale)``; a dropdown of ``values`` (default ``(2, 4)``), starting at
      ``value`` (default the first);
    * ``"hole"``: ``CentreHole(size)``; a size slider over ``values = (low, high)`` pixels (default
      ``(2, 3/4 of the side)``), starting at ``value`` (default 12 on 28×28 digits).

    An index slider picks the image. The panels show the degraded input (clipped), the ``baseline``
    (a method name of the current degradation's :meth:`~genimg_course.restore.Degradation.baselines`,
    e.g. ``"nlmeans"``, ``"bicubic"``, ``"biharmonic"``, which follows the control with its default
    parameter; or a callable ``Degraded → images``, used as given; ``None``: no baseline panel), the
    model's output (clipped) and the clean image, each titled with its PSNR against the clean image;
    below them a before/after wipe between the degraded input and the model's output.
    The noise is drawn from a generator seeded by ``(seed, image index)``: going back to an image shows
    the same noise.

    Draws once with its defaults when built, so a headless run shows a picture. Returns a
    :class:`RestorationExplorer` (display it, or make it a cell's last expression)."""
    return RestorationExplorer(model, images, kind=kind, values=values, value=value, baseline=baseline, seed=seed)


# ---------------------------------------------------------------- style weight, re-optimised live (lesson 08)

class StyleExplorer(_Explorer):
    """The object :func:`style_explorer` returns: ``widget``; the control ``slider`` (the style weight β, on a
    log scale) and ``wipe`` (a :class:`BeforeAfter` between the content photo and the result); and the state
    of the last render: ``style_weight``, ``result`` (CPU ``(1, 3, H, W)`` in [0, 1]), ``history`` (that run's
    :class:`~genimg_course.style.Transfer` history), ``scores`` (``"style"``: the optimised style loss,
    ``"held_out"``: :func:`~genimg_course.style.held_out_style_loss`, ``"content_distance"``), ``figure`` and
    ``runs`` (how many times the pixels have been optimised; a weight seen before is shown from a cache)."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, features: torch.nn.Module | None = None,
                 style_weight: float = 1e5, weights: tuple[float, float] = (1e2, 1e7), steps: int = 20,
                 optimizer: str = "adam", lr: float | None = None, tv_weight: float = 0.0) -> None:
        import ipywidgets as W

        from . import style as S

        who = "style_explorer"
        if features is None:
            features = S.RandomFeatures()
        check_module("features", features, who)
        min_size = getattr(features, "min_size", None)
        S.check_image(content, "content", who, min_size)
        S.check_image(style, "style", who, min_size)
        if not isinstance(weights, (tuple, list)) or len(weights) != 2:
            raise ValueError(f"{who}: weights must be the slider's range of style weights (low, high), e.g. (1e2, 1e7), "
                             f"got {describe(weights)}")
        lo, hi = (check_number(f"weights[{i}]", w, low=0, low_open=True) for i, w in enumerate(weights))
        if not lo < hi:
            raise ValueError(f"{who}: weights must be (low, high) with 0 < low < high, got {tuple(weights)}")
        self.style_weight = self._check_weight(style_weight, lo, hi)
        self.steps = check_int("steps", steps, minimum=1)
        if self.steps > 1000:
            raise ValueError(f"{who}: steps is re-run at every move of the slider; keep it at most 1000, got {self.steps}")
        if optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"{who}: optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
        self.lr = None if lr is None else check_number("lr", lr, low=0, low_open=True)
        self.tv_weight = check_number("tv_weight", tv_weight, low=0)
        self.optimizer, self.range = optimizer, (lo, hi)
        self.features = features
        p = next(iter(features.parameters()), None)
        dev = p.device if p is not None else torch.device("cpu")
        self.content, self.style = content.detach().to(dev), style.detach().to(dev)
        self.runs, self._cache = 0, {}
        self.slider = W.FloatLogSlider(value=self.style_weight, base=10, min=math.log10(lo), max=math.log10(hi),
                                       step=0.25, description="style β", readout_format=".1e",
                                       continuous_update=False)  # each move re-optimises for `steps` steps
        self.info = W.HTML()
        self.out = W.Output()
        self.wipe: BeforeAfter | None = None
        self.update(self.style_weight)  # draw once, so a headless run shows (and tests) a picture
        self.widget = W.VBox([self.slider, self.info, self.out, self.wipe.widget])
        self.slider.observe(lambda change: self.update(change["new"]), names="value")

    @staticmethod
    def _check_weight(w: Any, lo: float, hi: float) -> float:
        w = check_number("style_weight", w, low=0, low_open=True)
        if not lo * (1 - 1e-9) <= w <= hi * (1 + 1e-9):
            raise ValueError(f"style_explorer: style_weight must lie in the slider's range weights = ({lo:g}, {hi:g}), "
                             f"got {w:g}")
        return float(w)

    def update(self, style_weight: float) -> torch.Tensor:
        """Re-optimise the pixels from the content photo for ``steps`` steps at ``style_weight`` (inside the
        slider's range), redraw, and return the result ``(1, 3, H, W)`` on the CPU. The slider calls this."""
        import matplotlib.pyplot as plt

        from . import style as S

        w = self._check_weight(style_weight, *self.range)
        key = float(f"{w:.6g}")
        if key not in self._cache:
            r = S.transfer(self.content, self.style, self.features, steps=self.steps, style_weight=w,
                           tv_weight=self.tv_weight, optimizer=self.optimizer, lr=self.lr)
            self.runs += 1
            scores = {"style": r.history["style"][-1], "held_out": S.held_out_style_loss(r.image, self.style),
                      "content_distance": S.content_distance(r.image, self.content)}
            self._cache[key] = (r.image.cpu(), r.history, scores)
        self.result, self.history, self.scores = self._cache[key]
        self.style_weight = w
        self.info.value = (f"style weight β = {w:.2g}, {self.steps} {self.optimizer} steps from the photo: style loss "
                           f"{self.scores['style']:.2g} (held-out network {self.scores['held_out']:.2g}), content "
                           f"distance {self.scores['content_distance']:.3f}")
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
        for ax, (name, img) in zip(axes, (("content", self.content), (f"result, β = {w:.2g}", self.result),
                                          ("style", self.style))):
            ax.imshow(_as_array(img[0].detach().float().cpu().clamp(0, 1)), interpolation="nearest")
            ax.set_title(name, fontsize=9)
            ax.set_axis_off()
        fig.tight_layout()
        self.figure = fig
        _show_in(self.out, fig)
        if self.wipe is None:
            self.wipe = BeforeAfter(self.content.cpu(), self.result, titles=("photo", "restyled"))
        else:
            self.wipe.set_images(self.content.cpu(), self.result)
        return self.result

    def __repr__(self) -> str:
        return (f"StyleExplorer(style_weight={self.style_weight:.3g}, steps={self.steps}, optimizer={self.optimizer!r}, "
                f"content={tuple(self.content.shape)}, style={tuple(self.style.shape)})")


def style_explorer(content: torch.Tensor, style: torch.Tensor, features: torch.nn.Module | None = None,
                   style_weight: float = 1e5, weights: tuple[float, float] = (1e2, 1e7), steps: int = 20,
                   optimizer: str = "adam", lr: float | None = None, tv_weight: float = 0.0) -> StyleExplorer:
    """A style-weight slider for neural style transfer: each move re-optimises the pixels, from the content
    photo, for ``steps`` steps of :func:`genimg_course.style.transfer` at the new weight β (``weights``: the
    slider's log-scale range), and shows the photo, the result and the style image, with the result's style
    loss, its held-out style loss and its content distance; below, a before/after wipe between the photo and
    the result. ``content``, ``style``: ``(1, 3, H, W)`` images in [0, 1], at least the ``features``'
    ``min_size`` (default ``RandomFeatures()``, 38 px). Draws once at ``style_weight`` when built, so a
    headless run shows a picture; ``update(weight)`` does what the slider does. Returns a
    :class:`StyleExplorer`."""
    return StyleExplorer(content, style, features=features, style_weight=style_weight, weights=weights, steps=steps,
                         optimizer=optimizer, lr=lr, tv_weight=tv_weight)


__all__ += ["StyleExplorer", "style_explorer"]


# ---------------------------------------------------------------- diffusion: forward and reverse, guidance (lesson 10)

def _to01(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] → [0, 1] for display (a sampler's raw output may overshoot: clipped)."""
    return ((x + 1) / 2).clamp(0, 1)


def _row(x: torch.Tensor) -> np.ndarray:
    """A batch ``(B, 1 or 3, H, W)`` in [-1, 1] as one row of images, ``(h, w, 3)`` in [0, 1] for ``imshow``."""
    from torchvision.utils import make_grid

    grid = make_grid(_to01(x.detach().float().cpu()), nrow=x.shape[0], padding=1, pad_value=1.0)  # (3, h, w)
    return grid.permute(1, 2, 0).numpy()


class DiffusionExplorer(_Explorer):
    """The object :func:`diffusion_explorer` returns: ``widget``; the control ``slider`` (the timestep ``t``
    in ``[0, T)``); the fixed inputs ``images`` (the real digits ``x_0``, CPU ``(B, 1, H, W)`` in [-1, 1]),
    ``noise`` (the forward process's ``eps``, like ``images``), ``x_T`` (the reverse process's starting noise),
    ``labels`` (``(B,)`` classes for a conditional model, else ``None``); the stored reverse trajectory
    ``timesteps`` (the DDIM steps, from ``T - 1`` down to 0), ``trajectory`` and ``x0_hats`` (``(steps, B, 1, H, W)``:
    the sample after the sampler's step at ``timesteps[i]``, and the network's guess of ``x_0`` at that step);
    and the state of the last render: ``t``, ``shown`` (what :meth:`frame` returned) and ``figure``."""

    def __init__(self, model: torch.nn.Module, schedule: Any, images: torch.Tensor, labels: Any = None,
                 seed: int = 0, steps: int = 50, t: int | None = None, eta: float = 0.0) -> None:
        import ipywidgets as W

        from . import diffusion as D

        who = "diffusion_explorer"
        D._check_denoiser(model, who, "eps")  # an nn.Module; a UNet with a time input; not a flow model
        self.schedule = D.check_schedule(schedule, who)
        T = self.schedule.T
        images = D.check_diffusion_images(images, f"{who}: images", strict=True)
        if images.shape[1] != 1:
            raise ValueError(f"{who}: images must be grey digits (B, 1, H, W) in [-1, 1], "
                             f"got shape {tuple(images.shape)}")
        if images.shape[0] > 16:
            raise ValueError(f"{who}: images must be a few digits (B from 1 to 16, one column each), got B = "
                             f"{images.shape[0]}: pass images[:8]")
        B = images.shape[0]
        k = D._num_classes(model)
        if labels is None and k:
            labels = torch.arange(B) % k  # one class per column: 0, 1, 2, …
        self.labels, _ = D._labels(model, B, labels, 1.0, who)  # refuses labels for an unconditional model
        self.steps = D._check_steps(steps, who, T)
        self.seed = check_int("seed", seed)
        self.eta = check_number("eta", eta, low=0)
        t = T // 2 if t is None else self._check_t(t)
        self.model, self.images = model, images.detach().float().cpu()
        gen = torch.Generator().manual_seed(self.seed)
        self.noise = torch.randn(self.images.shape, generator=gen)
        self.x_T = torch.randn(self.images.shape, generator=gen)
        self.timesteps = D.ddim_timesteps(T, self.steps)
        self.trajectory, self.x0_hats = self._reverse()

        self.slider = W.IntSlider(value=t, min=0, max=T - 1, description="t", continuous_update=True)
        self.info = W.HTML()
        self.out = W.Output()
        self.widget = W.VBox([self.slider, self.info, self.out])
        self.update(t)  # draw once, so a headless run shows (and tests) a picture
        self.slider.observe(lambda change: self.update(change["new"]), names="value")

    def _check_t(self, t: Any) -> int:
        T = self.schedule.T
        if isinstance(t, torch.Tensor) and t.numel() == 1 and not t.is_floating_point() and t.dtype != torch.bool:
            t = int(t)
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"diffusion_explorer: t must be one integer timestep in [0, {T}), got {describe(t)}")
        if not 0 <= t < T:
            raise ValueError(f"diffusion_explorer: t must be a timestep in [0, {T}) for this {T}-step schedule, "
                             f"got {t}")
        return t

    @torch.no_grad()
    def _reverse(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The DDIM trajectory (``eta``; its noise from a generator seeded ``seed + 1``) from ``x_T``, stepped as
        :func:`~genimg_course.diffusion.ddim_sample` steps: after the step at ``timesteps[i]``, the sample and the network's guess
        ``x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)`` from that step's input ``x_t``."""
        from . import diffusion as D
        from .train import evaluating

        dev = D._model_device(self.model, None)
        predict = D._predictor(self.model, self.labels, 1.0, dev)
        x, n, ts = self.x_T.to(dev), self.images.shape[0], self.timesteps
        xs, x0s = [], []
        gen = torch.Generator().manual_seed(self.seed + 1)
        with evaluating(self.model):
            for i, t in enumerate(ts):
                t_prev = ts[i + 1] if i + 1 < len(ts) else -1
                eps = predict(x, torch.full((n,), t, device=dev, dtype=torch.long)).float()
                eps = D.clipped_eps(eps, x, t, self.schedule)  # as ddim_sample steps (clip_denoised)
                ab = float(self.schedule.alpha_bars[t])
                x0s.append(((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).float().cpu())
                z = D._noise(x, gen) if self.eta > 0 and t_prev >= 0 else None
                x = D.ddim_step(eps, x, t, t_prev, self.schedule, self.eta, z)
                xs.append(x.float().cpu())
        return torch.stack(xs), torch.stack(x0s)

    def nearest_step(self, t: int) -> int:
        """The index ``i`` of the stored step ``timesteps[i]`` nearest to ``t`` (on a tie the smaller timestep,
        later in sampling)."""
        t = self._check_t(t)
        return min(range(len(self.timesteps)), key=lambda i: (abs(self.timesteps[i] - t), self.timesteps[i]))

    def frame(self, t: int) -> dict[str, Any]:
        """What the explorer shows at timestep ``t`` in ``[0, T)``: ``"forward"``, ``x_t = q_sample(images, t, noise)``;
        ``"reverse"``, the sample after the sampler's step at ``"t_shown"`` (the stored step nearest to ``t``; at
        ``t_shown = 0`` the finished sample); ``"x0_hat"``, the network's guess of ``x_0`` at ``t_shown``; each CPU
        ``(B, 1, H, W)``; and ``"sqrt_alpha_bar"`` and ``"snr"`` at ``t`` (floats)."""
        from . import diffusion as D

        t = self._check_t(t)
        i = self.nearest_step(t)
        forward = D.q_sample(self.images, torch.full((self.images.shape[0],), t, dtype=torch.long), self.noise,
                             self.schedule, check=False)
        ab = float(self.schedule.alpha_bars[t])
        return {"forward": forward, "reverse": self.trajectory[i], "x0_hat": self.x0_hats[i],
                "t_shown": self.timesteps[i], "sqrt_alpha_bar": math.sqrt(ab), "snr": ab / (1 - ab)}

    def update(self, t: int) -> dict[str, Any]:
        """Show timestep ``t`` (the slider calls this) and return :meth:`frame`'s dict."""
        import matplotlib.pyplot as plt

        f = self.frame(t)
        self.t, self.shown = int(t), f
        s = f["t_shown"]
        ab_s = float(self.schedule.alpha_bars[s])
        self.info.value = (f"t = {t} of {self.schedule.T} ({self.schedule.name} schedule): x_t = √ᾱ·x_0 + √(1 − ᾱ)·ε "
                           f"with √ᾱ_t = {f['sqrt_alpha_bar']:.3f}, SNR = ᾱ/(1 − ᾱ) = {f['snr']:.3g}; "
                           f"the reverse row is "
                           f"DDIM-{self.steps} after its step at t = {s} (nearest stored step)")
        rows = (("forward q(x_t | x_0)", f["forward"]), (f"reverse: DDIM after step t = {s}", f["reverse"]),
                (f"x̂_0 guessed at t = {s} (√ᾱ = {math.sqrt(ab_s):.3f})", f["x0_hat"]))
        fig, axes = plt.subplots(3, 1, figsize=(min(12.0, 1.1 * self.images.shape[0] + 1.0), 4.6))
        for ax, (name, x) in zip(axes, rows):
            ax.imshow(_row(x), interpolation="nearest")
            ax.set_title(name, fontsize=9)
            ax.set_axis_off()
        fig.suptitle(f"t = {t}: √ᾱ_t = {f['sqrt_alpha_bar']:.3f}, SNR = {f['snr']:.3g}", fontsize=10)
        fig.tight_layout()
        self.figure = fig
        _show_in(self.out, fig)
        return f

    def __repr__(self) -> str:
        return (f"DiffusionExplorer(T={self.schedule.T}, steps={self.steps}, images={tuple(self.images.shape)}, "
                f"t={getattr(self, 't', None)}, conditional={self.labels is not None})")


def diffusion_explorer(model: torch.nn.Module, schedule: Any, images: torch.Tensor, labels: Any = None, seed: int = 0,
                       steps: int = 50, t: int | None = None, eta: float = 0.0) -> DiffusionExplorer:
    """A timestep slider ``t`` in ``[0, T)`` through both directions of diffusion. Top row, the **forward** process
    on a few real digits ``images`` (float ``(B, 1, H, W)`` in [-1, 1], B at most 16): ``x_t = q_sample(x_0, t, eps)``
    with noise ``eps`` fixed by ``seed``. Middle row, the **reverse** process: a DDIM trajectory (``eta``: 0
    deterministic, 1 as noisy as DDPM, its noise from a generator seeded ``seed + 1``) of
    ``model`` (a noise predictor ``model(x_t, t[, y])`` on ``schedule``) from fixed noise ``x_T``, computed once on
    ``steps`` timesteps (:func:`~genimg_course.diffusion.ddim_timesteps`); the slider shows the sample after the
    stored step nearest to ``t``, and the bottom row the network's guess ``x0_hat`` there. The title gives
    ``sqrt(alpha_bar_t)`` and the signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)``. A conditional model
    samples ``labels`` (``(B,)`` classes, or one int; default ``0, 1, …, B-1`` modulo its classes).

    Draws once at ``t`` (default ``T // 2``) when built, so a headless run shows a picture; ``frame(t)`` gives the
    tensors, ``update(t)`` does what the slider does. Returns a :class:`DiffusionExplorer`."""
    return DiffusionExplorer(model, schedule, images, labels=labels, seed=seed, steps=steps, t=t, eta=eta)


class GuidanceExplorer(_Explorer):
    """The object :func:`guidance_explorer` returns: ``widget``; the controls ``slider`` (a ``SelectionSlider``
    over ``scales``) and ``digit_dropdown``; ``kind`` (``"eps"``: DDIM on ``schedule``, ``"flow"``: Euler
    steps), ``x_T`` (the fixed starting noise, CPU ``(n, *shape)``, the same for every scale and digit); the state
    of the last render: ``digit``, ``scale``, ``samples`` (CPU ``(n, *shape)``, not clipped) and ``figure``;
    and ``runs`` (how many times the sampler has run: a (digit, scale) seen before is shown from a cache)."""

    def __init__(self, model: torch.nn.Module, schedule: Any = None, digit: int = 3, seed: int = 0, n: int = 8,
                 steps: int = 20, scales: Any = (0, 1, 2, 3, 5, 7), scale: float | None = None,
                 shape: tuple[int, ...] = (1, 28, 28)) -> None:
        import ipywidgets as W

        from . import diffusion as D

        who = "guidance_explorer"
        check_module("model", model, who)
        kind = getattr(D._plain(model.module if isinstance(model, D.EMA) else model), "diffusion_kind", None)
        if kind == "flow":
            if schedule is not None:
                raise ValueError(f"{who}: this is a flow-matching model (diffusion_kind = 'flow'): it samples "
                                 f"without a "
                                 f"noise schedule, so pass schedule=None, got {describe(schedule)}")
        elif kind in ("eps", None):
            if schedule is None:
                schedule = getattr(model, "schedule", None)
            if schedule is None:
                raise ValueError(f"{who}: cannot tell how to sample this model: expected a schedule (for a noise "
                                 f"predictor, sampled by DDIM) or model.diffusion_kind = 'flow' (a velocity field), "
                                 f"got schedule=None "
                                 f"and diffusion_kind = {kind!r}")
            schedule = D.check_schedule(schedule, who)
            kind = "eps"
        else:
            raise ValueError(f"{who}: model.diffusion_kind must be 'eps' or 'flow', got {kind!r}")
        D._check_denoiser(model, who, kind)  # a time input; the sampler fits the model
        k = D._num_classes(model)
        if not k:
            raise ValueError(f"{who}: classifier-free guidance needs a class-conditional model (a UNet built with "
                             f"num_classes, trained with labels dropped to the null class), got num_classes = {k!r}")
        self.num_classes, self.kind, self.schedule = int(k), kind, schedule
        digit = self._check_digit(digit)
        self.scales = self._check_scales(scales)
        scale = self.scales[len(self.scales) // 2] if scale is None else self._check_scale(scale)
        if scale not in self.scales:
            raise ValueError(f"{who}: scale (the slider's start) must be one of scales = {self.scales}, got {scale:g}")
        self.n = check_int("n", n, minimum=1)
        if self.n > 64:
            raise ValueError(f"{who}: n is sampled at every move of the controls; keep it from 1 to 64, got {self.n}")
        self.steps = D._check_steps(steps, who, schedule.T if schedule is not None else None)
        if not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
            raise ValueError(f"{who}: shape must be the image shape (C, H, W) such as (1, 28, 28), "
                             f"got {describe(shape)}")
        self.seed = check_int("seed", seed)
        self.model, self.shape = model, tuple(shape)
        self.x_T = torch.randn((self.n, *self.shape), generator=torch.Generator().manual_seed(self.seed))
        self.runs, self._cache = 0, {}

        self.slider = W.SelectionSlider(options=[(f"{s:g}", s) for s in self.scales], value=scale,
                                        description="guidance s", continuous_update=False)  # a new value samples
        self.digit_dropdown = W.Dropdown(options=list(range(self.num_classes)), value=digit, description="digit")
        self.info = W.HTML()
        self.out = W.Output()
        self.widget = W.VBox([W.HBox([self.digit_dropdown, self.slider]), self.info, self.out])
        self.update(digit, scale)  # draw once, so a headless run shows (and tests) a picture
        self.slider.observe(lambda change: self.update(scale=change["new"]), names="value")
        self.digit_dropdown.observe(lambda change: self.update(digit=change["new"]), names="value")

    def _check_digit(self, digit: Any) -> int:
        if isinstance(digit, bool) or not isinstance(digit, int):
            raise TypeError(f"guidance_explorer: digit must be an integer class 0 to {self.num_classes - 1}, got "
                            f"{describe(digit)}")
        if not 0 <= digit < self.num_classes:
            raise ValueError(f"guidance_explorer: digit must be a class 0 to {self.num_classes - 1} (this model knows "
                             f"{self.num_classes}), got {digit}")
        return int(digit)

    @staticmethod
    def _check_scale(scale: Any) -> float:
        return float(check_number("scale", scale, low=0))

    def _check_scales(self, scales: Any) -> tuple[float, ...]:
        if isinstance(scales, (str, bytes)) or not isinstance(scales, (tuple, list)):
            raise TypeError(f"guidance_explorer: scales must be a list of guidance scales >= 0, e.g. (0, 1, 3, 7), got "
                            f"{describe(scales)}")
        if not scales:
            raise ValueError("guidance_explorer: scales must list at least one guidance scale (>= 0), "
                             "got an empty list")
        bad = [s for s in scales
               if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0]
        if bad:
            raise ValueError(f"guidance_explorer: every guidance scale must be a finite number >= 0 (0: unconditional, "
                             f"1: conditional, > 1: guided), got {bad[0]!r} in {tuple(scales)}")
        return tuple(sorted({float(s) for s in scales}))

    @torch.no_grad()
    def render(self, digit: int, scale: float) -> torch.Tensor:
        """``n`` samples of class ``digit`` at guidance ``scale`` (>= 0) from the fixed noise ``x_T``: CPU
        ``(n, *shape)``, not clipped; sampled once per (digit, scale), then taken from the cache."""
        from . import diffusion as D

        digit, scale = self._check_digit(digit), self._check_scale(scale)
        key = (digit, scale)
        if key not in self._cache:
            kw = dict(labels=digit, guidance=scale, shape=self.shape, x_T=self.x_T.clone())
            if self.kind == "eps":
                x = D.ddim_sample(self.model, self.schedule, self.n, self.steps, **kw)
            else:
                x = D.flow_sample(self.model, self.n, self.steps, **kw)
            self.runs += 1
            self._cache[key] = x.float().cpu()
        return self._cache[key]

    def update(self, digit: int | None = None, scale: float | None = None) -> torch.Tensor:
        """Show ``digit`` at guidance ``scale`` (``None``: the control's current value; the controls call this)
        and return the samples, CPU ``(n, *shape)``."""
        import matplotlib.pyplot as plt

        from . import diffusion as D

        digit = self.digit_dropdown.value if digit is None else digit
        scale = self.slider.value if scale is None else scale
        self.samples = self.render(digit, scale)
        self.digit, self.scale = int(digit), float(scale)
        s = self.scale
        what = "unconditional ε_u" if s == 0 else "conditional ε_c" if s == 1 else "guided"
        method = "ddim" if self.kind == "eps" else "euler"
        evals = D.network_evaluations(method, self.steps, s)
        self.info.value = (f"ε = ε_u + s·(ε_c − ε_u) with s = {s:g} ({what}); digit {self.digit}; "
                           f"{self.n} samples from "
                           f"the same noise (seed {self.seed}) by {method.upper()}-{self.steps}: {evals} network "
                           f"evaluations per sample")
        fig, ax = plt.subplots(figsize=(min(12.0, 1.0 * self.n + 0.6), 1.7))
        ax.imshow(_row(self.samples), interpolation="nearest")
        ax.set_title(f"digit {self.digit}, guidance s = {s:g} ({what})", fontsize=9)
        ax.set_axis_off()
        fig.tight_layout()
        self.figure = fig
        _show_in(self.out, fig)
        return self.samples

    def __repr__(self) -> str:
        return (f"GuidanceExplorer(kind={self.kind!r}, digit={getattr(self, 'digit', None)}, "
                f"scale={getattr(self, 'scale', None)}, n={self.n}, steps={self.steps}, scales={self.scales}, "
                f"runs={self.runs})")


def guidance_explorer(model: torch.nn.Module, schedule: Any = None, digit: int = 3, seed: int = 0, n: int = 8,
                      steps: int = 20, scales: Any = (0, 1, 2, 3, 5, 7), scale: float | None = None
                      ) -> GuidanceExplorer:
    """Classifier-free guidance live: a slider over the guidance scales ``scales`` (each >= 0; 0 unconditional,
    1 conditional, > 1 guided) and a digit dropdown; shows ``n`` samples of the chosen digit, all from the same
    noise (fixed by ``seed``), so only the scale or the digit changes. ``model``: a class-conditional network
    (``num_classes``) trained with dropped labels: a noise predictor (``model.diffusion_kind == 'eps'``, or
    ``schedule`` given; default ``model.schedule``), sampled by :func:`~genimg_course.diffusion.ddim_sample` with
    ``steps``, or a flow-matching model (``diffusion_kind == 'flow'``), by
    :func:`~genimg_course.diffusion.flow_sample` (Euler). Each (digit, scale) is sampled once and cached.

    Draws once at ``digit`` and ``scale`` (default the middle of ``scales``) when built, so a headless run shows
    a picture; ``render(digit, scale)`` gives the samples. Returns a :class:`GuidanceExplorer`."""
    return GuidanceExplorer(model, schedule=schedule, digit=digit, seed=seed, n=n, steps=steps, scales=scales,
                            scale=scale)


__all__ += ["DiffusionExplorer", "diffusion_explorer", "GuidanceExplorer", "guidance_explorer"]


# ---------------------------------------------------------------- latent editing (lesson 09)


class EditExplorer(_Explorer):
    """The object :func:`edit_explorer` returns: ``widget``, ``sliders`` (one per direction, by name),
    ``alphas`` (the current step along each), ``edited`` (the edited codes, ``(B, D)``), ``images`` (their
    images, ``(B, H, W)`` in [0, 1]) and ``readings`` (each measured property of the edited images, ``(B,)``)."""

    def __init__(self, G: torch.nn.Module, z: torch.Tensor, directions: dict[str, Any], limit: float = 4.0,
                 measures: dict[str, Any] | None = None, judge: torch.nn.Module | None = None) -> None:
        import ipywidgets as W

        check_module("G", G, "edit_explorer")
        d = getattr(G, "latent_dim", None)
        if not isinstance(d, int):
            raise TypeError(f"edit_explorer: G must be a generator with a latent_dim, got {describe(G)}")
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != d or not 1 <= z.shape[0] <= 16:
            raise ValueError(f"edit_explorer: z must be 1 to 16 codes of G's dimension, (B, {d}), got {describe(z)}")
        if not isinstance(directions, dict) or not directions:
            raise ValueError(f"edit_explorer: directions must be a non-empty dict name -> direction ({d},), got "
                             f"{describe(directions)}")
        self.directions: dict[str, torch.Tensor] = {}
        for name, v in directions.items():
            v = getattr(v, "vector", v)  # a fusion.Direction or a plain tensor
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != (d,):
                raise ValueError(f"edit_explorer: direction {name!r} must have G's latent dimension, shape ({d},), "
                                 f"got {describe(v)}")
            self.directions[str(name)] = v.detach().float().cpu()
        self.limit = check_number("limit", limit, low=0.0, low_open=True)
        self.measures = dict(measures or {})
        for name, fn in self.measures.items():
            if not callable(fn):
                raise TypeError(f"edit_explorer: measures[{name!r}] must be a function images -> (B,) values, got {describe(fn)}")
        self.G, self.z, self.judge = G, z.detach().float().cpu(), judge
        self.sliders = {name: W.FloatSlider(value=0.0, min=-self.limit, max=self.limit, step=0.1, description=name,
                                            readout_format=".1f", continuous_update=False)
                        for name in self.directions}
        self.reset = W.Button(description="reset")
        self.reset.on_click(lambda *_: [setattr(s, "value", 0.0) for s in self.sliders.values()])
        self.out = W.Output()
        self.widget = W.VBox([W.HBox([W.VBox(list(self.sliders.values())), self.reset]), self.out])
        for s in self.sliders.values():
            s.observe(self._redraw, names="value")
        self.original = self._images(self.z)
        self._redraw()

    def _images(self, z: torch.Tensor) -> torch.Tensor:
        return decode(self.G, z)  # (B, C, H, W) in [-1, 1], CPU

    def _redraw(self, *_: Any) -> None:
        import matplotlib.pyplot as plt

        self.alphas = {name: float(s.value) for name, s in self.sliders.items()}
        self.edited = self.z.clone()
        for name, a in self.alphas.items():
            self.edited = self.edited + a * self.directions[name]  # z + sum_k alpha_k d_k
        x = self._images(self.edited)
        self.images = ((x[:, 0] + 1) / 2).clamp(0, 1)
        self.readings = {name: torch.as_tensor(fn(x)).float().flatten() for name, fn in self.measures.items()}
        labels = None
        if self.judge is not None:
            with torch.no_grad():
                labels = self.judge(x.to(next(self.judge.parameters()).device)).argmax(1).cpu()
        b = self.images.shape[0]
        fig, axes = plt.subplots(2, b, figsize=(1.1 * b + 0.6, 2.9), squeeze=False)
        for i in range(b):
            axes[0, i].imshow(((self.original[i, 0] + 1) / 2).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            axes[1, i].imshow(self.images[i].numpy(), cmap="gray", vmin=0, vmax=1)
            note = [f"{k[:5]} {v[i]:.2f}" for k, v in self.readings.items()]
            if labels is not None:
                note.append(f"judge: {int(labels[i])}")
            axes[1, i].set_title("\n".join(note), fontsize=7)
            for ax in axes[:, i]:
                ax.set_axis_off()
        steps = ", ".join(f"{k} {a:+.1f}" for k, a in self.alphas.items())
        fig.suptitle(f"top: G(z); bottom: G(z + Σ α·d)  ({steps})", fontsize=9)
        fig.tight_layout()
        _show_in(self.out, fig)

    def __repr__(self) -> str:
        return f"EditExplorer({len(self.z)} codes, directions {list(self.directions)})"


def edit_explorer(G: torch.nn.Module, z: torch.Tensor, directions: dict[str, Any], limit: float = 4.0,
                  measures: dict[str, Any] | None = None, judge: torch.nn.Module | None = None) -> EditExplorer:
    """A slider per edit direction: the bottom row shows ``G(z + Σ_k α_k d_k)`` for the codes ``z``
    ``(B, latent_dim)`` (e.g. inverted test digits, B ≤ 16), the top row ``G(z)``. ``directions``: name →
    a unit direction ``(latent_dim,)`` or a :class:`genimg_course.fusion.Direction`. ``measures``: name →
    a function of images in [-1, 1] giving one value each (``fusion.stroke_thickness``, ``fusion.slant``),
    shown under each edited image; ``judge`` (a classifier's logits, e.g. ``metrics.load_judge().classifier``)
    adds its label, so an edit that changes the digit shows. Draws once when built."""
    return EditExplorer(G, z, directions, limit, measures, judge)
