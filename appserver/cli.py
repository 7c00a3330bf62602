"""The ``appserver`` command line: thin. Flags become config objects; modules do the work.

Every failure prints one line to stderr (``Error: …``) with no traceback: exit status 2
for usage and configuration errors (click's convention), 1 for runtime failures.
"""

from __future__ import annotations

import sys

import click

from appserver import CODEX_PROTOCOL_VERSION, __version__
from appserver import strings
from appserver.commands.call import call
from appserver.commands.devices import devices
from appserver.commands.pair import pair
from appserver.commands.proxy import proxy
from appserver.commands.relay import relay
from appserver.commands.remote import remote
from appserver.commands.serve import serve
from appserver.commands.token import token
from appserver.errors import ConfigError, RuntimeFailure
from appserver.log import emit, set_level, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    prog_name="appserver",
    message=strings.VERSION_LINE.format(version=__version__, codex=CODEX_PROTOCOL_VERSION),
)
@click.option(
    "--log-level",
    envvar="LOG_LEVEL",
    default="INFO",
    show_default=True,
    metavar="LEVEL",
    help="DEBUG, INFO, WARNING, ERROR or CRITICAL (also LOG_LEVEL; LOG_FORMAT=json for JSON lines).",
)
def cli(log_level: str) -> None:
    """A gateway for the Codex app-server protocol."""
    set_level(log_level)


cli.add_command(serve)
cli.add_command(proxy)
cli.add_command(call)
cli.add_command(token)
cli.add_command(relay)
cli.add_command(pair)
cli.add_command(devices)
cli.add_command(remote)


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    try:
        status = cli.main(args=argv, prog_name="appserver", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        emit([f"Error: {exc.format_message()}"], level="error")
        sys.exit(exc.exit_code)
    except (ConfigError, RuntimeFailure, BaseExceptionGroup) as exc:
        failure = _one_failure(exc)
        if failure is None:
            raise
        emit([f"Error: {failure}"], level="error")
        sys.exit(2 if isinstance(failure, ConfigError) else 1)
    except (click.Abort, KeyboardInterrupt):
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)


def _one_failure(exc: BaseException) -> ConfigError | RuntimeFailure | None:
    """The one-line failure inside ``exc``; task groups wrap what their tasks raise."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, (ConfigError, RuntimeFailure)) else None
