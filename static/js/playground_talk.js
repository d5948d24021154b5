// Talk mode of the playground: this page plays the carrier's part of ConversationRelay, over the
// same socket protocol a phone call uses. Speech is recognised by the browser (Web Speech API)
// where it can, or typed; each finished utterance goes out as a `prompt` frame; the agent's reply
// streams back as `text` frames and is spoken sentence by sentence as it arrives. Speaking over
// the agent stops its voice and sends `interrupt` with what had been said until then, as a
// carrier does. When the talk ends the page reloads to show the conversation as it was recorded.
(function () {
  var root = document.querySelector("[data-talk]");
  if (!root) return;
  var toggle = root.querySelector("[data-talk-toggle]");
  var status = root.querySelector("[data-talk-status]");
  var typed = root.querySelector("[data-talk-typed]");
  var transcript = document.getElementById("playground-transcript");
  var language = root.getAttribute("data-language") || "en-US";
  var agentName = root.getAttribute("data-agent-name") || "Agent";
  var Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  var synth = window.speechSynthesis;

  var socket = null;
  var recognition = null;
  var agentLine = null; // the transcript line the streaming reply is written into
  var pending = ""; // streamed text not yet spoken (waiting for the end of a sentence)
  var said = ""; // what the agent's voice has finished saying of the current reply
  var speaking = 0; // utterances queued or playing
  var replyStarted = 0;
  var ended = false;

  function setStatus(text) {
    status.textContent = text;
  }

  function addLine(speaker, text) {
    var line = document.createElement("div");
    line.className = "turn turn-" + speaker;
    line.setAttribute("data-testid", "talk-" + speaker);
    var who = document.createElement("span");
    who.className = "turn-speaker";
    who.textContent = speaker === "agent" ? agentName : "You";
    var words = document.createElement("span");
    words.textContent = text;
    line.appendChild(who);
    line.appendChild(document.createTextNode(" "));
    line.appendChild(words);
    transcript.appendChild(line);
    line.scrollIntoView({ block: "nearest" });
    return words;
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  // --- the agent's voice ---------------------------------------------------------------------
  function speak(text, last) {
    pending += text;
    var cut = last ? pending.length : Math.max(pending.lastIndexOf(". "), pending.lastIndexOf("? "), pending.lastIndexOf("! ")) + 1;
    if (cut <= 0) return;
    var sentence = pending.slice(0, cut).trim();
    pending = pending.slice(cut);
    if (!sentence) return;
    if (!synth || typeof SpeechSynthesisUtterance === "undefined") {
      said += (said ? " " : "") + sentence; // nothing to speak with: shown only
      return;
    }
    var utterance = new SpeechSynthesisUtterance(sentence);
    utterance.lang = language;
    speaking += 1;
    setStatus("The agent is speaking… speak to interrupt.");
    utterance.onend = function () {
      said += (said ? " " : "") + sentence;
      speaking = Math.max(0, speaking - 1);
      if (!speaking && !ended) setStatus("Listening…");
    };
    utterance.onerror = utterance.onend;
    synth.speak(utterance);
  }

  function agentIsTalking() {
    return speaking > 0 || agentLine !== null;
  }

  // The person spoke over the agent: its voice stops, and the platform is told what was heard.
  function interrupt() {
    if (!agentIsTalking()) return;
    var heard = said;
    speaking = 0;
    pending = "";
    if (synth) synth.cancel();
    send({
      type: "interrupt",
      utteranceUntilInterrupt: heard,
      durationUntilInterruptMs: replyStarted ? Math.round(performance.now() - replyStarted) : 0,
    });
    agentLine = null;
  }

  // --- the person's words --------------------------------------------------------------------
  function prompt(text) {
    text = (text || "").trim();
    if (!text || ended) return;
    interrupt();
    addLine("callee", text);
    said = "";
    send({ type: "prompt", voicePrompt: text, lang: language, last: true });
    setStatus("The agent is answering…");
  }

  function listen() {
    if (!Recognition) {
      setStatus("This browser cannot recognise speech: type what you would say.");
      return;
    }
    recognition = new Recognition();
    recognition.lang = language;
    recognition.continuous = true;
    recognition.interimResults = true;
    recognition.onresult = function (event) {
      for (var i = event.resultIndex; i < event.results.length; i++) {
        var result = event.results[i];
        if (result.isFinal) prompt(result[0].transcript);
        else if (result[0].transcript.trim()) interrupt(); // talking over the agent
      }
    };
    recognition.onend = function () {
      if (!ended && socket) recognition.start(); // the browser stops listening after a pause
    };
    recognition.start();
    setStatus("Listening…");
  }

  // --- the socket ----------------------------------------------------------------------------
  function handle(frame) {
    if (frame.type === "text") {
      if (frame.token) {
        if (!agentLine) {
          agentLine = addLine("agent", "");
          replyStarted = performance.now();
        }
        agentLine.textContent += frame.token;
        speak(frame.token, false);
      }
      if (frame.last) {
        speak("", true);
        agentLine = null;
        if (!speaking && !ended) setStatus("Listening…");
      }
    } else if (frame.type === "end") {
      var handoff = {};
      try {
        handoff = JSON.parse(frame.handoffData || "{}");
      } catch (error) {
        handoff = {};
      }
      finish(handoff.error || handoff.notice || "The call is over.");
    }
  }

  function start() {
    var csrf = root.querySelector("[name=csrfmiddlewaretoken]");
    toggle.disabled = true;
    setStatus("Connecting…");
    fetch(root.getAttribute("data-talk-token-url"), {
      method: "POST",
      headers: { "X-CSRFToken": csrf ? csrf.value : "", Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("refused");
        return response.json();
      })
      .then(function (data) {
        var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
        socket = new WebSocket(scheme + window.location.host + data.path);
        socket.onopen = function () {
          send({ type: "setup", sessionId: data.session, callSid: "playground-" + data.session, from: "browser", to: "agent", direction: "outbound-api", customParameters: {} });
          toggle.textContent = "Stop talking";
          toggle.disabled = false;
          root.classList.add("talking");
          typed.hidden = false;
          listen();
        };
        socket.onmessage = function (event) {
          try {
            handle(JSON.parse(event.data));
          } catch (error) {
            /* a frame we cannot read is skipped, as a carrier would */
          }
        };
        socket.onclose = function () {
          if (!ended) finish("The conversation was disconnected.");
        };
      })
      .catch(function () {
        toggle.disabled = false;
        setStatus("Could not start talking. Reload the page and try again.");
      });
  }

  function finish(message) {
    ended = true;
    setStatus(message);
    if (recognition) {
      recognition.onend = null;
      recognition.stop();
    }
    if (socket) socket.close();
    socket = null;
    // The page then shows the conversation as recorded: what was heard, what was charged.
    var wait = speaking ? 4000 : 1200;
    setTimeout(function () {
      window.location.reload();
    }, wait);
  }

  toggle.addEventListener("click", function () {
    if (socket) finish("Talk stopped.");
    else start();
  });
  typed.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = typed.querySelector("input");
    prompt(input.value);
    input.value = "";
  });
})();
