"""The ASGI entry point: ConversationRelay sockets to the relay, everything else to Django.

Django's ASGIHandler serves HTTP only, so WebSocket scopes (carriers' relay sockets and the
playground's Talk mode) are routed here, before it; a plain router is all that is needed (no
Channels). Served by gunicorn with uvicorn workers
(`uvicorn_worker.UvicornWorker`; see docs/operations.md). Sync views run in asgiref's thread pool:
ASGI_THREADS sets its size (a Gather-path turn may wait seconds for a model in one of them).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozit.settings")

from django.conf import settings  # noqa: E402 - after the settings module is named
from django.core.asgi import get_asgi_application  # noqa: E402 - after the settings module is named

if getattr(settings, "DB_POOL", None):
    # This process serves requests, each on a thread of its own: their connections come from a
    # pool (DB_POOL_SIZE, clozit/settings.py), set before the first connection is made.
    settings.DATABASES["default"].setdefault("OPTIONS", {})["pool"] = settings.DB_POOL

django_application = get_asgi_application()  # sets Django up before the apps' modules are imported

from campaigns.agents.playground_talk import TALK_PATH, playground_talk_app  # noqa: E402 - needs Django set up
from campaigns.calls.relay import relay_session_open  # noqa: E402 - needs Django set up
from telephony.relay import RelayApp, carrier_signed  # noqa: E402 - needs Django set up

# The carriers' relay sockets: the transport (telephony) with the call's conversation (campaigns)
# behind it, put together here, above both.
relay_app = RelayApp(open_session=relay_session_open, verify=carrier_signed)


async def lifespan(receive, send) -> None:
    """Startup and shutdown need nothing: database and Redis connections are opened on use."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        if TALK_PATH.match(scope.get("path", "")):
            await playground_talk_app(scope, receive, send)  # the playground's Talk mode
        else:
            await relay_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await django_application(scope, receive, send)
