"""The offline engine: opening line, the script's questions in order, FAQ answers, closing line.
A question the FAQ does not cover is answered from the knowledge base when a passage matches.
One of the agent's end-call phrases ends the call politely (see `end_call_outcome`). Answers are
recorded under the question, or under the matching capture field when the agent defines exactly
one per question.

An answer is only ever recorded against the question the callee was just asked, and a question of
the callee's is never recorded as an answer: after an answered question (FAQ or knowledge) the
open question is asked again; one nobody can answer gets an honest "I don't have the answer" and
the open question again; a second one while the same question is open moves the script on,
recording nothing for it, so a callee who only asks questions is never stuck in a loop. A
proposal put as a question ("How about Tuesday?", "Would ten work?") is an answer.

State kept between turns: `question` (index of the question awaiting an answer), `silences` and
`unanswered` (the index of the question during which the callee asked one nobody could answer).
"""

import re

from ..knowledge_text import passage_answer
from . import intents, wording
from .base import ConversationContext, ConversationEngine, Reply
from .spec import agent_capture_fields, success_outcome

# The English lines (tests and the other engine compare against them); other agent languages
# get theirs from wording.LINES.
GOODBYE_DNC = wording.line("dnc")
GOODBYE_NOT_INTERESTED = wording.line("not_interested")
GOODBYE_LATER = wording.line("later")
GOODBYE_SILENT = wording.line("silent")
GOODBYE_END = wording.line("goodbye")
REPEAT = wording.line("repeat")
TRANSFERRING = wording.line("transferring")
NO_TRANSFER = wording.line("no_transfer")


def parse_questions(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_answers(text: str) -> list[tuple[set[str], str]]:
    """'keywords | answer' lines -> [(keyword set, answer)]; lines without '|' are ignored."""
    pairs = []
    for line in (text or "").splitlines():
        if "|" not in line:
            continue
        keys, answer = line.split("|", 1)
        keywords = {k.strip().lower() for k in keys.split(",") if k.strip()}
        if keywords and answer.strip():
            pairs.append((keywords, answer.strip()))
    return pairs


def match_answer(agent, speech: str) -> str:
    heard = intents.words(speech)
    lowered = speech.lower()
    for keywords, answer in parse_answers(agent.answers):
        if any((k in heard) if " " not in k else (k in lowered) for k in keywords):
            return answer
    return ""


# First words of a question in the agent languages ("?" marks one in any language). Words that
# also start everyday answers ("puede ser", "kann ich machen") are left out.
_QUESTION_WORDS = (
    "what what's whats how how's when where where's who who's whom whose why which can could do does did is are "
    "was were will would should may any "
    "qué cómo cuándo dónde adónde quién quiénes cuál cuáles cuánto cuánta cuántos cuántas pueden tienen aceptan "
    "quel quelle quels quelles quand où comment combien pourquoi qui qu'est qu'est-ce est-ce pouvez avez "
    "wie wann wo wer wen wem warum wieso welche welcher welches welchen können gibt ist sind"
)
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
# Said before a question without changing it: "So, where do I park?"
_FILLERS = (
    "so and but um uh erm hmm oh ok okay well also sorry excuse me hey hi hello yes yeah right actually just "
    "y pero bueno oye perdón vale pues entonces sí et mais alors bon euh pardon oui und aber äh ähm ja gut"
)
FILLERS = frozenset(_FILLERS.split())
SPOKEN_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def looks_like_question(speech: str) -> bool:
    """A '?' anywhere, or a question word first (after fillers such as "so", "um", "pero")."""
    if "?" in speech:
        return True
    words = [w.lower().replace("’", "'") for w in SPOKEN_WORD.findall(speech)]
    while words and words[0] in FILLERS and len(words) > 1:
        words.pop(0)
    return bool(words) and words[0] in QUESTION_WORDS


# A suggestion put as a question answers the agent's question: "how about Tuesday?", "would ten
# work?", "is Friday ok?".
_PROPOSAL_STARTS = frozenset(["would", "could", "does", "will", "is"])
_PROPOSAL_ENDS = frozenset(["work", "works", "suit", "suits", "do", "okay", "ok", "fine", "good", "alright"])


def looks_like_proposal(speech: str) -> bool:
    words = [w.lower().replace("’", "'") for w in SPOKEN_WORD.findall(speech)]
    while words and words[0] in FILLERS and len(words) > 1:
        words.pop(0)
    if words[:2] == ["how", "about"] and len(words) > 2:
        return True
    return len(words) > 2 and words[0] in _PROPOSAL_STARTS and words[-1] in _PROPOSAL_ENDS


def asks_something(speech: str) -> bool:
    """The callee asks a question of their own (rather than answering the agent's)."""
    return looks_like_question(speech) and not looks_like_proposal(speech)


def knowledge_answer(ctx: ConversationContext, speech: str) -> str:
    """The sentence(s) of the best knowledge passage that answer a question the FAQ did not.
    Leaves in `ctx.knowledge` only that passage when it answered, else none."""
    retrieved, ctx.knowledge = ctx.knowledge, []
    if not retrieved or not asks_something(speech):
        return ""
    answer = passage_answer(retrieved[0].text, speech, language=ctx.agent.language)
    if answer:
        ctx.knowledge = retrieved[:1]
    return answer


def capture_name(agent, index: int, question: str) -> str:
    """Where the answer to the `index`-th question is recorded: the agent's `index`-th capture
    field when it defines exactly one per question (so both engines fill the same fields),
    else the question itself."""
    fields = agent_capture_fields(agent)
    if fields and len(fields) == len(parse_questions(agent.questions)):
        return fields[index]["name"]
    return question


def end_call_outcome(ctx: ConversationContext, speech: str) -> str:
    """The outcome of a call the callee ended with one of the agent's end-call phrases: a refusal
    or a put-off heard in the same words counts as such; otherwise the outcome already recorded
    on this call stays, and a call with none is "call_back" (left before the goal was reached,
    without declining it)."""
    if intents.is_not_interested(speech):
        return "not_interested"
    if intents.wants_call_later(speech):
        return "call_back"
    return ctx.state.get("outcome") or "call_back"


class ScriptedEngine(ConversationEngine):
    uses_model = False

    def _question(self, ctx: ConversationContext) -> str:
        questions = parse_questions(ctx.agent.questions)
        index = ctx.state.get("question", 0)
        return ctx.fill(questions[index]) if index < len(questions) else ""

    def _close(self, ctx: ConversationContext, prefix: str = "") -> Reply:
        return Reply(
            say=" ".join(p for p in (prefix, ctx.fill(ctx.agent.closing_line)) if p),
            end_call=True,
            outcome=success_outcome(ctx.agent),
        )

    def start(self, ctx: ConversationContext) -> Reply:
        ctx.state.setdefault("question", 0)
        ctx.state.setdefault("silences", 0)
        opening = ctx.fill(ctx.agent.opening_line)
        question = self._question(ctx)
        if not question:
            return Reply(say=opening)
        return Reply(say=f"{opening} {question}")

    def respond(self, ctx: ConversationContext, speech: str) -> Reply:
        retrieved, ctx.knowledge = ctx.knowledge, []  # a reply keeps only the passage it says
        reply = self._respond(ctx, speech, retrieved)
        reply.used_model = False
        return reply

    async def respond_stream(self, ctx: ConversationContext, speech: str):
        """The script's line, at once (nothing here waits: no thread is needed)."""
        reply = self.respond(ctx, speech)
        if reply.say and not reply.end_call:
            yield reply.say
        yield reply

    def _respond(self, ctx: ConversationContext, speech: str, retrieved: list) -> Reply:
        agent = ctx.agent

        def text(key: str) -> str:
            return wording.line_for(key, agent)

        if intents.wants_no_more_calls(speech):
            return Reply(say=text("dnc"), end_call=True, outcome="do_not_call", do_not_call=True)
        if not speech:
            ctx.state["silences"] = ctx.state.get("silences", 0) + 1
            if ctx.state["silences"] >= 2:
                return Reply(say=text("silent"), end_call=True, outcome="no_response")
            return Reply(say=f"{text('repeat')} {self._question(ctx) or text('still_there')}")
        ctx.state["silences"] = 0  # only silences in a row end the call
        if intents.wants_a_person(speech):
            if agent.transfer_number:
                return Reply(say=text("transferring"), end_call=True, transfer=True, outcome="transferred")
            return Reply(say=text("no_transfer"), end_call=True, outcome="call_back")
        if intents.is_not_interested(speech):
            return Reply(say=text("not_interested"), end_call=True, outcome="not_interested")
        if intents.wants_call_later(speech):
            return Reply(say=text("later"), end_call=True, outcome="call_back")
        if intents.said_end_call_phrase(speech, getattr(agent, "end_call_phrases", "")):
            return Reply(say=text("goodbye"), end_call=True, outcome=end_call_outcome(ctx, speech))
        answer = match_answer(agent, speech)
        if not answer:
            ctx.knowledge = retrieved
            answer = knowledge_answer(ctx, speech)
        if answer:
            question = self._question(ctx)
            if question:
                return Reply(say=f"{answer} {question}")
            return self._close(ctx, prefix=answer)
        questions = parse_questions(agent.questions)
        index = ctx.state.get("question", 0)
        if asks_something(speech):
            # Not an answer: the open question is asked again, or (the second time) skipped.
            if index >= len(questions):
                return self._close(ctx, prefix=text("cannot_answer"))
            if ctx.state.get("unanswered") != index:
                ctx.state["unanswered"] = index
                return Reply(say=f"{text('cannot_answer')} {self._question(ctx)}")
            ctx.state["question"] = index + 1
            question = self._question(ctx)
            if question:
                return Reply(say=f"{text('cannot_answer')} {question}")
            return self._close(ctx, prefix=text("cannot_answer"))
        # Anything else answers the question that was asked.
        captured = {}
        if index < len(questions):
            captured = {capture_name(agent, index, questions[index]): speech}
            ctx.state["question"] = index + 1
        question = self._question(ctx)
        if question:
            return Reply(say=f"{text('thanks')} {question}", captured=captured)
        reply = self._close(ctx)
        reply.captured = captured
        return reply
