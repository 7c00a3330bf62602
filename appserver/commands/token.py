"""``appserver token``: capability tokens, shared secrets and signed bearer tokens."""

from __future__ import annotations

import click


@click.group()
def token() -> None:
    """Create capability tokens, HS256 secrets and signed tokens."""
