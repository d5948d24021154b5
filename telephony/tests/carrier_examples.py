"""What the carriers send and answer, copied from their own published examples so the fakes and
the tests speak the real wire format. Each entry names where it comes from; identifiers are the
examples' own (tests replace call ids with their calls' ids).
"""

# --- Telnyx webhooks (https://developers.telnyx.com/api-reference/callbacks/<name>) ----------

# callMachineGreetingEnded. The published example carries no call_control_id: the webhook must
# find the call by its client_state (or its stored call control id) and not rely on one.
# `result` is one of "beep_detected", "ended", "not_sure" (telnyx SDK 4.189.0,
# telnyx/types/call_machine_greeting_ended.py).
TELNYX_MACHINE_GREETING_ENDED = {
    "record_type": "event",
    "event_type": "call.machine.greeting.ended",
    "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
    "occurred_at": "2018-02-02T22:25:27.521992Z",
    "payload": {
        "connection_id": "7267xxxxxxxxxxxxxx",
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "from": "+35319605860",
        "to": "+35319605860",
        "result": "ended",
    },
}

# callMachinePremiumGreetingEnded: same shape; `result` is "beep_detected", "no_beep_detected" or
# "prompt_ended" (telnyx/types/call_machine_premium_greeting_ended.py).
TELNYX_MACHINE_PREMIUM_GREETING_ENDED = {
    **TELNYX_MACHINE_GREETING_ENDED,
    "event_type": "call.machine.premium.greeting.ended",
    "payload": {**TELNYX_MACHINE_GREETING_ENDED["payload"], "result": "beep_detected"},
}

# callHangup: a rejected call (SIP 603), as published.
TELNYX_HANGUP = {
    "record_type": "event",
    "event_type": "call.hangup",
    "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
    "occurred_at": "2018-02-02T22:25:27.521992Z",
    "payload": {
        "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
        "connection_id": "7267xxxxxxxxxxxxxx",
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "from": "+35319605860",
        "to": "+35319605860",
        "start_time": "2018-02-02T22:20:27.521992Z",
        "state": "hangup",
        "hangup_cause": "call_rejected",
        "hangup_source": "caller",
        "sip_hangup_cause": "603",
    },
}

# callInitiated for an incoming call, with the fields of telnyx/types/call_initiated.py. The case
# the webhook must refuse: the same event without its call_control_id.
TELNYX_INBOUND_INITIATED = {
    "record_type": "event",
    "event_type": "call.initiated",
    "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
    "occurred_at": "2018-02-02T22:25:27.521992Z",
    "payload": {
        "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
        "connection_id": "7267xxxxxxxxxxxxxx",
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "direction": "incoming",
        "from": "+35319605860",
        "to": "+13129457420",
        "state": "parked",
    },
}

# --- Telnyx errors ---------------------------------------------------------------------------

# A command to a call that has ended: HTTP 422, as quoted in pipecat-ai/pipecat PR #2054.
TELNYX_CALL_ENDED = {
    "errors": [
        {
            "code": "90018",
            "title": "Call has already ended",
            "detail": "This call is no longer active and can't receive commands.",
        }
    ]
}

# A command to a call control id Telnyx does not know: HTTP 422 (the Node SDK's
# InvalidParametersError), as quoted in team-telnyx/telnyx-node issue #208.
TELNYX_INVALID_CALL_CONTROL_ID = {
    "errors": [
        {
            "code": "90015",
            "title": "Invalid Call Control ID",
            "source": {"pointer": "/call_control_id"},
            "detail": "The call_control_id provided was not valid.",
        }
    ]
}

# --- Twilio ----------------------------------------------------------------------------------

# The asynchronous AMD result posted to AsyncAmdStatusCallback (Twilio's Answering Machine
# Detection guide: CallSid, AccountSid, AnsweredBy, MachineDetectionDuration in milliseconds).
# AnsweredBy: human, machine_start, machine_end_beep, machine_end_silence, machine_end_other,
# fax, unknown.
TWILIO_ASYNC_AMD = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": "CA5f7b1c2e8a1d4e0012c3b4a5",
    "AnsweredBy": "machine_end_beep",
    "MachineDetectionDuration": "2400",
}

# Redirecting (new Url or Twiml) a call that is not in progress: HTTP 400, code 21220 ("Invalid
# call state", https://www.twilio.com/docs/api/errors/21220); the message as logged in
# bmlt-enabled/yap issue #570 ("Unable to update record: " is the SDK's own prefix).
TWILIO_NOT_IN_PROGRESS = {
    "code": 21220,
    "message": "Call is not in-progress. Cannot redirect.",
    "more_info": "https://www.twilio.com/docs/errors/21220",
    "status": 400,
}

# Ending (Status=completed) a call that has already ended: HTTP 404, code 20404, as logged in
# pipecat-ai/pipecat issue #2145. Also the answer for a call sid Twilio does not know.
TWILIO_NOT_FOUND = {
    "code": 20404,
    "message": "The requested resource {path} was not found",
    "more_info": "https://www.twilio.com/docs/errors/20404",
    "status": 404,
}

# A parameter the API does not take: HTTP 400, code 20001 "Invalid parameter" (the shape used in
# twilio-python's own tests, tests/unit/http/test_http_client.py).
TWILIO_INVALID_PARAMETER = {
    "code": 20001,
    "message": "Invalid parameter",
    "more_info": "https://www.twilio.com/docs/errors/20001",
    "status": 400,
}

# --- ConversationRelay frames, carrier -> us ----------------------------------------------------

# Twilio, "Getting and sending WebSocket messages" (setup message; our outbound calls say
# "outbound-api" and "IN-PROGRESS" where the example, an inbound call, says "inbound", "RINGING").
TWILIO_RELAY_SETUP = {
    "type": "setup",
    "sessionId": "VX00000000000000000000000000000000",
    "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "parentCallSid": "",
    "callSid": "CA00000000000000000000000000000000",
    "from": "+18005550100",
    "to": "+18005550101",
    "forwardedFrom": "+18005550102",
    "callType": "PSTN",
    "callerName": "",
    "direction": "inbound",
    "callStatus": "RINGING",
    "customParameters": {"callReference": "bar"},
}
# Telnyx, "ConversationRelay WebSocket channel" (the same vocabulary as Twilio's): the frames that
# follow setup. Twilio's partial prompts (last: false) come only with partialPrompts on, which we
# do not ask for; its language codes are BCP 47 ("en-US").
RELAY_PROMPT = {"type": "prompt", "voicePrompt": "hello there", "lang": "en", "last": False}
RELAY_DTMF = {"type": "dtmf", "digit": "1"}
RELAY_INTERRUPT = {
    "type": "interrupt",
    "utteranceUntilInterrupt": "Welcome to Telnyx, how can I help",
    "durationUntilInterruptMs": 1820,
}
RELAY_ERROR = {"type": "error", "description": "Invalid message: unknown type: foo"}

# Telnyx call.conversation.ended after a Conversation Relay session. Telnyx publishes no example
# for a relay session: the fields are the SDK's (telnyx 4.189.0, types/call_conversation_ended.py),
# the values in the shape of Telnyx's other call events; `reason` "customer_disconnect" is the one
# the SDK names ("the customer WebSocket disconnected"). The assistant fields (assistant_id,
# llm_model, messages, ...) belong to Telnyx's own AI assistant and are left out.
TELNYX_CONVERSATION_ENDED = {
    "record_type": "event",
    "event_type": "call.conversation.ended",
    "id": "4b9e4a05-0a1e-4bb6-9a2e-4d8c7e1b9f21",
    "occurred_at": "2026-05-04T15:21:02.000000Z",
    "payload": {
        "call_control_id": "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
        "call_leg_id": "428c31b6-7af4-4b6f-92e7-7a7e6a4f1d44",
        "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
        "calling_party_type": "pstn",
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "connection_id": "7267xxxxxxxxxxxxxx",
        "conversation_id": "b1c2d3e4-0000-4000-8000-000000000001",
        "duration_sec": 42,
        "from": "+13122010094",
        "to": "+13122123456",
        "reason": "customer_disconnect",
    },
}
