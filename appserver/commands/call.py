"""``appserver call``: one request, for scripts and operators (docs/call.md).

Prints the result as one JSON line on stdout (exit 0) or the error object on stderr
(exit 1). ``PARAMS_JSON`` that is not JSON is a usage error (exit 2).
"""

from __future__ import annotations

import json
import sys

import anyio
import click

from appserver import strings
from appserver.commands.target_options import target_from_flags, target_options
from appserver.errors import ConfigError, RuntimeFailure


@click.command()
@target_options
@click.option("--notifications", is_flag=True, help="Print notifications that arrive meanwhile as JSON lines on stderr.")
@click.option(
    "--wait-for",
    metavar="METHOD",
    help="After a successful answer, also wait for this notification (e.g. thread/started).",
)
@click.argument("method")
@click.argument("params_json", metavar="[PARAMS_JSON]", required=False)
def call(
    sock: str | None,
    connect_url: str | None,
    auth_token_env: str | None,
    auth_token_file: str | None,
    ca_file: str | None,
    notifications: bool,
    wait_for: str | None,
    method: str,
    params_json: str | None,
) -> int:
    """Send one request (after initialize) and print its result."""
    from appserver.call import CallFailed, call_once
    from appserver.errors import ConnectFailed

    params = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise ConfigError(strings.CALL_BAD_PARAMS_JSON.format(err=exc)) from None
    target = target_from_flags(sock, connect_url, auth_token_env, ca_file, auth_token_file)

    def on_notification(text: str) -> None:
        if notifications:
            print(text, file=sys.stderr, flush=True)

    try:
        answer = anyio.run(
            lambda: call_once(
                target,
                method,
                params,
                has_params=params_json is not None,
                on_notification=on_notification,
                wait_for=wait_for,
            )
        )
    except (ConnectFailed, CallFailed) as exc:
        raise RuntimeFailure(str(exc)) from None
    if answer.ok:
        print(json.dumps(answer.payload, ensure_ascii=False, separators=(",", ":")), flush=True)
        return 0
    print(json.dumps(answer.payload, ensure_ascii=False, separators=(",", ":")), file=sys.stderr, flush=True)
    return 1
