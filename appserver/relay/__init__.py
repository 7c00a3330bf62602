"""``appserver relay``: the self-hosted remote-control relay (docs/relay.md).

Hosts (the stock codex or ``appserver serve --remote-control``) enroll and keep one
WebSocket each; controllers pair by code and speak plain JSON-RPC on their own WebSockets;
the relay maps every controller socket to a ``(client_id, stream_id)`` stream on the host link.
"""
