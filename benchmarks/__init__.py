"""Benchmarks for the gateway, measured side by side with the real codex app-server.

Run with ``scripts/bench [--quick] [--json PATH] [SCENARIO...]`` (see docs/performance.md).
Every scenario starts its own processes (pinned codex, the gateway as ``python -m appserver
serve``, a mock Responses API server, minimal reference servers) on loopback and temp
sockets, measures "ours" and a reference with the same client code, and reports ratios.
"""
