"""The contact variables an agent's lines use, and the lists that do not have them.

A line's {{plan}} is said as nothing when the contact has no value for it, so the agent form
warns about variables the lists it calls (or, with no campaign yet, any of the account's lists)
were not imported with, and the campaign pre-flight (`campaigns.preflight.campaign_variable_gaps`)
counts the contacts without a value. A variable given a fallback everywhere it is used
({{plan|your plan}}) is never warned about: the fallback is said instead.
"""

from ..contacts.lists import contact_lists_variable_names
from ..conversation.engine.base import FILL
from ..models import Campaign, ContactList

# The agent's texts that contact variables are filled into (by both engines).
AGENT_TEXT_FIELDS = ("opening_line", "questions", "answers", "closing_line", "voicemail_message", "persona", "goal")
# Filled from the contact itself, whatever the list's columns.
CONTACT_FIELDS = ("first_name", "last_name", "phone_number")
# Lists looked at for an agent that no campaign uses yet: the account's newest.
RECENT_LISTS = 20
OPEN_CAMPAIGNS = (Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED)


def agent_variables(agent) -> dict[str, bool]:
    """Each variable the agent's lines use, in order of first use, and whether every use of it
    gives a fallback."""
    covered: dict[str, bool] = {}
    for field in AGENT_TEXT_FIELDS:
        for match in FILL.finditer(getattr(agent, field, "") or ""):
            name = match.group(1)
            covered[name] = covered.get(name, True) and match.group(2) is not None
    return covered


def variables_without_fallback(agent) -> list[str]:
    return [name for name, covered in agent_variables(agent).items() if not covered]


def tag(name: str) -> str:
    return "{{" + name + "}}"


def fallback_example(name: str) -> str:
    """{{first_name|there}}, {{renewal_date|your renewal date}}: a fallback to suggest."""
    said = "there" if name == "first_name" else "your " + name.replace("_", " ").strip()
    return "{{" + name + "|" + said + "}}"


def _quoted(names: list[str]) -> str:
    quoted = [f"“{name}”" for name in names[:3]]
    if len(names) > 3:
        return ", ".join(quoted) + f" and {len(names) - 3} more"
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def agent_variable_warnings(*, agent) -> list[str]:
    """What to tell the agent's owner about variables its lines use without a fallback that its
    lists lack: the lists of its open campaigns, or with none, any of the owner's lists. At most
    three queries."""
    needed = [name for name in variables_without_fallback(agent) if name not in CONTACT_FIELDS]
    if not needed or agent.workspace_id is None:
        return []
    lists = []
    if agent.pk:
        lists = list(
            ContactList.objects.filter(campaigns__agent=agent, campaigns__status__in=OPEN_CAMPAIGNS)
            .distinct()
            .order_by("name", "pk")
        )
    by_campaign = bool(lists)
    if not by_campaign:
        lists = list(
            ContactList.objects.filter(
                workspace_id=agent.workspace_id, import_status=ContactList.ImportStatus.DONE
            ).order_by("-created_at", "-pk")[:RECENT_LISTS]
        )
    if not lists:
        return []
    names = contact_lists_variable_names(contact_lists=lists)
    warnings = []
    for name in needed:
        lacking = [contact_list.name for contact_list in lists if name not in names.get(contact_list.pk, set())]
        advice = f"Give it a fallback, such as {fallback_example(name)}, or import the list with a “{name}” column."
        if by_campaign and lacking:
            which = "the list" if len(lacking) == 1 else "the lists"
            warnings.append(
                f"{tag(name)} is not a column of {_quoted(lacking)}, {which} this agent's campaigns call: "
                f"on those calls the agent says nothing in its place. {advice}"
            )
        elif not by_campaign and len(lacking) == len(lists):
            warnings.append(
                f"{tag(name)} is not a column of any of your contact lists: on a call the agent would say nothing "
                f"in its place. {advice}"
            )
    return warnings
