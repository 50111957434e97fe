"""Files that are never half-written, and their hashes: standard library only (no torch), so the
classroom tools and the data cache can use them without loading PyTorch.

* :func:`atomic_write` writes through a temporary file in the same folder, flushed and renamed over
  the target: readers see the old file or the new one, never half of one.
* :func:`write_text` is that, for UTF-8 text.
* :func:`sha256_file` hashes a file in 1 MiB chunks.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_write", "write_text", "sha256_file"]


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write ``path`` through a temporary file in the same folder, flushed and renamed over the
    target: readers see the old file or the new one, never half of one. The new file gets the
    usual permissions (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` through :func:`atomic_write`."""
    if not isinstance(text, str):
        raise TypeError(f"write_text writes a str, got {type(text).__name__}")
    with atomic_write(path, "wb") as f:
        f.write(text.encode("utf-8"))
