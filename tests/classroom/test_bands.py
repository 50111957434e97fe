"""The band files (notebooks/bands/<lesson>.toml) and their one checker, genimg_course.classroom.bands.

* the checker: a figure inside its band meets it; a missing key, a non-number, a value outside misses;
  a ``"recorded"`` key must be there but is not banded;
* a bad band file raises a clear error naming the file and the key;
* every shipped band file loads, has the three profiles, states the policy, and has no band that
  cannot fail (the review's finding H3): bounded quantities are not banded over their whole range, and
  keys that only echo the configuration are recorded, not banded.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from genimg_course.classroom import bands as B

ROOT = Path(__file__).resolve().parents[2]
BAND_FILES = sorted((ROOT / "notebooks" / "bands").glob("*.toml"))
LESSONS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))]


def write(tmp_path: Path, text: str, name: str = "91_x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = '''
[smoke]
acc = [0.4, 0.6]
steps = [1, 20]
exact = [4, 4]
echo = "recorded"

[cpu]
acc = [0.9, 1.0]
'''


# --------------------------------------------------------------------------------------------
# the checker
# --------------------------------------------------------------------------------------------

def test_load_bands_reads_one_profile_with_its_recorded_keys(tmp_path):
    bands = B.load_bands(write(tmp_path, GOOD), "smoke")
    assert bands.bands == {"acc": (0.4, 0.6), "steps": (1, 20), "exact": (4, 4)}
    assert bands.recorded == ("echo",) and bands.profile == "smoke"
    assert B.load_bands(write(tmp_path, GOOD), "gpu") is None  # no [gpu] section


def test_figures_inside_their_bands_meet_them():
    bands = B.Bands(Path("x.toml"), "smoke", {"acc": (0.4, 0.6), "exact": (4, 4), "flag": (1, 1)}, ("echo",))
    result = B.check({"acc": 0.6, "exact": 4, "flag": True, "echo": "anything", "other": 1e9}, bands)
    assert result.ok and result.misses == []
    assert result.met == ["acc", "exact", "flag"] and result.recorded == ["echo"]  # a bool is 0/1, as before


@pytest.mark.parametrize("figures, reason, text", [
    ({"acc": 0.61}, "outside", "acc = 0.61, outside band [0.4, 0.6]"),
    ({"acc": 0.39}, "outside", "acc = 0.39, outside band [0.4, 0.6]"),
    ({"acc": float("nan")}, "not a number", "acc = nan, not a number (band [0.4, 0.6])"),
    ({"acc": "0.5"}, "not a number", "acc = '0.5', not a number (band [0.4, 0.6])"),
    ({"acc": None}, "not a number", "acc = None, not a number (band [0.4, 0.6])"),
    ({}, "missing", "acc not recorded (band [0.4, 0.6])"),
])
def test_a_figure_outside_its_band_or_missing_is_a_miss_with_value_and_band(figures, reason, text):
    result = B.check({"echo": 1, **figures}, B.Bands(Path("x.toml"), "smoke", {"acc": (0.4, 0.6)}, ("echo",)))
    assert not result.ok and len(result.misses) == 1
    miss = result.misses[0]
    assert (miss.key, miss.reason, miss.band) == ("acc", reason, (0.4, 0.6)) and str(miss) == text
    assert miss.to_dict()["band"] == [0.4, 0.6]


def test_a_recorded_key_must_still_be_recorded():
    result = B.check({}, B.Bands(Path("x.toml"), "smoke", {}, ("echo",)))
    assert [(m.key, m.reason, m.band) for m in result.misses] == [("echo", "missing", None)]
    assert str(result.misses[0]) == "echo not recorded (band recorded)"


# --------------------------------------------------------------------------------------------
# bad band files: a clear error naming the file and the key
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("[smoke]\nacc = 0.5\n", r"\[smoke\] acc = 0.5: a band must be a list \[low, high\] of two numbers"),
    ("[smoke]\nacc = [0.5]\n", r"\[smoke\] acc = \[0.5\]: a band must be a list"),
    ("[smoke]\nacc = [0, 1, 2]\n", r"\[smoke\] acc = \[0, 1, 2\]: a band must be a list"),
    ("[smoke]\nacc = [0.9, 0.1]\n", r"\[smoke\] acc = \[0.9, 0.1\]: low 0.9 is above high 0.1"),
    ("[cpu]\nacc = [0, 'one']\n", r"\[cpu\] acc = \[0, 'one'\]: low and high must be finite numbers"),
    ("[cpu]\nacc = [true, 1]\n", r"\[cpu\] acc = \[True, 1\]: low and high must be finite numbers"),
    ("[cpu]\nacc = [0, inf]\n", r"\[cpu\] acc = \[0, inf\]: low and high must be finite numbers"),
    ("[gpu]\nacc = \"recoded\"\n", r"\[gpu\] acc = 'recoded': the only string a band may be is \"recorded\""),
    ("[gpu.extra]\nacc = [0, 1]\n", r"\[gpu\] extra = \{'acc': \[0, 1\]\}: a band must be a list"),
    ("[fast]\nacc = [0, 1]\n", r"unknown section or key 'fast': bands live in the sections \[smoke\], \[cpu\], \[gpu\]"),
    ("acc = [0, 1]\n[smoke]\n", r"unknown section or key 'acc'"),
    ("[smoke]\nacc = [0, 1\n", r"not valid TOML"),
])
def test_a_bad_band_file_raises_an_error_naming_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(B.BandFileError, match=message) as e:
        B.load_bands(path, "smoke")  # the whole file is checked, whichever profile is asked for
    assert str(e.value).startswith(f"{path}: ")


def test_a_band_file_that_does_not_exist_is_an_error_for_load_bands(tmp_path):
    with pytest.raises(B.BandFileError, match="cannot read the band file"):
        B.load_bands(tmp_path / "nosuch.toml", "smoke")


def test_an_unknown_profile_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        B.load_bands(write(tmp_path, GOOD), "fast")


# --------------------------------------------------------------------------------------------
# check_lesson: what a compute card carries
# --------------------------------------------------------------------------------------------

def test_check_lesson_finds_the_band_file_beside_the_notebook_and_reports_misses(tmp_path):
    (tmp_path / "bands").mkdir()
    write(tmp_path / "bands", GOOD, "91_x.toml")
    nb = tmp_path / "91_x.ipynb"
    met = B.check_lesson({"acc": 0.5, "steps": 3, "exact": 4, "echo": 0}, nb, "smoke")
    assert (met["status"], met["met"], met["recorded"], met["misses"], met["error"]) == ("met", 3, ["echo"], [], None)
    missed = B.check_lesson({"acc": 0.5}, nb, "cpu")
    assert missed["status"] == "missed" and missed["file"] == str(tmp_path / "bands" / "91_x.toml")
    assert missed["misses"] == [{"key": "acc", "reason": "outside", "value": 0.5, "band": [0.9, 1.0],
                                 "text": "acc = 0.5, outside band [0.9, 1]"}]


def test_check_lesson_says_no_bands_for_a_missing_file_or_section_and_error_for_a_broken_one(tmp_path):
    (tmp_path / "bands").mkdir()
    write(tmp_path / "bands", GOOD, "91_x.toml")
    none = B.check_lesson({}, tmp_path / "91_x.ipynb", "gpu")
    assert (none["status"], none["error"]) == ("no bands", "91_x.toml has no [gpu] section")
    none = B.check_lesson({}, tmp_path / "93_nothing.ipynb", "smoke")
    assert (none["status"], none["error"]) == ("no bands", "no band file 93_nothing.toml")
    write(tmp_path / "bands", "[smoke]\nacc = [1, 0]\n", "92_broken.toml")
    broken = B.check_lesson({"acc": 0.5}, tmp_path / "92_broken.ipynb", "smoke")
    assert broken["status"] == "error" and "[smoke] acc = [1, 0]: low 1 is above high 0" in broken["error"]


def test_a_lesson_copied_elsewhere_uses_the_checkouts_band_file(tmp_path):
    assert B.band_file(tmp_path / "05_vae.ipynb") == ROOT / "notebooks" / "bands" / "05_vae.toml"
    assert B.band_file("05_vae") == ROOT / "notebooks" / "bands" / "05_vae.toml"


# --------------------------------------------------------------------------------------------
# the shipped band files
# --------------------------------------------------------------------------------------------

def test_every_lesson_has_a_band_file_with_all_three_profiles():
    assert sorted(p.stem for p in BAND_FILES) == LESSONS
    for path in BAND_FILES:
        assert sorted(B.load_band_file(path)) == sorted(B.SECTIONS), path.name


@pytest.mark.parametrize("path", BAND_FILES, ids=[p.stem for p in BAND_FILES])
def test_every_band_file_states_the_recorded_spelling_and_the_widening_policy(path):
    header = path.read_text().split("\n[", 1)[0]
    assert 'key = "recorded" is recorded, not banded' in header
    assert "a band is never widened without a dated measurement note beside it" in header


@pytest.mark.parametrize("path", BAND_FILES, ids=[p.stem for p in BAND_FILES])
def test_a_widened_band_has_a_dated_measurement_note(path):
    """Any comment that says a band was widened carries the date of the measurement behind it (a note may
    run over several comment lines; the header's example counts too)."""
    blocks, block = [], []
    for line in path.read_text().splitlines() + [""]:
        if line.startswith("#"):
            block.append(line.lstrip("# "))
        elif block:
            blocks.append(" ".join(block))
            block = []
    notes = [b for b in blocks if "widened from" in b]
    assert notes, f"{path.name}: no widening policy example in the header"
    for note in notes:
        for part in note.split("widened from")[:-1]:
            assert re.search(r"\d{4}-\d{2}-\d{2}: measured [^;]*$", part), f"{path.name}: undated widening note: {note}"


# the whole range of quantities that cannot leave it: a band covering all of it cannot fail
BOUNDED = [
    (r"accuracy|_share$|quality", (0.0, 1.0)),  # a share of images / samples
    (r"max_class_share", (0.1, 1.0)),  # the largest of 10 class shares is at least 0.1
    (r"^toy_modes|modes_covered", (0.0, 8.0)),  # modes of the 8-Gaussian ring
    (r"active_dims", (0.0, 16.0)),  # active dimensions of a 16-d code
]
# keys that only echo the configuration (or a shipped file's metadata): recorded, never banded
ECHOES = ("sweep_seeds", "nll_samples", "iwae_k", "fid_samples", "pretrained_steps")


def _every_band():
    for path in BAND_FILES:
        for profile, bands in B.load_band_file(path).items():
            yield path.stem, profile, bands


def test_no_band_covers_the_whole_range_of_a_bounded_quantity():
    vacuous = []
    for lesson, profile, bands in _every_band():
        for key, (low, high) in bands.bands.items():
            for pattern, (lo, hi) in BOUNDED:
                if re.search(pattern, key) and low <= lo and high >= hi:
                    vacuous.append(f"{lesson} [{profile}] {key} = [{low}, {high}] covers [{lo}, {hi}]")
    assert not vacuous, "bands that cannot fail: tighten them from a measurement or mark them \"recorded\":\n" + \
        "\n".join(vacuous)


def test_the_bounded_patterns_catch_the_bands_the_review_found():
    caught = {key for key, band in [("toy_modes_wgan_gp", (0, 8)), ("toy_quality_sn_hinge", (0, 1)),
                                    ("cgan_live_class_accuracy", (0, 1)), ("beta4_active_dims", (0, 16)),
                                    ("ae_random_max_class_share", (0.1, 1))]
              for pattern, (lo, hi) in BOUNDED if re.search(pattern, key) and band[0] <= lo and band[1] >= hi}
    assert caught == {"toy_modes_wgan_gp", "toy_quality_sn_hinge", "cgan_live_class_accuracy", "beta4_active_dims",
                      "ae_random_max_class_share"}


def test_keys_that_echo_the_configuration_are_recorded_not_banded():
    banded = [f"{lesson} [{profile}] {key}" for lesson, profile, bands in _every_band()
              for key in bands.bands if key in ECHOES]
    assert not banded, f"configuration echoes with a band: {banded}"
    recorded = {key for _, _, bands in _every_band() for key in bands.recorded}
    assert set(ECHOES) <= recorded  # still required to be in the figures


# the review's (H3) list, lesson by lesson: each is now recorded or has a band narrower than the one it had
REVIEW_H3 = {
    ("02_gan_basics", "smoke", "sweep_balanced_full"): (0, 1),
    **{("04_stable_gans", "smoke", f"toy_modes_{r}"): (0, 8) for r in ("nonsaturating", "wgan_gp", "sn_hinge")},
    **{("04_stable_gans", "smoke", f"toy_quality_{r}"): (0, 1) for r in ("nonsaturating", "wgan_gp", "sn_hinge")},
    **{("04_stable_gans", "smoke", f"image_steps_{r}"): (1, 1e5) for r in ("nonsaturating", "wgan_gp", "sn_hinge")},
    ("04b_conditional_gan", "smoke", "cgan_live_class_accuracy"): (0, 1),  # with the cGAN since 2026-12-02
    **{("05_vae", "smoke", f"{b}_active_dims"): (0, 16) for b in ("beta0.5", "beta1", "beta4")},
    ("05_vae", "smoke", "cvae_class_accuracy"): (0, 1),
    ("05_vae", "smoke", "ae_random_max_class_share"): (0.1, 1),
    ("05_vae", "smoke", "vae2_prior_max_class_share"): (0.1, 1),
    ("03_dcgan", "smoke", "images_per_second"): (20, 1e6),
}


@pytest.mark.parametrize("lesson, profile, key", list(REVIEW_H3), ids=["-".join(k) for k in REVIEW_H3])
def test_the_reviews_vacuous_bands_are_tightened_or_recorded(lesson, profile, key):
    bands = B.load_bands(ROOT / "notebooks" / "bands" / f"{lesson}.toml", profile)
    if key in bands.recorded:
        return
    assert key in bands.bands, f"{lesson} [{profile}] {key} is neither banded nor recorded"
    low, high = bands.bands[key]
    old_low, old_high = REVIEW_H3[(lesson, profile, key)]
    assert (low, high) != (old_low, old_high) and old_low <= low <= high <= old_high


def test_the_gpu_band_widened_in_d80caf1_carries_its_dated_note():
    text = (ROOT / "notebooks" / "bands" / "04_stable_gans.toml").read_text()
    assert "# 2026-11-27: measured 0.25 on an NVIDIA H200" in text and "widened from [0.3, 1.0]" in text
