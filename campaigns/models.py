"""Agents, contact lists, the do-not-call list, campaigns and the calls they make.

Why one module of about 600 lines: these tables refer to one another (a call to its campaign,
contact and agent; a campaign to its agent and list), the app's migrations describe them as one
set, and every area of the app reads them. Split it into a `models/` package by area, re-exported
from its `__init__`, once it grows much further.
"""

import datetime

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Reverse

from telephony.providers.base import VoiceProvider
from telephony.registry import PROVIDERS, UnknownProvider, get_provider

# The owner of the work. Its column is still named owner_id: the workspaces migration
# (accounts 0004) gave each account's workspace the account's id, so the column's values
# stayed and only its foreign key moved from the user to the workspace.
WORKSPACE = "accounts.Workspace"


def default_outcomes() -> list[dict]:
    # "kind": what the outcome counts as in analytics (campaigns/engine/spec.py).
    return [
        {"name": "interested", "description": "Wants to hear more or agreed to the goal.", "kind": "positive"},
        {"name": "not_interested", "description": "Politely declined.", "kind": "negative"},
        {"name": "call_back", "description": "Asked to be called at another time.", "kind": "neutral"},
        {"name": "wrong_person", "description": "Not the person we meant to reach.", "kind": "negative"},
        {"name": "do_not_call", "description": "Asked never to be called again.", "kind": "negative"},
    ]


def voice_choices() -> list[tuple[str, str]]:
    """Every voice the configured telephony provider offers, in all languages."""
    try:
        return get_provider().voices()
    except UnknownProvider:  # a misconfigured provider is reported elsewhere (/healthz)
        return VoiceProvider().voices()


class Agent(models.Model):
    """An AI calling agent: who it is, what it wants from a call, what it says and records."""

    class Engine(models.TextChoices):
        DEFAULT = "", "Deployment default"
        SCRIPTED = "scripted", "Scripted (no AI model)"
        LLM = "llm", "AI model (LLM)"

    LANGUAGES = [
        ("en-US", "English (US)"),
        ("en-GB", "English (UK)"),
        ("es-ES", "Spanish"),
        ("fr-FR", "French"),
        ("de-DE", "German"),
    ]

    workspace = models.ForeignKey(WORKSPACE, on_delete=models.CASCADE, related_name="agents", db_column="owner_id")
    name = models.CharField(max_length=120)
    language = models.CharField(max_length=10, choices=LANGUAGES, default="en-US")
    # The voices the configured telephony provider offers (checked against the language by AgentForm).
    voice = models.CharField(max_length=40, choices=voice_choices, default="Polly.Joanna")
    opening_line = models.TextField(
        help_text="First thing the agent says. Contact variables such as {{first_name}} are filled in."
    )
    questions = models.TextField(blank=True, help_text="Questions to ask, one per line, in order.")
    answers = models.TextField(
        blank=True,
        help_text="Answers to common questions, one per line as 'keywords | answer', "
        "e.g. 'price, cost | Plans start at $49 a month.'",
    )
    closing_line = models.TextField(help_text="Said before hanging up after the last question.")
    persona = models.TextField(
        blank=True,
        help_text="Who the agent is and how it talks: the instructions the AI model follows "
        "(e.g. 'You are Riley, a friendly receptionist at Demo Dental. Be brief and warm.').",
    )
    goal = models.CharField(
        max_length=300, blank=True, help_text="What a successful call achieves, e.g. 'book a free check-up'."
    )
    # [{"name": "interested", "description": "...", "kind": "positive"}]: the outcomes a call can end
    # with and what each counts as (positive, neutral, negative; rows without a kind: engine/spec.py).
    outcomes = models.JSONField(default=default_outcomes, blank=True)
    # [{"name": "preferred_time", "description": "..."}]: answers to record during the call.
    capture_fields = models.JSONField(default=list, blank=True)
    transfer_when = models.CharField(
        max_length=300,
        blank=True,
        help_text="When to transfer besides the callee asking for a person, e.g. 'the callee wants to book today'.",
    )
    end_call_phrases = models.TextField(
        blank=True,
        help_text="One per line. When the callee says one of these, the agent says goodbye and hangs up.",
    )
    engine = models.CharField(
        max_length=10,
        choices=Engine.choices,
        default=Engine.DEFAULT,
        blank=True,
        help_text="Which conversation engine runs this agent's calls.",
    )

    class Transport(models.TextChoices):
        RELAY = "relay", "Real-time (streamed, the callee can interrupt)"
        GATHER = "gather", "Turn at a time"

    transport = models.CharField(
        max_length=10,
        choices=Transport.choices,
        default=Transport.RELAY,
        help_text="Real-time: the agent starts answering as its words come and stops when the callee speaks "
        "over it. Turn at a time: each answer is said whole once ready (a fallback for carriers without "
        "real-time conversations).",
    )

    class VoicemailAction(models.TextChoices):
        LEAVE_MESSAGE = "message", "Leave the voicemail message"
        HANG_UP = "hangup", "Hang up without a message"

    voicemail_action = models.CharField(
        max_length=10,
        choices=VoicemailAction.choices,
        default=VoicemailAction.LEAVE_MESSAGE,
        help_text="What the agent does when an answering machine picks up.",
    )
    voicemail_message = models.TextField(
        blank=True, help_text="Left when a voicemail answers. Contact variables such as {{first_name}} are filled in."
    )
    transfer_number = models.CharField(
        max_length=20,
        blank=True,
        help_text="A person's number (E.164). When the callee asks for a human, the agent transfers the call here.",
    )
    max_call_seconds = models.PositiveIntegerField(default=180)
    ai_disclosure = models.CharField(
        max_length=300,
        blank=True,
        default="Just so you know, I'm an AI assistant.",
        help_text="Said at the start of every call (AI voices count as artificial voices under US law). "
        "Leave empty only where no disclosure is required.",
    )
    record_calls = models.BooleanField(
        default=False, help_text="Record calls. Callees are told at the start of every recorded call."
    )
    mention_who_called = models.BooleanField(
        default=False,
        help_text="After the AI disclosure, tell callees where they can see who called them and opt out "
        "(this site's /who-called/ page).",
    )
    # How many knowledge passages the agent holds, kept by campaigns.knowledge (never lower than
    # the truth), so that a turn of an agent without a knowledge base asks the database nothing.
    knowledge_passage_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_call_seconds__gte=15, max_call_seconds__lte=3600), name="agent_max_call_seconds_range"
            )
        ]

    def __str__(self):
        return self.name


class ContactList(models.Model):
    class ImportStatus(models.TextChoices):
        DONE = "done", "Imported"
        QUEUED = "queued", "Waiting to import"
        RUNNING = "running", "Importing"
        FAILED = "failed", "Import failed"

    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, related_name="contact_lists", db_column="owner_id"
    )
    name = models.CharField(max_length=120)
    tags = models.JSONField(default=list, blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    # Rows the import skipped, kept so the user can fix them later: {"errors": [[line, why]], "duplicates": [...]}.
    import_problems = models.JSONField(default=dict, blank=True)
    import_status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.DONE)
    # {"phone": "Mobile", "first_name": "Name", "time_zone": "", "variables": ["Company", ...]}: CSV header per field.
    column_mapping = models.JSONField(default=dict, blank=True)
    default_country = models.CharField(max_length=2, blank=True)
    import_bytes_total = models.PositiveBigIntegerField(default=0)
    import_bytes_done = models.PositiveBigIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    import_error = models.CharField(max_length=300, blank=True)
    # The user confirmed they may call these people (consent), and when.
    consent_confirmed_at = models.DateTimeField(null=True, blank=True)
    consent_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class ContactUpload(models.Model):
    """A CSV file waiting for (or in) its background import; deleted once imported."""

    contact_list = models.OneToOneField(ContactList, on_delete=models.CASCADE, related_name="upload")
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)


class ImportRejection(models.Model):
    """A CSV row the import could not use, for the downloadable report."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="rejections")
    line = models.PositiveIntegerField()
    value = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["line", "id"]


class Contact(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="contacts")
    phone_number = models.CharField(max_length=20, help_text="E.164")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    # IANA name such as "America/New_York"; empty: taken from the number when it maps to zones.
    time_zone = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)
    variables = models.JSONField(default=dict, blank=True, help_text="Extra CSV columns, usable in the agent's lines.")
    source_line = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "phone_number"], name="contact_unique_number_per_list")
        ]

    def __str__(self):
        return f"{self.full_name or self.phone_number}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class DoNotCall(models.Model):
    """A number a workspace must never call again; without a workspace, none may (the
    platform-wide list kept by staff)."""

    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, related_name="do_not_call", null=True, blank=True, db_column="owner_id"
    )
    phone_number = models.CharField(max_length=20)
    reason = models.CharField(max_length=200, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call list"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "phone_number"], name="dnc_unique_number_per_owner"),
            models.UniqueConstraint(
                fields=["phone_number"], condition=Q(workspace__isnull=True), name="dnc_unique_number_platform"
            ),
        ]
        indexes = [models.Index(fields=["phone_number"])]

    def __str__(self):
        return self.phone_number


def weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


def default_retry_on() -> list[str]:
    return ["no_answer", "busy"]


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"
        COMPLETED = "completed", "Completed"

    workspace = models.ForeignKey(WORKSPACE, on_delete=models.CASCADE, related_name="campaigns", db_column="owner_id")
    name = models.CharField(max_length=120)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="campaigns")
    contact_list = models.ForeignKey(ContactList, on_delete=models.PROTECT, related_name="campaigns")
    caller_number = models.CharField(max_length=20, help_text="The number callees see (E.164).")
    # Why the campaign calls, in the business's words; shown to the people it called on the public
    # "Who called me?" page (safety). Required by the campaign form; campaigns made before it
    # existed have none, and the page says "not stated".
    purpose = models.CharField(max_length=200, blank=True)
    max_concurrent_calls = models.PositiveSmallIntegerField(default=2)
    # Calling hours in the callee's own time, on these weekdays (0 = Monday); the legal window
    # of the callee's country applies as well.
    calling_hours_start = models.TimeField(default=datetime.time(9, 0))
    calling_hours_end = models.TimeField(default=datetime.time(20, 0))
    calling_days = models.JSONField(default=weekdays, blank=True)
    # Redial contacts whose call ended like this, up to max_attempts calls each, retry_delay apart.
    retry_on = models.JSONField(default=default_retry_on, blank=True)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    retry_delay_minutes = models.PositiveIntegerField(default=60)
    # Stop the campaign once its calls have cost this many credits (empty: no cap).
    budget_credits = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class PauseKind(models.TextChoices):
        """Why a paused campaign is paused, so its reason is told from the present state (the
        balance now, the account's status now) and it resumes by itself when the cause is gone."""

        NONE = "", "Not paused"
        OTHER = "other", "Paused (reason as written)"
        CREDITS = "credits", "Not enough credits"
        ACCOUNT = "account", "Account suspended or terminated"
        CONSENT = "consent", "No consent confirmed for the list"
        CALLER_NUMBER = "caller_number", "Caller number unavailable"
        DIALING_STOP = "dialing_stop", "Dialling stopped by Clozit"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Why it is paused or stopped, as written when it happened; on a draft, why its scheduled
    # launch did not happen.
    status_reason = models.CharField(max_length=500, blank=True)
    pause_kind = models.CharField(max_length=16, choices=PauseKind.choices, default=PauseKind.NONE, blank=True)
    # A draft with a launch time is launched then by the scheduler (campaigns.lifecycle.services.campaign_launches_due).
    launch_at = models.DateTimeField(null=True, blank=True)
    # Finished campaigns the owner put away: left out of the campaign list unless asked for.
    archived_at = models.DateTimeField(null=True, blank=True)
    # When abuse signals last paused the campaign; kept after review (only calls after it count).
    flagged_at = models.DateTimeField(null=True, blank=True)
    # Why it was flagged; emptied by staff once reviewed.
    flag_reason = models.CharField(max_length=300, blank=True)
    # The kill switch that paused it (pause_kind DIALING_STOP): lifting that stop resumes it, and
    # only campaigns it paused (campaigns.dialing.killswitch).
    paused_by_stop = models.ForeignKey(
        "DialingStop", on_delete=models.SET_NULL, null=True, blank=True, related_name="paused_campaigns"
    )
    # Calls the provider refused or failed to place, in a row; reset by any call it accepts.
    provider_failures_in_row = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_concurrent_calls__gte=1, max_concurrent_calls__lte=50),
                name="campaign_concurrency_range",
            )
        ]
        # The scheduler looks for due launches every 30 s.
        indexes = [models.Index(fields=["launch_at"], condition=Q(launch_at__isnull=False), name="campaign_launch_at")]

    def __str__(self):
        return self.name

    @property
    def scheduled(self) -> bool:
        return self.status == self.Status.DRAFT and self.launch_at is not None

    @property
    def status_label(self) -> str:
        """The status for people: a draft waiting for its launch time is "Scheduled"."""
        return "Scheduled" if self.scheduled else self.get_status_display()

    @property
    def awaiting_approval(self) -> bool:
        """Launched, but waiting for staff (campaigns.lifecycle.approval): a draft that dials nothing."""
        return self.status == self.Status.DRAFT and self.approvals.filter(status="pending").exists()

    @property
    def calling_days_label(self) -> str:
        """ "Mon, Tue, Wed, Thu, Fri"."""
        names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        return ", ".join(names[day] for day in sorted(self.calling_days or []) if 0 <= day < 7) or "no day"

    @property
    def status_badge(self) -> str:
        return "info" if self.scheduled else self.status


class CampaignContact(models.Model):
    """One contact's place in one campaign. Claimed with a lease so a crashed worker's claim returns."""

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        CLAIMED = "claimed", "Calling"
        DONE = "done", "Completed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="campaign_entries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    # Not dialled again before this time (a retry's spacing, or the next open calling window).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Why a pending contact is not being dialled now, for the user (e.g. "No time zone known").
    waiting_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_contact_once")]
        indexes = [models.Index(fields=["campaign", "status"])]


class Call(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DIALING = "dialing", "Dialing"
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in_progress", "In call"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no_answer", "No answer"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    LIVE_STATUSES = (Status.QUEUED, Status.DIALING, Status.RINGING, Status.IN_PROGRESS)
    # A call's status only moves forward along this order; all final states share the top rank.
    STATUS_RANK = {
        Status.QUEUED: 0,
        Status.DIALING: 1,
        Status.RINGING: 2,
        Status.IN_PROGRESS: 3,
        Status.COMPLETED: 9,
        Status.BUSY: 9,
        Status.NO_ANSWER: 9,
        Status.FAILED: 9,
        Status.CANCELED: 9,
    }

    class Outcome(models.TextChoices):
        NONE = "", "—"
        INTERESTED = "interested", "Interested"
        NOT_INTERESTED = "not_interested", "Not interested"
        CALL_BACK = "call_back", "Call back later"
        DO_NOT_CALL = "do_not_call", "Do not call"
        VOICEMAIL = "voicemail", "Voicemail"
        NO_RESPONSE = "no_response", "No response"
        TIME_LIMIT = "time_limit", "Time limit reached"
        TECHNICAL_FAILURE = "technical_failure", "Technical failure"
        TRANSFERRED = "transferred", "Transferred to a person"
        WRONG_PERSON = "wrong_person", "Wrong person"
        HUNG_UP = "hung_up", "Hung up before the end"

    workspace = models.ForeignKey(WORKSPACE, on_delete=models.CASCADE, related_name="calls", db_column="owner_id")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="calls", null=True, blank=True)
    # Calls outlive their contacts (billing records are kept when personal data is purged).
    target = models.ForeignKey(CampaignContact, on_delete=models.SET_NULL, related_name="calls", null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, related_name="calls", null=True, blank=True)
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, related_name="calls", null=True, blank=True)

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound"
        INBOUND = "inbound", "Inbound"

    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.OUTBOUND)
    to_number = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20)
    provider = models.CharField(max_length=20)
    provider_call_id = models.CharField(max_length=80, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.CharField(max_length=300, blank=True)
    answered_by = models.CharField(max_length=20, blank=True)
    # One of Outcome or an outcome the agent defines itself (see Agent.outcomes).
    outcome = models.CharField(max_length=40, blank=True, default="")
    time_limit_seconds = models.PositiveIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(default=0)
    credits_charged = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    hold_reference = models.CharField(max_length=200, blank=True)
    # The carrier keeps the audio; we keep its reference and play it through our own view.
    recording_id = models.CharField(max_length=80, blank=True)
    recording_url = models.CharField(max_length=500, blank=True)
    recording_seconds = models.PositiveIntegerField(default=0)
    engine_state = models.JSONField(default=dict, blank=True)
    # [[field, value], ...] in the order the callee gave them (a JSON object would lose the order).
    captured = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dialing_started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one live call per campaign contact: a double dial is impossible.
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(status__in=["queued", "dialing", "ringing", "in_progress"]),
                name="call_one_live_per_target",
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["workspace", "created_at"]),
            # A campaign's first, last and latest calls, and its calls in one hour (the counters' edges).
            models.Index(fields=["campaign", "created_at"], name="call_campaign_created"),
            # The few live calls, which the counters leave out (campaigns/models.py: CallCount).
            models.Index(
                fields=["workspace", "campaign"],
                condition=Q(status__in=["queued", "dialing", "ringing", "in_progress"]),
                name="call_live",
            ),
            # The calls list's filters and the calls CSV's header (migration 0017; the last two are
            # built on PostgreSQL only, where their functions exist).
            models.Index(fields=["workspace", "status", "created_at"], name="call_owner_status_created"),
            models.Index(
                fields=["workspace", "outcome", "created_at"],
                condition=~Q(outcome=""),
                name="call_owner_outcome_created",
            ),
            models.Index(models.F("workspace"), Reverse("to_number"), name="call_owner_number_reversed"),
            # The public "Who called me?" lookup (safety.selectors): one callee's recent calls, any workspace.
            models.Index(fields=["to_number", "created_at"], name="call_to_number_created"),
            models.Index(
                models.F("workspace"),
                models.F("campaign"),
                models.Func(
                    models.F("captured"),
                    models.Value('strict $[*] ? (@.type() == "array" && @.size() == 2)[0]'),
                    models.Value("{}"),
                    models.Value(True),
                    function="jsonb_path_query_array",
                    output_field=models.JSONField(),
                ),
                models.F("id"),
                name="call_captured_names",
            ),
        ]

    def __str__(self):
        return f"Call {self.pk} to {self.to_number}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    def get_outcome_display(self) -> str:
        return outcome_label(self.outcome)


def outcome_label(value: str) -> str:
    """An outcome for people: the platform's own wording, or an agent's outcome name made readable."""
    labels = dict(Call.Outcome.choices)
    if value in labels:
        return labels[value]
    return value.replace("_", " ").capitalize()


class CallTurn(models.Model):
    """One line of a call's transcript."""

    class Speaker(models.TextChoices):
        AGENT = "agent", "Agent"
        CALLEE = "callee", "Callee"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns")
    sequence = models.PositiveIntegerField()
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    text = models.TextField()
    # Knowledge-base passages the agent was given for this reply: [{"id", "source", "text"}].
    passages = models.JSONField(default=list, blank=True)
    # The callee spoke over this line: `text` is only what they heard of it.
    interrupted = models.BooleanField(default=False)
    # Real-time replies (ConversationRelay), in milliseconds from the callee's words: to the first
    # text sent to the carrier (Clozit's own time, the model's included), to the model's first
    # token (the model's own part), and to the last text sent.
    first_frame_ms = models.PositiveIntegerField(null=True, blank=True)
    model_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [models.UniqueConstraint(fields=["call", "sequence"], name="call_turn_sequence_once")]


class KnowledgeSource(models.Model):
    """A text or document an agent answers from, split into passages for retrieval."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        FILE = "file", "File"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="knowledge_sources")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    filename = models.CharField(max_length=255, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self):
        return self.title


class KnowledgePassage(models.Model):
    source = models.ForeignKey(KnowledgeSource, on_delete=models.CASCADE, related_name="passages")
    # Copied from the source so retrieval filters on one indexed column.
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="knowledge_passages")
    position = models.PositiveIntegerField()
    text = models.TextField()
    # `text` as PostgreSQL's tsvector in the agent's language, written by campaigns.knowledge
    # when passages are added or the agent's language changes (NULL on SQLite, which does not search it).
    search = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["source_id", "position"]
        indexes = [
            models.Index(fields=["agent", "source"]),
            # Created on PostgreSQL only (migration 0014): SQLite has no GIN.
            GinIndex(fields=["search"], name="knowledge_passage_search"),
        ]

    def __str__(self):
        return f"{self.source.title} #{self.position}"


class PlaygroundSession(models.Model):
    """A text conversation with an agent in the browser, run by the same engine as calls."""

    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, related_name="playground_sessions", db_column="owner_id"
    )
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="playground_sessions")
    variables = models.JSONField(default=dict, blank=True)
    engine_state = models.JSONField(default=dict, blank=True)
    # [{"speaker": "agent"|"callee", "text": ..., "passages": [...]}]
    transcript = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    captured = models.JSONField(default=list, blank=True)
    ended = models.BooleanField(default=False)
    llm_turns_charged = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]


class AssistantQuestion(models.Model):
    """A question to the AI assistant about one call or one campaign, and its answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Working on it"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, related_name="assistant_questions", db_column="owner_id"
    )
    call = models.ForeignKey(Call, on_delete=models.CASCADE, null=True, blank=True, related_name="questions")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="questions")
    question = models.TextField()
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=300, blank=True)
    credits_charged = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(call__isnull=False) | Q(campaign__isnull=False), name="assistant_question_has_subject"
            )
        ]


# --- Counters ------------------------------------------------------------------------------
# What the pages that poll a campaign (and the analytics pages) read instead of its calls and
# contacts. The database keeps them exact: triggers created by migration 0016 (PostgreSQL and
# SQLite) add every inserted, changed or deleted row's part in the same statement, so no writer
# (a bulk update, a cascaded delete, the admin, raw SQL) can miss them. `campaigns.calls.counters`
# recomputes them from the rows (`manage.py verify_counters`). Ids are plain integers, 0 for
# none, without foreign keys: a counter must never lock, nor be cascaded from, the rows it counts
# for. A row whose count drops to 0 is deleted by the trigger that emptied it.
class CallCount(models.Model):
    """Calls in a final state, per (owner, campaign, agent, status, outcome, answered)."""

    workspace_id = models.BigIntegerField(db_column="owner_id")
    campaign_id = models.BigIntegerField(default=0)  # 0: outside any campaign
    agent_id = models.BigIntegerField(default=0)  # 0: no agent (deleted)
    status = models.CharField(max_length=16)
    outcome = models.CharField(max_length=40, blank=True, default="")
    # campaigns.calls.counters.ANSWERED: completed and not answered by a machine.
    answered = models.BooleanField()
    calls = models.BigIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)  # duration_seconds
    credits = models.DecimalField(max_digits=20, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace_id", "campaign_id", "agent_id", "status", "outcome", "answered"],
                name="call_count_key",
            )
        ]


class CallHourCount(models.Model):
    """Calls in a final state, per hour of their `created_at` (UTC) and (owner, campaign, agent,
    outcome): the chart's and the periods' buckets."""

    workspace_id = models.BigIntegerField(db_column="owner_id")
    campaign_id = models.BigIntegerField(default=0)
    agent_id = models.BigIntegerField(default=0)
    hour = models.DateTimeField()
    outcome = models.CharField(max_length=40, blank=True, default="")
    calls = models.BigIntegerField(default=0)
    answered = models.BigIntegerField(default=0)
    answered_seconds = models.BigIntegerField(default=0)
    credits = models.DecimalField(max_digits=20, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace_id", "hour", "campaign_id", "agent_id", "outcome"], name="call_hour_count_key"
            )
        ]
        indexes = [models.Index(fields=["campaign_id", "hour"], name="call_hour_count_campaign")]


class TargetCount(models.Model):
    """A campaign's contacts (CampaignContact) by status."""

    campaign_id = models.BigIntegerField(primary_key=True)
    pending = models.BigIntegerField(default=0)
    claimed = models.BigIntegerField(default=0)
    done = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)


class CampaignApproval(models.Model):
    """A launch waiting for staff: a workspace's first campaign, or one whose list is larger than
    CAMPAIGN_APPROVAL_ABOVE_CONTACTS (campaigns.lifecycle.approval). What staff review is kept as
    it was asked, so a decision is read against what was seen."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, related_name="campaign_approvals", db_column="owner_id"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="approvals")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    why = models.CharField(max_length=200)
    contacts = models.PositiveIntegerField()
    script = models.TextField(blank=True)
    opening_line = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # A rejection's reason, as the customer reads it on the campaign page and by email.
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"], condition=Q(status="pending"), name="campaign_approval_one_pending"
            )
        ]

    def __str__(self):
        return f"Approval of “{self.campaign}” ({self.get_status_display().lower()})"


class WorkspaceApproval(models.Model):
    """The workspace's campaigns have been reviewed once: later ones launch directly (unless their
    list is above CAMPAIGN_APPROVAL_ABOVE_CONTACTS). Workspaces that launched campaigns before
    approvals began have one (migration 0021)."""

    workspace = models.OneToOneField(
        WORKSPACE, on_delete=models.CASCADE, related_name="campaign_approval", db_column="owner_id"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.workspace} approved"


def carrier_choices() -> list[tuple[str, str]]:
    return [("", "(none)"), *((name, name) for name in PROVIDERS)]


class DialingStop(models.Model):
    """The kill switch: while not lifted, no call is claimed or dialled in its scope
    (campaigns.dialing.killswitch). Rows are kept once lifted: they are the record."""

    class Scope(models.TextChoices):
        # The narrowest first: the admin's form starts on it, not on stopping everyone.
        WORKSPACE = "workspace", "One workspace"
        CARRIER = "carrier", "One carrier"
        PLATFORM = "platform", "Every call on the platform"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    # The carrier's provider name (scope CARRIER), as calls record it (Call.provider).
    carrier = models.CharField(max_length=40, blank=True, default="", choices=carrier_choices)
    workspace = models.ForeignKey(
        WORKSPACE, on_delete=models.CASCADE, null=True, blank=True, related_name="dialing_stops", db_column="owner_id"
    )
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="platform", carrier="", workspace__isnull=True)
                | Q(scope="carrier", workspace__isnull=True) & ~Q(carrier="")
                | Q(scope="workspace", carrier="", workspace__isnull=False),
                name="dialing_stop_target_fits_scope",
            )
        ]
        # The dialer asks at every claim and dial: only active stops, a handful at most.
        indexes = [models.Index(fields=["scope"], condition=Q(lifted_at__isnull=True), name="dialing_stop_active")]

    def __str__(self):
        return f"Dialling stop: {self.target}"

    @property
    def target(self) -> str:
        if self.scope == self.Scope.CARRIER:
            return f"carrier {self.carrier}"
        if self.scope == self.Scope.WORKSPACE:
            return f"workspace {self.workspace}"
        return "the whole platform"
