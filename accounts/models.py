from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        # Every account works in its personal workspace from the start (the starter credits
        # come with allauth's sign-up, accounts.services.account_created).
        Workspace.objects.personal_for(user)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in. The work (agents, lists, campaigns, calls, credits) belongs to
    workspaces; a user belongs to one or more of them through `Membership`, and has a personal
    workspace made with the account. `status` here is the person's own standing (a suspended
    user is signed out of every workspace); a business is suspended on its `Workspace`."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        TERMINATED = "terminated", "Terminated"

    username = None
    email = models.EmailField("email address", unique=True)
    mobile_number = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550123")
    mobile_verified_at = models.DateTimeField(null=True, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    default_country = models.CharField(
        max_length=2, default="US", help_text="Country used to read contact numbers written without +code."
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    adult_confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the user confirmed being 18+.")
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    terms_version = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        constraints = [
            # A verified mobile number belongs to one account only.
            models.UniqueConstraint(
                fields=["mobile_number"],
                condition=models.Q(mobile_verified_at__isnull=False) & ~models.Q(mobile_number=""),
                name="user_verified_mobile_unique",
            )
        ]

    def __str__(self):
        return self.email

    @property
    def in_good_standing(self) -> bool:
        return self.is_active and self.status == self.Status.ACTIVE

    @property
    def has_verified_mobile(self) -> bool:
        return bool(self.mobile_number and self.mobile_verified_at)


class AccountStatusChange(models.Model):
    """Who changed an account's status, when, and why (the admin's audit trail)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=16, choices=User.Status.choices)
    reason = models.TextField()
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{self.user} → {self.status}"


class WorkspaceManager(models.Manager):
    def create_with_owner(self, *, name: str, owner: "User", **fields) -> "Workspace":
        workspace = self.create(name=name.strip()[:200] or owner.email, **fields)
        Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
        return workspace

    @staticmethod
    def personal_name(user: "User") -> str:
        """A personal workspace is called after the account's company, else its holder."""
        return (user.company_name or user.get_full_name() or user.email)[:200]

    def personal_for(self, user: "User") -> "Workspace":
        """The workspace made with `user`'s account (with its country, time zone and company),
        made now if it has none."""
        workspace = self.filter(personal_for=user).first()
        if workspace is None:
            workspace = self.create_with_owner(
                name=self.personal_name(user),
                owner=user,
                company_name=user.company_name,
                default_country=user.default_country,
                time_zone=user.time_zone,
                personal_for=user,
            )
        return workspace


class Workspace(models.Model):
    """A business on Clozit: it owns the agents, lists, do-not-call list, campaigns, calls,
    numbers, credits and payments, and its members share them by role (`Membership`).

    Workspaces made by migration 0004 from the accounts that existed before took their user's
    id, so every row that named the user as owner names the workspace now, unchanged.
    """

    Status = User.Status

    name = models.CharField(max_length=200)
    company_name = models.CharField(max_length=200, blank=True)
    default_country = models.CharField(
        max_length=2, default="US", help_text="Country used to read contact numbers written without +code."
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    max_concurrent_calls = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Calls this workspace may have in progress at once, over all its campaigns. "
        "Empty: the platform default (ACCOUNT_MAX_CONCURRENT_CALLS).",
    )
    # The account it was made with; a member's other workspaces are joined by invitation.
    personal_for = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="personal_workspace"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closing_requested_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceManager()

    def __str__(self):
        return self.name

    @property
    def call_limit(self) -> int:
        return self.max_concurrent_calls or settings.ACCOUNT_MAX_CONCURRENT_CALLS

    @property
    def can_dial(self) -> bool:
        """May it place calls and buy: not suspended, terminated or closing."""
        return self.status == self.Status.ACTIVE and self.closing_requested_at is None


class Membership(models.Model):
    """A user's place in a workspace; what the role allows is `accounts.roles`."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        BILLING = "billing", "Billing"
        VIEWER = "viewer", "Viewer"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_once_per_workspace")]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({self.role})"


class WorkspaceStatusChange(models.Model):
    """Who changed a workspace's status, when, and why (the admin's audit trail)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=16, choices=Workspace.Status.choices)
    reason = models.TextField()
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{self.workspace} → {self.status}"


class Invitation(models.Model):
    """An invitation to join a workspace with a role, sent by email as a signed link that
    expires (`accounts.members`). Used once; revoking or re-inviting ends it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self):
        return f"{self.email} to {self.workspace} ({self.role})"


class WorkspaceEvent(models.Model):
    """Who did what in a workspace, and when: launches, stops, deletions, purchases, refund
    requests, member changes (`accounts.audit`). Owners and admins read it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # As the actor was called then; "Clozit" for the platform, "Staff" for support.
    actor_name = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="workspace_event_recent")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name}: {self.summary}"


class SecurityEvent(models.Model):
    """Something that touched an account's security (a sign-in, a failed one, a changed password,
    a new trusted browser, ...), with where it came from. The person sees these in Settings;
    staff in admin. Kept SECURITY_LOG_RETENTION_DAYS, erased with the account."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Signed in"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOGOUT = "logout", "Signed out"
        CODE_SENT = "code_sent", "Sign-in code sent"
        CODE_FAILED = "code_failed", "Wrong sign-in code"
        TRUSTED_BROWSER = "trusted_browser", "Browser trusted"
        MFA_CHANGED = "mfa_changed", "Two-factor authentication changed"
        MOBILE_CHANGED = "mobile_changed", "Mobile number changed"
        EMAIL_CHANGED = "email_changed", "Email address changed"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        PASSWORD_RESET = "password_reset", "Password reset"
        SOCIAL_CONNECTED = "social_connected", "Social account connected"
        SOCIAL_DISCONNECTED = "social_disconnected", "Social account disconnected"
        SESSIONS_ENDED = "sessions_ended", "Other sessions signed out"
        NOT_ME = "not_me", "Reported activity as not theirs"
        DATA_EXPORTED = "data_exported", "Data exported"
        ACCOUNT_CLOSED = "account_closed", "Account closure requested"
        API_KEY_CREATED = "api_key_created", "API key created"
        API_KEY_REVOKED = "api_key_revoked", "API key revoked"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "-created_at"], name="security_event_recent")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.user}: {self.get_kind_display()}"
