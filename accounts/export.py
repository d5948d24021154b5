"""Everything an account holds, as a zip of CSV and JSON files (the user's copy of their data)."""

import csv
import io
import json
import zipfile

from django.core.serializers.json import DjangoJSONEncoder

from billing.models import LedgerEntry
from campaigns.models import Agent, Call, Campaign, Contact, DoNotCall
from clozit.csvsafe import safe_row

from .models import User


def _csv(rows: list[list], header: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    # Exported data is opened in spreadsheets: no cell may run as a formula.
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(row) for row in rows)
    return out.getvalue()


def _json(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def account_export(*, user: User) -> bytes:
    profile = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "company_name": user.company_name,
        "mobile_number": user.mobile_number,
        "mobile_verified_at": user.mobile_verified_at,
        "time_zone": user.time_zone,
        "default_country": user.default_country,
        "terms_version": user.terms_version,
        "terms_accepted_at": user.terms_accepted_at,
        "date_joined": user.date_joined,
        "status": user.status,
    }
    contacts = Contact.objects.filter(contact_list__owner=user).select_related("contact_list").order_by("id")
    agents = list(Agent.objects.filter(owner=user).values())
    campaigns = Campaign.objects.filter(owner=user).select_related("agent", "contact_list")
    calls = Call.objects.filter(owner=user).prefetch_related("turns").order_by("id")
    entries = LedgerEntry.objects.filter(account__user=user).order_by("id")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", _json(profile))
        archive.writestr(
            "contacts.csv",
            _csv(
                [
                    [c.contact_list.name, c.phone_number, c.first_name, c.last_name, json.dumps(c.variables)]
                    for c in contacts
                ],
                ["list", "phone", "first_name", "last_name", "variables"],
            ),
        )
        archive.writestr("agents.json", _json(agents))
        archive.writestr(
            "campaigns.csv",
            _csv(
                [
                    [c.pk, c.name, c.agent.name, c.contact_list.name, c.caller_number, c.status, c.created_at]
                    for c in campaigns
                ],
                ["id", "name", "agent", "contact_list", "caller_number", "status", "created_at"],
            ),
        )
        archive.writestr(
            "calls.json",
            _json(
                [
                    {
                        "id": call.pk,
                        "campaign_id": call.campaign_id,
                        "to": call.to_number,
                        "from": call.from_number,
                        "status": call.status,
                        "outcome": call.outcome,
                        "duration_seconds": call.duration_seconds,
                        "credits_charged": call.credits_charged,
                        "created_at": call.created_at,
                        "captured": call.captured,
                        "transcript": [{"speaker": t.speaker, "text": t.text} for t in call.turns.all()],
                    }
                    for call in calls
                ]
            ),
        )
        archive.writestr(
            "ledger.csv",
            _csv(
                [[e.created_at, e.get_kind_display(), e.amount, e.balance_after, e.reference, e.memo] for e in entries],
                ["when", "kind", "amount", "balance_after", "reference", "memo"],
            ),
        )
        archive.writestr(
            "do_not_call.csv",
            _csv(
                [[d.phone_number, d.reason, d.created_at] for d in DoNotCall.objects.filter(owner=user)],
                ["phone", "reason", "added"],
            ),
        )
    return buffer.getvalue()
