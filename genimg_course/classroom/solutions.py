"""Solution blocks in the lessons, and the student version of a cell's source.

Solutions in the notebooks sit between nbgrader's markers; :func:`strip_solutions` replaces each
marked block with nbgrader's stub ``raise NotImplementedError()`` (``genimg student`` uses it to name an
unbalanced marker by line; the release itself follows nbgrader's own rules, in
:func:`genimg_course.classroom.grading.release_version`)::

    def conv_output_size(n, k, p, s):
        ### BEGIN SOLUTION
        return (n + 2 * p - k) // s + 1
        ### END SOLUTION
"""
from __future__ import annotations

__all__ = ["BEGIN_SOLUTION", "END_SOLUTION", "strip_solutions"]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"


def strip_solutions(source: str) -> str:
    """Replace every marked solution block with ``raise NotImplementedError()`` (nbgrader's stub),
    keeping its indentation. Raises ``ValueError`` naming the line of a stray, nested or unclosed marker
    (and ``TypeError`` when ``source`` is not a str)."""
    if not isinstance(source, str):
        from .lessons import BadType, got

        raise BadType(f"strip_solutions: expected a cell's source as a str, got {got(source)}")
    out: list[str] = []
    begin_line = 0
    indent = ""
    for n, line in enumerate(source.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker.startswith(BEGIN_SOLUTION):
            if begin_line:
                raise ValueError(f"unbalanced solution markers: line {n}: '{BEGIN_SOLUTION}' inside the block opened on line {begin_line}")
            begin_line, indent = n, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n")
        elif marker.startswith(END_SOLUTION):
            if not begin_line:
                raise ValueError(f"unbalanced solution markers: line {n}: '{END_SOLUTION}' without a '{BEGIN_SOLUTION}' before it")
            begin_line = 0
        elif not begin_line:
            out.append(line)
    if begin_line:
        raise ValueError(f"unbalanced solution markers: line {begin_line}: '{BEGIN_SOLUTION}' is never closed by '{END_SOLUTION}'")
    text = "".join(out)
    return text if source.endswith("\n") or not text.endswith("\n") else text[:-1]
