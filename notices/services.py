"""Telling an account something: a `Notice` row (listed on the notices page) and, unless the
person turned that kind off, an email sent by RQ after commit.

    notice_send(user=..., kind=kinds.REFUND_DECIDED, key=f"refund:{pk}:decided", context={...})

The subject and text come from templates/emails/notices/<kind>.subject.txt and <kind>.txt,
rendered once, when the notice is made (the notice keeps what was said). The HTML part is
<kind>.html when there is one (rendered then too, with the same context), else
emails/notices/base.html around the text. `key` names the
event: a second notice with the same key for the same person is not made, so an event reported
twice (a replayed webhook, a job run twice) is told once."""

from collections.abc import Iterable
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.template import Context, TemplateDoesNotExist
from django.template.loader import get_template

from accounts.models import Membership, Workspace
from clozit.queueing import enqueue

from .kinds import KINDS, Kind
from .models import Notice, NoticeOptOut

BROADCAST_BATCH = 500


def _render_plain(name: str, context: dict) -> str:
    """A plain-text template rendered WITHOUT HTML escaping: a workspace called "Bob's & Co"
    must read so in a text email, not "Bob&#x27;s &amp; Co" (the HTML part escapes the text)."""
    return get_template(name).template.render(Context(context, autoescape=False))


def _render(*, kind: Kind, user, context: dict, link: str = "") -> tuple[str, str, str]:
    """(subject, text, HTML) of a notice. The HTML is rendered only when the kind has its own
    template, with the same context (and `notice`: its subject, text, link and essential, as
    emails/notices/base.html reads them, so a kind's template may extend it); else ""."""
    context = {
        "user": user,
        "site_url": settings.PUBLIC_BASE_URL,
        "support_email": settings.SUPPORT_EMAIL,
        **context,
    }
    subject = " ".join(_render_plain(f"emails/notices/{kind.code}.subject.txt", context).split())[:200]
    body = _render_plain(f"emails/notices/{kind.code}.txt", context).strip() + "\n"
    try:
        template = get_template(f"emails/notices/{kind.code}.html")
    except TemplateDoesNotExist:
        return subject, body, ""
    notice = SimpleNamespace(subject=subject, body=body, link=link, essential=kind.essential)
    return subject, body, template.render({**context, "notice": notice})


def _link(link: str) -> str:
    return link if not link or link.startswith("http") else settings.PUBLIC_BASE_URL + link


def _emails_enqueue(notice_ids: list[int]) -> None:
    if notice_ids:
        transaction.on_commit(lambda: enqueue("default", "notices.jobs.notice_emails_send", notice_ids))


def notice_send(*, user, kind: Kind, key: str, context: dict | None = None, workspace=None, link: str = ""):
    """Tell `user` (see the module's docstring). Returns the notice, or None when this person was
    already told about `key`. Call it inside the transaction of the change it is about."""
    if Notice.objects.filter(user=user, key=key[:200]).exists():
        return None  # told already: not even rendered again
    subject, body, html = _render(kind=kind, user=user, context=context or {}, link=_link(link))
    wants_email = kind.essential or not NoticeOptOut.objects.filter(user=user, kind=kind.code).exists()
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                user=user,
                workspace=workspace,
                kind=kind.code,
                key=key[:200],
                essential=kind.essential,
                subject=subject,
                body=body,
                html=html,
                link=_link(link),
                email_note="" if wants_email else "turned off",
            )
    except IntegrityError:
        return None  # told already
    if wants_email:
        _emails_enqueue([notice.pk])
    return notice


def workspace_recipients(*, workspace: Workspace | int, roles: Iterable[str] = (Membership.Role.OWNER,)):
    """The active members of `workspace` with one of `roles` (owners by default)."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    user_ids = Membership.objects.filter(workspace_id=workspace_id, role__in=list(roles)).values("user_id")
    return list(get_user_model().objects.filter(pk__in=user_ids, is_active=True, purged_at__isnull=True))


def notice_send_to_workspace(
    *,
    workspace: Workspace,
    kind: Kind,
    key: str,
    context: dict | None = None,
    link: str = "",
    roles: Iterable[str] = (Membership.Role.OWNER,),
) -> list[Notice]:
    """`notice_send` to each active member of `workspace` with one of `roles`."""
    context = {"workspace": workspace, **(context or {})}
    sent = []
    for user in workspace_recipients(workspace=workspace, roles=roles):
        notice = notice_send(user=user, kind=kind, key=key, context=context, workspace=workspace, link=link)
        if notice is not None:
            sent.append(notice)
    return sent


def notice_broadcast(*, kind: Kind, key: str, context: dict | None = None, link: str = "") -> None:
    """Tell every active account, in a background job after commit (policies and prices: the
    notice is the same for everyone, so `context` must be plain data that RQ can pickle)."""
    if kind.code not in KINDS:
        raise ValueError(f"unknown notice kind {kind.code!r}")
    transaction.on_commit(
        lambda: enqueue("default", "notices.jobs.notice_broadcast_run_job", kind.code, key, context or {}, link)
    )


def active_users():
    """Accounts that are told about changes: not closed, not purged, not terminated."""
    User = get_user_model()
    return User.objects.filter(is_active=True, purged_at__isnull=True, deletion_requested_at__isnull=True).exclude(
        status=User.Status.TERMINATED
    )


def notice_broadcast_run(*, kind: Kind, key: str, context: dict, link: str) -> int:
    """Make the broadcast's notices, BROADCAST_BATCH people at a time; safe to run twice (people
    already told are skipped by the (user, key) constraint). Returns how many were made now."""
    made = 0
    opted_out = set()
    if not kind.essential:
        opted_out = set(NoticeOptOut.objects.filter(kind=kind.code).values_list("user_id", flat=True))
    after = 0
    while True:
        users = list(active_users().filter(pk__gt=after).order_by("pk")[:BROADCAST_BATCH])
        if not users:
            return made
        after = users[-1].pk
        with transaction.atomic():
            told = set(Notice.objects.filter(key=key[:200], user__in=users).values_list("user_id", flat=True))
            rows = []
            for user in users:
                if user.pk in told:
                    continue
                subject, body, html = _render(kind=kind, user=user, context=context, link=_link(link))
                rows.append(
                    Notice(
                        user=user,
                        kind=kind.code,
                        key=key[:200],
                        essential=kind.essential,
                        subject=subject,
                        body=body,
                        html=html,
                        link=_link(link),
                        email_note="turned off" if user.pk in opted_out else "",
                    )
                )
            Notice.objects.bulk_create(rows, ignore_conflicts=True)
            made += len(rows)
            ids = list(
                Notice.objects.filter(
                    key=key[:200], user__in=[row.user for row in rows], emailed_at__isnull=True, email_note=""
                ).values_list("pk", flat=True)
            )
            _emails_enqueue(ids)


class NoticeError(Exception):
    """A change to notices the rules refuse; the message is written for the person."""


def notice_preferences_set(*, user, turned_off: set[str]) -> set[str]:
    """Turn off the emails of exactly the kinds in `turned_off` (and on all others). Only
    non-essential kinds can be turned off: an essential one, or an unknown one, is refused
    and nothing changes. Returns the kinds now turned off."""
    turned_off = set(turned_off)
    unknown = sorted(code for code in turned_off if code not in KINDS)
    if unknown:
        raise NoticeError(f"There is no kind of email called {', '.join(unknown)}. Nothing was changed.")
    essential = sorted(KINDS[code].label for code in turned_off if KINDS[code].essential)
    if essential:
        raise NoticeError(
            f"These emails cannot be turned off, because they concern your account's standing, money or our"
            f" agreement: {'; '.join(essential)}. Nothing was changed."
        )
    with transaction.atomic():
        NoticeOptOut.objects.filter(user=user).exclude(kind__in=turned_off).delete()
        NoticeOptOut.objects.bulk_create(
            [NoticeOptOut(user=user, kind=code) for code in sorted(turned_off)], ignore_conflicts=True
        )
    return turned_off


def notices_mark_read(*, user, notice_ids: Iterable[int]) -> int:
    """Mark these notices of `user` read (others' are left alone). Returns how many changed."""
    from django.utils import timezone

    return Notice.objects.filter(user=user, pk__in=list(notice_ids), read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notices_purge(*, user_id: int, **_) -> None:
    """The person's notices and email choices go when their account is purged (clozit.events.account_purging)."""
    Notice.objects.filter(user_id=user_id).delete()
    NoticeOptOut.objects.filter(user_id=user_id).delete()
