"""Talking to an agent in the browser (the playground's Talk mode), in a real Chromium at desktop
and phone size, against the whole ASGI application (Django and the sockets) on uvicorn.

Headless Chromium has no microphone and no voices, so the page gets stand-ins for the Web Speech
API before it loads: recognition results are fed by the test (interim ones while the agent
speaks, as a person talking over it; final ones as finished utterances), and the agent's
utterances end when the test says they have been spoken. Everything else is real: the page's
script, the socket, the frames, the conversation's records.
"""

import time

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from campaigns.agents.playground import playground_start
from campaigns.models import PlaygroundSession
from campaigns.tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}

FAKE_SPEECH = """
(() => {
  const talk = (window.__talk = { recognitions: [], spoken: [], playing: [], cancelled: 0 });
  class FakeRecognition {
    constructor() { talk.recognitions.push(this); }
    start() { this.running = true; }
    stop() { this.running = false; }
  }
  window.SpeechRecognition = FakeRecognition;
  talk.hear = (text, isFinal) => {
    const recognition = talk.recognitions[talk.recognitions.length - 1];
    const result = [{ transcript: text, confidence: 0.9 }];
    result.isFinal = isFinal;
    recognition.onresult({ resultIndex: 0, results: [result] });
  };
  // Utterances play until the test ends them (finish), or the page cancels them.
  const synth = {
    speak(utterance) { talk.spoken.push(utterance.text); talk.playing.push(utterance); },
    cancel() { talk.playing = []; talk.cancelled += 1; },
    get speaking() { return talk.playing.length > 0; },
  };
  talk.finish = (count) => {
    for (const utterance of talk.playing.splice(0, count)) utterance.onend && utterance.onend();
  };
  Object.defineProperty(window, "speechSynthesis", { value: synth, configurable: true });
})();
"""


def log_in(page: Page, url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def spoken_when(page: Page, count: int) -> list[str]:
    """What the agent's voice was given, once it was given `count` utterances (the page's policy
    allows no eval, so no wait_for_function)."""
    deadline = time.monotonic() + 10
    while len(spoken := page.evaluate("__talk.spoken")) < count and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(spoken) == count, spoken
    return spoken


def agent_lines(page: Page):
    return page.get_by_test_id("talk-agent")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_person_talks_to_the_agent_interrupts_it_and_types_when_they_prefer(asgi_server, page, user, size):
    if size == "phone":
        page.set_viewport_size(PHONE)
    agent = make_agent(
        user,
        name="Sam",
        questions=(
            "Are you the person who handles scheduling?\nHow many people are on your team?\n"
            "Which tool do you use for it today?"
        ),
    )
    session = playground_start(user.personal_workspace, agent)
    page.add_init_script(FAKE_SPEECH)
    log_in(page, asgi_server, user)
    page.goto(f"{asgi_server}/agents/{agent.pk}/playground/", timeout=30_000)

    page.get_by_test_id("talk-toggle").click()
    expect(page.get_by_test_id("talk-status")).to_have_text("Listening…")
    expect(page.get_by_test_id("talk-toggle")).to_have_text("Stop talking")

    # 1. The person answers out loud; the agent's reply streams in and is spoken.
    page.evaluate("__talk.hear('Yes, that is me.', true)")
    expect(page.get_by_test_id("talk-callee")).to_have_text("You Yes, that is me.")
    expect(agent_lines(page).last).to_contain_text("How many people are on your team?")
    spoken = spoken_when(page, 2)  # sentence by sentence: "Thank you.", then the question at `last`
    assert " ".join(spoken) in agent_lines(page).last.inner_text()

    # 2. While the agent is still speaking, the person talks over it: its voice stops at once,
    #    and the record keeps only what was said until then.
    page.evaluate("__talk.finish(1)")  # the first sentence was heard; the question is still playing
    page.evaluate("__talk.hear('Sorry', false)")
    assert page.evaluate("__talk.cancelled") == 1
    page.evaluate("__talk.hear('Sorry, about ten of us.', true)")
    expect(agent_lines(page)).to_have_count(2)
    expect(agent_lines(page).last).to_contain_text("Which tool do you use for it today?")
    interrupted = [line for line in PlaygroundSession.objects.get(pk=session.pk).transcript if line.get("interrupted")]
    assert [line["text"] for line in interrupted] == [spoken[0]]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page scrolls sideways: {width} px"

    # 3. Typing works as well as speaking (browsers without speech recognition). The last answer
    #    ends the conversation: the page says so and shows it as recorded.
    page.get_by_test_id("talk-typed").fill("A paper calendar.")
    page.get_by_test_id("talk-typed").press("Enter")
    expect(page.get_by_test_id("playground-ended")).to_be_visible(timeout=15_000)
    transcript = page.get_by_test_id("playground-transcript")
    expect(transcript).to_contain_text("A paper calendar.")
    expect(page.get_by_test_id("turn-interrupted")).to_have_count(1)
    recorded = PlaygroundSession.objects.get(pk=session.pk)
    said_by_callee = [line["text"] for line in recorded.transcript if line["speaker"] == "callee"]
    assert said_by_callee == ["Yes, that is me.", "Sorry, about ten of us.", "A paper calendar."]
    assert recorded.ended
