"""The guard policy's ``rewrite`` action in the gateway: the constitution loop, per model route.

One guard pipeline serves every route, but a revision must be written by the route's own model.
:class:`RouteRewriter` picks the route from ``ctx.detection.extra["route"]`` (set by the request
path) and falls back to the persona id (server-side sessions, whose guard context the engine
builds). No route found → :class:`NoRewriterError`, and the pipeline blocks (fails closed).
"""

from __future__ import annotations

from poise.errors import PoiseError
from poise.guard.pipeline import GuardVerdict, Rewriter
from poise.guard.rails import GuardContext

ROUTE_KEY = "route"


class NoRewriterError(PoiseError):
    """No constitution loop is configured for the route that produced the draft."""


class RouteRewriter:
    """Dispatches ``rewrite`` to the rewriter of the route that produced the draft."""

    def __init__(self, by_route: dict[str, Rewriter], persona_routes: dict[str, str]) -> None:
        self.by_route = by_route
        self.persona_routes = persona_routes

    async def rewrite(self, text: str, verdict: GuardVerdict, ctx: GuardContext) -> str:
        route = ctx.detection.extra.get(ROUTE_KEY)
        if route is None and ctx.persona is not None:
            route = self.persona_routes.get(ctx.persona.id)
        rewriter = self.by_route.get(route or "")
        if rewriter is None:
            raise NoRewriterError(f"no constitution loop for route {route!r}")
        return await rewriter.rewrite(text, verdict, ctx)
