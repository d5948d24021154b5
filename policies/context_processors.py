from .gate import versions_to_announce


def policy_banner(request):
    """`policy_banner_versions`: coming policy versions the signed-in person has not accepted
    early (templates/policies/fragment_banner.html). No query unless one is coming and not yet
    known to be accepted (policies.gate)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {}
    return {"policy_banner_versions": versions_to_announce(request)}
