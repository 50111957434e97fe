"""Solution stripping (genimg_course.classroom.solutions): each marked block becomes nbgrader's stub."""
from __future__ import annotations

import pytest

from genimg_course.classroom.solutions import BEGIN_SOLUTION, END_SOLUTION, strip_solutions

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
