"""The real codex 0.169.0 TUI as a controller.

* Against a gateway directly (built-in backend): the ``!run`` approval request is shown as
  codex's own approval prompt; ``y`` approves and ``d`` declines, and the agent's reply says
  which. (In the TUI a message that starts with ``!`` is a local shell command, so the
  message is sent as `` !run CMD`` with a leading space; the agent strips it.)
* Through the relay: see test_remote_live.py.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.support.launcher import APPSERVER, appserver_env, launch
from tests.support.tui import TmuxTui

pytestmark = [pytest.mark.interop, pytest.mark.anyio]

COMPOSER = "Ask Codex to do anything"
PROMPT = "Would you like to run the following command?"


def _tui(codex_bin: str, tmp_path: Path, url: str) -> TmuxTui:
    home, workdir = tmp_path / "tui-home", tmp_path / "wd"
    home.mkdir()
    workdir.mkdir()
    return TmuxTui([codex_bin, "--remote", url], cwd=workdir, env=appserver_env(home),
                   stderr_file=tmp_path / "tui.stderr")  # fmt: skip


def _chat(tui: TmuxTui, text: str) -> None:
    tui.type(text)
    tui.wait_for(f"the typed {text!r}", lambda s: text.strip() in s)
    tui.enter()


def _approve_then_decline(tui: TmuxTui) -> str:
    _chat(tui, " !run ls -la")
    tui.wait_for("the approval prompt", lambda s: PROMPT in s and "$ ls -la" in s)
    tui.type("y")
    tui.wait_for("the approved reply", lambda s: "approved: ls -la" in s)
    _chat(tui, " !run make deploy")
    tui.wait_for("the second approval prompt", lambda s: PROMPT in s and "$ make deploy" in s)
    tui.type("d")
    return tui.wait_for("the declined reply", lambda s: "declined: make deploy" in s)


async def test_codex_tui_answers_builtin_approvals(codex_bin: str, tmp_path: Path) -> None:
    home = tmp_path / "gateway-home"
    home.mkdir()
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=appserver_env(home)) as gateway:
        url = (await gateway.line_matching(r"listening on: (ws://\S+)")).group(1)
        tui = _tui(codex_bin, tmp_path, url)

        def drive() -> str:
            with tui:
                tui.wait_for("the composer", lambda s: COMPOSER in s)
                return _approve_then_decline(tui)

        screen = await anyio.to_thread.run_sync(drive)
    assert "You approved codex to run ls -la" in screen
    assert "You did not approve codex to run make deploy" in screen
