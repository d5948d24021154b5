"""The public policy pages (the version in effect, the one coming, the history), one version's
text, and the comparison of a version with the one it replaces."""

import pytest
from django.conf import settings
from django.urls import reverse

from .conftest import TERMS_V1, TERMS_V2, make_version

pytestmark = pytest.mark.django_db


def page_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_published_version_the_built_in_text_is_shown(client):
    page = page_of(client, reverse("terms"))
    assert f"(version {settings.TERMS_VERSION})" in page
    assert "What the service does" in page
    assert 'data-testid="policy-coming"' not in page and 'data-testid="policy-history"' not in page


def test_the_version_in_effect_replaces_the_built_in_text(client):
    make_version(version="2027-01", days=-2, text=TERMS_V1)

    page = page_of(client, reverse("terms"))

    assert 'data-testid="policy-current"' in page
    assert "Version 2027-01, in effect since" in page
    assert "<h2>1. What the service does</h2>" in page
    assert "<li>Credits never expire.</li>" in page
    assert "You must be at least 18 years old" not in page  # the built-in text is gone
    assert reverse("policy_version", args=["terms", "2027-01"]) in page


def test_a_coming_version_is_announced_at_the_top(client):
    make_version(version="2027-01", days=-2, text=TERMS_V1)
    make_version(version="2027-05", days=9, text=TERMS_V2, summary="Agents may also send texts.")

    page = page_of(client, reverse("terms"))

    assert 'data-testid="policy-coming"' in page
    assert "A new version (2027-05) takes effect on" in page and "Agents may also send texts." in page
    assert reverse("policy_compare", args=["terms", "2027-05"]) in page
    assert "Version 2027-01, in effect since" in page  # still the text in effect
    history = page.split('data-testid="policy-history"')[1]
    assert history.index("Version 2027-05") < history.index("Version 2027-01")
    # Other policies are untouched.
    assert 'data-testid="policy-coming"' not in page_of(client, reverse("privacy"))


def test_a_version_text_is_never_html(client):
    make_version(version="2027-01", days=-1, text="## <b>Heading</b>\n\n<script>alert(1)</script> & more")

    page = page_of(client, reverse("policy_version", args=["terms", "2027-01"]))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<h2>&lt;b&gt;Heading&lt;/b&gt;</h2>" in page


def test_drafts_and_unknown_versions_are_not_public(client):
    make_version(version="2027-09", days=10, published=False)
    assert client.get(reverse("policy_version", args=["terms", "2027-09"])).status_code == 404
    assert client.get(reverse("policy_compare", args=["terms", "2027-09"])).status_code == 404
    assert client.get(reverse("policy_version", args=["cookies", "2027-09"])).status_code == 404


def test_compare_marks_what_was_added_and_removed(client):
    make_version(version="2027-01", days=-5, text=TERMS_V1)
    make_version(version="2027-02", days=9, text=TERMS_V2, summary="Texts, and refunds explained.")

    page = page_of(client, reverse("policy_compare", args=["terms", "2027-02"]))

    assert "Compared with version 2027-01" in page and "Texts, and refunds explained." in page
    # A changed sentence shows its new words, marked for screen readers too.
    assert '<ins><span class="visually-hidden">[added: </span>and text <span' in page
    # A removed list item, and an added one.
    assert '<del><span class="visually-hidden">[removed: </span>Credits never expire.' in page
    assert '<ins><span class="visually-hidden">[added: </span>Refunds follow the refund policy.' in page
    assert page.count('data-change="removed"') == 1 and page.count('data-change="added"') == 1
    assert page.count('data-change="changed"') == 1


def test_the_first_version_is_compared_with_the_built_in_page(client):
    builtin = page_of(client, reverse("refunds"))
    assert "How cancelling and refunds work" in builtin or "refund" in builtin
    make_version(policy="refunds", version="2027-01", days=9, text="## One rule\n\nEverything is new.")

    page = page_of(client, reverse("policy_compare", args=["refunds", "2027-01"]))

    assert "the text in force before our first published version" in page
    assert '<ins><span class="visually-hidden">[added: </span>Everything is new.' in page
    # The built-in page's paragraphs show as removed, as plain text.
    assert page.count('data-change="removed"') > 3
    assert "&lt;strong&gt;" not in page and "this Clozit service" in page
