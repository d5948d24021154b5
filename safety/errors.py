class SafetyError(Exception):
    """A request the trust-and-safety rules refuse; the message is written for the person who made it."""
