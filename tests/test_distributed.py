"""distributed: fit under torchrun with DistributedDataParallel, checked on the CPU.

The multi-process tests start ``tests/ddp_worker.py`` once under ``torchrun --nproc_per_node 2``
(gloo backend, one thread per process) and compare what each rank saved with a run of the same
scenario in this single process.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from genimg_course import ddp_demo, distributed
from genimg_course.data import ResidentBatches, load_digits8

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # ddp_worker: the scenarios both runs share
import ddp_worker  # noqa: E402

WORLD = 2
# The two runs add the same numbers in a different order: one process averages 32 per-image
# gradients inside each kernel; DDP averages 16 on each rank and all-reduces (sums) the two halves.
# float32 rounding (~6e-8 relative) differs in the last bits and Adam carries that along: after 8
# steps the weights agree to ~3e-8 here. 1e-5 leaves room for other CPUs' kernels while staying
# far below one Adam step (lr = 3e-3 per weight), which a wrong shard or a missing all-reduce changes.
ATOL = 1e-5


def _no_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "GENIMG_DEVICE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every scenario's result from each of the 2 gloo ranks: ``ranks[name][rank]``."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENIMG_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "GENIMG_PROFILE"):
        env.pop(name, None)
    proc = ddp_demo.run_torchrun([str(HERE / "ddp_worker.py"), str(out)], WORLD, env=env, cwd=out, timeout=240)
    assert proc.returncode == 0, f"torchrun exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    names = {p.stem.rsplit("_rank", 1)[0] for p in out.glob("*_rank0.pt")}
    return {n: [torch.load(out / f"{n}_rank{r}.pt", weights_only=False) for r in range(WORLD)] for n in names}


@pytest.fixture(scope="module")
def alone() -> dict:
    """The classifier scenario in this one process, the global batch unsplit."""
    return ddp_worker.classifier()


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ two processes (gloo)

def test_torchrun_gives_two_gloo_ranks_on_the_cpu(ranks):
    assert [r["rank"] for r in ranks["info"]] == [0, 1]
    assert all(r["world_size"] == WORLD and r["backend"] == "gloo" and r["distributed"] for r in ranks["info"])


def test_two_processes_train_the_same_weights_as_one(ranks, alone):
    ddp_worker.seed_everything(0)
    initial = ddp_worker.params(ddp_worker.small_cnn())
    assert _max_diff(alone["params"], initial) > 100 * ATOL  # training moved the weights far more than the tolerance
    assert _max_diff(ranks["classifier"][0]["params"], alone["params"]) < ATOL


def test_every_rank_ends_with_the_same_weights(ranks):
    for name in ("classifier", "vae_uninterrupted"):  # VAETask trains its .model: DDP must reach it too
        assert _equal(ranks[name][0]["params"], ranks[name][1]["params"]), name
    for name in ("gan", "gan_wgan_gp"):
        assert all(_equal(ranks[name][0][m], ranks[name][1][m]) for m in ("G", "D")), name


def test_each_rank_draws_its_half_of_every_global_batch(ranks, alone):
    got = ranks["classifier"]
    assert [g["shard"] for g in got] == [(0, WORLD), (1, WORLD)]
    assert [g["local_batch_size"] for g in got] == [ddp_worker.GLOBAL_BATCH // WORLD] * WORLD
    assert torch.equal(torch.cat([g["first_batch"] for g in got]), alone["first_batch"])  # shifted images too


def test_logged_losses_are_averaged_over_ranks_and_match_one_process(ranks, alone):
    for name in ("loss", "acc"):
        assert ranks["classifier"][0][name] == ranks["classifier"][1][name]
        assert ranks["classifier"][0][name] == pytest.approx(alone[name], abs=1e-5)


def test_history_counts_the_images_of_all_ranks(ranks, alone):
    assert [r["images"] for r in ranks["classifier"]] == [alone["images"]] * WORLD


def test_callbacks_run_on_rank_0_only(ranks, alone):
    assert [r["callback_calls"] for r in ranks["classifier"]] == [alone["callback_calls"], 0]


def test_the_task_gets_its_own_modules_back_after_fit(ranks):
    assert all(r["module_returned"] for r in ranks["classifier"])
    assert all(r["task_model_returned"] for r in ranks["vae_uninterrupted"])  # the task's own module back in .modules


def test_a_resumed_ddp_run_equals_an_uninterrupted_one_on_every_rank(ranks):
    # the VAE draws binarisation and codes at random: each rank's RNG state is in the checkpoint
    for r in range(WORLD):
        assert _equal(ranks["vae_resumed"][r]["params"], ranks["vae_uninterrupted"][r]["params"])
        assert ranks["vae_resumed"][r]["loss"][-1] == ranks["vae_uninterrupted"][r]["loss"][-1]


def test_a_spent_time_budget_stops_every_rank_at_the_same_log_step(ranks):
    assert ranks["time_budget"] == [{"steps": [3], "stopped_by": "time"}] * WORLD


def test_the_demo_gives_the_same_weights_alone_and_under_torchrun(ranks, monkeypatch):
    _no_torchrun_env(monkeypatch)
    single = ddp_demo.demo(steps=10, verbose=False)
    assert single["world_size"] == 1 and ranks["demo"][0]["world_size"] == WORLD
    assert _max_diff(ranks["demo"][0]["params"], single["params"]) < ATOL


# ------------------------------------------------------------------ one process, no torchrun

def test_outside_torchrun_setup_is_rank_0_of_1(monkeypatch):
    _no_torchrun_env(monkeypatch)
    info = distributed.setup()
    assert (info.rank, info.world_size, info.backend) == (0, 1, None)
    assert distributed.is_main() and not distributed.is_distributed() and distributed.world_size() == 1


def test_outside_torchrun_the_collectives_return_their_input(monkeypatch):
    _no_torchrun_env(monkeypatch)
    t = torch.tensor([1.0, 2.0])
    assert distributed.all_mean(t) is t
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    assert distributed.all_gather_objects({"a": 1}) == [{"a": 1}]
    distributed.barrier()


def test_setup_names_a_malformed_torchrun_variable(monkeypatch):
    _no_torchrun_env(monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "first")
    with pytest.raises(RuntimeError, match="RANK='first'"):
        distributed.setup()


def test_setup_refuses_a_rank_outside_the_world(monkeypatch):
    _no_torchrun_env(monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(RuntimeError, match="RANK=2, WORLD_SIZE=2"):
        distributed.setup()


def test_the_command_without_a_subcommand_prints_help(capsys):
    assert ddp_demo.main([]) == 2
    assert "demo" in capsys.readouterr().out


# ------------------------------------------------------------------ ResidentBatches.shard

@pytest.fixture(scope="module")
def digits():
    return load_digits8(verbose=False)


@pytest.mark.parametrize("world", [2, 4])
def test_shards_together_are_the_global_batch_across_epochs(digits, world):
    whole = ResidentBatches(digits, 32, seed=3, shift=1)
    parts = [ResidentBatches(digits, 32, seed=3, shift=1).shard(r, world) for r in range(world)]
    for _ in range(len(whole) + 3):  # past an epoch boundary
        x, y = next(whole)
        got = [next(p) for p in parts]
        assert torch.equal(torch.cat([g[0] for g in got]), x) and torch.equal(torch.cat([g[1] for g in got]), y)


def test_a_shard_has_batch_size_over_world_size_images(digits):
    b = ResidentBatches(digits, 32).shard(1, 4)
    assert b.local_batch_size == 8 and next(b)[0].shape[0] == 8 and len(b) == len(digits) // 32


def test_shard_0_of_1_undoes_sharding(digits):
    b = ResidentBatches(digits, 32).shard(1, 2).shard(0, 1)
    assert next(b)[0].shape[0] == 32


def test_a_global_batch_that_the_ranks_cannot_split_evenly_is_refused(digits):
    with pytest.raises(ValueError, match="batch_size 30 must be divisible by the 4 ranks"):
        ResidentBatches(digits, 30).shard(0, 4)


@pytest.mark.parametrize("rank, world", [(2, 2), (-1, 2), (0, 0)])
def test_a_rank_outside_the_world_is_refused(digits, rank, world):
    with pytest.raises(ValueError, match="rank|world_size"):
        ResidentBatches(digits, 32).shard(rank, world)


def test_run_torchrun_relaunches_once_when_a_worker_aborts_at_exit(monkeypatch, tmp_path):
    import subprocess

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        if len(calls) == 1:
            return subprocess.CompletedProcess(cmd, 1, "", f"rank 1: {ddp_demo.EXIT_RACE}\nChildFailedError")
        return subprocess.CompletedProcess(cmd, 0, "ok", "")

    monkeypatch.setattr(ddp_demo.subprocess, "run", fake_run)
    done = ddp_demo.run_torchrun(["demo.py"], 2, cwd=tmp_path)
    assert len(calls) == 2 and done.returncode == 0 and done.stdout == "ok"
    assert done.stderr.startswith("[run_torchrun: relaunched once") and ddp_demo.EXIT_RACE in done.stderr
    # any other failure is returned as it came, without a second launch
    calls.clear()
    monkeypatch.setattr(ddp_demo.subprocess, "run",
                        lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 1, "", "ValueError"))
    done = ddp_demo.run_torchrun(["demo.py"], 2, cwd=tmp_path)
    assert len(calls) == 1 and done.returncode == 1 and done.stderr == "ValueError"
