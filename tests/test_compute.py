"""genimg_course.compute: images per second of a training step and of a sampler, and peak memory, for any course
task; bad inputs are named before any work. (No timed assertions: only that the numbers are consistent.)"""
from __future__ import annotations

import pytest
import torch

from genimg_course.compute import StepTiming, peak_memory_gib, time_sampling, time_training
from genimg_course.data import ImageSet, ResidentBatches
from genimg_course.gan import GANTask
from genimg_course.models import DCGANDiscriminator, DCGANGenerator


def _digits(n: int = 64) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    return ImageSet(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g), torch.arange(n) % 10,
                    [str(i) for i in range(10)], "random", "test")


def test_a_gan_step_is_timed_through_fit_and_its_numbers_agree():
    G, D = DCGANGenerator(latent_dim=8, width=8), DCGANDiscriminator(width=8)
    t = time_training(GANTask(G, D), ResidentBatches(_digits(), 16, "cpu"), steps=3, warmup=1)
    assert isinstance(t, StepTiming) and t.what == "train" and t.steps == 3 and t.batch_size == 16
    assert t.images_per_s == pytest.approx(16 / t.seconds_per_step, rel=1e-6)
    assert t.peak_gib > 0 and t.device == "cpu"
    assert "img/s" in str(t) and set(t.to_dict()) >= {"images_per_s", "seconds_per_step", "peak_gib"}


def test_a_sampler_is_timed_per_call():
    calls = []
    t = time_sampling(lambda n: calls.append(n) or torch.zeros(n, 1, 28, 28), 5, repeats=2)
    assert calls == [5, 5, 5] and t.what == "sample" and t.batch_size == 5 and t.steps == 2
    assert t.images_per_s == pytest.approx(5 / t.seconds_per_step, rel=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="course Task"):
        time_training(object(), ResidentBatches(_digits(), 16, "cpu"))
    task = GANTask(DCGANGenerator(latent_dim=8, width=8), DCGANDiscriminator(width=8))
    with pytest.raises(TypeError, match="batch_size"):
        time_training(task, [torch.zeros(4, 1, 28, 28)])
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        time_training(task, ResidentBatches(_digits(), 16, "cpu"), steps=0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        time_training(task, ResidentBatches(_digits(), 16, "cpu"), warmup=-1)
    with pytest.raises(TypeError, match="sample must be a function"):
        time_sampling(3, 5)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        time_sampling(lambda n: torch.zeros(n), 0)
    with pytest.raises(ValueError, match=r"returned 4 images, expected 5"):
        time_sampling(lambda n: torch.zeros(4, 1), 5, warmup=False)
    with pytest.raises(ValueError, match="device must be"):
        peak_memory_gib("nowhere")
