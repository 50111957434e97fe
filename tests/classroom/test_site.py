"""`genimg site` (genimg_course.classroom.site): a static HTML build of executed lessons that works offline.

A tiny lesson with an ipywidgets slider and a formula is executed once with papermill (as
`genimg run` does); the other notebooks are variants of it. The browser test opens the built page
from file:// in headless Chromium, fails on any request that is not a local file and keeps a
screenshot of the rendered slider in $GENIMG_ARTIFACTS (default tests/artifacts/).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from genimg_course.classroom import site
from genimg_course.classroom.site import card_summary, find_lessons, site_main

CHROMIUM = Path("/usr/bin/chromium")
# where the browser test keeps its screenshot, as tests/test_browser.py does
ARTIFACTS = Path(os.environ.get("GENIMG_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Path:
    """``<tmp>/executed/smoke/01_tiny.ipynb``, run by papermill, with its compute card beside it."""
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('PROFILE = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lesson 01 — A tiny lesson\n\nThe loss is $L(x) = x^2$."),
        params,
        nbformat.v4.new_code_cell('import ipywidgets as W\nW.IntSlider(value=3, min=0, max=10, description="steps")'),
        nbformat.v4.new_code_cell("print('profile', PROFILE)"),
    ]
    root = tmp_path_factory.mktemp("course")
    source = root / "01_tiny.ipynb"
    nbformat.write(nb, source)
    out = root / "executed" / "smoke" / "01_tiny.ipynb"
    out.parent.mkdir(parents=True)
    pm.execute_notebook(str(source), str(out), parameters={"PROFILE": "smoke"}, kernel_name="python3",
                        progress_bar=False, cwd=str(root), execution_timeout=120)
    (out.parent / "01_tiny.card.json").write_text(json.dumps(
        {"lesson": "01_tiny", "profile": "smoke", "device": "cpu", "wall_s": 12.34, "peak_ram_gib": 1.5,
         "peak_gpu_allocated_gib": None}))
    return out


@pytest.fixture(scope="module")
def built(executed: Path, tmp_path_factory) -> Path:
    """The site built from the executed folder."""
    out = tmp_path_factory.mktemp("site")
    assert site_main(["-q", str(executed.parent.parent), "--out", str(out)]) == 0
    return out


def _copy(executed: Path, folder: Path, stem: str, edit=None) -> Path:
    nb = nbformat.read(executed, as_version=4)
    if edit:
        edit(nb)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


# ---- what papermill stores ---------------------------------------------------------------

def test_papermill_stores_the_widget_state_in_the_executed_notebook(executed):
    nb = nbformat.read(executed, as_version=4)
    models = nb.metadata["widgets"][WIDGET_STATE]["state"].values()
    assert any(m["model_name"] == "IntSliderModel" and m["state"]["value"] == 3 for m in models)


# ---- the built pages ---------------------------------------------------------------------

def test_one_page_per_lesson_an_index_and_the_assets(built):
    assert sorted(p.name for p in built.glob("*.html")) == ["01_tiny.html", "index.html"]
    for name, (_, digest) in site.VENDORED.items():
        assert hashlib.sha256((built / "assets" / name).read_bytes()).hexdigest() == digest
    assert (built / "assets" / "licences" / "mathjax-LICENSE.txt").exists()


def test_the_page_loads_its_scripts_locally_and_nothing_from_a_cdn(built):
    page = (built / "01_tiny.html").read_text()
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    assert scripts == ["assets/embed.js", "assets/mathjax/tex-svg.js"]
    for word in ("cdn", "unpkg", "jsdelivr", "require.min.js", "embed-amd"):
        assert word not in page.lower(), f"the page mentions {word!r}"
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page loads something from the network"


def test_the_page_embeds_the_widget_state_and_views(built):
    page = (built / "01_tiny.html").read_text()
    assert f'<script type="{WIDGET_STATE}">' in page
    state = json.loads(re.search(rf'<script type="{re.escape(WIDGET_STATE)}">(.*?)</script>', page, re.S).group(1))
    assert any(m["model_name"] == "IntSliderModel" for m in state["state"].values())
    assert 'type="application/vnd.jupyter.widget-view+json"' in page


def test_the_page_has_the_title_navigation_and_compute_card(built):
    page = (built / "01_tiny.html").read_text()
    assert "<title>Lesson 01 — A tiny lesson</title>" in page
    assert '<a href="index.html">← all lessons</a>' in page
    assert "wall time 12 s" in page and "peak RAM 1.50 GiB" in page and "peak GPU —" in page


def test_the_index_lists_each_lesson_with_its_compute_card(built):
    index = (built / "index.html").read_text()
    assert '<a href="01_tiny.html">Lesson 01 — A tiny lesson</a>' in index
    row = re.search(r"<tr><td><a href=\"01_tiny.html\">.*?</tr>", index, re.S).group(0)
    for shown in ("smoke", "cpu", "12 s", "1.50 GiB", "—", "ran to the end"):
        assert shown in row
    assert "<script" not in index and "http" not in index


def test_markdown_maths_is_left_for_mathjax(built):
    assert "$L(x) = x^2$" in (built / "01_tiny.html").read_text()


# ---- choosing the executed copies ----------------------------------------------------------

def test_the_gpu_copy_of_a_lesson_is_preferred_to_cpu_and_smoke(executed, tmp_path):
    for profile in ("smoke", "gpu", "cpu"):
        _copy(executed, tmp_path / profile, "01_tiny",
              lambda nb: nb.metadata.papermill.parameters.update(PROFILE=profile))
    (lesson,) = find_lessons([tmp_path], log=lambda s: None)
    assert lesson.path == tmp_path / "gpu" / "01_tiny.ipynb" and lesson.profile == "gpu"


def test_lessons_come_sorted_from_files_and_folders(executed, tmp_path):
    b = _copy(executed, tmp_path / "x", "02_b")
    _copy(executed, tmp_path / "y", "00_a")
    lessons = find_lessons([b, tmp_path / "y"], log=lambda s: None)
    assert [les.stem for les in lessons] == ["00_a", "02_b"]


def _raise_in_last_cell(nb):
    nb.cells[-1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                   traceback=["ZeroDivisionError: division by zero"])]


def test_a_run_that_failed_is_built_and_marked_with_its_cell(executed, tmp_path, capsys):
    _copy(executed, tmp_path / "in", "03_broken", _raise_in_last_cell)
    assert site_main([str(tmp_path / "in"), "--out", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    # counted as `genimg run` counts: from 0, papermill's injected-parameters cell skipped
    assert "failed at cell 3 (In [4]): ZeroDivisionError: division by zero" in index
    assert "this run failed at cell 3 (In [4])" in (tmp_path / "site" / "03_broken.html").read_text()
    assert "03_broken" in capsys.readouterr().out


def test_a_failed_copy_from_genimg_run_keeps_its_lesson_name_and_card(executed, tmp_path):
    path = _copy(executed, tmp_path / "gpu", "04_x.FAILED", lambda nb: nb.cells[-1].update(outputs=[]))
    path.with_name("04_x.card.json").write_text(json.dumps({
        "lesson": "04_x", "profile": "gpu", "status": "failed", "wall_s": 600.0,
        "failure": {"cell": 7, "execution_count": 9, "error": "DeadKernelError", "message": "the kernel died"}}))
    (lesson,) = find_lessons([tmp_path], log=lambda s: None)
    assert lesson.stem == "04_x" and lesson.page == "04_x.html"
    assert lesson.failed == "cell 7 (In [9]): DeadKernelError: the kernel died"
    assert card_summary(lesson.card)["wall"] == "10 min 00 s"


def test_a_copy_that_ran_to_the_end_is_preferred_to_a_failed_one(executed, tmp_path):
    _copy(executed, tmp_path / "gpu", "01_tiny.FAILED", _raise_in_last_cell)
    _copy(executed, tmp_path / "cpu", "01_tiny")
    (lesson,) = find_lessons([tmp_path], log=lambda s: None)
    assert lesson.path == tmp_path / "cpu" / "01_tiny.ipynb" and not lesson.failed


def test_an_unreadable_notebook_is_reported_and_the_others_are_built(executed, tmp_path, capsys):
    _copy(executed, tmp_path / "in", "01_good")
    (tmp_path / "in" / "02_bad.ipynb").write_text("{ not json")
    assert site_main([str(tmp_path / "in"), "--out", str(tmp_path / "site")]) == 0
    assert "02_bad.ipynb: not a readable notebook" in capsys.readouterr().out
    assert [p.name for p in sorted((tmp_path / "site").glob("*.html"))] == ["01_good.html", "index.html"]


def test_a_page_that_cannot_be_rendered_gives_exit_1_and_no_half_written_page(executed, tmp_path, monkeypatch, capsys):
    _copy(executed, tmp_path / "in", "01_tiny")

    def broken(*args, **kwargs):
        raise ValueError("template exploded")

    monkeypatch.setattr(site, "render_lesson", broken)
    assert site_main([str(tmp_path / "in"), "--out", str(tmp_path / "site")]) == 1
    assert "01_tiny" in capsys.readouterr().err
    assert not (tmp_path / "site" / "01_tiny.html").exists()
    assert not list((tmp_path / "site").glob(".*.tmp"))


# ---- bad input -----------------------------------------------------------------------------

def test_a_missing_source_is_a_clear_error_with_exit_code_2(tmp_path, capsys):
    assert site_main([str(tmp_path / "nope"), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert "nope does not exist" in err and "genimg run" in err


def test_a_folder_without_notebooks_is_a_clear_error_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert site_main([str(tmp_path / "empty"), "--out", str(tmp_path / "site")]) == 2
    assert "no executed notebooks found" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_a_source_that_is_not_a_notebook_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert site_main([str(tmp_path / "notes.txt"), "--out", str(tmp_path / "site")]) == 2
    assert "is not a notebook" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_a_clear_error_with_exit_code_2(executed, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert site_main([str(executed), "--out", str(blocker / "site")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the site to" in err and "--out" in err


def test_a_damaged_vendored_script_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(site.VENDORED, "embed.js", (site.VENDORED["embed.js"][0], "0" * 64))
    with pytest.raises(site.SiteError, match="expected 0000"):
        site.install_assets(tmp_path)
    assert not (tmp_path / "assets" / "embed.js").exists()


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as e:
        site_main(["--help"])
    assert e.value.code == 0
    assert "offline" in capsys.readouterr().out


# ---- compute cards ---------------------------------------------------------------------------

def test_a_card_shows_wall_time_memory_device_and_profile():
    shown = card_summary({"wall_s": 125.2, "peak_gpu_allocated_gib": 3.456, "peak_gpu_reserved_gib": 4.0,
                          "peak_ram_gib": 2.0, "device": "cuda:0 (NVIDIA H100)", "profile": "gpu"})
    assert shown == {"wall": "2 min 05 s", "gpu": "3.46 GiB", "ram": "2.00 GiB", "device": "cuda:0 (NVIDIA H100)",
                     "profile": "gpu"}


def test_a_card_tolerates_missing_nested_and_odd_fields():
    assert card_summary({}) == dict.fromkeys(("wall", "gpu", "ram", "device", "profile"), "—")
    shown = card_summary({"peak": {"ram_mib": 512}, "elapsed_s": 3.25, "device": 7, "wall_s": "slow"})
    assert shown["ram"] == "0.50 GiB" and shown["wall"] == "3.2 s" and shown["device"] == "—"
    assert card_summary({"peak_gpu_bytes": 2**31})["gpu"] == "2.00 GiB"


def test_a_card_from_genimg_run_shows_the_gpu_name_and_the_lesson_peak_ram_first():
    shown = card_summary({"device": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "peak_ram_gib": 1.0,
                          "kernel_peak_ram_gib": 3.0, "peak_gpu_allocated_gib": None, "peak_gpu_reserved_gib": 2.0})
    assert shown["device"] == "cuda (NVIDIA H100 80GB HBM3)"
    assert shown["ram"] == "1.00 GiB" and shown["gpu"] == "2.00 GiB"
    assert card_summary({"peak_ram_gib": None, "kernel_peak_ram_gib": 3.0})["ram"] == "3.00 GiB"


def test_the_profile_comes_from_the_folder_when_the_run_said_auto(executed, tmp_path):
    _copy(executed, tmp_path / "gpu", "01_tiny", lambda nb: nb.metadata.papermill.parameters.update(PROFILE="auto"))
    (lesson,) = find_lessons([tmp_path], log=lambda s: None)
    assert lesson.profile == "gpu"


def test_without_a_card_the_lesson_figures_file_is_used(executed, tmp_path):
    path = _copy(executed, tmp_path / "cpu", "05_vae")
    path.with_name("05_vae.json").write_text(json.dumps({"elapsed_s": 61, "device": "cpu", "profile": "cpu"}))
    (lesson,) = find_lessons([tmp_path], log=lambda s: None)
    assert card_summary(lesson.card)["wall"] == "1 min 01 s" and lesson.profile == "cpu"


# ---- in a real browser -------------------------------------------------------------------------

def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    return sync_playwright


@pytest.mark.skipif(not CHROMIUM.exists() or _playwright() is None,
                    reason="needs /usr/bin/chromium (Debian's chromium) and the playwright package")
def test_in_chromium_the_widget_and_maths_render_from_file_urls_only(built, tmp_path):
    sync_playwright = _playwright()
    requests, errors = [], []
    (tmp_path / "home").mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), env={"HOME": str(tmp_path / "home")})
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((built / "01_tiny.html").as_uri())
            page.wait_for_selector(".widget-slider", timeout=20_000)
            page.wait_for_selector("mjx-container", timeout=20_000)
            slider_text = page.locator(".widget-slider").first.inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "site_offline_widget.png"
            page.locator(".widget-slider").first.screenshot(path=str(shot))
        finally:
            browser.close()
    assert "steps" in slider_text and "3" in slider_text
    remote = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert not remote, f"the page asked the network for {remote}"
    assert not errors, f"script errors on the page: {errors}"
    assert shot.stat().st_size > 500


def test_the_readme_links_each_lesson_s_page_in_the_site_genimg_site_builds(executed, tmp_path):
    """The README's lesson table links ``site/<lesson>.html`` for every lesson: the default folder ``genimg site``
    writes in a checkout, and the page it writes for that lesson."""
    root = Path(__file__).resolve().parents[2]
    links = re.findall(r"\[its page\]\(([^)\s]+)\)", (root / "README.md").read_text(encoding="utf-8"))
    stems = sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert sorted(Path(link).stem for link in links) == stems, "the README must link every lesson's page, once"
    assert site.default_out() == root / site.DEFAULT_OUT, "in a checkout the site is built where the README links"
    for stem in stems:
        _copy(executed, tmp_path / "in", stem)
    assert site_main(["-q", str(tmp_path / "in"), "--out", str(tmp_path / "built")]) == 0
    for link in links:
        page = tmp_path / "built" / Path(link).relative_to(site.DEFAULT_OUT)
        assert page.is_file(), f"the README links {link}, but genimg site wrote no {page.name}"
        assert "<html" in page.read_text(encoding="utf-8").lower()


def test_page_name_names_what_it_expected():
    from genimg_course.classroom.lessons import BadType

    assert site.page_name("05_vae") == "05_vae.html"
    for bad in (5, None, "", "  "):
        with pytest.raises(BadType, match="expected a lesson's name such as '05_vae'"):
            site.page_name(bad)
