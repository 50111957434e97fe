"""``genimg run``: execute lessons with papermill under a profile and write a compute card per lesson.

Each lesson runs in its own worker process (and so its own kernel), several at a time when the
machine allows, with

* ``PROFILE=<profile>`` injected into its ``parameters`` cell (and ``GENIMG_PROFILE`` set),
* ``GENIMG_FIGURES_DIR=<out>``: its Figures JSON lands beside its executed copy,
* ``OMP_NUM_THREADS = cores // jobs`` (a smaller ``OMP_NUM_THREADS`` already set caps it): parallel
  kernels do not oversubscribe the CPU,
* a fresh scratch working directory ``<out>/.work/<stem>/`` (its ``checkpoints/`` start empty,
  so the card measures a run from scratch, never a resume), and its log in ``<out>/.work/<stem>.log``,
* a per-cell timeout: a cell with no reply for that long (a lost kernel message, a hang) fails the
  lesson; such a lesson is run once more, and its card says so.

The executed copy is written to ``<out>/<stem>.ipynb.partial`` and renamed to ``<stem>.ipynb``
only when every cell passed; a failed lesson keeps it as ``<stem>.FAILED.ipynb``. The files of an
earlier run of the same lessons are removed before anything starts, so nothing stale looks
complete. Each lesson's card is ``<out>/<stem>.card.json``; ``compute_cards.json`` and
``compute_cards.md`` gather every card in ``<out>``.

After a lesson ran, its figures are compared with the ``[<profile>]`` section of its band file
(``bands/<stem>.toml`` beside the notebook, see :mod:`.bands`): the card's ``bands`` entry says
``met``, ``missed`` (each miss with its key, value and band), ``no bands`` (no file, or no section
for the profile) or ``error`` (a band file that cannot be read). :func:`main` exits 0 when every
lesson ran and met its bands, 1 when a lesson failed, 2 on bad input, 3 when every lesson ran but a
figure missed its band (or a band file is broken).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..files import write_text
from ..profiles import PROFILE_NAMES  # names only: profiles imports torch when a profile is resolved
from .bands import check_lesson
from .lessons import (CHECKOUT, LESSON_GLOB, BadInput, BadType, as_callable, as_count, as_instances, as_list, as_mapping,
                      as_path, as_seconds, available_lessons, check_notebooks, check_out_dir, got, lessons_dir, work_dir,
                      prepare_out_dir, resolve_notebooks)

__all__ = ["BadInput", "PROFILE_CHOICES", "LESSON_GLOB", "DEFAULT_TIMEOUT_S", "lessons_dir", "available_lessons",
           "resolve_notebooks", "prepare_out_dir", "default_out", "resolve_profile", "cpu_cores", "default_jobs",
           "run_lessons", "collect_cards", "cards_table", "write_summary", "progress_line", "human_duration",
           "bands_text", "band_problems", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_BANDS", "main"]

PROFILE_CHOICES = (*PROFILE_NAMES, "auto")
DEFAULT_TIMEOUT_S = 600.0
WORK = ".work"  # per-lesson scratch folders and logs inside the output folder
PARTIAL = ".ipynb.partial"
FAILED = ".FAILED.ipynb"
CARD = ".card.json"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BANDS = 0, 1, 2, 3  # genimg run's exit codes (cli.py's --help says them)


# --------------------------------------------------------------------------------------------
# input: which lessons (lessons.py), which profile, where to
# --------------------------------------------------------------------------------------------

def default_out(profile: str) -> Path:
    """``notebooks/executed/<profile>`` in a checkout, else ``./executed/<profile>``."""
    if profile not in PROFILE_NAMES:
        raise BadInput(f"default_out: expected a resolved profile, one of {', '.join(PROFILE_NAMES)}, got {profile!r} "
                       "(resolve_profile turns auto into one)")
    return work_dir() / "executed" / profile


def resolve_profile(name: str) -> str:
    """``smoke | cpu | gpu`` unchanged; ``auto`` → ``$GENIMG_PROFILE``, else ``gpu`` with CUDA, else ``cpu``."""
    if name not in PROFILE_CHOICES:
        raise BadInput(f"unknown profile {name!r}: expected one of {', '.join(PROFILE_CHOICES)}")
    if name != "auto":
        return name
    from ..profiles import resolve  # imports torch: only for auto

    try:
        return resolve("auto").name
    except (ValueError, RuntimeError) as e:
        raise BadInput(f"--profile auto: {e}") from None


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - a broken torch install is the lesson's failure to report
        return False


def default_jobs(lessons: int, cores: int | None = None, gpu: bool | None = None) -> int:
    """1 on a CPU-only machine with fewer than 4 cores, else ``min(4, lessons)``."""
    as_count(lessons, "default_jobs: lessons")
    cores = cpu_cores() if cores is None else as_count(cores, "default_jobs: cores")
    if gpu is not None and not isinstance(gpu, bool):
        raise BadType(f"default_jobs: gpu: expected True, False or None (ask torch), got {got(gpu)}")
    gpu = _has_gpu() if gpu is None else gpu
    if not gpu and cores < 4:
        return 1
    return max(1, min(4, lessons))


def _threads_per_kernel(jobs: int) -> int:
    threads = max(1, cpu_cores() // jobs)
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) >= 1:  # an explicit, smaller OMP_NUM_THREADS (a shared machine) wins
        threads = min(threads, int(cap))
    return threads


# --------------------------------------------------------------------------------------------
# small pieces: words
# --------------------------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """``8 s``, ``2 min 10 s``, ``1 h 5 min``."""
    s = int(round(as_seconds(seconds, "human_duration", zero=True)))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def _gib(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f} GiB" if x >= 1 else f"{x:.2f} GiB"


def _one_line(text: Any, limit: int = 200) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _lesson_files(out: Path, stem: str) -> list[Path]:
    """Everything a run of lesson ``stem`` writes into ``out`` (removed before it runs again)."""
    return [out / f"{stem}.ipynb", out / f"{stem}{FAILED}", out / f"{stem}{PARTIAL}", out / f"{stem}{CARD}",
            out / f"{stem}.json"]


def _remove_stale(out: Path, stem: str) -> None:
    for f in _lesson_files(out, stem):
        f.unlink(missing_ok=True)
    shutil.rmtree(out / WORK / stem, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# the worker: one lesson, in its own process (``python -c ... _worker_main``)
# --------------------------------------------------------------------------------------------

def _kernel_peak_ram_gib() -> float | None:
    """Peak RSS of the largest finished child of this worker: the lesson's kernel."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if not rss:
        return None
    return round(rss / (2**30 if sys.platform == "darwin" else 2**20), 3)  # bytes on macOS, KiB on Linux


def _torch_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _first_line(source: str) -> str:
    return next((_one_line(line, 120) for line in source.splitlines() if line.strip()), "")


def _failure(error: BaseException, partial: Path, timeout: float) -> dict[str, Any]:
    """Where and why a lesson stopped: the cell (index in the lesson's own cells), its first line, the error."""
    import nbformat

    cells: list[Any] = []
    try:
        nb = nbformat.read(partial, as_version=4)
        cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    except Exception:  # no copy yet (the kernel never started) or a broken one: no cell to name
        pass
    index = getattr(error, "cell_index", None)
    if index is None:  # a timeout or a dead kernel: the last cell papermill started
        started = [i for i, c in enumerate(cells) if c.get("metadata", {}).get("papermill", {}).get("status")
                   not in (None, "pending")]
        index = started[-1] if started else None
    name = getattr(error, "ename", None) or type(error).__name__
    message = getattr(error, "evalue", None)
    if message is None:
        message = str(error)
    if isinstance(error, TimeoutError) or "Timeout" in name:
        message = f"no reply from the kernel for {timeout:g} s (the per-cell limit; raise it with --timeout)"
    elif name == "DeadKernelError":
        message = "the kernel died while running this cell (out of memory? killed?)"
    failure: dict[str, Any] = {"cell": None, "execution_count": None, "first_line": "", "error": name,
                               "message": _one_line(message, 300)}
    if index is not None and 0 <= index < len(cells):
        cell = cells[index]
        injected = sum(1 for c in cells[:index] if "injected-parameters" in c.metadata.get("tags", []))
        failure.update(cell=index - injected, execution_count=cell.get("execution_count"),
                       first_line=_first_line(cell.get("source", "")))
    elif hasattr(error, "source"):
        failure["first_line"] = _first_line(error.source)
    return failure


def _is_timeout(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or "Timeout" in type(error).__name__


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one lesson as ``spec`` says; write its executed copy and card; return the card."""
    import warnings

    import nbformat
    import papermill as pm

    notebook, out = Path(spec["notebook"]), Path(spec["out"])
    stem, profile, timeout = notebook.stem, spec["profile"], float(spec["timeout"])
    partial, final, failed = out / f"{stem}{PARTIAL}", out / f"{stem}.ipynb", out / f"{stem}{FAILED}"
    scratch = out / WORK / stem
    os.environ.update(GENIMG_FIGURES_DIR=str(out), GENIMG_PROFILE=profile, OMP_NUM_THREADS=str(spec["threads"]),
                      PYTHONUNBUFFERED="1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep on shared cores
    warnings.filterwarnings("ignore", message=r".*does not end in one of")  # the .partial name, on purpose

    note, error = None, None
    for attempt in (1, 2):
        _remove_stale(out, stem)
        scratch.mkdir(parents=True)
        started = datetime.now().astimezone()
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(notebook), str(partial), parameters={"PROFILE": profile}, cwd=str(scratch),
                                kernel_name="python3", progress_bar=False, execution_timeout=timeout,
                                stdout_file=sys.stdout, stderr_file=sys.stderr)
            error = None
        except Exception as e:  # the lesson's failure, reported on its card
            error = e
        wall = time.perf_counter() - t0
        if error is not None and _is_timeout(error) and attempt == 1:
            note = f"ran twice: the first attempt had a cell with no reply for {timeout:g} s"
            print(f"[genimg run] {stem}: {note.split(': ', 1)[1]}; running it again", flush=True)
            continue
        break

    figures = _read_json(out / f"{stem}.json")
    kernel_ram = _kernel_peak_ram_gib()
    card: dict[str, Any] = {
        "lesson": stem,
        "profile": figures.get("profile", profile),
        "status": "ok" if error is None else "failed",
        "wall_s": round(wall, 1),
        "peak_gpu_allocated_gib": figures.get("peak_gpu_allocated_gib"),
        "peak_gpu_reserved_gib": figures.get("peak_gpu_reserved_gib"),
        # Figures' peak is only as late as the lesson's last record; the kernel's (rusage, once it exited) is the
        # whole run's: the card keeps both and shows the larger
        "peak_ram_gib": max((x for x in (figures.get("peak_ram_gib"), kernel_ram) if x is not None), default=None),
        "figures_peak_ram_gib": figures.get("peak_ram_gib"),
        "kernel_peak_ram_gib": kernel_ram,
        "device": figures.get("device"),
        "gpu": figures.get("gpu"),
        "torch": _torch_version(),
        "date": started.isoformat(timespec="seconds"),
        "jobs": spec["jobs"],
        "threads": spec["threads"],
        "notebook": str(notebook),
        "executed": None,
        "log": str(Path(WORK) / f"{stem}.log"),
        "retried": note is not None,
        "note": note,
        "failure": None,
        # the figures against the [profile] bands: only a lesson that ran to the end is checked
        "bands": check_lesson(figures, notebook, profile) if error is None else None,
    }
    if error is None:
        nb = nbformat.read(partial, as_version=4)
        nb.metadata.setdefault("papermill", {})["output_path"] = str(final)
        nbformat.write(nb, str(partial))
        os.replace(partial, final)
        card["executed"] = final.name
    else:
        card["failure"] = _failure(error, partial, timeout)
        if partial.exists():
            os.replace(partial, failed)
            card["executed"] = failed.name
    write_text(out / f"{stem}{CARD}", json.dumps(card, indent=1) + "\n")
    return card


def _worker_main(spec_json: str) -> int:
    card = _execute(json.loads(spec_json))
    return 0 if card["status"] == "ok" else 1


# --------------------------------------------------------------------------------------------
# the parent: schedule workers, report progress, write the summary
# --------------------------------------------------------------------------------------------

def _crashed_card(spec: dict[str, Any], code: int, wall: float, interrupted: bool = False) -> dict[str, Any]:
    """The card of a lesson whose worker died before writing one (killed, a broken install) or that
    ``genimg run`` interrupted."""
    out, stem = Path(spec["out"]), Path(spec["notebook"]).stem
    partial, failed = out / f"{stem}{PARTIAL}", out / f"{stem}{FAILED}"
    if partial.exists():
        os.replace(partial, failed)
    if interrupted:
        error, message = "Interrupted", "genimg run was interrupted before this lesson finished"
    else:
        try:
            log = (out / WORK / f"{stem}.log").read_text(errors="replace").splitlines()
        except OSError:
            log = []
        tail = [line for line in log if line.strip() and "[IPKernelApp] WARNING" not in line][-1:]
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        error, message = "WorkerExited", f"the lesson's worker process {how}" + (f": {tail[0]}" if tail else "")
    card = {"lesson": stem, "profile": spec["profile"], "status": "failed", "wall_s": round(wall, 1),
            "peak_gpu_allocated_gib": None, "peak_gpu_reserved_gib": None, "peak_ram_gib": None,
            "figures_peak_ram_gib": None, "kernel_peak_ram_gib": None, "device": None, "gpu": None,
            "torch": _torch_version(), "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "jobs": spec["jobs"], "threads": spec["threads"], "notebook": spec["notebook"],
            "executed": failed.name if failed.exists() else None, "log": str(Path(WORK) / f"{stem}.log"),
            "retried": False, "note": None, "bands": None,
            "failure": {"cell": None, "execution_count": None, "first_line": "", "error": error,
                        "message": _one_line(message, 300)}}
    write_text(out / f"{stem}{CARD}", json.dumps(card, indent=1) + "\n")
    return card


def _worker_env() -> dict[str, str]:
    """This environment; in a checkout, with the checkout first on PYTHONPATH (worker and kernel import this package)."""
    env = dict(os.environ)
    if (CHECKOUT / "pyproject.toml").exists():
        env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), *filter(None, [env.get("PYTHONPATH")])])
    return env


class _Workers:
    """The running worker processes, so that an interrupt can stop them."""

    def __init__(self) -> None:
        self.procs: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        out, stem = Path(spec["out"]), Path(spec["notebook"]).stem
        (out / WORK).mkdir(exist_ok=True)
        t0 = time.perf_counter()
        with open(out / WORK / f"{stem}.log", "w") as log:
            with self.lock:
                if self.stopping:
                    raise KeyboardInterrupt
                proc = subprocess.Popen(  # env: _worker_env(), so a checkout runs without being installed
                    [sys.executable, "-c", "import sys; from genimg_course.classroom.runner import _worker_main; "
                                           "sys.exit(_worker_main(sys.argv[1]))", json.dumps(spec)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_worker_env())
                self.procs.add(proc)
            code = proc.wait()
            with self.lock:
                self.procs.discard(proc)
        card = _read_json(out / f"{stem}{CARD}")
        if self.stopping and card.get("status") != "ok":
            card = _crashed_card(spec, code, time.perf_counter() - t0, interrupted=True)
        elif card.get("lesson") != stem or code not in (0, 1):
            card = _crashed_card(spec, code, time.perf_counter() - t0)
        return card

    def stop(self, grace_s: float = 10.0) -> None:
        """Interrupt every worker (each shuts its kernel down), then terminate, then kill what is left."""
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in procs if p.poll() is None]
            for proc in alive:
                with contextlib.suppress(OSError):
                    proc.send_signal(sig)
            deadline = time.monotonic() + grace_s
            for proc in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))


def progress_line(done: int, total: int, card: dict[str, Any]) -> str:
    """``[3/6] 03_dcgan ok in 2 min 10 s, peak GPU 1.0 GiB`` or ``… failed at cell 12: ValueError: …``."""
    total = as_count(total, "progress_line: total")
    done = as_count(done, "progress_line: done")
    if done > total:
        raise BadInput(f"progress_line: expected done between 1 and total ({total}), got {done}")
    _check_card(card, "progress_line: card")
    head = f"[{done}/{total}] {card['lesson']}"
    if card["status"] == "ok":
        if card.get("peak_gpu_allocated_gib") is not None:
            peak = f"peak GPU {_gib(card['peak_gpu_allocated_gib'])}"
            if card.get("peak_gpu_reserved_gib") is not None:
                peak += f" (reserved {_gib(card['peak_gpu_reserved_gib'])})"
        else:
            peak = f"peak RAM {_gib(card.get('peak_ram_gib'))}"
        line = f"{head} ok in {human_duration(card['wall_s'])}, {peak}"
        if card.get("bands"):
            line += f"; {bands_text(card['bands'])}"
    else:
        f = card["failure"] or {}
        where = f" at cell {f['cell']}" if f.get("cell") is not None else ""
        first = f" (`{f['first_line']}`)" if f.get("first_line") else ""
        line = f"{head} failed{where}{first} after {human_duration(card['wall_s'])}: {f.get('error')}: {f.get('message')}"
        if card.get("executed"):
            line += f" — see {card['executed']}"
    if card.get("note"):
        line += f" [{card['note']}]"
    return line


def _check_card(card: Any, what: str) -> None:
    as_mapping(card, what, "a compute card (a dict with 'lesson', 'status' and 'wall_s')")
    missing = [k for k in ("lesson", "status") if k not in card]
    if missing:
        raise BadInput(f"{what}: expected a compute card with 'lesson', 'status' and 'wall_s', got a dict without "
                       f"{', '.join(map(repr, missing))}")


def bands_text(report: dict[str, Any], limit: int | None = None) -> str:
    """A card's band report in words: ``figures in their [smoke] bands (23 checked, 3 recorded, not banded)``,
    ``2 figure(s) outside their [gpu] bands: key = value, outside band [low, high]; …``,
    ``no bands for cpu (…)`` or ``band file error: …``."""
    as_mapping(report, "bands_text: report", "a card's band report (a dict with 'status' and 'profile')")
    if limit is not None:
        as_count(limit, "bands_text: limit", minimum=0)
    profile, status = report.get("profile"), report.get("status")
    if status == "met":
        recorded = len(report.get("recorded") or [])
        return f"figures in their [{profile}] bands ({report.get('met', 0)} checked" + \
            (f", {recorded} recorded, not banded)" if recorded else ")")
    if status == "missed":
        misses = report.get("misses") or []
        shown = misses if limit is None else misses[:limit]
        text = "; ".join(m.get("text") or m.get("key", "?") for m in shown)
        more = f"; … {len(misses) - len(shown)} more" if len(shown) < len(misses) else ""
        return f"{len(misses)} figure(s) outside their [{profile}] bands: {text}{more}"
    if status == "no bands":
        return f"no bands for {profile}" + (f" ({report['error']})" if report.get("error") else "")
    return f"band file error: {report.get('error')}"


def band_problems(cards: Sequence[dict[str, Any]]) -> list[str]:
    """One line per band miss or broken band file in ``cards``, naming lesson, key, value and band."""
    cards = _check_cards(cards, "band_problems")
    lines = []
    for c in cards:
        report = c.get("bands") or {}
        where = f"{Path(report.get('file') or '').name} [{report.get('profile')}]"
        if report.get("status") == "missed":
            lines.extend(f"{c['lesson']}: {m.get('text') or m.get('key')} ({where})" for m in report.get("misses") or [])
        elif report.get("status") == "error":
            lines.append(f"{c['lesson']}: band file error: {report.get('error')}")
    return lines


def _bands_cell(card: dict[str, Any]) -> str:
    report = card.get("bands")
    if not report:
        return "–"
    if report.get("status") == "missed":
        return f"**{bands_text(report, limit=3)}**"
    if report.get("status") == "error":
        return f"**{_one_line(bands_text(report), 160)}**"
    return bands_text(report)


def _check_cards(cards: Any, what: str) -> list[dict[str, Any]]:
    cards = as_instances(cards, Mapping, what, "compute cards (dicts)")
    for card in cards:
        _check_card(card, what)
    return cards


def _existing_folder(out: Any, what: str) -> Path:
    out = as_path(out, what)
    if not out.is_dir():
        raise BadInput(f"{what}: expected the folder `genimg run` wrote into, got {out}, which "
                       f"{'is a file' if out.exists() else 'does not exist'}")
    return out


def collect_cards(out: Path) -> list[dict[str, Any]]:
    """Every lesson card in ``out`` (an existing folder), sorted by lesson."""
    out = _existing_folder(out, "collect_cards")
    cards = [_read_json(p) for p in sorted(out.glob(f"*{CARD}"))]
    return sorted((c for c in cards if c.get("lesson")), key=lambda c: c["lesson"])


def _status_cell(card: dict[str, Any]) -> str:
    if card["status"] == "ok":
        return "ok" + (" (ran twice after a cell timeout)" if card.get("retried") else "")
    f = card.get("failure") or {}
    where = f" at cell {f['cell']}" if f.get("cell") is not None else ""
    return f"**failed**{where}: {f.get('error')}: {_one_line(f.get('message'), 120)}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|")


def cards_table(cards: Sequence[dict[str, Any]]) -> str:
    """The compute cards as a Markdown table."""
    cards = _check_cards(cards, "cards_table")
    rows = ["| lesson | profile | status | bands | wall time | peak GPU allocated / reserved | peak RAM | device | torch | date |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cards:
        gpu = "–" if c.get("peak_gpu_allocated_gib") is None else \
            f"{_gib(c['peak_gpu_allocated_gib'])} / {_gib(c.get('peak_gpu_reserved_gib'))}"
        device = c.get("gpu") or c.get("device") or "–"
        rows.append("| " + " | ".join(_md(x) for x in (
            c["lesson"], c.get("profile"), _status_cell(c), _bands_cell(c), human_duration(c.get("wall_s") or 0), gpu,
            _gib(c.get("peak_ram_gib")), device, c.get("torch") or "–", (c.get("date") or "")[:16].replace("T", " "),
        )) + " |")
    return "\n".join(rows) + "\n"


def write_summary(out: Path) -> tuple[Path, Path]:
    """Write ``compute_cards.json`` and ``compute_cards.md`` from every card in ``out`` (an existing folder)."""
    out = _existing_folder(out, "write_summary")
    cards = collect_cards(out)
    md = (f"# Compute cards\n\nOne row per lesson executed into this folder by `genimg run` "
          f"(wall time of the whole notebook, its kernel's peaks; jobs x threads on each card; bands: the "
          f"lesson's figures against its band file's section for the profile).\n\n{cards_table(cards)}")
    problems = band_problems(cards)
    if problems:
        md += "\n## Figures outside their bands\n\n" + "".join(f"- {_md(p)}\n" for p in problems)
    write_text(out / "compute_cards.json", json.dumps(cards, indent=1) + "\n")
    write_text(out / "compute_cards.md", md)
    return out / "compute_cards.json", out / "compute_cards.md"


def run_lessons(notebooks: Sequence[Path], profile: str, out: Path, jobs: int, timeout: float = DEFAULT_TIMEOUT_S,
                echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Execute ``notebooks`` under ``profile`` into ``out`` (already prepared), ``jobs`` at a time;
    ``echo`` each lesson's progress line as it finishes. Returns the cards in the order they finished.
    Raises :class:`BadInput` (nothing run) for arguments :func:`main` would refuse."""
    notebooks = [as_path(nb, "run_lessons: notebook") for nb in as_list(notebooks, "run_lessons: notebooks")]
    if not notebooks:
        raise BadInput("run_lessons: expected at least one notebook, got an empty list")
    if profile not in PROFILE_NAMES:
        raise BadInput(f"run_lessons: expected a resolved profile, one of {', '.join(PROFILE_NAMES)}, got {profile!r}")
    jobs = as_count(jobs, "run_lessons: jobs")
    timeout = as_seconds(timeout, "run_lessons: timeout")
    as_callable(echo, "run_lessons: echo")
    out = _existing_folder(out, "run_lessons: out")
    check_notebooks(notebooks)
    check_out_dir(out, notebooks)
    threads = _threads_per_kernel(jobs)
    for nb in notebooks:  # nothing of an earlier run of these lessons may pass for this run's result
        _remove_stale(out, nb.stem)
    specs = [dict(notebook=str(nb), out=str(out), profile=profile, timeout=timeout, jobs=jobs, threads=threads)
             for nb in notebooks]
    workers, cards = _Workers(), []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(workers.run, spec) for spec in specs]
        for fut in as_completed(futures):
            card = fut.result()
            cards.append(card)
            echo(progress_line(len(cards), len(specs), card))
    except BaseException:
        workers.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return cards


def main(names: Sequence[str] = (), profile: str = "auto", out: str | os.PathLike | None = None,
         jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """``genimg run``: 0 when every lesson ran and met its bands, 1 when one failed, 2 on bad input (nothing
    run), 3 when every lesson ran but a figure missed its band or a band file is broken, 130 on an interrupt."""
    try:
        notebooks = resolve_notebooks(names)
        check_notebooks(notebooks)
        if jobs is not None:
            jobs = as_count(jobs, "--jobs")
        timeout = as_seconds(timeout, "--timeout")
        out = as_path(out, "--out") if out is not None else None
        profile = resolve_profile(profile)
        out = out if out is not None else default_out(profile)
        check_out_dir(out, notebooks)
        out = prepare_out_dir(out)
    except BadInput as e:
        print(f"genimg run: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    jobs = min(jobs or default_jobs(len(notebooks)), len(notebooks))
    print(f"genimg run: {len(notebooks)} lesson(s) under profile {profile}, {jobs} at a time "
          f"({_threads_per_kernel(jobs)} CPU thread(s) each), per-cell timeout {timeout:g} s, into {out}", flush=True)
    t0 = time.perf_counter()
    try:
        cards = run_lessons(notebooks, profile, out, jobs, timeout, echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("genimg run: interrupted; the lessons that had not finished are carded as failed (Interrupted)",
              file=sys.stderr)
        write_summary(out)
        return 130
    json_path, md_path = write_summary(out)
    cards = sorted(cards, key=lambda c: c["lesson"])
    failed = [c["lesson"] for c in cards if c["status"] != "ok"]
    reports = {c["lesson"]: c.get("bands") or {} for c in cards if c["status"] == "ok"}
    missed = [s for s, r in reports.items() if r.get("status") in ("missed", "error")]
    unbanded = [s for s, r in reports.items() if r.get("status") == "no bands"]
    print(f"\n{cards_table(cards)}")
    problems = band_problems(cards)
    if problems:
        print(f"Figures outside their [{profile}] bands:\n" + "".join(f"  {p}\n" for p in problems))
    print(f"genimg run: {len(cards) - len(failed)}/{len(cards)} lesson(s) ok in {human_duration(time.perf_counter() - t0)}"
          + (f"; failed: {', '.join(failed)}" if failed else "")
          + (f"; outside their [{profile}] bands: {', '.join(missed)}" if missed else "")
          + (f"; no bands for {profile}: {', '.join(unbanded)}" if unbanded else "")
          + f". Executed copies, figures and cards in {out} (summary: {md_path.name}, {json_path.name})")
    return EXIT_FAILED if failed else EXIT_BANDS if missed else EXIT_OK
