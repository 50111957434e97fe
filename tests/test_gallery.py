"""The README's gallery: a picture per lesson, each made by tools/make_gallery.py from an executed lesson of the
current code, small, and described in the README by what made it."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def _tool():
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "tools" / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GALLERY = _tool()
RECORD = json.loads(GALLERY.RECORD.read_text()) if GALLERY.RECORD.exists() else {}


def test_every_lesson_has_a_gallery_entry_and_a_picture():
    assert sorted(GALLERY.GALLERY) == LESSONS, "tools/make_gallery.py's GALLERY must name every lesson, and only those"
    missing = [s for s in LESSONS if s not in RECORD]
    assert not missing, f"no gallery picture for {missing}: run them (genimg run --out DIR) and tools/make_gallery.py DIR"


@pytest.mark.parametrize("stem", LESSONS)
def test_each_picture_is_small_and_the_one_recorded(stem):
    r = RECORD.get(stem)
    if r is None:
        pytest.fail(f"{stem}: no record in docs/img/gallery.json")
    png = (GALLERY.IMG_DIR / r["file"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) < 250_000, f"{r['file']} is {len(png):,} bytes; shrink it (--width)"
    assert hashlib.sha256(png).hexdigest() == r["sha256"], f"{r['file']} is not the picture the tool recorded"
    for key in ("profile", "device", "date", "commit", "caption", "cell"):
        assert r.get(key) not in (None, "", "?"), f"{stem}: its record lacks {key!r}"


def test_the_readme_block_is_the_tool_s():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert GALLERY.START in text and GALLERY.END in text
    block = text[text.index(GALLERY.START):text.index(GALLERY.END) + len(GALLERY.END)]
    assert block == GALLERY.readme_block(RECORD), "README's gallery block differs: run tools/make_gallery.py"


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _code(source: str) -> list[str]:
    nb = nbformat.reads(source, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "bootstrap" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("stem", LESSONS)
def test_each_picture_comes_from_the_current_code(stem):
    r = RECORD.get(stem)
    if r is None:
        pytest.fail(f"{stem}: no record in docs/img/gallery.json")
    if _git("rev-parse", "HEAD") is None or _git("cat-file", "-e", f"{r['commit']}^{{commit}}") is None:
        pytest.skip("no git history here to compare the picture's commit with")
    then = _git("show", f"{r['commit']}:notebooks/{stem}.ipynb")
    assert then is not None, f"{stem}: notebooks/{stem}.ipynb is not in the picture's commit {r['commit'][:10]}"
    now = (ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8")
    assert _code(then) == _code(now), (f"{stem}'s code changed since its picture was made (commit {r['commit'][:10]}): "
                                       "run it again and tools/make_gallery.py")


def _png(width: int) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, width // 2), (200, 30, 30)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_the_tool_finds_the_cell_shrinks_it_and_names_what_is_missing():
    phrase = GALLERY.GALLERY["03_dcgan"][0]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(phrase),
                                         nbformat.v4.new_code_cell(phrase + "\nshow()")])
    with pytest.raises(ValueError, match="no image output"):
        GALLERY.find_image(nb, "03_dcgan")
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png(1600)})]
    cell, png = GALLERY.find_image(nb, "03_dcgan")
    assert cell == 1
    from PIL import Image

    small = Image.open(io.BytesIO(GALLERY.shrink(png, 720)))
    assert small.size == (720, 360)
    nb.cells.append(nbformat.v4.new_code_cell(phrase))
    with pytest.raises(ValueError, match="expected one code cell"):
        GALLERY.find_image(nb, "03_dcgan")
