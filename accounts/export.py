"""Everything an account holds, as a zip of CSV and JSON files (the user's copy of their data).

Every kind of row the account owns has its file here; accounts/tests/test_export_completeness.py
fills one of each and checks that every value comes out. Left out are only secrets (the password
hash, two-factor secrets, sign-in providers' tokens, session keys) and staff's audit trail.
"""

import csv
import io
import json
import zipfile
from collections import defaultdict

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession

from billing.models import CallCreditBack, CallDispute, CreditHold, LedgerEntry, Purchase, RefundRequest, Subscription
from campaigns.models import (
    Agent,
    AssistantQuestion,
    Call,
    Campaign,
    CampaignContact,
    Contact,
    ContactList,
    ContactUpload,
    DoNotCall,
    ImportRejection,
    KnowledgeSource,
    PlaygroundSession,
)
from clozit import events
from clozit.csvsafe import safe_row

# Short names: this module writes dozens of files with them.
from clozit.exporting import export_json as _json
from clozit.exporting import export_rows as _rows
from telephony.models import PhoneNumber, ProviderEvent

from .models import Invitation, Membership, SecurityEvent, User, Workspace, WorkspaceEvent
from .services import paddle_events_of


def _csv(rows, header: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    # Exported data is opened in spreadsheets: no cell may run as a formula.
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(row) for row in rows)
    return out.getvalue()


def account_export(*, user: User, workspace: Workspace | None = None) -> bytes:
    """The person's own data, and with `workspace` (one they own) everything the workspace holds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", _json(_profile(user)))
        archive.writestr(
            "status_history.csv",
            _csv(
                [[c.changed_at, c.status, c.reason] for c in user.status_changes.order_by("changed_at", "pk")],
                ["when", "status", "reason"],
            ),
        )
        archive.writestr("sign_in.json", _json(_sign_in(user)))
        archive.writestr(
            "security_log.csv",
            _csv(
                [
                    [e.created_at, e.kind, e.get_kind_display(), e.ip_address or "", e.user_agent, e.detail]
                    for e in SecurityEvent.objects.filter(user=user).order_by("created_at", "pk")
                ],
                ["when", "kind", "what", "ip_address", "user_agent", "detail"],
            ),
        )
        archive.writestr("workspaces.json", _json(_memberships(user)))
        # What the other apps keep of the person (notices sent, policies accepted).
        for _receiver, files in events.account_exporting.send(sender=User, user_id=user.pk):
            for name, text in (files or {}).items():
                archive.writestr(name, text)
        if workspace is not None:
            _workspace(archive, workspace)
            _contacts(archive, workspace)
            archive.writestr(
                "do_not_call.csv",
                _csv(
                    [[d.phone_number, d.reason, d.created_at] for d in DoNotCall.objects.filter(workspace=workspace)],
                    ["phone", "reason", "added"],
                ),
            )
            archive.writestr(
                "agents.json",
                _json(_rows(Agent.objects.filter(workspace=workspace), leave_out=["workspace"])),
            )
            archive.writestr("knowledge.json", _json(_knowledge(workspace)))
            _campaigns(archive, workspace)
            archive.writestr("calls.json", _json(_calls(workspace)))
            archive.writestr(
                "playground.json",
                _json(_rows(PlaygroundSession.objects.filter(workspace=workspace), leave_out=["workspace"])),
            )
            archive.writestr(
                "assistant.json",
                _json(_rows(AssistantQuestion.objects.filter(workspace=workspace), leave_out=["workspace"])),
            )
            archive.writestr(
                "phone_numbers.json",
                _json(_rows(PhoneNumber.objects.filter(workspace=workspace), leave_out=["workspace"])),
            )
            _billing(archive, workspace)
            # The integrations' settings and what they sent (API keys, webhooks, HubSpot).
            for _receiver, files in events.workspace_exporting.send(sender=Workspace, workspace_id=workspace.pk):
                for name, text in (files or {}).items():
                    archive.writestr(name, text)
    return buffer.getvalue()


def _profile(user: User) -> dict:
    return {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "company_name": user.company_name,
        "mobile_number": user.mobile_number,
        "mobile_verified_at": user.mobile_verified_at,
        "time_zone": user.time_zone,
        "default_country": user.default_country,
        "adult_confirmed_at": user.adult_confirmed_at,
        "terms_version": user.terms_version,
        "terms_accepted_at": user.terms_accepted_at,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "status": user.status,
        "status_reason": user.status_reason,
        "status_changed_at": user.status_changed_at,
    }


def _sign_in(user: User) -> dict:
    return {
        "email_addresses": _rows(EmailAddress.objects.filter(user=user), leave_out=["id", "user"]),
        "social_accounts": _rows(SocialAccount.objects.filter(user=user), leave_out=["id", "user"]),
        # Their kind and dates; the secrets in them are not data to hand out.
        "two_factor": _rows(Authenticator.objects.filter(user=user), leave_out=["id", "user", "data"]),
        # Where the account is signed in; the session's key is a browser's secret.
        "sessions": _rows(UserSession.objects.filter(user=user), leave_out=["id", "user", "session_key"]),
    }


def _contacts(archive: zipfile.ZipFile, workspace: Workspace) -> None:
    contacts = Contact.objects.filter(contact_list__workspace=workspace).select_related("contact_list").order_by("id")
    archive.writestr(
        "contacts.csv",
        _csv(
            (
                [
                    c.contact_list.name,
                    c.phone_number,
                    c.first_name,
                    c.last_name,
                    json.dumps(c.variables, ensure_ascii=False),
                    c.time_zone,
                    json.dumps(c.tags, ensure_ascii=False),
                ]
                for c in contacts.iterator(chunk_size=2000)
            ),
            ["list", "phone", "first_name", "last_name", "variables", "time_zone", "tags"],
        ),
    )
    lists = _rows(ContactList.objects.filter(workspace=workspace), leave_out=["workspace", "consent_confirmed_by"])
    rejections = defaultdict(list)
    for r in ImportRejection.objects.filter(contact_list__workspace=workspace).order_by("contact_list", "line", "pk"):
        rejections[r.contact_list_id].append({"line": r.line, "value": r.value, "reason": r.reason})
    # A file still waiting for its import, as it was uploaded.
    uploads = dict(ContactUpload.objects.filter(contact_list__workspace=workspace).values_list("contact_list", "data"))
    for row in lists:
        row["rejected_rows"] = rejections.get(row["id"], [])
        if row["id"] in uploads:
            row["waiting_upload"] = f"contact_uploads/list-{row['id']}.csv"
            archive.writestr(row["waiting_upload"], bytes(uploads[row["id"]]))
    archive.writestr("contact_lists.json", _json(lists))


def _knowledge(workspace: Workspace) -> list[dict]:
    sources = KnowledgeSource.objects.filter(agent__workspace=workspace).prefetch_related("passages").order_by("pk")
    return [
        {
            "agent_id": s.agent_id,
            "title": s.title,
            "kind": s.kind,
            "filename": s.filename,
            "text": s.text,
            "created_at": s.created_at,
            "passages": [p.text for p in s.passages.all()],
        }
        for s in sources
    ]


def _campaigns(archive: zipfile.ZipFile, workspace: Workspace) -> None:
    campaigns = Campaign.objects.filter(workspace=workspace).select_related("agent", "contact_list").order_by("pk")
    archive.writestr(
        "campaigns.csv",
        _csv(
            [
                [
                    c.pk,
                    c.name,
                    c.purpose,
                    c.agent.name,
                    c.contact_list.name,
                    c.caller_number,
                    c.status,
                    c.status_reason,
                    c.created_at,
                    c.started_at,
                    c.finished_at,
                    c.max_concurrent_calls,
                    c.calling_hours_start,
                    c.calling_hours_end,
                    json.dumps(c.calling_days, ensure_ascii=False),
                    json.dumps(c.retry_on, ensure_ascii=False),
                    c.max_attempts,
                    c.retry_delay_minutes,
                    c.budget_credits,
                    c.flagged_at,
                    c.flag_reason,
                    c.pause_kind,
                    c.launch_at,
                    c.archived_at,
                ]
                for c in campaigns
            ],
            [
                "id",
                "name",
                "purpose",
                "agent",
                "contact_list",
                "caller_number",
                "status",
                "status_reason",
                "created_at",
                "started_at",
                "finished_at",
                "max_concurrent_calls",
                "calling_hours_start",
                "calling_hours_end",
                "calling_days",
                "retry_on",
                "max_attempts",
                "retry_delay_minutes",
                "budget_credits",
                "flagged_at",
                "flag_reason",
                "pause_kind",
                "launch_at",
                "archived_at",
            ],
        ),
    )
    targets = CampaignContact.objects.filter(campaign__workspace=workspace).select_related("contact").order_by("pk")
    archive.writestr(
        "campaign_contacts.csv",
        _csv(
            (
                [
                    t.campaign_id,
                    t.contact.phone_number,
                    t.status,
                    t.attempts,
                    t.result,
                    t.waiting_reason,
                    t.next_attempt_at,
                    t.updated_at,
                ]
                for t in targets.iterator(chunk_size=2000)
            ),
            ["campaign_id", "phone", "status", "attempts", "result", "waiting_reason", "next_attempt_at", "updated_at"],
        ),
    )


def _calls(workspace: Workspace) -> list[dict]:
    calls = Call.objects.filter(workspace=workspace).prefetch_related("turns").order_by("id")
    events = defaultdict(list)  # the carrier's webhooks about each call, as received
    for event in ProviderEvent.objects.filter(call_id__in=calls.values("pk")).order_by("pk"):
        events[event.call_id].append(
            {
                "provider": event.provider,
                "key": event.dedupe_key,
                "kind": event.kind,
                "received_at": event.received_at,
                "payload": event.payload,
            }
        )
    return [
        {
            "id": call.pk,
            "campaign_id": call.campaign_id,
            "agent_id": call.agent_id,
            "direction": call.direction,
            "to": call.to_number,
            "from": call.from_number,
            "provider": call.provider,
            "provider_call_id": call.provider_call_id,
            "status": call.status,
            "failure_reason": call.failure_reason,
            "answered_by": call.answered_by,
            "outcome": call.outcome,
            "time_limit_seconds": call.time_limit_seconds,
            "duration_seconds": call.duration_seconds,
            "credits_charged": call.credits_charged,
            "credit_hold": call.hold_reference,
            "recording_id": call.recording_id,
            "recording_url": call.recording_url,
            "recording_seconds": call.recording_seconds,
            "created_at": call.created_at,
            "dialing_started_at": call.dialing_started_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "captured": call.captured,
            "engine_state": call.engine_state,
            "transcript": [
                {"speaker": t.speaker, "text": t.text, "passages": t.passages, "at": t.created_at}
                for t in call.turns.all()
            ],
            "carrier_events": events.get(call.pk, []),
        }
        for call in calls.iterator(chunk_size=500)
    ]


def _billing(archive: zipfile.ZipFile, workspace: Workspace) -> None:
    entries = LedgerEntry.objects.filter(account__workspace=workspace).order_by("id")
    archive.writestr(
        "ledger.csv",
        _csv(
            [[e.created_at, e.get_kind_display(), e.amount, e.balance_after, e.reference, e.memo] for e in entries],
            ["when", "kind", "amount", "balance_after", "reference", "memo"],
        ),
    )
    holds = CreditHold.objects.filter(account__workspace=workspace).order_by("id")
    archive.writestr(
        "credit_holds.csv",
        _csv(
            [[h.created_at, h.reference, h.amount, h.charged, h.status, h.expires_at, h.closed_at] for h in holds],
            ["when", "reference", "amount", "charged", "status", "expires_at", "closed_at"],
        ),
    )
    archive.writestr(
        "purchases.json",
        _json(_rows(Purchase.objects.filter(workspace=workspace), leave_out=["workspace"])),
    )
    archive.writestr(
        "refund_requests.json",
        _json(_rows(RefundRequest.objects.filter(workspace=workspace), leave_out=["workspace", "decided_by"])),
    )
    archive.writestr(
        "subscriptions.json",
        _json(_rows(Subscription.objects.filter(workspace=workspace), leave_out=["workspace"])),
    )
    archive.writestr(
        "call_disputes.json",
        _json(_rows(CallDispute.objects.filter(workspace=workspace), leave_out=["workspace", "decided_by"])),
    )
    archive.writestr("call_credit_backs.json", _json(_rows(CallCreditBack.objects.filter(call__workspace=workspace))))
    archive.writestr(
        "payment_events.json",  # Paddle's webhooks about the account's payments, as received
        _json(_rows(paddle_events_of(workspace), leave_out=["id", "processed_at"])),
    )


def _memberships(user: User) -> list[dict]:
    return [
        {"workspace": m.workspace.name, "role": m.role, "joined_at": m.joined_at}
        for m in Membership.objects.filter(user=user).select_related("workspace").order_by("pk")
    ]


def _workspace(archive: zipfile.ZipFile, workspace: Workspace) -> None:
    """The workspace itself: its settings and status history, members, invitations, who did what."""
    archive.writestr(
        "workspace.json",
        _json(_rows(Workspace.objects.filter(pk=workspace.pk), leave_out=["personal_for"])),
    )
    archive.writestr(
        "workspace_status_history.csv",
        _csv(
            [[c.changed_at, c.status, c.reason] for c in workspace.status_changes.order_by("changed_at", "pk")],
            ["when", "status", "reason"],
        ),
    )
    members = Membership.objects.filter(workspace=workspace).select_related("user").order_by("pk")
    archive.writestr(
        "members.csv", _csv([[m.user.email, m.role, m.joined_at] for m in members], ["email", "role", "joined"])
    )
    archive.writestr(
        "invitations.json",
        _json(_rows(Invitation.objects.filter(workspace=workspace), leave_out=["workspace"])),
    )
    # Reports of the workspace's calls by the people called (the safety app, read through the
    # relation so accounts does not import it), with staff's decisions. The reporter's number is
    # in the call itself; its keyed hash is a secret and stays out.
    reports = workspace.reports.order_by("pk").values_list(
        "created_at", "call_id", "campaign_id", "reason", "text", "reporter_masked", "status", "resolution_note"
    )
    archive.writestr(
        "call_reports.csv",
        _csv(
            [list(r) for r in reports],
            ["when", "call_id", "campaign_id", "reason", "reporter_words", "reporter", "status", "staff_decision"],
        ),
    )
    events = WorkspaceEvent.objects.filter(workspace=workspace).order_by("pk")
    archive.writestr(
        "activity.csv",
        _csv([[e.created_at, e.actor_name, e.action, e.summary] for e in events], ["when", "who", "action", "what"]),
    )
