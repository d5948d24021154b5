"""Settings for the gunicorn that bench/turn_webhook.py starts: the production settings (every
value from the environment, which the benchmark sets), plus bench/urls.py for a trivial view."""

from clozit.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# gunicorn answers plain HTTP on 127.0.0.1 here; production's HTTPS redirect would turn every request away.
SECURE_SSL_REDIRECT = False
