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
    """A Clozit account holder. One user is one account: it owns credits, agents and campaigns."""

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
    max_concurrent_calls = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Calls this account may have in progress at once, over all its campaigns. "
        "Empty: the platform default (ACCOUNT_MAX_CONCURRENT_CALLS).",
    )

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
    def call_limit(self) -> int:
        return self.max_concurrent_calls or settings.ACCOUNT_MAX_CONCURRENT_CALLS

    @property
    def can_dial(self) -> bool:
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
