"""The agent playground's pages: talk to an agent in the browser (htmx, and plain forms without JS)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from billing import ledger

from ..conversation.engine import engine_for
from ..models import Agent, PlaygroundSession, outcome_label
from . import playground, playground_talk

OWN_FIELDS = ("first_name", "last_name", "phone_number")


class PlaygroundStartForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False, label="First name")
    last_name = forms.CharField(max_length=100, required=False, label="Last name")
    phone_number = forms.CharField(max_length=20, required=False, label="Phone number")
    other = forms.CharField(
        required=False,
        label="Other variables",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line as name = value, e.g. company = Acme.",
    )
    answered_by = forms.ChoiceField(
        choices=[("human", "A person"), ("machine", "An answering machine")],
        initial="human",
        label="Who answers",
    )

    @staticmethod
    def initial_for(variables: dict, agent) -> dict:
        others = {name: value for name, value in variables.items() if name not in OWN_FIELDS}
        for name in playground.agent_variable_names(agent):  # offer what the agent's lines use
            if name not in OWN_FIELDS:
                others.setdefault(name, "")
        return {
            **{name: variables.get(name, "") for name in OWN_FIELDS},
            "other": "\n".join(f"{name} = {value}" for name, value in others.items()),
            "answered_by": "human",
        }

    def clean_other(self) -> dict:
        values = {}
        for number, line in enumerate(self.cleaned_data["other"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or not playground.VARIABLE_NAME.match(name):
                raise forms.ValidationError(
                    f"Line {number}: write name = value, with a name of letters, digits and _ (“{line.strip()}”)."
                )
            values[name] = value.strip()
        return values

    def variables(self) -> dict:
        data = self.cleaned_data
        return {**{name: data[name] for name in OWN_FIELDS}, **data["other"]}


def _page_context(request, agent, session, *, form=None) -> dict:
    engine = engine_for(agent)
    uses_model = playground.engine_uses_model(engine)
    if form is None:
        variables = (
            session.variables if session else playground.playground_sample_variables(workspace=request.workspace)
        )
        form = PlaygroundStartForm(initial=PlaygroundStartForm.initial_for(variables, agent))
    return {
        "agent": agent,
        "session": session,
        "form": form,
        **_panel_context(request, session, uses_model),
        "engine_label": playground.engine_label(engine),
        "uses_model": uses_model,
        "turn_cost": ledger.AI_QUERY_COST,
    }


def _panel_context(request, session, uses_model: bool) -> dict:
    return {
        "outcome": outcome_label(session.outcome) if session and session.outcome else "",
        "credits": playground.playground_credits(session) if session else 0,
        "available": ledger.balance_of(workspace=request.workspace).available if uses_model else None,
    }


def _owned(request, pk: int, session_pk: int | None = None):
    agent = get_object_or_404(Agent, pk=pk, workspace=request.workspace)
    if session_pk is None:
        return agent, None
    return agent, get_object_or_404(PlaygroundSession, pk=session_pk, agent=agent, workspace=request.workspace)


def _latest(request, agent) -> PlaygroundSession | None:
    return (
        PlaygroundSession.objects.filter(agent=agent, workspace=request.workspace)
        .order_by("-created_at", "-id")
        .first()
    )


@login_required
def agent_playground(request, pk):
    agent, _ = _owned(request, pk)
    session = _latest(request, agent)
    return render(request, "campaigns/agents/playground.html", _page_context(request, agent, session))


@login_required
@require_POST
def playground_start(request, pk):
    agent, _ = _owned(request, pk)
    form = PlaygroundStartForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "campaigns/agents/playground.html",
            _page_context(request, agent, _latest(request, agent), form=form),
        )
    try:
        playground.playground_start(
            request.workspace, agent, form.variables(), answered_by=form.cleaned_data["answered_by"]
        )
    except playground.PlaygroundError as exc:
        messages.error(request, str(exc))
    return redirect("agent_playground", pk=agent.pk)


@login_required
@require_POST
def playground_restart(request, pk, session_pk):
    """The same contact again, from the agent's first words."""
    agent, session = _owned(request, pk, session_pk)
    try:
        playground.playground_start(request.workspace, agent, session.variables)
    except playground.PlaygroundError as exc:
        messages.error(request, str(exc))
    return redirect("agent_playground", pk=agent.pk)


def _number(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_POST
def playground_say(request, pk, session_pk):
    agent, session = _owned(request, pk, session_pk)
    text = request.POST.get("text", "")
    shown = _number(request.POST.get("shown"))
    error = ""
    try:
        session = playground.playground_say(session, text, turn=_number(request.POST.get("turn")))
    except playground.PlaygroundError as exc:
        error = str(exc)
        session.refresh_from_db()
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("agent_playground", pk=agent.pk)
    # The lines this page does not show yet: its own turn's, or another tab's too.
    shown = min(max(shown or 0, 0), len(session.transcript))
    uses_model = playground.engine_uses_model(engine_for(agent))
    context = {
        "agent": agent,
        "session": session,
        "new_lines": session.transcript[shown:],
        "error": error,
        "text": text if error else "",
        "uses_model": uses_model,
        "turn_cost": ledger.AI_QUERY_COST,
        "oob": True,
        **_panel_context(request, session, uses_model),
    }
    return render(request, "campaigns/agents/playground_fragment_say.html", context)


@login_required
@require_POST
def playground_talk_token(request, pk, session_pk):
    """A fresh, short-lived address for Talk mode's socket, for this conversation's owner."""
    agent, session = _owned(request, pk, session_pk)
    if session.ended:
        return JsonResponse({"error": "This conversation has ended."}, status=409)
    return JsonResponse({"path": playground_talk.talk_path(session), "session": session.pk})
