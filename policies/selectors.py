"""Reading policy versions: which one is in effect, which is coming, what a person accepted.

Every signed-in page asks which versions are in effect (the gate and the banner), so the list
of published versions is kept in each process for POLICY_VERSIONS_CACHE_SECONDS. That is safe
because a version is published at least POLICY_NOTICE_DAYS before it takes effect: a process
that sees it a minute late changes nothing anyone is owed. Which version is current is worked
out from that list with the time of each request, so the switch on the effective date is
exact."""

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from clozit.memo import Kept

from .models import PolicyAcceptance, PolicyVersion

Policy = PolicyVersion.Policy


def _load_published() -> list[PolicyVersion]:
    return list(PolicyVersion.objects.filter(published_at__isnull=False).defer("text").order_by("effective_at", "pk"))


_kept_published = Kept(_load_published, seconds=lambda: settings.POLICY_VERSIONS_CACHE_SECONDS)


def published_versions() -> list[PolicyVersion]:
    """Every published version (without its text), oldest first, from this process's copy."""
    return _kept_published.get()


def published_versions_forget() -> None:
    """Read the list again on next use (after a publish, in this process)."""
    _kept_published.forget()


def current_versions(*, now: datetime | None = None) -> dict[str, PolicyVersion]:
    """The version in effect of each policy that has one: {policy: version}. A policy without a
    published version in effect is still the built-in page (templates/pages/<policy>.html)."""
    now = now or timezone.now()
    current = {}
    for version in published_versions():
        if version.effective_at <= now:
            current[version.policy] = version  # oldest first: the last one wins
    return current


def coming_versions(*, now: datetime | None = None) -> list[PolicyVersion]:
    """Published versions not in effect yet, soonest first."""
    now = now or timezone.now()
    return [version for version in published_versions() if version.effective_at > now]


def current_version(*, policy: str) -> PolicyVersion | None:
    return current_versions().get(policy)


def coming_version(*, policy: str) -> PolicyVersion | None:
    return next((v for v in coming_versions() if v.policy == policy), None)


def version_history(*, policy: str) -> list[PolicyVersion]:
    """The published versions of `policy`, newest first (coming ones included)."""
    return [v for v in reversed(published_versions()) if v.policy == policy]


def version_with_text(*, policy: str, version: str) -> PolicyVersion | None:
    """A published version with its text, or None."""
    return PolicyVersion.objects.filter(policy=policy, version=version, published_at__isnull=False).first()


def version_before(*, version: PolicyVersion) -> PolicyVersion | None:
    """The published version of the same policy that `version` replaces, with its text."""
    return (
        PolicyVersion.objects.filter(
            policy=version.policy, published_at__isnull=False, effective_at__lt=version.effective_at
        )
        .order_by("-effective_at")
        .first()
    )


def accepted_version_ids(*, user, among: list[int]) -> set[int]:
    """Which of the versions `among` the user accepted (one query)."""
    if not among:
        return set()
    return set(PolicyAcceptance.objects.filter(user=user, version_id__in=among).values_list("version_id", flat=True))


def acceptances_of(*, user) -> list[PolicyAcceptance]:
    """What the person accepted, newest first (the settings page and the export)."""
    return list(PolicyAcceptance.objects.filter(user=user).select_related("version").order_by("-accepted_at", "-pk"))
