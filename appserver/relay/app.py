"""The relay's aiohttp application: host API, host WebSocket, controller API, probes, web
controller files. Every path not listed answers 404 ``{"detail":"Not Found"}`` (codex calls
several unrelated backend paths on the same base; spec/remote-control-observed.md §3.12).
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from appserver import limits, strings
from appserver.relay import controller_api, controller_socket, host_api, host_link
from appserver.relay.http import HttpError, errors_middleware
from appserver.relay.hub import RELAY_KEY, Relay

#: The web controller's static files (owned by the controller; the relay only mounts them).
WEB_ROOT = Path(__file__).resolve().parent.parent / "controller" / "web"

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>appserver relay</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>appserver relay</h1>
<p>This relay pairs controllers with appserver and codex hosts. The web controller is not
installed here; use <code>appserver remote pair</code> or see docs/relay.md.</p></body></html>
"""


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    if relay.closing:
        return web.Response(status=503, text="shutting down\n")
    try:
        await relay.store.ping()
    except Exception:
        return web.Response(status=503, text="state unavailable\n")
    return web.Response(text="ready\n")


async def metrics(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    return web.Response(body=relay.metrics.render(), headers={"Content-Type": relay.metrics.content_type})


def _static_file(root: Path, tail: str) -> Path | None:
    if not root.is_dir():
        return None
    relative = tail.strip("/") or "index.html"
    candidate = (root / relative).resolve()
    if root.resolve() not in candidate.parents:
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


def static_handler(root: Path):  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if request.method in ("GET", "HEAD"):
            found = _static_file(root, tail)
            if found is not None:
                kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
                return web.FileResponse(found, headers={"Content-Type": kind, "Cache-Control": "no-cache"})
            if not root.is_dir() and tail.strip("/") == "":
                return web.Response(text=PLACEHOLDER, content_type="text/html")
        raise HttpError(404, strings.RELAY_NOT_FOUND)

    return handle


@web.middleware
async def http_metrics_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "?"
    if route.startswith(host_api.PREFIX) or route.startswith("/api/"):
        request.app[RELAY_KEY].metrics.http_requests.labels(route, str(response.status)).inc()
    return response


async def background(app: web.Application) -> AsyncIterator[None]:
    """The relay's periodic work runs as long as the application does."""
    relay = app[RELAY_KEY]
    tasks = [asyncio.create_task(relay.run_background()), asyncio.create_task(relay.watch_store())]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def create_app(
    relay: Relay, *, web_root: Path = WEB_ROOT, more_routes: Callable[[web.Application], None] | None = None
) -> web.Application:
    """The relay's routes (``more_routes`` adds a cluster node's own, before the catch-all)."""
    app = web.Application(
        middlewares=[http_metrics_middleware, errors_middleware],
        client_max_size=limits.RELAY_MAX_BODY_BYTES,
    )
    app[RELAY_KEY] = relay
    app.cleanup_ctx.append(background)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    host_api.add_routes(app)
    controller_api.add_routes(app)
    controller_socket.add_routes(app)
    host_link.add_routes(app)
    if more_routes is not None:
        more_routes(app)
    app.router.add_route("*", "/{tail:.*}", static_handler(web_root))
    return app

