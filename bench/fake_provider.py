#!/usr/bin/env python3
"""The fake OpenAI-compatible provider of `make bench-chat`: POST …/chat/completions answers a
plain-text chat.completion (tests/lib/fakellm.py's `completion()`, the wire format tests/chat checks
with the openai SDK) after --delay seconds, on HTTP/1.1 keep-alive connections.

tests/lib/fakellm.py is a scripted ThreadingHTTPServer (a thread per connection, a lock per
request): right for the tests, but 500 held answers would be 500 threads, and its per-request cost
would cap the instant mode's rate below what the servers under test reach. This one is a single
asyncio protocol (uvloop when importable: the bench venv has it), so holding 500 answers costs a
timer each and the instant mode costs the measured servers as little CPU as possible.

    fake_provider.py --port N [--delay SECONDS]

GET /stats answers {"held": answers waiting out their delay, "served": answers sent,
"requests": requests read, "connections": connections accepted}; GET /last answers the last request body as received (the bench checks
with it that Bollard and the peer asked the model the same thing). Anything else is a 404.
"""
import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "lib"))
from fakellm import completion  # noqa: E402

ANSWER = "Done: your list has 1,000 tasks; the newest is task 1000."


class Stats:
    held = 0
    served = 0
    requests = 0
    connections = 0  # accepted: with keep-alive working, far fewer than requests
    last = b"null"


def response(status, body, ctype="application/json"):
    head = (f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            "x-ratelimit-remaining-requests: 99\r\n\r\n")
    return head.encode() + body


class Provider(asyncio.Protocol):
    def __init__(self, delay):
        self.delay = delay
        self.buf = b""
        self.transport = None
        self.timers = set()

    def connection_made(self, transport):
        self.transport = transport
        Stats.connections += 1

    def connection_lost(self, exc):
        for t in self.timers:  # a client that went away: its held answers are dropped
            t.cancel()
            Stats.held -= 1
        self.timers.clear()

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            method, path = head[0].split(" ")[:2]
            self.request(method, path, body)

    def request(self, method, path, body):
        if method == "POST" and path.endswith("/chat/completions"):
            Stats.requests += 1
            Stats.last = body
            if self.delay > 0:
                Stats.held += 1
                loop = asyncio.get_running_loop()
                handle = None

                def answer():
                    self.timers.discard(handle)
                    Stats.held -= 1
                    self.send_completion()
                handle = loop.call_later(self.delay, answer)
                self.timers.add(handle)
            else:
                self.send_completion()
        elif method == "GET" and path == "/stats":
            self.transport.write(response("200 OK", json.dumps(
                {"held": Stats.held, "served": Stats.served, "requests": Stats.requests,
                 "connections": Stats.connections}).encode()))
        elif method == "GET" and path == "/last":
            self.transport.write(response("200 OK", Stats.last or b"null"))
        else:
            self.transport.write(response("404 Not Found", b'{"error":{"message":"not found"}}'))

    def send_completion(self):
        if self.transport.is_closing():
            return
        Stats.served += 1
        self.transport.write(response("200 OK", json.dumps(completion(content=ANSWER)).encode()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def serve():
        server = await asyncio.get_running_loop().create_server(lambda: Provider(args.delay), "127.0.0.1",
                                                                args.port, backlog=4096)
        async with server:
            await server.serve_forever()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
