"""The public REST API, /api/v1/. Its schemas are its OpenAPI document (/api/v1/openapi.json)
and interactive reference (/api/v1/docs)."""

from ninja import NinjaAPI

from . import errors
from .auth import ApiKeyAuth
from .routers import agents, calls, campaigns, contacts, credits, donotcall

api = NinjaAPI(
    title="Clozit API",
    version="1",
    description="Agents, contacts, campaigns and calls of one workspace, by API key.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
)
errors.install(api)

api.add_router("/agents", agents.router)
api.add_router("/lists", contacts.router)
api.add_router("/do-not-call", donotcall.router)
api.add_router("/campaigns", campaigns.router)
api.add_router("/calls", calls.router)
api.add_router("/credits", credits.router)
