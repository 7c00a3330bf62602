"""Controllers: ``appserver remote`` (the CLI controller) and the web controller's files.

A controller claims a pairing code at a relay (``links``, ``claim``), keeps the device
credential it gets (``credentials``), and speaks plain JSON-RPC to the paired host over the
relay's controller WebSocket, resuming its stream after a dropped socket (``streams`` is the
sans-I/O bookkeeping, ``bridge`` the I/O). The relay API is in docs/relay.md; the files of
the web controller are in ``web/`` and are served by the relay at its root.
"""
