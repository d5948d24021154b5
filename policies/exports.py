"""What policies keeps of a person, in their data export (clozit.events.account_exporting)."""

import csv
import io

from clozit.csvsafe import safe_row

from .models import PolicyAcceptance


def acceptances_export(*, user_id: int, **kwargs) -> dict[str, str]:
    """{"policy_acceptances.csv": ...}: each version the person accepted, when, from where."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row(["policy", "version", "effective_at", "accepted_at", "ip_address", "user_agent"]))
    acceptances = PolicyAcceptance.objects.filter(user_id=user_id).select_related("version").order_by("accepted_at")
    for a in acceptances:
        writer.writerow(
            safe_row(
                [
                    a.version.policy,
                    a.version.version,
                    a.version.effective_at.isoformat(),
                    a.accepted_at.isoformat(),
                    a.ip_address or "",
                    a.user_agent,
                ]
            )
        )
    return {"policy_acceptances.csv": out.getvalue()}
