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
