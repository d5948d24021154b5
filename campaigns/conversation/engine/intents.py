"""Phrases every engine must act on, whatever else it does, in every agent language."""

import re

# Speech-to-text writes either apostrophe.
_A = "['’]"
STOP_CALLING = re.compile(
    r"\b("
    # English
    rf"stop calling|don{_A}?t (ever )?call|do not call|never call|remove me|take me off|unsubscribe|"
    rf"no (more )?calls|put me on (your|the) do[- ]not[- ]call|lose my number|delete my number|"
    # Spanish
    r"dej(a|e|en) de llamar(me|nos)?|no me (vuelva[ns]? a )?llam(e|en|es|ar)|no vuelva[ns]? a llamar(me|nos)?|"
    r"no quiero que me (vuelvan a )?llam(e|en)|no quiero m[aá]s llamadas|b[oó]rre(me|nme)|"
    r"qu[ií]t(eme|enme) de (su|la|sus|esta) lista|"
    # French
    rf"ne m{_A}appelez (plus|jamais)|ne me rappelez (plus|jamais|pas)|arr[eê]tez de m{_A}appeler|"
    rf"retirez[- ]moi|supprimez mon num[eé]ro|plus d{_A}appels?|ne plus [eê]tre appel[eé]|"
    # German
    r"nicht mehr anrufen|nie wieder anrufen|rufen sie (mich |uns )?(nicht mehr|nie wieder) an|"
    r"h[oö]ren sie auf,? (mich|uns) anzurufen|keine anrufe mehr|l[oö]schen sie meine nummer|"
    r"streichen sie mich|nehmen sie mich (von|aus) (der|ihrer) liste"
    r")\b",
    re.IGNORECASE,
)
NOT_INTERESTED = re.compile(
    r"\b(not interested|no thanks|no thank you|not for me|we'?re fine|no interest|"
    r"no me interesa|no estoy interesad[oa]|"
    r"pas intéressée?|ça ne m['’]intéresse pas|"
    r"kein interesse|nicht interessiert)\b",
    re.IGNORECASE,
)
CALL_LATER = re.compile(
    r"\b(call (me )?(back )?later|call me back|bad time|in a meeting|busy right now|another time|"
    r"call (me )?tomorrow|"
    r"ll[aá]me(me)? (m[aá]s tarde|mañana|luego)|ahora no puedo|"
    r"rappelez[- ]moi|pas le bon moment|"
    r"rufen sie (mich )?(später|morgen) (noch ?mal |wieder )?an|später anrufen|gerade keine zeit)\b",
    re.IGNORECASE,
)
WANTS_PERSON = re.compile(
    r"\b((speak|talk) (to|with) (a |an |the |some)?(one|real person|person|human|agent|representative|manager)|"
    r"real person|an operator|transfer me|hablar con una persona|parler à quelqu'un|"
    r"mit einem menschen sprechen)\b",
    re.IGNORECASE,
)
WORDS = re.compile(r"[a-z0-9']+")
_PUNCTUATION = re.compile(r"[^\w'\s]+")


def wants_no_more_calls(speech: str) -> bool:
    return bool(STOP_CALLING.search(speech or ""))


def is_not_interested(speech: str) -> bool:
    return bool(NOT_INTERESTED.search(speech or ""))


def wants_call_later(speech: str) -> bool:
    return bool(CALL_LATER.search(speech or ""))


def wants_a_person(speech: str) -> bool:
    return bool(WANTS_PERSON.search(speech or ""))


def words(text: str) -> set[str]:
    return set(WORDS.findall(text.lower()))


def _plain(text: str) -> str:
    """Lower case, one apostrophe, punctuation as spaces, single spaces: what matching compares."""
    text = (text or "").lower().replace("’", "'")
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def end_call_phrases(text: str) -> list[str]:
    """The agent's end-call phrases (one per line), ready to match."""
    phrases = []
    for raw in (text or "").splitlines():
        phrase = _plain(raw)
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return phrases


def said_end_call_phrase(speech: str, phrases_text: str) -> str:
    """The end-call phrase the callee said, as whole words anywhere in `speech`
    ("bye" matches "okay, bye now" but not "bygones"); "" when none."""
    heard = f" {_plain(speech)} "
    for phrase in end_call_phrases(phrases_text):
        if f" {phrase} " in heard:
            return phrase
    return ""
