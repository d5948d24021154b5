"""The offline engine: opening line, the script's questions in order, FAQ answers, closing line.

State kept between turns: `question` (index of the question awaiting an answer) and `silences`.
"""

from . import intents
from .base import ConversationContext, ConversationEngine, Reply

GOODBYE_DNC = "Understood. I've removed your number and we won't call you again. Sorry for the trouble, goodbye."
GOODBYE_NOT_INTERESTED = "No problem at all, thank you for your time. Goodbye."
GOODBYE_LATER = "Of course. We'll try you another time. Have a good day."
GOODBYE_SILENT = "I'm having trouble hearing you, so I'll try another time. Goodbye."
REPEAT = "Sorry, I didn't catch that."
TRANSFERRING = "Of course. I'm connecting you with a colleague now, please stay on the line."
NO_TRANSFER = "I can't connect you with a colleague right now, but I'll ask someone to call you back. Goodbye."


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


class ScriptedEngine(ConversationEngine):
    def _question(self, ctx: ConversationContext) -> str:
        questions = parse_questions(ctx.agent.questions)
        index = ctx.state.get("question", 0)
        return ctx.fill(questions[index]) if index < len(questions) else ""

    def _close(self, ctx: ConversationContext, prefix: str = "") -> Reply:
        return Reply(
            say=" ".join(p for p in (prefix, ctx.fill(ctx.agent.closing_line)) if p),
            end_call=True,
            outcome="interested",
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
        if intents.wants_no_more_calls(speech):
            return Reply(say=GOODBYE_DNC, end_call=True, outcome="do_not_call", do_not_call=True)
        if not speech:
            ctx.state["silences"] = ctx.state.get("silences", 0) + 1
            if ctx.state["silences"] >= 2:
                return Reply(say=GOODBYE_SILENT, end_call=True, outcome="no_response")
            return Reply(say=f"{REPEAT} {self._question(ctx) or 'Are you still there?'}")
        ctx.state["silences"] = 0  # only silences in a row end the call
        if intents.wants_a_person(speech):
            if ctx.agent.transfer_number:
                return Reply(say=TRANSFERRING, end_call=True, transfer=True, outcome="transferred")
            return Reply(say=NO_TRANSFER, end_call=True, outcome="call_back")
        if intents.is_not_interested(speech):
            return Reply(say=GOODBYE_NOT_INTERESTED, end_call=True, outcome="not_interested")
        if intents.wants_call_later(speech):
            return Reply(say=GOODBYE_LATER, end_call=True, outcome="call_back")
        answer = match_answer(ctx.agent, speech)
        if answer:
            question = self._question(ctx)
            if question:
                return Reply(say=f"{answer} {question}")
            return self._close(ctx, prefix=answer)
        # Anything else answers the question that was asked.
        questions = parse_questions(ctx.agent.questions)
        index = ctx.state.get("question", 0)
        captured = {}
        if index < len(questions):
            captured = {questions[index]: speech}
            ctx.state["question"] = index + 1
        question = self._question(ctx)
        if question:
            return Reply(say=f"Thank you. {question}", captured=captured)
        reply = self._close(ctx)
        reply.captured = captured
        return reply
