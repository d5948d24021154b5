"""Publishing a policy version (with the notice every account is owed) and recording who
accepted which version.

A version is written by staff in the admin, unpublished; publishing fixes it for good (its text
never changes after: the database refuses it, migration 0002) and tells every active account by
email and in the app, at least POLICY_NOTICE_DAYS before it takes effect. From its effective date
each person is asked to accept it on their next request (policies.gate)."""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.admin_history import admin_history_purge
from clozit.remote import client_ip, client_user_agent
from notices import kinds
from notices.services import notice_broadcast

from .errors import PolicyError
from .models import PolicyAcceptance, PolicyVersion
from .selectors import published_versions_forget


def compare_url(version: PolicyVersion) -> str:
    return reverse("policy_compare", kwargs={"policy": version.policy, "version": version.version})


def _check_publishable(version: PolicyVersion, *, others: list[PolicyVersion]) -> None:
    if not version.text.strip():
        raise PolicyError("The version has no text: write the whole policy as it will read.")
    if not version.summary.strip():
        raise PolicyError("The version has no summary: say in a few sentences what changes (it is sent to everyone).")
    if not version.version.strip():
        raise PolicyError("The version has no label (for example 2027-01).")
    earliest = timezone.now() + timedelta(days=settings.POLICY_NOTICE_DAYS)
    if version.effective_at < earliest:
        raise PolicyError(
            f"The effective date must be at least {settings.POLICY_NOTICE_DAYS} days from now "
            f"(on or after {date_format(timezone.localtime(earliest), 'j F Y, H:i')}): our terms promise "
            "that much notice. Move the date and publish again."
        )
    for other in others:
        if other.pk == version.pk:
            continue
        if other.version.strip().lower() == version.version.strip().lower():
            raise PolicyError(f"{other} exists already: give this version another label.")
        if other.published_at is not None and other.effective_at >= version.effective_at:
            raise PolicyError(
                f"{other} is published to take effect on "
                f"{date_format(timezone.localtime(other.effective_at), 'j F Y')}: "
                "a new version must take effect after it."
            )


def policy_version_publish(*, version: PolicyVersion, by) -> PolicyVersion:
    """Publish `version` (checked: text and summary written, label unique for its policy, effective
    at least POLICY_NOTICE_DAYS from now and after the policy's latest published version) and
    announce it to every active account (notices.kinds.POLICY_CHANGE, one notice per person).
    Publishing a published version does nothing. Raises PolicyError, changing nothing."""
    with transaction.atomic():
        # Every version of the policy locked: two publishes at once cannot both pass the checks.
        others = list(PolicyVersion.objects.select_for_update().filter(policy=version.policy).order_by("pk"))
        current = next((v for v in others if v.pk == version.pk), None)
        if current is None:
            raise PolicyError("This version no longer exists.")
        if current.published_at is not None:
            return current
        _check_publishable(current, others=others)
        current.published_at = timezone.now()
        current.published_by = by
        current.save(update_fields=["published_at", "published_by"])
        link = compare_url(current)
        notice_broadcast(
            kind=kinds.POLICY_CHANGE,
            key=f"policy-version:{current.pk}",
            context={
                "policy_name": current.get_policy_display(),
                "policy": current.policy,
                "version": current.version,
                "effective_at": current.effective_at,
                "summary": current.summary,
                "compare_url": settings.PUBLIC_BASE_URL + link,
                "accept_url": settings.PUBLIC_BASE_URL + reverse("policy_accept"),
                "close_url": settings.PUBLIC_BASE_URL + reverse("account_settings") + "#close-account",
            },
            link=link,
        )
        transaction.on_commit(published_versions_forget)
    published_versions_forget()
    return current


def policy_accept(*, user, versions: Iterable[PolicyVersion], request=None) -> list[PolicyAcceptance]:
    """Record that `user` accepts each of `versions` (published ones only), with the request's IP
    address and browser. Accepting a version twice keeps the first record. Returns the new rows."""
    ip, agent = client_ip(request), client_user_agent(request)
    made = []
    for version in versions:
        if version.published_at is None:
            raise PolicyError(f"{version} is not published: there is nothing to accept yet.")
        try:
            with transaction.atomic():
                made.append(
                    PolicyAcceptance.objects.create(user=user, version=version, ip_address=ip, user_agent=agent)
                )
        except IntegrityError:
            continue  # accepted already: the first record stands
    return made


def acceptances_anonymise(*, user_id: int, **kwargs) -> None:
    """At an account's purge: the acceptances stay (what the person agreed to, and when, is the
    contract's record) without the IP address and browser that identify them, and the admin's
    history no longer shows their names (which hold the person's email address)."""
    acceptances = PolicyAcceptance.objects.filter(user_id=user_id)
    admin_history_purge([acceptances])
    acceptances.update(ip_address=None, user_agent="")
