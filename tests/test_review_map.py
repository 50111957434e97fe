"""Every finding of the review of lessons 00-05 (../shared/reviews/lessons-00-05.md, section 1) and
every erratum of the source article (../shared/seed/ERRATA.md) mapped to the cell that answers it.

Each entry names a lesson (or a docs page) and a phrase that must occur in exactly one of its
cells; the test reports that cell. FORBIDDEN lists the wrong or stale sentences that were removed
and must not come back. H3 and M4 belong to the measurement work (tests/test_metrics.py,
tests/classroom/test_bands.py), H1 to the new lessons (06 on); they are mapped where a lesson
already answers them.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from genimg_course.classroom.solutions import BEGIN_SOLUTION, END_SOLUTION, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ("00_setup", "01_cnn_basics", "02_gan_basics", "03_dcgan", "04_stable_gans", "04b_conditional_gan", "05_vae",
           "06_restoration", "07_translation", "08_style_transfer", "09_fusion", "10_diffusion", "11_future")

# finding or erratum -> [(lesson stem or a path under the checkout, phrase)]
ANSWERS: dict[str, list[tuple[str, str]]] = {
    "H1": [("00_setup", "the other half of its subject, starts with lesson 06")],
    "H2": [("01_cnn_basics", "lesson 03 hands you the source article's"),
           ("02_gan_basics", "Compare with the package's version: the first and last line of each generator loss in"),
           ("03_dcgan", "What your `G` must satisfy:"),
           ("04_stable_gans", "**Compare with the package's version.** Each line of `genimg_course/gan.py`'s `gradient_penalty`"),
           ("05_vae", "**Compare with the package's version.** These are the lines `VAETask`")],
    "M1": [("02_gan_basics", "pytorch/examples' DCGAN re-scores the same fakes with the"),
           ("02_gan_basics", "Chintala's dcgan.torch reuses the"),
           ("genimg_course/gan.py", "Chintala's dcgan.torch reuses the scores D gave those"),
           ("docs/benchmarks.md", "Chintala's dcgan.torch reuses the scores D gave those fakes before")],
    "M2": [("02_gan_basics", "chosen for its simple density (an untrained generator makes something else")],
    "M3": [("01_cnn_basics", "judge punishes blur hard, because its features respond to sharp stroke edges")],
    "M4": [("04_stable_gans", "under 4 min on one NVIDIA H200 (offline 4,000 digits")],
    "M5": [("04_stable_gans", "Leave out $g$ and the rule gets $c = 0.1$ wrong")],
    "M6": [("docs/article.md", "wrong co-author (Kingma & Ba wrote *Adam*, ICLR 2015)"),
           ("05_vae", 'lists "Auto-Encoding Variational Bayes" under *Kingma & Ba*')],
    "M7": [("docs/article.md", "It does not: the premise is false."),
           ("05_vae", "The premise is false: only a GAN has one.")],
    "M8": [("01_cnn_basics", "the check refuses an answer that calls"),
           ("02_gan_basics", "### Exercise 4 — count the modes yourself"),
           ("03_dcgan", "where stamps overlap (lesson 01's checkerboards) — that is, on inputs larger than 1 × 1")],
    "M9": [("02_gan_basics", "## 2. The optimal discriminator (≈ 10 min)"),
           ("03_dcgan", "it is shown, never run)</summary>"),
           ("04_stable_gans", "is lesson **04b** (`04b_conditional_gan.ipynb`): it needs only lessons 02")],
    "M10": [("00_setup", "| **04b** | `04b_conditional_gan` | conditional GANs: choose the digit |"),
            ("04_stable_gans", "under 4 min on one NVIDIA H200 (offline 4,000 digits")],
    "L1": [("02_gan_basics", "With balanced learning rates the runs cover")],
    "L2": [("05_vae", "Two neighbouring ideas have names of their own, and neither is exactly this")],
    "L3": [("02_gan_basics", "simultaneous or alternating, as here"),
           ("04_stable_gans", "simultaneous or alternating gradient steps in a two-player game")],
    "L4": [("05_vae", 'source = "auto" if profile.online_data else "offline"')],
    "L5": [("03_dcgan", "an absurd learning rate, 1e5, for *both* networks (`lr_g` and `lr_d`)")],
    "L6": [("04_stable_gans", "uses setting C of the six (A–F) in Miyato et al.'s Table 1")],
    "L7": [("05_vae", "static binarisation* (Larochelle & Murray, AISTATS 2011")],
    "L8": [("01_cnn_basics", "`AdaptiveAvgPool2d(4)` averages the 7×7 maps down to 4×4")],
    "L9": [("03_dcgan", "**One split for every floor.**")],
    "L10": [("01_cnn_basics", "the floor from the other $n$ test digits of that split")],
    # the source article's errata
    "E1": [("03_dcgan", "| 1 | `Flatten()` in the discriminator |")],
    "E2": [("03_dcgan", "| 2 | three stride-2 `Conv2DTranspose` from 4 × 4 |")],
    "E3": [("03_dcgan", "| 3 | `load_img(input_shape, ...)` |")],
    "E4": [("03_dcgan", "| 4 | `img_to_tensor` |")],
    "E5": [("03_dcgan", "| 5 | last layer `Conv2D(3, ...)`, no activation; raw pixels |")],
    "E6": [("03_dcgan", "| 6 | `batch_size = 1` with BatchNorm |")],
    "E7": [("03_dcgan", '| 7 | each "epoch" is one step on one image |')],
    "E8": [("03_dcgan", '| 8 | prints "Epoch" for steps; nothing saved or shown |')],
    "E9": [("05_vae", "**Correction (source article, erratum 9).**")],
    "E10": [("00_setup", "That is wrong (erratum 10 of the article)."),
            ("01_cnn_basics", "That is wrong (erratum 10; the article's other errors")],
    "E11": [("02_gan_basics", "> **Correction (source article, erratum 11).** The article says GANs")],
    "E12": [("02_gan_basics", "> **Correction (source article, erratum 12).** The article says the discriminator")],
    "E13": [("docs/article.md", "| 13 | wrong authors and venues in the reference list; the invented venue |")],
    "E14": [("docs/article.md", "works that do not exist as cited ([4], [7]/[15], [9], [13]); the list repeated four times")],
    # the issue's own bullets
    "X-gan-step": [("02_gan_basics", "### Exercise 3 — the training step `gan_step`")],
    "X-vae-step": [("05_vae", "def vae_step(model, opt, x):")],
    "X-fid-from-features": [("03_dcgan", "### Exercise 5 — FID from features")],
    "X-cgan-conditioning": [("04b_conditional_gan", "def condition_discriminator_input(x, y, num_classes):")],
    "X-beta1-script": [("04_stable_gans", "`benchmarks/adam_beta1.py` trains SN + hinge on this toy for a fixed 1,500 G steps")],
    "X-gp-weight-script": [("04_stable_gans", "`benchmarks/adam_beta1.py --recipes wgan_gp")],
    "X-toy-claims-script": [("02_gan_basics", "from `benchmarks/gan_toy_claims.py`, which trains each setting over several seeds")],
}

FORBIDDEN: dict[str, list[str]] = {
    "00_setup": ["GANs (first on a 2-D toy, then on digits); DCGAN"],
    "01_cnn_basics": ["4·2·2·2 = 32×32, while its discriminator", "(a modest increase)",
                      "the course's run reached 0.980 on the 1,000 held-out digits"],
    "02_gan_basics": ["roughly what an untrained generator produces",
                      "the DCGAN authors' code and pytorch/examples instead let the just-updated",
                      "With equal learning rates every seed covers", "Simultaneous gradient steps on a two-player game",
                      "reached a judge FID of 227 reusing the fakes", "in our runs", "| `F.softplus(-f).mean()` |",
                      "12 ms per training step with one thread and 150 ms with two"],
    "03_dcgan": ["REUSE_FAKES", "the course's issue", "measured while", "judge FID 227 vs 289",
                 "8,000 steps of batch 512 took 79 s"],
    "04_stable_gans": ["not yet timed", "measured while", "the settings its paper recommends",
                       "simultaneous gradient steps", r"roughly like $(c\sqrt{\text{width}})^{\text{depth}}$",
                       "after 1,500 steps in our run"],
    "04b_conditional_gan": ["in our runs", "measured while"],
    "06_restoration": ["in our runs", "measured while", "the issue", "not yet written", "planned"],
    "07_translation": ["in our runs", "measured while", "the issue", "not yet written", "planned"],
    "08_style_transfer": ["in our runs", "measured while", "the issue", "not yet written", "planned"],
    "10_diffusion": ["in our runs", "measured while", "the issue", "not yet written", "planned", "no checkpoint is shipped"],
    "09_fusion": ["in our runs", "measured while", "the issue", "not yet written", "planned", "earlier measurement"],
    "11_future": ["in our runs", "measured while", "the issue", "not yet written", "planned", "earlier measurement"],
    "05_vae": ["the setting in which", "86 under the course's protocol (3.1× the floor)",
               "77 for lesson 03's DCGAN trained for 79 s", "the β = 1 VAE scored 342", "a dimension at 0 has collapsed"],
}
FORBIDDEN_EVERYWHERE = ["the course's issue", "measured while `GANTask`", "REUSE_FAKES", "reuse_fakes=True"]


def _cells(where: str) -> list[str]:
    if where in LESSONS:
        return [c.source for c in nbformat.read(ROOT / "notebooks" / f"{where}.ipynb", as_version=4).cells]
    return [(ROOT / where).read_text(encoding="utf-8")]


CASES = [(fid, where, phrase) for fid, answers in ANSWERS.items() for where, phrase in answers]


@pytest.mark.parametrize("finding, where, phrase", CASES, ids=[f"{f}-{w.split('/')[-1]}" for f, w, _ in CASES])
def test_each_finding_is_answered_in_one_cell(finding, where, phrase):
    hits = [i for i, source in enumerate(_cells(where)) if phrase in source]
    assert len(hits) == 1, f"{finding}: {phrase!r} should be in exactly one cell of {where}, found in cells {hits}"


def test_every_finding_and_erratum_is_mapped():
    review = (ROOT.parent / "shared" / "reviews" / "lessons-00-05.md")
    expected = {f"E{i}" for i in range(1, 15)} | {"H2", "M1", "M2", "M3", "M5", "M6", "M7", "M8", "M9", "M10"} \
        | {f"L{i}" for i in range(1, 11)}
    if review.exists():  # the review's own list of ids, where the checkout sits beside it
        text = review.read_text(encoding="utf-8")
        expected |= set(re.findall(r"\*\*([HML]\d+)\.", text)) - {"H3", "M4"}
    assert expected <= set(ANSWERS), f"unmapped: {sorted(expected - set(ANSWERS))}"


@pytest.mark.parametrize("stem", LESSONS)
def test_removed_sentences_stay_removed(stem):
    cells = _cells(stem)
    for phrase in FORBIDDEN.get(stem, []) + FORBIDDEN_EVERYWHERE:
        hits = [i for i, s in enumerate(cells) if phrase in s]
        assert not hits, f"{stem}: {phrase!r} is back, in cells {hits}"


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN_SOLUTION in line:
            inside = True
        elif END_SOLUTION in line:
            inside = False
        elif inside and len(line.strip()) >= 25 and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def _shown_code(cell) -> str:
    """What a cell shows a student as code: a code cell's source without its solutions (an earlier
    exercise's answer is the learner's own), a markdown cell's fenced code blocks (an API named
    inline in the exercise's instructions is not its answer)."""
    if cell.cell_type == "code":
        return strip_solutions(cell.source)
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", cell.source, flags=re.S))


@pytest.mark.parametrize("stem", LESSONS)
def test_no_exercise_answer_is_shown_before_its_exercise(stem):
    cells = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells
    for i, cell in enumerate(cells):
        for line in _solution_lines(cell.source) if cell.cell_type == "code" else []:
            earlier = [j for j in range(i) if line in _shown_code(cells[j])]
            assert not earlier, f"{stem}: cell {i}'s answer line {line!r} is already shown in cell(s) {earlier}"


def _defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source.replace("%matplotlib inline", ""))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("stem", [s for s in LESSONS if s != "00_setup"])
def test_each_lesson_reuses_a_learner_solution_later(stem):
    """At least one exercise's code (a function or class the learner writes) drives a later cell
    beyond its own check."""
    cells = [c for c in nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells if c.cell_type == "code"]
    reused = set()
    for i, cell in enumerate(cells):
        if BEGIN_SOLUTION not in cell.source:
            continue
        for name in _defined_names(cell.source):
            for later in cells[i + 1:]:
                uses = [ln for ln in later.source.splitlines() if re.search(rf"\b{re.escape(name)}\b", ln)
                        and not re.match(r"\s*check_\w+\(", ln)]
                if uses:
                    reused.add(name)
    assert reused, f"{stem}: no exercise's function or class is used by a later cell"


@pytest.mark.parametrize("stem", [s for s in LESSONS if s != "00_setup"])
def test_each_lesson_predicts_compares_with_the_reference_and_links_the_article(stem):
    text = "\n".join(_cells(stem))
    assert "**Predict**" in text, f"{stem}: no 'predict, then run' prompt"
    assert "versus_reference(" in text, f"{stem}: no 'your run vs the reference run' table"
    assert "docs/article.md" in text, f"{stem}: no link to the article's corrected references and FAQ"
