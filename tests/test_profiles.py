"""profiles: which run sizes a lesson uses on this machine."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from genimg_course import profiles
from genimg_course.profiles import PROFILE_NAMES, Profile, resolve

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_resolve_returns_the_named_profile(name):
    p = resolve(name)
    assert isinstance(p, Profile)
    assert p.name == name
    assert isinstance(p.device, torch.device)


def test_resolve_ignores_case_and_surrounding_spaces():
    assert resolve("  Smoke ").name == "smoke"


def test_auto_honours_GENIMG_PROFILE(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "smoke")
    assert resolve().name == "smoke"
    assert resolve("auto").name == "smoke"


def test_explicit_name_beats_GENIMG_PROFILE(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "gpu")
    assert resolve("smoke").name == "smoke"


def test_auto_without_env_picks_cpu_when_cuda_is_unavailable(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = resolve("auto")
    assert p.name == "cpu"
    assert p.device.type == "cpu"


def test_auto_without_env_picks_gpu_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    p = resolve("auto")
    assert p.name == "gpu"
    assert p.device.type == "cuda"


def test_GENIMG_PROFILE_auto_falls_through_to_the_hardware(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve().name == "cpu"


def test_unknown_name_error_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        resolve("fast")
    msg = str(err.value)
    assert "'fast'" in msg
    for valid in ("auto", *PROFILE_NAMES):
        assert repr(valid) in msg


def test_unknown_GENIMG_PROFILE_value_error_names_the_variable_and_value(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "fast")
    with pytest.raises(ValueError) as err:
        resolve()
    assert "GENIMG_PROFILE" in str(err.value)
    assert "fast" in str(err.value)


def test_non_string_name_is_a_type_error():
    with pytest.raises(TypeError, match="string"):
        resolve(1)  # type: ignore[arg-type]


def test_GENIMG_DEVICE_overrides_the_device(monkeypatch):
    monkeypatch.setenv("GENIMG_DEVICE", "cpu")
    assert resolve("gpu").device == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_GENIMG_DEVICE_cuda_without_a_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setenv("GENIMG_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="GENIMG_DEVICE"):
        resolve("cpu")


def test_pick_returns_the_value_for_the_active_profile():
    for name, expected in (("smoke", 1), ("cpu", 2), ("gpu", 3)):
        assert resolve(name).pick(smoke=1, cpu=2, gpu=3) == expected


def test_pick_with_a_missing_keyword_names_it():
    with pytest.raises(ValueError, match=r"missing \['gpu'\]"):
        resolve("smoke").pick(smoke=1, cpu=2)


def test_pick_with_an_unexpected_keyword_names_it():
    with pytest.raises(ValueError, match=r"unexpected \['tpu'\]"):
        resolve("smoke").pick(smoke=1, cpu=2, gpu=3, tpu=4)


def test_describe_names_profile_device_precision_and_sizes():
    p = resolve("smoke")
    text = p.describe()
    assert "'smoke'" in text
    assert str(p.device) in text
    assert f"batch {p.batch_size}" in text
    assert str(p.eval_samples) in text
    if p.device.type == "cpu":
        assert "fp32" in text


def test_amp_dtype_is_full_precision_on_the_cpu(monkeypatch):
    monkeypatch.setenv("GENIMG_DEVICE", "cpu")
    assert resolve("gpu").amp_dtype is None


@pytest.mark.parametrize("device, bf16, expected", [
    ("cpu", True, None), ("cuda", True, torch.bfloat16), ("cuda:1", True, torch.bfloat16), ("cuda", False, None),
])
def test_autocast_dtype_is_the_one_rule_for_fit_and_profiles(monkeypatch, device, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert profiles.autocast_dtype(device) is expected
    assert profiles.autocast_dtype(torch.device(device)) is expected


def test_fit_uses_the_profiles_autocast_rule():
    from genimg_course import train

    assert train.autocast_dtype is profiles.autocast_dtype


def test_profiles_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolve("smoke").batch_size = 1  # type: ignore[misc]


def test_smoke_is_offline_and_the_smallest():
    smoke, cpu, gpu = (resolve(n) for n in PROFILE_NAMES)
    assert smoke.online_data is False
    assert smoke.max_seconds <= cpu.max_seconds <= gpu.max_seconds
    assert smoke.eval_samples <= cpu.eval_samples <= gpu.eval_samples


def test_default_device_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiles.default_device() == torch.device("cpu")


# ---------------------------------------------------------------- sharing a GPU (GENIMG_GPU_MEM_GIB)
def test_the_memory_cap_is_a_no_op_without_the_variable_or_a_gpu(monkeypatch):
    from genimg_course.profiles import apply_gpu_memory_cap

    monkeypatch.delenv("GENIMG_GPU_MEM_GIB", raising=False)
    assert apply_gpu_memory_cap(torch.device("cuda")) is None
    monkeypatch.setenv("GENIMG_GPU_MEM_GIB", "3")
    assert apply_gpu_memory_cap(torch.device("cpu")) is None


def test_the_memory_cap_sets_the_fraction_of_the_card(monkeypatch):
    from genimg_course import profiles

    calls = []
    monkeypatch.setattr(profiles.torch.cuda, "set_per_process_memory_fraction", lambda f, i: calls.append((f, i)))
    monkeypatch.setenv("GENIMG_GPU_MEM_GIB", "3")
    assert profiles.apply_gpu_memory_cap(torch.device("cuda:0"), total_bytes=80 * 2**30) == 3 / 80
    assert calls == [(3 / 80, 0)]


@pytest.mark.parametrize("raw", ["lots", "0", "-2"])
def test_a_bad_memory_cap_names_what_was_expected(monkeypatch, raw):
    from genimg_course.profiles import apply_gpu_memory_cap

    monkeypatch.setenv("GENIMG_GPU_MEM_GIB", raw)
    with pytest.raises(ValueError, match="GENIMG_GPU_MEM_GIB"):
        apply_gpu_memory_cap(torch.device("cuda:0"), total_bytes=2**30)


def test_a_time_budget_is_shared_in_proportion_to_planned_steps():
    budget = profiles.TimeBudget(100, total_steps=1_000)
    assert budget.seconds_for(200) == pytest.approx(20.0)
    budget.spend(10.0, 200)  # finished early: its 10 s go to the runs still to come
    assert budget.seconds_for(400) == pytest.approx(90.0 * 400 / 800)
    budget.spend(60.0, 400)  # ran over its share (a slow machine): the rest get less
    assert budget.seconds_for(400) == pytest.approx(30.0)


def test_a_spent_time_budget_still_gives_a_run_one_second():
    budget = profiles.TimeBudget(10, total_steps=100)
    budget.spend(50.0, 50)
    assert budget.seconds_for(50) == 1.0


@pytest.mark.parametrize("args, match", [((0, 10), "total_seconds must be a positive number, got 0"),
                                         ((10, 0), "total_steps must be a positive integer, got 0"),
                                         ((10, 2.5), "total_steps must be a positive integer, got 2.5")])
def test_a_time_budget_refuses_bad_sizes(args, match):
    with pytest.raises(ValueError, match=match):
        profiles.TimeBudget(*args)
