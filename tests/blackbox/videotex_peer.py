#!/usr/bin/python3
"""A small WebSocket videotex server for the Minitel gateway tests: the far
end of a directory entry (or of a ws:// default service).

    /usr/bin/python3 videotex_peer.py --port N [--frame text|binary]
        [--subprotocol NAME] [--page TEXT] [--max-connections N]

On each connection it sends its page (FF 0x0C, then --page, "PEER PAGE" by
default) as one frame, then answers every message it receives with
"<" + the bytes + ">" (the same frame type it sends), so a test sees its
input arrive. A message whose bytes contain "BYE" makes it close that
connection (close code 1000) after the answer.

Bytes travel as the gateway carries them: a text frame holds one character
per byte (U+0000-U+00FF), a binary frame the raw bytes. With --subprotocol,
a client that offers it gets it in the handshake answer.

It reports on stdout, one flushed line each, for the tests to read:
    LISTEN port
    OPEN n path=PATH subprotocol=NAME origin=ORIGIN
    RECV n text|binary HEX
    CLOSE n code=CODE
where n numbers the connections from 1. It serves --max-connections (64)
connections at a time at most (more are refused with HTTP 503), and exits
on SIGTERM.

Only the standard library and Debian's python3-websockets (10.x, the
asyncio API); run with /usr/bin/python3.
"""
import argparse
import asyncio
import http
import signal
import sys

import websockets

HOST = "127.0.0.1"


def to_text(data):
    """Bytes as the characters U+0000-U+00FF."""
    return bytes(data).decode("latin-1")


def from_message(message):
    """(kind, bytes) of a received message: text maps U+0000-U+00FF to bytes
    (higher code points dropped), binary is taken as it is."""
    if isinstance(message, str):
        return "text", bytes(ord(c) for c in message if ord(c) <= 0xFF)
    return "binary", bytes(message)


def report(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def serve(args):
    counter = 0
    active = set()

    def outgoing(data):
        return to_text(data) if args.frame == "text" else bytes(data)

    async def process_request(path, headers):
        if len(active) >= args.max_connections:
            return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"too many connections\n"
        return None

    async def handler(ws, path):
        nonlocal counter
        counter += 1
        n = counter
        active.add(n)
        report(f"OPEN {n} path={path} subprotocol={ws.subprotocol or ''} "
               f"origin={ws.request_headers.get('Origin', '')}")
        try:
            await ws.send(outgoing(b"\x0c" + args.page.encode("latin-1")))
            async for message in ws:
                kind, data = from_message(message)
                report(f"RECV {n} {kind} {data.hex()}")
                await ws.send(outgoing(b"<" + data + b">"))
                if b"BYE" in data:
                    await ws.close(1000, "bye")
                    break
        except websockets.ConnectionClosed:
            pass
        finally:
            active.discard(n)
            report(f"CLOSE {n} code={ws.close_code}")

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    subprotocols = [args.subprotocol] if args.subprotocol else None
    async with websockets.serve(handler, HOST, args.port, subprotocols=subprotocols,
                                process_request=process_request, ping_interval=None,
                                max_size=1 << 20, close_timeout=2):
        report(f"LISTEN {args.port}")
        await stop


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--frame", choices=("text", "binary"), default="text")
    p.add_argument("--subprotocol", default="")
    p.add_argument("--page", default="PEER PAGE")
    p.add_argument("--max-connections", type=int, default=64)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
