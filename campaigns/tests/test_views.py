"""The app's pages through the Django test client: what a logged-in user sees and can do."""

import html
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from billing import ledger
from campaigns.models import Agent, Call, Campaign, CampaignContact, Contact, ContactList, DoNotCall
from campaigns.tests.factories import make_agent, make_campaign, make_list
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db

NUMBERS = ["+12025550101", "+12025550102", "+12025550103"]


def text(response) -> str:
    """The page as a person reads it: HTML entities decoded."""
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def other(db):
    other = User.objects.create_user(email="rival@example.com", password="another secret pass")
    account_created(user=other)
    return other


def agent_data(**overrides) -> dict:
    data = {
        "name": "Renewals bot",
        "language": "en-US",
        "voice": "Polly.Joanna",
        "opening_line": "Hi {{first_name}}, this is an AI assistant from Acme.",
        "questions": "Is now a good time?\nWould you like to renew?",
        "answers": "price, cost | Renewal is 49 dollars a month.",
        "closing_line": "Thanks, goodbye!",
        "voicemail_action": "hangup",
        "voicemail_message": "",
        "max_call_seconds": "120",
        "outcomes": "renewed | Agreed to renew\nnot_interested | Declined",
    }
    data.update(overrides)
    return data


def upload(name="leads.csv", content: str = "phone\n+12025550101\n"):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


# --- Access -------------------------------------------------------------------------------
APP_PAGES = [
    ("dashboard", []),
    ("agent_list", []),
    ("agent_create", []),
    ("agent_edit", [1]),
    ("agent_delete", [1]),
    ("contactlist_list", []),
    ("contactlist_upload", []),
    ("contactlist_detail", [1]),
    ("contactlist_map", [1]),
    ("contactlist_import", [1]),
    ("dnc_list", []),
    ("campaign_list", []),
    ("campaign_create", []),
    ("campaign_detail", [1]),
    ("call_list", []),
    ("call_detail", [1]),
    ("credits", []),
]


@pytest.mark.parametrize("name,args", APP_PAGES)
def test_every_app_page_requires_login(client, name, args):
    url = reverse(name, args=args)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert f"next={url}" in response["Location"]


def test_campaign_actions_require_login(client, user):
    campaign = make_campaign(user, NUMBERS)

    response = client.post(reverse("campaign_action", args=[campaign.pk, "launch"]))

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_dnc_post_requires_login(client, user):
    response = client.post(reverse("dnc_list"), {"phone_number": "+12025550101"})

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not DoNotCall.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["dashboard", "agent_list", "agent_create", "contactlist_list", "contactlist_upload", "dnc_list"]
    + ["campaign_list", "campaign_create", "call_list", "credits"],
)
def test_app_pages_render_for_a_logged_in_user(logged_in, name):
    response = logged_in.get(reverse(name))

    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_another_users_objects_are_not_found(logged_in, other):
    campaign = make_campaign(other, NUMBERS)
    call = Call.objects.create(
        workspace=other.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        to_number=NUMBERS[0],
        from_number="+14155550000",
        provider="simulated",
    )
    urls = [
        reverse("agent_edit", args=[campaign.agent.pk]),
        reverse("agent_delete", args=[campaign.agent.pk]),
        reverse("contactlist_detail", args=[campaign.contact_list.pk]),
        reverse("campaign_detail", args=[campaign.pk]),
        reverse("call_detail", args=[call.pk]),
    ]
    for url in urls:
        assert logged_in.get(url).status_code == 404, url

    # Nor can they be changed.
    assert logged_in.post(reverse("agent_edit", args=[campaign.agent.pk]), agent_data()).status_code == 404
    assert logged_in.post(reverse("agent_delete", args=[campaign.agent.pk])).status_code == 404
    for action in ("launch", "pause", "resume", "stop"):
        assert logged_in.post(reverse("campaign_action", args=[campaign.pk, action])).status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert Agent.objects.get(pk=campaign.agent.pk).name == "Sales assistant"


def test_lists_show_only_the_users_own_things(logged_in, user, other):
    make_campaign(other, NUMBERS)
    Agent.objects.filter(workspace=other.personal_workspace).update(name="Rival agent")
    ContactList.objects.filter(workspace=other.personal_workspace).update(name="Rival list")
    Campaign.objects.filter(workspace=other.personal_workspace).update(name="Rival campaign")
    DoNotCall.objects.create(workspace=other.personal_workspace, phone_number="+12025550199")
    mine = make_campaign(user, NUMBERS)

    agents = text(logged_in.get(reverse("agent_list")))
    lists = text(logged_in.get(reverse("contactlist_list")))
    campaigns = text(logged_in.get(reverse("campaign_list")))
    dnc = text(logged_in.get(reverse("dnc_list")))

    assert "Sales assistant" in agents and "Rival agent" not in agents
    assert "Leads" in lists and "Rival list" not in lists
    assert mine.name in campaigns and "Rival campaign" not in campaigns
    assert "+12025550199" not in dnc


# --- Agents -------------------------------------------------------------------------------
def test_agent_form_explains_contact_variables(logged_in):
    response = logged_in.get(reverse("agent_create"))

    assert response.status_code == 200
    page = text(response)
    assert "<h1>New agent</h1>" in page
    assert "<code>{{first_name}}</code>" in page and "<code>{{company}}</code>" in page


def test_agent_create_saves_a_valid_agent(logged_in, user):
    response = logged_in.post(reverse("agent_create"), agent_data(), follow=True)

    assert response.redirect_chain[-1][0] == reverse("agent_list")
    agent = Agent.objects.get(workspace=user.personal_workspace)
    assert agent.name == "Renewals bot"
    assert agent.max_call_seconds == 120
    assert "Agent “Renewals bot” saved." in messages_of(response)
    assert "Renewals bot" in text(response)


@pytest.mark.parametrize("seconds", ["5", "14", "3601"])
def test_agent_create_with_out_of_range_call_length_shows_the_error_and_saves_nothing(logged_in, seconds):
    response = logged_in.post(reverse("agent_create"), agent_data(max_call_seconds=seconds))

    assert response.status_code == 200
    page = text(response)
    assert "Choose between 15 seconds and one hour (3600 seconds)." in page
    assert 'id="id_max_call_seconds-errors"' in page  # shown next to the field
    assert 'value="Renewals bot"' in page  # what was typed is kept
    assert not Agent.objects.exists()


def test_agent_answers_line_without_separator_is_rejected(logged_in):
    response = logged_in.post(
        reverse("agent_create"), agent_data(answers="price, cost | 49 dollars a month.\nWe are the best")
    )

    assert response.status_code == 200
    assert "Line 2 needs the form 'keywords | answer'." in text(response)
    assert not Agent.objects.exists()


def test_agent_answer_without_text_after_separator_is_rejected(logged_in):
    response = logged_in.post(reverse("agent_create"), agent_data(answers="price |"))

    assert "Line 1 needs the form 'keywords | answer'." in text(response)
    assert not Agent.objects.exists()


def test_agent_with_broken_variable_braces_is_rejected(logged_in):
    response = logged_in.post(reverse("agent_create"), agent_data(opening_line="Hi {{first name}}!"))

    assert "Write contact variables as {{first_name}}" in text(response)
    assert not Agent.objects.exists()


def test_agent_missing_required_lines_is_rejected(logged_in):
    response = logged_in.post(reverse("agent_create"), agent_data(opening_line="", closing_line=""))

    assert response.status_code == 200
    assert text(response).count("This field is required.") == 2
    assert not Agent.objects.exists()


def test_agent_edit_changes_the_existing_agent(logged_in, user):
    agent = make_agent(user)

    page = logged_in.get(reverse("agent_edit", args=[agent.pk]))
    assert "Edit “Sales assistant”" in text(page)

    response = logged_in.post(reverse("agent_edit", args=[agent.pk]), agent_data(name="Renamed"))

    assert response.status_code == 302
    assert Agent.objects.get().name == "Renamed"
    assert Agent.objects.count() == 1


def test_agent_delete_asks_then_deletes(logged_in, user):
    agent = make_agent(user)

    confirm = logged_in.get(reverse("agent_delete", args=[agent.pk]))
    assert confirm.status_code == 200
    assert "Delete “Sales assistant”?" in text(confirm)
    assert Agent.objects.filter(pk=agent.pk).exists()

    response = logged_in.post(reverse("agent_delete", args=[agent.pk]), follow=True)

    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert "Agent “Sales assistant” deleted." in messages_of(response)


def test_agent_delete_refused_while_a_campaign_uses_it(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    response = logged_in.post(reverse("agent_delete", args=[campaign.agent.pk]), follow=True)

    assert Agent.objects.filter(pk=campaign.agent.pk).exists()
    assert "This agent is used by a campaign, so it cannot be deleted." in messages_of(response)
    assert response.redirect_chain[-1][0] == reverse("agent_list")


# --- Contacts -----------------------------------------------------------------------------
def _map_and_import(client, contact_list, run_jobs, capture, **overrides):
    """Step 2 of the upload: the guessed columns, consent ticked; then the worker runs the import."""
    guessed = contact_list.column_mapping
    data = {f: guessed.get(f, "") for f in ("phone", "first_name", "last_name", "time_zone", "tags")}
    data.update(
        name="Spring leads",
        variables=guessed.get("variables", []),
        default_country="US",
        list_tags="",
        consent="on",
    )
    data.update(overrides)
    with capture(execute=True):
        response = client.post(reverse("contactlist_map", args=[contact_list.pk]), data)
    run_jobs()
    return response


def test_contacts_upload_maps_imports_and_shows_problems_with_line_numbers(
    logged_in, user, run_jobs, django_capture_on_commit_callbacks
):
    csv_text = (
        "Phone Number,First Name,Company Name\n"
        "(202) 555-0101,Ann,Acme\n"  # line 2
        "garbage,Bob,Beta\n"  # line 3
        "+1 202 555 0101,Ann again,Acme\n"  # line 4: duplicate of line 2
        "+44 20 7946 0123,Cy,Gamma\n"  # line 5
    )

    response = logged_in.post(reverse("contactlist_upload"), {"file": upload("spring.csv", csv_text)})
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    assert response["Location"] == reverse("contactlist_map", args=[contact_list.pk])
    response = _map_and_import(logged_in, contact_list, run_jobs, django_capture_on_commit_callbacks)

    assert response["Location"] == reverse("contactlist_import", args=[contact_list.pk])
    contact_list.refresh_from_db()
    assert contact_list.name == "Spring leads"
    assert contact_list.source_filename == "spring.csv"
    progress = text(logged_in.get(reverse("contactlist_import", args=[contact_list.pk])))
    assert "2 contacts imported into “Spring leads”; 2 rows not imported." in progress
    assert "'garbage' is not a phone number" in progress
    assert "+12025550101 already appears on line 2" in progress
    page = text(logged_in.get(reverse("contactlist_detail", args=[contact_list.pk])))
    assert "2 contacts from spring.csv" in page
    assert "2 rows of the file were not imported." in page
    assert "+12025550101" in page and "+442079460123" in page
    assert "company_name" in page and "Acme" in page


def test_contacts_upload_without_phone_column_asks_for_one_on_the_mapping_page(logged_in, user):
    logged_in.post(reverse("contactlist_upload"), {"file": upload(content="name,email\nAnn,a@example.com\n")})
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)

    page = logged_in.get(reverse("contactlist_map", args=[contact_list.pk]))
    response = logged_in.post(
        reverse("contactlist_map", args=[contact_list.pk]),
        {"name": "Bad", "phone": "", "default_country": "US", "consent": "on"},
    )

    assert page.context["form"]["phone"].value() == ""
    assert response.status_code == 200
    assert 'id="id_phone-errors"' in text(response) and "This field is required." in text(response)
    assert 'value="Bad"' in text(response)
    assert not Contact.objects.exists()


def test_contacts_upload_with_only_bad_rows_imports_nothing_and_reports_them(
    logged_in, user, run_jobs, django_capture_on_commit_callbacks
):
    logged_in.post(reverse("contactlist_upload"), {"file": upload(content="phone\nnope\n")})
    contact_list = ContactList.objects.get(workspace=user.personal_workspace)
    _map_and_import(logged_in, contact_list, run_jobs, django_capture_on_commit_callbacks)

    page = text(logged_in.get(reverse("contactlist_import", args=[contact_list.pk])))

    assert "0 contacts imported into “Spring leads”; 1 row not imported." in page
    assert "'nope' is not a phone number" in page
    assert not Contact.objects.exists()


def test_contacts_upload_requires_a_file(logged_in):
    response = logged_in.post(reverse("contactlist_upload"), {"name": ""})

    assert response.status_code == 200
    assert text(response).count("This field is required.") == 1
    assert not ContactList.objects.exists()


def test_contact_list_page_without_problems_has_no_problem_box(logged_in, user):
    contact_list = make_list(user, NUMBERS)

    page = text(logged_in.get(reverse("contactlist_detail", args=[contact_list.pk])))

    assert "3 contacts from leads.csv" in page
    assert 'data-testid="import-problems"' not in page
    assert all(n in page for n in NUMBERS)


def test_contact_lists_page_counts_contacts(logged_in, user):
    make_list(user, NUMBERS, name="Three people")

    page = text(logged_in.get(reverse("contactlist_list")))

    assert "Three people" in page
    assert '<td data-label="Contacts">3</td>' in page


# --- Do-not-call --------------------------------------------------------------------------
def test_dnc_page_adds_a_normalised_number(logged_in, user):
    response = logged_in.post(reverse("dnc_list"), {"phone_number": "(202) 555-0101"}, follow=True)

    entry = DoNotCall.objects.get(workspace=user.personal_workspace)
    assert entry.phone_number == "+12025550101"
    assert entry.reason == "Added by you"
    assert "+12025550101 will not be called." in messages_of(response)
    assert "+12025550101" in text(response)


def test_dnc_page_adding_twice_keeps_one_entry(logged_in, user):
    logged_in.post(reverse("dnc_list"), {"phone_number": "+12025550101"})
    logged_in.post(reverse("dnc_list"), {"phone_number": "202-555-0101"})

    assert DoNotCall.objects.filter(workspace=user.personal_workspace).count() == 1


@pytest.mark.parametrize("garbage", ["hello", "", "123"])
def test_dnc_page_rejects_garbage(logged_in, garbage):
    response = logged_in.post(reverse("dnc_list"), {"phone_number": garbage}, follow=True)

    assert not DoNotCall.objects.exists()
    (message,) = messages_of(response)
    assert message.startswith("Not added: ")


def test_dnc_numbers_are_skipped_when_a_campaign_launches(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    logged_in.post(reverse("dnc_list"), {"phone_number": NUMBERS[1]})

    logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]))

    statuses = dict(campaign.targets.values_list("contact__phone_number", "status"))
    assert statuses == {
        NUMBERS[0]: CampaignContact.Status.PENDING,
        NUMBERS[1]: CampaignContact.Status.SKIPPED,
        NUMBERS[2]: CampaignContact.Status.PENDING,
    }


# --- Campaigns ----------------------------------------------------------------------------
SHARED_NUMBER = "+12025550100"


def campaign_data(user, **overrides) -> dict:
    data = {
        "name": "Renewals",
        "purpose": "Reminding customers their plan renews soon",
        "agent": make_agent(user).pk,
        "contact_list": make_list(user, NUMBERS).pk,
        "caller_number": settings.DEFAULT_CALLER_ID,
        "max_concurrent_calls": "3",
    }
    data.update(overrides)
    return data


def test_campaign_create_saves_a_draft_with_the_chosen_caller_number(logged_in, user):
    response = logged_in.post(reverse("campaign_create"), campaign_data(user), follow=True)

    campaign = Campaign.objects.get(workspace=user.personal_workspace)
    assert response.redirect_chain[-1][0] == reverse("campaign_detail", args=[campaign.pk])
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.caller_number == settings.DEFAULT_CALLER_ID
    assert campaign.max_concurrent_calls == 3
    assert "Campaign created. Launch it when you are ready." in messages_of(response)


def test_campaign_create_form_starts_with_the_default_caller_id_on_a_fresh_install(logged_in, settings):
    settings.DEFAULT_CALLER_ID = "+15005550006"

    page = text(logged_in.get(reverse("campaign_create")))

    assert '<option value="+15005550006" selected>+15005550006 — shared</option>' in page


def test_campaign_caller_numbers_are_the_accounts_own_and_the_shared_ones(logged_in, user, other):
    PhoneNumber.objects.create(number=SHARED_NUMBER, provider="simulated")
    PhoneNumber.objects.create(workspace=user.personal_workspace, number="+14155550102", provider="simulated")
    PhoneNumber.objects.create(
        workspace=user.personal_workspace, number="+14155550103", provider="simulated", status="released"
    )
    PhoneNumber.objects.create(workspace=other.personal_workspace, number="+14155550104", provider="simulated")

    page = text(logged_in.get(reverse("campaign_create")))

    assert '<option value="+14155550102" selected>+14155550102 — your number</option>' in page
    assert f'<option value="{SHARED_NUMBER}">{SHARED_NUMBER} — shared</option>' in page
    for absent in ("+14155550103", "+14155550104", settings.DEFAULT_CALLER_ID):
        assert absent not in page

    logged_in.post(reverse("campaign_create"), campaign_data(user, caller_number="+14155550102"))
    assert Campaign.objects.get(workspace=user.personal_workspace).caller_number == "+14155550102"


@pytest.mark.parametrize("caller", ["not a phone", "+14155550103", "+14155550104", "+15005550006"])
def test_campaign_create_refuses_a_number_the_account_may_not_call_from(logged_in, user, other, caller):
    PhoneNumber.objects.create(number=SHARED_NUMBER, provider="simulated")  # no fallback once shared ones exist
    PhoneNumber.objects.create(
        workspace=user.personal_workspace, number="+14155550103", provider="simulated", status="released"
    )
    PhoneNumber.objects.create(workspace=other.personal_workspace, number="+14155550104", provider="simulated")

    response = logged_in.post(reverse("campaign_create"), campaign_data(user, caller_number=caller))

    assert response.status_code == 200
    assert "Choose one of your numbers or a shared number." in text(response)
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("concurrency", ["0", "51"])
def test_campaign_create_rejects_out_of_range_concurrency(logged_in, user, concurrency):
    response = logged_in.post(reverse("campaign_create"), campaign_data(user, max_concurrent_calls=concurrency))

    assert "Choose between 1 and 50 calls at the same time." in text(response)
    assert not Campaign.objects.exists()


def test_campaign_create_cannot_use_another_users_agent_or_list(logged_in, user, other):
    theirs = make_campaign(other, NUMBERS)
    data = campaign_data(user, agent=theirs.agent.pk, contact_list=theirs.contact_list.pk)

    response = logged_in.post(reverse("campaign_create"), data)

    assert response.status_code == 200
    assert text(response).count("Select a valid choice.") == 2
    assert not Campaign.objects.filter(workspace=user.personal_workspace).exists()


def test_campaign_detail_shows_the_full_page(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    response = logged_in.get(reverse("campaign_detail", args=[campaign.pk]))

    page = text(response)
    assert "<html" in page
    assert campaign.name in page
    assert 'data-testid="campaign-status">Draft<' in page
    assert "Launch campaign" in page


def test_campaign_detail_returns_only_the_progress_fragment_to_htmx(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]))

    response = logged_in.get(reverse("campaign_detail", args=[campaign.pk]), headers={"HX-Request": "true"})

    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page and "<body" not in page
    assert 'data-testid="campaign-status">Running<' in page
    assert 'data-testid="count-queued">3<' in page
    assert "Pause" in page


def test_htmx_polling_stops_once_the_campaign_has_ended(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    url = reverse("campaign_detail", args=[campaign.pk])
    logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]))
    assert logged_in.get(url, headers={"HX-Request": "true"}).status_code == 200

    logged_in.post(reverse("campaign_action", args=[campaign.pk, "stop"]))
    response = logged_in.get(url, headers={"HX-Request": "true"})

    assert response.status_code == 286  # htmx's "stop polling"
    assert 'data-testid="campaign-status">Stopped<' in text(response)
    assert logged_in.get(url).status_code == 200  # the full page is a normal page


def test_launch_pause_resume_stop_through_the_action_urls(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    def act(action):
        response = logged_in.post(reverse("campaign_action", args=[campaign.pk, action]), follow=True)
        assert response.redirect_chain[-1][0] == reverse("campaign_detail", args=[campaign.pk])
        campaign.refresh_from_db()
        return messages_of(response)

    assert act("launch") == ["Campaign launched: calls are starting."]
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.started_at is not None
    assert campaign.targets.count() == 3

    assert act("pause") == ["Campaign paused."]
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == "Paused by you."

    assert act("resume") == ["Campaign resumed."]
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.status_reason == ""

    assert act("stop") == ["Campaign stopped."]
    assert campaign.status == Campaign.Status.STOPPED
    assert campaign.finished_at is not None
    assert set(campaign.targets.values_list("status", flat=True)) == {CampaignContact.Status.SKIPPED}

    # Once stopped, nothing brings it back.
    assert act("resume") == ["Only a paused campaign can be resumed."]
    assert act("launch") == ["This campaign has already been launched."]
    assert act("stop") == ["This campaign has already ended."]
    assert campaign.status == Campaign.Status.STOPPED


def test_actions_out_of_order_are_refused_with_a_message(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    url = lambda action: reverse("campaign_action", args=[campaign.pk, action])  # noqa: E731

    assert messages_of(logged_in.post(url("pause"), follow=True)) == ["Only a running campaign can be paused."]
    assert messages_of(logged_in.post(url("resume"), follow=True)) == ["Only a paused campaign can be resumed."]
    assert messages_of(logged_in.post(url("stop"), follow=True)) == ["This campaign has not been launched."]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_unknown_action_changes_nothing(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    response = logged_in.post(reverse("campaign_action", args=[campaign.pk, "explode"]))

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_actions_refuse_get(logged_in, user):
    campaign = make_campaign(user, NUMBERS)

    response = logged_in.get(reverse("campaign_action", args=[campaign.pk, "launch"]))

    assert response.status_code == 405
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_launch_with_too_few_credits_shows_a_clear_error_and_stays_draft(logged_in, user, settings):
    settings.CALL_MIN_CREDITS = 10
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-95"), kind="staff_adjustment", reference="drain"
    )
    campaign = make_campaign(user, NUMBERS)

    response = logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]), follow=True)

    assert messages_of(response) == ["You need at least 10 credits to start calling. Add credits and try again."]
    assert "You need at least 10 credits to start calling." in text(response)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not campaign.targets.exists()


def test_launch_for_an_account_that_never_got_credits(client, settings):
    settings.STARTER_CREDITS = 0
    broke = User.objects.create_user(
        email="broke@example.com", password="x", mobile_number="+14155550199", mobile_verified_at=timezone.now()
    )
    account_created(user=broke)
    client.force_login(broke)
    campaign = make_campaign(broke, NUMBERS)

    response = client.post(reverse("campaign_action", args=[campaign.pk, "launch"]), follow=True)

    assert "credits to start calling" in messages_of(response)[0]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_resume_with_too_few_credits_stays_paused(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]))
    logged_in.post(reverse("campaign_action", args=[campaign.pk, "pause"]))
    ledger.credit_post(
        workspace=user.personal_workspace, amount=Decimal("-100"), kind="staff_adjustment", reference="drain"
    )

    response = logged_in.post(reverse("campaign_action", args=[campaign.pk, "resume"]), follow=True)

    assert "credits to start calling" in messages_of(response)[-1]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED


def test_launch_queues_the_dialer_once_committed(logged_in, user, django_capture_on_commit_callbacks):
    campaign = make_campaign(user, NUMBERS)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        logged_in.post(reverse("campaign_action", args=[campaign.pk, "launch"]))

    assert len(callbacks) == 1


# --- Calls --------------------------------------------------------------------------------
def test_call_pages_show_the_users_calls(logged_in, user):
    campaign = make_campaign(user, NUMBERS)
    contact = campaign.contact_list.contacts.first()
    call = Call.objects.create(
        workspace=user.personal_workspace,
        campaign=campaign,
        agent=campaign.agent,
        contact=contact,
        to_number=contact.phone_number,
        from_number="+14155550000",
        provider="simulated",
        status=Call.Status.COMPLETED,
        outcome=Call.Outcome.INTERESTED,
        duration_seconds=42,
        credits_charged=Decimal("42"),
        captured=[["Is now a good time?", "Yes"]],
    )
    call.turns.create(sequence=1, speaker="agent", text="Hi Person0, this is Sam.")
    call.turns.create(sequence=2, speaker="callee", text="Hello there.")

    listing = text(logged_in.get(reverse("call_list")))
    detail = text(logged_in.get(reverse("call_detail", args=[call.pk])))

    assert "Person0" in listing and "Interested" in listing
    assert 'data-testid="call-outcome">Interested<' in detail
    assert 'data-testid="call-duration">42 s<' in detail
    assert 'data-testid="call-cost">42 credits<' in detail
    assert "Hi Person0, this is Sam." in detail and "Hello there." in detail
    assert "Is now a good time?" in detail
