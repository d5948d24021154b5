"""The notices page (what Clozit told the person) and their email choices."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from . import selectors
from .kinds import KINDS
from .services import NoticeError, notice_preferences_set, notices_mark_read


@login_required
def notice_list(request):
    """The person's own notices, newest first; those shown are marked read (the page still
    shows which were new on this visit)."""
    page = Paginator(selectors.notices_of(request.user), settings.NOTICES_PER_PAGE).get_page(request.GET.get("page"))
    notices = list(page.object_list)
    unread = {n.pk for n in notices if n.read_at is None}
    notices_mark_read(user=request.user, notice_ids=unread)
    return render(request, "notices/list.html", {"page": page, "notices": notices, "new_ids": unread})


@login_required
def notice_preferences(request):
    """Which emails the person gets. Every kind has a checkbox named `email`; essential kinds
    are always sent (their boxes are checked and disabled, and posted by a hidden field), so a
    POST without one is a request to turn off an essential email, which the service refuses."""
    if request.method == "POST":
        wanted = set(request.POST.getlist("email"))
        try:
            notice_preferences_set(user=request.user, turned_off={code for code in KINDS if code not in wanted})
        except NoticeError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Your email choices are saved.")
        return redirect("notice_preferences")
    return render(request, "notices/preferences.html", {"rows": selectors.preference_rows(request.user)})
