"""``genimg site``: a static, browsable HTML build of the executed lessons that works offline.

One page per lesson (nbconvert's ``lab`` HTML template) plus ``index.html`` listing the lessons
with their compute cards. Everything a page loads is local, so the site works from ``file://``
in a lab without internet:

* widget state saved in the notebook (papermill/nbclient store it in
  ``metadata.widgets["application/vnd.jupyter.widget-state+json"]``) is rendered by
  ``@jupyter-widgets/html-manager``'s standalone ``embed.js``, copied to ``<out>/assets/``
  instead of nbconvert's default ``embed-amd.js`` from a CDN (``embed.js`` needs no RequireJS, so
  the page loads none);
* maths is typeset by MathJax 3 (``tex-svg.js``, no font files) from ``<out>/assets/mathjax/``;
* images are embedded in the pages; Mermaid (unused by the lessons) is not loaded.

The two scripts are vendored xz-compressed in ``genimg_course/assets/`` (see its README) and
checked against their upstream SHA-256 before they are written.

Sources: executed copies as ``genimg run`` writes them (default ``notebooks/executed/``, where a
lesson may exist once per profile in ``gpu/``, ``cpu/``, ``smoke/``: the gpu one is preferred), or
``.ipynb`` files. A compute card is read from ``<stem>.card.json`` beside a copy (any of
``wall_s``, ``peak_gpu_*``, ``peak_ram_*``, ``device``, ``profile``; missing fields show as "—"),
else from the lesson's figures file ``<stem>.json``.
"""
from __future__ import annotations

import argparse
import html
import json
import lzma
import math
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Sequence

from ..files import atomic_write, sha256_file, write_text
from .lessons import (CHECKOUT, BadInput, BadType, as_callable, as_instances, as_list, as_mapping, as_path, got,
                      in_checkout, parse_command, work_dir)

__all__ = ["Lesson", "SiteError", "SiteReport", "VENDORED", "DEFAULT_OUT", "default_out", "page_name", "find_lessons",
           "install_assets", "render_lesson", "render_index", "build_site", "card_summary", "default_source", "site_main"]

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"  # genimg_course/assets
# file under <out>/assets -> (vendored file in genimg_course/assets, SHA-256 of the decompressed file)
VENDORED: dict[str, tuple[str, str]] = {
    "embed.js": ("html-manager-1.0.15-embed.js.xz",
                 "8f6d2d3f856d8595d1841dec3019d99bbe74d331f2a5178c2a33bfec729e3d6a"),
    "mathjax/tex-svg.js": ("mathjax-3.2.2-tex-svg.js.xz",
                           "d4295dc33744836935c1399feece5159577b34c5c8ffb9f1c6324cd82e03a882"),
}
LICENCES = ("README.md", "html-manager-LICENSE.txt", "html-manager-embed.js.LICENSE.txt", "mathjax-LICENSE.txt")
PROFILE_ORDER = ("gpu", "cpu", "smoke")  # which executed copy of a lesson the site shows first
DEFAULT_OUT = Path("site")  # under the checkout's root (where README.md links its pages), else the current folder


def default_out() -> Path:
    """The site's default folder: ``site/`` in the checkout's root, so the README's links to ``site/<lesson>.html``
    resolve once it is built; without a checkout, ``./site``."""
    return (CHECKOUT if in_checkout() else Path.cwd()) / DEFAULT_OUT


def page_name(stem: str) -> str:
    """The file name of a lesson's page in the site: ``05_vae`` -> ``05_vae.html``."""
    if not isinstance(stem, str) or not stem.strip():
        raise BadType(f"page_name: expected a lesson's name such as '05_vae', got {got(stem)}")
    return f"{stem}.html"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FAILED_SUFFIX = ".FAILED.ipynb"  # genimg run's name for the executed copy of a lesson that failed

# Extends nbconvert's lab/index.html.j2: local widget manager and MathJax, no RequireJS, no Mermaid.
# embed.js bundles the built-in widgets (base, controls, output: all the course uses) and has no
# loader for third-party widget modules, so it never fetches code from anywhere.
_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}
{%- if "widgets" in nb.metadata %}
<script src="{{ resources.genimg.assets }}/embed.js"></script>
{%- endif -%}
{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}
<script>
// The widgets typeset through MathJax 2's API (MathJax.Hub.Queue(["Typeset", MathJax.Hub, el])):
// a small shim forwards that to MathJax 3, before and after MathJax 3 replaces window.MathJax.
(function () {
  var hub = {Queue: function () {
    for (var i = 0; i < arguments.length; i++) {
      var job = arguments[i];
      if (Array.isArray(job) && job[0] === 'Typeset' && window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise(job[2] ? [job[2]] : undefined).catch(function () {});
      }
    }
  }};
  window.MathJax = {
    tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
          processEscapes: true, processEnvironments: true},
    options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'},
    svg: {fontCache: 'global'},
    startup: {ready: function () { window.MathJax.Hub = hub; window.MathJax.startup.defaultReady(); }},
    Hub: hub
  };
}());
</script>
<script id="MathJax-script" defer src="{{ resources.genimg.assets }}/mathjax/tex-svg.js"></script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
nav.genimg-nav { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; align-items: baseline; padding: 0.6em 1em;
  margin-bottom: 1em; border-bottom: 1px solid #ccc; font-family: var(--jp-ui-font-family, sans-serif); font-size: 14px; }
nav.genimg-nav .card { color: #555; }
nav.genimg-nav .failed { color: #b00020; font-weight: bold; }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.genimg.nav }}
{%- endblock body_header -%}
"""


class SiteError(RuntimeError):
    """Bad input that stops the build: no executed notebooks, a missing path, an unwritable folder."""


@dataclass
class Lesson:
    """One executed lesson chosen for the site."""

    stem: str
    path: Path
    title: str
    profile: str  # "" when unknown
    card: dict[str, Any]
    card_file: str  # where ``card`` came from ("" when there is none)
    failed: str  # "" when every cell ran; else where and how the execution stopped
    nb: Any = field(repr=False, default=None)

    @property
    def page(self) -> str:
        return page_name(self.stem)


# --------------------------------------------------------------------------------------------
# finding the executed lessons and their cards
# --------------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stem(path: Path) -> str:
    """The lesson's name: ``01_cnn_basics`` for ``01_cnn_basics.ipynb`` and for ``genimg run``'s
    ``01_cnn_basics.FAILED.ipynb`` (the executed copy of a lesson that stopped with an error)."""
    return path.name[: -len(FAILED_SUFFIX)] if path.name.endswith(FAILED_SUFFIX) else path.stem


def _card(path: Path) -> tuple[dict[str, Any], str]:
    stem = _stem(path)
    for candidate in (path.with_name(f"{stem}.card.json"), path.with_name(f"{stem}.json")):
        if candidate.exists():
            card = _read_json(candidate)
            if card:
                return card, str(candidate)
    return {}, ""


def _title(nb, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^\s*#{1,2}\s+(.+?)\s*#*\s*$", cell.source, re.M)
            if m:
                text = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).strip()
                if text:
                    return text
    return stem


def _where(index: Any, execution_count: Any) -> str:
    where = f"cell {index}" if isinstance(index, int) else "a cell"
    return where + (f" (In [{execution_count}])" if isinstance(execution_count, int) else "")


def _failure(nb, card: dict[str, Any]) -> str:
    """Where an executed notebook stopped, or "" when it ran to the end. Cells are counted as
    ``genimg run`` counts them: from 0, in the lesson's own cells (papermill's added cells skipped)."""
    cells = [c for c in nb.cells if not {"papermill-error-cell-tag", "injected-parameters"}
             & set(c.get("metadata", {}).get("tags", []))]
    for index, cell in enumerate(cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                value = str(out.get("evalue", "")).strip().splitlines()
                return (f"{_where(index, cell.get('execution_count'))}: {out.get('ename', 'Error')}"
                        + (f": {value[0][:160]}" if value else ""))
    failure = card.get("failure")
    if card.get("status") == "failed" or isinstance(failure, dict):
        f = failure if isinstance(failure, dict) else {}
        text = ": ".join(str(f[k]) for k in ("error", "message") if f.get(k))
        return f"{_where(f.get('cell'), f.get('execution_count'))}" + (f": {text[:200]}" if text else "")
    if nb.metadata.get("papermill", {}).get("exception"):
        return "a cell (the run stopped with an exception)"
    return ""


def _profile(nb, card: dict[str, Any], path: Path) -> str:
    for value in (card.get("profile"), nb.metadata.get("papermill", {}).get("parameters", {}).get("PROFILE"),
                  path.parent.name):
        if isinstance(value, str) and value.lower() in PROFILE_ORDER:
            return value.lower()
    value = card.get("profile")
    return value if isinstance(value, str) else ""


def default_source() -> Path:
    """Where ``genimg run`` writes: the checkout's ``notebooks/executed/`` (one folder per profile
    inside), else ``./executed/``."""
    return work_dir() / "executed"


def _candidates(source: Path) -> list[Path]:
    if not source.exists():
        raise SiteError(f"{source} does not exist: expected executed notebooks (the folder `genimg run` writes, "
                        f"default {default_source()}) or .ipynb files")
    if source.is_file():
        if source.suffix != ".ipynb":
            raise SiteError(f"{source} is not a notebook: expected a .ipynb file or a folder of executed notebooks")
        return [source]
    found = sorted(source.glob("*.ipynb")) + sorted(source.glob("*/*.ipynb"))
    return [p for p in found if not any(part.startswith(".") for part in p.relative_to(source).parts)]


def find_lessons(sources: Sequence[str | os.PathLike], log: Callable[[str], None] = print) -> list[Lesson]:
    """The lessons to publish, one per lesson name, sorted by name: of several executed copies of a
    lesson, one that ran to the end is preferred to one that failed, then the gpu-profile one,
    then cpu, then smoke, then the newest.

    Raises :class:`SiteError` when a source is missing or no notebook is found. A notebook that
    cannot be read is reported through ``log`` and skipped."""
    import nbformat

    sources = [as_path(s, "find_lessons: source") for s in as_list(sources, "find_lessons: sources")]
    as_callable(log, "find_lessons: log")
    by_stem: dict[str, list[Lesson]] = {}
    for source in sources:
        for path in _candidates(source):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as e:
                why = str(e).splitlines()[0][:120] if str(e) else ""
                log(f"  ✗ {path}: not a readable notebook ({type(e).__name__}: {why}); skipped")
                continue
            card, card_file = _card(path)
            stem = _stem(path)
            lesson = Lesson(stem, path, _title(nb, stem), _profile(nb, card, path), card, card_file,
                            _failure(nb, card), nb)
            by_stem.setdefault(stem, []).append(lesson)
    if not by_stem:
        shown = ", ".join(str(s) for s in sources) or "(none)"
        raise SiteError(f"no executed notebooks found in {shown}: run `genimg run` first, or pass .ipynb files or "
                        "folders of them")

    def rank(lesson: Lesson) -> tuple[bool, int, float]:
        order = PROFILE_ORDER.index(lesson.profile) if lesson.profile in PROFILE_ORDER else len(PROFILE_ORDER)
        return bool(lesson.failed), order, -lesson.path.stat().st_mtime

    return [min(copies, key=rank) for _, copies in sorted(by_stem.items())]


# --------------------------------------------------------------------------------------------
# compute cards
# --------------------------------------------------------------------------------------------

def _flat(card: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in card.items():
        name = f"{prefix}{key}".lower()
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}_"))
        else:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _gib(key: str, value: float) -> float:
    if key.endswith(("_mib", "_mb")):
        return value / 1024
    if key.endswith("_bytes") or key.endswith("_b"):
        return value / 2**30
    return value  # *_gib, *_gb or unitless: GiB


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def card_summary(card: dict[str, Any]) -> dict[str, str]:
    """A compute card's display values: ``wall``, ``gpu``, ``ram``, ``device``, ``profile``
    (each "—" when the card does not have it). Tolerant of missing, nested or extra fields."""
    as_mapping(card, "card_summary", "a compute card (a dict; {} when there is none)")
    flat = _flat(card)
    shown = {"wall": "—", "gpu": "—", "ram": "—", "device": "—", "profile": "—"}
    for key in ("wall_s", "wall_time_s", "wall_seconds", "wall", "elapsed_s", "seconds"):
        value = _number(flat.get(key))
        if value is not None:
            shown["wall"] = _duration(value)
            break
    for what, preferred, pattern in (
            ("gpu", ("peak_gpu_allocated_gib", "peak_gpu_gib"), r"(peak.*gpu|gpu.*peak)"),
            ("ram", ("peak_ram_gib", "kernel_peak_ram_gib"), r"(peak.*(ram|rss)|(ram|rss).*peak)")):
        keys = [k for k in preferred if _number(flat.get(k)) is not None] + sorted(
            (k for k in flat if re.search(pattern, k) and _number(flat[k]) is not None),
            key=lambda k: ("reserved" in k, k))  # allocated before reserved
        if keys:
            shown[what] = f"{_gib(keys[0], _number(flat[keys[0]])):.2f} GiB"  # type: ignore[arg-type]
    for what in ("device", "profile"):
        value = flat.get(what)
        if isinstance(value, str) and value.strip():
            shown[what] = value.strip()
    gpu = flat.get("gpu")
    if isinstance(gpu, str) and gpu.strip() and shown["device"].startswith("cuda") and gpu not in shown["device"]:
        shown["device"] += f" ({gpu.strip()})"
    return shown


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------

def install_assets(out: str | os.PathLike) -> list[Path]:
    """Write the vendored scripts (SHA-256-checked) and their licences to ``<out>/assets``."""
    out = as_path(out, "install_assets: out")
    if out.exists() and not out.is_dir():
        raise SiteError(f"install_assets: expected a folder for the site, got {out}, which is a file")
    target = out / "assets"
    written = []
    for name, (vendored, digest) in VENDORED.items():
        dest = target / name
        if dest.exists() and sha256_file(dest) == digest:
            written.append(dest)
            continue
        source = ASSETS_DIR / vendored
        try:
            blob = lzma.decompress(source.read_bytes())
        except (OSError, lzma.LZMAError) as e:
            raise SiteError(f"the vendored {source} cannot be read ({type(e).__name__}: {e}): reinstall "
                            "genimg-course (or `git checkout -- genimg_course/assets` in a checkout)") from None
        actual = sha256(blob).hexdigest()
        if actual != digest:
            raise SiteError(f"the vendored {source} decompresses to SHA-256 {actual}, expected {digest}: reinstall "
                            "genimg-course (or `git checkout -- genimg_course/assets` in a checkout)")
        _write(dest, blob)
        written.append(dest)
    for name in LICENCES:
        if (ASSETS_DIR / name).exists():
            dest = target / "licences" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ASSETS_DIR / name, dest)
            written.append(dest)
    return written


def _write(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        write_text(path, data)
        return
    with atomic_write(path, "wb") as f:
        f.write(data)


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"genimg_lesson.html.j2": _TEMPLATE})],
                        template_file="genimg_lesson.html.j2")


def _nav(lesson: Lesson, prev: Lesson | None, nxt: Lesson | None) -> str:
    e = html.escape
    parts = ['<nav class="genimg-nav">', '<a href="index.html">← all lessons</a>']
    if prev:
        parts.append(f'<a href="{e(prev.page)}">‹ {e(prev.title)}</a>')
    if nxt:
        parts.append(f'<a href="{e(nxt.page)}">{e(nxt.title)} ›</a>')
    c = card_summary(lesson.card)
    parts.append(f'<span class="card">profile {e(lesson.profile or c["profile"])} · device {e(c["device"])} · '
                 f'wall time {e(c["wall"])} · peak GPU {e(c["gpu"])} · peak RAM {e(c["ram"])}</span>')
    if lesson.failed:
        parts.append(f'<span class="failed">this run failed at {e(lesson.failed)}</span>')
    parts.append("</nav>")
    return "\n".join(parts)


def render_lesson(lesson: Lesson, prev: Lesson | None = None, nxt: Lesson | None = None, exporter=None,
                  assets: str = "assets") -> str:
    """One lesson as a standalone HTML page whose scripts come from ``assets`` (a relative URL)."""
    for what, value, optional in (("lesson", lesson, False), ("prev", prev, True), ("nxt", nxt, True)):
        if not (isinstance(value, Lesson) or (optional and value is None)):
            raise BadType(f"render_lesson: {what}: expected a Lesson (as find_lessons returns)"
                          f"{' or None' if optional else ''}, got {got(value)}")
    if lesson.nb is None:
        raise BadInput(f"render_lesson: lesson {lesson.stem!r} has no notebook: expected a Lesson from find_lessons, "
                       "which reads it")
    if not isinstance(assets, str) or not assets:
        raise BadType(f"render_lesson: assets: expected the assets folder's relative URL as a str, got {got(assets)}")
    exporter = exporter or _exporter()
    resources = {"metadata": {"name": lesson.title},
                 "genimg": {"assets": assets, "nav": _nav(lesson, prev, nxt)}}
    body, _ = exporter.from_notebook_node(lesson.nb, resources=resources)
    return body


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.45em 0.8em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; white-space: nowrap; }
.failed { color: #b00020; font-weight: bold; }
.ok { color: #1b7f3b; }
footer { margin-top: 2em; color: #666; font-size: 0.9em; }
"""


def render_index(lessons: Sequence[Lesson], title: str = "genimg-course: executed lessons") -> str:
    """The index page: one row per lesson with its compute card."""
    lessons = as_instances(lessons, Lesson, "render_index: lessons", "Lessons (as find_lessons returns)")
    if not isinstance(title, str):
        raise BadType(f"render_index: title: expected a str, got {got(title)}")
    e = html.escape
    rows = []
    for lesson in lessons:
        c = card_summary(lesson.card)
        status = (f'<span class="failed">failed at {e(lesson.failed)}</span>' if lesson.failed
                  else '<span class="ok">ran to the end</span>')
        rows.append(
            f'<tr><td><a href="{e(lesson.page)}">{e(lesson.title)}</a><br><small>{e(lesson.stem)}</small></td>'
            f'<td>{e(lesson.profile or c["profile"])}</td><td>{e(c["device"])}</td>'
            f'<td class="num">{e(c["wall"])}</td><td class="num">{e(c["gpu"])}</td><td class="num">{e(c["ram"])}</td>'
            f"<td>{status}</td></tr>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{e(title)}</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>{e(title)}</h1>
<p>Every lesson as it ran, outputs and widgets included: read it before running anything. The compute card of
each run (wall time, peak GPU memory, peak RAM, device) tells what a lesson costs under its profile.</p>
<table>
<thead><tr><th>lesson</th><th>profile</th><th>device</th><th>wall time</th><th>peak GPU</th><th>peak RAM</th>
<th>status</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<footer>Built {e(time.strftime("%Y-%m-%d %H:%M"))} by <code>genimg site</code>; works offline (widgets: Jupyter widgets
html-manager, maths: MathJax, see <a href="assets/licences/README.md">assets/licences</a>).</footer>
</body>
</html>
"""


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".genimg-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SiteError(f"cannot write the site to {folder} ({type(e).__name__}: {e.strerror or e}): expected a "
                        "folder this user can create and write; choose another with --out") from None


@dataclass
class SiteReport:
    out: Path
    pages: list[Path]
    failed: dict[str, str]  # lesson stem -> why its page could not be built
    lessons: list[Lesson]

    @property
    def ok(self) -> bool:
        return not self.failed


def build_site(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
               log: Callable[[str], None] = print) -> SiteReport:
    """Build ``<out>/index.html``, one ``<out>/<lesson>.html`` per lesson and ``<out>/assets/``.

    Raises :class:`SiteError` for bad input; a lesson whose page cannot be rendered is reported in
    the result (and left out of the index) while the others are built. Pages are written
    atomically: a failed build never leaves a half-written page."""
    out = as_path(out, "build_site: out")
    sources = [as_path(s, "build_site: source") for s in as_list(sources, "build_site: sources")]
    for source in (s for s in sources if s.exists()):
        folder = source if source.is_dir() else source.parent
        if out.resolve() == folder.resolve():
            raise SiteError(f"the site's folder {out} is the source folder {folder}: expected a folder apart from the "
                            "executed notebooks (the pages and assets would mix with them); choose another with --out")
    lessons = find_lessons(sources, log)
    _ensure_writable(out)
    install_assets(out)
    exporter = _exporter()
    pages, failed, built = [], {}, []
    for i, lesson in enumerate(lessons):
        prev = lessons[i - 1] if i > 0 else None
        nxt = lessons[i + 1] if i + 1 < len(lessons) else None
        t0 = time.perf_counter()
        try:
            page = out / lesson.page
            _write(page, render_lesson(lesson, prev, nxt, exporter))
        except Exception as e:
            failed[lesson.stem] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            log(f"  ✗ {lesson.stem}: page not built ({failed[lesson.stem]})")
            continue
        pages.append(page)
        built.append(lesson)
        widgets = len(lesson.nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {}))
        note = f"; execution failed at {lesson.failed}" if lesson.failed else ""
        log(f"  ✓ {page.name} from {lesson.path} (profile {lesson.profile or '?'}, {widgets} widget models, "
            f"{time.perf_counter() - t0:.1f} s){note}")
    index = out / "index.html"
    _write(index, render_index(built))
    return SiteReport(out, [index, *pages], failed, built)


def _path_arg(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text)


def build_parser(prog: str = "genimg site") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Build a static HTML site of the executed lessons: one page per lesson (outputs and widget "
                    "state included) and an index with each lesson's compute card. Works offline: the widget "
                    "manager and MathJax are copied next to the pages, nothing loads from a CDN. Of several "
                    "executed copies of a lesson, the gpu-profile one is used, then cpu, then smoke. Exit code 0 "
                    "when every page is built, 1 when some are not, 2 for bad input.",
    )
    p.add_argument("paths", nargs="*", type=_path_arg,
                   help=f"executed notebooks or folders of them (default: {default_source()}, where `genimg run` "
                        "writes)")
    p.add_argument("--out", type=_path_arg, default=None, help=f"the site's folder (default: {default_out()})")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def site_main(argv: list[str] | None = None) -> int:
    """``genimg site``: returns the exit code (0 built, 1 some pages failed, 2 bad input)."""
    args = parse_command(build_parser(), argv, "genimg site")
    if args is None:
        return 2
    log: Callable[[str], None] = (lambda s: None) if args.quiet else print
    try:
        report = build_site(args.paths or [default_source()], args.out or default_out(), log)
    except (SiteError, BadInput) as e:
        print(f"genimg site: {e}", file=sys.stderr)
        return 2
    if report.failed:
        print(f"genimg site: {len(report.failed)} page(s) not built: {', '.join(report.failed)}", file=sys.stderr)
    if not args.quiet:
        failed_runs = [f"{les.stem} ({les.failed})" for les in report.lessons if les.failed]
        if failed_runs:
            print(f"note: these executed copies stopped with an error; their pages show it: {'; '.join(failed_runs)}")
        print(f"site: {len(report.lessons)} lesson page(s) and the index in {report.out.resolve()}; open "
              f"{(report.out / 'index.html').resolve().as_uri()}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(site_main())
