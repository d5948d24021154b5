"""An agent's knowledge base: its sources, adding text or files, and trying retrieval."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..conversation import knowledge, knowledge_text
from ..conversation.engine.scripted import looks_like_question
from ..models import Agent, KnowledgePassage, KnowledgeSource

MAX_MB = knowledge.MAX_FILE_BYTES // (1024 * 1024)


class KnowledgeTextForm(forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "Opening hours and prices"}))
    text = forms.CharField(
        max_length=knowledge.MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Plain text or Markdown. Headings and blank lines between paragraphs help the agent find answers.",
    )


class KnowledgeUploadForm(forms.Form):
    file = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,.md,.pdf"}),
        help_text=f"A .txt or .md file (UTF-8) or a PDF with text, up to {MAX_MB} MB.",
    )
    title = forms.CharField(max_length=200, required=False, help_text="Leave empty to use the file's name.")


def _agent(request, pk) -> Agent:
    return get_object_or_404(Agent, pk=pk, workspace=request.workspace)


def _page(request, agent, *, text_form=None, upload_form=None, query=""):
    sources = agent.knowledge_sources.annotate(passage_count=Count("passages")).order_by("title", "id")
    context = {
        "agent": agent,
        "sources": sources,
        "passages_used": KnowledgePassage.objects.filter(agent=agent).count(),
        "passages_max": knowledge.MAX_PASSAGES_PER_AGENT,
        "text_form": text_form or KnowledgeTextForm(prefix="text"),
        "upload_form": upload_form or KnowledgeUploadForm(prefix="upload"),
        **_retrieval(agent, query),
    }
    return render(request, "campaigns/agents/knowledge.html", context)


def _retrieval(agent, query: str) -> dict:
    """What the agent would be given for `query`, and what the scripted engine would say."""
    results = knowledge.passages_for(agent, query) if query else []
    spoken = ""
    if results and looks_like_question(query):
        spoken = knowledge_text.passage_answer(results[0].text, query, language=agent.language)
    return {"query": query, "results": results, "spoken": spoken}


@login_required
def knowledge_page(request, pk):
    agent = _agent(request, pk)
    return _page(request, agent, query=request.GET.get("q", "").strip()[:500])


@login_required
def knowledge_search(request, pk):
    """The "Test retrieval" box: the passages a call turn with these words would get (htmx partial)."""
    agent = _agent(request, pk)
    query = request.GET.get("q", "").strip()[:500]
    if not request.htmx:  # without JavaScript the page itself shows the results
        return redirect(reverse("knowledge", kwargs={"pk": agent.pk}) + "?" + urlencode({"q": query}))
    return render(request, "campaigns/agents/knowledge_results.html", {"agent": agent, **_retrieval(agent, query)})


@login_required
@require_POST
def knowledge_text_add(request, pk):
    agent = _agent(request, pk)
    form = KnowledgeTextForm(request.POST, prefix="text")
    if form.is_valid():
        try:
            source = knowledge.knowledge_add_text(agent, form.cleaned_data["title"], form.cleaned_data["text"])
        except knowledge.KnowledgeError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, f"Added “{source.title}”: {source.passages.count()} passages.")
            return redirect("knowledge", pk=agent.pk)
    return _page(request, agent, text_form=form)


@login_required
@require_POST
def knowledge_file_upload(request, pk):
    agent = _agent(request, pk)
    form = KnowledgeUploadForm(request.POST, request.FILES, prefix="upload")
    if form.is_valid():
        try:
            source = knowledge.knowledge_add_file(agent, form.cleaned_data["file"], title=form.cleaned_data["title"])
        except knowledge.KnowledgeError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, f"Added “{source.title}”: {source.passages.count()} passages.")
            return redirect("knowledge", pk=agent.pk)
    return _page(request, agent, upload_form=form)


@login_required
def knowledge_source(request, pk, source_pk):
    agent = _agent(request, pk)
    source = get_object_or_404(KnowledgeSource, pk=source_pk, agent=agent)
    return render(
        request,
        "campaigns/agents/knowledge_source.html",
        {"agent": agent, "source": source, "passages": source.passages.order_by("position")},
    )


@login_required
def knowledge_source_delete(request, pk, source_pk):
    agent = _agent(request, pk)
    source = get_object_or_404(KnowledgeSource, pk=source_pk, agent=agent)
    if request.method == "POST":
        knowledge.knowledge_delete(source)
        messages.success(request, f"Removed “{source.title}” from the agent's knowledge.")
        return redirect("knowledge", pk=agent.pk)
    return render(request, "campaigns/agents/knowledge_confirm_delete.html", {"agent": agent, "source": source})
