class PolicyError(Exception):
    """A policy version that cannot be published or accepted as asked; the message says why, in
    words staff (or the person) can act on."""
