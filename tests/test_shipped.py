"""The shipped generators load, are hash-checked, and still score what their files record under
the course's one protocol (metrics.evaluate_generator at n = 500: 500 samples with seed 0 against
500 held-out test digits of reference_split seed 0, the floor from the other 500), as
tools/make_gan_weights.py measured it."""
from __future__ import annotations

import pytest

from genimg_course.data import load_mnist
from genimg_course.gan import load_pretrained
from genimg_course.metrics import evaluate_generator


@pytest.mark.parametrize("name", ["dcgan_mnist", "cgan_mnist"])
def test_a_shipped_generator_reproduces_its_recorded_protocol_scores(name, judge):
    G = load_pretrained(name)
    assert G.info["fid_samples"] == 500 and G.info["protocol"].startswith("metrics.evaluate_generator, n = 500")
    ev = evaluate_generator(G, name, family="gan", train=load_mnist("train", "offline"),
                            test=load_mnist("test", "offline"), n=500, judge=judge)
    q = ev.quality
    assert q.fid == pytest.approx(G.info["fid"], rel=1e-3), f"{name}: FID {q.fid:.3f}, file records {G.info['fid']:.3f}"
    assert q.floor == pytest.approx(G.info["fid_real_vs_real"], rel=1e-3)
    assert ev.precision == pytest.approx(G.info["precision"], abs=1e-3)
    assert ev.recall == pytest.approx(G.info["recall"], abs=1e-3)


def test_the_shipped_cgan_is_at_its_floor_and_draws_the_asked_class(judge):
    G = load_pretrained("cgan_mnist")
    assert G.info["fid"] / G.info["fid_real_vs_real"] <= 1.2
    assert G.info["class_accuracy"] > 0.9
    assert G.info["near_copy_share"] < 0.05  # not a copier of training digits


def test_the_shipped_dcgan_reaches_the_gpu_profiles_quality(judge):
    """Lesson 03's gpu run (2026-11-27, offline digits) reached 2.7x its floor at n = 500."""
    G = load_pretrained("dcgan_mnist")
    assert G.info["fid"] / G.info["fid_real_vs_real"] <= 2.7
    assert G.info["near_copy_share"] < 0.05 and G.info["recall"] > 0.8
