"""checks: one printed line of feedback per exercise, never a traceback."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import time

import pytest

import genimg_course.checks as checks_pkg
from genimg_course.checks import CheckResult, Wrong, check, close

pytestmark = pytest.mark.usefixtures("isolated")


@check
def check_double(fn):
    got = fn(2)
    if got != 4:
        raise Wrong(f"double(2) should be 4, got {got!r}: multiply by 2")
    return "double works"


@check
def check_silent(answer):
    if answer != 1:
        raise Wrong("expected 1")


def learner_divides_by_zero(x):
    return x / 0


# ---------------------------------------------------------------- the decorator

def test_a_right_answer_prints_a_tick_and_the_note(capsys):
    result = check_double(lambda x: 2 * x)
    assert result.passed and result.message == "✓ double works"
    assert capsys.readouterr().out == "✓ double works\n"


def test_a_check_without_a_note_says_correct():
    assert check_silent(1).message == "✓ Correct!"


def test_a_wrong_answer_prints_a_cross_and_the_hint(capsys):
    result = check_double(lambda x: x + 1)
    assert not result.passed
    assert result.message == "✗ double(2) should be 4, got 3: multiply by 2"
    assert capsys.readouterr().out == result.message + "\n"


def test_ellipsis_is_not_answered():
    result = check_double(...)
    assert not result.passed and "Not answered" in result.message


def test_calling_a_check_without_an_answer_is_not_answered():
    assert "Not answered" in check_double().message


def test_not_implemented_error_is_not_answered():
    def stub(x):
        raise NotImplementedError()

    result = check_double(stub)
    assert not result.passed and "Not answered" in result.message


def test_an_exception_in_learner_code_names_its_type_and_line_without_a_traceback(capsys):
    result = check_double(learner_divides_by_zero)
    assert not result.passed
    assert "ZeroDivisionError: division by zero" in result.message
    assert "test_checks.py" in result.message and "return x / 0" in result.message  # where it happened
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.out.count("\n") == 1


def test_an_exception_with_an_empty_message_still_names_its_type():
    def raises_value_error(x):
        raise ValueError()

    assert "Your code raised ValueError" in check_double(raises_value_error).message


def test_check_keeps_the_checks_name_and_docstring():
    @check
    def check_named(answer):
        """Docs."""

    assert check_named.__name__ == "check_named" and check_named.__doc__ == "Docs."


def test_check_result_is_truthy_only_when_passed():
    assert CheckResult(True, "✓ ok")
    assert not CheckResult(False, "✗ no")


def test_check_result_repr_is_its_message():
    assert repr(CheckResult(False, "✗ no")) == "✗ no"


def test_close_accepts_relative_and_absolute_tolerance():
    assert close(1.0, 1.00001)
    assert close(0.0, 1e-7)
    assert not close(1.0, 1.01)


# ---------------------------------------------------------------- every lesson's checks

def _lesson_checks():
    found = []
    for info in pkgutil.iter_modules(checks_pkg.__path__):
        if not info.name.startswith("lesson"):
            continue
        module = importlib.import_module(f"{checks_pkg.__name__}.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("check_") and fn.__module__ == module.__name__:
                found.append(pytest.param(fn, id=f"{info.name}.{name}"))
    return found


LESSON_CHECKS = _lesson_checks()


def test_the_lesson_checks_are_discovered():
    assert LESSON_CHECKS, "no check_* functions found in genimg_course/checks/lesson*.py"


@pytest.mark.parametrize("fn", LESSON_CHECKS)
def test_every_lesson_check_says_not_answered_for_ellipsis(fn, capsys):
    t0 = time.perf_counter()
    result = fn(...)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(result, CheckResult) and not result
    assert "Not answered" in result.message
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("fn", LESSON_CHECKS)
def test_every_lesson_check_says_not_answered_for_a_stub_that_raises(fn, capsys):
    calls = []

    def stub(*args, **kwargs):
        calls.append(args)
        raise NotImplementedError()

    t0 = time.perf_counter()
    result = fn(stub)  # must not raise, whatever the check expects
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(result, CheckResult) and not result
    if calls:  # the check ran the learner's stub: that is an unanswered exercise
        assert "Not answered" in result.message
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
