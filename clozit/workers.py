"""gunicorn's worker class for Clozit: uvicorn serving clozit.asgi (HTTP and the relay sockets).

    gunicorn clozit.asgi:application -k clozit.workers.UvicornWorker

The sans-I/O websockets implementation is uvicorn's current one (the older is deprecated), and
the lifespan protocol is answered by clozit.asgi.
"""

from uvicorn_worker import UvicornWorker as BaseWorker


class UvicornWorker(BaseWorker):
    CONFIG_KWARGS = {"ws": "websockets-sansio", "lifespan": "on"}
