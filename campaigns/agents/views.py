"""The agent builder's pages: the list, the form (with its variable warnings) and deletion."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from ..errors import CampaignError
from ..models import Agent
from .forms import AgentForm
from .services import agent_delete as agent_delete_service
from .services import agent_save
from .variables import agent_variable_warnings


# --- Agents -----------------------------------------------------------------------
@login_required
def agent_list(request):
    return render(
        request, "campaigns/agents/agent_list.html", {"agents": Agent.objects.filter(workspace=request.workspace)}
    )


@login_required
def agent_edit(request, pk=None):
    agent = get_object_or_404(Agent, pk=pk, workspace=request.workspace) if pk else Agent(workspace=request.workspace)
    form = AgentForm(request.POST or None, instance=agent, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        agent_save(form=form)
        messages.success(request, f"Agent “{agent.name}” saved.")
        for warning in agent_variable_warnings(agent=agent):
            messages.warning(request, warning)
        return redirect("agent_list")
    # The lines as stored, or as just submitted (the form has put them on the agent).
    variable_warnings = agent_variable_warnings(agent=form.instance) if (agent.pk or form.is_bound) else []
    return render(
        request,
        "campaigns/agents/agent_form.html",
        {"form": form, "agent": agent, "variable_warnings": variable_warnings},
    )


@login_required
def agent_delete(request, pk):
    agent = get_object_or_404(Agent, pk=pk, workspace=request.workspace)
    if request.method == "POST":
        try:
            agent_delete_service(agent=agent, by=request.user)
        except CampaignError as exc:
            messages.error(request, str(exc))
            return redirect("agent_list")
        messages.success(request, f"Agent “{agent.name}” deleted.")
        return redirect("agent_list")
    return render(request, "campaigns/agents/agent_confirm_delete.html", {"agent": agent})
