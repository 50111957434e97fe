#!/usr/bin/env python3
"""The README's gallery: one picture per lesson, cut from executed notebooks, never drawn by hand.

Each lesson's key result (samples, a before/after row, a curve) is a figure one of its cells already draws. This
script finds that cell in an executed copy (``genimg run --profile P --out DIR`` writes them; figures are
embedded only when matplotlib's inline backend is on, so do not set ``MPLBACKEND=Agg`` for that run), takes its
image, shrinks it to at most ``--width`` pixels wide and writes ``docs/img/<lesson>.png``; ``docs/img/gallery.json``
records, per image, the cell it came from, the run's profile, device and date (from the lesson's compute card), the
commit of the code, and the PNG's SHA-256. Then it rewrites the README's gallery block (between the two
``gallery`` markers) from that JSON, so the README says which profile and device made each picture::

    GENIMG_OFFLINE=1 genimg run --profile cpu --out /tmp/gallery     # every lesson, figures embedded
    python tools/make_gallery.py /tmp/gallery                        # docs/img/*.png, gallery.json, README

A lesson whose executed copy is missing keeps its previous picture and record; one whose cell is not found, or
draws no image, is an error naming the lesson and what was looked for. tests/test_gallery.py checks the result.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMG_DIR = ROOT / "docs" / "img"
RECORD = IMG_DIR / "gallery.json"
README = ROOT / "README.md"
START, END = "<!-- gallery:start (tools/make_gallery.py writes this block) -->", "<!-- gallery:end -->"

# lesson -> (text the drawing cell's source contains, which of its images: 0 the first, -1 the last, a caption)
GALLERY: dict[str, tuple[str, int, str]] = {
    "00_setup": ('photos = load_photos(("astronaut"', 0, "the offline data: scikit-image's photos and faces"),
    "01_cnn_basics": ("fig, axes = plt.subplots(1, len(KERNELS)", 0, "classic filters as convolutions on a photo"),
    "02_gan_basics": ("fig, axes = plt.subplots(1, 3, figsize=(12, 2.8))", 0, "a GAN trained live on a ring of 8 Gaussians: losses, D's verdicts, modes covered"),
    "03_dcgan": ('G_shipped = load_pretrained("dcgan_mnist"', 0, "DCGAN samples: trained here vs the shipped generator"),
    "04_stable_gans": ("fig, axes = plt.subplots(1, 3, figsize=(13, 3))", 0, "non-saturating GAN, WGAN-GP and SN-GAN: their losses under one budget"),
    "04b_conditional_gan": ('G_ship = load_pretrained("cgan_mnist"', 0, "the conditional GAN: one row per asked digit"),
    "05_vae": ("fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))", 0, "the VAE's 2-D latent space: codes, the decoded manifold, samples"),
    "06_restoration": ("fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))", 0, "restorers beside the best classical baselines"),
    "07_translation": ('shipped_p2p = {name: load_translator(', 0, "pix2pix: edges to digits, L1 vs L1 + cGAN"),
    "08_style_transfer": ("step_fn = pixel_step if step_answer else style.pixel_step", -1, "style transfer on a photo, offline: Adam and L-BFGS on the pixels"),
    "09_fusion": ("n_rec = min(profile.pick(", 0, "the VAE-GAN beside its twin VAE: prior samples and reconstructions"),
    "10_diffusion": ("flow_rows = {}", -1, "FID against network evaluations per sample: DDPM / DDIM and flow matching"),
    "11_future": ("board = scoreboard.collect()  # the shipped", -1, "every model of the course: quality against training time"),
    "90_appendix_multigpu": ("diff = max(float((single", -1, "one process vs two DDP processes: the same training"),
}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def find_image(nb: dict[str, Any], stem: str) -> tuple[int, bytes]:
    """(cell index, PNG bytes) of ``stem``'s gallery image in the executed notebook ``nb``."""
    phrase, which, _ = GALLERY[stem]
    cells = [i for i, c in enumerate(nb.get("cells", []))
             if c.get("cell_type") == "code" and phrase in "".join(c.get("source", ""))]
    if len(cells) != 1:
        raise ValueError(f"{stem}: expected one code cell containing {phrase!r}, found {len(cells)}: "
                         "update GALLERY in tools/make_gallery.py")
    i = cells[0]
    images = [o["data"]["image/png"] for o in nb["cells"][i].get("outputs", [])
              if isinstance(o.get("data"), dict) and "image/png" in o["data"]]
    if not images:
        raise ValueError(f"{stem}: cell {i} ({phrase!r}) has no image output: run the lesson with the inline "
                         "backend (without MPLBACKEND=Agg) and all cells executed")
    data = images[which]
    return i, base64.b64decode("".join(data) if isinstance(data, list) else data)


def shrink(png: bytes, width: int) -> bytes:
    """The PNG at most ``width`` pixels wide (aspect kept), as an optimised 8-bit palette PNG."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    out = io.BytesIO()
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


def site_page(stem: str) -> str:
    """The README's link to ``stem``'s page in the built site: ``genimg site`` writes it under the checkout's
    ``site/`` folder (genimg_course.classroom.site.default_out), named by site.page_name."""
    sys.path.insert(0, str(ROOT))
    from genimg_course.classroom import site

    return f"{site.DEFAULT_OUT.as_posix()}/{site.page_name(stem)}"


def readme_block(record: dict[str, Any]) -> str:
    """The README's gallery block for ``record`` (gallery.json): a table of pictures with what made each, each lesson
    linked to its notebook and its page in the built site, each picture to its full file."""
    lines = [START, "", "| lesson | its key result | made by |", "|---|---|---|"]
    for stem in GALLERY:
        r = record.get(stem)
        if r is None:
            lines.append(f"| `{stem}` | not yet made: run the lesson and `tools/make_gallery.py` | – |")
            continue
        lines.append(f"| [`{stem}`](notebooks/{stem}.ipynb)<br>[its page]({site_page(stem)}) | "
                     f"<a href=\"docs/img/{r['file']}\"><img src=\"docs/img/{r['file']}\" width=\"360\" "
                     f"alt=\"{r['caption']}\"></a><br>{r['caption']} | {r['profile']} profile on {r['device']}, "
                     f"{r['date']}, commit {r['commit'][:7]} |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, help="folders of executed lessons (genimg run --out DIR)")
    ap.add_argument("--width", type=int, default=720, help="largest width of a picture in pixels (default 720)")
    args = ap.parse_args(argv)
    for f in args.folders:
        if not f.is_dir():
            ap.error(f"{f} is not a folder of executed lessons (genimg run --out DIR writes one)")
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    commit, made = _commit(), []
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    for stem in GALLERY:
        copies = [f / f"{stem}.ipynb" for f in args.folders if (f / f"{stem}.ipynb").exists()]
        if not copies:
            continue
        nb = json.loads(copies[-1].read_text(encoding="utf-8"))
        cell, png = find_image(nb, stem)
        small = shrink(png, args.width)
        card_path = copies[-1].with_suffix(".card.json")
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        figs_path = copies[-1].with_suffix(".json")
        figs = json.loads(figs_path.read_text()) if figs_path.exists() else {}
        (IMG_DIR / f"{stem}.png").write_bytes(small)
        record[stem] = {"file": f"{stem}.png", "caption": GALLERY[stem][2], "cell": cell,
                        "profile": card.get("profile") or figs.get("profile", "?"),
                        "device": card.get("device") or figs.get("device", "?"),
                        "date": str(figs.get("started") or card.get("date") or dt.date.today())[:10],
                        "commit": commit, "bytes": len(small), "sha256": hashlib.sha256(small).hexdigest()}
        made.append(f"{stem} ({len(small) / 1024:.0f} KB)")
    RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1, ensure_ascii=False) + "\n")
    text = README.read_text(encoding="utf-8")
    block = readme_block(record)
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        raise SystemExit(f"README.md has no gallery block: add a line {START!r} and a line {END!r} where it goes")
    README.write_text(text, encoding="utf-8")
    print(f"made {len(made)} picture(s): {', '.join(made) or 'none'}; docs/img/gallery.json and README.md updated")
    missing = [s for s in GALLERY if s not in record]
    if missing:
        print(f"no picture yet for {', '.join(missing)}: run them and this script again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
