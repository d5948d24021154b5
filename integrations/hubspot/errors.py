class HubSpotIntegrationError(Exception):
    """Something about the HubSpot integration a person can act on; the message says what."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
