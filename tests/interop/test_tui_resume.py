"""The real ``codex --remote … resume <id>`` TUI against the built-in backend.

A thread is started and chatted in beforehand by a JSON-RPC client; the 0.169.0 TUI then
resumes it by id: it loads the thread's items (``thread/items/list``), shows the earlier
conversation, and can chat on in the same thread.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.interop.test_tcp_tui import TOKEN, _gateway, _prompt_and_echo, _tui, token_file  # noqa: F401
from tests.support.client import RpcClient

pytestmark = pytest.mark.interop


async def _chat_once(port: int, prompt: str) -> str:
    """Start a thread, run one turn with ``prompt``; return the thread id."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with RpcClient.connect_url(f"ws://127.0.0.1:{port}", headers=headers) as client:
        await client.initialize()
        thread_id = (await client.call("thread/start", {}))["thread"]["id"]
        await client.call("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]})
        await client.wait_for(lambda m: m.get("method") == "turn/completed")
        return thread_id


def test_tui_resumes_a_builtin_thread_and_chats_on(codex_bin: str, tmp_path: Path, token_file: Path) -> None:  # noqa: F811
    with _gateway(tmp_path, "ws://127.0.0.1:0", token_file, []) as (gateway, port):
        thread_id = anyio.run(_chat_once, port, "hello before resume")
        tui = _tui(codex_bin, tmp_path, f"ws://127.0.0.1:{port}")
        tui.argv = [*tui.argv, "resume", thread_id]
        with tui:
            tui.wait_for("the earlier echo reply", lambda s: "echo: hello before resume" in s)
            _prompt_and_echo(tui, "hello after resume")
            screen = tui.screen()
        assert "echo: hello before resume" in screen
        assert "failed to load" not in screen
