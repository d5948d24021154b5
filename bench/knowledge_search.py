#!/usr/bin/env python
"""Benchmark: knowledge search, `campaigns.knowledge.passages_for`, at a full knowledge base.

    .venv/bin/python bench/knowledge_search.py [--passages 500] [--searches 1000] [--threads 4] [--no-write]

Needs PostgreSQL on 127.0.0.1 (`scripts/ensure-services`). Creates a throwaway database (the test
settings, as bench/run.py does) with an English agent whose knowledge base holds --passages
passages (500, the most an agent may hold) of a help centre's text: articles about a scheduling
product's plans, billing, calendars, bookings, reminders, integrations, security, offices and
support, written from sentence templates with varied details, added through `knowledge_add_text`
as a user would. A second agent with the same text stands beside it, so the search has other
agents' passages to pass over. Then the tables are analysed, as autovacuum soon would.

Then it searches the way a call's turn does, `passages_for(agent, words, within=...)`, for
--searches things a callee says, drawn from templates: questions the help centre answers,
questions it does not, and acknowledgements ("yes", "okay", "uh huh"; a fifth of the lines, as in
a real call most lines answer the agent rather than ask something). Reports p50/p99 per search
for the questions alone, the acknowledgements alone and all lines, on one thread and on --threads
threads at once (each with its own database connection, all searching the same agent), and the
SQL statements per search. Appends them to docs/benchmarks.md (--no-write: print only). Drops the
database whatever happens.
"""

import argparse
import os
import platform
import random
import statistics
import sys
import threading
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozit.settings_test")

import django  # noqa: E402

django.setup()

from django.test.utils import setup_databases, teardown_databases  # noqa: E402

# The time a call's turn gives the search (campaigns/calls.py passes what is left of the turn's
# deadline); generous, so that no search here is cut short and every one is measured whole.
WITHIN = 1.0

# --- the help centre -------------------------------------------------------------------
PLANS = ["Starter", "Team", "Business", "Enterprise", "Clinic", "Education"]
FEATURES = [
    "shared calendars",
    "round-robin booking",
    "text message reminders",
    "email reminders",
    "waiting lists",
    "deposits at booking",
    "intake forms",
    "video meeting links",
    "recurring appointments",
    "group classes",
    "resource booking for rooms",
    "custom booking pages",
    "analytics dashboards",
    "single sign-on",
    "audit logs",
    "an open API",
]
INTEGRATIONS = ["Google Calendar", "Outlook", "Zoom", "Microsoft Teams", "Salesforce", "HubSpot", "Stripe", "Zapier"]
CITIES = ["Denver", "Austin", "Toronto", "Chicago", "Seattle", "Boston", "Atlanta", "Dublin", "London", "Madrid"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TOPICS = {
    "Plans and pricing": [
        "The {plan} plan costs {price} dollars per user each month when billed monthly.",
        "Paying for a year in advance lowers the {plan} plan to {discount} dollars per user each month.",
        "Every plan includes {feature} and unlimited bookings for each user.",
        "The {plan} plan adds {feature} and priority support by phone.",
        "You can move to a bigger plan at any time and the difference is charged for the days left in your cycle.",
        "Moving to a smaller plan takes effect at the start of your next billing cycle.",
        "Nonprofits and schools receive a discount of {percent} percent on any plan after a short check.",
        "A free trial of {days} days includes every feature of the {plan} plan and needs no card.",
    ],
    "Billing and invoices": [
        "Invoices are emailed to the account owner on the {ordinal} day of each month.",
        "We accept Visa, Mastercard and American Express, and bank transfers for yearly plans over {price} dollars.",
        "Sales tax or value added tax is shown on every invoice according to your billing address.",
        "A failed payment is retried three times over {days} days before the account is paused.",
        "Refunds for yearly plans are given pro rata within {days} days of the renewal date.",
        "You can download past invoices as PDF files from the billing page in your settings.",
        "Purchase orders are accepted for the {plan} plan when the order covers a full year.",
        "Adding a user in the middle of a month charges only for the days that remain.",
    ],
    "Calendars and availability": [
        "Connect {integration} and your busy times are blocked automatically on your booking page.",
        "Availability can differ by weekday, for example mornings only on {day}.",
        "A buffer of {minutes} minutes between meetings keeps back-to-back bookings from piling up.",
        "Holidays and days off can be added in advance so nobody books you while you are away.",
        "The calendar sync checks for changes every {minutes} minutes and whenever a booking is made.",
        "Team members can share a pooled availability so a customer sees any free slot among them.",
        "Time zones are detected from the customer's browser and shown next to every slot.",
        "Minimum notice stops bookings that start sooner than {hours} hours from now.",
    ],
    "Bookings and cancellations": [
        "Customers can cancel or reschedule from the link in their confirmation email up to {hours} hours before.",
        "A cancelled booking frees the slot at once and notifies everyone on the waiting list.",
        "No-shows can be charged a fee of {price} dollars when deposits at booking are switched on.",
        "Staff can move a booking by dragging it to another slot in the calendar view.",
        "Recurring appointments repeat weekly or monthly until a date you choose.",
        "Group classes hold up to {seats} people and close automatically when full.",
        "Every booking records who made it, when, and from which page.",
        "Double bookings are prevented by holding a slot for {minutes} minutes while the customer confirms.",
    ],
    "Reminders and notifications": [
        "Text message reminders go out {hours} hours before the appointment by default.",
        "Email reminders can include a map, parking details and what to bring.",
        "Reminder texts are free up to {count} a month on the {plan} plan, then two cents each.",
        "Customers can reply C to a reminder text to cancel their appointment.",
        "Staff receive a daily agenda by email at {time} each morning.",
        "Notifications for new bookings can be sent to a shared inbox or to a Slack channel.",
        "Reminder wording can be changed per service, in English, Spanish, French or German.",
        "A follow-up message after the visit can ask for a review or offer the next booking.",
    ],
    "Integrations": [
        "The {integration} integration is available on the {plan} plan and above.",
        "Payments through Stripe are collected at booking and refunded automatically on cancellation.",
        "New bookings can create contacts and deals in {integration}.",
        "Zapier connects bookings to more than five thousand other apps without code.",
        "Video links for {integration} are created for each meeting and added to the invitation.",
        "The open API allows {count} requests per minute for each account.",
        "Webhooks notify your own systems of every booking, change and cancellation.",
        "Single sign-on works with Okta, Azure and Google Workspace on the Enterprise plan.",
    ],
    "Security and privacy": [
        "All data is encrypted in transit and at rest, and backups are kept for {days} days.",
        "Our servers are hosted in data centres in the United States and the European Union.",
        "Customer records can be exported or deleted on request within {days} days.",
        "Audit logs on the Business plan keep every change to bookings and settings for a year.",
        "Two-factor authentication can be required for every member of a team.",
        "We sign a business associate agreement for clinics on the Clinic plan.",
        "Access by our support staff to your account needs your permission and expires after {hours} hours.",
        "Security reports from researchers are answered within {days} working days.",
    ],
    "Offices and support": [
        "Our support team answers chat and email from {start} to {end}, {day} to Friday.",
        "Phone support is included on the {plan} plan and answers within {minutes} minutes.",
        "Our office in {city} is open to visitors by appointment on weekdays.",
        "Training sessions for new teams are held online every {day} at {time}.",
        "The help centre has step-by-step guides and short videos for every feature.",
        "Urgent problems with bookings are answered around the clock on the Enterprise plan.",
        "Account managers are assigned to teams of more than {seats} users.",
        "Parking at the {city} office is free in the garage behind the building.",
    ],
}
QUESTIONS = [
    "How much is the {plan} plan?",
    "What does the {plan} plan cost per user?",
    "Do you offer a discount for nonprofits?",
    "Is there a free trial?",
    "Can I pay by bank transfer?",
    "When do you send the invoices?",
    "Can I get a refund if I cancel my yearly plan?",
    "Does it work with {integration}?",
    "Can it sync with my {integration} calendar?",
    "How do customers cancel an appointment?",
    "Can people reschedule their booking themselves?",
    "Do you send text message reminders?",
    "How early do the reminders go out?",
    "Can I charge a fee for no-shows?",
    "Is my data encrypted?",
    "Where are your servers hosted?",
    "Do you support single sign-on?",
    "What are your support hours?",
    "Do you have an office in {city}?",
    "Is there parking at the office?",
    "Can I set a buffer between meetings?",
    "How many people fit in a group class?",
    "Does it handle time zones?",
    "Can I take deposits when people book?",
    "Do you have an API?",
    "Sorry, what was the price again for the {plan} plan?",
    "We use {integration} for everything, would that connect?",
    "I'm worried about privacy, do you sign a business associate agreement?",
    "What happens when a payment fails?",
    "Can my team share one booking page?",
]
# Questions the help centre has no answer to: the search runs and finds little or nothing.
UNANSWERED = [
    "Do you sell office furniture?",
    "What's the weather like in {city} today?",
    "Is your CEO on television?",
    "Can you fix my printer?",
    "Who won the game last night?",
]
ACKNOWLEDGEMENTS = ["yes", "okay", "uh huh", "yeah", "no", "sure", "ok", "mm hmm", "yes please", "that's right"]


def fill(template: str, rng: random.Random) -> str:
    return template.format(
        plan=rng.choice(PLANS),
        price=rng.choice([12, 15, 19, 25, 29, 39, 49, 59, 99, 150, 500]),
        discount=rng.choice([10, 12, 16, 20, 33, 45]),
        percent=rng.choice([20, 25, 30, 50]),
        days=rng.choice([7, 10, 14, 30, 60]),
        feature=rng.choice(FEATURES),
        integration=rng.choice(INTEGRATIONS),
        ordinal=rng.choice(["first", "second", "fifth", "fifteenth"]),
        day=rng.choice(DAYS),
        minutes=rng.choice([5, 10, 15, 30]),
        hours=rng.choice([2, 12, 24, 48]),
        seats=rng.choice([8, 12, 20, 50]),
        count=rng.choice([100, 500, 1000]),
        time=rng.choice(["7 am", "8 am", "9 am", "noon"]),
        start=rng.choice(["7 am", "8 am", "9 am"]),
        end=rng.choice(["5 pm", "6 pm", "8 pm"]),
        city=rng.choice(CITIES),
    )


def help_centre(passages: int, rng: random.Random) -> list[tuple[str, str]]:
    """(title, text) of articles whose sections make `passages` passages in all: each section
    ~100-150 words under its own heading, so one passage each."""
    articles, made = [], 0
    number = 0
    while made < passages:
        number += 1
        topic = list(TOPICS)[number % len(TOPICS)]
        sections = []
        for _ in range(min(10, passages - made)):
            heading = f"{topic} › {fill(rng.choice(QUESTIONS), rng).rstrip('?')}"
            sentences = [fill(t, rng) for t in rng.sample(TOPICS[topic], 8)]
            sentences += [fill(rng.choice(TOPICS[rng.choice(list(TOPICS))]), rng) for _ in range(rng.randint(0, 3))]
            sections.append(f"## {heading}\n\n" + " ".join(sentences))
        made += len(sections)
        articles.append((f"Help centre, article {number}", "\n\n".join(sections)))
    return articles


def callee_lines(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, words): a fifth acknowledgements, one in twelve unanswered, the rest questions."""
    lines = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2:
            lines.append(("acknowledgement", rng.choice(ACKNOWLEDGEMENTS)))
        elif roll < 0.28:
            lines.append(("question", fill(rng.choice(UNANSWERED), rng)))
        else:
            lines.append(("question", fill(rng.choice(QUESTIONS), rng)))
    return lines


# --- the runs --------------------------------------------------------------------------
def make_agent_with_knowledge(owner, passages: int, name: str):
    from campaigns.conversation.knowledge import knowledge_add_text
    from campaigns.tests.factories import make_agent

    agent = make_agent(owner, name=name, language="en-US", answers="")
    for title, text in help_centre(passages, random.Random(0)):
        knowledge_add_text(agent, title, text)
    agent.refresh_from_db()
    return agent


def search_all(agent, lines: list[tuple[str, str]], out: list[tuple[str, float, int]]) -> None:
    """Searches each line as a call's turn does; appends (kind, seconds, SQL statements)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.conversation.knowledge import passages_for

    for kind, words in lines:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            passages_for(agent, words, within=WITHIN)
            elapsed = time.perf_counter() - started
        out.append((kind, elapsed, len(queries)))


def threaded(agent, lines, threads: int) -> list[tuple[str, float, int]]:
    from django.db import connection

    results: list[list] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def work(index):
        try:
            search_all(agent, lines[:20], [])  # this thread's connection, warmed up
            barrier.wait()
            search_all(agent, lines, results[index])
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [row for rows in results for row in rows]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rows_for(label: str, results) -> list[str]:
    rows = []
    for kind in ("question", "acknowledgement", None):
        picked = [(t, q) for k, t, q in results if kind is None or k == kind]
        if not picked:
            continue
        times = [t * 1000 for t, _ in picked]
        what = {"question": "questions", "acknowledgement": "acknowledgements", None: "all lines"}[kind]
        rows.append(
            f"| {label}, {what} ({len(picked):,}) | {percentile(times, 0.5):.2f} ms | {percentile(times, 0.99):.2f} ms "
            f"| {statistics.fmean(times):.2f} ms | {statistics.fmean(q for _, q in picked):.1f} |"
        )
    return rows


def measure(args) -> tuple[list[str], dict]:
    from django.db import connection

    from accounts.models import User
    from campaigns.models import KnowledgePassage, KnowledgeSource

    owner = User.objects.create_user(email="bench@example.com", password="x")
    agent = make_agent_with_knowledge(owner, args.passages, "Help centre")
    make_agent_with_knowledge(owner, args.passages, "Help centre, twin")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {KnowledgePassage._meta.db_table}, {KnowledgeSource._meta.db_table}")
    held = KnowledgePassage.objects.filter(agent=agent).count()
    words = [len(p.split()) for p in KnowledgePassage.objects.filter(agent=agent).values_list("text", flat=True)]
    lines = callee_lines(args.searches, random.Random(1))

    search_all(agent, lines[:50], [])  # warm-up: connection, plans, caches
    one: list = []
    search_all(agent, lines, one)
    many = threaded(agent, lines, args.threads)
    rows = rows_for("1 thread", one) + rows_for(f"{args.threads} threads at once", many)
    return rows, {"passages": held, "words": statistics.fmean(words)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=500, help="passages of the agent's knowledge base (500)")
    parser.add_argument("--searches", type=int, default=1000, help="searches per run (1000)")
    parser.add_argument("--threads", type=int, default=4, help="threads searching at once in the second run (4)")
    parser.add_argument("--label", default="", help="a note for the heading, e.g. the version measured")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args()

    from django.db import connections

    warnings.filterwarnings("ignore", message="No directory at")  # no collected static files here
    load_before = os.getloadavg()[0]
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        rows, notes = measure(args)
    finally:
        connections.close_all()
        teardown_databases(old_config, verbosity=0)
    load_after = os.getloadavg()[0]

    label = f" ({args.label})" if args.label else ""
    out = (
        f"\n## {date.today().isoformat()} — {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n\n"
        f"Knowledge search{label} (bench/knowledge_search.py): `passages_for(agent, words, within={WITHIN})` as a "
        f"call's turn calls it, in-process, PostgreSQL on 127.0.0.1; an English agent with {notes['passages']} "
        f"passages (~{notes['words']:.0f} words each) of a help centre's text, a second agent with as many beside "
        f"it, the tables analysed; {args.searches:,} lines a callee says, a fifth of them acknowledgements, the "
        f"same lines on one thread and then on each of {args.threads} threads at once. Load average "
        f"{load_before:.2f} before the run, "
        f"{load_after:.2f} after.\n\n"
        "| searches | p50 | p99 | mean | SQL statements per search |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(out)
    if not args.no_write:
        with (ROOT / "docs" / "benchmarks.md").open("a") as f:
            f.write(out)


if __name__ == "__main__":
    main()
