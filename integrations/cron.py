"""Timed jobs for `manage.py rqcron integrations.cron`: the project's (clozit.cron), then the
integrations' own. clozit.cron may not name the integrations (they sit on top: import-linter's
`integrations-on-top`), so this module is the scheduler's entry point instead of it."""

from rq import cron

import clozit.cron  # noqa: F401 - registers the project's timed jobs
from integrations.webhooks.jobs import deliveries_sweep_job

# Sends deliveries whose enqueue a crash or a Redis outage lost (after commit, between retries).
cron.register(deliveries_sweep_job, queue_name="default", interval=60)
