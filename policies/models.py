"""Published versions of the terms, the privacy policy and the refund policy, and who accepted
which version, when and from where."""

from django.conf import settings
from django.db import models


class PolicyVersion(models.Model):
    """A version of one policy. Published by staff with an effective date at least
    POLICY_NOTICE_DAYS ahead (policies.services); from that date it is the policy, and the next
    sign-in of every account asks the person to accept it."""

    class Policy(models.TextChoices):
        TERMS = "terms", "Terms of service"
        PRIVACY = "privacy", "Privacy policy"
        REFUNDS = "refunds", "Refund policy"

    policy = models.CharField(max_length=16, choices=Policy.choices)
    version = models.CharField(max_length=20, help_text="As shown to people, e.g. 2027-01.")
    summary = models.TextField(help_text="What changes, in a few plain sentences (sent in the notice).")
    text = models.TextField(help_text="The whole policy as it will read.")
    effective_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy", "-effective_at"]
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]
        indexes = [models.Index(fields=["policy", "-effective_at"], name="policy_version_current")]

    def __str__(self):
        return f"{self.get_policy_display()} {self.version}"


class PolicyAcceptance(models.Model):
    """One person accepting one version (kept for good: the history of what they agreed to)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_acceptances")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [models.UniqueConstraint(fields=["user", "version"], name="policy_accepted_once")]

    def __str__(self):
        return f"{self.user} accepted {self.version}"
