"""Grading of the multiple-choice readings that end some lessons (one letter per question)."""
from __future__ import annotations

from typing import Any, Mapping

from . import Wrong

__all__ = ["grade_letters", "print_questions"]


def print_questions(questions: Mapping[str, tuple[str, Mapping[str, str]]]) -> None:
    """Print each question of ``questions`` (``{key: (question, {letter: option})}``) with its options."""
    for key, (question, options) in questions.items():
        print(f"{key}: {question}")
        for letter, text in options.items():
            print(f"   ({letter}) {text}")
        print()


def grade_letters(answers: Any, questions: Mapping[str, tuple[str, Mapping[str, str]]], right: Mapping[str, str],
                  why: Mapping[tuple[str, str], str]) -> None:
    """Raise :class:`Wrong` unless ``answers`` (a dict, or a function returning it) gives ``right[k]`` for every
    key ``k`` of ``questions`` (``{k: (question, {letter: option})}``); a wrong letter's message is
    ``why[(k, letter)]``. An answer left as ``...`` raises ``NotImplementedError`` (the exercise not tried)."""
    if callable(answers):
        answers = answers()
    keys = list(questions)
    if not isinstance(answers, dict):
        raise Wrong(f"answers should be a dict with keys {keys}, each a letter such as 'a', got {type(answers).__name__}")
    missing = [k for k in keys if k not in answers]
    if missing:
        raise Wrong(f"answers is missing {missing}: give a letter for each of {keys}")
    if any(answers[k] is Ellipsis for k in keys):
        raise NotImplementedError
    wrong = []
    for k in keys:
        options = questions[k][1]
        a = answers[k]
        letter = a.strip().strip("()").lower() if isinstance(a, str) else None
        if letter not in options:
            raise Wrong(f"answers[{k!r}] should be one of the letters {', '.join(map(repr, options))}, got {a!r}")
        if letter != right[k]:
            wrong.append(f"{k}: ({letter}) is not it: {why[(k, letter)]}")
    if wrong:
        raise Wrong(f"{len(wrong)} of {len(keys)} wrong. " + " | ".join(wrong))
