"""checks: one printed line of feedback per exercise, never a traceback."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import time

import pytest

import genimg_course.checks as checks_pkg
from genimg_course.checks import BEGIN_SOLUTION, END_SOLUTION, CheckResult, Wrong, check, close, strip_solutions

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


# ---------------------------------------------------------------- strip_solutions

SOLVED = f"""import torch

def conv_output_size(n, k, p, s):
    \"\"\"Docs stay.\"\"\"
    {BEGIN_SOLUTION}
    size = (n + 2 * p - k) // s
    return size + 1
    {END_SOLUTION}

check_conv_output_size(conv_output_size)
"""


def test_strip_solutions_replaces_the_block_with_a_stub_at_the_same_indentation():
    stripped = strip_solutions(SOLVED)
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()\n" in stripped
    assert "size + 1" not in stripped and BEGIN_SOLUTION not in stripped and END_SOLUTION not in stripped


def test_strip_solutions_keeps_the_code_around_the_block():
    stripped = strip_solutions(SOLVED)
    assert stripped.startswith('import torch\n\ndef conv_output_size(n, k, p, s):\n    """Docs stay."""\n')
    assert stripped.endswith("\ncheck_conv_output_size(conv_output_size)\n")


def test_stripped_code_compiles_and_raises_not_implemented():
    namespace: dict = {"check_conv_output_size": lambda fn: None}
    exec(strip_solutions(SOLVED), namespace)
    with pytest.raises(NotImplementedError):
        namespace["conv_output_size"](28, 3, 1, 1)


def test_strip_solutions_handles_several_blocks_and_a_block_at_the_end():
    src = f"{BEGIN_SOLUTION}\nx = 1\n{END_SOLUTION}\ny = 2\nif y:\n\t{BEGIN_SOLUTION}\n\tz = 3\n\t{END_SOLUTION}"
    assert strip_solutions(src) == ("# YOUR CODE HERE\nraise NotImplementedError()\ny = 2\nif y:\n"
                                    "\t# YOUR CODE HERE\n\traise NotImplementedError()")


def test_strip_solutions_leaves_code_without_markers_unchanged():
    assert strip_solutions("x = 1\n") == "x = 1\n"


@pytest.mark.parametrize("src", [f"{BEGIN_SOLUTION}\nx = 1\n", f"x = 1\n{END_SOLUTION}\n",
                                 f"{BEGIN_SOLUTION}\n{BEGIN_SOLUTION}\n{END_SOLUTION}\n"])
def test_strip_solutions_refuses_unbalanced_markers(src):
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions(src)


def test_strip_solutions_refuses_markers_in_the_wrong_order():
    with pytest.raises(ValueError):
        strip_solutions(f"{END_SOLUTION}\nsecret = 42\n{BEGIN_SOLUTION}\n")


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
