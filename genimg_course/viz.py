"""Pictures: image grids, loss curves, feature maps and filters, a live loss plot and live samples.

Every picture of a model's samples goes through :mod:`genimg_course.sampling` (``decode`` /
``generate``), which gives images in [-1, 1] whatever the model's family."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import torch

from .history import History
from .models._checks import check_bool, check_number, check_positive_int, check_value_range, describe
from .sampling import check_labels, decode, labels_for

__all__ = ["show_images", "plot_history", "plot_feature_maps", "plot_filters", "plot_latent_codes", "decode_grid",
           "LiveLossPlot", "LiveSamples"]


def _images_for_display(images: Any, value_range: tuple[float, float] | None) -> torch.Tensor:
    """Any of ``(B, C, H, W)`` / ``(C, H, W)`` / ``(H, W)``, uint8 or float → float ``(B, C, H, W)`` in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected a tensor of images (B, C, H, W), got {type(images).__name__}")
    x = images.detach().cpu()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[:, None] if x.shape[0] not in (1, 3) else x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (B, 1 or 3, H, W), got {tuple(images.shape)}")
    if x.shape[0] == 0:
        raise ValueError("got an empty batch (0 images): nothing to show")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise TypeError(f"expected uint8 or float images, got {x.dtype}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError("the images contain NaN or inf: the model that produced them has diverged")
    if value_range is None:
        top = float(x.max())
        if top > 2.0:
            raise ValueError(f"float images with values up to {top:.4g} look like 0..255 pixels, but a float range is "
                             "guessed as [-1, 1] or [0, 1]: pass value_range=(0, 255), or show the uint8 images")
        value_range = (-1.0, 1.0) if float(x.min()) < 0 else (0.0, 1.0)
    lo, hi = check_value_range(value_range)
    return ((x - lo) / (hi - lo)).clamp_(0, 1)


def _check_ax(ax: Any) -> None:
    if ax is not None and not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()) or None, got {describe(ax)}")


def _check_keys(keys: Any) -> None:
    if isinstance(keys, str):
        raise TypeError(f"keys must be a list of logged names, got the string {keys!r}: pass [{keys!r}]")
    if keys is not None and not list(keys):
        raise ValueError("keys is empty: name at least one logged value, or pass None for all of them")


def show_images(images: Any, nrow: int = 8, title: str | None = None, value_range: tuple[float, float] | None = None,
                ax: plt.Axes | None = None, size: float = 0.6) -> plt.Axes:
    """Draw a grid of images with ``torchvision.utils.make_grid``.

    ``images``: ``(B, C, H, W)`` uint8 (0..255) or float; float range is ``value_range`` or
    guessed (``[-1, 1]`` if any value is negative, else ``[0, 1]``).
    """
    from torchvision.utils import make_grid

    check_positive_int(nrow=nrow)
    check_number("size", size, low=0.0, low_open=True)
    _check_ax(ax)
    x = _images_for_display(images, value_range)
    nrow = max(1, min(nrow, x.shape[0]))
    grid = make_grid(x, nrow=nrow, padding=1, pad_value=1.0)  # (3, H', W')
    if ax is None:
        rows = -(-x.shape[0] // nrow)
        scale = size * max(1.0, 28 / x.shape[-1]) * x.shape[-1] / 28
        _, ax = plt.subplots(figsize=(max(2.0, nrow * scale), max(1.5, rows * scale + (0.4 if title else 0))))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: History, keys: Sequence[str] | None = None, ax: plt.Axes | None = None,
                 log_y: bool = False) -> plt.Axes:
    """Logged values against step, one line per key."""
    if not isinstance(history, History):
        raise TypeError(f"plot_history expects a train.History, got {type(history).__name__}")
    _check_keys(keys)
    _check_ax(ax)
    if not history.steps:
        raise ValueError("plot_history got an empty History (no logged steps): nothing to plot yet")
    keys = list(keys) if keys is not None else list(history.values)
    missing = [k for k in keys if k not in history.values]
    if missing:
        raise KeyError(f"history has no values named {missing}; it has {sorted(history.values)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for k in keys:
        ax.plot(history.steps, history.values[k], label=k)
    ax.set_xlabel("step")
    if log_y:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_feature_maps(maps: torch.Tensor, max_maps: int = 16, title: str | None = None, ncol: int = 8) -> plt.Figure:
    """Feature maps ``(C, H, W)`` or ``(1, C, H, W)``, each on its own colour scale."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"expected a tensor (C, H, W), got {type(maps).__name__}")
    m = maps.detach().float().cpu()
    if m.dim() == 4 and m.shape[0] == 1:
        m = m[0]
    if m.dim() != 3 or m.shape[0] == 0:
        raise ValueError(f"expected feature maps of shape (C, H, W) or (1, C, H, W) with C >= 1, got {tuple(maps.shape)}")
    check_positive_int(max_maps=max_maps, ncol=ncol)
    n = min(max_maps, m.shape[0])
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.3 * ncol, 1.3 * nrow + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(m[i].numpy(), cmap="viridis")
            ax.set_title(f"#{i}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_filters(weight: torch.Tensor, max_filters: int = 32, title: str | None = None, ncol: int = 8) -> plt.Figure:
    """Convolution filters ``(C_out, C_in, k, k)``: the first input channel of each, red for
    negative and blue for positive weights on a symmetric scale."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"expected conv weights of shape (C_out, C_in, k, k), got {got}")
    if weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(f"expected conv weights of shape (C_out, C_in, k, k) with C_out, C_in >= 1, got {tuple(weight.shape)}")
    check_positive_int(max_filters=max_filters, ncol=ncol)
    w = weight.detach().float().cpu()[:, 0]
    if not torch.isfinite(w).all():
        raise ValueError("the filters contain NaN or inf: the network that learned them has diverged")
    n = min(max_filters, w.shape[0])
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    v = float(w[:n].abs().max()) or 1.0
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.1 * ncol, 1.1 * nrow + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(w[i].numpy(), cmap="RdBu", vmin=-v, vmax=v)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_latent_codes(codes: torch.Tensor, labels: torch.Tensor | None = None, ax: plt.Axes | None = None,
                      title: str | None = None, max_points: int = 5000) -> plt.Axes:
    """Scatter 2-D codes ``(N, 2)``, coloured by class ``labels (N,)`` (0..9) when given."""
    try:
        codes = torch.as_tensor(codes).detach().float().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"plot_latent_codes draws codes: a tensor of shape (N, 2), got {describe(codes)}") from None
    if codes.dim() != 2 or codes.shape[1] != 2:
        raise ValueError(f"plot_latent_codes draws 2-D codes of shape (N, 2), got {tuple(codes.shape)}: "
                         "for more dimensions, plot two of them (codes[:, [i, j]])")
    if codes.shape[0] == 0:
        raise ValueError("plot_latent_codes got no codes (shape (0, 2)): nothing to draw")
    check_positive_int(max_points=max_points)
    _check_ax(ax)
    if labels is not None and (not hasattr(labels, "__len__") or len(labels) != codes.shape[0]):
        raise ValueError(f"labels must give one class per code, ({codes.shape[0]},), got {describe(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.8))
    codes = codes[:max_points]
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=4, alpha=0.6)
    else:
        labels = torch.as_tensor(labels)[:max_points].cpu()
        sc = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=4, alpha=0.7)
        plt.colorbar(sc, ax=ax, ticks=range(10), label="class")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def decode_grid(G: torch.nn.Module, n: int = 15, limit: float | None = None, y: int | None = None) -> torch.Tensor:
    """Decode an ``n x n`` grid of 2-D codes: ``(n * n, C, H, W)`` CPU images, row by row from the top
    (``z[1]`` high) and left to right (``z[0]`` low to high). ``limit=None`` spaces the grid by the
    prior's quantiles (``Phi^-1`` of 0.05..0.95, as in Kingma & Welling's figure); a number spaces it
    evenly in ``[-limit, limit]``. ``G``: any generative model with ``latent_dim == 2`` (e.g. a 2-D
    ``ConvVAE``); a conditional one draws class ``y`` (default 0). The images lie in [-1, 1]."""
    if not isinstance(G, torch.nn.Module):
        raise TypeError(f"decode_grid needs a generative model (an nn.Module with latent_dim == 2), got {describe(G)}")
    if getattr(G, "latent_dim", 2) != 2:
        raise ValueError(f"decode_grid needs a 2-D latent space, got latent_dim={G.latent_dim}")
    check_positive_int(n=n)
    if limit is not None:
        check_number("limit", limit, low=0.0, low_open=True)
    if y is not None and not getattr(G, "num_classes", None):
        raise ValueError(f"this model is not conditional (num_classes=None): do not pass a class y, got {y!r}")
    if limit is None:
        axis = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    else:
        axis = torch.linspace(-limit, limit, n)
    zx, zy = torch.meshgrid(axis, axis.flip(0), indexing="xy")
    z = torch.stack([zx.flatten(), zy.flatten()], 1)
    return decode(G, z, y=labels_for(G, z.shape[0], label=0 if y is None else y))


class _LiveFigure:
    """Shared plumbing of the live callbacks: act every ``every`` logs, only inside IPython, and
    redraw one display in place instead of appending a new figure each time."""

    def __init__(self, every: int) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be >= 1 (a whole number of logs), got {every!r}")
        self.every = every
        self._calls = 0
        self._handle: Any = None

    def _due(self) -> bool:
        """Count this call; True when it is a drawing call and a notebook front end is there."""
        self._calls += 1
        if self._calls % self.every:
            return False
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        return get_ipython() is not None

    def _show(self, fig: plt.Figure) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)


class LiveLossPlot(_LiveFigure):
    """A :func:`genimg_course.train.fit` callback that redraws the loss curves in place in a
    notebook every ``every`` logs. Outside a notebook it does nothing."""

    def __init__(self, keys: Sequence[str] | None = None, every: int = 1, log_y: bool = False) -> None:
        super().__init__(every)
        _check_keys(keys)
        check_bool(log_y=log_y)
        self.keys, self.log_y = keys, log_y

    def __call__(self, history: History) -> None:
        if not isinstance(history, History):
            raise TypeError(f"LiveLossPlot is a fit callback: it expects the run's History, got {describe(history)}")
        if not self._due():
            return
        fig, ax = plt.subplots(figsize=(6, 2.6))
        plot_history(history, self.keys, ax=ax, log_y=self.log_y)
        ax.set_title(f"step {history.steps[-1]}")
        fig.tight_layout()
        self._show(fig)


class LiveSamples(_LiveFigure):
    """A :func:`genimg_course.train.fit` callback that shows ``G``'s images for a *fixed* batch of
    latent codes ``z`` ``(n, latent_dim)`` every ``every`` logs, redrawn in place in a notebook
    (like :class:`LiveLossPlot`). Fixed codes make the pictures comparable from one log to the
    next: you watch the same samples sharpen. Outside a notebook it does nothing.

    ``y``: ``(n,)`` class labels for a conditional generator (``G.num_classes``). The samples are
    drawn by :func:`genimg_course.sampling.decode`: in eval mode (BatchNorm uses its running
    statistics), ``G``'s mode restored, images in [-1, 1] whatever the family.
    """

    def __init__(self, G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, every: int = 1,
                 nrow: int = 8, title: str = "G(z) for fixed z") -> None:
        if not isinstance(G, torch.nn.Module):
            raise TypeError(f"G must be a generator (nn.Module), got {type(G).__name__}")
        latent_dim = getattr(G, "latent_dim", None)
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or (latent_dim and z.shape[1] != latent_dim):
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be fixed latent codes of shape (n, {latent_dim or 'latent_dim'}), got {got}")
        if z.shape[0] == 0 or not z.is_floating_point():
            raise ValueError(f"z must be at least one float latent code (n >= 1), got {describe(z)}")
        check_positive_int(nrow=nrow)
        y = check_labels(G, z.shape[0], y)
        super().__init__(every)
        self.G, self.z, self.y, self.nrow, self.title = G, z, y, nrow, title

    def sample(self) -> torch.Tensor:
        """``G``'s images for the fixed codes (and labels): a float CPU tensor ``(n, C, H, W)`` in [-1, 1]."""
        return decode(self.G, self.z, y=self.y)

    def __call__(self, history: History) -> None:
        if not isinstance(history, History):
            raise TypeError(f"LiveSamples is a fit callback: it expects the run's History, got {describe(history)}")
        if not self._due():
            return
        x = self.sample()
        step = history.steps[-1] if history.steps else 0
        if not torch.isfinite(x).all():  # fit stops a diverged run itself; just do not draw NaNs
            return
        rows = -(-x.shape[0] // self.nrow)
        fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * self.nrow), 0.45 * rows + 0.4))
        show_images(x, nrow=self.nrow, ax=ax, title=f"{self.title}, step {step}", value_range=(-1.0, 1.0))
        fig.tight_layout()
        self._show(fig)
