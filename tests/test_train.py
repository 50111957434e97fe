"""train: the one training loop, its logging, time budget, checkpoints and exact resume."""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from genimg_course import checkpoints, train
from genimg_course.checkpoints import load_checkpoint
from genimg_course.data import ResidentBatches, to_float
from genimg_course.models import CNNClassifier
from genimg_course.train import (
    ClassifierTask,
    History,
    StepContext,
    TrainingDiverged,
    evaluate_accuracy,
    fit,
    seed_everything,
)

pytestmark = pytest.mark.usefixtures("isolated")


# ---------------------------------------------------------------- helpers

class CountingTask:
    """Trains nothing; logs its own call number (1, 2, 3, ...) as ``loss``."""

    def __init__(self, values=None):
        self.modules = {"m": nn.Linear(1, 1)}
        self.optimizers: dict = {}
        self.calls = 0
        self.values = values or (lambda n: float(n))

    def step(self, batch, ctx):
        self.calls += 1
        return {"loss": torch.tensor(self.values(self.calls))}


def dummy_batches(batch_size: int = 2):
    return itertools.repeat((torch.zeros(batch_size, 1), torch.zeros(batch_size)))


class FailAt:
    """Wraps a task and raises ``exc`` when asked for step ``k + 1`` (after ``k`` good steps)."""

    def __init__(self, inner, k: int, exc: type[BaseException]):
        self.inner, self.k, self.exc, self.calls = inner, k, exc, 0
        self.modules, self.optimizers = inner.modules, inner.optimizers

    def step(self, batch, ctx):
        if self.calls == self.k:
            raise self.exc()
        self.calls += 1
        return self.inner.step(batch, ctx)


def tiny_run(data, init_seed: int = 0, width: int = 4):
    """A fresh tiny classifier, its task and batches (16 real digits per step)."""
    seed_everything(init_seed)
    model = CNNClassifier(width=width, feature_dim=32)
    return model, ClassifierTask(model, lr=3e-3), ResidentBatches(data, 16, seed=0)


def full_state(task) -> dict[str, torch.Tensor]:
    """Every parameter, buffer and optimiser tensor of a task, flattened."""
    out = {}
    for name, m in task.modules.items():
        out.update({f"{name}.{k}": v.detach().clone() for k, v in m.state_dict().items()})
    for name, o in task.optimizers.items():
        for pid, st in o.state_dict()["state"].items():
            out.update({f"{name}.{pid}.{k}": v.clone() for k, v in st.items() if isinstance(v, torch.Tensor)})
    return out


def assert_same_state(a, b):
    sa, sb = full_state(a), full_state(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"tensors differ: {different[:5]}"


@pytest.fixture(scope="module")
def uninterrupted(digits256):
    """20 steps of a tiny classifier without interruption, logging every 5 steps."""
    model, task, batches = tiny_run(digits256)
    history = fit(task, batches, steps=20, log_every=5, progress=False)
    return task, history


# ---------------------------------------------------------------- it learns

@pytest.fixture(scope="module")
def trained(digits256):
    seed_everything(0)
    model = CNNClassifier(width=4)
    history = fit(ClassifierTask(model, lr=3e-3), ResidentBatches(digits256, 32), steps=60, log_every=10, progress=False)
    return model, history


def test_fit_lowers_the_loss_of_a_tiny_cnn_on_real_digits(trained):
    _, history = trained
    loss = history.values["loss"]
    assert len(loss) == 6
    assert loss[-1] < 0.75 * loss[0]
    assert history.values["acc"][-1] > history.values["acc"][0]


def test_a_trained_tiny_cnn_beats_chance_on_held_out_digits(trained, mnist_test):
    model, _ = trained
    assert evaluate_accuracy(model, to_float(mnist_test.images), mnist_test.labels) > 0.3  # chance is 0.1


def test_history_counts_steps_images_and_why_it_stopped(trained):
    _, history = trained
    assert history.steps == [10, 20, 30, 40, 50, 60]
    assert history.images == 60 * 32
    assert history.stopped_by == "steps"
    assert history.seconds > 0 and history.images_per_second > 0


# ---------------------------------------------------------------- steps, epochs, logging

@pytest.mark.parametrize("epochs, steps", [(1, 8), (0.5, 4), (1.01, 9), (3, 24)])
def test_epochs_are_converted_to_whole_steps(digits256, epochs, steps):
    task = CountingTask()
    history = fit(task, ResidentBatches(digits256, 32), epochs=epochs, log_every=1000, progress=False)
    assert task.calls == steps and history.steps == [steps]


@pytest.mark.parametrize("kwargs", [{}, {"steps": 4, "epochs": 1}])
def test_exactly_one_of_steps_or_epochs_is_required(digits256, kwargs):
    with pytest.raises(ValueError, match="exactly one of steps or epochs"):
        fit(CountingTask(), ResidentBatches(digits256, 32), progress=False, **kwargs)


def test_epochs_need_batches_with_a_length():
    with pytest.raises(ValueError, match="length"):
        fit(CountingTask(), dummy_batches(), epochs=1, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps must be a positive integer"),
    ({"steps": 2.5}, "steps must be a positive integer"),
    ({"steps": 4, "log_every": 0}, "log_every must be a positive integer"),
    ({"steps": 4, "max_seconds": 0}, "max_seconds must be positive"),
])
def test_bad_loop_settings_are_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(CountingTask(), dummy_batches(), progress=False, **kwargs)


def test_epochs_must_be_positive(digits256):
    with pytest.raises(ValueError, match="epochs must be positive"):
        fit(CountingTask(), ResidentBatches(digits256, 32), epochs=0, progress=False)


def test_fit_rejects_something_that_is_not_a_task():
    with pytest.raises(TypeError, match="Task"):
        fit(object(), dummy_batches(), steps=1, progress=False)  # type: ignore[arg-type]


def test_logs_every_log_every_steps_and_at_the_end():
    history = fit(CountingTask(), dummy_batches(), steps=25, log_every=10, progress=False)
    assert history.steps == [10, 20, 25]


def test_each_log_is_the_mean_since_the_previous_log():
    history = fit(CountingTask(), dummy_batches(), steps=25, log_every=10, progress=False)
    assert history.values["loss"] == [5.5, 15.5, 23.0]  # mean of 1..10, 11..20, 21..25


def test_log_every_larger_than_steps_logs_once_at_the_end():
    history = fit(CountingTask(), dummy_batches(), steps=7, log_every=50, progress=False)
    assert history.steps == [7] and history.values["loss"] == [4.0]


def test_images_are_counted_from_the_batch():
    history = fit(CountingTask(), dummy_batches(batch_size=3), steps=5, log_every=5, progress=False)
    assert history.images == 15


def test_callbacks_get_the_history_at_every_log():
    seen = []
    fit(CountingTask(), dummy_batches(), steps=12, log_every=4, progress=False,
        callbacks=[lambda h: seen.append(list(h.steps))])
    assert seen == [[4], [4, 8], [4, 8, 12]]


def test_progress_false_prints_nothing(capsys):
    fit(CountingTask(), dummy_batches(), steps=5, log_every=1, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_max_seconds_stops_the_run_early_and_says_time():
    task = CountingTask()
    history = fit(task, dummy_batches(), steps=10**9, max_seconds=1e-3, log_every=10**6, progress=False)
    assert history.stopped_by == "time"
    assert task.calls < 10**9
    assert history.steps == [task.calls]  # the partial window is logged


def test_a_time_stopped_run_saves_a_checkpoint(tmp_path):
    ckpt = tmp_path / "run.pt"
    task = CountingTask()
    fit(task, dummy_batches(), steps=10**9, max_seconds=1e-3, checkpoint=ckpt, progress=False)
    assert load_checkpoint(ckpt)["step"] == task.calls


# ---------------------------------------------------------------- seeding

def test_same_seed_gives_bit_identical_runs(digits256, uninterrupted):
    _, task, batches = tiny_run(digits256)
    fit(task, batches, steps=20, log_every=5, progress=False)
    assert_same_state(task, uninterrupted[0])


def test_fit_seed_controls_dropout(digits256, uninterrupted):
    _, task, batches = tiny_run(digits256)
    fit(task, batches, steps=20, log_every=5, seed=1, progress=False)
    sa, sb = full_state(task), full_state(uninterrupted[0])
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


def test_seed_everything_repeats_python_numpy_and_torch_draws():
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first


def test_seed_everything_rejects_a_non_int():
    with pytest.raises(TypeError, match="int"):
        seed_everything(1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- checkpoints and resume

def test_resumed_run_equals_an_uninterrupted_one(digits256, uninterrupted, tmp_path):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256)
    first = fit(task, batches, steps=10, log_every=5, checkpoint=ckpt, progress=False)
    assert first.stopped_by == "steps" and load_checkpoint(ckpt)["step"] == 10

    _, fresh, fresh_batches = tiny_run(digits256, init_seed=99)  # different init: everything comes from the file
    history = fit(fresh, fresh_batches, steps=20, log_every=5, checkpoint=ckpt, progress=False)

    task_u, history_u = uninterrupted
    assert_same_state(fresh, task_u)
    assert history.steps == history_u.steps
    assert history.values == history_u.values
    assert history.images == history_u.images


def test_resuming_says_where_it_resumed(digits256, tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    fit(CountingTask(), dummy_batches(), steps=4, checkpoint=ckpt, progress=False)
    fit(CountingTask(), dummy_batches(), steps=6, checkpoint=ckpt, progress=True)
    assert f"[fit] resumed from {ckpt} at step 4" in capsys.readouterr().out


def test_a_finished_run_is_not_repeated(tmp_path):
    ckpt = tmp_path / "run.pt"
    done = fit(CountingTask(), dummy_batches(), steps=10, log_every=5, checkpoint=ckpt, progress=False)
    again_task = CountingTask()
    again = fit(again_task, dummy_batches(), steps=10, log_every=5, checkpoint=ckpt, progress=False)
    assert again_task.calls == 0
    assert again.steps == done.steps and again.values == done.values and again.stopped_by == "steps"


def test_resume_false_starts_over_and_overwrites_the_checkpoint(tmp_path):
    ckpt = tmp_path / "run.pt"
    fit(CountingTask(), dummy_batches(), steps=10, checkpoint=ckpt, progress=False)
    task = CountingTask()
    history = fit(task, dummy_batches(), steps=4, log_every=2, checkpoint=ckpt, resume=False, progress=False)
    assert task.calls == 4 and history.steps == [2, 4]
    assert load_checkpoint(ckpt)["step"] == 4


@pytest.mark.parametrize("k", [10, 7])  # on a log step, and between logs
def test_keyboard_interrupt_saves_and_the_resumed_run_matches(digits256, uninterrupted, tmp_path, k):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256)
    stopped = fit(FailAt(task, k, KeyboardInterrupt), batches, steps=20, log_every=5, checkpoint=ckpt, progress=False)
    assert stopped.stopped_by == "interrupted"
    assert load_checkpoint(ckpt)["step"] == k

    _, fresh, fresh_batches = tiny_run(digits256, init_seed=99)
    history = fit(fresh, fresh_batches, steps=20, log_every=5, checkpoint=ckpt, progress=False)
    assert_same_state(fresh, uninterrupted[0])
    assert history.steps[-1] == 20 and history.images == uninterrupted[1].images
    if k % 5 == 0:
        assert history.values == uninterrupted[1].values


def test_keyboard_interrupt_reports_where_it_stopped(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    fit(FailAt(CountingTask(), 3, KeyboardInterrupt), dummy_batches(), steps=10, checkpoint=ckpt, progress=True)
    assert f"interrupted at step 3; saved to {ckpt}" in capsys.readouterr().out


def test_a_crashed_run_resumes_from_its_last_periodic_checkpoint(digits256, uninterrupted, tmp_path):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256)
    with pytest.raises(ZeroDivisionError):
        fit(FailAt(task, 13, ZeroDivisionError), batches, steps=20, log_every=5, checkpoint=ckpt,
            checkpoint_every=5, progress=False)
    assert load_checkpoint(ckpt)["step"] == 10

    _, fresh, fresh_batches = tiny_run(digits256, init_seed=99)
    history = fit(fresh, fresh_batches, steps=20, log_every=5, checkpoint=ckpt, progress=False)
    assert_same_state(fresh, uninterrupted[0])
    assert history.values == uninterrupted[1].values


class DrawingTask:
    """Trains nothing; logs one draw from a global random generator per step."""

    def __init__(self, draw):
        self.modules, self.optimizers, self.draw = {"m": nn.Linear(1, 1)}, {}, draw

    def step(self, batch, ctx):
        return {"draw": torch.tensor(float(self.draw()), dtype=torch.float64)}


DRAWS = {
    "torch": lambda: torch.randn(()),
    "python random.gauss": lambda: random.gauss(0, 1),
    "numpy uniform": lambda: np.random.rand(),
    "numpy randn": lambda: np.random.randn(),  # draws come in pairs: the second one is cached in the state
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_global_random_generators_continue_exactly_after_resume(tmp_path, name):
    straight = fit(DrawingTask(DRAWS[name]), dummy_batches(), steps=6, log_every=1, progress=False)
    ckpt = tmp_path / "run.pt"
    fit(DrawingTask(DRAWS[name]), dummy_batches(), steps=3, log_every=1, checkpoint=ckpt, progress=False)
    seed_everything(12345)  # whatever happens in between
    resumed = fit(DrawingTask(DRAWS[name]), dummy_batches(), steps=6, log_every=1, checkpoint=ckpt, progress=False)
    assert resumed.values["draw"] == straight.values["draw"]


def test_checkpoint_every_saves_every_that_many_steps(tmp_path, monkeypatch):
    saved = []
    real_save = checkpoints.save_checkpoint
    monkeypatch.setattr(checkpoints, "save_checkpoint", lambda state, path: (saved.append(state["step"]), real_save(state, path)))
    fit(CountingTask(), dummy_batches(), steps=30, log_every=25, checkpoint=tmp_path / "run.pt", checkpoint_every=10,
        progress=False)
    assert {10, 20, 30} <= set(saved)


def test_a_checkpoint_of_a_different_model_is_refused(digits256, tmp_path):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256, width=4)
    fit(task, batches, steps=2, checkpoint=ckpt, progress=False)
    _, other, other_batches = tiny_run(digits256, width=8)
    with pytest.raises(RuntimeError, match="does not fit this task") as err:
        fit(other, other_batches, steps=4, checkpoint=ckpt, progress=False)
    assert str(ckpt) in str(err.value)


def test_a_checkpoint_of_a_task_with_other_modules_is_refused(digits256, tmp_path):
    ckpt = tmp_path / "run.pt"
    fit(CountingTask(), dummy_batches(), steps=2, checkpoint=ckpt, progress=False)
    _, task, batches = tiny_run(digits256)
    with pytest.raises(RuntimeError, match="does not fit this task"):
        fit(task, batches, steps=4, checkpoint=ckpt, progress=False)


# ---------------------------------------------------------------- failures the loop explains

def test_nan_loss_raises_training_diverged_with_a_hint(digits256):
    model = CNNClassifier(width=4)
    nan_images = itertools.repeat((torch.full((4, 1, 28, 28), float("nan")), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(TrainingDiverged) as err:
        fit(ClassifierTask(model), nan_images, steps=10, log_every=1, progress=False)
    msg = str(err.value)
    assert "loss" in msg and "nan" in msg and "by step 1" in msg
    assert "learning rate" in msg


def test_infinite_loss_also_counts_as_diverged():
    with pytest.raises(TrainingDiverged, match="inf"):
        fit(CountingTask(lambda n: math.inf), dummy_batches(), steps=3, log_every=1, progress=False)


def test_training_diverged_is_a_runtime_error():
    assert issubclass(TrainingDiverged, RuntimeError)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "run.pt"
    task = CountingTask(lambda n: float("nan") if n > 7 else 1.0)
    with pytest.raises(TrainingDiverged, match=str(ckpt)):
        fit(task, dummy_batches(), steps=20, log_every=1, checkpoint=ckpt, checkpoint_every=5, progress=False)
    assert load_checkpoint(ckpt)["step"] == 5


def test_divergence_does_not_point_to_a_checkpoint_that_does_not_exist(tmp_path):
    ckpt = tmp_path / "run.pt"
    with pytest.raises(TrainingDiverged) as err:
        fit(CountingTask(lambda n: float("nan")), dummy_batches(), steps=5, log_every=1, checkpoint=ckpt, progress=False)
    assert ckpt.exists() or str(ckpt) not in str(err.value)


def test_batches_on_another_device_type_than_the_model_are_refused(digits256):
    model = CNNClassifier(width=4)
    meta_batches = ResidentBatches(digits256, 16, device="meta")
    with pytest.raises(ValueError, match="batches are on meta but the model is on cpu"):
        fit(ClassifierTask(model), meta_batches, steps=2, progress=False)


def test_classifier_task_rejects_a_non_module():
    with pytest.raises(TypeError, match="nn.Module"):
        ClassifierTask(lambda x: x)  # type: ignore[arg-type]


def test_classifier_task_rejects_a_non_positive_learning_rate():
    with pytest.raises(ValueError, match="lr must be positive"):
        ClassifierTask(CNNClassifier(width=4), lr=0)


def test_classifier_task_logs_detached_loss_and_accuracy(digits256):
    model = CNNClassifier(width=4)
    out = ClassifierTask(model).step(next(ResidentBatches(digits256, 16)), StepContext(torch.device("cpu"), None))
    assert set(out) == {"loss", "acc"}
    assert all(v.dim() == 0 and not v.requires_grad for v in out.values())
    assert 0.0 <= float(out["acc"]) <= 1.0


def test_step_context_update_applies_only_this_loss():
    p = nn.Parameter(torch.tensor([1.0]))
    p.grad = torch.tensor([100.0])  # stale gradient from elsewhere
    StepContext(torch.device("cpu"), None).update((3 * p).sum(), torch.optim.SGD([p], lr=1.0))
    assert p.item() == pytest.approx(-2.0)


def test_step_context_autocast_is_a_no_op_without_amp():
    with StepContext(torch.device("cpu"), None).autocast():
        assert not torch.is_autocast_enabled("cpu")


# ---------------------------------------------------------------- evaluate_accuracy

class AlwaysZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 2)


def test_evaluate_accuracy_is_the_fraction_correct_across_batches():
    labels = torch.tensor([0, 0, 1, 1, 0])
    assert evaluate_accuracy(AlwaysZero(), torch.zeros(5, 1, 2, 2), labels, batch_size=2) == pytest.approx(0.6)


def test_evaluate_accuracy_restores_training_mode():
    model = AlwaysZero().train()
    evaluate_accuracy(model, torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.long))
    assert model.training


@pytest.mark.parametrize("n_images, n_labels", [(5, 4), (0, 0)])
def test_evaluate_accuracy_rejects_mismatched_or_empty_inputs(n_images, n_labels):
    with pytest.raises(ValueError, match="non-empty and of equal length"):
        evaluate_accuracy(AlwaysZero(), torch.zeros(n_images, 1, 2, 2), torch.zeros(n_labels, dtype=torch.long))


# ---------------------------------------------------------------- History

def test_history_last_returns_the_latest_value():
    assert History([1, 2], {"loss": [3.0, 2.0]}).last("loss") == 2.0


def test_history_last_of_an_unknown_name_lists_the_logged_names():
    with pytest.raises(KeyError, match="'loss'"):
        History([1], {"loss": [1.0]}).last("acc")


def test_history_images_per_second_is_nan_before_any_time_passed():
    assert math.isnan(History().images_per_second)


def test_history_round_trips_through_its_state():
    h = History([5, 10], {"loss": [2.0, 1.0]}, seconds=3.5, images=160)
    back = History.from_state(h.to_state())
    assert (back.steps, back.values, back.seconds, back.images) == (h.steps, h.values, h.seconds, h.images)


def test_history_repr_summarises_the_run():
    text = repr(History([5, 10], {"loss": [2.0, 1.0]}, seconds=2.0, images=160, stopped_by="steps"))
    assert "10 steps" in text and "80 img/s" in text and "loss=1" in text and "stopped by steps" in text


# ---------------------------------------------------------------- hostile inputs to fit (named before any step)

def test_fit_trains_on_a_dataloader_pass_after_pass(digits256):
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(to_float(digits256.images[:32]), digits256.labels[:32]), batch_size=16)
    task = CountingTask()
    history = fit(task, loader, steps=5, log_every=5, progress=False)  # 2 batches per pass: 3 passes
    assert task.calls == 5 and history.stopped_by == "steps"
    assert fit(CountingTask(), loader, epochs=1.5, log_every=1, progress=False).steps[-1] == 3  # len(loader) = 2


def test_batches_that_run_out_stop_the_run_and_say_so(capsys):
    batches = iter([(torch.zeros(2, 1), torch.zeros(2))] * 3)
    history = fit(CountingTask(), batches, steps=10, log_every=5, progress=False)
    assert history.stopped_by == "data" and history.steps == [3]
    assert "the batches ran out at step 3 of 10" in capsys.readouterr().out


def test_fit_refuses_something_that_gives_no_batches():
    with pytest.raises(TypeError, match="fit draws batches with next\\(\\).* got int"):
        fit(CountingTask(), 3, steps=2, progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(checkpoint_every=0), ValueError, "checkpoint_every must be a positive integer .or None., got 0"),
    (dict(log_every=True), ValueError, "log_every must be a positive integer, got True"),
    (dict(max_seconds="10"), ValueError, "max_seconds must be positive .* got '10'"),
    (dict(seed=1.5), TypeError, "seed must be an int .* got 1.5"),
    (dict(callbacks=[print, 3]), TypeError, r"callbacks must be callables .* \['builtin_function_or_method', 'int'\]"),
])
def test_fit_names_a_bad_argument_before_any_step(kwargs, error, match):
    task = CountingTask()
    with pytest.raises(error, match=match):
        fit(task, dummy_batches(), steps=2, progress=False, **kwargs)
    assert task.calls == 0


def test_a_checkpoint_path_that_cannot_be_written_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    task = CountingTask()
    with pytest.raises(ValueError, match="cannot be written: .*a_file is not a writable folder"):
        fit(task, dummy_batches(), steps=2, checkpoint=blocker / "run.pt", progress=False)
    with pytest.raises(ValueError, match="checkpoint must be a file path .* got the folder"):
        fit(task, dummy_batches(), steps=2, checkpoint=tmp_path, progress=False)
    assert task.calls == 0


def test_resuming_a_checkpoint_past_the_asked_steps_is_refused(digits256, tmp_path):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256)
    fit(task, batches, steps=6, checkpoint=ckpt, progress=False)
    _, again, batches = tiny_run(digits256)
    with pytest.raises(ValueError, match="is at step 6, past steps=3: .* Pass steps >= 6, resume=False"):
        fit(again, batches, steps=3, checkpoint=ckpt, progress=False)


@pytest.mark.parametrize("edit, match", [
    (lambda s: s.pop("history"), r"lacks \['history'\]"),
    (lambda s: s.update(step="six"), "is damaged .ValueError"),
    (lambda s: s["history"].pop("values"), "is damaged .ValueError: its history or step"),
    (lambda s: s["optimizers"].update(model={"state": {}, "param_groups": []}), "does not fit this task"),
])
def test_a_hand_edited_checkpoint_is_refused_with_what_to_do(digits256, tmp_path, edit, match):
    ckpt = tmp_path / "run.pt"
    _, task, batches = tiny_run(digits256)
    fit(task, batches, steps=2, checkpoint=ckpt, progress=False)
    state = load_checkpoint(ckpt)
    edit(state)
    checkpoints.save_checkpoint(state, ckpt)
    _, again, batches = tiny_run(digits256)
    with pytest.raises(checkpoints.CheckpointError, match=match):
        fit(again, batches, steps=4, checkpoint=ckpt, progress=False)
