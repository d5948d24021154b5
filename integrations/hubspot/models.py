from django.conf import settings
from django.db import models


class Connection(models.Model):
    """A workspace's HubSpot portal, reached through a private app's access token, and what is
    written back to it after calls.

    The token is stored encrypted (`tokens.py`) and never shown again, only its last characters.
    Push-back choices: the property that takes a call's outcome, the properties that take the
    answers the agent captured (captured field name → property), whether a note is added to the
    contact's timeline, and the property (and value) that records an opt-out."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="hubspot")
    token_encrypted = models.TextField()
    token_last4 = models.CharField(max_length=4)
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    connected_at = models.DateTimeField(auto_now_add=True)
    outcome_property = models.CharField(max_length=100, blank=True)
    answer_properties = models.JSONField(default=dict, blank=True)
    write_notes = models.BooleanField(default=True)
    opt_out_property = models.CharField(max_length=100, blank=True)
    opt_out_value = models.CharField(max_length=100, blank=True, default="true")

    def __str__(self) -> str:
        return f"HubSpot of workspace {self.workspace_id} (…{self.token_last4})"


class ListImport(models.Model):
    """A contact list that came from HubSpot: where from, and its fetching progress. The rows are
    imported by the CSV import itself (campaigns.contacts.importing) from a file this builds, so
    progress after fetching, rejected rows and consent are the CSV import's."""

    class Status(models.TextChoices):
        FETCHING = "fetching", "Reading HubSpot"
        FETCHED = "fetched", "Read; importing"
        FAILED = "failed", "Failed"

    contact_list = models.OneToOneField(
        "campaigns.ContactList", on_delete=models.CASCADE, related_name="hubspot_import"
    )
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    # Empty: every contact of the portal that has a phone number.
    source_list_id = models.CharField(max_length=40, blank=True)
    source_name = models.CharField(max_length=200)
    # The properties read, in the file's column order (after the record id).
    properties = models.JSONField(default=list)
    phone_property = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FETCHING)
    fetched = models.PositiveIntegerField(default=0)
    skipped_without_phone = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"HubSpot import of {self.source_name}"


class ImportedRecord(models.Model):
    """The HubSpot record id behind one line of an imported list's file: a contact is matched
    to it by its `source_line`, so results go back to the very record it came from."""

    contact_list = models.ForeignKey("campaigns.ContactList", on_delete=models.CASCADE, related_name="+")
    line = models.PositiveIntegerField()
    object_id = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "line"], name="hubspot_record_unique_line"),
        ]


class PushBack(models.Model):
    """One write to HubSpot owed after something happened in a call (the outbox): written in the
    event's transaction, sent by a job after commit, retried while HubSpot says it may help.

    `key` makes an event heard twice one push-back (`call.completed:<call id>`)."""

    class Kind(models.TextChoices):
        CALL_RESULT = "call_result", "Call result"
        OPT_OUT = "opt_out", "Opt-out"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    key = models.CharField(max_length=120)
    call = models.ForeignKey("campaigns.Call", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    phone_number = models.CharField(max_length=20, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    note_id = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="hubspot_push_unique_key")]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="hubspot_push_recent"),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "retrying"]),
                name="hubspot_push_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} ({self.status})"
