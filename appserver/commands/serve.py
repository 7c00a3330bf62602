"""``appserver serve``: run the gateway."""

from __future__ import annotations

import os

import anyio
import click

from appserver.config import (
    BackendConfig,
    ConfigError,
    ServeConfig,
    parse_backend,
    parse_listen_urls,
)

LISTEN_HELP = (
    "Transport endpoint URL; may be repeated. Supported values: `stdio://` (default), "
    "`unix://`, `unix://PATH`, `ws://IP:PORT`, `wss://IP:PORT`, `off`."
)
WS_FLAGS = (
    "ws_auth",
    "ws_token_file",
    "ws_token_sha256",
    "ws_shared_secret_file",
    "ws_issuer",
    "ws_audience",
    "ws_max_clock_skew_seconds",
    "tls_cert",
    "tls_key",
)


@click.command()
@click.option("--listen", "listens", multiple=True, metavar="URL", help=LISTEN_HELP)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    metavar="auto|builtin|codex|unix://PATH",
    help="Where app-server semantics come from: the real codex when found (auto), the "
    "built-in offline backend, a managed codex child, or an existing control socket.",
)
@click.option("--codex-bin", metavar="PATH", help="The codex executable (default: `codex` on PATH).")
@click.option(
    "-c", "overrides", multiple=True, metavar="key=value", help="Config override passed to the codex child."
)
@click.option(
    "--ws-auth",
    type=click.Choice(["capability-token", "signed-bearer-token"]),
    help="WebSocket auth mode for ws:// and wss:// listeners.",
)
@click.option("--ws-token-file", metavar="ABS_PATH", help="Absolute path to the capability-token file.")
@click.option("--ws-token-sha256", metavar="HEX", help="Hex SHA-256 digest of the capability token.")
@click.option("--ws-shared-secret-file", metavar="ABS_PATH", help="Absolute path to the HS256 shared secret.")
@click.option("--ws-issuer", metavar="S", help="Required `iss` claim of signed bearer tokens.")
@click.option("--ws-audience", metavar="S", help="Required `aud` claim of signed bearer tokens.")
@click.option(
    "--ws-max-clock-skew-seconds", type=int, metavar="N", help="Clock skew allowed for exp/nbf [default: 30]."
)
@click.option("--tls-cert", metavar="PATH", help="PEM certificate chain for wss:// listeners.")
@click.option("--tls-key", metavar="PATH", help="PEM private key for wss:// listeners.")
def serve(
    listens: tuple[str, ...], backend: str, codex_bin: str | None, overrides: tuple[str, ...], **ws: object
) -> int:
    """Run the gateway (stdio by default)."""
    from appserver.server import check_listeners, serve as run_serve

    choice, socket = parse_backend(backend)
    if any(ws[name] is not None for name in WS_FLAGS):
        raise ConfigError("websocket auth and TLS flags are not supported yet")
    config = ServeConfig(
        listens=tuple(parse_listen_urls(listens)),
        backend=BackendConfig(choice=choice, socket=socket, codex_bin=codex_bin, overrides=overrides),
    )
    check_listeners(config)
    return anyio.run(run_serve, config, os.environ)
