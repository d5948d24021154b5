"""Connecting a workspace to HubSpot, importing its contacts, and writing call results back.

Connect: the token is checked with one request before it is stored (encrypted), so a typo is
refused at once. Import: `hubspot_import_start` records the choice (a list or every contact with
a phone number, the property mapping, consent) and queues `jobs.hubspot_import`, which pages
through HubSpot in the background and hands a CSV file to the CSV import. Push-back: the
listeners (`receivers.py`) write a `PushBack` row in the event's transaction; `push_back_deliver`
sends it, once, and says when to try again.
"""

import csv
import io
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from campaigns.contacts.contact_rows import MAPPED_FIELDS, variable_name_problem
from campaigns.contacts.importing import MAX_BACKGROUND_UPLOAD_BYTES, contact_list_import
from campaigns.models import Call, Contact, ContactList, ContactUpload
from clozit.exporting import export_json, export_rows
from clozit.queueing import enqueue

from .client import HubSpotClient, HubSpotError
from .errors import HubSpotIntegrationError
from .models import Connection, ImportedRecord, ListImport, PushBack
from .tokens import token_decrypt, token_encrypt

log = logging.getLogger(__name__)

OBJECT_ID_COLUMN = "hs_object_id"
MAX_CELL = 1000  # a variable's longest value (campaigns.contacts.contact_rows.MAX_VARIABLE_LENGTH)
IMPORT_JOB_TIMEOUT_SECONDS = 3600
PHONE_PROPERTIES = ("phone", "mobilephone")  # searched when a contact has no stored HubSpot id


def client_for(connection: Connection, *, patient: bool = False) -> HubSpotClient:
    return HubSpotClient(token_decrypt(connection.token_encrypted), patient=patient)


def connection_of(workspace) -> Connection | None:
    return Connection.objects.filter(workspace=workspace).first()


# --- Connecting -------------------------------------------------------------------------------------
def hubspot_connect(*, workspace, token: str, by) -> Connection:
    """Check `token` against HubSpot, then store it (replacing an earlier one)."""
    token = (token or "").strip()
    if not token:
        raise HubSpotIntegrationError("Paste the access token of your HubSpot private app.")
    try:
        HubSpotClient(token).check()
    except HubSpotError as exc:
        raise HubSpotIntegrationError(exc.message) from exc
    with transaction.atomic():
        connection, created = Connection.objects.select_for_update().get_or_create(
            workspace=workspace,
            defaults={"token_encrypted": token_encrypt(token), "token_last4": token[-4:], "connected_by": by},
        )
        if not created:
            connection.token_encrypted = token_encrypt(token)
            connection.token_last4 = token[-4:]
            connection.connected_by = by
            connection.save(update_fields=["token_encrypted", "token_last4", "connected_by"])
        audit.record(
            workspace=workspace,
            actor=by,
            action="hubspot.connect",
            summary=f"Connected HubSpot (token ending {token[-4:]}).",
        )
    return connection


def hubspot_disconnect(*, workspace, by) -> None:
    """Forget the token and the push-back choices. Push-backs not yet sent are dropped with it."""
    with transaction.atomic():
        deleted, _ = Connection.objects.filter(workspace=workspace).delete()
        if deleted:
            PushBack.objects.filter(
                workspace=workspace, status__in=[PushBack.Status.PENDING, PushBack.Status.RETRYING]
            ).update(status=PushBack.Status.FAILED, last_error="HubSpot was disconnected before this was sent.")
            audit.record(workspace=workspace, actor=by, action="hubspot.disconnect", summary="Disconnected HubSpot.")


def hubspot_settings_update(
    *,
    connection: Connection,
    outcome_property: str,
    answer_properties: dict[str, str],
    write_notes: bool,
    opt_out_property: str,
    opt_out_value: str,
    by,
) -> Connection:
    """What is written back. Property names are HubSpot's internal names (checked by the form
    against the portal's properties)."""
    connection.outcome_property = outcome_property
    connection.answer_properties = {k: v for k, v in answer_properties.items() if k and v}
    connection.write_notes = write_notes
    connection.opt_out_property = opt_out_property
    connection.opt_out_value = opt_out_value or "true"
    with transaction.atomic():
        connection.save()
        audit.record(
            workspace=connection.workspace_id,
            actor=by,
            action="hubspot.settings",
            summary="Changed what is written back to HubSpot.",
        )
    return connection


# --- Importing --------------------------------------------------------------------------------------
def hubspot_import_start(
    *,
    workspace,
    connection: Connection,
    source_list_id: str,
    source_name: str,
    mapping: dict,
    variables: dict[str, str],
    name: str,
    default_country: str,
    by,
) -> ContactList:
    """A new contact list, consent to call its people confirmed by `by`, filled in the background
    from HubSpot. `mapping`: phone/first_name/last_name/full_name → property; `variables`:
    property → variable name."""
    phone = mapping.get("phone") or ""
    if not phone:
        raise HubSpotIntegrationError("Choose the HubSpot property that holds the phone number.")
    if mapping.get("full_name") and (mapping.get("first_name") or mapping.get("last_name")):
        raise HubSpotIntegrationError("Choose a full-name property or first- and last-name properties, not both.")
    taken: dict[str, str] = {}
    for prop, variable in variables.items():
        problem = variable_name_problem(variable, column=prop, taken=taken)
        if problem:
            raise HubSpotIntegrationError(problem)
        taken[variable] = prop
    columns = [OBJECT_ID_COLUMN]
    for prop in [*(mapping.get(f) or "" for f in MAPPED_FIELDS), *variables]:
        if prop and prop not in columns:
            columns.append(prop)
    column_mapping = {
        **{f: mapping.get(f) or "" for f in MAPPED_FIELDS},
        "variables": list(variables),
        "variable_names": dict(variables),
    }
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            workspace=workspace,
            name=(name or source_name)[:120],
            source_filename=f"HubSpot: {source_name}"[:255],
            import_status=ContactList.ImportStatus.QUEUED,
            default_country=default_country or workspace.default_country or "US",
            column_mapping=column_mapping,
            consent_confirmed_at=timezone.now(),
            consent_confirmed_by=by,
        )
        ListImport.objects.create(
            contact_list=contact_list,
            workspace=workspace,
            source_list_id=source_list_id,
            source_name=source_name[:200],
            properties=columns[1:],
            phone_property=phone,
        )
        audit.record(
            workspace=workspace,
            actor=by,
            action="hubspot.import",
            summary=f"Started importing “{source_name}” from HubSpot (consent to call confirmed).",
        )
        from .jobs import hubspot_import

        transaction.on_commit(
            lambda: enqueue("default", hubspot_import, contact_list.pk, job_timeout=IMPORT_JOB_TIMEOUT_SECONDS)
        )
    return contact_list


def _cell(value) -> str:
    # One line per record: the import reports problems by line, and lines map rows to record ids.
    return " ".join(str(value or "").split())[:MAX_CELL]


def hubspot_import_fetch(*, list_import: ListImport) -> bytes:
    """Every record of the import's source, page by page (`after` cursors), as a CSV file whose
    first column is the record id; record ids are kept by line (ImportedRecord). Lines start at
    2, after the header."""
    connection = connection_of(list_import.workspace_id)
    if connection is None:
        raise HubSpotIntegrationError("HubSpot is no longer connected. Connect it again and import again.")
    client = client_for(connection, patient=True)
    columns = [OBJECT_ID_COLUMN, *list_import.properties]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    records: list[ImportedRecord] = []
    fetched = skipped = 0
    line = 1
    after = None
    list_id = list_import.contact_list_id
    ImportedRecord.objects.filter(contact_list_id=list_id).delete()
    while True:
        if list_import.source_list_id:
            ids, after = client.list_member_ids(list_id=list_import.source_list_id, after=after)
            page = client.contacts_read(ids=ids, properties=list_import.properties) if ids else []
            # HubSpot's batch read answers in its own order; keep the list's.
            by_id = {r.object_id: r for r in page}
            page = [by_id[i] for i in ids if i in by_id]
        else:
            page, after = client.contacts_page(properties=list_import.properties, after=after)
        for record in page:
            if not list_import.source_list_id and not _cell(record.properties.get(list_import.phone_property)):
                skipped += 1
                continue
            line += 1
            writer.writerow([record.object_id, *(_cell(record.properties.get(p)) for p in list_import.properties)])
            records.append(ImportedRecord(contact_list_id=list_id, line=line, object_id=record.object_id))
        fetched += len(page)
        ImportedRecord.objects.bulk_create(records, batch_size=2000)
        records = []
        ListImport.objects.filter(pk=list_import.pk).update(fetched=fetched, skipped_without_phone=skipped)
        if out.tell() > MAX_BACKGROUND_UPLOAD_BYTES:
            raise HubSpotIntegrationError(
                f"The contacts read from HubSpot passed {MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB (after "
                f"{fetched:,} contacts): import a smaller HubSpot list, or fewer properties."
            )
        if not after:
            break
    if line == 1:
        raise HubSpotIntegrationError(
            "HubSpot returned no contacts with a phone number."
            if not list_import.source_list_id
            else "The HubSpot list has no contacts."
        )
    return out.getvalue().encode()


def hubspot_import_run(*, list_id: int) -> None:
    """The import job's work: read HubSpot (unless already read), then run the CSV import on the
    file. Safe to run twice: a list already imported is left alone, and the CSV import starts over
    when it is run again."""
    list_import = ListImport.objects.select_related("contact_list").filter(contact_list_id=list_id).first()
    if list_import is None or list_import.contact_list.import_status == ContactList.ImportStatus.DONE:
        return
    if list_import.status != ListImport.Status.FETCHED:
        ListImport.objects.filter(pk=list_import.pk).update(status=ListImport.Status.FETCHING, error="")
        ContactList.objects.filter(pk=list_id).update(import_status=ContactList.ImportStatus.RUNNING)
        try:
            data = hubspot_import_fetch(list_import=list_import)
        except (HubSpotError, HubSpotIntegrationError) as exc:
            _import_failed(list_import, exc.message)
            return
        except Exception:
            _import_failed(list_import, "Reading HubSpot stopped because of an error on our side. Import again.")
            raise
        with transaction.atomic():
            ContactUpload.objects.update_or_create(contact_list_id=list_id, defaults={"data": data})
            ContactList.objects.filter(pk=list_id).update(
                import_status=ContactList.ImportStatus.QUEUED, import_bytes_total=len(data), import_bytes_done=0
            )
            ListImport.objects.filter(pk=list_import.pk).update(status=ListImport.Status.FETCHED)
    contact_list_import(list_id)


def _import_failed(list_import: ListImport, message: str) -> None:
    # The list page's "Try again" re-imports a stored file, and none was stored: say where to go.
    message = f"{message} Then import it again from Integrations → HubSpot."
    with transaction.atomic():
        ListImport.objects.filter(pk=list_import.pk).update(status=ListImport.Status.FAILED, error=message[:300])
        ContactList.objects.filter(pk=list_import.contact_list_id).update(
            import_status=ContactList.ImportStatus.FAILED, import_error=message[:300]
        )


def hubspot_object_id(*, contact: Contact) -> str | None:
    """The HubSpot record a contact was imported from, if it was."""
    if contact.source_line is None:
        return None
    return (
        ImportedRecord.objects.filter(contact_list_id=contact.contact_list_id, line=contact.source_line)
        .values_list("object_id", flat=True)
        .first()
    )


# --- Push-back ---------------------------------------------------------------------------------------
def push_back_record(*, workspace_id: int, kind: str, key: str, call_id: int | None, phone_number: str) -> None:
    """Called by the event listener (for a workspace with a connection), inside the event's
    transaction: one outbox row per event (an event heard twice adds nothing), sent after commit."""
    push, created = PushBack.objects.get_or_create(
        workspace_id=workspace_id,
        key=key[:120],
        defaults={"kind": kind, "call_id": call_id, "phone_number": phone_number[:20]},
    )
    if created:
        _enqueue_push(push.pk)


def _enqueue_push(push_id: int, delay: timedelta | None = None) -> None:
    from .jobs import hubspot_push

    def send():
        if delay:
            import django_rq

            django_rq.get_queue("default").enqueue_in(delay, hubspot_push, push_id)
        else:
            enqueue("default", hubspot_push, push_id)

    transaction.on_commit(send)


def push_back_retry(*, push: PushBack, by) -> PushBack:
    """A person asks to send a failed push-back again (after fixing its property, say)."""
    with transaction.atomic():
        push = PushBack.objects.select_for_update().get(pk=push.pk)
        if push.status != PushBack.Status.FAILED:
            return push
        push.status = PushBack.Status.PENDING
        push.attempts = 0
        push.next_attempt_at = None
        push.save(update_fields=["status", "attempts", "next_attempt_at"])
        _enqueue_push(push.pk)
    return push


def _backoff(attempts: int, retry_after: int | None) -> timedelta:
    # 1, 2, 4 ... minutes up to 6 hours, a little jitter so a burst does not return as a burst,
    # and never sooner than HubSpot asked.
    seconds = min(60 * 2 ** max(attempts - 1, 0), 6 * 3600) * random.uniform(1.0, 1.2)
    return timedelta(seconds=max(seconds, retry_after or 0))


def _call_note(call: Call) -> str:
    minutes, seconds = divmod(call.duration_seconds or 0, 60)
    link = settings.PUBLIC_BASE_URL + reverse("call_detail", args=[call.pk])
    parts = [
        f"Clozit call: {call.get_outcome_display() if call.outcome else call.get_status_display()}",
        f"Duration: {minutes} min {seconds:02d} s",
    ]
    if call.campaign_id:
        parts.append(f"Campaign: {call.campaign.name}")
    for name, value in call.captured or []:
        parts.append(f"{name}: {value}")
    if call.failure_reason:
        parts.append(f"Why: {call.failure_reason}")
    parts.append(f"Call page: {link}")
    return "<br>".join(_escape(p) for p in parts)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _properties_for(push: PushBack, connection: Connection, call: Call | None) -> dict[str, str]:
    if push.kind == PushBack.Kind.OPT_OUT:
        if not connection.opt_out_property:
            raise HubSpotIntegrationError("Choose the HubSpot property that records an opt-out, then retry.")
        return {connection.opt_out_property: connection.opt_out_value or "true"}
    properties = {}
    if call is not None and connection.outcome_property and call.outcome:
        properties[connection.outcome_property] = call.outcome
    answers = dict(call.captured or []) if call is not None else {}
    for field_name, prop in (connection.answer_properties or {}).items():
        if field_name in answers and prop:
            properties[prop] = str(answers[field_name])[:MAX_CELL]
    return properties


def push_back_deliver(*, push_id: int) -> None:
    """Send one push-back. Holds the row's lock while it talks to HubSpot, so a second run of the
    job waits and then finds it sent; a note already written (`note_id`) is not written again."""
    with transaction.atomic():
        push = PushBack.objects.select_for_update(skip_locked=True).filter(pk=push_id).first()
        if push is None or push.status not in (PushBack.Status.PENDING, PushBack.Status.RETRYING):
            return
        connection = connection_of(push.workspace_id)
        if connection is None:
            _push_failed(push, "HubSpot is not connected.")
            return
        call = Call.objects.select_related("campaign", "contact").filter(pk=push.call_id).first()
        push.attempts += 1
        try:
            client = client_for(connection)
            properties = _properties_for(push, connection, call)
            object_id = push.object_id or _find_record(push, call, client)
            if object_id is None:
                raise HubSpotIntegrationError(f"No HubSpot contact has the number {push.phone_number}.")
            push.object_id = object_id
            if properties:
                client.contact_update(object_id=object_id, properties=properties)
            if push.kind == PushBack.Kind.CALL_RESULT and connection.write_notes and call and not push.note_id:
                push.note_id = client.note_create(
                    object_id=object_id,
                    body=_call_note(call),
                    timestamp=(call.ended_at or call.created_at).isoformat().replace("+00:00", "Z"),
                )
        except HubSpotIntegrationError as exc:
            _push_failed(push, exc.message)
            return
        except HubSpotError as exc:
            if exc.permanent or push.attempts >= settings.HUBSPOT_PUSH_MAX_ATTEMPTS:
                _push_failed(push, exc.message)
                return
            delay = _backoff(push.attempts, exc.retry_after)
            push.status = PushBack.Status.RETRYING
            push.last_error = exc.message[:500]
            push.next_attempt_at = timezone.now() + delay
            push.save()
            _enqueue_push(push.pk, delay)
            return
        push.status = PushBack.Status.SENT
        push.sent_at = timezone.now()
        push.last_error = ""
        push.next_attempt_at = None
        push.save()


def _find_record(push: PushBack, call: Call | None, client: HubSpotClient) -> str | None:
    if call is not None and call.contact is not None:
        object_id = hubspot_object_id(contact=call.contact)
        if object_id:
            return object_id
    number = push.phone_number or (call.to_number if call else "")
    if not number:
        return None
    return client.contact_find_by_phone(phone_number=number, properties=list(PHONE_PROPERTIES))


def _push_failed(push: PushBack, message: str) -> None:
    push.status = PushBack.Status.FAILED
    push.last_error = message[:500]
    push.next_attempt_at = None
    push.save()


def push_backs_due() -> int:
    """Queue the push-backs whose retry time has passed (the scheduled jobs live in Redis; this
    recovers any a Redis restart lost). Meant for the cron scheduler."""
    due = list(
        PushBack.objects.filter(
            status__in=[PushBack.Status.PENDING, PushBack.Status.RETRYING],
            next_attempt_at__lte=timezone.now() - timedelta(minutes=5),
        ).values_list("pk", flat=True)[:500]
    )
    from .jobs import hubspot_push

    for push_id in due:
        enqueue("default", hubspot_push, push_id)
    return len(due)


def hubspot_workspace_erase(*, workspace_id: int, **_) -> None:
    """A purged workspace keeps nothing here: the token, the imports' HubSpot ids, the push-backs
    (their notes and phone numbers). Receiver of `clozit.events.workspace_purging`."""
    Connection.objects.filter(workspace_id=workspace_id).delete()
    ImportedRecord.objects.filter(contact_list__workspace_id=workspace_id).delete()
    ListImport.objects.filter(workspace_id=workspace_id).delete()
    PushBack.objects.filter(workspace_id=workspace_id).delete()


def hubspot_workspace_export(*, workspace_id: int, **_) -> dict[str, str]:
    """The connection's choices (not its token), the imports and the push-backs."""
    data = {
        "connection": export_rows(Connection.objects.filter(workspace_id=workspace_id), leave_out=["token_encrypted"]),
        "imports": export_rows(ListImport.objects.filter(workspace_id=workspace_id)),
        "imported_records": export_rows(ImportedRecord.objects.filter(contact_list__workspace_id=workspace_id)),
        "push_backs": export_rows(PushBack.objects.filter(workspace_id=workspace_id)),
    }
    return {"integrations/hubspot.json": export_json(data)}
