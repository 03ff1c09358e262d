"""A scripted fake OpenAI-compatible Chat Completions provider on loopback.

Each POST /v1/chat/completions takes the next scripted step and answers with the real wire formats
of Groq, OpenRouter and llama.cpp's server: a JSON completion, an SSE stream (`data:` chunks with
tool-call deltas split across chunks, `:` keep-alive comments, `data: [DONE]`, an `error` object
inside a 200 stream), an error status with headers (429 + retry-after + x-ratelimit-*), a truncated
body, or a slow answer. Every request is recorded (headers and parsed body) for the tests to assert
what Bollard sent.
"""
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content=None, tool_calls=None, finish=None, model="fake-model"):
    """A non-streaming chat.completion object; tool_calls: [(name, arguments_text)]."""
    msg = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                              "function": {"name": n, "arguments": a}} for n, a in tool_calls]
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "logprobs": None,
                     "finish_reason": finish or ("tool_calls" if tool_calls else "stop")}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "x_groq": {"id": "req_" + uuid.uuid4().hex},
    }


def stream_chunks(content_parts=(), tool_calls=(), repeat_ids=False, model="fake-model"):
    """chat.completion.chunk objects: text deltas, then each tool call split into an id/name chunk
    and argument fragments (llama.cpp's variant repeats id and name in every chunk)."""
    base = {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    out = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None}])]
    for part in content_parts:
        out.append(dict(base, choices=[{"index": 0, "delta": {"content": part}, "finish_reason": None}]))
    for i, (name, args) in enumerate(tool_calls):
        cid = f"call_{uuid.uuid4().hex[:12]}"
        first = {"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append(dict(base, choices=[{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}]))
        for k in range(0, len(args), 7):
            frag = {"index": i, "function": {"arguments": args[k:k + 7]}}
            if repeat_ids:
                frag.update({"id": cid, "type": "function"})
                frag["function"]["name"] = name
            out.append(dict(base, choices=[{"index": 0, "delta": {"tool_calls": [frag]},
                                            "finish_reason": None}]))
    out.append(dict(base, choices=[{"index": 0, "delta": {},
                                    "finish_reason": "tool_calls" if tool_calls else "stop"}]))
    return out


class Step:
    """One scripted answer."""

    def __init__(self, kind="json", body=None, status=200, headers=None, delay=0.0, chunks=None,
                 comments=False, error_in_stream=None, truncate=False, chunk_delay=0.0):
        self.kind, self.body, self.status, self.headers = kind, body, status, headers or {}
        self.chunk_delay = chunk_delay  # seconds between SSE chunks (a slow stream)
        self.delay, self.chunks, self.comments = delay, chunks, comments
        self.error_in_stream, self.truncate = error_in_stream, truncate


def reply(content):
    return Step(body=completion(content=content))


def tool(name, arguments):
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Step(body=completion(tool_calls=[(name, args)]))


class FakeProvider:
    def __init__(self):
        self.steps = []
        self.requests = []  # [{"headers": {...}, "body": {...}, "raw": bytes, "path": str}]
        self.lock = threading.Lock()
        self.disconnected = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "raw": raw})
                    step = fake.steps.pop(0) if fake.steps else reply("(no more scripted answers)")
                fake._answer(self, step)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *steps):
        with self.lock:
            self.steps = list(steps)
            self.requests = []

    def _answer(self, h, step):
        if step.delay:
            # A slow answer that notices a client going away (the socket becomes readable at EOF).
            deadline = time.monotonic() + step.delay
            h.connection.settimeout(0.05)
            while time.monotonic() < deadline:
                try:
                    if h.connection.recv(1, 0x2) == b"":  # MSG_PEEK
                        self.disconnected.set()
                        return
                except (TimeoutError, OSError):
                    pass
            h.connection.settimeout(None)
        if step.kind == "json":
            data = json.dumps(step.body).encode()
            h.send_response(step.status)
            h.send_header("content-type", "application/json")
            h.send_header("x-ratelimit-remaining-requests", "99")
            for k, v in step.headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2] if step.truncate else data)
            h.wfile.flush()
            if step.truncate:
                h.close_connection = True
            return
        # SSE
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        h.end_headers()
        h.close_connection = True
        try:
            if step.comments:
                h.wfile.write(b": OPENROUTER PROCESSING\n\n")
            for chunk in step.chunks or []:
                h.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                h.wfile.flush()
                if step.chunk_delay:
                    time.sleep(step.chunk_delay)
                if step.comments:
                    h.wfile.write(b": OPENROUTER PROCESSING\n\n")
            if step.truncate:
                return  # cut off: neither a finish_reason nor [DONE]
            if step.error_in_stream is not None:
                h.wfile.write(b"data: " + json.dumps({"error": step.error_in_stream}).encode() + b"\n\n")
            else:
                h.wfile.write(b"data: [DONE]\n\n")
            h.wfile.flush()
        except OSError:
            self.disconnected.set()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
