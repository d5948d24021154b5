"""Timed jobs for `manage.py rqcron integrations.cron`: the project's (clozit.cron), then the
integrations' own. clozit.cron may not name the integrations (they sit on top: import-linter's
`integrations-on-top`), so this module is the scheduler's entry point instead of it."""

import importlib
import sys

from rq import cron

from integrations.api.idempotency import idempotency_records_purge
from integrations.hubspot.jobs import hubspot_pushes_due
from integrations.webhooks.jobs import deliveries_sweep_job

# RQ's scheduler empties its registry, then imports (or reloads) this module alone: clozit.cron
# registers its jobs only when it runs, so it runs again if an earlier import already ran it.
if "clozit.cron" in sys.modules:
    importlib.reload(sys.modules["clozit.cron"])
else:
    importlib.import_module("clozit.cron")

# Sends deliveries whose enqueue a crash or a Redis outage lost (after commit, between retries).
cron.register(deliveries_sweep_job, queue_name="default", interval=60)
# Forgets API Idempotency-Keys (and the answers they replay) older than API_IDEMPOTENCY_HOURS.
cron.register(idempotency_records_purge, queue_name="default", cron="7 4 * * *")
# Queues HubSpot push-backs whose retry time has passed (a retry lost with a Redis restart included).
cron.register(hubspot_pushes_due, queue_name="default", interval=60)
