import pytest
from django.urls import reverse

from campaigns.contacts.importing import contacts_import


@pytest.mark.django_db
def test_default_country_changes_how_contact_numbers_are_read(client, user):
    client.force_login(user)
    response = client.post(
        reverse("account_settings"),
        {
            "first_name": "Ada",
            "last_name": "L",
            "company_name": "Acme",
            "default_country": "GB",
            "time_zone": "Europe/London",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.default_country == "GB" and user.company_name == "Acme" and user.time_zone == "Europe/London"
    report = contacts_import(
        workspace=user.personal_workspace, name="UK", filename="uk.csv", data=b"phone\n020 7946 0123\n"
    )
    assert report.contact_list.contacts.get().phone_number == "+442079460123"


@pytest.mark.django_db
def test_unknown_country_is_refused(client, user):
    client.force_login(user)
    response = client.post(
        reverse("account_settings"), {"company_name": "Acme", "default_country": "XX", "time_zone": "UTC"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    user.refresh_from_db()
    assert user.default_country == "US"


def test_settings_need_login(client, db):
    assert client.get(reverse("account_settings")).status_code == 302
