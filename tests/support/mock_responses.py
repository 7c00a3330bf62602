#!/usr/bin/env python3
"""Mock OpenAI Responses API server for driving a real `codex` (0.169.0) model turn offline.

Written while observing codex 0.169.0 against a local model provider;
:func:`mock_provider_config` gives the codex config.toml that uses it.

Stdlib only. Answers `POST /v1/responses` (also `POST /responses`) with an SSE stream:

    response.created
    response.output_item.added      (assistant message, empty content)
    response.content_part.added
    response.output_text.delta  x N (the reply text split into chunks)
    response.output_text.done
    response.content_part.done
    response.output_item.done       (full assistant message)
    response.completed              (with usage)

Any other request (e.g. `GET /v1/models`) is logged and answered with 404 JSON, unless it is
`GET /v1/models`, which gets `{"object":"list","data":[],"models":[]}`.

Usage:
    python3 mock_responses.py [--port 0] [--host 127.0.0.1] [--reply "Hello from mock"]
                              [--chunks 4] [--delay 0.05] [--log requests.jsonl]
    # prints "MOCK_RESPONSES_LISTENING http://127.0.0.1:PORT/v1" on stderr once ready

Codex config (server's $CODEX_HOME/config.toml) that works with codex 0.169.0:

    model = "mock-model"
    model_provider = "mock"

    [model_providers.mock]
    name = "Mock"
    base_url = "http://127.0.0.1:PORT/v1"
    wire_api = "responses"
    env_key = "MOCK_API_KEY"        # optional; if set, that env var must be non-empty for the server
    request_max_retries = 0
    stream_max_retries = 0

In-process use from tests:

    from mock_responses import start_mock
    server, base_url = start_mock(reply="hi")   # background thread, port auto-assigned
    ...
    server.shutdown()

`server.requests` holds a list of dicts {method, path, headers, body(json or text)} seen so far.
Requests with `text.format.type == "json_schema"` (the TUI's background thread-title
generation) get a JSON object with every required property set to "Mock title".
The reply text can also be chosen per request: if the last user input text contains
"MOCK_REPLY:<text>", <text> is streamed back instead of the default reply.
"""
import argparse
import itertools
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _last_user_text(body) -> str:
    try:
        for item in reversed(body.get("input") or []):
            if item.get("type") == "message" and item.get("role") == "user":
                parts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
                return "\n".join(parts)
    except Exception:
        pass
    return ""


def build_events(reply: str, chunks: int, model: str = "mock-model"):
    """Return the list of Responses SSE events for one assistant text reply."""
    resp_id = "resp_" + uuid.uuid4().hex
    msg_id = "msg_" + uuid.uuid4().hex
    n = max(1, chunks)
    step = max(1, -(-len(reply) // n)) if reply else 1
    pieces = [reply[i:i + step] for i in range(0, len(reply), step)] or [""]
    base_resp = {"id": resp_id, "object": "response", "created_at": int(time.time()),
                 "status": "in_progress", "model": model, "output": []}
    seq = itertools.count()  # any number of events (a 20,000-delta stream needs > 10,000)
    ev = [{"type": "response.created", "sequence_number": next(seq), "response": base_resp}]
    ev.append({"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0,
               "item": {"id": msg_id, "type": "message", "status": "in_progress",
                        "role": "assistant", "content": []}})
    ev.append({"type": "response.content_part.added", "sequence_number": next(seq), "item_id": msg_id,
               "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": "", "annotations": []}})
    for p in pieces:
        ev.append({"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": msg_id,
                   "output_index": 0, "content_index": 0, "delta": p})
    ev.append({"type": "response.output_text.done", "sequence_number": next(seq), "item_id": msg_id,
               "output_index": 0, "content_index": 0, "text": reply})
    done_part = {"type": "output_text", "text": reply, "annotations": []}
    ev.append({"type": "response.content_part.done", "sequence_number": next(seq), "item_id": msg_id,
               "output_index": 0, "content_index": 0, "part": done_part})
    item = {"id": msg_id, "type": "message", "status": "completed", "role": "assistant",
            "content": [done_part]}
    ev.append({"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0,
               "item": item})
    usage = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": max(1, len(reply.split())), "output_tokens_details": {"reasoning_tokens": 0}}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    ev.append({"type": "response.completed", "sequence_number": next(seq),
               "response": {**base_resp, "status": "completed", "output": [item], "usage": usage}})
    return ev


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet default access log
        pass

    def _record(self, body):
        rec = {"ts": time.time(), "method": self.command, "path": self.path,
               "headers": dict(self.headers.items()), "body": body}
        self.server.requests.append(rec)
        if self.server.log_path:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding", "").lower() == "zstd":
            return {"_note": "zstd-compressed body not decoded", "len": len(raw)}
        try:
            return json.loads(raw) if raw else None
        except Exception:
            return raw.decode(errors="replace")

    def _json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._record(None)
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            return self._json(200, {"object": "list", "data": [], "models": []})
        self._json(404, {"error": {"message": f"mock: no route {self.path}", "type": "not_found"}})

    def do_POST(self):
        body = self._read_body()
        self._record(body)
        if not self.path.split("?")[0].rstrip("/").endswith("/responses"):
            return self._json(404, {"error": {"message": f"mock: no route {self.path}", "type": "not_found"}})
        reply = self.server.reply
        m = re.search(r"MOCK_REPLY:(.*)", _last_user_text(body) if isinstance(body, dict) else "")
        if isinstance(body, dict) and ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
            # Structured-output request (e.g. the TUI's thread-title generation): answer with a
            # minimal object filling every required string property.
            schema = body["text"]["format"].get("schema") or {}
            reply = json.dumps({k: self.server.structured_value for k in schema.get("required", [])})
        elif m:
            reply = m.group(1).strip()
        model = body.get("model", "mock-model") if isinstance(body, dict) else "mock-model"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for e in build_events(reply, self.server.chunks, model):
                self.wfile.write(_sse(e))
                self.wfile.flush()
                if self.server.delay:
                    time.sleep(self.server.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def start_mock(host="127.0.0.1", port=0, reply="Hello from the mock model.", chunks=4, delay=0.05,
               log_path=None):
    """Start in a daemon thread; return (server, base_url) where base_url ends with /v1."""
    srv = ThreadingHTTPServer((host, port), _Handler)
    srv.daemon_threads = True
    srv.requests, srv.reply, srv.chunks, srv.delay, srv.log_path = [], reply, chunks, delay, log_path
    srv.structured_value = "Mock title"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://{host}:{srv.server_address[1]}/v1"


def mock_provider_config(base_url: str) -> str:
    """A codex ``config.toml`` that sends model requests to the mock at ``base_url``.

    The server's environment must set ``MOCK_API_KEY`` (any non-empty value).
    """
    return (
        'model = "mock-model"\n'
        'model_provider = "mock"\n'
        "[model_providers.mock]\n"
        'name = "Mock"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        'env_key = "MOCK_API_KEY"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default="Hello from the mock model.")
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--log", default=None, help="append each request as a JSON line here")
    a = ap.parse_args()
    srv, url = start_mock(a.host, a.port, a.reply, a.chunks, a.delay, a.log)
    print(f"MOCK_RESPONSES_LISTENING {url}", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.shutdown()


if __name__ == "__main__":
    sys.exit(main())
