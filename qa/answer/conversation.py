"""A conversation with an ``Assistant``: its answers kept, so follow-ups know exactly where they quoted."""
from __future__ import annotations

from qa.answer.answers import Answer
from qa.answer.assistant import Assistant
from qa.answer.turns import turns_from_answers
from qa.retrieve.context import DEFAULT_WEIGHTS, ContextWeights


class Conversation:
    """A conversation with an ``Assistant`` that keeps its ``Answer`` objects, so follow-ups know exactly
    where the earlier answers quoted. ``reset()`` starts a new one."""

    def __init__(self, assistant: Assistant, weights: ContextWeights = DEFAULT_WEIGHTS) -> None:
        self.assistant = assistant
        self.weights = weights
        self.answers: list[Answer] = []

    def ask(self, question: str) -> Answer:
        """Answer ``question`` in the context of the earlier turns, and remember the answer."""
        text = self.assistant.check_question(question)
        if self.answers:
            answer = self.assistant.follow_up(text, turns_from_answers(self.answers), self.weights)
        else:
            answer = self.assistant.ask(text)
        self.answers.append(answer)
        return answer

    def reset(self) -> None:
        self.answers.clear()

    @property
    def last(self) -> Answer | None:
        return self.answers[-1] if self.answers else None

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation as chat messages, the form ``Assistant.ask(question, history)`` takes."""
        return [m for a in self.answers for m in ({"role": "user", "content": a.question},
                                                   {"role": "assistant", "content": a.text})]
