"""What carriers and model servers send, in the shapes of their own documentation, for the tests
of real-time calls. Each block names its source; only our call's numbers and ids are changed.
"""

# Twilio, "Getting and sending WebSocket messages"
# (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages): the setup message.
TWILIO_SETUP = {
    "type": "setup",
    "sessionId": "VX00000000000000000000000000000000",
    "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "parentCallSid": "",
    "callSid": "CA00000000000000000000000000000000",
    "from": "+14155550000",
    "to": "+12025550101",
    "forwardedFrom": "",
    "callType": "PSTN",
    "callerName": "",
    "direction": "outbound-api",
    "callStatus": "IN-PROGRESS",
    "customParameters": {},
}


def twilio_prompt(words: str) -> dict:
    """A final prompt (partial prompts are not asked for)."""
    return {"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True}


def twilio_interrupt(heard: str, after_ms: int) -> dict:
    return {"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": after_ms}


def twilio_dtmf(digit: str) -> dict:
    return {"type": "dtmf", "digit": digit}


# Twilio, "ConversationRelay TwiML noun" (<Connect action>): what the action URL is posted once the
# session ends, besides the usual call parameters.
def twilio_session_ended(*, call_sid: str, handoff: str = "", status: str = "completed", call_status="in-progress"):
    body = {
        "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "CallSid": call_sid,
        "CallStatus": call_status,
        "From": "+14155550000",
        "To": "+12025550101",
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        "SessionId": "VX00000000000000000000000000000000",
        "SessionStatus": status,
        "SessionDuration": "42",
    }
    if handoff:
        body["HandoffData"] = handoff
    if status == "failed":
        body.update(ErrorCode="64105", ErrorMessage="WebSocket connection closed")
    return body


# Telnyx, "ConversationRelay WebSocket channel"
# (https://developers.telnyx.com/api-reference/websockets/conversationrelay-websocket-channel).
TELNYX_SETUP = {
    "type": "setup",
    "sessionId": "7a7e6a4f-1d44-4f0c-b5d4-9f9bf3a5c1f2",
    "accountSid": "1f1a8b6f-1234-4abc-9def-1234567890ab",
    "callSid": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
    "callControlId": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
    "callSessionId": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
    "callLegId": "428c31b6-7af4-4b6f-92e7-7a7e6a4f1d44",
    "from": "+14155550000",
    "to": "+12025550101",
    "direction": "outbound",
    "callerName": "",
    "callStatus": "active",
    "customParameters": {},
}
TELNYX_PROMPT = {"type": "prompt", "voicePrompt": "hello there", "lang": "en", "last": True}


# openai-python, tests/lib/chat/test_tool_call_deltas.py: a streamed tool call whose name and first
# argument piece share an index within one chunk, a later argument delta split into two entries.
def openai_tool_call_chunks(name: str, arguments: list[str], *, content: list[str] = ()) -> list[dict]:
    def chunk(delta: dict, finish=None) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in content]
    first, *rest = arguments
    chunks.append(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_files", "type": "function", "function": {"name": name}},
                    {"index": 0, "function": {"arguments": first}},
                ]
            }
        )
    )
    if rest:
        chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}} for piece in rest]}))
    chunks.append(chunk({}, finish="tool_calls"))
    return chunks
