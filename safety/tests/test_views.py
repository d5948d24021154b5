"""The public "Who called me?" page over HTTP: what it shows, what it never shows, its limits."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User, Workspace
from campaigns.models import DoNotCall
from campaigns.tests.factories import make_campaign
from safety.models import Report
from safety.views import call_token

from .helpers import CALLEE, CALLER, placed_call

pytestmark = pytest.mark.django_db

URL = "/who-called/"


def look_up(client, caller=CALLER, callee=CALLEE, **extra):
    return client.post(URL, {"caller_number": caller, "callee_number": callee, "website": "", **extra}, **_ip(extra))


def _ip(extra):
    return {"REMOTE_ADDR": extra.pop("ip")} if "ip" in extra else {}


def answer(response) -> str:
    """The page without the parts that differ on every response (CSRF tokens, signed links)."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'name="token" value="[^"]+"', "", html)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def campaign(user):
    Workspace.objects.filter(pk=user.personal_workspace.pk).update(company_name="Acme Dental")
    return make_campaign(user, [CALLEE])


def test_the_page_is_public_and_linked_from_the_landing_page(client):
    assert 'href="/who-called/"' in client.get("/").content.decode()
    response = client.get(URL)
    assert response.status_code == 200
    assert "The number that called you" in text(response) and "Your own number" in text(response)


def test_a_member_of_a_suspended_workspace_can_use_it_too(client, user):
    Workspace.objects.filter(pk=user.personal_workspace.pk).update(status="suspended")
    client.force_login(user)
    assert client.get(URL).status_code == 200


def test_a_lookup_shows_who_called_when_and_why(client, campaign):
    placed_call(campaign, days_ago=2)

    response = look_up(client, caller="(415) 555-0000", callee="415 555 0199")

    page = text(response)
    assert response.status_code == 200
    assert "Acme Dental" in page and "“Inviting customers to our spring sale”" in page
    assert "Stop Acme Dental calling me" in page and "Report this call" in page


def test_wrong_pair_and_no_calls_give_the_same_answer(client, campaign):
    nothing = answer(look_up(client, caller="+14155550111", callee="+14155550122"))
    # The caller number called someone else, and the callee number was called by someone else.
    placed_call(campaign, to="+14155550122")
    other = make_campaign(User.objects.create_user(email="b@example.com", password="x"), [CALLEE])
    other.caller_number = "+14155550111"
    other.save()
    placed_call(other, to="+14155550133")
    placed_call(campaign, to="+14155550134")

    wrong_pair = answer(look_up(client, caller="+14155550111", callee="+14155550122"))

    assert wrong_pair == nothing
    assert "We found no call from that number to yours in the last 90 days." in nothing
    assert "Acme" not in nothing


def test_a_bot_filling_the_honeypot_is_told_nothing_even_for_a_real_call(client, campaign):
    no_calls = answer(look_up(client))
    placed_call(campaign)

    bot = look_up(client, website="http://spam.example")

    assert bot.status_code == 200
    assert answer(bot) == no_calls


def test_numbers_that_are_not_numbers_are_explained(client):
    response = look_up(client, caller="hello", callee="12")
    page = text(response)
    assert "Enter the number that called you as your phone showed it" in page
    assert "Enter your own number as your phone showed it" in page


def test_lookups_are_limited_per_address(client, campaign, settings):
    settings.SAFETY_LOOKUPS_PER_IP, settings.SAFETY_LOOKUPS_PER_NUMBER = 3, 100
    placed_call(campaign)
    for n in range(3):
        assert look_up(client, callee=f"+1415555012{n}", ip="203.0.113.5").status_code == 200

    limited = look_up(client, ip="203.0.113.5")

    assert limited.status_code == 429
    assert "Too many look-ups" in text(limited) and "Acme Dental" not in text(limited)
    # Another address is counted on its own.
    assert "Acme Dental" in text(look_up(client, ip="203.0.113.6"))


def test_lookups_are_limited_per_callee_number_whatever_the_address(client, campaign, settings):
    settings.SAFETY_LOOKUPS_PER_IP, settings.SAFETY_LOOKUPS_PER_NUMBER = 100, 2
    placed_call(campaign)
    for n in range(2):
        look_up(client, caller=f"+1415555011{n}", ip=f"198.51.100.{n}")

    limited = look_up(client, ip="198.51.100.9")

    assert limited.status_code == 429 and "Too many look-ups" in text(limited)
    assert "Acme Dental" not in text(limited)
    assert look_up(client, callee="+14155550123", ip="198.51.100.10").status_code == 200


def test_the_form_keeps_its_csrf_protection(campaign):
    client = Client(enforce_csrf_checks=True)
    response = client.post(URL, {"caller_number": CALLER, "callee_number": CALLEE})
    assert response.status_code == 403


def act(client, call, **data):
    token = data.pop("token", None) or call_token(call_id=call.pk, callee_number=call.to_number)
    return client.post(reverse("who_called_act"), {"token": token, "website": "", **data})


def test_stopping_the_business_puts_the_number_on_its_list_at_once(client, campaign):
    call = placed_call(campaign)

    response = act(client, call, action="business")

    assert "Done. Acme Dental will not call your number again through Clozit." in text(response)
    assert DoNotCall.objects.get(phone_number=CALLEE).workspace_id == campaign.workspace_id


def test_stopping_everyone_puts_the_number_on_the_platform_list(client, campaign):
    response = act(client, placed_call(campaign), action="everyone")

    assert "No business on Clozit will call your number again." in text(response)
    assert DoNotCall.objects.get(phone_number=CALLEE).workspace_id is None


def test_a_report_reaches_the_queue(client, campaign):
    call = placed_call(campaign)

    response = act(client, call, action="report", reason="harassment", text="Called me at 7 am.")

    assert "Your report reached our staff" in text(response)
    report = Report.objects.get()
    assert (report.call, report.reason, report.text, report.status) == (
        call,
        "harassment",
        "Called me at 7 am.",
        "open",
    )
    again = act(client, call, action="report", reason="spam")
    assert again.status_code == 400 and "already reported" in text(again)


def test_a_report_without_a_reason_is_refused_with_why(client, campaign):
    response = act(client, placed_call(campaign), action="report")
    assert response.status_code == 400 and "Choose what was wrong with the call." in text(response)
    assert not Report.objects.exists()


def test_a_forged_or_tampered_link_does_nothing(client, campaign):
    call = placed_call(campaign)
    forged = call_token(call_id=call.pk, callee_number=CALLEE)[:-2] + "xx"

    response = act(client, call, action="everyone", token=forged)

    assert response.status_code == 400 and "This page has expired" in text(response)
    assert not DoNotCall.objects.exists()


def test_a_link_for_another_number_does_nothing(client, campaign):
    call = placed_call(campaign)
    response = act(client, call, action="business", token=call_token(call_id=call.pk, callee_number="+14155550111"))
    assert response.status_code == 400 and not DoNotCall.objects.exists()


def test_a_bot_filling_the_honeypot_under_a_call_changes_nothing(client, campaign):
    call = placed_call(campaign)
    response = act(client, call, action="everyone", website="http://spam.example")
    assert response.status_code == 200 and not DoNotCall.objects.exists()
