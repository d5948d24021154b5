"""The account holder's data: downloading a copy, closing the account, and the purge that follows."""

import csv
import html
import io
import json
import zipfile
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import django_rq
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.apps import apps
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from accounts import services
from accounts.models import AccountStatusChange, User
from billing import ledger
from billing.models import CreditAccount, LedgerEntry
from campaigns.contacts import donotcall
from campaigns.contacts.importing import contacts_import
from campaigns.lifecycle import services as campaigns
from campaigns.models import Agent, Call, CallTurn, Campaign, Contact, ContactList, DoNotCall
from telephony.models import ProviderEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the `user` fixture's
EXPORT_FILES = {
    "profile.json",
    "status_history.csv",
    "sign_in.json",
    # Sign-ins, codes and changes, with IP address and browser (accounts/security.py).
    "security_log.csv",
    "contacts.csv",
    "contact_lists.json",
    "do_not_call.csv",
    "agents.json",
    "knowledge.json",
    "campaigns.csv",
    "campaign_contacts.csv",
    "calls.json",
    "playground.json",
    "assistant.json",
    "phone_numbers.json",
    "ledger.csv",
    "credit_holds.csv",
    "purchases.json",
    "refund_requests.json",
    "subscriptions.json",
    "payment_events.json",
    # Calls credited back (our failures) and the charges the workspace disputed.
    "call_disputes.json",
    "call_credit_backs.json",
    # Reports made about the workspace's calls on the public "Who called me?" page.
    "call_reports.csv",
    # The integrations' settings and what they sent (clozit.events.workspace_exporting).
    "integrations/api_keys.json",
    "integrations/webhooks.json",
    "integrations/hubspot.json",
    # Staff's approvals of its campaigns and stops of its dialling (campaigns, by workspace_exporting).
    "campaign_approvals.json",
    "dialing_stops.json",
    # What Clozit told the person, and the emails they turned off (notices, by account_exporting).
    "notices.csv",
    "notice_emails_turned_off.csv",
    # The person's workspaces, and the one they own: its settings, members, invitations, activity.
    "workspaces.json",
    "workspace.json",
    "workspace_status_history.csv",
    "members.csv",
    "invitations.json",
    "activity.csv",
    # The versions of the terms and policies the person accepted (policies, by account_exporting).
    "policy_acceptances.csv",
}

# Everything that identifies the account holder or the people they called: after the purge,
# none of it may be left anywhere in the database. Compared case-insensitively.
OWNER = {
    "first_name": "Augusta",
    "last_name": "Lovelace-Byron",
    "company": "Analytical Engines Ltd",
    "other_email": "augusta.personal@gmail.example",
    "social_uid": "google-uid-8675309",
    "contacts": [("+12025550101", "Gracelyn", "Hopperton"), ("+12025550102", "Alanzo", "Turingham")],
    "spare_contact": ("+12025550103", "Edsgerina", "Dijkstrom"),
    "bad_row": "555-HOPPERTON",
    "dnc": "+12025550109",
    "agent_line": "Hi {{first_name}}, this is Augusta from Analytical Engines.",
    "campaign": "Augusta spring push",
    "list": "Augusta warm leads",
    "captured": "gracelyn@hopperton.example",
    "transcript": "This is Gracelyn Hopperton, I run the Bletchley office.",
}
RIVAL = {
    "email": "rival@example.com",
    "first_name": "Katherina",
    "last_name": "Johnstonova",
    "company": "Rival Widgets Plc",
    "mobile": "+13125550100",
    "contacts": [("+13125550177", "Dorotha", "Vaughanley")],
    "dnc": "+13125550188",
    "agent_line": "Hello, Katherina calling from Rival Widgets.",
    "campaign": "Rival autumn blitz",
    "list": "Rival cold leads",
    "captured": "dorotha@vaughanley.example",
    "transcript": "Dorotha Vaughanley speaking, we are nine at the depot.",
    "memo": "Rival goodwill 4417",
}


def contacts_csv(rows, extra: str = "") -> bytes:
    lines = ["phone,first_name,last_name,office"] + [f"{p},{f},{ln},Bletchley" for p, f, ln in rows]
    return ("\n".join(lines) + "\n" + extra).encode()


def carrier_post(name: str, call: Call, body: dict, **kwargs):
    """A signed webhook, posted the way the carrier posts it."""
    path = reverse(name, kwargs={"provider": "simulated", "call_id": call.pk, **kwargs})
    body = {"CallSid": f"CA{call.pk:032d}", "From": call.from_number, "To": call.to_number, **body}
    signature = RequestValidator(settings.SIMULATED_SIGNING_SECRET).compute_signature(
        settings.PUBLIC_BASE_URL + path, body
    )
    response = Client().post(
        path,
        data=urlencode(body),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code in (200, 204), response.content
    return response


def populate(user, data: dict) -> dict:
    """An account with one of everything: lists, do-not-call, an agent, a running campaign and a
    call placed and answered through the carrier's webhooks, charged to the ledger at hang-up."""
    contact_list = contacts_import(
        workspace=user.personal_workspace,
        name=data["list"],
        filename=f"{data['list']}.csv",
        data=contacts_csv(data["contacts"], data.get("bad_row", "")),
        consent_by=user,
    ).contact_list
    if "spare_contact" in data:  # a list no campaign uses
        contacts_import(
            workspace=user.personal_workspace,
            name=data["list"] + " (spare)",
            filename="spare.csv",
            data=contacts_csv([data["spare_contact"]]),
        )
    donotcall.dnc_add(workspace=user.personal_workspace, phone_number=data["dnc"], reason="Asked not to be called")
    agent = Agent.objects.create(
        workspace=user.personal_workspace,
        name=f"{data['first_name']}'s agent",
        opening_line=data["agent_line"],
        questions="What is the best email for you?\nHow big is your team?",
        answers=f"price | {data['first_name']} will send prices.",
        closing_line="Thanks, goodbye!",
        voicemail_message=data["agent_line"],
        max_call_seconds=60,
        ai_disclosure="",
    )
    campaign = Campaign.objects.create(
        workspace=user.personal_workspace,
        name=data["campaign"],
        agent=agent,
        contact_list=contact_list,
        caller_number="+14155550000",
    )
    campaigns.campaign_launch(campaign=campaign, by=user)
    target = campaign.targets.select_related("contact").first()
    call = Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        target=target,
        contact=target.contact,
        agent=agent,
        to_number=target.contact.phone_number,
        from_number=campaign.caller_number,
        provider="simulated",
        status=Call.Status.DIALING,
    )
    hold = ledger.hold_place(
        workspace=user.personal_workspace,
        reference=f"call:{call.pk}",
        max_amount=60,
        min_amount=10,
        lifetime=timedelta(minutes=3),
    )
    Call.objects.filter(pk=call.pk).update(hold_reference=hold.reference, time_limit_seconds=60)
    carrier_post("telephony_answer", call, {"CallStatus": "in-progress", "AnsweredBy": "human"})
    carrier_post("telephony_turn", call, {"CallStatus": "in-progress", "SpeechResult": data["captured"]}, turn=1)
    carrier_post("telephony_turn", call, {"CallStatus": "in-progress", "SpeechResult": data["transcript"]}, turn=2)
    carrier_post("telephony_status", call, {"CallStatus": "completed", "CallDuration": "30", "SequenceNumber": "1"})
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.credits_charged == Decimal("30")
    assert [value for _, value in call.captured] == [data["captured"], data["transcript"]]
    return {"campaign": campaign, "call": call, "agent": agent, "list": contact_list}


@pytest.fixture
def owner(user):
    user.first_name, user.last_name, user.company_name = OWNER["first_name"], OWNER["last_name"], OWNER["company"]
    user.save()
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    EmailAddress.objects.create(user=user, email=OWNER["other_email"], verified=True, primary=False)
    SocialAccount.objects.create(
        user=user,
        provider="google",
        uid=OWNER["social_uid"],
        extra_data={"email": OWNER["other_email"], "name": f"{OWNER['first_name']} {OWNER['last_name']}"},
    )
    user.things = populate(user, OWNER)
    return user


@pytest.fixture
def rival(db):
    rival = User.objects.create_user(
        email=RIVAL["email"],
        password="another secret pass",
        first_name=RIVAL["first_name"],
        last_name=RIVAL["last_name"],
        company_name=RIVAL["company"],
        mobile_number=RIVAL["mobile"],
        mobile_verified_at=timezone.now(),
    )
    services.account_created(user=rival)
    rival.things = populate(rival, RIVAL)
    ledger.credit_adjust(workspace=rival.personal_workspace, amount=Decimal("7.77"), memo=RIVAL["memo"], by=None)
    return rival


def secrets_of_owner() -> list[str]:
    values = ["owner@example.com", "+14155550123", "14155550123"]  # the `user` fixture's email and mobile
    values += [OWNER[k] for k in ("first_name", "last_name", "company", "other_email", "social_uid", "bad_row")]
    values += [OWNER[k] for k in ("dnc", "agent_line", "campaign", "list", "captured", "transcript")]
    for contact in [*OWNER["contacts"], OWNER["spare_contact"]]:
        values += list(contact)
    return values


def secrets_of_rival() -> list[str]:
    values = [RIVAL[k] for k in ("email", "first_name", "last_name", "company", "mobile", "dnc")]
    values += [RIVAL[k] for k in ("agent_line", "campaign", "list", "captured", "transcript", "memo")]
    for contact in RIVAL["contacts"]:
        values += list(contact)
    return values


# --- Data export ----------------------------------------------------------------------------
def download(client) -> dict[str, str]:
    response = client.get(reverse("account_data_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="clozit-data-')
    raw = response.content
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    files["(raw zip)"] = raw.decode("latin-1")
    return files


def read_csv(content: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content)))


def test_export_holds_all_of_this_accounts_data(client, owner, rival):
    client.force_login(owner)

    files = download(client)

    assert set(files) - {"(raw zip)"} == EXPORT_FILES
    profile = json.loads(files["profile.json"])
    assert profile["email"] == "owner@example.com"
    assert (profile["first_name"], profile["last_name"]) == (OWNER["first_name"], OWNER["last_name"])
    assert (profile["company_name"], profile["mobile_number"]) == (OWNER["company"], "+14155550123")

    contacts = read_csv(files["contacts.csv"])
    expected = [(p, f, ln) for p, f, ln in [*OWNER["contacts"], OWNER["spare_contact"]]]
    # E.164 numbers are written exactly (clozit/csvsafe.py guards only cells a spreadsheet would run).
    assert sorted((c["phone"], c["first_name"], c["last_name"]) for c in contacts) == sorted(expected)
    assert json.loads(contacts[0]["variables"]) == {"office": "Bletchley"}

    agents = json.loads(files["agents.json"])
    assert [a["opening_line"] for a in agents] == [OWNER["agent_line"]]

    assert [(c["id"], c["name"], c["status"]) for c in read_csv(files["campaigns.csv"])] == [
        (str(owner.things["campaign"].pk), OWNER["campaign"], "running")
    ]

    calls = json.loads(files["calls.json"])
    assert [c["id"] for c in calls] == [owner.things["call"].pk]
    assert calls[0]["to"] == "+12025550101"
    assert [value for _, value in calls[0]["captured"]] == [OWNER["captured"], OWNER["transcript"]]
    transcript = calls[0]["transcript"]
    assert transcript[0]["speaker"] == "agent"
    assert transcript[0]["text"].startswith(OWNER["agent_line"].replace("{{first_name}}", "Gracelyn"))
    assert ("callee", OWNER["transcript"]) in [(t["speaker"], t["text"]) for t in transcript]

    ledger_rows = read_csv(files["ledger.csv"])
    assert sorted(Decimal(r["amount"]) for r in ledger_rows) == [Decimal("-30"), Decimal("100")]
    assert {r["reference"] for r in ledger_rows} == {
        f"starter:{owner.personal_workspace.pk}",
        f"call:{owner.things['call'].pk}:usage",
    }

    assert [r["phone"] for r in read_csv(files["do_not_call.csv"])] == [OWNER["dnc"]]  # exactly, no apostrophe


def test_export_holds_nothing_of_another_account(client, owner, rival):
    client.force_login(owner)

    files = download(client)

    everything = "\n".join(files.values()).lower()
    leaked = [value for value in secrets_of_rival() if value.lower() in everything]
    assert leaked == []
    rival_refs = LedgerEntry.objects.filter(account__workspace=rival.personal_workspace).values_list(
        "reference", flat=True
    )
    assert not any(ref in everything for ref in rival_refs)


def test_export_of_the_other_account_is_its_own(client, owner, rival):
    client.force_login(rival)

    files = download(client)

    everything = "\n".join(files.values()).lower()
    assert RIVAL["transcript"].lower() in everything
    assert [value for value in secrets_of_owner() if value.lower() in everything] == []


def test_export_needs_login(client, owner):
    response = client.get(reverse("account_data_export"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- Closing the account ----------------------------------------------------------------------
def close(client, confirm_email, capture):
    with capture(execute=True):
        return client.post(reverse("account_delete"), {"confirm_email": confirm_email})


def test_wrong_email_confirmation_is_refused_and_changes_nothing(client, owner, django_capture_on_commit_callbacks):
    client.force_login(owner)

    response = close(client, "someone.else@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert "That is not your account's email address." in html.unescape(response.content.decode())
    owner.refresh_from_db()
    assert owner.is_active and owner.deletion_requested_at is None
    assert str(client.session.get(SESSION_KEY)) == str(owner.pk)
    assert client.get("/dashboard/").status_code == 200
    assert Campaign.objects.get(workspace=owner.personal_workspace).status == Campaign.Status.RUNNING
    assert mail.outbox == []


def test_deletion_needs_a_post(client, owner):
    client.force_login(owner)

    assert client.get(reverse("account_delete")).status_code == 405
    owner.refresh_from_db()
    assert owner.is_active


def test_closing_the_account(client, owner, rival, django_capture_on_commit_callbacks):
    paused = Campaign.objects.create(
        workspace=owner.personal_workspace,
        name="Paused one",
        agent=owner.things["agent"],
        contact_list=owner.things["list"],
        caller_number="+14155550000",
    )
    campaigns.campaign_launch(campaign=paused, by=owner)
    campaigns.campaign_pause(campaign=paused)
    draft = Campaign.objects.create(
        workspace=owner.personal_workspace,
        name="Draft",
        agent=owner.things["agent"],
        contact_list=owner.things["list"],
        caller_number="+1",
    )
    elsewhere = Client()
    elsewhere.force_login(owner)
    client.force_login(owner)

    response = close(client, "  Owner@Example.com ", django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response["Location"] == reverse("landing")
    assert client.session.get(SESSION_KEY) is None
    landing = client.get(response["Location"])
    assert "Your account is closed" in landing.content.decode()
    assert not landing.wsgi_request.user.is_authenticated
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))
    assert elsewhere.get("/dashboard/")["Location"].startswith(reverse("account_login"))  # signed out everywhere

    owner.refresh_from_db()
    assert not owner.is_active and owner.deletion_requested_at is not None
    assert Campaign.objects.get(pk=owner.things["campaign"].pk).status == Campaign.Status.STOPPED
    paused.refresh_from_db()
    draft.refresh_from_db()
    assert paused.status == Campaign.Status.STOPPED and draft.status == Campaign.Status.DRAFT
    assert Campaign.objects.get(pk=rival.things["campaign"].pk).status == Campaign.Status.RUNNING

    purge_on = owner.deletion_requested_at + timedelta(days=30)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@example.com"]
    assert message.subject == "Your Clozit account has been closed"
    assert f"{purge_on.day} {purge_on:%B %Y}" in " ".join(message.body.split())

    login = Client().post(reverse("account_login"), {"login": "owner@example.com", "password": PASSWORD})
    assert login["Location"] == reverse("account_inactive")

    # Nothing is erased yet: the purge comes later.
    assert Contact.objects.filter(contact_list__workspace=owner.personal_workspace).count() == 3
    assert CallTurn.objects.filter(call__workspace=owner.personal_workspace).exists()


def test_closing_twice_sends_one_email(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(user=owner)
    first = User.objects.get(pk=owner.pk).deletion_requested_at

    with django_capture_on_commit_callbacks(execute=True):
        services.account_delete(user=owner)

    assert len(mail.outbox) == 1
    assert User.objects.get(pk=owner.pk).deletion_requested_at == first


# --- The purge ----------------------------------------------------------------------------------
def every_row() -> str:
    """Every value of every row of every table, as one lower-case string, each row led by its table."""
    rows = []
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:  # no table of its own
            continue
        rows += [f"{model._meta.db_table}: {row!r}" for row in model._base_manager.values_list()]
    return "\n".join(rows).lower()


def found(values: list[str], everything: str) -> dict[str, list[str]]:
    """Each value still present, with the tables that hold it."""
    lines = everything.splitlines()
    return {
        value: sorted({line.split(":", 1)[0] for line in lines if value.lower() in line})
        for value in values
        if value.lower() in everything
    }


def closed(user, capture) -> User:
    AccountStatusChange.objects.create(
        user=user, status="suspended", reason=f"Complaint from {OWNER['contacts'][0][1]} about {user.email}"
    )
    with capture(execute=True):
        services.account_delete(user=user)
    user.refresh_from_db()
    return user


def test_purge_waits_thirty_days(owner, django_capture_on_commit_callbacks):
    owner = closed(owner, django_capture_on_commit_callbacks)

    assert services.accounts_purge_due(now=owner.deletion_requested_at + timedelta(days=29, hours=23)) == 0

    owner.refresh_from_db()
    assert owner.purged_at is None and owner.email == "owner@example.com"
    assert Contact.objects.filter(contact_list__workspace=owner.personal_workspace).count() == 3
    everything = every_row()
    assert all(value.lower() in everything for value in secrets_of_owner())


def test_purge_leaves_no_personal_data_and_keeps_calls_and_ledger(owner, rival, django_capture_on_commit_callbacks):
    owner = closed(owner, django_capture_on_commit_callbacks)
    entries_before = list(
        LedgerEntry.objects.filter(account__workspace=owner.personal_workspace).order_by("id").values()
    )
    call = owner.things["call"]
    everything = every_row()
    assert all(value.lower() in everything for value in secrets_of_owner())  # the search sees them

    assert services.accounts_purge_due(now=owner.deletion_requested_at + timedelta(days=31)) == 1

    everything = every_row()
    assert found(secrets_of_owner(), everything) == {}
    assert len(found(secrets_of_rival(), everything)) == len(secrets_of_rival())  # untouched

    owner.refresh_from_db()
    assert owner.purged_at is not None and not owner.is_active
    assert owner.email == f"deleted-{owner.pk}@deleted.invalid"
    assert not owner.has_usable_password()
    assert not EmailAddress.objects.filter(user=owner).exists()
    assert not SocialAccount.objects.filter(user=owner).exists()
    assert not Contact.objects.filter(contact_list__workspace=owner.personal_workspace).exists()
    assert not DoNotCall.objects.filter(workspace=owner.personal_workspace).exists()
    assert not CallTurn.objects.filter(call__workspace=owner.personal_workspace).exists()
    assert list(ContactList.objects.filter(workspace=owner.personal_workspace).values_list("name", flat=True)) == [
        "Deleted list"
    ]
    assert list(AccountStatusChange.objects.filter(user=owner).values_list("reason", flat=True)) == ["(purged)"]

    kept = Call.objects.get(pk=call.pk)  # the billing record stays, anonymised
    assert (kept.workspace_id, kept.campaign_id, kept.duration_seconds) == (
        owner.personal_workspace.pk,
        call.campaign_id,
        30,
    )
    assert kept.credits_charged == Decimal("30")
    assert (kept.to_number, kept.captured, kept.contact_id, kept.engine_state) == ("", [], None, {})
    # The carrier's events stay (they keep replays from being applied twice) without their payload.
    assert list(ProviderEvent.objects.filter(call_id=call.pk).values_list("kind", "payload")) == [
        ("status:completed", {})
    ]
    assert Campaign.objects.filter(workspace=owner.personal_workspace).count() == 1
    assert (
        list(LedgerEntry.objects.filter(account__workspace=owner.personal_workspace).order_by("id").values())
        == entries_before
    )
    account = CreditAccount.objects.get(workspace=owner.personal_workspace)
    assert account.balance == Decimal("70")
    assert account.balance == LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]

    browser = Client()
    login = browser.post(reverse("account_login"), {"login": "owner@example.com", "password": PASSWORD})
    assert login.status_code == 200 and "not correct" in login.content.decode()
    assert browser.session.get(SESSION_KEY) is None


def test_running_the_purge_twice_is_harmless(owner, django_capture_on_commit_callbacks):
    owner = closed(owner, django_capture_on_commit_callbacks)
    later = owner.deletion_requested_at + timedelta(days=31)
    assert services.accounts_purge_due(now=later) == 1
    first = User.objects.get(pk=owner.pk)
    snapshot = every_row()

    assert services.accounts_purge_due(now=later + timedelta(days=1)) == 0
    services.account_purge(user_id=owner.pk)

    assert User.objects.get(pk=owner.pk).purged_at == first.purged_at
    assert every_row() == snapshot


def test_purge_ignores_accounts_that_were_not_closed(owner, rival):
    assert services.accounts_purge_due(now=timezone.now() + timedelta(days=3650)) == 0

    owner.refresh_from_db()
    assert owner.purged_at is None and owner.email == "owner@example.com"


def test_the_purge_is_scheduled_daily_and_runs_as_a_job(owner, run_jobs, django_capture_on_commit_callbacks):
    from rq.cron import CronScheduler

    owner = closed(owner, django_capture_on_commit_callbacks)
    User.objects.filter(pk=owner.pk).update(deletion_requested_at=timezone.now() - timedelta(days=31))
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("clozit.cron")
    job = next(j for j in scheduler.get_jobs() if j.func is services.accounts_purge_due)
    assert (job.cron, job.queue_name) == ("17 3 * * *", "default")

    queued = job.enqueue(django_rq.get_connection("default"))
    run_jobs()

    queued.refresh()
    assert queued.get_status() == "finished" and queued.return_value() == 1

    owner.refresh_from_db()
    assert owner.purged_at is not None and owner.email.endswith("@deleted.invalid")
