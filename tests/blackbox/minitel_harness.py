"""Helpers for the Minitel gateway black-box tests (test_minitel.py).

The tests start the real `vmodemd --config FILE` (path in env VMODEMD) with
only its [minitel] plugin on 127.0.0.1 and use it as a Minitel emulator
would: over WebSocket (a browser emulator such as MiEdit) or Telnet. The
services behind the gateway are the test's own: TCP servers in this process
(TcpService: echo, flood, greeting, ENQROM prober, ...) and WebSocket
videotex servers in child processes (videotex_peer.py). This module holds:

- MinitelDaemon and MinitelTestCase.start_minitel: the daemon with a
  generated INI file (and directory JSON), its log and its RSS;
- WsClient: a small RFC 6455 client on a blocking socket, written out so
  that a test controls every byte (frame types, fragments, masks, broken
  handshakes, not answering pings, never reading); the gateway's output
  (text frames, one character per byte) comes back as bytes;
- ws_text / ws_bytes: the byte <-> character mapping of the gateway;
- TelnetClient: a Telnet user with an option-negotiation reader;
- TcpService: a threaded TCP server with a bounded number of connections
  that records what each connection received (mode "telnet": a Telnet
  videotex server that negotiates, sends a page and echoes);
- TelnetDecoder: the Telnet command parser of the server side;
- Minitel keys (ENVOI, SOMMAIRE, CONNEXION_FIN, ...).

python3-websockets (10.x, asyncio API) is used by the tests where a real
client library matters (many concurrent sessions) and by videotex_peer.py.
Only the standard library and Debian's python3-* packages; run with
/usr/bin/python3.
"""
import base64
import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import modem_harness as mh  # noqa: E402

HOST = h.HOST
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
PAGES = os.path.join(REPO, "conf", "minitel", "service.ini")
PEER = os.path.join(HERE, "videotex_peer.py")

# Minitel keyboard: SEP (0x13) then a letter.
SEP = 0x13
ENVOI = b"\x13\x41"
RETOUR = b"\x13\x42"
REPETITION = b"\x13\x43"
GUIDE = b"\x13\x44"
ANNULATION = b"\x13\x45"
SOMMAIRE = b"\x13\x46"
CORRECTION = b"\x13\x47"
SUITE = b"\x13\x48"
CONNEXION_FIN = b"\x13\x49"
SEP_Y = b"\x13\x59"
FF = b"\x0c"
ENQROM = b"\x1b\x39\x7b"
ENQROM_ANSWER = b"\x01Cu;\x04"

# Telnet
IAC, DONT, DO, WONT, WILL, SB, SE, NOP = 255, 254, 253, 252, 251, 250, 240, 241
OPT_BINARY, OPT_ECHO, OPT_SGA = 0, 1, 3
VERB = {DO: "DO", DONT: "DONT", WILL: "WILL", WONT: "WONT"}


def vmodemd_path():
    return h.binary_path("VMODEMD")


def show(data, limit=200):
    data = bytes(data)
    return repr(data[:limit]) + (f"...({len(data)} bytes)" if len(data) > limit else "")


# --------------------------------------------------------------------------
# The gateway's byte <-> character mapping
# --------------------------------------------------------------------------

def ws_text(data):
    """Bytes as the gateway carries them in a text frame: U+0000-U+00FF."""
    return bytes(data).decode("latin-1")


def ws_bytes(text):
    """Text frame characters back to bytes; code points above 0xFF dropped."""
    return bytes(ord(c) for c in text if ord(c) <= 0xFF)


# --------------------------------------------------------------------------
# WebSocket client (RFC 6455) on a blocking socket
# --------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OP_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsRejected(Exception):
    """The server answered the handshake with something other than 101."""

    def __init__(self, status, headers, body):
        super().__init__(f"handshake answered {status}: {show(body)}")
        self.status, self.headers, self.body = status, headers, body


class WsClosed(Exception):
    """The connection ended: .code is the close code (None: no close frame,
    the TCP connection just ended), .reason its text."""

    def __init__(self, code, reason=""):
        super().__init__(f"closed, code {code} {reason!r}")
        self.code, self.reason = code, reason


def frame_bytes(opcode, payload, fin=True, mask=True, rsv=0, mask_key=None):
    """One frame as a client sends it (masked unless mask=False)."""
    payload = bytes(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    if n:
        k = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")
    return head + key + payload


class FrameReader:
    """Sans-I/O frame parser: feed(bytes) -> complete frames as
    (fin, opcode, payload); raises ValueError on a malformed frame."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while True:
            b = self.buf
            if len(b) < 2:
                return frames
            fin, rsv, opcode = b[0] >> 7, (b[0] >> 4) & 7, b[0] & 0x0F
            masked, n = b[1] >> 7, b[1] & 0x7F
            pos = 2
            if n == 126:
                if len(b) < 4:
                    return frames
                n = struct.unpack(">H", b[2:4])[0]
                pos = 4
            elif n == 127:
                if len(b) < 10:
                    return frames
                n = struct.unpack(">Q", b[2:10])[0]
                pos = 10
            key = None
            if masked:
                if len(b) < pos + 4:
                    return frames
                key = bytes(b[pos:pos + 4])
                pos += 4
            if len(b) < pos + n:
                return frames
            payload = bytes(b[pos:pos + n])
            del b[:pos + n]
            if key and n:
                k = (key * (n // 4 + 1))[:n]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")
            if rsv:
                raise ValueError(f"frame with RSV bits {rsv} set (no extension negotiated)")
            if opcode not in OP_NAMES:
                raise ValueError(f"frame with reserved opcode {opcode}")
            if masked:
                raise ValueError("server frame is masked (RFC 6455 5.1)")
            frames.append((bool(fin), opcode, payload))


def handshake_request(port, path="/", key=None, subprotocols=None, origin=None, extra=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if subprotocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    if origin:
        lines.append(f"Origin: {origin}")
    lines += list(extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def read_http_response(sock, timeout):
    """(status, {lower-case name: value}, body bytes read so far, rest) of an
    HTTP response head; the body is whatever arrived with the head and until
    the server closed (for non-101 answers) within timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete HTTP response head within {timeout}s: {show(buf)}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise WsClosed(None, f"connection closed before a complete HTTP response: {show(buf)}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise AssertionError(f"not an HTTP response: {show(head)}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, rest


def recv_until(sock, deadline, size):
    """One recv() that gives up at deadline: the bytes, b"" when the
    connection ended (or was reset), None on timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        return sock.recv(size)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b""


class WsClient:
    """A WebSocket connection to the gateway. The gateway's output is kept
    as bytes in .data (text frames mapped back, binary frames raw); .opcodes
    counts the data frame types received. Pings are answered unless
    auto_pong is False; .pings counts them."""

    def __init__(self, port, path="/", subprotocols=None, origin=None, extra_headers=None, timeout=5.0,
                 rcvbuf=None, auto_pong=True):
        self.port = port
        self.auto_pong = auto_pong
        self.data = bytearray()
        self.opcodes = {}
        self.pings = 0
        self.close_code = None
        self.close_reason = ""
        self.closed = False
        self.reader = FrameReader()
        self.frames = []  # received frames not yet consumed
        self._fragments = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request, key = handshake_request(port, path, subprotocols=subprotocols, origin=origin,
                                         extra=extra_headers)
        self.sock.sendall(request)
        status, headers, rest = read_http_response(self.sock, timeout)
        self.status, self.headers = status, headers
        if status != 101:
            body = rest + self._drain_body(1.0)
            self.sock.close()
            raise WsRejected(status, headers, body)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self.sock.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, "
                                 f"expected {accept!r}")
        self.subprotocol = headers.get("sec-websocket-protocol")
        if rest:
            self._feed(rest)

    def _drain_body(self, timeout):
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            out += chunk
        return out

    # ---- sending

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.sock.sendall(frame_bytes(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_bytes_as_text(self, data):
        """Bytes in one text frame, one character per byte (MiEdit's way)."""
        self.send_text(ws_text(data))

    def send_binary(self, data):
        self.send_frame(OP_BINARY, data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def ping(self, payload=b"p"):
        self.send_frame(OP_PING, payload)

    def close(self, code=1000, reason=""):
        """Sends a close frame (if still open) and closes the socket."""
        try:
            if not self.closed:
                self.send_frame(OP_CLOSE, struct.pack(">H", code) + reason.encode())
        except OSError:
            pass
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        self.closed = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    # ---- receiving

    def _feed(self, chunk):
        self.frames += self.reader.feed(chunk)

    def _fill(self, deadline):
        """Reads once from the socket (until deadline); False on timeout.
        Raises WsClosed when the TCP connection ended."""
        chunk = recv_until(self.sock, deadline, 262144)
        if chunk is None:
            return False
        if not chunk:
            self.closed = True
            raise WsClosed(self.close_code, self.close_reason or "TCP connection ended")
        self._feed(chunk)
        return True

    def next_frame(self, deadline):
        """The next frame as (fin, opcode, payload), or None at deadline.
        Control frames are handled here too (pong, close) and returned."""
        while not self.frames:
            if not self._fill(deadline):
                return None
        fin, opcode, payload = self.frames.pop(0)
        if opcode == OP_PING:
            self.pings += 1
            if self.auto_pong and not self.closed:
                try:
                    self.send_frame(OP_PONG, payload)
                except OSError:
                    pass
        elif opcode == OP_CLOSE:
            self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.close_reason = payload[2:].decode("utf-8", "replace")
        return fin, opcode, payload

    def pump(self, deadline):
        """Reads frames until deadline, adding data to .data; returns False at
        deadline, raises WsClosed on a close frame or the end of the TCP stream."""
        while True:
            f = self.next_frame(deadline)
            if f is None:
                return False
            self._take(*f)

    def _take(self, fin, opcode, payload):
        if opcode == OP_CLOSE:
            if not self.closed:
                try:
                    self.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
            self.closed = True
            raise WsClosed(self.close_code, self.close_reason)
        if opcode in (OP_PING, OP_PONG):
            return
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                raise AssertionError("new data frame inside a fragmented message")
            self._fragments = (opcode, bytearray())
        elif self._fragments is None:
            raise AssertionError("continuation frame without a message")
        self._fragments[1].extend(payload)
        if fin:
            kind, body = self._fragments
            self._fragments = None
            self.opcodes[OP_NAMES[kind]] = self.opcodes.get(OP_NAMES[kind], 0) + 1
            if kind == OP_TEXT:
                try:
                    text = bytes(body).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise AssertionError(f"text message is not UTF-8: {e}: {show(body)}") from None
                self.data += ws_bytes(text)
                if any(ord(c) > 0xFF for c in text):
                    raise AssertionError(f"text message with a code point above U+00FF: {text!r}")
            else:
                self.data += body

    def read_until(self, predicate, timeout=3.0, what=None):
        """Reads until predicate(self.data) is true; returns .data (all of it).
        predicate may be bytes: until .data contains them."""
        if isinstance(predicate, (bytes, bytearray)):
            needle = bytes(predicate)
            predicate = lambda d: needle in d  # noqa: E731
            what = what or f"output containing {show(needle)}"
        deadline = time.monotonic() + timeout
        while not predicate(self.data):
            try:
                if not self.pump_once(deadline):
                    raise AssertionError(f"timed out after {timeout}s waiting for {what or 'output'}; "
                                         f"received {show(self.data, 400)}")
            except WsClosed as e:
                raise AssertionError(f"connection closed (code {e.code}) while waiting for "
                                     f"{what or 'output'}; received {show(self.data, 400)}") from None
        return bytes(self.data)

    def pump_once(self, deadline):
        f = self.next_frame(deadline)
        if f is None:
            return False
        self._take(*f)
        return True

    def read_exactly(self, n, timeout=3.0):
        """Reads until .data holds n bytes; returns them and clears .data."""
        self.read_until(lambda d: len(d) >= n, timeout, what=f"{n} bytes")
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def take(self):
        out = bytes(self.data)
        self.data.clear()
        return out

    def quiet(self, duration):
        """Reads for duration; returns what arrived (and clears .data)."""
        try:
            self.pump(time.monotonic() + duration)
        except WsClosed:
            pass
        return self.take()

    def wait_closed(self, timeout=3.0):
        """Reads (and drops data) until the connection ends; returns the close
        code (None: TCP ended without a close frame). AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self.pump_once(deadline):
                    raise AssertionError(f"connection still open after {timeout}s; received "
                                         f"{show(self.data, 300)}")
        except WsClosed as e:
            return e.code

    def fileno(self):
        return self.sock.fileno()


def ws_raw_handshake(port, request, timeout=5.0):
    """Sends request bytes as they are; returns (status or None, raw answer)
    where None means the server closed (or timed out) without an HTTP answer."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                break
        m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
        return (int(m.group(1)) if m else None), buf
    finally:
        s.close()


# --------------------------------------------------------------------------
# Telnet client
# --------------------------------------------------------------------------

class TelnetClient:
    """A Telnet user. The reader splits what arrives into data (.data, IAC IAC
    unescaped) and commands (.commands: (verb, option) in arrival order, .subs:
    sub-negotiation payloads, .others: other IAC commands). With answer=True it
    agrees to what the gateway offers (DO for WILL, WILL for DO) once per
    option, as a polite client does."""

    def __init__(self, port, timeout=5.0, answer=True):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected_at = time.monotonic()
        self.answer = answer
        self.answered = set()
        self.data = bytearray()
        self.commands = []
        self.subs = []
        self.others = []
        self.closed = False
        self._state = "data"
        self._verb = None
        self._sub = bytearray()

    def send_raw(self, data):
        self.sock.sendall(bytes(data))

    def send_data(self, data):
        """Data bytes with 0xFF escaped as IAC IAC."""
        self.sock.sendall(bytes(data).replace(b"\xff", b"\xff\xff"))

    def command(self, verb, option):
        self.sock.sendall(bytes([IAC, verb, option]))

    def _feed(self, chunk):
        replies = bytearray()
        for b in chunk:
            st = self._state
            if st == "data":
                if b == IAC:
                    self._state = "iac"
                else:
                    self.data.append(b)
            elif st == "iac":
                if b == IAC:
                    self.data.append(IAC)
                    self._state = "data"
                elif b in (DO, DONT, WILL, WONT):
                    self._verb = b
                    self._state = "opt"
                elif b == SB:
                    self._sub = bytearray()
                    self._state = "sb"
                else:
                    self.others.append(b)
                    self._state = "data"
            elif st == "opt":
                self.commands.append((VERB[self._verb], b))
                if self.answer and (self._verb, b) not in self.answered and self._verb in (DO, WILL):
                    self.answered.add((self._verb, b))
                    replies += bytes([IAC, WILL if self._verb == DO else DO, b])
                self._state = "data"
            elif st == "sb":
                if b == IAC:
                    self._state = "sb_iac"
                else:
                    self._sub.append(b)
            elif st == "sb_iac":
                if b == SE:
                    self.subs.append(bytes(self._sub))
                    self._state = "data"
                else:
                    self._sub.append(b)
                    self._state = "sb"
        if replies:
            try:
                self.sock.sendall(bytes(replies))
            except OSError:
                pass

    def pump_once(self, deadline):
        chunk = recv_until(self.sock, deadline, 65536)
        if chunk is None:
            return False
        if not chunk:
            self.closed = True
            raise EOFError("telnet connection closed")
        self._feed(chunk)
        return True

    def read_until(self, predicate, timeout=3.0, what=None):
        """Reads until predicate(self) is true. predicate may be bytes: until
        .data contains them."""
        if isinstance(predicate, (bytes, bytearray)):
            needle = bytes(predicate)
            predicate = lambda t: needle in t.data  # noqa: E731
            what = what or f"data containing {show(needle)}"
        deadline = time.monotonic() + timeout
        while not predicate(self):
            try:
                if not self.pump_once(deadline):
                    raise AssertionError(f"timed out after {timeout}s waiting for {what or 'telnet output'}; "
                                         f"data {show(self.data, 300)}, commands {self.commands[-20:]}")
            except EOFError:
                raise AssertionError(f"telnet connection closed while waiting for {what or 'output'}; "
                                     f"data {show(self.data, 300)}, commands {self.commands[-20:]}") from None
        return self

    def quiet(self, duration):
        """Reads for duration; returns the data that arrived (and clears .data)."""
        deadline = time.monotonic() + duration
        try:
            while self.pump_once(deadline):
                pass
        except EOFError:
            pass
        out = bytes(self.data)
        self.data.clear()
        return out

    def wait_closed(self, timeout=3.0):
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self.pump_once(deadline):
                    raise AssertionError(f"telnet connection still open after {timeout}s")
        except EOFError:
            return True

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class TelnetDecoder:
    """Server-side Telnet parser: feed(raw) splits what the gateway sent into
    data (.data, IAC IAC unescaped) and commands (.commands: (verb, option)
    in arrival order); sub-negotiations are skipped, other IAC commands kept
    in .others."""

    def __init__(self):
        self.data = bytearray()
        self.commands = []
        self.others = []
        self._state = "data"
        self._verb = None

    def feed(self, chunk):
        """Returns the commands completed by this chunk."""
        new = []
        for b in chunk:
            st = self._state
            if st == "data":
                if b == IAC:
                    self._state = "iac"
                else:
                    self.data.append(b)
            elif st == "iac":
                if b == IAC:
                    self.data.append(IAC)
                    self._state = "data"
                elif b in (DO, DONT, WILL, WONT):
                    self._verb = b
                    self._state = "opt"
                elif b == SB:
                    self._state = "sb"
                else:
                    self.others.append(b)
                    self._state = "data"
            elif st == "opt":
                new.append((VERB[self._verb], b))
                self._state = "data"
            elif st == "sb":
                if b == IAC:
                    self._state = "sb_iac"
            elif st == "sb_iac":
                self._state = "data" if b == SE else "sb"
        self.commands += new
        return new


# --------------------------------------------------------------------------
# TCP services behind the gateway (in this process)
# --------------------------------------------------------------------------

class ServiceConn:
    """One connection a TcpService accepted: .received (bytes so far),
    .opened_at, .ended (Event: the connection is over), .ended_at,
    .sent (bytes written to it)."""

    def __init__(self, sock, n):
        self.sock, self.n = sock, n
        self.received = bytearray()
        self.sent = 0
        self.opened_at = time.monotonic()
        self.ended = threading.Event()
        self.ended_at = None
        self.lock = threading.Lock()
        self.telnet = None  # TelnetDecoder of what arrived (mode "telnet")

    def send(self, data):
        self.sock.sendall(data)
        self.sent += len(data)


class TcpService:
    """A TCP server on 127.0.0.1 (a free port, .port) in threads of this
    process, one per connection, at most max_connections at a time (more
    are closed at once). handler(conn) runs per connection; the default
    handlers below are picked by name:

      echo            every byte back, as it arrives
      flood           sends `limit` bytes (default 256 MiB) as fast as the
                      peer takes them, reading and recording meanwhile
      greet           sends `greeting` once, then echoes
      close_on        echoes; closes the connection after its input holds `marker`
      enqrom          sends ESC 9 { once, records the input, never answers
      telnet          a Telnet videotex server: at connect sends `offers`
                      (IAC DO/WILL BINARY and SGA, IAC DO TTYPE by default),
                      then `greeting` (0xFF doubled); answers a request it did
                      not make itself once (yes to BINARY, SGA and ECHO, no to
                      the rest) and nothing else, so it never loops; echoes
                      data (0xFF doubled). conn.telnet is its TelnetDecoder

    .conns lists every connection so far (ServiceConn)."""

    TELNET_OFFERS = bytes([IAC, DO, OPT_BINARY, IAC, WILL, OPT_BINARY, IAC, DO, OPT_SGA, IAC, WILL, OPT_SGA,
                           IAC, DO, 24])
    TELNET_ACCEPTS = (OPT_BINARY, OPT_ECHO, OPT_SGA)

    def __init__(self, mode="echo", max_connections=64, limit=256 << 20, greeting=b"", marker=b"QUIT",
                 offers=None):
        self.mode, self.max_connections = mode, max_connections
        self.offers = self.TELNET_OFFERS if offers is None else offers
        self.limit, self.greeting, self.marker = limit, greeting, marker
        self.conns = []
        self.refused = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(512)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"tcp://{HOST}:{self.port}"
        self._threads = []
        t = threading.Thread(target=self._accept_loop, name=f"tcp-service-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)

    def active(self):
        with self._lock:
            return sum(1 for c in self.conns if not c.ended.is_set())

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.active() >= self.max_connections:
                self.refused += 1
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                conn = ServiceConn(sock, len(self.conns) + 1)
                self.conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn):
        try:
            getattr(self, "_" + self.mode)(conn)
        except OSError:
            pass
        finally:
            conn.ended_at = time.monotonic()
            conn.ended.set()
            try:
                conn.sock.close()
            except OSError:
                pass

    def _recv(self, conn, timeout=0.2):
        """Some bytes, b"" at EOF, None on timeout (and when stopping: EOF)."""
        conn.sock.settimeout(timeout)
        try:
            chunk = conn.sock.recv(65536)
        except socket.timeout:
            return b"" if self._stop.is_set() else None
        except (ConnectionResetError, BrokenPipeError):
            return b""
        if chunk:
            with conn.lock:
                conn.received += chunk
        return chunk

    def _echo(self, conn):
        while True:
            chunk = self._recv(conn)
            if chunk is None:
                continue
            if not chunk:
                return
            conn.send(chunk)

    def _greet(self, conn):
        conn.send(self.greeting)
        self._echo(conn)

    def _close_on(self, conn):
        while True:
            chunk = self._recv(conn)
            if chunk is None:
                continue
            if not chunk:
                return
            conn.send(chunk)
            if self.marker in conn.received:
                conn.sock.shutdown(socket.SHUT_RDWR)
                return

    def _telnet(self, conn):
        dec = conn.telnet = TelnetDecoder()
        # Our own requests, pending until answered (WILL/WONT answer a DO,
        # DO/DONT a WILL): their answers are not answered again.
        offers = TelnetDecoder()
        offers.feed(self.offers)
        pending = set(offers.commands)
        answered = set()
        conn.send(self.offers)
        if self.greeting:
            conn.send(self.greeting.replace(b"\xff", b"\xff\xff"))
        code = {"DO": DO, "DONT": DONT, "WILL": WILL, "WONT": WONT}
        asked_by = {"WILL": "DO", "WONT": "DO", "DO": "WILL", "DONT": "WILL"}
        while True:
            before = len(dec.data)
            chunk = self._recv(conn)
            if chunk is None:
                continue
            if not chunk:
                return
            with conn.lock:
                new = dec.feed(chunk)
                echo = bytes(dec.data[before:])
            reply = bytearray()
            for verb, opt in new:
                if (asked_by[verb], opt) in pending:
                    pending.discard((asked_by[verb], opt))
                    continue
                if (verb, opt) in answered:
                    continue
                answered.add((verb, opt))
                yes = opt in self.TELNET_ACCEPTS and verb in ("DO", "WILL")
                answer = {"DO": "WILL" if yes else "WONT", "WILL": "DO" if yes else "DONT",
                          "DONT": "WONT", "WONT": "DONT"}[verb]
                reply += bytes([IAC, code[answer], opt])
            if reply:
                conn.send(bytes(reply))
            if echo:
                conn.send(echo.replace(b"\xff", b"\xff\xff"))

    def _enqrom(self, conn):
        conn.send(ENQROM)
        while self._recv(conn) != b"":
            pass

    def _flood(self, conn):
        block = bytes(range(0x20, 0x7F)) * 600  # 57 KiB of printable bytes
        conn.sock.setblocking(False)
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        try:
            while conn.sent < self.limit and not self._stop.is_set():
                for _, events in sel.select(0.2):
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = conn.sock.recv(65536)
                        except BlockingIOError:
                            chunk = None
                        if chunk == b"":
                            return
                        if chunk:
                            conn.received += chunk
                    if events & selectors.EVENT_WRITE:
                        try:
                            conn.sent += conn.sock.send(block[:min(len(block), self.limit - conn.sent)])
                        except BlockingIOError:
                            pass
            # Everything sent: wait for the peer to close.
            sel.modify(conn.sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if sel.select(0.2):
                    try:
                        if conn.sock.recv(65536) == b"":
                            return
                    except BlockingIOError:
                        pass
        finally:
            sel.close()

    def wait_connections(self, n, timeout=3.0):
        h.wait_until(lambda: len(self.conns) >= n, timeout, what=f"{n} connection(s) to the service on "
                     f"port {self.port} (got {len(self.conns)})")
        return self.conns[n - 1]

    def stop(self):
        self._stop.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(2.0)


# --------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MinitelDaemon:
    """A running vmodemd with the [minitel] plugin: .proc (harness Process),
    .ws_port and .telnet_port (None when off), .config (the sections written),
    .directory (path of the directory file or None)."""

    def __init__(self, proc, ws_port, telnet_port, config, directory):
        self.proc, self.ws_port, self.telnet_port = proc, ws_port, telnet_port
        self.config, self.directory = config, directory
        self.stopped_by_test = False  # a test that stops it: no "died during the test"
        http_listen = config.get("host", {}).get("http")
        self.http_port = int(str(http_listen).rsplit(":", 1)[1]) if http_listen else None

    def http_get(self, path, timeout=3.0):
        return h.http_get(self.http_port, path, timeout)

    def metrics(self):
        """{'name{labels}': value} from /metrics ([host] http must be set)."""
        return h.get_metrics(self.http_port)

    def metric(self, name, labels='plugin="minitel"'):
        m = self.metrics()
        key = f"{name}{{{labels}}}" if labels else name
        if key not in m:
            known = sorted(k for k in m if k.startswith("minitel"))
            raise AssertionError(f"metric {key} not in /metrics; minitel ones: {known}")
        return m[key]

    def wait_log(self, text, timeout=3.0):
        h.wait_until(lambda: text in self.log(), timeout, what=f"log line with {text!r}")

    def log(self):
        return self.proc.stderr_text() + self.proc.stdout_text()

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def alive(self):
        return self.proc.alive()

    def ws(self, **kw):
        return WsClient(self.ws_port, **kw)

    def telnet(self, **kw):
        return TelnetClient(self.telnet_port, **kw)


class MinitelTestCase(h.BlackboxTestCase):
    """BlackboxTestCase with a vmodemd Minitel gateway, TCP services, videotex
    peers and clients that are all closed after the test whatever happens."""

    def start_minitel(self, minitel=None, host=None, directory=None, ws=True, telnet=True, wait=True):
        """vmodemd --config FILE with [host] and [minitel] (defaults below,
        updated by the given dict). directory: a list of entries written as
        {"servers": [...]} to a JSON file named in the config."""
        ws_port = h.free_port() if ws else None
        telnet_port = h.free_port() if telnet else None
        name = f"{self.id().rsplit('.', 1)[-1]}-{time.monotonic_ns()}"
        keys = {
            "ws_listen": f"{HOST}:{ws_port}" if ws else "",
            "telnet_listen": f"{HOST}:{telnet_port}" if telnet else "",
            "default_service": "local",
            "pages": PAGES,
            "max_sessions": 500,
            "max_sessions_per_ip": 100,
            "ping_interval": "20s",
            "idle_timeout": "1800s",
            "telnet_junk_time": "500ms",
        }
        keys.update(minitel or {})
        dir_path = None
        if directory is not None:
            dir_path = os.path.join(h.tmpdir(), name + "-directory.json")
            with open(dir_path, "w") as f:
                json.dump({"servers": directory}, f, indent=1)
            keys["directory"] = dir_path
        sections = {"host": {"log_level": "info", **(host or {})}, "minitel": keys}
        path = os.path.join(h.tmpdir(), name + ".ini")
        with open(path, "w") as f:
            f.write(h.config_text(sections))
        p = self._track(h.Process("vmodemd", [vmodemd_path(), "--config", path]))
        d = MinitelDaemon(p, ws_port, telnet_port, sections, dir_path)
        if wait:
            # Runs before the cleanup that kills it: a daemon that died during the
            # test (a crash) fails the test even where the clients noticed nothing.
            self.addCleanup(self._check_survived, d)
        if wait:
            self.wait_ready(d)
        return d

    def wait_ready(self, d, timeout=10.0):
        ports = [p for p in (d.ws_port, d.telnet_port) if p]

        def ready():
            if not d.proc.alive():
                raise AssertionError(f"vmodemd exited with {d.proc.returncode} at start-up:\n"
                                     f"{d.proc.stderr_text()[-3000:]}")
            return all(mh.listening(p) for p in ports)
        h.wait_until(ready, timeout, what=f"vmodemd's Minitel listeners on {ports}")

    def ws(self, d, **kw):
        c = d.ws(**kw)
        self.addCleanup(c.abort)
        return c

    def telnet(self, d, **kw):
        c = d.telnet(**kw)
        self.addCleanup(c.close)
        return c

    def service(self, mode="echo", **kw):
        s = TcpService(mode, **kw)
        self.addCleanup(s.stop)
        return s

    def terminate(self, d, sig=None):
        """Sends SIGTERM (or sig) to the daemon as an operator would; the test
        then checks how it ends (wait_exit)."""
        self.assertTrue(d.alive(), f"vmodemd died before it was stopped (exit {d.proc.returncode})")
        d.stopped_by_test = True
        d.proc.send_signal(sig or signal.SIGTERM)
        d.term_sent_at = time.monotonic()

    def wait_exit(self, d, timeout):
        """The exit code within timeout of terminate(), else AssertionError."""
        left = d.term_sent_at + timeout - time.monotonic()
        try:
            d.proc.proc.wait(max(0.01, left))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"vmodemd still running {timeout}s after the signal") from None
        return d.proc.returncode

    def start_peer(self, *args, port=None):
        """videotex_peer.py on a free port; .port and .url set, .events()
        returns its report lines split in fields."""
        port = port or h.free_port()
        p = self._track(h.Process("videotex-peer", [sys.executable, PEER, "--port", port, *args]))
        p.port = port
        p.url = f"ws://{HOST}:{port}/"
        h.wait_until(lambda: f"LISTEN {port}" in p.stdout_text() or not p.alive(), 10.0,
                     what="videotex_peer listening")
        if not p.alive():
            raise AssertionError("videotex_peer did not start:\n" + p.describe())

        def events(kind=None):
            rows = [line.split() for line in p.stdout_text().splitlines() if line.strip()]
            return [r for r in rows if kind is None or r[0] == kind]
        p.events = events

        def received(kind=None):
            """Bytes the peer received, all connections, in order."""
            return b"".join(bytes.fromhex(r[3]) if len(r) > 3 else b""
                            for r in events("RECV") if kind is None or r[2] == kind)
        p.received = received
        return p

    def assert_alive_and_serving(self, d, service=None):
        """The daemon still runs and a fresh WebSocket session gets an answer:
        with an echo service, a round trip; else the first output."""
        self.assertTrue(d.alive(), f"vmodemd died (exit {d.proc.returncode})")
        c = self.ws(d)
        marker = b"alive-%d" % random.randrange(1 << 30)
        if service is not None:
            c.send_binary(marker)
            c.read_until(marker, 3.0)
        else:
            c.read_until(lambda data: len(data) > 0, 3.0, what="any output from the default service")
        c.close()
