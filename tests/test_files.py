"""files: atomic writes that never leave half a file, and file hashes (standard library only)."""
from __future__ import annotations

import hashlib
import os

import pytest

from genimg_course.files import atomic_write, sha256_file, write_text


def test_write_text_writes_utf8_and_replaces_the_old_file(tmp_path):
    path = tmp_path / "sub" / "card.md"
    write_text(path, "old")
    write_text(path, "Größe ✓")
    assert path.read_bytes() == "Größe ✓".encode("utf-8")
    assert os.listdir(path.parent) == ["card.md"]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.json"
    write_text(path, "good")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["f.json"]


def test_sha256_file_matches_hashlib_on_more_than_one_chunk(tmp_path):
    data = os.urandom(3 * 2**20 + 17)
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
