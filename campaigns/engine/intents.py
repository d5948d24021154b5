"""Phrases every engine must act on, whatever else it does."""

import re

STOP_CALLING = re.compile(
    r"\b(stop calling|don'?t call|do not call|never call|remove me|take me off|unsubscribe|"
    r"no (more )?calls|put me on (your|the) do[- ]not[- ]call|"
    r"deja de llamar|no me llame|ne m'appelez plus|nicht mehr anrufen)\b",
    re.IGNORECASE,
)
NOT_INTERESTED = re.compile(
    r"\b(not interested|no thanks|no thank you|not for me|we'?re fine|no interest|no me interesa|pas intéressé)\b",
    re.IGNORECASE,
)
CALL_LATER = re.compile(
    r"\b(call (me )?(back )?later|call me back|bad time|in a meeting|busy right now|another time|"
    r"call (me )?tomorrow)\b",
    re.IGNORECASE,
)
WANTS_PERSON = re.compile(
    r"\b((speak|talk) (to|with) (a |an |the |some)?(one|real person|person|human|agent|representative|manager)|"
    r"real person|an operator|transfer me|hablar con una persona|parler à quelqu'un)\b",
    re.IGNORECASE,
)
WORDS = re.compile(r"[a-z0-9']+")


def wants_no_more_calls(speech: str) -> bool:
    return bool(STOP_CALLING.search(speech))


def is_not_interested(speech: str) -> bool:
    return bool(NOT_INTERESTED.search(speech))


def wants_call_later(speech: str) -> bool:
    return bool(CALL_LATER.search(speech))


def wants_a_person(speech: str) -> bool:
    return bool(WANTS_PERSON.search(speech))


def words(text: str) -> set[str]:
    return set(WORDS.findall(text.lower()))
