"""Built-in campaign reports: plain database reads, no AI model, no charge.

What a campaign owner asks most often, answered exactly: how calls ended, what callees told the
agent, what they said most, why calls failed and who wants a callback. Every function reads a
bounded amount (aggregates, a page, a limit, or turns streamed with .iterator()), however many
calls the campaign has.
"""

import re
from collections import Counter
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q

from ..models import Call, CallTurn, Campaign, outcome_label

CAPTURED_CALLS_PER_PAGE = 50
CALLBACKS_LIMIT = 200
TOP_PHRASES = 20
# Phrases come from at most this many callee turns (the most recent calls'), to bound the work.
PHRASE_TURNS_LIMIT = 50_000
PHRASE_SIZES = (2, 3)

# Words too common to make a phrase start or end. Negations (no, not, don't, never...) are kept:
# "not interested" is exactly what an owner wants to see.
_STOP_WORDS = """
    a about after again all also am an and any are as at be because been before being but by can
    could did do does doing for from had has have having he her here hers him his how i i'd i'll
    i'm i've if in into is it it's its itself just let me mine my myself of off on once only or
    other our ours out over own same she should so some such than that that's the their theirs
    them then there there's these they they're this those through to too under until up very was
    we we're were what when where which while who whom why will with would you you're your yours
    yeah yep uh um uhm hmm oh ok okay well like gonna got get really right sure just thing things
    hi hello hey bye goodbye thanks thank please sorry yes
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
# A phrase never runs across punctuation: "not interested, please take me off" is two clauses.
CLAUSE_BREAK = re.compile(r"[.,;:!?()\"\u2014\u2013]+|\s-\s")


@dataclass(frozen=True)
class Row:
    label: str
    count: int
    percent: int = 0


def outcome_counts(*, campaign: Campaign) -> list[Row]:
    """How the campaign's calls ended, most common first (calls without an outcome included)."""
    rows = campaign.calls.values("outcome").annotate(count=Count("id")).order_by("-count", "outcome")
    total = sum(row["count"] for row in rows)
    return [
        Row(
            label=outcome_label(row["outcome"]) if row["outcome"] else "No outcome recorded",
            count=row["count"],
            percent=round(100 * row["count"] / total) if total else 0,
        )
        for row in rows
    ]


FAILED_STATUSES = (Call.Status.BUSY, Call.Status.NO_ANSWER, Call.Status.FAILED, Call.Status.CANCELED)


def failure_reasons(*, campaign: Campaign) -> list[Row]:
    """Why calls did not get through or broke off: the carrier's reason, else the status or outcome."""
    statuses = dict(Call.Status.choices)
    rows = (
        campaign.calls.filter(Q(status__in=FAILED_STATUSES) | Q(outcome="technical_failure") | ~Q(failure_reason=""))
        .values("status", "outcome", "failure_reason")
        .annotate(count=Count("id"))
    )
    counts: Counter[str] = Counter()
    for row in rows:
        if row["failure_reason"]:
            label = row["failure_reason"]
        elif row["status"] in FAILED_STATUSES:
            label = statuses.get(row["status"], row["status"])
        else:
            label = outcome_label(row["outcome"])
        counts[label] += row["count"]
    total = sum(counts.values())
    return [
        Row(label=label, count=count, percent=round(100 * count / total) if total else 0)
        for label, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def callbacks(*, campaign: Campaign, limit: int = CALLBACKS_LIMIT):
    """Calls whose callee asked to be called back, newest first, with what they said about when."""
    return (
        campaign.calls.filter(outcome=Call.Outcome.CALL_BACK)
        .select_related("contact")
        .order_by("-created_at", "-id")[:limit]
    )


def callbacks_count(*, campaign: Campaign) -> int:
    return campaign.calls.filter(outcome=Call.Outcome.CALL_BACK).count()


@dataclass(frozen=True)
class CapturedRow:
    call: Call
    field: str
    value: str


def captured_page(*, campaign: Campaign, page: int | str = 1, per_page: int = CAPTURED_CALLS_PER_PAGE):
    """One page of calls that captured answers, and their answers as (contact, field, value) rows."""
    calls = campaign.calls.exclude(captured=[]).select_related("contact").order_by("id")
    current: Page = Paginator(calls, per_page).get_page(page)
    rows = [
        CapturedRow(call=call, field=str(item[0]), value=str(item[1]))
        for call in current.object_list
        for item in call.captured or []
        if isinstance(item, list | tuple) and len(item) == 2
    ]
    return current, rows


def words(text: str) -> list[str]:
    return WORD.findall((text or "").lower().replace("\u2019", "'"))


def phrases_in(text: str, sizes=PHRASE_SIZES) -> set[str]:
    """The phrases of a text worth counting: n-grams within one clause that neither start nor end
    with a stop word."""
    found = set()
    for clause in CLAUSE_BREAK.split(text or ""):
        tokens = words(clause)
        for n in sizes:
            for i in range(len(tokens) - n + 1):
                gram = tokens[i : i + n]
                if gram[0] in STOP_WORDS or gram[-1] in STOP_WORDS or all(w.isdigit() for w in gram):
                    continue
                found.add(" ".join(gram))
    return found


def common_phrases(*, campaign: Campaign, top: int = TOP_PHRASES) -> list[Row]:
    """What callees said most: phrases counted once per call they were said in, most calls first.

    A phrase is left out when a longer one containing it was said in as many calls (it adds
    nothing). Only phrases said in at least two calls count; `percent` is of the calls in which
    the callee said anything.
    """
    counts: Counter[str] = Counter()
    current_call, seen = None, set()
    turns = (
        CallTurn.objects.filter(call__campaign=campaign, speaker=CallTurn.Speaker.CALLEE)
        .order_by("-call_id", "sequence")
        .values_list("call_id", "text")[:PHRASE_TURNS_LIMIT]
    )
    for call_id, text in turns.iterator(chunk_size=2000):
        if call_id != current_call:
            counts.update(seen)
            current_call, seen = call_id, set()
        seen |= phrases_in(text)
    counts.update(seen)

    candidates = [(phrase, count) for phrase, count in counts.items() if count >= 2]
    candidates.sort(key=lambda item: (-item[1], -len(item[0].split()), item[0]))
    kept: list[tuple[str, int]] = []
    for phrase, count in candidates:
        if any(count == other_count and f" {phrase} " in f" {other} " for other, other_count in kept):
            continue
        kept.append((phrase, count))
        if len(kept) == top:
            break
    calls_with_speech = campaign.calls.filter(turns__speaker=CallTurn.Speaker.CALLEE).values("id").distinct().count()
    return [
        Row(label=phrase, count=count, percent=round(100 * count / calls_with_speech) if calls_with_speech else 0)
        for phrase, count in kept
    ]
