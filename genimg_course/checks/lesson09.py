"""Checks for lesson 09 (one latent space: the VAE-GAN, GAN inversion, latent editing). Each runs in well
under a second on a CPU and depends on nothing of :mod:`genimg_course.fusion`: the references are written
out here, so a check cannot agree with a wrong package.

* :func:`check_feature_loss` — Larsen et al.'s ``L_llike = 1/2 ||Dis_l(x) - Dis_l(x~)||²``, summed over the
  features and averaged over the batch, on fixed tensors; it must keep the gradient.
* :func:`check_invert_codes` — an inversion loop: Adam on the codes ``z`` (started at ``z0``) minimising
  ``mean_pixels (G(z) - x)² + prior · ||z||² / latent_dim`` for each image, the generator left untouched;
  compared with the check's own loop on a tiny generator.
* :func:`check_slant` — the slant from the image moments, ``-cov(column, row) / var(row)`` with the ink
  ``(x + 1) / 2`` as weights, on sheared strokes whose slant is known.
* :func:`check_linear_probe` — a ridge-regression probe in closed form: ``W, b`` minimising
  ``||t - z W - b||² + ridge · N · ||W||²`` (the intercept not penalised).

Each names the usual slips, and every check leaves torch's global random state as it found it.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from . import Wrong, check, expect_signature
from ._tensors import keeps_random_state as _keeps_random_state, returned_tensor, same_values

__all__ = ["check_feature_loss", "check_invert_codes", "check_slant", "check_linear_probe"]


def _fixed(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))



def _which(got: torch.Tensor, slips: list[tuple[torch.Tensor, str]], rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    for value, hint in slips:
        if same_values(got, value, rtol, atol):
            return hint
    return None


# ---------------------------------------------------------------- 1. the feature reconstruction loss


@check
def check_feature_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``fn(real_features, fake_features)`` → ``1/2 ||Dis_l(x) - Dis_l(x~)||²`` summed over the features of
    each image, averaged over the batch: a scalar tensor with a gradient. Fixed features ``(4, 10)``."""
    real = _fixed(900, 4, 10)
    fake = _fixed(901, 4, 10).requires_grad_(True)
    expect_signature(fn, "feature_loss", "(real_features, fake_features)", real, fake)
    before = (real.clone(), fake.detach().clone())
    got = returned_tensor(fn(real, fake), "feature_loss", "the loss, a scalar tensor")
    if not (torch.equal(before[0], real) and torch.equal(before[1], fake.detach())):
        raise Wrong("feature_loss changed its inputs in place: compute the difference as a new tensor")
    d = (real - fake.detach()).double()
    want = 0.5 * d.pow(2).sum(1).mean()
    per_image = 0.5 * d.pow(2).sum(1)
    if got.numel() == per_image.numel() and got.numel() > 1 and same_values(got.flatten(), per_image, 1e-4, 1e-5):
        raise Wrong(f"feature_loss returned one loss per image, shape {tuple(got.shape)}: average them over the batch "
                    "(.mean()) so that it is one number")
    if got.numel() != 1:
        raise Wrong(f"feature_loss must return one number (a 0-d tensor), got shape {tuple(got.shape)}: sum over the "
                    "features, then average over the images")
    got = got.reshape(())
    if not same_values(got, want, 1e-4, 1e-5):
        slips = [
            (0.5 * d.pow(2).mean(), "you averaged over the features too (F.mse_loss does that): L_llike sums the "
                                    "squared differences over the features of an image, then averages over images"),
            (d.pow(2).mean(), "that is F.mse_loss, a mean over every number: sum over the features (and keep the 1/2), "
                              "then average over the images"),
            (d.pow(2).sum(1).mean(), "the factor 1/2 is missing: -log N(f; f~, I) = 1/2 ||f - f~||² + const"),
            (0.5 * d.pow(2).sum(), "you summed over the images too: average over the batch (so the loss does not "
                                   "grow with the batch size)"),
            (d.pow(2).sum(), "you summed over everything and dropped the 1/2: 1/2 ||f - f~||² per image, then the "
                             "mean over images"),
            (0.5 * d.abs().sum(1).mean(), "that is an L1 distance: the Gaussian likelihood gives the *squared* "
                                          "distance"),
            (-want, "the sign is flipped: the loss is the negative log-likelihood, 1/2 ||f - f~||² (>= 0)"),
            (0.5 * d.pow(2).sum(1).sqrt().mean(), "you took the norm, not its square: 1/2 ||f - f~||²"),
        ]
        hint = _which(got, slips)
        if hint:
            raise Wrong(hint)
        raise Wrong(f"feature_loss gave {float(got):.4f}, expected 1/2 ||f - f~||² summed over the features and "
                    f"averaged over the 4 images: {float(want):.4f}")
    if not got.requires_grad:
        raise Wrong("feature_loss returned a number with no gradient (.item(), .detach() or torch.no_grad()): the "
                    "decoder and the encoder learn through this loss, so keep it a tensor in the graph")
    (g,) = torch.autograd.grad(got, fake)
    if not torch.allclose(g.double(), -(real - fake.detach()).double() / 4, rtol=1e-4, atol=1e-6):
        raise Wrong("feature_loss has the right value but not the right gradient: compute it from the two inputs "
                    "with tensor operations only")
    return (f"L_llike = 1/2 ||Dis_l(x) - Dis_l(x~)||² per image, averaged: {float(want):.4f} here. Its gradient "
            "pulls the reconstruction's features towards the real image's, in the discriminator's space, not "
            "pixel by pixel")


# ---------------------------------------------------------------- 2. an inversion loop


class _TinyG(nn.Module):
    """A small fixed generator: codes (B, 3) → images (B, 1, 3, 3) in [-1, 1], ``tanh(A z + c)``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(910)
        self.latent_dim = 3
        self.image_shape = (1, 3, 3)
        self.lin = nn.Linear(3, 9)
        with torch.no_grad():
            self.lin.weight.copy_(0.8 * torch.randn(9, 3, generator=g))
            self.lin.bias.copy_(0.1 * torch.randn(9, generator=g))

    def forward(self, z: torch.Tensor, y: Any = None) -> torch.Tensor:
        return torch.tanh(self.lin(z)).view(-1, 1, 3, 3)


def _ref_invert(G: nn.Module, x: torch.Tensor, z0: torch.Tensor, steps: int, lr: float, prior: float,
                kind: str = "right") -> torch.Tensor:
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.SGD([z], lr=lr) if kind == "sgd" else torch.optim.Adam([z], lr=lr)
    sign = -1.0 if kind == "prior_sign" else 1.0
    p = 0.0 if kind == "no_prior" else prior
    for _ in range(steps + (1 if kind == "extra" else 0) - (1 if kind == "fewer" else 0)):
        mse = (G(z) - x).pow(2).flatten(1).mean(1)
        if kind == "norm":
            loss = (mse + p * z.norm(dim=1)).sum()
        elif kind == "prior_sum":
            loss = (mse + p * z.pow(2).sum(1)).sum()
        else:
            loss = (mse + sign * p * z.pow(2).mean(1)).sum()
        if kind != "no_zero_grad":
            opt.zero_grad()
        g, = torch.autograd.grad(loss, z)
        z.grad = g if (kind != "no_zero_grad" or z.grad is None) else z.grad + g
        opt.step()
    return z.detach()


@check
@_keeps_random_state
def check_invert_codes(fn: Callable[..., torch.Tensor]) -> str:
    """``fn(G, x, z0, steps, lr, prior)`` → the codes ``z`` ``(B, latent_dim)`` after ``steps`` Adam steps
    (learning rate ``lr``) from ``z0`` on ``mean_pixels (G(z) - x)² + prior · ||z||² / latent_dim`` per image
    (summed or averaged over the batch: Adam does not mind the scale). G's weights must not change and must
    get no gradient; ``z0`` must come back as it went in. Run on a tiny fixed generator."""
    G = _TinyG()
    g = torch.Generator().manual_seed(911)
    z_true = torch.randn(4, 3, generator=g)
    with torch.no_grad():
        x = (G(z_true) + 0.05 * torch.randn(4, 1, 3, 3, generator=g)).clamp(-1, 1)
    z0 = torch.randn(4, 3, generator=g)
    steps, lr, prior = 60, 0.05, 0.1
    expect_signature(fn, "invert_codes", "(G, x, z0, steps, lr, prior)", G, x, z0, steps, lr, prior)
    w_before = [p.detach().clone() for p in G.parameters()]
    z0_before = z0.clone()
    got = returned_tensor(fn(G, x, z0, steps, lr, prior), "invert_codes", "the codes z, (B, latent_dim)")
    if any(not torch.equal(a, p.detach()) for a, p in zip(w_before, G.parameters())):
        raise Wrong("the generator's weights changed: optimise the codes alone, torch.optim.Adam([z], lr=lr), "
                    "never G.parameters()")
    if not torch.equal(z0, z0_before):
        raise Wrong("z0 changed in place: start from a copy, z = z0.clone().requires_grad_(True)")
    if tuple(got.shape) == (4, 1, 3, 3):
        raise Wrong("invert_codes returned images: return the codes z (B, latent_dim); G(z) gives their images")
    if tuple(got.shape) != (4, 3):
        raise Wrong(f"invert_codes must return one code per target image, shape (4, 3) here, got {tuple(got.shape)}")
    want = _ref_invert(G, x, z0, steps, lr, prior)
    if not same_values(got, want, 1e-3, 1e-4):
        if same_values(got, z0, 1e-6, 1e-7):
            raise Wrong("the codes came back as z0: the loop never stepped (call loss.backward() and opt.step(), "
                        "and optimise the tensor you return)")
        slips = [(_ref_invert(G, x, z0, steps, lr, prior, k), h) for k, h in (
            ("no_prior", "the prior term is missing: add prior * z.pow(2).mean(1) (||z||² / latent_dim) to each "
                         "image's loss, which keeps z where N(0, I) puts its mass"),
            ("prior_sign", "the prior's sign is flipped: + prior · ||z||² / latent_dim, a penalty on large codes"),
            ("norm", "the prior is ||z|| (the norm): use its square over latent_dim, z.pow(2).mean(1)"),
            ("prior_sum", "the prior is ||z||² summed: divide by latent_dim, z.pow(2).mean(1)"),
            ("sgd", "that is plain SGD: use torch.optim.Adam([z], lr=lr)"),
            ("no_zero_grad", "the gradients pile up from step to step: call opt.zero_grad() before loss.backward()"),
            ("extra", f"one step too many: run exactly steps = {steps} updates"),
            ("fewer", f"one step too few: run exactly steps = {steps} updates"),
        )]
        hint = _which(got, slips, 1e-3, 1e-4)
        if hint:
            raise Wrong(hint)
        with torch.no_grad():
            mse_got = float((G(got.float()) - x).pow(2).mean())
            mse_want = float((G(want) - x).pow(2).mean())
        raise Wrong(f"after {steps} Adam steps the codes differ from the reference loop's (largest gap "
                    f"{float((got.double() - want.double()).abs().max()):.3g}): your G(z) has pixel MSE {mse_got:.4f}, "
                    f"the reference {mse_want:.4f}. Per image: mean over pixels of (G(z) - x)², plus "
                    "prior · ||z||² / latent_dim")
    with torch.no_grad():
        start, end = float((G(z0) - x).pow(2).mean()), float((G(want) - x).pow(2).mean())
    return (f"Adam on the codes alone: the pixel MSE fell from {start:.4f} at z0 to {end:.4f} in {steps} steps, "
            "the generator untouched")


# ---------------------------------------------------------------- 3. slant from image moments


def _ref_slant(x: torch.Tensor, weights: str = "ink", kind: str = "right") -> torch.Tensor:
    w = ((x.double() + 1) / 2).clamp(0, 1)[:, 0] if weights == "ink" else x.double()[:, 0]
    h, wd = w.shape[1:]
    rows = torch.arange(h, dtype=torch.float64)[:, None].expand(h, wd)
    cols = torch.arange(wd, dtype=torch.float64)[None, :].expand(h, wd)
    mass = w.sum((1, 2))
    r = (w * rows).sum((1, 2)) / mass
    c = (w * cols).sum((1, 2)) / mass
    cov = (w * (rows - r[:, None, None]) * (cols - c[:, None, None])).sum((1, 2)) / mass
    var_r = (w * (rows - r[:, None, None]) ** 2).sum((1, 2)) / mass
    var_c = (w * (cols - c[:, None, None]) ** 2).sum((1, 2)) / mass
    if kind == "var_col":
        return -cov / var_c
    if kind == "uncentred":
        return -((w * rows * cols).sum((1, 2)) / mass) / ((w * rows ** 2).sum((1, 2)) / mass)
    if kind == "degrees":
        return torch.rad2deg(torch.atan(-cov / var_r))
    return -cov / var_r


def _strokes() -> tuple[torch.Tensor, torch.Tensor]:
    """Five 28x28 strokes in [-1, 1] leaning by known amounts (a vertical bar sheared), and their slants."""
    shears = torch.tensor([0.0, 0.3, -0.3, 0.6, 0.15])
    imgs = torch.full((5, 1, 28, 28), -1.0)
    for i, s in enumerate(shears):
        for r in range(4, 24):
            centre = 14 + s * (14 - r)  # rows count downwards: the top leans right for s > 0
            for c in range(28):
                v = max(0.0, 1 - abs(c - float(centre)) / 1.5)
                imgs[i, 0, r, c] = max(float(imgs[i, 0, r, c]), 2 * v - 1)
    return imgs, shears


@check
def check_slant(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """``fn(x)`` for images ``(B, 1, 28, 28)`` in [-1, 1] → ``(B,)``: ``-cov(column, row) / var(row)``, the moments
    weighted by the ink ``w = (x + 1) / 2`` (rows count downwards, so a digit whose top leans right gets a
    positive slant). Five sheared strokes of known slant."""
    x, shears = _strokes()
    expect_signature(fn, "slant", "(x)", x)
    before = x.clone()
    got = returned_tensor(fn(x), "slant", "one slant per image, (B,)")
    if not torch.equal(before, x):
        raise Wrong("slant changed the images in place: map them to ink with a new tensor, w = (x + 1) / 2")
    if tuple(got.shape) != (5,):
        raise Wrong(f"slant must return one number per image, shape (5,) here, got {tuple(got.shape)}")
    want = _ref_slant(x)
    if not same_values(got, want, 1e-3, 1e-4):
        slips = [
            (-want, "the sign is flipped: rows count downwards, so a top leaning right has a *negative* "
                    "cov(column, row); the slant is -cov / var(row), positive for a right lean"),
            (_ref_slant(x, "raw"), "you weighted the moments by x in [-1, 1]: the background (-1) then counts as "
                                   "negative ink. Use w = (x + 1) / 2"),
            (_ref_slant(x, kind="var_col"), "divide by var(row), the spread of the ink up and down: the slant is the "
                                            "horizontal shift per row climbed"),
            (_ref_slant(x, kind="uncentred"), "the moments must be central: subtract the ink's centre (its mean row and "
                                              "column) before multiplying"),
            (_ref_slant(x, kind="degrees"), "that is the angle in degrees: return the ratio -cov / var(row) itself "
                                            "(about tan of the angle)"),
        ]
        hint = _which(got, slips, 1e-3, 1e-4)
        if hint:
            raise Wrong(hint)
        worst = int((got.double() - want).abs().argmax())
        raise Wrong(f"image {worst} (sheared by {float(shears[worst]):+.2f} pixels per row) should read "
                    f"{float(want[worst]):+.3f}, got {float(got[worst]):+.3f}")
    return (f"slant from the image moments: the strokes sheared by {', '.join(f'{float(s):+.2f}' for s in shears)} "
            f"read {', '.join(f'{float(v):+.2f}' for v in want)} (the rounded stroke ends pull a little towards 0)")


# ---------------------------------------------------------------- 4. a linear probe in closed form


def _ref_probe(z: torch.Tensor, t: torch.Tensor, ridge: float, kind: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    zd, td = z.double(), t.double()
    n, d = zd.shape
    lam = ridge if kind == "unscaled" else ridge * n
    if kind in ("penalised_b", "no_intercept"):
        a = torch.cat([zd, torch.ones(n, 1, dtype=torch.float64)], 1) if kind == "penalised_b" else zd
        w = torch.linalg.solve(a.T @ a + lam * torch.eye(a.shape[1], dtype=torch.float64), a.T @ td)
        return (w[:-1], w[-1]) if kind == "penalised_b" else (w, torch.zeros((), dtype=torch.float64))
    zm, tm = zd.mean(0), td.mean()
    zc, tc = zd - zm, td - tm
    if kind == "no_ridge":
        lam = 0.0
    w = torch.linalg.solve(zc.T @ zc + lam * torch.eye(d, dtype=torch.float64), zc.T @ tc)
    return w, tm - zm @ w


@check
def check_linear_probe(fn: Callable[..., Any]) -> str:
    """``fn(z, target, ridge)`` for codes ``z`` ``(N, D)`` and one measured number per code ``target`` ``(N,)`` →
    ``(W, b)`` with ``W`` ``(D,)`` and ``b`` a number, minimising ``||target - z W - b||² + ridge · N · ||W||²``
    (the intercept ``b`` not penalised). On 200 codes with an offset and noise, ``ridge = 0.1``."""
    g = torch.Generator().manual_seed(920)
    n, d = 200, 6
    z = torch.randn(n, d, generator=g) + 0.5
    w_true = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0, 3.0])
    t = z @ w_true + 4.0 + 0.3 * torch.randn(n, generator=g)
    ridge = 0.1
    expect_signature(fn, "linear_probe", "(z, target, ridge)", z, t, ridge)
    out = fn(z, t, ridge)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Wrong(f"linear_probe must return a pair (W, b), got {type(out).__name__}"
                    + (f" of {len(out)} items" if isinstance(out, (tuple, list)) else ""))
    W = returned_tensor(out[0], "linear_probe", "W, the probe's weights (D,)")
    b = out[1]
    b = torch.as_tensor(b, dtype=torch.float64) if isinstance(b, (int, float)) else returned_tensor(b, "linear_probe", "b, a number")
    if W.numel() == d and tuple(W.shape) != (d,):
        raise Wrong(f"W must have shape ({d},), one weight per code dimension, got {tuple(W.shape)}: flatten it (W[:, 0])")
    if tuple(W.shape) != (d,):
        raise Wrong(f"W must have shape ({d},), one weight per code dimension, got {tuple(W.shape)}")
    if b.numel() != 1:
        raise Wrong(f"b must be one number (the intercept), got shape {tuple(b.shape)}")
    b = b.reshape(())
    want_w, want_b = _ref_probe(z, t, ridge)
    if not (same_values(W, want_w, 1e-3, 1e-4) and same_values(b, want_b, 1e-3, 1e-4)):
        for kind, hint in (
                ("no_intercept", "no intercept: the property has an offset, so fit b too (centre z and target, solve "
                                 "for W, then b = mean(target) - mean(z) @ W)"),
                ("penalised_b", "the intercept is penalised too (a column of ones under the ridge): penalise W only, "
                                "e.g. centre z and target first"),
                ("unscaled", "the ridge is not scaled by N: add ridge * N * I to zcᵀ zc (so the same ridge means the "
                             "same thing for any number of codes)"),
                ("no_ridge", "the ridge is missing (plain least squares): solve (zcᵀ zc + ridge · N · I) W = zcᵀ tc"),
        ):
            w_s, b_s = _ref_probe(z, t, ridge, kind)
            if same_values(W, w_s, 1e-3, 1e-4) and same_values(b, b_s, 1e-3, 1e-4):
                raise Wrong(hint)
        if same_values(W, want_w, 1e-3, 1e-4):
            raise Wrong(f"W is right but b is {float(b):.4f}, expected {float(want_b):.4f}: b = mean(target) - mean(z) @ W")
        raise Wrong(f"W differs from the ridge solution (largest gap {float((W.double() - want_w).abs().max()):.3g}); "
                    f"expected W ≈ {[round(float(v), 3) for v in want_w]}, b ≈ {float(want_b):.3f}")
    pred = z.double() @ want_w + want_b
    r2 = 1 - float((t.double() - pred).pow(2).sum() / (t.double() - t.double().mean()).pow(2).sum())
    return (f"the probe recovers the planted weights {w_true.tolist()} as {[round(float(v), 2) for v in W]} "
            f"(b = {float(b):.2f}, R² = {r2:.3f} on these codes). The direction to edit along is W / ||W||")
