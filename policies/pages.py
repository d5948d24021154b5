"""What the public policy pages (/terms/, /privacy/, /refunds/: clozit.views.policy) show."""

from django.conf import settings
from django.utils import timezone

from .selectors import coming_version, current_version, version_history, version_with_text
from .text import blocks_of, grouped


def policy_page_context(*, policy: str) -> dict:
    """`policy_page` for templates/pages/<policy>.html: the published version in effect (with its
    text as blocks) or, without one, the built-in text (`builtin`); the version coming, if one is
    scheduled; every published version, newest first."""
    current = current_version(policy=policy)
    page = {
        "policy": policy,
        "builtin": current is None,
        "builtin_version": settings.TERMS_VERSION,
        "current": None,
        "blocks": [],
        "coming": coming_version(policy=policy),
        "history": version_history(policy=policy),
        "now": timezone.now(),
    }
    if current is not None:
        page["current"] = version_with_text(policy=policy, version=current.version)
        page["blocks"] = grouped(blocks_of(page["current"].text))
    return {"policy_page": page}
