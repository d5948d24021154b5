"""Reads of notices: what the notices page, the header and the export show."""

import csv
import io

from clozit.csvsafe import safe_row

from .kinds import KINDS, OPTIONAL_KINDS
from .models import Notice, NoticeOptOut


def notices_of(user):
    """The person's own notices, newest first (never anyone else's)."""
    return Notice.objects.filter(user=user).select_related("workspace")


def unread_count(user) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).count()


def turned_off_kinds(user) -> set[str]:
    return set(NoticeOptOut.objects.filter(user=user).values_list("kind", flat=True))


def preference_rows(user) -> list[dict]:
    """Every kind of email, in the order of notices.kinds: whether it is on, and whether it can be turned off."""
    off = turned_off_kinds(user)
    optional = {kind.code for kind in OPTIONAL_KINDS}
    return [
        {"kind": kind, "on": kind.code not in off, "can_turn_off": kind.code in optional} for kind in KINDS.values()
    ]


def _csv(rows, header) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def notices_export(*, user_id: int, **_) -> dict[str, str]:
    """The person's notices and email choices, for their data export (clozit.events.account_exporting)."""
    notices = Notice.objects.filter(user_id=user_id).order_by("created_at", "pk")
    return {
        "notices.csv": _csv(
            [
                safe_row(
                    [
                        n.created_at.isoformat(),
                        n.kind,
                        n.workspace_id or "",
                        n.subject,
                        n.body,
                        n.link,
                        n.emailed_at.isoformat() if n.emailed_at else "",
                        n.email_note,
                        n.read_at.isoformat() if n.read_at else "",
                        n.key,
                    ]
                )
                for n in notices
            ],
            ["created", "kind", "workspace_id", "subject", "text", "link", "emailed", "email_note", "read", "event"],
        ),
        "notice_emails_turned_off.csv": _csv(
            [[o.kind, o.created_at.isoformat()] for o in NoticeOptOut.objects.filter(user_id=user_id).order_by("kind")],
            ["kind", "turned_off"],
        ),
    }
