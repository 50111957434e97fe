"""Diffusion models and flow matching (lesson 10): noise schedules as pure functions, the forward
process in closed form, the training tasks, EMA of the weights, and the samplers.

Images live in [-1, 1], ``(B, C, H, W)``; the network (``models.UNet`` with ``time_dim``, and
``num_classes`` for class conditioning) is called as ``model(x_t, t[, y])``.

**DDPM** (Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020). A schedule
``beta_0 … beta_{T-1}`` adds noise step by step, ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)``;
with ``alpha_t = 1 - beta_t`` and ``alpha_bar_t = prod_{s <= t} alpha_s`` the steps compose to the
closed form ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`` (:func:`q_sample`). Steps are
indexed ``t = 0 … T-1`` here (``t = 0`` is one step of noise; the paper counts 1 … T). The network
learns ``eps_theta(x_t, t) ≈ eps`` by the simple loss ``E ||eps - eps_theta||^2`` (:func:`diffusion_loss`,
:class:`DiffusionTask`), a re-weighted ELBO, and samples by the ancestral step (:func:`ddpm_step`)

    x_{t-1} = 1 / sqrt(alpha_t) * (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps_theta) + sigma_t z,  sigma_t^2 = beta_t

(no noise at ``t = 0``). **Schedules**: linear (Ho et al. 2020) and cosine (Nichol & Dhariwal,
"Improved Denoising Diffusion Probabilistic Models", ICML 2021), compared by their signal-to-noise
ratio ``alpha_bar / (1 - alpha_bar)`` (:meth:`Schedule.snr`).

**DDIM** (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021): the same network,
a non-Markovian step that may skip timesteps (:func:`ddim_step`); ``eta = 0`` is deterministic,
``eta = 1`` the DDPM posterior's noise level.

**Classifier-free guidance** (Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021
workshop, arXiv 2022): one network trained with labels dropped to a null class with probability
``p_uncond``; at sampling ``eps = eps_u + s (eps_c - eps_u)`` (:func:`cfg_combine`; the paper's
``(1 + w) eps_c - w eps_u`` is ``s = 1 + w``).

**Flow matching / rectified flow** (Lipman, Chen, Ben-Hamu, Nickel & Le, "Flow Matching for Generative
Modeling", ICLR 2023; Liu, Gong & Liu, "Flow Straight and Fast", ICLR 2023): the straight path
``x_t = (1 - t) x_0 + t eps``, ``t ~ U(0, 1)``, whose velocity ``v = eps - x_0`` the network learns
(:class:`FlowMatchingTask`); sampling integrates ``dx/dt = v`` from noise (``t = 1``) to data
(``t = 0``) with Euler or Heun steps (:func:`flow_sample`).

**Clipping the clean-image estimate** (:func:`clipped_eps`): each step implies an estimate
``x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_bar_t)``; where ``alpha_bar_t`` is tiny (the
first steps of sampling) a small error in ``eps_theta`` makes it huge. The samplers clamp it to [-1, 1] and step
through the clamped estimate (``clip_denoised=True``), as Ho et al.'s code and ``diffusers`` do.

**EMA** of the weights (:class:`EMA`): the samples come from an exponential moving average of the
trained weights, which smooths the noise of single SGD steps that the denoiser's many uses compound.

Checks: every helper refuses bad input (a timestep outside ``[0, T)``, a schedule whose signal does
not fall, guidance with an unknown class, images outside [-1, 1], a step count of 0) with a message
naming what fits, before any work. Checks that read values (ranges, labels) run once at a boundary;
the training steps call the maths with ``check=False`` and never make the host wait for the GPU.
"""
from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .models._checks import check_bool, check_device, check_int, check_module, check_number, describe
from .train import StepContext, adam, evaluating

__all__ = [
    "Schedule", "make_schedule", "linear_schedule", "cosine_schedule", "check_schedule", "q_sample",
    "check_diffusion_images", "EMA", "diffusion_loss", "flow_loss", "DiffusionTask", "FlowMatchingTask",
    "cfg_combine", "ddpm_step", "ddim_step", "clipped_eps", "ddim_timesteps", "ddpm_sample", "ddim_sample", "flow_sample",
    "network_evaluations", "DiffusionSampler", "SHIPPED_DIFFUSION", "load_diffusion",
]

IMAGE_SHAPE = (1, 28, 28)


# ----------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------

class Schedule(NamedTuple):
    """A noise schedule: ``betas``, ``alphas = 1 - betas`` and ``alpha_bars = cumprod(alphas)``, each
    float32 ``(T,)`` (computed in float64), indexed by ``t = 0 … T-1``; ``name`` for the records."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    T: int
    name: str

    def snr(self) -> torch.Tensor:
        """The signal-to-noise ratio of ``x_t``: ``alpha_bar_t / (1 - alpha_bar_t)``, ``(T,)``, falling with ``t``."""
        ab = self.alpha_bars.double()
        return (ab / (1 - ab)).float()

    def to(self, device: torch.device | str) -> "Schedule":
        """The same schedule with its tensors on ``device`` (a training step indexes it there)."""
        return Schedule(self.betas.to(device), self.alphas.to(device), self.alpha_bars.to(device), self.T, self.name)


def make_schedule(betas: Any, name: str = "custom") -> Schedule:
    """A :class:`Schedule` from ``betas`` (a 1-D sequence or tensor of ``T >= 1`` numbers in (0, 1))."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {describe(name)}")
    try:
        b = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"betas must be a 1-D sequence of numbers in (0, 1), got {describe(betas)}") from None
    if b.dim() != 1 or b.numel() == 0:
        raise ValueError(f"betas must be 1-D with at least one step, got shape {tuple(b.shape)}")
    if not bool(torch.isfinite(b).all()) or not bool(((b > 0) & (b < 1)).all()):
        bad = int(torch.nonzero(~(torch.isfinite(b) & (b > 0) & (b < 1)))[0])
        raise ValueError(f"every beta must lie in (0, 1) (each step must add some noise and keep some signal), "
                         f"got beta[{bad}] = {float(b[bad])!r}")
    alphas = 1 - b
    ab = torch.cumprod(alphas, 0)
    if not float(ab[-1]) > 0:
        raise ValueError("the schedule's alpha_bar reaches 0 in float64 (no signal left at all): use smaller betas")
    return Schedule(b.float(), alphas.float(), ab.float(), int(b.numel()), name)


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """Ho et al. (2020): ``beta_t`` evenly spaced from ``beta_start`` to ``beta_end`` over ``T`` steps."""
    T = check_int("T", T, minimum=1)
    lo = check_number("beta_start", beta_start, low=0, high=1, low_open=True, high_open=True)
    hi = check_number("beta_end", beta_end, low=0, high=1, low_open=True, high_open=True)
    if hi < lo:
        raise ValueError(f"beta_end must be >= beta_start (noise grows with t), got beta_start={lo:g}, beta_end={hi:g}")
    return make_schedule(torch.linspace(lo, hi, T, dtype=torch.float64), "linear")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal (2021): ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos²((t/T + s) / (1 + s) · π/2)``;
    ``beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), max_beta)`` (the cap avoids a singular last step)."""
    T = check_int("T", T, minimum=1)
    s = check_number("s", s, low=0)
    max_beta = check_number("max_beta", max_beta, low=0, high=1, low_open=True, high_open=True)

    def f(u: torch.Tensor) -> torch.Tensor:
        return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    u = torch.arange(T + 1, dtype=torch.float64) / T
    betas = (1 - f(u[1:]) / f(u[:-1])).clamp(max=max_beta)
    return make_schedule(betas, "cosine")


def check_schedule(schedule: Any, who: str = "") -> Schedule:
    """``schedule`` must be a :class:`Schedule` whose signal falls with ``t``: ``alpha_bar`` strictly
    decreasing in (0, 1), ``alphas = 1 - betas`` and ``alpha_bars = cumprod(alphas)``. Reads its values
    (call it at a boundary, not inside a training step)."""
    pre = f"{who}: " if who else ""
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{pre}schedule must be a Schedule (linear_schedule(), cosine_schedule() or make_schedule(betas)), "
                        f"got {describe(schedule)}")
    T = schedule.T
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"{pre}schedule.T must be a positive integer, got {T!r}")
    for field in ("betas", "alphas", "alpha_bars"):
        v = getattr(schedule, field)
        if not isinstance(v, torch.Tensor) or not v.is_floating_point() or tuple(v.shape) != (T,):
            raise ValueError(f"{pre}schedule.{field} must be a float tensor of shape ({T},), got {describe(v)}")
    ab = schedule.alpha_bars.detach().double().cpu()
    if not bool(torch.isfinite(ab).all()) or not bool(((ab > 0) & (ab < 1)).all()):
        raise ValueError(f"{pre}schedule.alpha_bars must lie in (0, 1) (some signal and some noise at every step), "
                         f"got values from {float(ab.min()):.3g} to {float(ab.max()):.3g}")
    rises = torch.nonzero(ab[1:] >= ab[:-1])
    if rises.numel():
        i = int(rises[0])
        raise ValueError(f"{pre}the schedule's signal must decrease with t (alpha_bar strictly falling, noise rising), but "
                         f"alpha_bar[{i + 1}] = {float(ab[i + 1]):.6g} >= alpha_bar[{i}] = {float(ab[i]):.6g}. Build it with "
                         "linear_schedule(), cosine_schedule() or make_schedule(betas) with betas in (0, 1); a reversed "
                         "schedule runs time backwards")
    b = schedule.betas.detach().double().cpu()
    want = torch.cumprod(1 - b, 0)
    if not torch.allclose(ab, want, rtol=1e-4, atol=1e-7) or not torch.allclose(
            schedule.alphas.detach().double().cpu(), 1 - b, atol=1e-6):
        raise ValueError(f"{pre}the schedule's fields disagree: alphas must be 1 - betas and alpha_bars cumprod(alphas). "
                         "Build it with make_schedule(betas)")
    return schedule


def _check_t(t: Any, T: int, who: str, name: str = "t", allow: int | None = None) -> torch.Tensor:
    """``t`` as a long tensor of steps in ``[0, T)`` (``allow``: one more value that fits, e.g. -1). Reads values."""
    if isinstance(t, bool):
        raise TypeError(f"{who}: {name} must be integer timesteps in [0, {T}), got {t!r}")
    if isinstance(t, int):
        t = torch.tensor([t])
    if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{who}: {name} must be integer timesteps in [0, {T}) (a long tensor), got {describe(t)}")
    if t.numel():
        lo, hi = (int(v) for v in torch.aminmax(t.detach().reshape(-1)))
        ok = (lo >= 0 or (allow is not None and lo >= allow and (t[t < 0] == allow).all())) and hi < T
        if not ok:
            extra = f" (or {allow})" if allow is not None else ""
            raise ValueError(f"{who}: {name} must be timesteps in [0, {T}){extra} for this {T}-step schedule, got values "
                             f"from {lo} to {hi}")
    return t


def check_diffusion_images(x: Any, what: str = "x0", strict: bool = False) -> torch.Tensor:
    """``x`` must be float images ``(B, C, H, W)`` in [-1, 1], finite. ``strict``: also refuse a batch
    with no value below 0 (digits in [0, 1], not [-1, 1]: the background would be 0, not -1). Reads
    values: one host sync."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a tensor of images (B, C, H, W) in [-1, 1], got {describe(x)}")
    if not x.is_floating_point():
        hint = ": scale uint8 pixels with data.to_float(images) (to [-1, 1])" if x.dtype == torch.uint8 else ""
        raise TypeError(f"{what} must be float images in [-1, 1], got {x.dtype}{hint}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} must lie in [-1, 1], but it contains NaN or inf")
    if lo < -1 - 1e-4 or hi > 1 + 1e-4:
        hint = "values above 1 look like 0..255 pixels: use data.to_float(images)" if hi > 1 + 1e-4 else \
            "scale the images to [-1, 1]"
        raise ValueError(f"{what} must lie in [-1, 1] (the range the noise schedule is built for), got values from "
                         f"{lo:.3g} to {hi:.3g}: {hint}")
    if strict and lo >= 0:
        raise ValueError(f"{what} has no value below 0 (from {lo:.3g} to {hi:.3g}): these look like images in [0, 1]. "
                         "Diffusion here works in [-1, 1]: use ResidentBatches(..., value_range=(-1, 1)) (the default)")
    return x


def _gather(v: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``v[t]`` shaped to broadcast over ``like``'s images: ``(B, 1, 1, 1)``."""
    return v.to(like.device)[t.to(like.device)].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: Schedule,
             check: bool = True) -> torch.Tensor:
    """The forward process in closed form: ``x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise``.

    ``x0`` float ``(B, C, H, W)`` in [-1, 1], ``t`` long ``(B,)`` in ``[0, T)``, ``noise`` like ``x0``.
    ``check=False`` skips the value checks (range of ``x0``, ``t``; the schedule), as a training step must."""
    if not isinstance(x0, torch.Tensor) or not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        raise ValueError(f"q_sample: x0 and noise must be tensors of the same shape, got {describe(x0)} and {describe(noise)}")
    if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.shape[0] != x0.shape[0]:
        raise ValueError(f"q_sample: t must be a tensor of shape ({x0.shape[0] if x0.dim() else '?'},), one timestep per "
                         f"image, got {describe(t)}")
    if check:
        check_schedule(schedule, "q_sample")
        check_diffusion_images(x0, "q_sample: x0")
        _check_t(t, schedule.T, "q_sample")
        if not noise.is_floating_point():
            raise TypeError(f"q_sample: noise must be float, got {noise.dtype}")
    ab = _gather(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


# ----------------------------------------------------------------------------------------------
# EMA and the models' checks
# ----------------------------------------------------------------------------------------------

def _plain(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


class EMA(nn.Module):
    """An exponential moving average of ``model``'s weights: after each :meth:`update`

        w_ema <- d * w_ema + (1 - d) * w,   d = min(decay, (1 + k) / (10 + k)) with warmup (k = updates so far), else decay

    for every parameter (floating buffers alike). The warm-up (as in TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``) keeps a short run from being an average
    dominated by the random initial weights. :attr:`module` is the averaged copy (eval mode, no
    gradients: sample from it). The update count is a buffer, so :func:`~genimg_course.train.fit`'s
    checkpoints save and resume it; the update never reads a value on the host (no sync)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        super().__init__()
        check_module("model", model, "EMA")
        self.decay = check_number("decay", decay, low=0, high=1, high_open=True)
        check_bool(warmup=warmup)
        self.warmup = warmup
        self.module = copy.deepcopy(_plain(model)).eval().requires_grad_(False)
        p = next(self.module.parameters(), None)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long, device=p.device if p is not None else None))

    def train(self, mode: bool = True) -> "EMA":  # the average is always used in eval mode
        super().train(mode)
        self.module.eval()
        return self

    def current_decay(self) -> torch.Tensor:
        """The decay the next update uses, as a tensor (no host sync)."""
        if not self.warmup:
            return torch.tensor(self.decay, device=self.updates.device)
        k = self.updates.float()
        return torch.clamp((1 + k) / (10 + k), max=self.decay)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        model = _plain(model)
        mine, theirs = list(self.module.parameters()), list(model.parameters())
        if len(mine) != len(theirs):
            raise ValueError(f"EMA.update got a model with {len(theirs)} parameter tensors; the average has {len(mine)}: "
                             "update it with the model it was made from")
        w = 1.0 - self.current_decay()
        torch._foreach_lerp_(mine, [p.detach().to(m.dtype) for p, m in zip(theirs, mine)], w)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.lerp_(b.to(e.dtype), w.to(e.dtype)) if e.is_floating_point() else e.copy_(b)
        self.updates += 1

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)


def _check_denoiser(model: Any, who: str, kind: str | None = None) -> nn.Module:
    """A network callable as ``model(x, t[, y])``: an ``nn.Module``; a ``UNet`` must have a time input,
    ``in_channels == out_channels``, and no residual head (a restorer of lesson 06 is not a denoiser of
    ``eps``); a shipped model's kind (``"eps"`` / ``"flow"``) must fit the sampler."""
    check_module("model", model, who)
    from .models.unet import UNet
    m = _plain(model.module if isinstance(model, EMA) else model)
    if isinstance(m, UNet):
        if m.time_dim is None:
            raise ValueError(f"{who}: this UNet has no time input (time_dim=None), so it cannot be a diffusion model: is "
                             "it a restorer of lesson 06? Build UNet(1, 1, width=32, depth=2, time_dim=128[, num_classes=10]) "
                             "or load one with load_diffusion('ddpm' | 'flow')")
        if m.residual or m.in_channels != m.out_channels:
            raise ValueError(f"{who}: a diffusion UNet predicts the noise (or velocity) of its input: it needs "
                             f"in_channels == out_channels and residual=False, got in {m.in_channels}, out "
                             f"{m.out_channels}, residual={m.residual}")
    got = getattr(m, "diffusion_kind", None)
    if kind is not None and got is not None and got != kind:
        use = {"eps": "ddpm_sample or ddim_sample", "flow": "flow_sample"}[got]
        raise ValueError(f"{who}: this model was trained as {'a noise (eps) predictor' if got == 'eps' else 'a flow-matching velocity field'}"
                         f" ({got!r}), not for this sampler: sample it with {use}")
    return model


def _num_classes(model: nn.Module) -> int | None:
    m = _plain(model.module if isinstance(model, EMA) else model)
    return getattr(m, "num_classes", None)


def _model_device(model: nn.Module, device: Any) -> torch.device:
    if device is not None:
        return check_device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def _call(model: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return model(x, t) if y is None else model(x, t, y)


def diffusion_loss(model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: Schedule,
                   y: torch.Tensor | None = None, check: bool = True) -> torch.Tensor:
    """The simple loss of Ho et al. (2020) on given tensors: ``mean((eps_theta(x_t, t[, y]) - noise)^2)``
    with ``x_t = q_sample(x0, t, noise, schedule)``; a scalar tensor (float32). ``check=False`` inside a
    training step (no value checks, no host sync)."""
    check_module("model", model, "diffusion_loss")
    x_t = q_sample(x0, t, noise, schedule, check=check)
    pred = _call(model, x_t, t, y)
    if pred.shape != noise.shape:
        raise ValueError(f"diffusion_loss: the model returned {tuple(pred.shape)}, expected the noise's shape "
                         f"{tuple(noise.shape)}")
    return F.mse_loss(pred.float(), noise.float())


def flow_loss(model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
              y: torch.Tensor | None = None, check: bool = True) -> torch.Tensor:
    """Rectified flow's loss on given tensors: ``x_t = (1 - t) x0 + t noise``, target ``v = noise - x0``,
    ``mean((v_theta(x_t, 1000 t[, y]) - v)^2)``. ``t`` float ``(B,)`` in [0, 1] (scaled by 1000 for the
    network's sinusoidal time embedding)."""
    check_module("model", model, "flow_loss")
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() != 1 or not isinstance(x0, torch.Tensor) \
            or t.shape[0] != x0.shape[0]:
        raise ValueError(f"flow_loss: t must be a float tensor (B,) of times in [0, 1], one per image, got {describe(t)}")
    if not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        raise ValueError(f"flow_loss: noise must have x0's shape {tuple(x0.shape)}, got {describe(noise)}")
    if check:
        check_diffusion_images(x0, "flow_loss: x0")
        lo, hi = (float(v) for v in torch.aminmax(t.detach()))
        if lo < 0 or hi > 1:
            raise ValueError(f"flow_loss: t must lie in [0, 1] (0 = data, 1 = noise), got values from {lo:.3g} to {hi:.3g}")
    tt = t.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    x_t = (1 - tt) * x0 + tt * noise
    pred = _call(model, x_t, t * 1000, y)
    return F.mse_loss(pred.float(), (noise - x0).float())


class _GenerativeTask:
    """What :class:`DiffusionTask` and :class:`FlowMatchingTask` share: the model and its EMA in
    ``modules`` (``"model"``, ``"ema"``; Adam for the model only), the batch (``x`` or ``(x, y)``, float
    in [-1, 1] or uint8) checked once, and labels dropped to the null class with probability ``p_uncond``."""

    divergence_hint = "lower the learning rate, or check that the images are in [-1, 1]"

    def _setup(self, model: nn.Module, lr: float, ema_decay: float | None, p_uncond: float, kind: str) -> None:
        _check_denoiser(model, type(self).__name__, kind)
        lr = check_number("lr", lr, low=0, low_open=True)
        self.p_uncond = check_number("p_uncond", p_uncond, low=0, high=1)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{type(self).__name__} needs a model with trainable parameters; {type(model).__name__} has "
                             "none (a model from load_diffusion is frozen: build a fresh UNet to train)")
        self.num_classes = _num_classes(model)
        self.ema = None if ema_decay is None else EMA(model, ema_decay)
        self.modules: dict[str, nn.Module] = {"model": model}
        if self.ema is not None:
            self.modules["ema"] = self.ema  # no trainable parameters: fit saves it, DDP leaves it alone
        self.optimizers = {"model": adam(params, lr)}
        self._checked = False

    @property
    def model(self) -> nn.Module:
        """The network being trained: ``modules["model"]``."""
        return self.modules["model"]

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(batch, (tuple, list)) else (batch, None)
        if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1  # 0..255 → [-1, 1], on the device
        if not self._checked:
            who = type(self).__name__
            check_diffusion_images(x, f"{who}: the training images", strict=True)
            if self.num_classes:
                if y is None:
                    raise ValueError(f"{who}: the model is conditional ({self.num_classes} classes) but the batches carry no "
                                     "labels: draw (images, labels) batches (ResidentBatches does), or build the UNet "
                                     "without num_classes")
                if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],) or y.is_floating_point():
                    raise ValueError(f"{who}: labels must be integer classes of shape ({x.shape[0]},), got {describe(y)}")
                lo, hi = int(y.min()), int(y.max())
                if lo < 0 or hi >= self.num_classes:
                    raise ValueError(f"{who}: labels must be classes 0 to {self.num_classes - 1}, got values from {lo} to {hi}")
            self._checked = True
        if not self.num_classes:
            return x, None
        y = y.to(x.device).long()
        if self.p_uncond > 0:  # classifier-free guidance: some labels become the null class
            drop = torch.rand(y.shape, device=y.device) < self.p_uncond
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        return x, y

    def _update(self, loss: torch.Tensor, ctx: StepContext) -> dict[str, torch.Tensor]:
        ctx.update(loss, self.optimizers["model"])
        if self.ema is not None:
            self.ema.update(self.modules["model"])
        return {"loss": loss.detach()}


class DiffusionTask(_GenerativeTask):
    """One DDPM training step (Ho et al. 2020) for :func:`~genimg_course.train.fit`: a batch ``x`` or
    ``(x, y)`` (float in [-1, 1] from ``ResidentBatches``, or uint8), ``t ~ U{0 … T-1}`` and
    ``eps ~ N(0, I)`` drawn on the device, ``loss = MSE(eps_theta(x_t, t, y), eps)``
    (:func:`diffusion_loss`). A conditional model (``num_classes``) sees each label replaced by the
    null class with probability ``p_uncond`` (for classifier-free guidance). ``ema_decay``: the
    :class:`EMA` in :attr:`ema` (also ``modules["ema"]``; ``None``: no EMA). Logs ``loss``."""

    def __init__(self, model: nn.Module, schedule: Schedule, lr: float = 2e-4, ema_decay: float | None = 0.999,
                 p_uncond: float = 0.1) -> None:
        self.schedule = check_schedule(schedule, "DiffusionTask")
        self._setup(model, lr, ema_decay, p_uncond, "eps")
        self._on: Schedule | None = None

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = self._batch(batch)
        if self._on is None or self._on.alpha_bars.device != x.device:
            self._on = self.schedule.to(x.device)
        model = self.modules["model"]
        model.train()
        t = torch.randint(0, self.schedule.T, (x.shape[0],), device=x.device)
        noise = torch.randn_like(x)
        with ctx.autocast():
            loss = diffusion_loss(model, x, t, noise, self._on, y, check=False)
        return self._update(loss, ctx)


class FlowMatchingTask(_GenerativeTask):
    """One rectified-flow step (Liu et al. 2023; Lipman et al. 2023): ``t ~ U(0, 1)``,
    ``x_t = (1 - t) x_0 + t eps``, ``loss = MSE(v_theta(x_t, 1000 t, y), eps - x_0)`` (:func:`flow_loss`).
    Batches, labels, ``p_uncond`` and ``ema_decay`` as in :class:`DiffusionTask`. Logs ``loss``."""

    def __init__(self, model: nn.Module, lr: float = 2e-4, ema_decay: float | None = 0.999, p_uncond: float = 0.1) -> None:
        self._setup(model, lr, ema_decay, p_uncond, "flow")

    def step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = self._batch(batch)
        model = self.modules["model"]
        model.train()
        t = torch.rand(x.shape[0], device=x.device)
        noise = torch.randn_like(x)
        with ctx.autocast():
            loss = flow_loss(model, x, t, noise, y, check=False)
        return self._update(loss, ctx)


# ----------------------------------------------------------------------------------------------
# Sampling steps
# ----------------------------------------------------------------------------------------------

def cfg_combine(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``eps_uncond + scale * (eps_cond - eps_uncond)``. ``scale = 1`` is the
    conditional prediction, ``0`` the unconditional one, ``> 1`` guided (Ho & Salimans write
    ``(1 + w) eps_c - w eps_u``: ``scale = 1 + w``)."""
    if not isinstance(eps_cond, torch.Tensor) or not isinstance(eps_uncond, torch.Tensor) or eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"cfg_combine: eps_cond and eps_uncond must be tensors of the same shape, got "
                         f"{describe(eps_cond)} and {describe(eps_uncond)}")
    scale = check_number("scale", scale, low=0)
    return eps_uncond + scale * (eps_cond - eps_uncond)


def _step_t(t: Any, T: int, who: str, name: str = "t", low: int = 0) -> int:
    if isinstance(t, torch.Tensor) and t.numel() == 1 and not t.is_floating_point() and t.dtype != torch.bool:
        t = int(t)
    if isinstance(t, bool) or not isinstance(t, int):
        raise TypeError(f"{who}: {name} must be one integer timestep, got {describe(t)}")
    if not low <= t < T:
        raise ValueError(f"{who}: {name} must be a timestep in [{low}, {T}) for this {T}-step schedule, got {t}")
    return t


def _same(who: str, **tensors: torch.Tensor) -> None:
    shape = None
    for name, v in tensors.items():
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise TypeError(f"{who}: {name} must be a float tensor, got {describe(v)}")
        if shape is not None and v.shape != shape:
            raise ValueError(f"{who}: " + " and ".join(f"{n} {tuple(u.shape)}" for n, u in tensors.items())
                             + " must have the same shape")
        shape = v.shape


def ddpm_step(model_eps: torch.Tensor, x_t: torch.Tensor, t: int, schedule: Schedule,
              noise: torch.Tensor | None) -> torch.Tensor:
    """One ancestral step of Ho et al. (2020), ``x_t → x_{t-1}``, from the predicted noise ``model_eps``:
    ``1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) + sqrt(beta_t) noise``; at ``t = 0`` no
    noise is added (``noise`` may be ``None`` there). ``t``: one int in ``[0, T)``."""
    t = _step_t(t, schedule.T, "ddpm_step")
    if noise is None and t > 0:
        raise ValueError(f"ddpm_step: pass noise (like x_t, from N(0, I)) for t = {t} > 0; only the last step (t = 0) adds none")
    _same("ddpm_step", model_eps=model_eps, x_t=x_t, **({} if noise is None else {"noise": noise}))
    a, ab, b = (float(v[t]) for v in (schedule.alphas, schedule.alpha_bars, schedule.betas))
    mean = (x_t - b / math.sqrt(1 - ab) * model_eps) / math.sqrt(a)
    return mean if t == 0 else mean + math.sqrt(b) * noise


def ddim_step(eps: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int, schedule: Schedule, eta: float = 0.0,
              noise: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM step (Song et al. 2021, eq. 12), ``x_t → x_{t_prev}`` with ``t_prev < t`` (``-1``: to ``x_0``,
    ``alpha_bar = 1``): ``x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)``, then
    ``sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps + sigma noise`` with
    ``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)``. ``eta = 0``: deterministic
    (``noise`` unused); ``eta > 0`` needs ``noise``."""
    t = _step_t(t, schedule.T, "ddim_step")
    t_prev = _step_t(t_prev, t, "ddim_step", "t_prev", low=-1)
    eta = check_number("eta", eta, low=0)
    _same("ddim_step", eps=eps, x_t=x_t, **({} if noise is None else {"noise": noise}))
    ab = float(schedule.alpha_bars[t])
    ab_prev = 1.0 if t_prev < 0 else float(schedule.alpha_bars[t_prev])
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
    if sigma > 0 and noise is None:
        raise ValueError(f"ddim_step: eta = {eta:g} adds noise: pass noise (like x_t, from N(0, I)), or use eta = 0")
    x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
    return out + sigma * noise if sigma > 0 else out


def clipped_eps(eps: torch.Tensor, x_t: torch.Tensor, t: int, schedule: Schedule) -> torch.Tensor:
    """The noise prediction whose clean-image estimate is clipped to the data range: ``x0_hat = (x_t -
    sqrt(1 - ab_t) eps) / sqrt(ab_t)`` clamped to [-1, 1], then ``eps' = (x_t - sqrt(ab_t) x0_hat) / sqrt(1 - ab_t)``.
    Fed to :func:`ddpm_step` it gives the posterior mean ``q(x_{t-1} | x_t, x0_hat)`` of the clipped estimate;
    to :func:`ddim_step` the step through the clipped estimate. Ho et al.'s sampling code clips so
    (``clip_denoised``), as do ``diffusers``' schedulers (``clip_sample``): where ``ab_t`` is tiny, dividing by
    ``sqrt(ab_t)`` turns a small error in ``eps`` into a huge ``x0_hat``. ``t``: one int in ``[0, T)``."""
    t = _step_t(t, schedule.T, "clipped_eps")
    _same("clipped_eps", eps=eps, x_t=x_t)
    ab = float(schedule.alpha_bars[t])
    x0 = ((x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).clamp(-1, 1)
    return (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` timesteps evenly spaced from ``T - 1`` down to 0 (rounded; ``steps = T``: every step)."""
    T = check_int("T", T, minimum=1)
    steps = _check_steps(steps, "ddim_timesteps", T)
    return [int(round(v)) for v in torch.linspace(T - 1, 0, steps, dtype=torch.float64).tolist()] if steps > 1 else [T - 1]


def _check_steps(steps: Any, who: str, most: int | None = None) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"{who}: steps must be an integer number of sampling steps, got {describe(steps)}")
    if steps < 1 or (most is not None and steps > most):
        fits = f"from 1 to {most} (the schedule's T)" if most is not None else ">= 1"
        raise ValueError(f"{who}: steps must be {fits}, got {steps}")
    return steps


def network_evaluations(method: str, steps: int | None = None, guidance: float = 1.0, T: int = 1000,
                        guided: bool | None = None) -> int:
    """Network evaluations per sample: ``"ddpm"`` T, ``"ddim"`` ``steps``, ``"euler"`` ``steps``, ``"heun"``
    ``2 steps - 1`` (the last step, to t = 0, is an Euler step); twice that with guidance other than
    0 and 1 (conditional and unconditional predictions; ``guided`` overrides)."""
    if method not in ("ddpm", "ddim", "euler", "heun"):
        raise ValueError(f"method must be 'ddpm', 'ddim', 'euler' or 'heun', got {method!r}")
    if method == "ddpm":
        n = check_int("T", T, minimum=1)
    else:
        n = _check_steps(steps, "network_evaluations")
        n = 2 * n - 1 if method == "heun" else n
    guidance = check_number("guidance", guidance, low=0)
    twice = guided if guided is not None else guidance not in (0.0, 1.0)
    return 2 * n if twice else n


# ----------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------

def _labels(model: nn.Module, n: int, labels: Any, guidance: Any, who: str) -> tuple[torch.Tensor | None, float]:
    """Labels ``(n,)`` long in ``[0, K)`` (or ``None``) and the guidance scale, checked against the model."""
    guidance = check_number("guidance", guidance, low=0)
    k = _num_classes(model)
    if labels is None:
        if guidance != 1.0:
            raise ValueError(f"{who}: guidance = {guidance:g} needs labels (the classes to guide towards)"
                             + (f", 0 to {k - 1}" if k else "; this model is unconditional: it has no classes"))
        return None, guidance
    if not k:
        raise ValueError(f"{who}: this model is unconditional (no num_classes): it cannot take labels; pass labels=None")
    if isinstance(labels, int) and not isinstance(labels, bool):
        labels = torch.full((n,), labels, dtype=torch.long)
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{who}: labels must be {n} integer classes 0 to {k - 1}, got {describe(labels)}") from None
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool or tuple(labels.shape) != (n,):
        raise ValueError(f"{who}: labels must be a long tensor of shape ({n},) with classes 0 to {k - 1}, got {describe(labels)}")
    lo, hi = (int(v) for v in torch.aminmax(labels))
    if lo < 0 or hi >= k:
        raise ValueError(f"{who}: labels must be classes 0 to {k - 1} (this model knows {k}; labels=None samples without a "
                         f"class), got values from {lo} to {hi}")
    return labels.long(), guidance


def _predictor(model: nn.Module, labels: torch.Tensor | None, guidance: float, device: torch.device):
    """``f(x, t) -> prediction`` with guidance: one evaluation at scale 1 (conditional) or 0
    (unconditional), two (batched together) otherwise."""
    k = _num_classes(model)
    if labels is None:
        return lambda x, t: model(x, t)
    y = labels.to(device)
    null = torch.full_like(y, k)
    if guidance == 1.0:
        return lambda x, t: model(x, t, y)
    if guidance == 0.0:
        return lambda x, t: model(x, t, null)
    yy = torch.cat([y, null])

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c, u = model(torch.cat([x, x]), torch.cat([t, t]), yy).chunk(2)
        return cfg_combine(c, u, guidance)
    return guided


def _start(model: Any, n: Any, shape: Any, x_T: Any, generator: Any, device: Any, who: str
           ) -> tuple[torch.device, tuple[int, ...], torch.Tensor]:
    n = check_int("n", n, minimum=1)
    if not isinstance(shape, (tuple, list)) or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"{who}: shape must be the image shape (C, H, W) such as (1, 28, 28), got {shape!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{who}: generator must be a torch.Generator (or None), got {describe(generator)}")
    dev = _model_device(model, device)
    if x_T is None:
        x_T = torch.randn((n, *shape), generator=generator, device=generator.device if generator is not None else "cpu")
    elif not isinstance(x_T, torch.Tensor) or tuple(x_T.shape) != (n, *shape) or not x_T.is_floating_point():
        raise ValueError(f"{who}: x_T must be float noise of shape {(n, *shape)}, got {describe(x_T)}")
    return dev, tuple(shape), x_T.to(dev, torch.float32)


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) like ``like``, drawn where ``generator`` lives (the CPU by default: the same on every device)."""
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(like.shape, generator=generator, device=where).to(like.device)


def _bar(progress: Any, total: int, desc: str):
    check_bool(progress=progress)
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


@torch.no_grad()
def ddpm_sample(model: nn.Module, schedule: Schedule, n: int, labels: Any = None, guidance: float = 1.0,
                generator: torch.Generator | None = None, device: Any = None, progress: bool = False,
                trajectory_at: Sequence[int] | None = None, *, shape: Sequence[int] = IMAGE_SHAPE,
                x_T: torch.Tensor | None = None, clip: bool = False, clip_denoised: bool = True) -> Any:
    """``n`` samples by ancestral sampling (Ho et al. 2020): ``x_{T-1} ~ N(0, I)``, then :func:`ddpm_step`
    for ``t = T-1 … 0``. ``T`` network evaluations per sample (``2 T`` with guidance other than 0 and 1).

    ``labels``: ``(n,)`` classes 0 … K-1 (or one int) for a conditional model, ``None`` for unconditional
    samples; ``guidance``: the classifier-free scale (:func:`cfg_combine`). The noise comes from
    ``generator`` (CPU by default, so the same samples on every device); ``x_T`` gives the starting
    noise. ``trajectory_at``: timesteps at which to keep ``x_t`` (the network's input at step ``t``), returned
    as ``(samples, {t: x_t})`` on the CPU. ``clip``: clamp the output to [-1, 1]. ``clip_denoised``: step
    through the clean-image estimate clipped to [-1, 1] (:func:`clipped_eps`; Ho et al.'s code does). Returns
    CPU float ``(n, *shape)``."""
    who = "ddpm_sample"
    _check_denoiser(model, who, "eps")
    check_schedule(schedule, who)
    check_bool(clip=clip, clip_denoised=clip_denoised)
    labels, guidance = _labels(model, n, labels, guidance, who)
    keep: set[int] = set()
    if trajectory_at is not None:
        if not isinstance(trajectory_at, (list, tuple)):
            raise TypeError(f"{who}: trajectory_at must be a list of timesteps in [0, {schedule.T}), got {describe(trajectory_at)}")
        keep = {_step_t(t, schedule.T, who, "trajectory_at") for t in trajectory_at}
    dev, shape, x = _start(model, n, shape, x_T, generator, device, who)
    predict = _predictor(model, labels, guidance, dev)
    seen: dict[int, torch.Tensor] = {}
    bar = _bar(progress, schedule.T, "DDPM")
    with evaluating(model):
        for t in range(schedule.T - 1, -1, -1):
            if t in keep:
                seen[t] = x.float().cpu().clone()
            eps = predict(x, torch.full((n,), t, device=dev, dtype=torch.long)).float()
            if clip_denoised:
                eps = clipped_eps(eps, x, t, schedule)
            x = ddpm_step(eps, x, t, schedule, _noise(x, generator) if t > 0 else None)
            bar.update(1)
    bar.close()
    out = (x.clamp(-1, 1) if clip else x).float().cpu()
    return (out, seen) if trajectory_at is not None else out


@torch.no_grad()
def ddim_sample(model: nn.Module, schedule: Schedule, n: int, steps: int = 50, eta: float = 0.0, labels: Any = None,
                guidance: float = 1.0, generator: torch.Generator | None = None, device: Any = None,
                progress: bool = False, *, shape: Sequence[int] = IMAGE_SHAPE, x_T: torch.Tensor | None = None,
                clip: bool = False, clip_denoised: bool = True) -> torch.Tensor:
    """``n`` samples by DDIM (Song et al. 2021) on ``steps`` timesteps (:func:`ddim_timesteps`, from ``T-1``
    to 0, then to ``x_0``): ``steps`` network evaluations per sample (twice with guidance other than 0
    and 1). ``eta = 0`` deterministic given ``x_T``; ``eta = 1`` as noisy as DDPM. Other arguments (``clip_denoised``
    among them) as :func:`ddpm_sample`. Returns CPU float ``(n, *shape)``."""
    who = "ddim_sample"
    _check_denoiser(model, who, "eps")
    check_schedule(schedule, who)
    steps = _check_steps(steps, who, schedule.T)
    eta = check_number("eta", eta, low=0)
    check_bool(clip=clip, clip_denoised=clip_denoised)
    labels, guidance = _labels(model, n, labels, guidance, who)
    dev, shape, x = _start(model, n, shape, x_T, generator, device, who)
    predict = _predictor(model, labels, guidance, dev)
    ts = ddim_timesteps(schedule.T, steps)
    bar = _bar(progress, steps, f"DDIM-{steps}")
    with evaluating(model):
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            eps = predict(x, torch.full((n,), t, device=dev, dtype=torch.long)).float()
            if clip_denoised:
                eps = clipped_eps(eps, x, t, schedule)
            x = ddim_step(eps, x, t, t_prev, schedule, eta, _noise(x, generator) if eta > 0 and t_prev >= 0 else None)
            bar.update(1)
    bar.close()
    return (x.clamp(-1, 1) if clip else x).float().cpu()


@torch.no_grad()
def flow_sample(model: nn.Module, n: int, steps: int = 20, method: str = "euler", labels: Any = None,
                guidance: float = 1.0, generator: torch.Generator | None = None, device: Any = None,
                progress: bool = False, *, shape: Sequence[int] = IMAGE_SHAPE, x_T: torch.Tensor | None = None,
                clip: bool = False) -> torch.Tensor:
    """``n`` samples of a flow-matching model: ``dx/dt = v_theta(x, 1000 t)`` integrated from ``t = 1``
    (``x ~ N(0, I)``) to ``t = 0`` on ``steps`` equal steps. ``"euler"``: ``steps`` network evaluations per
    sample; ``"heun"`` (second order; Karras et al. 2022's rule: the last step, to ``t = 0``, is Euler's):
    ``2 steps - 1``. Twice that with guidance other than 0 and 1. Other arguments as :func:`ddpm_sample`."""
    who = "flow_sample"
    _check_denoiser(model, who, "flow")
    steps = _check_steps(steps, who)
    if method not in ("euler", "heun"):
        raise ValueError(f"{who}: method must be 'euler' or 'heun', got {method!r}")
    check_bool(clip=clip)
    labels, guidance = _labels(model, n, labels, guidance, who)
    dev, shape, x = _start(model, n, shape, x_T, generator, device, who)
    predict = _predictor(model, labels, guidance, dev)
    ts = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64).tolist()

    def v(x: torch.Tensor, t: float) -> torch.Tensor:
        return predict(x, torch.full((n,), 1000.0 * t, device=dev)).float()

    bar = _bar(progress, steps, f"{method}-{steps}")
    with evaluating(model):
        for t, t_next in zip(ts[:-1], ts[1:]):
            dt = t_next - t  # negative: towards the data
            d = v(x, t)
            x_next = x + dt * d
            if method == "heun" and t_next > 0:
                x_next = x + dt * 0.5 * (d + v(x_next, t_next))
            x = x_next
            bar.update(1)
    bar.close()
    return (x.clamp(-1, 1) if clip else x).float().cpu()


class DiffusionSampler(nn.Module):
    """A diffusion or flow model with a sampler, as a generator for the course's protocol
    (:func:`genimg_course.metrics.evaluate_generator`, :func:`genimg_course.sampling.generate`): the code
    ``z (B, C·H·W)`` is the starting noise ``x_T`` and :meth:`render` runs ``method``
    (``"ddpm"``, ``"ddim"``, ``"euler"``, ``"heun"``) with ``steps``, ``guidance`` and ``eta``; noise the
    sampler adds on the way comes from a generator seeded with ``seed``. ``conditional=False`` samples a
    conditional model without a class (``num_classes`` then reads ``None``). ``clip_denoised`` (DDPM, DDIM): step
    through the clean-image estimate clipped to [-1, 1] (:func:`clipped_eps`)."""

    def __init__(self, model: nn.Module, method: str = "ddim", steps: int = 50, schedule: Schedule | None = None,
                 guidance: float = 1.0, eta: float = 0.0, seed: int = 0, conditional: bool = True,
                 shape: Sequence[int] = IMAGE_SHAPE, clip: bool = True, clip_denoised: bool = True) -> None:
        super().__init__()
        if method not in ("ddpm", "ddim", "euler", "heun"):
            raise ValueError(f"DiffusionSampler: method must be 'ddpm', 'ddim', 'euler' or 'heun', got {method!r}")
        _check_denoiser(model, "DiffusionSampler", "flow" if method in ("euler", "heun") else "eps")
        if method in ("ddpm", "ddim"):
            schedule = check_schedule(schedule if schedule is not None else getattr(model, "schedule", None),
                                      "DiffusionSampler (pass schedule=)")
        check_bool(conditional=conditional, clip=clip, clip_denoised=clip_denoised)
        self.clip_denoised = clip_denoised
        if method != "ddpm":
            _check_steps(steps, "DiffusionSampler", schedule.T if schedule is not None else None)
        self.model, self.method, self.steps, self.schedule = model, method, steps, schedule
        self.guidance = check_number("guidance", guidance, low=0)
        self.eta, self.seed, self.shape, self.clip = check_number("eta", eta, low=0), check_int("seed", seed), tuple(shape), clip
        self.latent_dim = int(math.prod(self.shape))
        self.num_classes = _num_classes(model) if conditional else None
        self._gen: torch.Generator | None = None

    def evaluations(self) -> int:
        """Network evaluations per sample."""
        T = self.schedule.T if self.schedule is not None else 1000
        return network_evaluations(self.method, None if self.method == "ddpm" else self.steps, self.guidance, T,
                                   guided=self.num_classes is not None and self.guidance not in (0.0, 1.0))

    def render(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self._gen is None:
            self._gen = torch.Generator().manual_seed(self.seed)
        x_T = z.reshape(-1, *self.shape).float()
        n = x_T.shape[0]
        guidance = self.guidance if y is not None else 1.0
        kw = dict(labels=y, guidance=guidance, generator=self._gen, device=z.device, shape=self.shape, x_T=x_T, clip=self.clip)
        if self.method == "ddpm":
            return ddpm_sample(self.model, self.schedule, n, clip_denoised=self.clip_denoised, **kw)
        if self.method == "ddim":
            return ddim_sample(self.model, self.schedule, n, self.steps, self.eta, clip_denoised=self.clip_denoised, **kw)
        return flow_sample(self.model, n, self.steps, self.method, **kw)


# ----------------------------------------------------------------------------------------------
# Shipped models
# ----------------------------------------------------------------------------------------------

# name -> the checkpoints.SHIPPED entry (made by tools/make_diffusion_weights.py)
SHIPPED_DIFFUSION: dict[str, str] = {"ddpm": "diffusion_ddpm", "flow": "diffusion_flow"}


def load_diffusion(name: str, device: Any = "cpu", into: nn.Module | None = None) -> nn.Module:
    """A shipped model (SHA-256 checked): ``"ddpm"`` (a class-conditional noise predictor; its schedule
    in ``model.schedule``) or ``"flow"`` (a flow-matching velocity field), the EMA weights in a frozen
    ``UNet`` in eval mode. ``model.info``: ``recipe``, ``steps``, ``train_seconds``, ``schedule``, ``kind``
    and the protocol's scores (``scores``: rows of :func:`genimg_course.metrics.evaluate_generator` per
    sampler). ``into``: load the weights into this ``UNet`` instead (it must be built with the same
    settings; a mismatch names them)."""
    from .checkpoints import load_shipped
    from .models.unet import UNet

    if name not in SHIPPED_DIFFUSION:
        raise ValueError(f"unknown shipped diffusion model {name!r}: expected one of {sorted(SHIPPED_DIFFUSION)}")
    device = check_device(device)
    from .checkpoints import SHIPPED
    if SHIPPED_DIFFUSION[name] not in SHIPPED:
        raise FileNotFoundError(f"load_diffusion: no {name!r} checkpoint is shipped with this version of the course; "
                                "train one with DiffusionTask / FlowMatchingTask and train.fit")
    state = load_shipped(SHIPPED_DIFFUSION[name])
    config = state["config"]
    if into is not None:
        if not isinstance(into, UNet):
            raise TypeError(f"load_diffusion: into must be a UNet built as UNet(**{config}), got {describe(into)}")
        mine = {"in_channels": into.in_channels, "out_channels": into.out_channels, "depth": into.depth,
                "up": into.up_mode, "time_dim": into.time_dim, "residual": into.residual, "num_classes": into.num_classes,
                "width": into.stem.out_channels}
        diff = {k: (mine.get(k), v) for k, v in config.items() if k in mine and mine.get(k) != v}
        if diff:
            raise ValueError(f"load_diffusion: the {name!r} checkpoint is for another U-Net: "
                             + ", ".join(f"{k} is {a!r} here but {b!r} in the checkpoint" for k, (a, b) in diff.items())
                             + f". Build UNet(**{config})")
        model = into
    else:
        model = UNet(**config)
    try:
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})  # stored in float16
    except RuntimeError as e:
        raise ValueError(f"load_diffusion: the {name!r} checkpoint does not fit this U-Net "
                         f"({str(e).splitlines()[0]}): build UNet(**{config})") from None
    model.info = {k: v for k, v in state.items() if k not in ("model", "config")}
    model.diffusion_kind = state["kind"]
    if state["kind"] == "eps":
        sched = state["schedule"]
        model.schedule = (cosine_schedule if sched["name"] == "cosine" else linear_schedule)(sched["T"])
    return model.to(device).eval().requires_grad_(False)
