"""The frames a ConversationRelay carrier accepts from us, and the check it makes of each: one
small module below both the relay socket (telephony/relay.py) and the simulated carrier that plays
the carrier's side (telephony/simulator_relay.py)."""

# What the carriers accept from us, field by field (Twilio's "Getting and sending WebSocket
# messages"; Telnyx's ConversationRelay channel has the same vocabulary). Anything else is the
# carrier's error 64107 ("invalid message") on a real call.
OUTGOING = {
    "text": {
        "required": {"token": str},
        "optional": {"last": bool, "lang": str, "interruptible": bool, "preemptible": bool},
    },
    "play": {"required": {"source": str}, "optional": {"loop": int, "preemptible": bool, "interruptible": bool}},
    "sendDigits": {"required": {"digits": str}, "optional": {}},
    "language": {"required": {}, "optional": {"ttsLanguage": str, "transcriptionLanguage": str}},
    "end": {"required": {}, "optional": {"handoffData": str}},
}


def outgoing_problem(frame) -> str | None:
    """Why a carrier would refuse this frame of ours, or None."""
    if not isinstance(frame, dict):
        return "a frame must be a JSON object"
    spec = OUTGOING.get(frame.get("type"))
    if spec is None:
        return f"unknown type: {frame.get('type')!r}"
    for name, kind in spec["required"].items():
        if not isinstance(frame.get(name), kind) or (kind is int and isinstance(frame.get(name), bool)):
            return f"{frame['type']}.{name} must be a {kind.__name__}"
    for name, value in frame.items():
        if name == "type" or name in spec["required"]:
            continue
        kind = spec["optional"].get(name)
        if kind is None:
            return f"{frame['type']} has no field {name!r}"
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{frame['type']}.{name} must be a {kind.__name__}"
    return None
