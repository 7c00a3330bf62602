"""``appserver proxy``: bridge a stdio client onto a control socket or TCP gateway.

* :mod:`.framing` — sans-I/O: mode sniffing, JSONL line splitting, owed-answer tracking,
  bearer-header injection into a raw HTTP upgrade;
* :mod:`.jsonl` — JSONL lines <-> WebSocket text frames;
* :mod:`.raw` — raw byte relay (upstream ``codex app-server proxy`` behaviour);
* :mod:`.run` — picks the mode, connects, runs, and maps the outcome to an exit status.

stdin and stdout are :mod:`appserver.stdio_streams`, as for the stdio transport.
"""
