"""``appserver serve``: run the gateway."""

from __future__ import annotations

import os

import click

from appserver import event_loop, strings
from appserver.errors import RuntimeFailure
from appserver.config import (
    BackendConfig,
    ListenKind,
    ListenUrl,
    ServeConfig,
    parse_backend,
    parse_listen_urls,
)

LISTEN_HELP = (
    "Transport endpoint URL; may be repeated. Supported values: `stdio://` (default), "
    "`unix://`, `unix://PATH`, `ws://IP:PORT`, `wss://IP:PORT`, `off`."
)


# Every flag can also come from APPSERVER_<FLAG> (APPSERVER_LISTEN, APPSERVER_WS_AUTH, ...;
# repeatable flags split on whitespace); a flag on the command line wins.
@click.command(context_settings={"auto_envvar_prefix": "APPSERVER"})
@click.option("--listen", "listens", multiple=True, metavar="URL", envvar="APPSERVER_LISTEN", help=LISTEN_HELP)
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
    "-c",
    "overrides",
    multiple=True,
    metavar="key=value",
    allow_from_autoenv=False,  # values may hold spaces; environment lists split on them
    help="Config override passed to the codex child.",
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
    "--ws-max-clock-skew-seconds",
    type=click.IntRange(min=0),
    metavar="N",
    help="Clock skew allowed for exp/nbf [default: 30].",
)
@click.option("--tls-cert", metavar="PATH", help="PEM certificate chain for wss:// listeners.")
@click.option("--tls-key", metavar="PATH", help="PEM private key for wss:// listeners.")
@click.option(
    "--remote-control",
    "remote_control",
    metavar="URL",
    help="Enable remote control for this run: enroll with the relay whose base URL is URL "
    "(https://…, or http:// to localhost) and serve its paired controllers.",
)
@click.option(
    "--remote-control-token-file",
    "remote_control_token_file",
    metavar="PATH",
    help="The relay account credential (default: ChatGPT login in $CODEX_HOME/auth.json).",
)
def serve(
    listens: tuple[str, ...],
    backend: str,
    codex_bin: str | None,
    overrides: tuple[str, ...],
    remote_control: str | None,
    remote_control_token_file: str | None,
    ws_auth: str | None,
    ws_token_file: str | None,
    ws_token_sha256: str | None,
    ws_shared_secret_file: str | None,
    ws_issuer: str | None,
    ws_audience: str | None,
    ws_max_clock_skew_seconds: int | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> int:
    """Run the gateway (stdio by default)."""
    from appserver.remote_control.setup import check_flags, persisted_enable
    from appserver.auth_config import AuthArgs
    from appserver.server import serve as run_serve
    from appserver.startup import websocket_security

    choice, socket = parse_backend(backend)
    rc_config = check_flags(remote_control, remote_control_token_file, os.environ, overrides)
    if listens == ("off",):
        # `--listen off`: remote control is the only transport (codex: a durable enable
        # stored for the relay also counts).
        if remote_control is None and not persisted_enable(os.environ, overrides):
            raise RuntimeFailure(strings.NO_TRANSPORT)
        listen_urls: tuple[ListenUrl, ...] = ()
    else:
        listen_urls = tuple(parse_listen_urls(listens))
    auth_args = AuthArgs(
        mode=ws_auth,
        token_file=ws_token_file,
        token_sha256=ws_token_sha256,
        shared_secret_file=ws_shared_secret_file,
        issuer=ws_issuer,
        audience=ws_audience,
        max_clock_skew_seconds=ws_max_clock_skew_seconds,
    )
    policy, tls_context = websocket_security(listen_urls, auth_args, tls_cert, tls_key)
    config = ServeConfig(
        listens=listen_urls,
        backend=BackendConfig(choice=choice, socket=socket, codex_bin=codex_bin, overrides=overrides),
        tls_context=tls_context,
        ws_auth=policy,
        remote_control=rc_config,
    )
    tls_listener = any(url.kind is ListenKind.WSS for url in listen_urls)
    return event_loop.run(run_serve, config, os.environ, env=os.environ, tls_listener=tls_listener)
