"""Recordings live at the carrier; we keep only their references. When a person's data is
purged, the audio must go too: one job per recording asks the carrier to delete it."""

import logging

from rq import Retry

from clozit.queueing import enqueue

from .providers.base import ProviderError
from .registry import get_provider

logger = logging.getLogger(__name__)

# A carrier outage must not leave audio behind: retry for about a day.
DELETE_RETRY = Retry(max=6, interval=[60, 300, 900, 3600, 6 * 3600, 12 * 3600])


def recordings_delete_at_carrier(recordings: list[tuple[str, str]]) -> None:
    """Queue the deletion of each (provider, recording id); sent when the transaction commits."""
    for provider, recording_id in recordings:
        if recording_id:
            enqueue("default", recording_delete, provider, recording_id, retry=DELETE_RETRY)


def recording_delete(provider: str, recording_id: str) -> None:
    """RQ job: delete one recording at its carrier. A retryable failure raises, so RQ retries."""
    try:
        get_provider(provider).delete_recording(recording_id)
    except ProviderError as exc:
        if exc.permanent:
            logger.error("carrier refused to delete recording %s (%s): %s", recording_id, provider, exc.message)
            return
        raise
