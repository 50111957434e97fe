"""Interactive explorers (ipywidgets) for the notebooks.

:func:`conv_explorer` lets a learner pick a classic 3x3 kernel and a stride and padding, and see
the input, the output and the output shape. The computation lives in :func:`apply_kernel`, a plain
function that works (and is tested) without any widget.

Each explorer draws once with its default settings when it is built, so a notebook executed
headless (papermill, nbval, CI) still shows a picture and exercises the code path.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["KERNELS", "as_gray_image", "apply_kernel", "conv_explorer"]

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
        raise ValueError("image contains NaN or inf")
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
    elif isinstance(kernel, torch.Tensor) and kernel.dim() == 2:
        w = kernel.float()
    else:
        raise TypeError(f"kernel must be a name from {list(KERNELS)} or a (k, k) tensor, got {kernel!r}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    if min(x.shape[0] + 2 * padding, x.shape[1] + 2 * padding) < max(w.shape):
        raise ValueError(f"a {tuple(w.shape)} kernel does not fit a {tuple(x.shape)} image with padding {padding}")
    return F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)[0, 0]


def conv_explorer(image: Any, kernel: str = "edge x (Sobel)", stride: int = 1, padding: int = 0) -> Any:
    """A kernel dropdown and stride / padding sliders over ``image``; shows the input, the output
    and its shape. Returns the widget (display it, or make it a cell's last expression)."""
    import ipywidgets as W
    import matplotlib.pyplot as plt
    from IPython.display import display

    x = as_gray_image(image)
    if kernel not in KERNELS:
        raise KeyError(f"unknown kernel {kernel!r}; choose one of {list(KERNELS)}")
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
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    for w in (kernel_w, stride_w, padding_w):
        w.observe(update, names="value")
    update()  # draw once with the defaults, so a headless run shows (and tests) a picture
    return W.VBox([W.HBox([kernel_w, stride_w, padding_w]), shape_w, out])
