"""Measuring: the course judge and FID/KID on its features (a lesson's figures JSON: :mod:`genimg_course.figures`).

The *judge* is the CNN classifier trained in lesson 01 (shipped as ``weights/judge_mnist.pt``,
SHA-256 checked, made by ``tools/make_judge.py``). Its 128-d penultimate features replace
Inception-v3's in FID and KID: Inception was trained on 299x299 colour photos, so 28x28 digits
upsampled to it land far from anything it has learned. torchmetrics computes both metrics from
any feature module.

Always read a quality number beside its *real-vs-real baseline* (two disjoint real sets of the
same size): FID is biased upward for small sample counts, so only same-size comparisons mean
anything. :func:`real_vs_real` gives that baseline.

:func:`evaluate_generator` is the course's one protocol for a generator: FID and KID (± std) against
``n`` *held-out test* digits, the floor at the same ``n``, precision and recall with their own
real-vs-real row, and a memorisation check (the distance of each sample to its nearest training
digit beside the same for held-out digits). The judge itself was trained on the 4,000 training
digits the generators also train on: its features are a little more at home on those digits than
on unseen ones, so a generator that copied its training set could look *better* than the floor;
the memorisation check is there to catch exactly that.
"""
from __future__ import annotations

import functools
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .checkpoints import load_shipped
from .figures import Quality
from .models import CNNClassifier
from .sampling import generate, labels_for

__all__ = ["JudgeFeatures", "load_judge", "fid", "kid", "real_vs_real", "reference_split", "precision_recall",
           "nearest_distances", "memorisation", "Evaluation", "evaluate_generator", "evaluate_samples",
           "evaluation_table", "judge_features"]


class JudgeFeatures(nn.Module):
    """Wrap a :class:`CNNClassifier` as a torchmetrics feature extractor.

    Input: images ``(B, 1, 28, 28)``, uint8 0..255 or float in ``[-1, 1]``; output ``(B, 128)``.
    """

    def __init__(self, classifier: CNNClassifier) -> None:
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.feature_dim
        for p in self.classifier.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "JudgeFeatures":  # the judge always runs in eval mode
        super().train(False)
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dev = next(self.classifier.parameters()).device
        x = x.to(dev)
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        elif x.is_floating_point() and x.numel() and float(x.detach().abs().amax()) > 1.5:
            raise ValueError(f"the judge reads uint8 pixels 0..255 or float images in [-1, 1]; these float images reach "
                             f"{float(x.detach().abs().amax()):.4g}: unscaled 0..255 pixels? Pass uint8, or scale with "
                             "to_float(images) (data.to_float gives [-1, 1])")
        # CPU float64: torchmetrics accumulates its sums where the metric lives (the CPU here)
        return self.classifier.features(x.float()).double().cpu()


@functools.lru_cache(maxsize=4)
def load_judge(device: torch.device | str = "cpu") -> JudgeFeatures:
    """The shipped judge (hash-verified once per device and session), ready for :func:`fid` / :func:`kid`."""
    state = load_shipped("judge_mnist")
    model = CNNClassifier(**state["config"])
    model.load_state_dict(state["model"])
    return JudgeFeatures(model.to(device))


def _as_images(x: Any, name: str, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Validate ``(N, 1, 28, 28)`` images (uint8, or float in ``value_range``); float → ``[-1, 1]``.
    Warns when float images that should be in [-1, 1] lie in [0, 1] (a VAE's means passed without
    ``value_range=(0, 1)``: every FID then comes out many times too large)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of images (N, 1, 28, 28), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must have shape (N, 1, 28, 28) — the judge's input — got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images for a covariance, got {x.shape[0]}")
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2 and value_range[0] < value_range[1]):
        raise ValueError(f"value_range must be (low, high) with low < high, such as (-1, 1) or (0, 1), got {value_range!r}")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf: the model that made them has diverged")
        lo, hi = float(x.min()), float(x.max())
        a, b = value_range
        tol = 0.01 * (b - a)
        if lo < a - tol or hi > b + tol:
            raise ValueError(f"{name} must be in [{a:g}, {b:g}] (float; pass value_range=... for another range) or "
                             f"0..255 (uint8), got values in [{lo:.3g}, {hi:.3g}]")
        if (a, b) == (-1.0, 1.0) and lo >= -tol:
            warnings.warn(f"{name} lie in [{lo:.3g}, {hi:.3g}], which looks like [0, 1] images read as [-1, 1] (a digit's "
                          "background is -1 there): pass value_range=(0, 1), or the FID will be far too large",
                          stacklevel=3)
        if (a, b) != (-1.0, 1.0):
            x = (x - a) * (2.0 / (b - a)) - 1.0
    elif x.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8 (0..255) or float in [-1, 1], got {x.dtype}")
    return x


def _check_sizes(real: torch.Tensor, fake: torch.Tensor, judge: "JudgeFeatures") -> None:
    """FID needs more images than features on each side (else a covariance is singular and the
    number means nothing); sides of different sizes are biased differently (a warning)."""
    need = judge.num_features
    for name, x in (("real", real), ("fake", fake)):
        if x.shape[0] < need:
            raise ValueError(f"FID on the judge's {need}-d features needs at least {need} images per side, got "
                             f"{x.shape[0]} {name} images: below that the covariance is singular and the number "
                             "means nothing. Use more images (and compare only FIDs at the same n)")
    if real.shape[0] != fake.shape[0]:
        warnings.warn(f"real ({real.shape[0]}) and fake ({fake.shape[0]}) sets differ in size: FID's bias depends on n, so "
                      "compare it only with FIDs (and a real-vs-real floor) measured at the same n per side", stacklevel=3)


class _Given(nn.Module):
    """Features computed already: torchmetrics' FID and KID take them as their "images"."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def judge_features(images: torch.Tensor, judge: JudgeFeatures | None = None, batch_size: int = 500,
                   value_range: tuple[float, float] = (-1.0, 1.0), name: str = "images") -> torch.Tensor:
    """The judge's features of ``images`` ``(N, 1, 28, 28)`` (uint8, or float in ``value_range``):
    CPU float64 ``(N, 128)``, computed in batches."""
    x = _as_images(images, name, value_range)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    judge = judge or load_judge()
    return torch.cat([judge(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _frechet(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(real_features.shape[1]), reset_real_features=True)
    metric.update(real_features, real=True)
    metric.update(fake_features, real=False)
    return float(metric.compute())


def _kernel(real_features: torch.Tensor, fake_features: torch.Tensor, subsets: int, subset_size: int,
            seed: int = 0) -> tuple[float, float]:
    """KID's mean and std over ``subsets`` random subsets of ``subset_size`` features per side.

    The subsets come from a local generator seeded with ``seed`` (the same inputs give the same KID,
    and the global RNG is left as it was); torchmetrics' ``poly_mmd`` computes each subset's unbiased
    MMD² with the cubic polynomial kernel k(a, b) = (a·b / d + 1)³ (Bińkowski et al., ICLR 2018),
    exactly as its ``KernelInceptionDistance`` does, which draws its subsets from the global RNG."""
    from torchmetrics.image.kid import poly_mmd

    g = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(subsets):
        r = real_features[torch.randperm(real_features.shape[0], generator=g)[:subset_size]]
        f = fake_features[torch.randperm(fake_features.shape[0], generator=g)[:subset_size]]
        scores.append(poly_mmd(r, f, degree=3, gamma=None, coef=1.0))  # MMD²_u with k(a, b) = (a·b/d + 1)³
    scores_t = torch.stack(scores)
    return float(scores_t.mean()), float(scores_t.std(unbiased=False))


def fid(real: torch.Tensor, fake: torch.Tensor, judge: JudgeFeatures | None = None, batch_size: int = 500,
        value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """Fréchet distance between judge features of ``real`` and ``fake`` ``(N, 1, 28, 28)``
    (uint8, or float in ``value_range``: ``(-1, 1)`` for tanh generators, ``(0, 1)`` for VAEs).
    Refuses fewer images per side than the judge has features; warns when the sides differ in size."""
    real, fake = _as_images(real, "real", value_range), _as_images(fake, "fake", value_range)
    judge = judge or load_judge()
    _check_sizes(real, fake, judge)
    return _frechet(judge_features(real, judge, batch_size), judge_features(fake, judge, batch_size))


def kid(real: torch.Tensor, fake: torch.Tensor, judge: JudgeFeatures | None = None, subsets: int = 20,
        subset_size: int | None = None, batch_size: int = 500,
        value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance (mean, std over ``subsets``) on judge features; unbiased, so it
    is comparable across sample counts, unlike FID. The subsets are drawn from a local generator
    seeded with ``seed``: the same images give the same KID, and the global RNG is not touched."""
    real, fake = _as_images(real, "real", value_range), _as_images(fake, "fake", value_range)
    n = min(real.shape[0], fake.shape[0])
    subset_size = subset_size or min(1000, n)
    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or subset_size < 2:
        raise ValueError(f"subset_size must be an integer >= 2, got {subset_size!r}")
    if subset_size > n:
        raise ValueError(f"subset_size {subset_size} is larger than the smaller set ({n} images)")
    if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"subsets must be a positive integer, got {subsets!r}")
    _check_seed(seed)
    judge = judge or load_judge()
    return _kernel(judge_features(real, judge, batch_size), judge_features(fake, judge, batch_size), subsets, subset_size,
                   seed)


def _check_seed(seed: Any, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{name} must be an integer >= 0 (it seeds KID's random subsets), got {seed!r}")
    return seed


def real_vs_real(images: torch.Tensor, n: int, judge: JudgeFeatures | None = None, seed: int = 0,
                 value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """FID between two disjoint random halves of ``images``, each of ``n`` images: the floor
    that any generator's FID at ``n`` samples should be read against (the same halves as
    :func:`reference_split` gives for ``seed``)."""
    a, b = reference_split(images, n, seed)
    return fid(a, b, judge, value_range=value_range)


def reference_split(images: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random sets of ``n`` of ``images`` (seeded): the reference a generator's ``n``
    samples are judged against, and the second set that gives the real-vs-real floor."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n (images per side) must be an integer >= 2, got {n!r}")
    if not isinstance(images, torch.Tensor) or images.dim() < 1:
        raise TypeError(f"images must be a tensor of images (N, 1, 28, 28), got {type(images).__name__}")
    if 2 * n > images.shape[0]:
        raise ValueError(f"two disjoint sets of n = {n} need {2 * n} images, got {images.shape[0]}: lower n (at most "
                         f"{images.shape[0] // 2} here)")
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return images[perm[:n]], images[perm[n:2 * n]]


# ------------------------------------------------------------------------------------------------
# The course's one evaluation protocol for a generator (DESIGN.md): FID and KID against held-out
# test digits at a stated n, the real-vs-real floor at that same n, precision and recall with their
# own real-vs-real row, and a memorisation check against the training digits.
# ------------------------------------------------------------------------------------------------

def _images_of(x: Any, name: str) -> torch.Tensor:
    """An ``ImageSet``'s images, or a tensor of images, as given."""
    x = getattr(x, "images", x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be an ImageSet or a tensor of images (N, 1, 28, 28), got {type(x).__name__}")
    return x


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 or [-1, 1] float images → float32 [-1, 1] on the CPU."""
    return (x.float() / 127.5 - 1.0) if x.dtype == torch.uint8 else x.float().cpu()


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) of feature sets ``(N, D)``.

    Each real feature gets a ball reaching its ``k``-th nearest real neighbour; *precision* is the
    share of fakes inside some real ball (are the samples realistic?), *recall* the share of reals
    inside some fake ball, built the same way from the fakes (is the data's variety covered?)."""
    for name, f in (("real_features", real_features), ("fake_features", fake_features)):
        if not isinstance(f, torch.Tensor) or f.dim() != 2:
            raise ValueError(f"{name} must be a (N, D) tensor of features, got "
                             f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (the neighbour that sets each ball's radius) must be a positive integer, got {k!r}")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real_features.shape[1]} vs {fake_features.shape[1]}")
    if min(real_features.shape[0], fake_features.shape[0]) <= k:
        raise ValueError(f"precision/recall with k = {k} needs more than {k} features per side, got "
                         f"{real_features.shape[0]} real and {fake_features.shape[0]} fake")
    r, f = real_features.double(), fake_features.double()

    def radii(x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # the 1st "neighbour" is the point itself

    def covered(points: torch.Tensor, centres: torch.Tensor, rad: torch.Tensor) -> float:
        return float((torch.cdist(points, centres) <= rad[None, :]).any(1).double().mean())

    return covered(f, r, radii(r)), covered(r, f, radii(f))


def nearest_distances(x: torch.Tensor, bank: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """For each image of ``x`` ``(N, 1, 28, 28)``, the pixel distance (L2 in [-1, 1] units) to its
    nearest image in ``bank`` ``(M, 1, 28, 28)``; uint8 or [-1, 1] float; CPU float ``(N,)``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, bank = _unit(_images_of(x, "x")), _unit(_images_of(bank, "bank"))
    if x.shape[1:] != bank.shape[1:] or x.shape[0] == 0 or bank.shape[0] == 0:
        raise ValueError(f"x {tuple(x.shape)} and bank {tuple(bank.shape)} must be non-empty and of the same image shape")
    b = bank.flatten(1)
    return torch.cat([torch.cdist(x[i:i + batch_size].flatten(1), b).min(1).values for i in range(0, x.shape[0], batch_size)])


def memorisation(samples: torch.Tensor, train: Any, heldout: Any) -> dict[str, float]:
    """Does a generator copy its training digits? Compares each sample's distance to its nearest
    training image with the same distance for held-out real digits (which the model never saw).

    Returns the two medians, their ``ratio`` (about 1 for a model that does not copy; near 0 for
    one that does) and ``near_copy_share``: the share of samples closer to a training image than
    99 % of held-out digits are (about 0.01 when nothing is copied)."""
    d_sample = nearest_distances(samples, train)
    d_heldout = nearest_distances(heldout, train)
    threshold = float(torch.quantile(d_heldout, 0.01))
    return {"sample_to_train": float(d_sample.median()), "heldout_to_train": float(d_heldout.median()),
            "ratio": float(d_sample.median() / d_heldout.median()),
            "near_copy_share": float((d_sample < threshold).float().mean()), "near_copy_threshold": threshold}


@dataclass(frozen=True)
class Evaluation:
    """One generator measured by the course's protocol: its :class:`~genimg_course.figures.Quality`
    record (FID, KID ± std, n, the floor), precision and recall beside their real-vs-real values, and
    the memorisation check. ``print(evaluation_table(...))`` shows them with the floor row."""

    quality: Quality
    precision: float
    recall: float
    floor_precision: float
    floor_recall: float
    floor_kid: float
    floor_kid_std: float
    memorisation: dict[str, float]

    def record(self, figures: Any) -> "Evaluation":
        """Write the quality record and the other numbers into a lesson's Figures, under the model's
        name in lower case with ``_`` between words: ``shipped_cgan_precision``, ``…_recall``,
        ``…_near_copy_share``, ``…_train_distance_ratio``."""
        figures.record_quality(self.quality)
        m = "_".join(re.findall(r"[a-z0-9]+", self.quality.model.lower()))  # "live G (trained here)" -> live_g_trained_here
        figures.record(f"{m}_precision", round(self.precision, 4))
        figures.record(f"{m}_recall", round(self.recall, 4))
        figures.record(f"{m}_near_copy_share", round(self.memorisation["near_copy_share"], 4))
        figures.record(f"{m}_train_distance_ratio", round(self.memorisation["ratio"], 4))
        return self


def evaluation_table(*evaluations: Evaluation) -> str:
    """The evaluations as a table, the real-vs-real floor first (all must share one n)."""
    if not evaluations:
        raise ValueError("evaluation_table needs at least one Evaluation")
    ns = {e.quality.n for e in evaluations}
    if len(ns) != 1:
        raise ValueError(f"FIDs at different n cannot share a floor row: got n = {sorted(ns)}")
    e0 = evaluations[0]
    head = (f"{'':22s} {'FID':>8s} {'× floor':>8s} {'KID (± std)':>17s} {'precision':>9s} {'recall':>7s} "
            f"{'train-dist ratio':>16s} {'near copies':>11s}")
    rows = [head, f"{'real vs real (floor)':22s} {e0.quality.floor:8.1f} {1.0:8.2f} "
                  f"{e0.floor_kid:8.3g} ± {e0.floor_kid_std:<6.2g} {e0.floor_precision:9.2f} "
                  f"{e0.floor_recall:7.2f} {1.0:16.2f} {0.01:11.0%}"]
    for e in evaluations:
        q, m = e.quality, e.memorisation
        rows.append(f"{q.model[:22]:22s} {q.fid:8.1f} {q.ratio:8.2f} {q.kid:8.3g} ± {q.kid_std:<6.2g} "
                    f"{e.precision:9.2f} {e.recall:7.2f} {m['ratio']:16.2f} {m['near_copy_share']:11.0%}")
    rows.append(f"n = {e0.quality.n} images per side; reference: held-out {e0.quality.reference} digits; judge: the "
                "course's classifier (trained on the 4,000 training digits)")
    return "\n".join(rows)


_REFERENCE_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _reference_features(test_images: torch.Tensor, n: int, split_seed: int, judge: JudgeFeatures,
                        ref: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's features of the two reference sets, computed once per test set, n and judge (a
    lesson measures several models against the same digits)."""
    key = (test_images.data_ptr(), tuple(test_images.shape), test_images.dtype, int(test_images.sum()), n, split_seed,
           id(judge))
    if key not in _REFERENCE_CACHE:
        if len(_REFERENCE_CACHE) >= 8:
            _REFERENCE_CACHE.clear()
        _REFERENCE_CACHE[key] = (judge_features(ref, judge, name="test"), judge_features(other, judge, name="test"))
    return _REFERENCE_CACHE[key]


def evaluate_samples(samples: torch.Tensor, model: str, *, family: str, train: Any, test: Any, n: int,
                     judge: JudgeFeatures | None = None, split_seed: int = 0,
                     value_range: tuple[float, float] = (-1.0, 1.0), train_seconds: float = 0.0,
                     sample_seconds: float = 0.0, parameters: int = 1, device: str = "cpu",
                     kid_seed: int = 0) -> Evaluation:
    """The protocol on ``n`` samples already drawn (``(n, 1, 28, 28)``, float in ``value_range`` or
    uint8): FID and KID against ``n`` held-out ``test`` digits (:func:`reference_split` with
    ``split_seed``: keep the default 0 and every lesson judges against the same digits), the floor from the other ``n`` test digits, precision/recall on the judge's features
    with their real-vs-real row, and :func:`memorisation` against the ``train`` digits. ``kid_seed``
    seeds KID's random subsets (a local generator: the same samples give the same KID)."""
    samples = _as_images(samples, "samples", value_range)
    _check_seed(kid_seed, "kid_seed")
    if samples.shape[0] != n:
        raise ValueError(f"evaluate_samples expects exactly n = {n} samples (the n every number is stated at), "
                         f"got {samples.shape[0]}")
    test_images, train_images = _images_of(test, "test"), _images_of(train, "train")
    ref, other = reference_split(test_images, n, split_seed)
    judge = judge or load_judge()
    _check_sizes(ref, samples, judge)
    f_ref, f_other = _reference_features(test_images, n, split_seed, judge, ref, other)
    f_samples = judge_features(samples, judge, name="samples")
    kid_subset = max(2, n // 2)
    fid_value, floor = _frechet(f_ref, f_samples), _frechet(f_ref, f_other)
    kid_value, kid_std = _kernel(f_ref, f_samples, 20, kid_subset, kid_seed)
    floor_kid, floor_kid_std = _kernel(f_ref, f_other, 20, kid_subset, kid_seed)
    precision, recall = precision_recall(f_ref, f_samples)
    floor_precision, floor_recall = precision_recall(f_ref, f_other)
    quality = Quality(model=model, family=family, fid=fid_value, kid=kid_value, kid_std=kid_std, n=n, floor=floor,
                      reference="test", train_seconds=train_seconds, sample_seconds=sample_seconds,
                      parameters=parameters, device=device)
    return Evaluation(quality, precision, recall, floor_precision, floor_recall, floor_kid, floor_kid_std,
                      memorisation(samples, train_images, other))


def evaluate_generator(generator: nn.Module, model: str, *, family: str, train: Any, test: Any, n: int,
                       judge: JudgeFeatures | None = None, seed: int = 0, split_seed: int = 0,
                       train_seconds: float = 0.0, kid_seed: int = 0) -> Evaluation:
    """The protocol for a model with the course's sampler (:func:`genimg_course.sampling.generate`):
    ``n`` samples drawn with ``seed`` (every class in turn for a conditional model), timed, then
    :func:`evaluate_samples` (``kid_seed`` seeds KID's subsets). ``model`` names it in the record, ``family`` is
    ``"gan"``, ``"vae"`` …"""
    if not isinstance(generator, nn.Module):
        raise TypeError(f"evaluate_generator expects a generative nn.Module (see sampling.generate), got "
                        f"{type(generator).__name__}")
    _check_seed(kid_seed, "kid_seed")
    params = list(generator.parameters())
    if not params:
        raise ValueError(f"evaluate_generator needs a model with parameters, got {type(generator).__name__}")
    t0 = time.perf_counter()
    samples = generate(generator, n, y=labels_for(generator, n), seed=seed)
    seconds = time.perf_counter() - t0
    return evaluate_samples(samples, model, family=family, train=train, test=test, n=n, judge=judge,
                            split_seed=split_seed, train_seconds=train_seconds, sample_seconds=seconds,
                            parameters=sum(p.numel() for p in params), device=str(params[0].device),
                            kid_seed=kid_seed)
