"""Support staff can open every model's admin list, search it, and keep the do-not-call list."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import User
from campaigns.models import DoNotCall
from campaigns.tests.factories import make_campaign


@pytest.fixture
def staff_client(client, db):
    staff = User.objects.create_superuser(email="support@example.com", password="pw")
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_every_registered_model_has_a_working_list_and_search(staff_client, user):
    make_campaign(user, ["+12025550101"])
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url
        if model_admin.search_fields:
            assert staff_client.get(url, {"q": "example"}).status_code == 200, url


@pytest.mark.django_db
def test_staff_add_numbers_to_the_do_not_call_list_in_e164(staff_client, user):
    url = reverse("admin:campaigns_donotcall_add")
    response = staff_client.post(
        url, {"workspace": user.personal_workspace.pk, "phone_number": "(202) 555-0101", "reason": "complaint"}
    )
    assert response.status_code == 302
    assert DoNotCall.objects.get(workspace=user.personal_workspace).phone_number == "+12025550101"

    response = staff_client.post(
        url, {"workspace": user.personal_workspace.pk, "phone_number": "not a number", "reason": "x"}
    )
    assert response.status_code == 200 and "is not a phone number" in response.content.decode()
    assert DoNotCall.objects.count() == 1


def test_the_admin_login_form_is_replaced_by_the_two_step_login(client, db):
    response = client.get("/admin/login/?next=/admin/billing/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/billing/"
    final = client.get("/admin/", follow=True).redirect_chain[-1][0]
    assert final.startswith("/accounts/login/")
