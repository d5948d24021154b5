"""Contact lists, contacts and the do-not-call list: pages that parse input, call one service in
campaigns.contacts, and render or redirect.

The import is three steps: upload (the file is checked and stored), map (columns, default
country, list name and tags, and the consent the user must confirm), then the progress page,
polled by htmx while the background job runs, with the summary and the rejected-rows report.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from clozit.csvsafe import csv_download
from clozit.phones import normalise_number

from ..errors import CampaignError
from ..models import Contact, ContactList, DoNotCall
from . import contact_rows, donotcall, importing, lists
from .forms import ConsentForm, ContactForm, ContactListForm, DncImportForm, MappingForm, UploadForm

LISTS_PER_PAGE = 25
CONTACTS_PER_PAGE = 50
DNC_PER_PAGE = 50
# contact_update's refusals start with the field they are about.
ERROR_FIELDS = {"Phone number": "phone_number", "Time zone": "time_zone"}


# --- Helpers -----------------------------------------------------------------------------------
def _own_list(request, pk) -> ContactList:
    return get_object_or_404(ContactList, pk=pk, workspace=request.workspace)


def _query_string(request, **changes) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


# --- Lists -----------------------------------------------------------------------------------
@login_required
def contactlist_list(request):
    query = request.GET.get("q", "").strip()
    page = Paginator(lists.contact_lists_search(workspace=request.workspace, query=query), LISTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request, "campaigns/contacts/contactlist_list.html", {"page": page, "lists": page.object_list, "q": query}
    )


@login_required
def contactlist_upload(request):
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > importing.MAX_BACKGROUND_UPLOAD_BYTES:
            form.add_error(
                "file",
                f"The file is larger than {importing.MAX_BACKGROUND_UPLOAD_BYTES // 2**20} MB. "
                "Split it into smaller files.",
            )
        else:
            try:
                contact_list = importing.contact_upload_create(
                    workspace=request.workspace, filename=upload.name, data=upload.read()
                )
            except CampaignError as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("contactlist_map", pk=contact_list.pk)
    return render(request, "campaigns/contacts/contactlist_upload.html", {"form": form})


@login_required
def contactlist_map(request, pk):
    contact_list = _own_list(request, pk)
    if not importing.awaiting_mapping(contact_list):
        return redirect("contactlist_import", pk=pk)
    try:
        preview = importing.contact_upload_preview(contact_list=contact_list)
    except CampaignError as exc:
        messages.error(request, str(exc))
        return redirect("contactlist_upload")
    guessed = contact_list.column_mapping or contact_rows.guess_mapping(preview.names)
    initial = {
        **{f: guessed.get(f, "") for f in MappingForm.FIELDS},
        "variables": guessed.get("variables", []),
        "name": contact_list.name,
        "default_country": contact_list.default_country or request.workspace.default_country,
        "list_tags": ", ".join(contact_list.tags or []),
    }
    form = MappingForm(
        request.POST or None, names=preview.names, variable_names=guessed.get("variable_names"), initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            importing.contact_list_import_start(
                contact_list=contact_list,
                mapping=form.mapping(),
                default_country=form.cleaned_data["default_country"],
                name=form.cleaned_data["name"],
                tags=contact_rows.parse_tags(form.cleaned_data["list_tags"]),
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
    return render(request, "campaigns/contacts/contactlist_map.html", context)


@login_required
def contactlist_import(request, pk):
    """The import's progress; polled by htmx (every second) until it is done or failed."""
    contact_list = _own_list(request, pk)
    if importing.awaiting_mapping(contact_list):
        return redirect("contactlist_map", pk=pk)
    progress = importing.import_progress(contact_list=contact_list)
    context = {
        "contact_list": contact_list,
        "progress": progress,
        "rejections": contact_list.rejections.all()[:10] if progress["finished"] else [],
    }
    if not request.htmx:
        return render(request, "campaigns/contacts/contactlist_import.html", context)
    # htmx stops polling on 286 (and still shows this answer): a finished import is final.
    final = progress["finished"] or progress["failed"]
    return render(
        request, "campaigns/contacts/contactlist_fragment_progress.html", context, status=286 if final else 200
    )


@login_required
@require_POST
def contactlist_import_retry(request, pk):
    contact_list = _own_list(request, pk)
    try:
        importing.contact_list_import_retry(contact_list=contact_list)
    except CampaignError as exc:
        messages.error(request, str(exc))
    return redirect("contactlist_import", pk=pk)


@login_required
def contactlist_rejections(request, pk):
    contact_list = _own_list(request, pk)
    name = f"rejected-rows-{slugify(contact_list.name) or contact_list.pk}"
    return csv_download(importing.rejection_rows(contact_list=contact_list), name)


@login_required
def contactlist_detail(request, pk):
    contact_list = _own_list(request, pk)
    if importing.awaiting_mapping(contact_list):
        return redirect("contactlist_map", pk=pk)
    query, tag = request.GET.get("q", "").strip(), request.GET.get("tag", "").strip()
    found = lists.contacts_search(contact_list=contact_list, query=query, tag=tag)
    paginator = lists.CappedPaginator(found, CONTACTS_PER_PAGE)
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
    return render(request, "campaigns/contacts/contactlist_detail.html", context)


@login_required
@require_POST
def contactlist_consent(request, pk):
    """Consent for a list that has none recorded (made before consent was asked for)."""
    contact_list = _own_list(request, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        importing.contact_list_confirm_consent(contact_list=contact_list, by=request.user)
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
            lists.contact_list_update(
                contact_list=contact_list, name=form.cleaned_data["name"], tags=form.cleaned_data["tags"]
            )
        except CampaignError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"List “{contact_list.name}” saved.")
            return redirect("contactlist_detail", pk=pk)
    return render(request, "campaigns/contacts/contactlist_form.html", {"contact_list": contact_list, "form": form})


@login_required
def contactlist_delete(request, pk):
    contact_list = _own_list(request, pk)
    if request.method == "POST":
        try:
            lists.contact_list_delete(contact_list=contact_list, by=request.user)
        except CampaignError as exc:
            messages.error(request, str(exc))
            return redirect("contactlist_detail", pk=pk)
        messages.success(request, f"List “{contact_list.name}” deleted.")
        return redirect("contactlist_list")
    return render(
        request,
        "campaigns/contacts/contactlist_confirm_delete.html",
        {"contact_list": contact_list, "campaigns": list(contact_list.campaigns.values_list("name", flat=True))},
    )


@login_required
def contactlist_export(request, pk):
    contact_list = _own_list(request, pk)
    name = f"contacts-{slugify(contact_list.name) or contact_list.pk}"
    return csv_download(lists.contact_export_rows(contact_list=contact_list), name)


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
            lists.contact_update(contact=contact, **data)
        except CampaignError as exc:
            message = str(exc)
            field = next((f for prefix, f in ERROR_FIELDS.items() if message.startswith(prefix)), None)
            form.add_error(field, message)
        else:
            messages.success(request, f"Contact {contact.phone_number} saved.")
            return redirect(reverse("contactlist_detail", args=[pk]) + _return_query(request))
    return render(
        request,
        "campaigns/contacts/contact_form.html",
        {"contact_list": contact_list, "contact": contact, "form": form},
    )


@login_required
def contact_delete(request, pk, contact_pk):
    contact_list = _own_list(request, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, contact_list=contact_list)
    if request.method == "POST":
        try:
            lists.contact_delete(contact=contact)
        except CampaignError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Contact {contact.phone_number} deleted.")
        return redirect(reverse("contactlist_detail", args=[pk]) + _return_query(request))
    return render(
        request, "campaigns/contacts/contact_confirm_delete.html", {"contact_list": contact_list, "contact": contact}
    )


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
                request.POST.get("phone_number", ""), default_country=request.workspace.default_country
            )
        except ValueError as exc:
            messages.error(request, f"Not added: {exc}.")
        else:
            donotcall.dnc_numbers_add(workspace=request.workspace, numbers=[(number, "Added by you")], by=request.user)
            messages.success(request, f"{number} will not be called.")
        return redirect("dnc_list")
    query = request.GET.get("q", "").strip()
    page = Paginator(donotcall.dnc_search(workspace=request.workspace, query=query), DNC_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "entries": page.object_list,
        "q": query,
        "import_form": DncImportForm(),
        "platform_count": DoNotCall.objects.filter(workspace__isnull=True).count(),
    }
    return render(request, "campaigns/contacts/dnc_list.html", context)


@login_required
@require_POST
def dnc_import(request):
    form = DncImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file of numbers to import.")
        return redirect("dnc_list")
    upload = form.cleaned_data["file"]
    if upload.size > donotcall.MAX_DNC_IMPORT_BYTES:
        messages.error(request, "The file is larger than 2 MB. Split it into smaller files.")
        return redirect("dnc_list")
    try:
        report = donotcall.dnc_import(
            workspace=request.workspace, filename=upload.name, data=upload.read(), by=request.user
        )
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
    get_object_or_404(DoNotCall, pk=pk, workspace=request.workspace)  # another workspace's: 404, as everywhere
    try:
        number = donotcall.dnc_remove(workspace=request.workspace, entry_id=pk)
    except CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{number} removed from your do-not-call list. Campaigns may call it again.")
    return redirect("dnc_list")


@login_required
def dnc_export(request):
    return csv_download(donotcall.dnc_export_rows(workspace=request.workspace), "do-not-call")
