"""Timed jobs for `manage.py rqcron clozit.cron`: RQ's cron scheduler enqueues them."""

from rq import cron

from accounts.security import security_events_purge_due
from accounts.services import accounts_purge_due
from billing.credit_backs import credit_backs_due
from billing.expiry import credits_expire_due
from campaigns.contacts.lists import contact_uploads_abandoned_delete
from campaigns.dialing.dialer import sweep
from campaigns.lifecycle.services import campaign_launches_due
from notices.jobs import notice_emails_retry_due
from telephony.numbers import numbers_renew

# Repairs what crashes leave behind and nudges running campaigns (see campaigns.dialing.dialer.sweep).
cron.register(sweep, queue_name="dialing", interval=30)
# Launches drafts whose scheduled launch time has come (a refused launch is recorded on the draft).
cron.register(campaign_launches_due, queue_name="dialing", interval=30)
# Erases the personal data of accounts closed ACCOUNT_PURGE_AFTER_DAYS ago.
cron.register(accounts_purge_due, queue_name="default", cron="17 3 * * *")
# Posts expiry entries for plan credits past their expiry (only plans that turned expiry on).
cron.register(credits_expire_due, queue_name="default", cron="37 2 * * *")
# Deletes contact lists uploaded a day ago whose columns were never mapped, with their files.
cron.register(contact_uploads_abandoned_delete, queue_name="default", cron="27 3 * * *")
# Charges the next month of bought phone numbers; releases those whose account cannot pay.
cron.register(numbers_renew, queue_name="default", cron="47 1 * * *")
# Credits back calls that failed through our fault whose check after the call was lost.
cron.register(credit_backs_due, queue_name="default", cron="23 * * * *")
# Deletes security log entries (sign-ins, changes) older than SECURITY_LOG_RETENTION_DAYS.
cron.register(security_events_purge_due, queue_name="default", cron="7 4 * * *")
# Emails of notices that failed or whose job was lost, tried again for NOTICE_EMAIL_RETRY_HOURS.
cron.register(notice_emails_retry_due, queue_name="default", cron="*/30 * * * *")
