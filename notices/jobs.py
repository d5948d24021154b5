"""Background work of notices (RQ). Jobs take ids or plain data and may run twice."""

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from .kinds import KINDS
from .models import Notice
from .services import notice_broadcast_run


def _html(notice: Notice) -> str:
    """The kind's own HTML as rendered when the notice was made, else base.html around the text."""
    if notice.html:
        return notice.html
    context = {
        "notice": notice,
        "user": notice.user,
        "site_url": settings.PUBLIC_BASE_URL,
        "support_email": settings.SUPPORT_EMAIL,
    }
    return render_to_string("emails/notices/base.html", context)


def notice_emails_send(notice_ids: list[int]) -> int:
    """Email each notice not emailed yet. The row is locked while its email goes, so two runs of
    this job never send one notice twice; a failure is noted on the notice (it is still listed
    in the app) and the others go on. Returns how many were sent."""
    sent = 0
    for notice_id in notice_ids:
        with transaction.atomic():
            notice = (
                Notice.objects.select_for_update(of=("self",))
                .select_related("user")
                .filter(pk=notice_id, emailed_at__isnull=True)
                .first()
            )
            if notice is None or notice.email_note == "turned off":
                continue
            if not notice.user.email:
                notice.email_note = "no address"
                notice.save(update_fields=["email_note"])
                continue
            message = EmailMultiAlternatives(subject=notice.subject, body=notice.body, to=[notice.user.email])
            message.attach_alternative(_html(notice), "text/html")
            try:
                message.send()
            except Exception as exc:  # the SMTP server's refusal, whatever its type: noted, not raised
                notice.email_note = f"failed: {exc.__class__.__name__}"[:200]
                notice.save(update_fields=["email_note"])
                continue
            notice.emailed_at, notice.email_note = timezone.now(), ""
            notice.save(update_fields=["emailed_at", "email_note"])
            sent += 1
    return sent


def notice_broadcast_run_job(kind_code: str, key: str, context: dict, link: str) -> int:
    return notice_broadcast_run(kind=KINDS[kind_code], key=key, context=context, link=link)


def notice_emails_retry_due(*, now=None) -> int:
    """Send again the emails that failed (the mail server refused or was down) or whose job was
    lost (Redis down at the commit), for NOTICE_EMAIL_RETRY_HOURS after the notice was made; an
    essential email must not be lost to a passing outage. Every 30 minutes (clozit/cron.py)."""
    now = now or timezone.now()
    due = (
        Notice.objects.filter(
            emailed_at__isnull=True,
            created_at__gte=now - timedelta(hours=settings.NOTICE_EMAIL_RETRY_HOURS),
            # A job queued at the commit normally sends within seconds: leave it its chance.
            created_at__lt=now - timedelta(minutes=10),
        )
        .filter(Q(email_note="") | Q(email_note__startswith="failed"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return notice_emails_send(list(due[:1000]))
