"""A scripted OpenAI-compatible model server: plays given chat-completion turns, as a hijacked model would.

`scripted_model(script)` serves POST /v1/chat/completions on a free port in a
thread of the test process. Each request gets the next turn of the script (the
last turn repeats, so a script ending in a tool call is an endless loop). A
turn is `call(name, **arguments)` (one or more tool calls), `say(text)` (a final
answer), or a function of the request body returning one. A `say` text may
quote what the model saw, as an attacker dumping its context would:
`{system}` (the system prompt), `{tools}` (every tool result it was sent),
`{everything}` (all messages). Every request body is recorded in `received`,
so tests can check what reached the model server. Usage is reported as a
token per four characters of the request, so budgets count as with a real
server.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Turn = dict[str, Any]
Script = Sequence["Turn | Callable[[dict[str, Any]], Turn]"]


def call(name: str, **arguments: Any) -> Turn:
    return {"tool_calls": [(name, arguments)]}


def calls(*pairs: tuple[str, dict[str, Any]]) -> Turn:
    return {"tool_calls": list(pairs)}


def say(text: str) -> Turn:
    return {"content": text}


@dataclass
class ScriptedModel:
    """The running server: its URL for ATLAS_AGENT_BASE_URL, and what it received."""

    url: str
    script: list[Any]
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    position: int = 0

    def play(self, script: Script, *, delay_s: float = 0.0) -> ScriptedModel:
        """Start a new script (what was received is forgotten)."""
        with self.lock:
            self.script, self.position, self.delay_s = list(script), 0, delay_s
            self.received.clear()
            self.authorizations.clear()
        return self

    def next_turn(self, request: dict[str, Any]) -> Turn:
        with self.lock:
            self.received.append(request)
            turn = self.script[min(self.position, len(self.script) - 1)]
            self.position += 1
        return turn(request) if callable(turn) else turn

    def everything_received(self) -> str:
        """Every request body as one text (to search for what must never reach the model server)."""
        with self.lock:
            return json.dumps(self.received)


def _fill(text: str, request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    system = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "system")
    tools = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "tool")
    return (text.replace("{system}", system).replace("{tools}", tools)
            .replace("{everything}", json.dumps(messages)))


def completion(turn: Turn, request: dict[str, Any], *, number: int) -> dict[str, Any]:
    """The chat.completion body for one turn."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if turn.get("tool_calls"):
        message["tool_calls"] = [
            {"id": f"call_{number}_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(turn["tool_calls"])]
        finish = "tool_calls"
    else:
        message["content"] = _fill(str(turn.get("content", "")), request)
        finish = "stop"
    prompt_tokens = max(1, len(json.dumps(request.get("messages") or [])) // 4)
    completion_tokens = max(1, len(json.dumps(message)) // 4)
    return {"id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


@contextmanager
def scripted_model(script: Script, *, delay_s: float = 0.0) -> Iterator[ScriptedModel]:
    """Serve `script` until the block ends; yields the server (its `url` ends in /v1)."""
    model = ScriptedModel(url="", script=list(script), delay_s=delay_s)
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            model.authorizations.append(self.headers.get("Authorization") or "")
            turn = model.next_turn(request)
            if model.delay_s:
                time.sleep(model.delay_s)
            with model.lock:
                served[0] += 1
                number = served[0]
            if turn.get("status"):
                self._send(int(turn["status"]), {"error": {"message": turn.get("content", "failed"), "type": "x"}})
                return
            self._send(200, completion(turn, request, number=number))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, name="scripted-model", daemon=True)
    thread.start()
    try:
        yield model
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
