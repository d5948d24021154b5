from django import template

from .. import selectors
from ..kinds import KINDS

register = template.Library()


@register.inclusion_tag("notices/fragment_nav.html", takes_context=True)
def notices_nav(context):
    """The header's link to the notices page with the unread count: one COUNT, signed-in people only."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"show": False}
    request = context.get("request")
    path = request.path if request is not None else ""
    return {"show": True, "unread": selectors.unread_count(user), "path": path}


@register.simple_tag(takes_context=True)
def notices_turned_off(context) -> list[str]:
    """The labels of the emails the signed-in person turned off (for the settings page)."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return []
    off = selectors.turned_off_kinds(user)
    return [kind.label for code, kind in KINDS.items() if code in off]


@register.simple_tag(takes_context=True)
def low_balance_level(context) -> dict:
    """The workspace's low-credit warning level for the credits page: {credits, own, default}."""
    from django.conf import settings

    from billing.low_balance import low_balance_threshold_of

    workspace = context.get("workspace")
    if workspace is None:
        return {"credits": None, "own": False, "default": settings.LOW_BALANCE_DEFAULT_CREDITS}
    credits, own = low_balance_threshold_of(workspace=workspace)
    return {"credits": credits, "own": own, "default": settings.LOW_BALANCE_DEFAULT_CREDITS}
