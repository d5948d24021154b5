"""What each role in a workspace may do. docs/architecture.md has the same table for people.

Every page that changes something is named in ACTION_OF_VIEW with the action it needs; the gate
(`accounts.middleware`) refuses, before the view runs, a request that changes something (any
method but GET/HEAD/OPTIONS) through a view whose action the member's role lacks, and a view
that is not named at all unless it is one of OPEN_VIEWS: a new page is refused to everyone until
it is given an action here (test_roles.py checks every URL). Reads are open to every member,
except the few in READ_ACTION_OF_VIEW. Services that change members, roles or the workspace
itself check the role again (`require`), whoever calls them.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from .models import Membership

Role = Membership.Role


class Action(StrEnum):
    VIEW = "view"  # read the workspace's pages
    BUILD = "build"  # agents, knowledge, playground, lists, contacts, do-not-call, campaigns, calls
    BILLING = "billing"  # buy credits, plans, invoices, refund requests
    NUMBERS = "numbers"  # buy, assign and release phone numbers
    MEMBERS = "members"  # invite, remove, change roles; read who did what
    SETTINGS = "settings"  # the workspace's name, company, country, time zone
    INTEGRATIONS = "integrations"  # API keys, outgoing webhooks, HubSpot
    OWN = "own"  # close the workspace, export it, transfer ownership, make or remove owners


ALLOWED: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(
        {Action.VIEW, Action.BUILD, Action.NUMBERS, Action.MEMBERS, Action.SETTINGS, Action.INTEGRATIONS}
    ),
    Role.MEMBER: frozenset({Action.VIEW, Action.BUILD}),
    Role.BILLING: frozenset({Action.VIEW, Action.BILLING}),
    Role.VIEWER: frozenset({Action.VIEW}),
}

ROLE_DESCRIPTIONS = {
    Role.OWNER: "Everything, including closing the workspace and handing it over.",
    Role.ADMIN: "Members, settings and integrations, and everything a member does.",
    Role.MEMBER: "Agents, lists, campaigns and calls.",
    Role.BILLING: "Credits, plans, invoices and refunds; reads the rest.",
    Role.VIEWER: "Reads everything, changes nothing.",
}

_BUILD_VIEWS = """
agent_create agent_edit agent_delete knowledge knowledge_search knowledge_text_add knowledge_file_upload
knowledge_source knowledge_source_delete playground_start playground_say playground_talk_token playground_restart
agent_playground contactlist_upload contactlist_map contactlist_import contactlist_import_retry contactlist_consent
contactlist_edit contactlist_delete contact_edit contact_delete dnc_list dnc_import dnc_remove campaign_create
campaign_preflight campaign_edit campaign_duplicate campaign_delete campaign_schedule campaign_action
call_assistant campaign_assistant
"""
_BILLING_VIEWS = """
credits_buy credits_test_checkout credits_test_subscribe subscription_cancel refund_request purchase_invoice
call_dispute low_balance_threshold
"""
_NUMBER_VIEWS = "number_buy number_agent number_release"
_MEMBER_VIEWS = "workspace_members workspace_invite invitation_revoke member_role member_remove workspace_activity"
_SETTINGS_VIEWS = "workspace_settings"
_OWN_VIEWS = "workspace_close workspace_export"

# Integrations: one line per integration, so each can grow on its own.
_API_KEY_VIEWS = "api_keys api_key_create api_key_revoke"

_WEBHOOK_VIEWS = """
webhook_list webhook_detail webhook_create webhook_edit webhook_delete webhook_rotate webhook_enable webhook_test
webhook_resend
"""

_HUBSPOT_VIEWS = "hubspot_home hubspot_connect hubspot_disconnect hubspot_settings hubspot_push_retry hubspot_import"

ACTION_OF_VIEW: dict[str, Action] = {
    **dict.fromkeys(_BUILD_VIEWS.split(), Action.BUILD),
    **dict.fromkeys(_BILLING_VIEWS.split(), Action.BILLING),
    **dict.fromkeys(_NUMBER_VIEWS.split(), Action.NUMBERS),
    **dict.fromkeys(_MEMBER_VIEWS.split(), Action.MEMBERS),
    **dict.fromkeys(_SETTINGS_VIEWS.split(), Action.SETTINGS),
    **dict.fromkeys(_OWN_VIEWS.split(), Action.OWN),
    **dict.fromkeys((_API_KEY_VIEWS + " " + _WEBHOOK_VIEWS + " " + _HUBSPOT_VIEWS).split(), Action.INTEGRATIONS),
}

# Reads that only some roles may make: who did what, invoices (they name the payer).
READ_ACTION_OF_VIEW: dict[str, Action] = {
    "workspace_activity": Action.MEMBERS,
    "purchase_invoice": Action.BILLING,
    "workspace_export": Action.OWN,
    **dict.fromkeys(_API_KEY_VIEWS.split(), Action.INTEGRATIONS),
    # Webhook endpoints show their signing secrets.
    **dict.fromkeys(["webhook_list", "webhook_detail"], Action.INTEGRATIONS),
}

# Pages about the person rather than the workspace, open to every role: their own settings,
# their account's closing, switching or leaving a workspace, accepting an invitation.
OPEN_VIEWS = frozenset(
    [
        "account_settings",
        "account_data_export",
        "account_delete",
        "account_suspended",
        "sms_delivery_status",
        "workspace_switch",
        "workspace_leave",
        "workspace_create",
        "invitation_accept",
    ]
    # The person's own security log and sessions, notices, and policy acceptance.
    + ["security_activity", "security_sessions_end_others", "security_not_me"]
    + ["notice_list", "notice_preferences"]
    + ["policy_accept", "policy_version", "policy_compare"]
)


def allows(role: str, action: Action) -> bool:
    return action in ALLOWED.get(role, frozenset())


def require(member: Membership | None, action: Action) -> None:
    """Refuse (403, PermissionDenied) unless `member`'s role allows `action`."""
    if member is None or not allows(member.role, action):
        raise PermissionDenied(refusal(action))


def refusal(action: Action) -> str:
    who = ", ".join(str(Role(role).label).lower() for role, actions in ALLOWED.items() if action in actions)
    return f"Your role in this workspace does not allow this (it needs: {who})."
