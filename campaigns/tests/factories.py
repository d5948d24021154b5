from accounts.models import User, Workspace
from campaigns.models import Agent, Campaign, ContactList


def workspace_of(owner: User | Workspace) -> Workspace:
    """The factories take a workspace, or a user for their personal workspace."""
    return owner.personal_workspace if isinstance(owner, User) else owner


def make_agent(owner, **overrides) -> Agent:
    fields = {
        "name": "Sales assistant",
        "opening_line": "Hi {{first_name}}, this is Sam from Acme.",
        "questions": "Are you the person who handles scheduling?\nHow many people are on your team?",
        "answers": "price, cost | Plans start at 49 dollars a month.",
        "closing_line": "Thanks {{first_name}}, we will send you the details. Goodbye!",
        "voicemail_message": "Hi {{first_name}}, Sam from Acme here. We'll try again soon.",
        "max_call_seconds": 120,
        # Most tests read the agent's own lines; tests of the disclosure set it explicitly.
        "ai_disclosure": "",
        # The turn-at-a-time path, as the suite always exercised it; relay tests ask for "relay".
        "transport": "gather",
    }
    fields.update(overrides)
    return Agent.objects.create(workspace=workspace_of(owner), **fields)


def make_list(owner, numbers, name="Leads") -> ContactList:
    from campaigns.contacts.importing import contacts_import

    rows = "phone,first_name,company\n" + "".join(f"{n},Person{i},Co{i}\n" for i, n in enumerate(numbers))
    workspace = workspace_of(owner)
    consent_by = owner if isinstance(owner, User) else workspace.memberships.first().user
    return contacts_import(
        workspace=workspace, name=name, filename="leads.csv", data=rows.encode(), consent_by=consent_by
    ).contact_list


SHARED_CALLER = "+14155550000"


def make_campaign(owner, numbers, *, concurrency=2, retry_on=(), **agent_overrides) -> Campaign:
    """A draft campaign calling `numbers`. It redials nobody unless `retry_on` says so, so a run
    of simulated calls completes at once (retries wait for the campaign's retry delay)."""
    from telephony.models import PhoneNumber

    # Campaigns call from a number the account may use: here a shared number of the platform.
    if not PhoneNumber.objects.filter(number=SHARED_CALLER, status="active").exists():
        PhoneNumber.objects.create(number=SHARED_CALLER, provider="simulated", label="Test shared number")
    return Campaign.objects.create(
        workspace=workspace_of(owner),
        name="Spring outreach",
        purpose="Inviting customers to our spring sale",
        agent=make_agent(owner, **agent_overrides),
        contact_list=make_list(owner, numbers),
        caller_number=SHARED_CALLER,
        max_concurrent_calls=concurrency,
        retry_on=list(retry_on),
    )
