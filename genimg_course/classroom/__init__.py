"""The classroom wing: the tools a teacher runs, apart from the course's machinery.

* :mod:`.cli` — the ``genimg`` command (also ``python -m genimg_course`` and
  ``python -m genimg_course.classroom``), which dispatches to the tools below.
* :mod:`.env` — ``genimg doctor``: is this machine ready for the course? the fix for each problem.
* :mod:`.prefetch` — ``genimg prefetch``: download and hash-verify datasets and checkpoints into a
  folder an offline lab can share.
* :mod:`.runner` — ``genimg run``: execute lessons with papermill under a profile; compute cards.
* :mod:`.bands` — a lesson's bands (``notebooks/bands/<lesson>.toml``) and the one check of its figures
  against them, used by ``genimg run`` and tests/test_notebooks.py.
* :mod:`.student` — ``genimg student``: student versions (solutions stubbed) and instructor versions.
* :mod:`.site` — ``genimg site``: a static HTML course from executed lessons, widgets offline.
* :mod:`.lessons` — where the lessons are and how a name such as ``05`` finds one.
* :mod:`.solutions` — the solution markers and :func:`~.solutions.strip_solutions`.

The machinery (``data``, ``models``, ``train``, ``metrics``, ``viz``, ``widgets``, ``checks`` …)
never imports this sub-package. Importing it loads no torch; a tool imports torch only where it
needs it (``doctor`` and ``prefetch`` check it, ``run --profile auto`` asks for CUDA).
"""
