"""Helpers for the notices tests: people in a workspace, and emails sent the way production sends them."""

import pytest
from django.utils import timezone

from accounts.models import Membership, User, Workspace
from accounts.services import account_created


def make_user(email: str, mobile: str = "", **fields) -> User:
    user = User.objects.create_user(
        email=email,
        password="correct horse battery",
        mobile_number=mobile,
        mobile_verified_at=timezone.now() if mobile else None,
        **fields,
    )
    account_created(user=user)
    return user


@pytest.fixture
def team(user):
    """The root `user` owns its personal workspace; an admin, a billing member and a plain member join it."""
    workspace: Workspace = user.personal_workspace
    people = {"owner": user}
    for n, role in enumerate((Membership.Role.ADMIN, Membership.Role.BILLING, Membership.Role.MEMBER)):
        person = make_user(f"{role}@example.com", mobile=f"+1415555019{n}")
        Membership.objects.create(workspace=workspace, user=person, role=role)
        people[role] = person
    return people


@pytest.fixture
def deliver(django_capture_on_commit_callbacks, run_jobs):
    """Run `change()` in a transaction, as a request or job would, then its emails' jobs."""
    from django.db import transaction

    def run(change):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            result = change()
        run_jobs()
        return result

    return run
