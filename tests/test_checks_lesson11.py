"""Lesson 11's FAQ quiz: the article's seven questions, the right letters pass, every wrong letter gets its
explanation (with a place in the course to look), an unanswered quiz says so, and malformed answers are named."""
from __future__ import annotations

import re

import pytest

from genimg_course.checks import lesson11
from genimg_course.checks.lesson11 import FAQ_QUESTIONS, check_faq, show_faq_questions

RIGHT = {"Q1": "b", "Q2": "d", "Q3": "a", "Q4": "c", "Q5": "b", "Q6": "d", "Q7": "a"}
WRONG = [(k, a) for k, (_, options) in FAQ_QUESTIONS.items() for a in options if a != RIGHT[k]]
# where a wrong option's explanation may send the learner: a lesson, a docs page, or this lesson's own runs
PLACE = re.compile(r"lesson \d\d|docs/\w+\.md|this lesson")


def test_the_quiz_has_the_article_s_seven_questions_with_four_options_each():
    assert list(FAQ_QUESTIONS) == [f"Q{i}" for i in range(1, 8)]
    for key, (question, options) in FAQ_QUESTIONS.items():
        assert question.endswith("?") and sorted(options) == ["a", "b", "c", "d"], key
    assert lesson11._FAQ_RIGHT == RIGHT


def test_the_right_answers_pass():
    r = check_faq(RIGHT)
    assert r and r.message.startswith("✓") and "all seven right" in r.message


def test_letters_in_any_case_with_brackets_and_a_function_pass():
    assert check_faq({k: f" ({v.upper()}) " for k, v in RIGHT.items()})
    assert check_faq(lambda: dict(RIGHT))


def test_every_wrong_option_is_explained():
    assert set(lesson11._FAQ_WHY) == set(WRONG)


@pytest.mark.parametrize("key, letter", WRONG, ids=[f"{k}{a}" for k, a in WRONG])
def test_each_wrong_letter_gets_its_why_and_a_place_to_look(key, letter):
    why = lesson11._FAQ_WHY[(key, letter)]
    assert PLACE.search(why), f"{key} ({letter}): the explanation names no place in the course: {why!r}"
    r = check_faq({**RIGHT, key: letter})
    assert not r and "1 of 7 wrong" in r.message and f"{key}: ({letter}) is not it: {why}" in r.message


def test_two_wrong_answers_are_both_named():
    r = check_faq({**RIGHT, "Q1": "a", "Q7": "b"})
    assert not r and "2 of 7 wrong" in r.message
    assert lesson11._FAQ_WHY[("Q1", "a")] in r.message and lesson11._FAQ_WHY[("Q7", "b")] in r.message


def test_q1_s_premise_is_refused_and_q6_q7_rest_on_evidence():
    assert "premise is false" in FAQ_QUESTIONS["Q1"][1][RIGHT["Q1"]]
    assert "real and generated" in FAQ_QUESTIONS["Q6"][1][RIGHT["Q6"]]
    assert "Not always" in FAQ_QUESTIONS["Q7"][1][RIGHT["Q7"]]
    assert not re.search(r"\d", FAQ_QUESTIONS["Q6"][1][RIGHT["Q6"]])  # no number the lesson has not measured


@pytest.mark.parametrize("answers", [..., {k: ... for k in RIGHT}, {**RIGHT, "Q4": ...}], ids=["ellipsis", "all", "one"])
def test_an_unanswered_quiz_is_not_tried(answers):
    r = check_faq(answers)
    assert not r and "Not answered" in r.message


def test_a_function_that_raises_not_implemented_is_not_tried():
    def answers():
        raise NotImplementedError()

    r = check_faq(answers)
    assert not r and "Not answered" in r.message


@pytest.mark.parametrize("answers, words", [
    (["b", "d", "a", "c", "b", "d", "a"], "answers should be a dict with keys ['Q1', 'Q2', 'Q3', 'Q4', 'Q5', 'Q6', 'Q7']"),
    ("bdacbda", "answers should be a dict"),
    ({k: v for k, v in RIGHT.items() if k != "Q6"}, "answers is missing ['Q6']"),
    ({k.lower(): v for k, v in RIGHT.items()}, "answers is missing ['Q1', 'Q2', 'Q3', 'Q4', 'Q5', 'Q6', 'Q7']"),
    ({**RIGHT, "Q2": "e"}, "answers['Q2'] should be one of the letters 'a', 'b', 'c', 'd', got 'e'"),
    ({**RIGHT, "Q3": 1}, "answers['Q3'] should be one of the letters 'a', 'b', 'c', 'd', got 1"),
    ({**RIGHT, "Q5": "b and d"}, "answers['Q5'] should be one of the letters"),
], ids=["list", "string", "missing", "lowercase-keys", "bad-letter", "number", "two-letters"])
def test_malformed_answers_are_named(answers, words, capsys):
    r = check_faq(answers)
    assert not r and words in r.message
    assert "Traceback" not in capsys.readouterr().out


def test_show_faq_questions_prints_every_option(capsys):
    show_faq_questions()
    out = capsys.readouterr().out
    for key, (question, options) in FAQ_QUESTIONS.items():
        assert f"{key}: {question}" in out and all(f"({a}) {t}" in out for a, t in options.items())


# ---------------------------------------------------------------- the code exercises

import torch  # noqa: E402

from genimg_course import metrics, robust  # noqa: E402
from genimg_course.checks.lesson11 import check_fgsm, check_precision_recall, check_translate  # noqa: E402


def _grad(loss_fn, x):
    x_ = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x_), x_)
    return g


def test_fgsm_the_package_s_passes_and_unanswered_does_not():
    assert check_fgsm(robust.fgsm)
    assert not check_fgsm(...)

    def todo(loss_fn, x, eps):
        raise NotImplementedError

    assert "Not answered" in check_fgsm(todo).message


@pytest.mark.parametrize("slip, hint", [
    (lambda l, x, e: x + e * _grad(l, x).sign(), "did not clamp"),
    (lambda l, x, e: (x - e * _grad(l, x).sign()).clamp(-1, 1), "stepped down"),
    (lambda l, x, e: (x + e * _grad(l, x)).clamp(-1, 1), "not its sign"),
    (lambda l, x, e: e * _grad(l, x).sign(), "perturbation alone"),
    (lambda l, x, e: (x + e * x.sign()).clamp(-1, 1), "sign of x"),
    (lambda l, x, e: x[:2], "shape"),
    (lambda l, x, e: None, "returned None"),
])
def test_fgsm_slips_are_named(slip, hint):
    r = check_fgsm(slip)
    assert not r and hint in r.message, r.message


def test_fgsm_that_changes_its_input_or_keeps_a_graph_is_refused():
    def in_place(loss_fn, x, eps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(x), x)
        return (x + eps * g.sign()).clamp(-1, 1)

    assert "changed its input" in check_fgsm(in_place).message

    def graph(loss_fn, x, eps):
        x_ = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(x_), x_)
        return (x_ + eps * g.sign()).clamp(-1, 1)

    assert "carries a graph" in check_fgsm(graph).message


def test_precision_recall_the_package_s_passes():
    assert check_precision_recall(metrics.precision_recall)
    assert not check_precision_recall(...)


def _pr(k_shift=0, swap=False, fake_free=False):
    def fn(real, fake, k):
        def radii(x):
            return torch.cdist(x, x).kthvalue(k + 1 - k_shift, dim=1).values

        def covered(p, c, rad):
            return float((torch.cdist(p, c) <= rad[None, :]).any(1).double().mean())

        f = real if fake_free else fake
        p, r = covered(f, real, radii(real)), covered(real, fake, radii(fake))
        return (r, p) if swap else (p, r)
    return fn


@pytest.mark.parametrize("slip, hint", [
    (_pr(swap=True), "swapped"),
    (_pr(k_shift=1), "kthvalue(k + 1)"),
    (_pr(fake_free=True), "does not depend on the fakes"),
    (lambda r, f, k: 0.5, "two numbers"),
    (lambda r, f, k: ("a", "b"), "should be a number"),
])
def test_precision_recall_slips_are_named(slip, hint):
    r = check_precision_recall(slip)
    assert not r and hint in r.message, r.message


def _translate(x, tx, ty, fill):
    b, c, h, w = x.shape
    rows, cols = torch.arange(h) - ty[:, None], torch.arange(w) - tx[:, None]
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
    return torch.where(inside, out, torch.full_like(out, fill))


def test_translate_a_right_answer_passes_and_matches_the_package_s_translation():
    assert check_translate(_translate)
    from genimg_course.gan import _translation
    x = torch.randn(6, 1, 28, 28)
    g = torch.Generator().manual_seed(3)
    shifted = _translation(x, g, 0.0)
    g = torch.Generator().manual_seed(3)
    ty, tx = torch.randint(-4, 5, (6, 1), generator=g).flatten(), torch.randint(-4, 5, (6, 1), generator=g).flatten()
    assert torch.equal(_translate(x, tx, ty, 0.0), shifted)


@pytest.mark.parametrize("slip, hint", [
    (lambda x, tx, ty, f: torch.stack([x[n].roll((int(ty[n]), int(tx[n])), (-2, -1)) for n in range(x.shape[0])]),
     "torch.roll"),
    (lambda x, tx, ty, f: _translate(x, -tx, -ty, f), "wrong way"),
    (lambda x, tx, ty, f: _translate(x, ty, tx, f), "swapped"),
    (lambda x, tx, ty, f: _translate(x, tx, ty, 0.0), "fill is the wrong value"),
    (lambda x, tx, ty, f: _translate(x.detach(), tx, ty, f), "no gradient"),
    (lambda x, tx, ty, f: x[:, :, :5], "keep x's shape"),
])
def test_translate_slips_are_named(slip, hint):
    r = check_translate(slip)
    assert not r and hint in r.message, r.message


def test_the_lesson_has_at_least_four_exercises_each_with_its_check():
    from pathlib import Path

    import nbformat

    from genimg_course.classroom.solutions import BEGIN_SOLUTION

    nb = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "11_future.ipynb", as_version=4)
    exercises = [c.source for c in nb.cells if c.cell_type == "code" and BEGIN_SOLUTION in c.source]
    assert len(exercises) >= 4
    assert all("check_" in src for src in exercises), "every exercise cell ends with its check"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for reused in ("fgsm if fgsm_answer", "precision_recall if pr_answer", "your_diff_augment if translate_answer"):
        assert reused in code, f"the learner's code is used by a later cell: {reused!r}"
