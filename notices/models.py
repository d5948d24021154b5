"""What Clozit told an account, and which emails the person turned off.

Every notice is kept here whether or not its email was delivered: the notices page reads these
rows, so an in-app notice never depends on email delivery."""

from django.conf import settings
from django.db import models


class Notice(models.Model):
    """One thing said to one person (notices.kinds names what can be said). `key` names the event
    it is about ("campaign:12:completed"): one notice per person per event, however often the
    event is reported."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="notices"
    )
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    essential = models.BooleanField(default=False)
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="The text of the email, as sent.")
    # The HTML part when the kind has its own template (emails/notices/<kind>.html), rendered with
    # the notice's context when it was made; empty: emails/notices/base.html around `body`.
    html = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="Where in the app to act on it.")
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Why no email went: "turned off" (the person's choice), "no address", "failed: ...".
    email_note = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notice_once_per_event")]
        indexes = [models.Index(fields=["user", "-created_at"], name="notice_recent")]

    def __str__(self):
        return f"{self.user} — {self.subject}"


class NoticeOptOut(models.Model):
    """A kind of non-essential email this person does not want (the notice is still listed)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_opt_outs")
    kind = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notice_opt_out_once")]

    def __str__(self):
        return f"{self.user} — no {self.kind} emails"
