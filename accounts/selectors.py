"""Reads for pages about an account (the admin's user page), with a fixed number of queries."""

from dataclasses import dataclass

from billing import ledger
from billing.models import CreditAccount
from campaigns.models import Call, Campaign

from .models import User, Workspace

RECENT = 10


@dataclass(frozen=True)
class AccountOverview:
    workspace_id: int | None
    balance: ledger.Balance
    credit_account_id: int | None
    campaigns: list
    campaign_count: int
    recent_calls: list
    call_count: int


def account_overview(*, user: User, recent: int = RECENT) -> AccountOverview:
    """The account at a glance: its personal workspace's credits, latest campaigns and calls."""
    workspace = Workspace.objects.filter(personal_for=user).first()
    credit_account = CreditAccount.objects.filter(workspace=workspace).only("pk").first()
    campaigns = Campaign.objects.filter(workspace=workspace).order_by("-created_at", "-id")
    calls = (
        Call.objects.filter(workspace=workspace).select_related("campaign", "contact").order_by("-created_at", "-id")
    )
    return AccountOverview(
        workspace_id=workspace.pk if workspace else None,
        balance=ledger.balance_of(workspace=workspace),
        credit_account_id=credit_account.pk if credit_account else None,
        campaigns=list(campaigns[:recent]),
        campaign_count=campaigns.count(),
        recent_calls=list(calls[:recent]),
        call_count=calls.count(),
    )
