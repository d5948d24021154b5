"""Timed jobs for `manage.py rqcron clozit.cron`: RQ's cron scheduler enqueues them."""

from rq import cron

from campaigns.dialer import sweep

# Repairs what crashes leave behind and nudges running campaigns (see campaigns.dialer.sweep).
cron.register(sweep, queue_name="dialing", interval=30)
