"""The scheduler's entry point runs the project's timed jobs and the integrations' own, however
often it is loaded (RQ reloads it; clozit.cron may have been imported already)."""

import django_rq
from rq.cron import CronScheduler

from campaigns.dialing.dialer import sweep
from integrations.api.idempotency import idempotency_records_purge
from integrations.hubspot.jobs import hubspot_pushes_due
from integrations.webhooks.jobs import deliveries_sweep_job


def jobs_of(module: str) -> set:
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file(module)
    return {(job.func, job.interval, job.cron) for job in scheduler.get_jobs()}


def test_integrations_cron_has_the_projects_jobs_and_the_sweep():
    project = jobs_of("clozit.cron")
    for _ in range(2):
        jobs = jobs_of("integrations.cron")
        assert project < jobs
        assert jobs - project == {
            (deliveries_sweep_job, 60, None),
            (hubspot_pushes_due, 60, None),
            (idempotency_records_purge, None, "7 4 * * *"),
        }
    assert (sweep, 30, None) in jobs
