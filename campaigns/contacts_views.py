"""Contact lists, contacts and the do-not-call list: pages that parse input, call one service in
campaigns.contacts, and render or redirect.

The import is three steps: upload (the file is checked and stored), map (columns, default
country, list name and tags, and the consent the user must confirm), then the progress page,
polled by htmx while the background job runs, with the summary and the rejected-rows report.
"""

import csv
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.forms import country_choices
from clozit.phones import normalise_number

from . import contacts
from .errors import CampaignError
from .models import Contact, ContactList, DoNotCall

LISTS_PER_PAGE = 25
CONTACTS_PER_PAGE = 50
DNC_PER_PAGE = 50
# contact_update's refusals start with the field they are about.
ERROR_FIELDS = {"Phone number": "phone_number", "Time zone": "time_zone"}
CONSENT_LABEL = (
    "I confirm I have consent to call these people: each agreed to be called by us, with an AI voice, "
    "as the law of their country requires (in the US, prior express consent under the TCPA)."
)


# --- Forms ----------------------------------------------------------------------------------
class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"Up to {contacts.MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. At most {settings.CSV_MAX_COLUMNS:,} columns. "
            "Comma, semicolon or tab separated; UTF-8 or an Excel export. You choose the columns next."
        )


class MappingForm(forms.Form):
    name = forms.CharField(max_length=120, label="List name")
    phone = forms.ChoiceField(label="Phone number", help_text="Required.")
    full_name = forms.ChoiceField(
        label="Full name",
        required=False,
        help_text="Split into first and last name: “Ann Lee” and “Lee, Ann” both give Ann and Lee.",
    )
    first_name = forms.ChoiceField(label="First name", required=False)
    last_name = forms.ChoiceField(label="Last name", required=False)
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="IANA names such as America/New_York. Without one, the time zone comes from the number.",
    )
    tags = forms.ChoiceField(label="Tags of each contact", required=False, help_text="Separated by commas.")
    variables = forms.MultipleChoiceField(
        label="Variables your agent can use",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each ticked column becomes the variable named beside it, used in the agent's lines as "
        "{{company}}, or {{company|your company}} to say something when a contact has no value.",
    )
    default_country = forms.ChoiceField(
        label="Default country", help_text="Numbers written without a +country code are read as numbers of it."
    )
    list_tags = forms.CharField(
        label="List tags", required=False, max_length=400, help_text="Comma-separated, e.g. spring, webinar."
    )
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        error_messages={"required": "Confirm that you have consent to call these people before importing."},
    )

    FIELDS = contacts.MAPPED_FIELDS

    def __init__(self, *args, names: list[str], variable_names: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.names = names
        suggested = contacts.suggest_variable_names(names)
        variable_names = {**suggested, **(variable_names or {})}
        columns = [(name, name) for name in names]
        self.fields["phone"].choices = [("", "Choose a column")] + columns
        for name in ("full_name", "first_name", "last_name", "time_zone", "tags"):
            self.fields[name].choices = [("", "— not in the file")] + columns
        for name in self.FIELDS:
            self.fields[name].widget.attrs["data-column-field"] = name
        self.fields["variables"].choices = columns
        self.fields["default_country"].choices = country_choices()
        # One name per column, by position: a header may hold any character.
        for index, column in enumerate(names):
            self.fields[self.name_field(index)] = forms.CharField(
                label=f"Variable name for {column}",
                required=False,
                max_length=100,
                initial=variable_names.get(column, suggested[column]),
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "variable-name"}),
            )

    @staticmethod
    def name_field(index: int) -> str:
        return f"variable_name_{index}"

    def clean(self):
        cleaned = super().clean()
        seen = {}
        for name in self.FIELDS:
            column = cleaned.get(name)
            if column and column in seen:
                self.add_error(name, f"“{column}” is already the {self.fields[seen[column]].label.lower()} column.")
            elif column:
                seen[column] = name
        if cleaned.get("full_name") and (cleaned.get("first_name") or cleaned.get("last_name")):
            self.add_error(
                "full_name",
                "Choose a full-name column or first- and last-name columns, not both: "
                "the full name is split into first and last name.",
            )
        ticked = [c for c in cleaned.get("variables") or [] if c not in seen]
        cleaned["variables"] = ticked
        pairs = []
        for column in ticked:
            field = self.name_field(self.names.index(column))
            if field in self.errors:
                continue
            # A client that sends no names (not this page) gets the suggested ones.
            name = (cleaned.get(field, "") if field in self.data else self.fields[field].initial or "").strip()
            # "Company" is taken as company; anything else is reported as the user typed it.
            pairs.append((column, name.lower() if contacts.VARIABLE_NAME.fullmatch(name.lower()) else name))
        for column, problem in contacts.variables_check(pairs).items():
            self.add_error(self.name_field(self.names.index(column)), problem)
        cleaned["variable_names"] = dict(pairs)
        return cleaned

    def column_fields(self) -> list:
        return [self[name] for name in self.FIELDS]

    def list_fields(self) -> list:
        return [self["name"], self["default_country"], self["list_tags"]]

    def variable_rows(self, preview_rows: list[list[str]]) -> list[dict]:
        """Per column: its checkbox, its variable-name field and a value from the file's first rows."""
        boxes = list(self["variables"])
        rows = []
        for index, column in enumerate(self.names):
            sample = next((row[index] for row in preview_rows if index < len(row) and row[index].strip()), "")
            rows.append({"column": column, "box": boxes[index], "name": self[self.name_field(index)], "sample": sample})
        return rows

    def mapping(self) -> dict:
        return {
            **{f: self.cleaned_data.get(f) or "" for f in self.FIELDS},
            "variables": self.cleaned_data["variables"],
            "variable_names": self.cleaned_data["variable_names"],
        }


class ContactListForm(forms.Form):
    name = forms.CharField(max_length=120, label="List name")
    tags = forms.CharField(label="Tags", required=False, max_length=400, help_text="Comma-separated.")


class ContactForm(forms.Form):
    phone_number = forms.CharField(max_length=40, label="Phone number")
    first_name = forms.CharField(max_length=100, required=False, label="First name")
    last_name = forms.CharField(max_length=100, required=False, label="Last name")
    time_zone = forms.CharField(
        max_length=64, required=False, label="Time zone", help_text="Such as America/New_York; empty: from the number."
    )
    tags = forms.CharField(max_length=400, required=False, label="Tags", help_text="Comma-separated.")
    variables = forms.CharField(
        required=False,
        label="Variables",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line, as “company: Acme”.",
    )

    def clean_variables(self):
        try:
            return contacts.parse_variables(self.cleaned_data["variables"])
        except ValueError as exc:
            raise forms.ValidationError(f"Variables: {exc}.") from None


class DncImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file of numbers",
        help_text=f"A 'phone' column (or numbers in the first column), up to {contacts.MAX_DNC_IMPORT_LINES:,} lines.",
    )


# --- Helpers -----------------------------------------------------------------------------------
class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _csv_download(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{timezone.localdate():%Y-%m-%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


def _own_list(request, pk) -> ContactList:
    return get_object_or_404(ContactList, pk=pk, owner=request.user)


def _query_string(request, **changes) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


# --- Lists -----------------------------------------------------------------------------------
@login_required
def contactlist_list(request):
    query = request.GET.get("q", "").strip()
    page = Paginator(contacts.contact_lists_search(owner=request.user, query=query), LISTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "campaigns/contactlist_list.html", {"page": page, "lists": page.object_list, "q": query})


@login_required
def contactlist_upload(request):
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > contacts.MAX_BACKGROUND_UPLOAD_BYTES:
            form.add_error(
                "file",
                f"The file is larger than {contacts.MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. "
                "Split it into smaller files.",
            )
        else:
            try:
                contact_list = contacts.contact_upload_create(
                    owner=request.user, filename=upload.name, data=upload.read()
                )
            except CampaignError as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("contactlist_map", pk=contact_list.pk)
    return render(request, "campaigns/contactlist_upload.html", {"form": form})


@login_required
def contactlist_map(request, pk):
    contact_list = _own_list(request, pk)
    if not contacts.awaiting_mapping(contact_list):
        return redirect("contactlist_import", pk=pk)
    try:
        preview = contacts.contact_upload_preview(contact_list=contact_list)
    except CampaignError as exc:
        messages.error(request, str(exc))
        return redirect("contactlist_upload")
    guessed = contact_list.column_mapping or contacts.guess_mapping(preview.names)
    initial = {
        **{f: guessed.get(f, "") for f in MappingForm.FIELDS},
        "variables": guessed.get("variables", []),
        "name": contact_list.name,
        "default_country": contact_list.default_country or request.user.default_country,
        "list_tags": ", ".join(contact_list.tags or []),
    }
    form = MappingForm(
        request.POST or None, names=preview.names, variable_names=guessed.get("variable_names"), initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            contacts.contact_list_import_start(
                contact_list=contact_list,
                mapping=form.mapping(),
                default_country=form.cleaned_data["default_country"],
                name=form.cleaned_data["name"],
                tags=contacts.parse_tags(form.cleaned_data["list_tags"]),
                by=request.user,
            )
        except CampaignError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("contactlist_import", pk=pk)
    context = {
        "contact_list": contact_list,
        "form": form,
        "preview": preview,
        "variable_rows": form.variable_rows(preview.rows),
    }
    return render(request, "campaigns/contactlist_map.html", context)


@login_required
def contactlist_import(request, pk):
    """The import's progress; polled by htmx (every second) until it is done or failed."""
    contact_list = _own_list(request, pk)
    if contacts.awaiting_mapping(contact_list):
        return redirect("contactlist_map", pk=pk)
    progress = contacts.import_progress(contact_list=contact_list)
    context = {
        "contact_list": contact_list,
        "progress": progress,
        "rejections": contact_list.rejections.all()[:10] if progress["finished"] else [],
    }
    if not request.htmx:
        return render(request, "campaigns/contactlist_import.html", context)
    # htmx stops polling on 286 (and still shows this answer): a finished import is final.
    final = progress["finished"] or progress["failed"]
    return render(request, "campaigns/contactlist_fragment_progress.html", context, status=286 if final else 200)


@login_required
@require_POST
def contactlist_import_retry(request, pk):
    contact_list = _own_list(request, pk)
    try:
        contacts.contact_list_import_retry(contact_list=contact_list)
    except CampaignError as exc:
        messages.error(request, str(exc))
    return redirect("contactlist_import", pk=pk)


@login_required
def contactlist_rejections(request, pk):
    contact_list = _own_list(request, pk)
    name = f"rejected-rows-{slugify(contact_list.name) or contact_list.pk}"
    return _csv_download(contacts.rejection_rows(contact_list=contact_list), name)


@login_required
def contactlist_detail(request, pk):
    contact_list = _own_list(request, pk)
    if contacts.awaiting_mapping(contact_list):
        return redirect("contactlist_map", pk=pk)
    query, tag = request.GET.get("q", "").strip(), request.GET.get("tag", "").strip()
    found = contacts.contacts_search(contact_list=contact_list, query=query, tag=tag)
    paginator = contacts.CappedPaginator(found, CONTACTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "contact_list": contact_list,
        "page": page,
        "contacts": page.object_list,
        "q": query,
        "tag": tag,
        "filtered": bool(query or tag),
        "total": contact_list.contacts.count() if not (query or tag) else None,
        "campaigns": list(contact_list.campaigns.values_list("pk", "name")),
        "consent_form": ConsentForm() if contact_list.consent_confirmed_at is None else None,
        "next_query": _query_string(request, page=page.next_page_number()) if page.has_next() else "",
        "previous_query": _query_string(request, page=page.previous_page_number()) if page.has_previous() else "",
    }
    return render(request, "campaigns/contactlist_detail.html", context)


class ConsentForm(forms.Form):
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        error_messages={"required": "Tick the box to confirm that you have consent to call these people."},
    )


@login_required
@require_POST
def contactlist_consent(request, pk):
    """Consent for a list that has none recorded (made before consent was asked for)."""
    contact_list = _own_list(request, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        contacts.contact_list_confirm_consent(contact_list=contact_list, by=request.user)
        messages.success(request, "Consent recorded: campaigns can now call this list.")
    else:
        messages.error(request, form.errors["consent"][0])
    return redirect("contactlist_detail", pk=pk)


@login_required
def contactlist_edit(request, pk):
    contact_list = _own_list(request, pk)
    form = ContactListForm(
        request.POST or None, initial={"name": contact_list.name, "tags": ", ".join(contact_list.tags or [])}
    )
    if request.method == "POST" and form.is_valid():
        try:
            contacts.contact_list_update(
                contact_list=contact_list, name=form.cleaned_data["name"], tags=form.cleaned_data["tags"]
            )
        except CampaignError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"List “{contact_list.name}” saved.")
            return redirect("contactlist_detail", pk=pk)
    return render(request, "campaigns/contactlist_form.html", {"contact_list": contact_list, "form": form})


@login_required
def contactlist_delete(request, pk):
    contact_list = _own_list(request, pk)
    if request.method == "POST":
        try:
            contacts.contact_list_delete(contact_list=contact_list)
        except CampaignError as exc:
            messages.error(request, str(exc))
            return redirect("contactlist_detail", pk=pk)
        messages.success(request, f"List “{contact_list.name}” deleted.")
        return redirect("contactlist_list")
    return render(
        request,
        "campaigns/contactlist_confirm_delete.html",
        {"contact_list": contact_list, "campaigns": list(contact_list.campaigns.values_list("name", flat=True))},
    )


@login_required
def contactlist_export(request, pk):
    contact_list = _own_list(request, pk)
    name = f"contacts-{slugify(contact_list.name) or contact_list.pk}"
    return _csv_download(contacts.contact_export_rows(contact_list=contact_list), name)


# --- Contacts -----------------------------------------------------------------------------------
@login_required
def contact_edit(request, pk, contact_pk):
    contact_list = _own_list(request, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, contact_list=contact_list)
    initial = {
        "phone_number": contact.phone_number,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "time_zone": contact.time_zone,
        "tags": ", ".join(contact.tags or []),
        "variables": "\n".join(f"{k}: {v}" for k, v in (contact.variables or {}).items()),
    }
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contacts.contact_update(contact=contact, **data)
        except CampaignError as exc:
            message = str(exc)
            field = next((f for prefix, f in ERROR_FIELDS.items() if message.startswith(prefix)), None)
            form.add_error(field, message)
        else:
            messages.success(request, f"Contact {contact.phone_number} saved.")
            return redirect(reverse("contactlist_detail", args=[pk]) + _return_query(request))
    return render(
        request, "campaigns/contact_form.html", {"contact_list": contact_list, "contact": contact, "form": form}
    )


@login_required
def contact_delete(request, pk, contact_pk):
    contact_list = _own_list(request, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, contact_list=contact_list)
    if request.method == "POST":
        try:
            contacts.contact_delete(contact=contact)
        except CampaignError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Contact {contact.phone_number} deleted.")
        return redirect(reverse("contactlist_detail", args=[pk]) + _return_query(request))
    return render(request, "campaigns/contact_confirm_delete.html", {"contact_list": contact_list, "contact": contact})


def _return_query(request) -> str:
    """The search and page of the list the user came from (posted as back_q, back_tag, back_page)."""
    back = {k: request.POST.get(f"back_{k}", "") for k in ("q", "tag", "page")}
    back = {k: v for k, v in back.items() if v}
    return "?" + urlencode(back) if back else ""


# --- Do-not-call ------------------------------------------------------------------------------------
@login_required
def dnc_list(request):
    """The account's do-not-call list; a POST adds one number."""
    if request.method == "POST":
        try:
            number = normalise_number(
                request.POST.get("phone_number", ""), default_country=request.user.default_country
            )
        except ValueError as exc:
            messages.error(request, f"Not added: {exc}.")
        else:
            contacts.dnc_numbers_add(owner=request.user, numbers=[(number, "Added by you")], by=request.user)
            messages.success(request, f"{number} will not be called.")
        return redirect("dnc_list")
    query = request.GET.get("q", "").strip()
    page = Paginator(contacts.dnc_search(owner=request.user, query=query), DNC_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "entries": page.object_list,
        "q": query,
        "import_form": DncImportForm(),
        "platform_count": DoNotCall.objects.filter(owner__isnull=True).count(),
    }
    return render(request, "campaigns/dnc_list.html", context)


@login_required
@require_POST
def dnc_import(request):
    form = DncImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file of numbers to import.")
        return redirect("dnc_list")
    upload = form.cleaned_data["file"]
    if upload.size > contacts.MAX_DNC_IMPORT_BYTES:
        messages.error(request, "The file is larger than 2 MB. Split it into smaller files.")
        return redirect("dnc_list")
    try:
        report = contacts.dnc_import(owner=request.user, filename=upload.name, data=upload.read(), by=request.user)
    except CampaignError as exc:
        messages.error(request, f"Nothing imported: {exc}")
        return redirect("dnc_list")
    messages.success(
        request,
        f"{report.added} number{'s' * (report.added != 1)} added to your do-not-call list"
        + (f"; {report.already} already on it." if report.already else "."),
    )
    if report.problems:
        shown = "; ".join(f"line {p.line}: {p.message}" for p in report.problems[:20])
        more = f" (and {len(report.problems) - 20} more)" if len(report.problems) > 20 else ""
        count = len(report.problems)
        messages.warning(request, f"{count} line{'s' * (count != 1)} not imported: {shown}{more}.")
    return redirect("dnc_list")


@login_required
@require_POST
def dnc_remove(request, pk):
    try:
        number = contacts.dnc_remove(owner=request.user, entry_id=pk)
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{number} removed from your do-not-call list. Campaigns may call it again.")
    return redirect("dnc_list")


@login_required
def dnc_export(request):
    return _csv_download(contacts.dnc_export_rows(owner=request.user), "do-not-call")
