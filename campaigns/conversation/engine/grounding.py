"""Which knowledge passages a reply was answered from, for the transcript.

The scripted engine knows exactly: it says the best passage's sentences or none. A model is given
every passage retrieved for the turn and says what it likes, so for the LLM engine a passage
counts as used when the reply repeats at least one of its meaningful words (stop words left out,
crudely stemmed: `content_terms`) that the callee did not say themselves. "We open at
nine" draws on "We are open at nine on Saturdays" when asked "Are you open on Saturday?" (nine);
"A colleague will follow up on Saturday hours" draws on nothing.
"""

from ..knowledge_text import content_terms, passage_body
from .base import Passage


def passages_drawn_on(reply: str, passages: list[Passage], *, heard: str, language: str) -> list[Passage]:
    """The passages (in their order) whose meaningful words the reply repeats, besides the callee's own."""
    if not reply or not passages:
        return []
    said = content_terms(reply, language=language) - content_terms(heard, language=language)
    if not said:
        return []
    return [p for p in passages if said & content_terms(passage_body(p.text), language=language)]
