"""One scoreboard of every generative model the course measures, read from the lessons' figures, never retyped.

Each generative lesson records a :class:`~genimg_course.figures.Quality` for every model it scores (the course's
one protocol: FID and KID on the judge's features against held-out test digits at ``n``, the real-vs-real floor
at that ``n``), and :meth:`~genimg_course.metrics.Evaluation.record` adds ``<model>_precision``, ``_recall``,
``_near_copy_share`` and ``_train_distance_ratio``. :func:`collect` gathers those records from a ``genimg run``
output folder (or any folder of figures JSON), or from the lessons' shipped reference runs; :func:`table` prints
them as one table beside the floor; :func:`plot` draws quality against training time; :func:`coverage` says which
rows stand for each model of :data:`COURSE_MODELS` (every generative model the course teaches), and :func:`missing`
which lesson has no rows and how to make them. A new generative lesson adds its stem to :data:`GENERATIVE_LESSONS`
and its models to :data:`COURSE_MODELS`; nothing else changes.

Numbers are only put side by side where they compare: rows at different ``n`` or against different reference
splits are refused in one table (an FID, and its floor, depend on ``n``), with the ``n`` values found and how to
pick one. No torch here: the classroom tools read this module too::

    from genimg_course.scoreboard import collect, table
    print(table(collect()))                      # the shipped reference runs (cpu profile)
    print(table(collect("executed/")))           # your own `genimg run --out executed` folder
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .figures import Quality
from .reference import REFERENCE_DIR

__all__ = ["Row", "collect", "missing", "table", "plot", "coverage", "GENERATIVE_LESSONS", "COURSE_MODELS"]

# the lessons whose figures hold Quality records, and what each one scores
GENERATIVE_LESSONS: dict[str, str] = {
    "03_dcgan": "DCGAN (live and shipped)",
    "04_stable_gans": "non-saturating GAN, WGAN-GP, SN-GAN with hinge loss",
    "04b_conditional_gan": "conditional GAN",
    "05_vae": "VAE and conditional VAE",
    "09_fusion": "VAE-GAN and its twin VAE (same network, data, seed and steps)",
    "10_diffusion": "DDPM / DDIM, flow matching (and the shipped DCGAN beside them)",
}

# every generative model the course teaches -> (the lesson that scores it, a pattern its rows' names match, case
# insensitive): coverage() says which rows stand for which model, and which model has none. A new lesson adds its
# line here and its stem to GENERATIVE_LESSONS.
COURSE_MODELS: dict[str, tuple[str, str]] = {
    "DCGAN": ("03_dcgan", r"\bG\b|dcgan"),
    "WGAN-GP": ("04_stable_gans", r"wgan"),
    "SN-GAN": ("04_stable_gans", r"\bsn\b|sn_|spectral"),
    "cGAN": ("04b_conditional_gan", r"cgan|conditional gan"),
    "VAE": ("05_vae", r"^(?!.*(conditional|cvae)).*\bvae\b(?![- ]?gan)"),
    "cVAE": ("05_vae", r"conditional vae|\bcvae\b"),
    "VAE-GAN": ("09_fusion", r"vae[- ]?gan"),
    "DDPM/DDIM": ("10_diffusion", r"ddpm|ddim"),
    "flow matching": ("10_diffusion", r"\bflow\b"),
}


@dataclass(frozen=True)
class Row:
    """One model on the scoreboard: the lesson and profile it was measured in, its :class:`Quality` record, and
    (when the lesson recorded them) precision, recall, the memorisation figures and where the record came from
    (``source``: a file, or ``"reference <profile>, commit <hash>"``)."""

    lesson: str
    profile: str
    quality: Quality
    precision: float | None
    recall: float | None
    near_copy_share: float | None
    train_distance_ratio: float | None
    source: str


def _slug(model: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", model.lower()))  # as Evaluation.record names its figures


def _rows_of(figures: dict[str, Any], lesson: str, profile: str, source: str) -> list[Row]:
    out = []
    records = figures.get("quality", {})
    if not isinstance(records, dict):
        raise ValueError(f"{source}: 'quality' must map model names to quality records, got {type(records).__name__}")
    for d in records.values():
        q = Quality.from_dict(d)
        m = _slug(q.model)
        get = (lambda k: figures.get(f"{m}_{k}"))
        out.append(Row(lesson, profile, q, get("precision"), get("recall"), get("near_copy_share"),
                       get("train_distance_ratio"), source))
    return out


def collect(source: str | os.PathLike | Sequence[str | os.PathLike] | None = None, profile: str = "cpu") -> list[Row]:
    """Every quality record, as :class:`Row` s in lesson order.

    ``source``: a figures JSON file, a folder of them (what ``genimg run --out DIR`` writes), or a list of either;
    ``None`` reads the lessons' shipped reference runs of ``profile`` (``genimg_course/reference/``). A file that
    is not a lesson's figures is refused with its name."""
    if not isinstance(profile, str) or not profile:
        raise ValueError(f"profile must be a profile name such as 'cpu', got {profile!r}")
    rows: list[Row] = []
    if source is None:
        for path in sorted(REFERENCE_DIR.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            run = data.get("runs", {}).get(profile)
            if run:
                rows += _rows_of(run.get("figures", {}), data.get("lesson", path.stem), profile,
                                 f"reference {profile}, commit {str(run.get('commit', '?'))[:10]}")
        return rows
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json") if not f.name.endswith(".card.json") and f.name != "compute_cards.json")
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"collect: {p} does not exist: give a figures JSON file or a folder of them "
                                    "(genimg run --out DIR writes one per lesson)")
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"collect: {f} is not JSON ({e})") from None
        if not isinstance(data, dict) or "lesson" not in data:
            raise ValueError(f"collect: {f} is not a lesson's figures (no 'lesson' key): a figures JSON is what a "
                             "lesson's Figures writes, e.g. executed/03_dcgan.json")
        rows += _rows_of(data, data["lesson"], str(data.get("profile", "?")), str(f))
    return rows


def missing(rows: Iterable[Row], lessons: Iterable[str] = tuple(GENERATIVE_LESSONS)) -> dict[str, str]:
    """``{lesson: how to make its figures}`` for each of ``lessons`` with no row in ``rows``."""
    have = {r.lesson for r in rows}
    return {lesson: f"run it: genimg run --profile cpu notebooks/{lesson}.ipynb (it scores "
                    f"{GENERATIVE_LESSONS.get(lesson, 'its models')})" for lesson in lessons if lesson not in have}


def coverage(rows: Iterable[Row], models: dict[str, tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """``{model: [the names of its rows]}`` for every model of :data:`COURSE_MODELS` (or ``models``): the rows of
    its lesson whose name matches its pattern; an empty list is a model the scoreboard does not show yet
    (:func:`missing` says how to make its lesson's figures)."""
    rows = list(rows)
    bad = [r for r in rows if not isinstance(r, Row)]
    if bad:
        raise TypeError(f"coverage expects the Rows that collect() returns, got {type(bad[0]).__name__}")
    models = COURSE_MODELS if models is None else models
    return {name: [r.quality.model for r in rows
                   if r.lesson == lesson and re.search(pattern, r.quality.model, re.IGNORECASE)]
            for name, (lesson, pattern) in models.items()}


def _check_comparable(rows: list[Row], n: int | None) -> list[Row]:
    if n is not None:
        rows = [r for r in rows if r.quality.n == n]
        if not rows:
            raise ValueError(f"no quality record at n = {n}")
    ns = sorted({r.quality.n for r in rows})
    if len(ns) > 1:
        counts = ", ".join(f"n = {v}: {sum(r.quality.n == v for r in rows)} rows" for v in ns)
        raise ValueError(f"these records were measured at different n ({counts}): an FID and its floor depend on n, "
                         f"so they cannot share a column. Pick one: table(rows, n={ns[-1]})")
    refs = sorted({r.quality.reference for r in rows})
    if len(refs) > 1:
        raise ValueError(f"these records were scored against different reference splits {refs}: they cannot share a "
                         "column")
    floors = sorted({round(r.quality.floor, 3) for r in rows})
    if len(floors) > 1 and floors[-1] - floors[0] > 0.05 * floors[0]:
        raise ValueError(f"these records at n = {ns[0]} have different floors ({floors[0]:g} to {floors[-1]:g}): they were "
                         "judged against different test digits or by another judge, so their FIDs do not compare")
    return rows


def table(rows: Iterable[Row], n: int | None = None) -> str:
    """The scoreboard as text: one line per model, best FID first, the real-vs-real floor on top; all rows at one
    ``n`` (``n`` picks it when the records mix several)."""
    rows = list(rows)
    bad = [r for r in rows if not isinstance(r, Row)]
    if bad:
        raise TypeError(f"table expects the Rows that collect() returns, got {type(bad[0]).__name__}")
    rows = _check_comparable(rows, n)
    if not rows:
        raise ValueError("table needs at least one row: collect() found no quality records")
    rows.sort(key=lambda r: r.quality.fid)
    q0 = rows[0].quality

    def f(v: float | None, fmt: str) -> str:
        return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)

    head = (f"{'model':34s} {'lesson':20s} {'FID':>7s} {'x floor':>7s} {'KID':>13s} {'prec':>5s} {'recall':>6s} "
            f"{'dist ratio':>10s} {'train s':>8s} {'ms/sample':>9s} {'params':>9s} {'device':>6s}")
    lines = [head, f"{'real vs real (the floor)':34s} {'':20s} {q0.floor:7.1f} {1.0:7.2f}"]
    for r in rows:
        q = r.quality
        lines.append(f"{q.model[:34]:34s} {r.lesson[:20]:20s} {q.fid:7.1f} {q.ratio:7.2f} "
                     f"{f(q.kid, '6.3g')} ± {f(q.kid_std, '<4.2g')} {f(r.precision, '5.2f')} {f(r.recall, '6.2f')} "
                     f"{f(r.train_distance_ratio, '10.2f')} {q.train_seconds:8.0f} {1000 * q.sample_seconds / q.n:9.2f} "
                     f"{q.parameters:9,d} {q.device[:6]:>6s}")
    lines.append(f"n = {q0.n} samples per model against {q0.n} held-out {q0.reference} digits; profiles: "
                 + ", ".join(sorted({r.profile for r in rows})) + "; train s = 0: a shipped model, trained by its tool")
    return "\n".join(lines)


def plot(rows: Iterable[Row], n: int | None = None, ax: Any = None) -> Any:
    """FID (over the floor) against training seconds, one point per model trained in the lesson (shipped models,
    whose training ran elsewhere, are drawn at the left edge). Returns the axes."""
    import matplotlib.pyplot as plt

    rows = _check_comparable(list(rows), n)
    if not rows:
        raise ValueError("plot needs at least one row: collect() found no quality records")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for r in rows:
        x = max(r.quality.train_seconds, 1.0)
        ax.scatter(x, r.quality.ratio, s=25)
        ax.annotate(r.quality.model, (x, r.quality.ratio), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="the floor")
    ax.set(xscale="log", yscale="log", xlabel="training seconds (1: shipped, trained by its tool)",
           ylabel="FID / floor", title=f"quality vs training time, n = {rows[0].quality.n}")
    ax.legend(fontsize=8)
    return ax
