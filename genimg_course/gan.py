"""Training GANs with the course loop: the losses, the :class:`GANTask`, and diagnostics.

``GANTask(G, D, loss=...)`` plugs into :func:`genimg_course.train.fit` like any task. Each step
updates the discriminator ``n_critic`` times, then the generator once, and returns losses,
D's outputs on real and fake data and both gradient norms — all as tensors, so nothing waits
for the GPU inside a step. :class:`GANDiagnostics` reads them at every log and prints a
plain-language hint when training goes wrong (and says nothing on a healthy run). Samples come
from :func:`genimg_course.sampling.generate`, the one sampler of every family (re-exported here).

The losses, each the one or two lines a lesson shows beside its equation:

Discriminators return *logits* (scores before any sigmoid): ``D(x) = sigmoid(logit)``. With
``softplus(a) = log(1 + e^a)``, ``-log sigmoid(a) = softplus(-a)`` and
``-log(1 - sigmoid(a)) = softplus(a)``, which is exact and never takes ``log(0)``.

=========================  ==========================================================
original GAN (Goodfellow et al., 2014)
``d_loss_bce``             ``-E[log D(x)] - E[log(1 - D(G(z)))]``
``g_loss_saturating``      ``E[log(1 - D(G(z)))]`` (minimised; vanishing gradient early)
``g_loss_nonsaturating``   ``-E[log D(G(z))]`` (same fixed point, strong gradient early)
WGAN (Arjovsky, Chintala & Bottou, 2017) with gradient penalty (Gulrajani et al., 2017)
``d_loss_wasserstein``     ``E[D(G(z))] - E[D(x)]``
``g_loss_wasserstein``     ``-E[D(G(z))]``
``gradient_penalty``       ``E[(||∇ D(x̂)||₂ - 1)²]``, ``x̂ = εx + (1-ε)G(z)``, ``ε ~ U(0, 1)`` per sample
hinge (Lim & Ye, 2017; Miyato et al., 2018)
``d_loss_hinge``           ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``
``g_loss_hinge``           ``-E[D(G(z))]``
=========================  ==========================================================
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_shipped
from .history import History
from .models.dcgan import DCGANGenerator, check_gan_pair
from .sampling import generate, labels_for
from .train import StepContext, adam

__all__ = [
    "d_loss_bce", "g_loss_saturating", "g_loss_nonsaturating", "d_loss_wasserstein", "g_loss_wasserstein",
    "gradient_penalty", "d_loss_hinge", "g_loss_hinge", "LOSSES",
    "GANTask", "generate", "diversity", "GANDiagnostics", "count_modes", "load_pretrained",
]


# ---------------------------------------------------------------- the losses
def _logits(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of discriminator outputs, got "
                        f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: the batch has no samples")
    return x.float()


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]`` from logits."""
    r, f = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    return F.softplus(-r).mean() + F.softplus(f).mean()


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original minimax generator loss ``E[log(1 - D(G(z)))]`` (to be minimised)."""
    return -F.softplus(_logits(fake_logits, "fake_logits")).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-E[log D(G(z))]``."""
    return F.softplus(-_logits(fake_logits, "fake_logits")).mean()


def d_loss_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss ``E[D(G(z))] - E[D(x)]`` (minimised: real scores up, fake scores down)."""
    return _logits(fake_scores, "fake_scores").mean() - _logits(real_scores, "real_scores").mean()


def g_loss_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss ``-E[D(G(z))]``."""
    return -_logits(fake_scores, "fake_scores").mean()


def d_loss_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    r, f = _logits(real_scores, "real_scores"), _logits(fake_scores, "fake_scores")
    return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()


def g_loss_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]`` (the same as the Wasserstein generator loss)."""
    return -_logits(fake_scores, "fake_scores").mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty ``E[(||∇_x̂ D(x̂)||₂ - 1)²]`` on random interpolates ``x̂ = εx + (1-ε)x̃``.

    ``real``, ``fake``: ``(B, …)`` with the same shape; ``eps``: ``(B,)`` in [0, 1], drawn
    uniformly per sample when not given. The norm is taken per sample over all of its pixels.
    The graph is kept (``create_graph=True``) so the penalty itself can be minimised.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise TypeError("real and fake must be tensors")
    for name, t in (("real", real), ("fake", fake)):
        if not t.is_floating_point():
            raise TypeError(f"{name} must be float images (scaled, e.g. with data.to_float), got {t.dtype}")
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[0] == 0:
        raise ValueError("gradient_penalty got an empty batch")
    b = real.shape[0]
    if eps is None:
        eps = torch.rand(b, device=real.device)
    if eps.shape != (b,):
        raise ValueError(f"eps must have shape ({b},), one number per sample, got {tuple(eps.shape)}")
    e = eps.view(b, *([1] * (real.dim() - 1))).to(real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # (B,): one gradient norm per sample
    return ((norms - 1.0) ** 2).mean()


# name -> (discriminator loss, generator loss)
LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
    "saturating": (d_loss_bce, g_loss_saturating),
    "wgan-gp": (d_loss_wasserstein, g_loss_wasserstein),
    "hinge": (d_loss_hinge, g_loss_hinge),
}


# ---------------------------------------------------------------- the task


class GANTask:
    """Adversarial training of ``G`` against ``D``.

    ``loss``: ``"nonsaturating"`` (default), ``"saturating"`` (the original minimax G loss, to see
    why it fails), ``"wgan-gp"`` (Wasserstein critic + gradient penalty of weight ``gp_weight``;
    use ``n_critic=5`` and a D without BatchNorm) or ``"hinge"``. Batches are ``x`` or ``(x, y)``;
    with a conditional G (``G.num_classes``) the labels ``y`` condition both networks.

    ``reuse_fakes=True`` (default) lets G's update score the fakes D was just trained on (the
    same codes ``z``, as the DCGAN authors' code and pytorch/examples do), so G runs forward once
    per step; ``False`` draws fresh codes for G's update, as in Goodfellow et al.'s Algorithm 1,
    at the cost of a second forward pass through G. Either way G's backward pass stops at G's own
    weights (``StepContext.update`` computes gradients for the optimiser's parameters only): D's
    weight gradients there would be thrown away, so they are never computed.
    """

    def __init__(self, G: nn.Module, D: nn.Module, loss: str = "nonsaturating", lr_g: float = 2e-4,
                 lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), n_critic: int = 1,
                 gp_weight: float = 10.0, latent_dim: int | None = None, reuse_fakes: bool = True) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: expected one of {sorted(LOSSES)}")
        if not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(f"n_critic must be a positive integer, got {n_critic!r}")
        if not isinstance(reuse_fakes, bool):
            raise TypeError(f"reuse_fakes must be True or False, got {reuse_fakes!r}")
        if not (lr_g > 0 and lr_d > 0):
            raise ValueError(f"learning rates must be positive, got lr_g={lr_g}, lr_d={lr_d}")
        self.latent_dim = latent_dim or getattr(G, "latent_dim", None)
        if not self.latent_dim:
            raise ValueError("pass latent_dim: the generator has no latent_dim attribute")
        if loss == "wgan-gp" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
            raise ValueError("WGAN-GP penalises each sample's gradient, which BatchNorm in D mixes across the batch: "
                             "build D with norm='layer' or norm='none'")
        self.num_classes = getattr(G, "num_classes", None)
        if hasattr(D, "image_shape"):
            check_gan_pair(G, D, self.latent_dim)  # fails before any step, naming both shapes
        device = next(G.parameters()).device
        self.loss, self.n_critic, self.gp_weight, self.reuse_fakes = loss, n_critic, gp_weight, reuse_fakes
        self.d_loss_fn, self.g_loss_fn = LOSSES[loss]
        self.modules = {"G": G, "D": D.to(device)}
        self.optimizers = {"G": adam(G.parameters(), lr_g, betas=betas, device=device),
                           "D": adam(D.parameters(), lr_d, betas=betas, device=device)}
        self.divergence_hint = ("GANs diverge when D overpowers G or the learning rate is too high: try a lower lr, "
                                "spectral normalisation or the WGAN-GP / hinge losses (lesson 04).")

    def sample_z(self, n: int, device: torch.device | None = None) -> torch.Tensor:
        """``(n, latent_dim)`` standard normal codes."""
        device = device or next(self.modules["G"].parameters()).device
        return torch.randn(n, self.latent_dim, device=device)

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        y = y if self.num_classes else None  # labels condition the networks only when G is conditional
        G, D = self.modules["G"], self.modules["D"]
        G.train(), D.train()
        b = x.shape[0]
        for i in range(self.n_critic):
            z = self.sample_z(b, x.device)
            keep_graph = self.reuse_fakes and i == self.n_critic - 1  # G's update below reuses these fakes
            with ctx.autocast():
                with contextlib.nullcontext() if keep_graph else torch.no_grad():
                    fake = G(z, y)
                real_out = D(x, y).float()  # (B,) logits / critic scores
                fake_out = D(fake.detach(), y).float()  # detach: D's update must not reach G
            d_loss = self.d_loss_fn(real_out, fake_out)
            if self.loss == "wgan-gp":
                d_loss = d_loss + self.gp_weight * gradient_penalty(lambda t: D(t, y), x, fake.float())
            grad_d = ctx.update(d_loss, self.optimizers["D"], grad_norm=True)
        with ctx.autocast():
            if not self.reuse_fakes:
                fake = G(self.sample_z(b, x.device), y)
            with _local_only(D):  # D is not updated here: under DDP, nothing of D's to all-reduce
                g_out = D(fake, y).float()
        g_loss = self.g_loss_fn(g_out)
        grad_g = ctx.update(g_loss, self.optimizers["G"], grad_norm=True)  # backward into G's weights only
        if self.loss in ("nonsaturating", "saturating"):
            d_real, d_fake = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()  # D's probabilities
        else:
            d_real, d_fake = real_out.mean(), fake_out.mean()  # critic scores
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": d_real.detach(),
                "d_fake": d_fake.detach(), "grad_d": grad_d, "grad_g": grad_g}


def _local_only(module: nn.Module) -> contextlib.AbstractContextManager:
    """``no_sync()`` for a DDP-wrapped module (its forward then expects no gradient reduction)."""
    return module.no_sync() if isinstance(module, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()


def diversity(x: torch.Tensor, max_n: int = 256) -> float:
    """Mean pairwise Euclidean distance within a batch ``(N, …)`` (first ``max_n`` items):
    close to 0 when a generator makes (nearly) the same output for every code."""
    if not isinstance(x, torch.Tensor) or x.shape[0] < 2:
        raise ValueError("diversity needs a tensor of at least 2 samples")
    f = x[:max_n].flatten(1).float()
    d = torch.cdist(f, f)
    n = f.shape[0]
    return float(d.sum() / (n * (n - 1)))


def count_modes(points: torch.Tensor, centres: torch.Tensor, radius: float, min_share: float = 0.01) -> tuple[int, float]:
    """For 2-D toy data: how many of the mixture's ``centres`` ``(K, 2)`` receive at least
    ``min_share`` of the ``points`` ``(N, 2)`` within ``radius``, and the share of points that
    land near any centre (quality)."""
    if points.dim() != 2 or centres.dim() != 2 or points.shape[1] != centres.shape[1]:
        raise ValueError(f"points (N, D) and centres (K, D) must agree in D, got {tuple(points.shape)} and {tuple(centres.shape)}")
    d = torch.cdist(points.float(), centres.float())  # (N, K)
    nearest = d.argmin(1)
    close = d.min(1).values < radius
    counts = torch.bincount(nearest[close], minlength=centres.shape[0])
    covered = int((counts >= min_share * points.shape[0]).sum())
    return covered, float(close.float().mean())


class GANDiagnostics:
    """A :func:`fit` callback that watches a GAN run and explains what goes wrong.

    At each log it checks: D winning outright (D's loss near 0 while G's loss keeps rising),
    exploding gradient norms, and — every ``sample_every`` logs, when ``G`` is given — collapsing
    sample diversity compared with ``real`` data. Each problem is reported once, with a hint and
    the lesson section that explains it; :attr:`alarms` lists what fired.

    The diversity check waits ``warmup_steps`` training steps (and ``warmup_logs`` logs): a fresh
    generator maps every code to nearly the same grey blob, which is not collapse. Measured for
    lesson 04's width-32 DCGANs on the digits (batch 64): samples 5 % as diverse as the data at
    step 20, 15 % at 40, 38 % at 100 and 70 % at 200; WGAN-GP's stayed near 23 % for 80 steps.
    """

    def __init__(self, G: nn.Module | None = None, real: torch.Tensor | None = None, latent_dim: int | None = None,
                 window: int = 4, grad_limit: float = 1e3, diversity_floor: float = 0.25, sample_every: int = 2,
                 warmup_logs: int = 2, warmup_steps: int = 200, print_fn: Callable[[str], None] = print) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 logs, got {window}")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a whole number of steps >= 0, got {warmup_steps!r}")
        self.G, self.latent_dim = G, latent_dim or getattr(G, "latent_dim", None)
        self.window, self.grad_limit, self.diversity_floor, self.sample_every = window, grad_limit, diversity_floor, sample_every
        self.warmup_logs, self.warmup_steps = warmup_logs, warmup_steps  # no collapse alarm before both have passed
        self.real_diversity = diversity(real) if real is not None else None
        self.alarms: list[str] = []
        self._print = print_fn
        self._calls = 0

    def _alarm(self, kind: str, message: str) -> None:
        if kind not in self.alarms:
            self.alarms.append(kind)
            self._print(f"[diagnostics] {message}")

    def __call__(self, history: History) -> None:
        self._calls += 1
        v, w = history.values, self.window
        d, g = v.get("d_loss", []), v.get("g_loss", [])
        if len(d) >= w and all(0 <= x < 0.05 for x in d[-w:]) and g[-1] > g[-w] + 0.5:
            self._alarm("d_wins", f"D's loss has been near 0 for {w} logs while G's loss rose from {g[-w]:.2f} to "
                                  f"{g[-1]:.2f}: the discriminator wins outright and G cannot keep up. Try a "
                                  "lower D learning rate, fewer D steps, spectral norm or the hinge loss "
                                  "(lesson 04, 'Stabilising GANs').")
        gg, df = v.get("grad_g", []), v.get("d_fake", [])
        if len(gg) >= w and len(df) >= w and all(a < 1e-2 for a in gg[-w:]) and all(0 <= p < 0.05 for p in df[-w:]):
            self._alarm("g_vanishing", f"G's gradient norm has stayed below 0.01 for {w} logs while D rejects its "
                                       "samples: G's loss has saturated and G stops learning. Use the non-saturating "
                                       "loss -log D(G(z)) (lesson 02, 'Why the original G loss saturates').")
        for name in ("grad_d", "grad_g"):
            vals = v.get(name, [])
            if vals and (not math.isfinite(vals[-1]) or vals[-1] > self.grad_limit):
                self._alarm(f"{name}_explodes", f"{'D' if name == 'grad_d' else 'G'}'s gradient norm reached "
                                               f"{vals[-1]:.3g} (limit {self.grad_limit:g}): updates this large throw "
                                               "training off. Lower the learning rate, or constrain D with spectral "
                                               "norm or a gradient penalty (lesson 04).")
        if (self.G is not None and self.real_diversity and self._calls > self.warmup_logs
                and history.steps and history.steps[-1] >= self.warmup_steps and self._calls % self.sample_every == 0):
            x = generate(self.G, 64, y=labels_for(self.G, 64), seed=0, latent_dim=self.latent_dim)
            ratio = diversity(x) / self.real_diversity
            if ratio < self.diversity_floor:
                self._alarm("collapse", f"G's samples are {ratio:.0%} as diverse as real data: mode collapse — G "
                                        "produces (nearly) the same output for different codes. See lesson 02's "
                                        "mode-collapse section; minibatch diversity, WGAN-GP or spectral norm help.")


def load_pretrained(name: str = "dcgan_mnist", device: torch.device | str = "cpu") -> DCGANGenerator:
    """A shipped generator (SHA-256 checked): ``"dcgan_mnist"`` or ``"cgan_mnist"`` (conditional).

    Both are DCGANs (width 32, latent 64) trained longer than a lesson can on a CPU, by
    ``tools/make_gan_weights.py``. ``G.info`` holds its training steps and measured FID beside
    the real-vs-real baseline.
    """
    if name not in ("dcgan_mnist", "cgan_mnist"):
        raise ValueError(f"unknown pretrained generator {name!r}: expected 'dcgan_mnist' or 'cgan_mnist'")
    state = load_shipped(name)
    G = DCGANGenerator(**state["config"])
    G.load_state_dict(state["G"])
    G.info = {k: state[k] for k in ("steps", "fid", "fid_real_vs_real", "fid_samples", "data")}
    return G.to(device).eval()
