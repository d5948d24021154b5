from django.conf import settings
from django.utils.functional import SimpleLazyObject

from accounts import roles
from accounts.workspaces import memberships_of


def site(request):
    return {
        "product_name": "Clozit",
        "telephony_provider": settings.TELEPHONY_PROVIDER,
        "debug": settings.DEBUG,
        "support_email": settings.SUPPORT_EMAIL,
    }


def workspace(request):
    """The current workspace, the member's role, what it may do (`can.build`, `can.billing`, ...:
    buttons a role may not use are not shown; the gate refuses them anyway) and the workspaces
    to switch to."""
    member = getattr(request, "member", None)
    if member is None:
        return {}
    return {
        "workspace": member.workspace,
        "member": member,
        "can": {action.value: roles.allows(member.role, action) for action in roles.Action},
        "memberships": getattr(request, "memberships", None) or SimpleLazyObject(lambda: memberships_of(request.user)),
    }
