"""Exercise checks: instant, specific feedback, never a traceback from inside the package.

A lesson's check is a plain function decorated with :func:`check`. It raises :class:`Wrong` with
a hint that says *what* is wrong; the decorator turns that, an unanswered exercise (``...`` or
``NotImplementedError``) and any exception raised by the learner's code into one printed line
(``✓ …`` or ``✗ …``) and returns a :class:`CheckResult` (truthy when passed).

For autograding, every top-level check call is also recorded: :func:`assert_passed`, which the hidden
test of each nbgrader test cell calls (see :mod:`genimg_course.classroom.grading`), raises
``AssertionError`` with the hint when the last check(s) failed. A learner never sees it.

Learner feedback only: the solution markers in the notebooks and the student versions made from
them belong to the classroom tools (``genimg student``, :mod:`genimg_course.classroom.solutions`).
"""
from __future__ import annotations

import functools
import inspect
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["CheckResult", "Wrong", "check", "close", "expect_signature", "as_int", "assert_passed"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


class Wrong(Exception):
    """Raised by a check with the hint to show the learner."""


@dataclass
class CheckResult:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:  # already printed; show nothing twice in a notebook
        pass


NOT_ANSWERED = ("Not answered yet: replace the `...` / `raise NotImplementedError()` with your code, "
                "run that cell, then run this check again.")


def _where(exc: BaseException) -> str:
    """The last traceback frame outside this package: the learner's own line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_PACKAGE_DIR)]
    if not frames:
        return ""
    f = frames[-1]
    line = f" `{f.line.strip()}`" if f.line else ""
    place = "your cell" if f.filename.startswith("<ipython-input") or "ipykernel" in f.filename else Path(f.filename).name
    return f" (in {place}, line {f.lineno}{line})"


def check(fn: Callable[..., str | None]) -> Callable[..., CheckResult]:
    """Decorate a check: ``fn(answer, ...)`` returns a success note or raises :class:`Wrong`."""

    @functools.wraps(fn)
    def wrapper(answer: Any = ..., *args: Any, **kwargs: Any) -> CheckResult:
        global _depth
        _depth += 1
        try:
            result = _run(answer, args, kwargs)
        finally:
            _depth -= 1
        if _depth == 0:  # a check another check calls is not the learner's result
            _results.append(result)
            del _results[:-_KEEP]
        return result

    def _run(answer: Any, args: tuple, kwargs: dict) -> CheckResult:
        if answer is Ellipsis:
            return _report(False, NOT_ANSWERED)
        try:
            note = fn(answer, *args, **kwargs)
        except Wrong as w:
            return _report(False, str(w))
        except NotImplementedError:
            return _report(False, NOT_ANSWERED)
        except Exception as e:  # the learner's code raised: say what and where, no traceback
            msg = str(e).splitlines()[0] if str(e) else ""
            return _report(False, f"Your code raised {type(e).__name__}: {msg}{_where(e)}")
        return _report(True, note or "Correct!")

    return wrapper


_results: list[CheckResult] = []
_depth = 0
_KEEP = 64


def assert_passed(n: int = 1) -> None:
    """Raise ``AssertionError`` with the hint(s) unless the last ``n`` top-level check calls passed (the
    hidden test of an autograded cell). Forgets the results it looked at."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"assert_passed: expected the number of checks (an int >= 1), got {type(n).__name__} {n!r}")
    last = _results[-n:]
    del _results[:]
    if len(last) < n:
        raise AssertionError(f"expected {n} check result(s) from the line(s) above, got {len(last)}: "
                             "a check did not run")
    failed = [r.message for r in last if not r.passed]
    if failed:
        raise AssertionError("\n".join(failed))


def _report(passed: bool, message: str) -> CheckResult:
    text = ("✓ " if passed else "✗ ") + message
    print(text)
    return CheckResult(passed, text)


def expect_signature(fn: Any, name: str, signature: str, *args: Any, **kwargs: Any) -> None:
    """Raise :class:`Wrong` naming the expected signature when the learner's ``fn`` is not a
    function or cannot take ``args`` / ``kwargs``."""
    if not callable(fn):
        raise Wrong(f"expected a function {name}{signature}, got {type(fn).__name__}")
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        raise Wrong(f"{name} must accept {signature}: {e}") from None
    except ValueError:  # builtins without a signature: just try them
        pass


def as_int(value: Any, what: str) -> int:
    """The learner's size or count as an int (a 1-element tensor is accepted); a float — even a
    whole one — is a hint about ``//``, not a pass."""
    if hasattr(value, "numel") and hasattr(value, "item") and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Wrong(f"{what} should be an int, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if value.is_integer():
            raise Wrong(f"{what} is the float {value!r}: a size is a whole number of pixels; "
                        "use floor division `//` (or int()) so it is an int")
        raise Wrong(f"{what} is {value!r}, not a whole number of pixels: use floor division `//`")
    return int(value)


def close(got: float, expected: float, rel: float = 1e-4, abs_: float = 1e-6) -> bool:
    """``True`` when two numbers agree to a relative or absolute tolerance."""
    values = []
    for name, v in (("got", got), ("expected", expected), ("rel", rel), ("abs_", abs_)):
        if hasattr(v, "numel") and hasattr(v, "item") and v.numel() == 1:
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"close: {name} must be a number, got {type(v).__name__} {v!r}"[:200])
        values.append(float(v))
    if values[2] < 0 or values[3] < 0:
        raise ValueError(f"close: the tolerances must be >= 0, got rel={rel!r}, abs_={abs_!r}")
    return math.isclose(values[0], values[1], rel_tol=values[2], abs_tol=values[3])

