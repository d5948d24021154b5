"""Uploads nobody finished: a list whose columns were never mapped is deleted with its file a day
later, by a daily job; everything else stays."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq.cron import CronScheduler

from campaigns.contacts import lists
from campaigns.contacts.importing import contact_list_import_start, contact_upload_create
from campaigns.models import Campaign, ContactList, ContactUpload
from campaigns.tests.factories import SHARED_CALLER, make_agent

pytestmark = pytest.mark.django_db

CSV = b"phone,first_name\n+12025550101,Ann\n+12025550102,Bob\n"


def uploaded(user, name: str, *, hours_ago: float) -> ContactList:
    contact_list = contact_upload_create(workspace=user.personal_workspace, filename=f"{name}.csv", data=CSV)
    ContactList.objects.filter(pk=contact_list.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return contact_list


def test_an_upload_left_unmapped_for_a_day_is_deleted_with_its_file(user, django_capture_on_commit_callbacks):
    abandoned = uploaded(user, "abandoned", hours_ago=25)
    fresh = uploaded(user, "fresh", hours_ago=23)
    mapped = uploaded(user, "mapped", hours_ago=48)
    with django_capture_on_commit_callbacks():
        contact_list_import_start(
            contact_list=mapped,
            mapping={"phone": "phone", "first_name": "first_name"},
            default_country="US",
            name="Mapped",
            tags=[],
            by=user,
        )
    named = uploaded(user, "named", hours_ago=48)
    Campaign.objects.create(
        workspace=user.personal_workspace,
        name="Draft",
        agent=make_agent(user),
        contact_list=named,
        caller_number=SHARED_CALLER,
    )

    assert lists.contact_uploads_abandoned_delete() == 1

    assert set(ContactList.objects.values_list("pk", flat=True)) == {fresh.pk, mapped.pk, named.pk}
    assert not ContactUpload.objects.filter(contact_list_id=abandoned.pk).exists()
    # Run again the next day: the fresh one has waited a day too; the others are still kept.
    assert lists.contact_uploads_abandoned_delete(now=timezone.now() + timedelta(days=1)) == 1
    assert set(ContactList.objects.values_list("pk", flat=True)) == {mapped.pk, named.pk}


def test_the_cleanup_is_scheduled_daily_and_runs_as_a_job(user, run_jobs):
    uploaded(user, "abandoned", hours_ago=30)
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("clozit.cron")
    job = next(j for j in scheduler.get_jobs() if j.func is lists.contact_uploads_abandoned_delete)
    assert (job.cron, job.queue_name) == ("27 3 * * *", "default")

    queued = job.enqueue(django_rq.get_connection("default"))
    run_jobs()

    queued.refresh()
    assert queued.get_status() == "finished" and queued.return_value() == 1
    assert not ContactList.objects.exists()
