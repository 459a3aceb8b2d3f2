"""Helpers for the SMS plugin black-box tests (test_sms.py).

The tests start the real `vmodemd --config FILE` (path in env VMODEMD) with
only its [sms] plugin, in front of the simulated SIM modem of sim_modem.py
(a pty behind a symlink that the daemon opens as its serial device), and use
it as its users would: the REST API (http.client), the raw TCP bridge (a
terminal program on a socket) and the daemon's log (stderr). This module
holds:

- SmsDaemon and SmsTestCase.start_sms: the daemon with a generated INI file,
  its log, its byte log (SER_W/SER_R lines) and its REST API (api());
- SmsTestCase.sim / sim_process: the simulated modem in this process
  (sim_modem.SimModem) or as a process of its own steered over its control
  port (sim_modem.ControlClient), for tests that kill things;
- BridgeClient: a raw TCP client of the bridge on a blocking socket that
  keeps what it received and tells when the daemon closed it;
- small SMS helpers (part counts, GSM 7-bit / UCS2 test texts).

Only the standard library and Debian's python3-* packages; run with
/usr/bin/python3.
"""
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import modem_harness as modh  # noqa: E402
import sim_modem as sm  # noqa: E402

HOST = h.HOST
HERE = os.path.dirname(os.path.abspath(__file__))
SIM_MODEM = os.path.join(HERE, "sim_modem.py")

TOKEN = "secret-token"
HEARTBEAT = b"<heartbeat>"
READY_LOG = "sms: modem ready"

# Waits that return as soon as their condition holds: generous, so that a
# daemon under AddressSanitizer (about 3x slower) passes too.
START_TIMEOUT = 15.0
WAIT = 10.0

FINAL_STATES = ("sent", "delivered", "failed", "unknown")


def vmodemd_path():
    return h.binary_path("VMODEMD")


def show(data, limit=300):
    data = bytes(data)
    return repr(data[:limit]) + (f"...({len(data)} bytes)" if len(data) > limit else "")


# --------------------------------------------------------------------------
# SMS arithmetic and texts
# --------------------------------------------------------------------------

def parts_needed(text, ref_bits=8):
    """Parts of a message as TS 23.040 cuts it: one part up to 160 septets
    (70 UCS2 units), else 153/67 per part with an 8-bit concatenation
    reference (152/66 with a 16-bit one); an escape pair or a surrogate pair
    is never cut."""
    if sm.gsm7_encodable(text):
        def units(ch):
            return len(sm.gsm7_septets(ch))
        single, per_part = 160, 153
    else:
        def units(ch):
            return 2 if ord(ch) > 0xFFFF else 1
        single, per_part = 70, 67
    if ref_bits == 16:
        per_part -= 1
    if sum(units(ch) for ch in text) <= single:
        return 1
    n, used = 1, 0
    for ch in text:
        u = units(ch)
        if used + u > per_part:
            n, used = n + 1, 0
        used += u
    return n


def gsm7_long_text(length, tag=""):
    """length characters of GSM 7-bit text with extension-table characters
    (each two septets) spread through it."""
    base = f"{tag}Switchboard SMS € [a] {{b}} ~|^ 0123456789 @£$¥ "
    return (base * (length // len(base) + 1))[:length]


# --------------------------------------------------------------------------
# The byte log
# --------------------------------------------------------------------------

BYTE_LOG_LINE = re.compile(
    r"\[(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})\] (SER_W|SER_R) ->(.*)<-$")
_ESCAPE = re.compile(r"\\(\\|r|n|t|x[0-9A-Fa-f]{2})")


def unescape_byte_log(payload):
    """The bytes of a byte log payload (\\r \\n \\t \\xNN \\\\ escapes).
    Raises ValueError on a raw control character or a lone backslash."""
    out = bytearray()
    i = 0
    while i < len(payload):
        ch = payload[i]
        if ch == "\\":
            m = _ESCAPE.match(payload, i)
            if not m:
                raise ValueError(f"bad escape at {i} in {payload!r}")
            e = m.group(1)
            out += {"\\": b"\\", "r": b"\r", "n": b"\n", "t": b"\t"}.get(e) or bytes([int(e[1:], 16)])
            i = m.end()
            continue
        if not 0x20 <= ord(ch) <= 0x7E:
            raise ValueError(f"unescaped character {ch!r} at {i} in {payload!r}")
        out.append(ord(ch))
        i += 1
    return bytes(out)


# --------------------------------------------------------------------------
# The raw TCP bridge
# --------------------------------------------------------------------------

class BridgeClient:
    """A raw TCP client of the bridge. Everything received is kept in .data
    (read_until consumes up to its match); .eof is set once the daemon closed."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected_at = time.monotonic()
        self.data = bytearray()
        self.eof = False
        self.closed_at = None

    def send(self, data):
        self.sock.sendall(data)

    def heartbeat(self):
        self.send(HEARTBEAT)

    def _fill(self, deadline):
        """One recv until deadline: False on timeout (or after EOF)."""
        if self.eof:
            return False
        chunk = modh_recv(self.sock, deadline)
        if chunk is None:
            return False
        if not chunk:
            self.eof = True
            self.closed_at = time.monotonic()
            return False
        self.data += chunk
        return True

    def read_until(self, pattern, timeout=WAIT):
        """Reads until .data contains pattern (bytes or compiled bytes regex);
        returns .data up to the end of the match and keeps the rest."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(pattern, (bytes, bytearray)):
                i = self.data.find(pattern)
                end = i + len(pattern) if i >= 0 else -1
            else:
                m = pattern.search(self.data)
                end = m.end() if m else -1
            if end >= 0:
                out = bytes(self.data[:end])
                del self.data[:end]
                return out
            if not self._fill(deadline):
                what = "connection closed" if self.eof else f"timed out after {timeout}s"
                raise AssertionError(f"bridge: {what} waiting for {pattern!r}; received {show(self.data)}")

    def command(self, line, timeout=WAIT):
        """Sends an AT command line (CR added) and returns the answer up to its
        final result code."""
        self.send(line.encode("latin-1") + b"\r")
        return self.read_until(FINAL, timeout)

    def wait_closed(self, timeout=WAIT):
        """Reads until the daemon closes the connection; returns everything
        received (and not consumed before). AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline) and not self.eof:
                raise AssertionError(f"bridge connection still open after {timeout}s; received "
                                     f"{show(self.data)}")
        return bytes(self.data)

    def still_open(self, duration):
        """Reads for duration; True if the connection is still open then."""
        deadline = time.monotonic() + duration
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        return not self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def modh_recv(sock, deadline):
    """One recv() that gives up at deadline: bytes, b"" at EOF/reset, None on timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b""


# A final result code on a line of its own.
FINAL = re.compile(rb"(?:^|(?<=[\r\n]))(?:OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n")


# --------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------

class ApiError(AssertionError):
    pass


class SmsDaemon:
    """A running vmodemd with the [sms] plugin: .proc (harness Process),
    .api_port / .bridge_port (None when off), .config (the sections written),
    .device, .store."""

    def __init__(self, proc, config, api_port, bridge_port):
        self.proc, self.config = proc, config
        self.api_port, self.bridge_port = api_port, bridge_port
        self.device = config["sms"]["device"]
        self.store = config["sms"]["store"]
        self.token = config["sms"].get("api_token", TOKEN)
        self.stopped_by_test = False

    # ---- log

    def log(self):
        return self.proc.stderr_text() + self.proc.stdout_text()

    def log_count(self, text):
        return self.log().count(text)

    def wait_log(self, text, timeout=WAIT, count=1):
        def seen():
            if not self.proc.alive():
                raise AssertionError(f"vmodemd exited ({self.proc.returncode}) while waiting for "
                                     f"{text!r} in its log")
            return self.log_count(text) >= count
        h.wait_until(seen, timeout, what=f"{count} log line(s) with {text!r}")

    def byte_log(self):
        """[(direction "SER_W"/"SER_R", (day, month, year, h, m, s), raw payload)] in order."""
        out = []
        for line in self.proc.stderr_text().splitlines():
            if "SER_W" not in line and "SER_R" not in line:
                continue
            m = BYTE_LOG_LINE.search(line)
            if not m:
                raise AssertionError(f"byte log line not in the format "
                                     f"'[dd.mm.yyyy hh:mm:ss] SER_W ->...<-': {line!r}")
            out.append((m.group(7), tuple(int(g) for g in m.groups()[:6]), m.group(8)))
        return out

    def serial_stream(self, direction):
        """All bytes of one direction of the byte log, unescaped and joined."""
        return b"".join(unescape_byte_log(p) for d, _, p in self.byte_log() if d == direction)

    # ---- REST API

    def api(self, method, path, body=None, token=None, raw=None, headers=None, timeout=WAIT):
        """One request to the REST API: (status, {lower-case header: value},
        parsed JSON body or None when empty). token None: the configured one,
        False: no Authorization header; raw: a body sent as it is."""
        c = http.client.HTTPConnection(HOST, self.api_port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            tok = self.token if token is None else token
            if tok is not False:
                hdrs["Authorization"] = f"Bearer {tok}"
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
            if data is not None:
                hdrs.setdefault("Content-Type", "application/json")
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            payload = r.read()
            rh = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        doc = None
        if payload:
            try:
                doc = json.loads(payload)
            except ValueError:
                raise ApiError(f"{method} {path} answered {r.status} with a body that is not JSON: "
                               f"{show(payload)}") from None
        return r.status, rh, doc

    def alive(self):
        return self.proc.alive()


class SmsTestCase(h.BlackboxTestCase):
    """BlackboxTestCase with a vmodemd SMS gateway, the simulated modem and
    bridge clients that are all closed after the test whatever happens."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=h.tmpdir())
        self.link = os.path.join(self.dir, "dev", "ttyUSB0")
        self.store = os.path.join(self.dir, "sms.db")
        self.modem = None
        self.sms = None

    # ---- the simulated modem

    def sim(self, **options):
        """The simulated modem in this process on self.link (sim_modem.SimModem)."""
        self.modem = sm.SimModem(self.link, **options)
        self.addCleanup(self.modem.close)
        return self.modem

    def sim_process(self, *args):
        """sim_modem.py as a process of its own on self.link with a control
        port: (Process, ControlClient)."""
        p = self._track(h.Process("sim-modem", [h.PYTHON, SIM_MODEM, "--link", self.link,
                                                "--control", "0", *args]))
        self.addCleanup(p.stop)             # runs before the kill: SIGTERM removes the link

        def ready_line():
            if not p.alive():
                raise AssertionError(f"sim_modem.py exited with {p.returncode}:\n{p.describe()}")
            return p.stdout_text().strip()
        h.wait_until(lambda: ready_line(), START_TIMEOUT, what="sim_modem.py's ready line")
        ready = json.loads(p.stdout_text().splitlines()[0])
        control = sm.ControlClient(ready["control"])
        self.addCleanup(control.close)
        return p, control

    # ---- the daemon

    def start_sms(self, wait_ready=True, api=True, bridge=True, **keys):
        """vmodemd --config FILE with [host] log_level = info and [sms]
        (defaults below, updated by keys; a key set to None is left out).
        Waits for the API port and, with wait_ready, for READY_LOG."""
        api_port = h.free_port() if api else None
        bridge_port = h.free_port() if bridge else None
        sms = {
            "device": self.link,
            "baud": 115200,
            "bridge_listen": f"{HOST}:{bridge_port}" if bridge else "",
            "heartbeat": HEARTBEAT.decode(),
            "heartbeat_timeout_ms": 5000,
            "kick_old_client": "false",
            "api_listen": f"{HOST}:{api_port}" if api else "",
            "api_token": TOKEN,
            "store": self.store,
            "byte_log": "true",
            "reopen_backoff": "200ms",
            "reopen_backoff_max": "2s",
            "status_interval": "30s",
            "status_reports": "true",
            "accept_when_absent": "false",
            "ussd_timeout": "10s",
        }
        sms.update(keys)
        sms = {k: v for k, v in sms.items() if v is not None}
        sections = {"host": {"log_level": "info"}, "sms": sms}
        path = os.path.join(self.dir, f"vmodemd-{time.monotonic_ns()}.ini")
        with open(path, "w") as f:
            f.write(h.config_text(sections))
        p = self._track(h.Process("vmodemd", [vmodemd_path(), "--config", path]))
        d = SmsDaemon(p, sections, api_port, bridge_port)
        # Runs before the cleanup that kills it: a daemon that died during the
        # test (a crash) fails the test even where the clients noticed nothing.
        self.addCleanup(self._check_survived, d)
        self.sms = d
        ports = [x for x in (api_port, bridge_port) if x]

        def listening():
            if not p.alive():
                raise AssertionError(f"vmodemd exited with {p.returncode} at start-up:\n"
                                     f"{p.stderr_text()[-3000:]}")
            # From /proc: a probe connection to the bridge would be a client.
            return all(modh.listening(x) for x in ports)
        h.wait_until(listening, START_TIMEOUT, what=f"vmodemd's SMS listeners on {ports}")
        if wait_ready:
            d.wait_log(READY_LOG, START_TIMEOUT)
        return d

    def kill9(self, d):
        """SIGKILL, as a power cut would."""
        d.stopped_by_test = True
        d.proc.kill()

    def terminate(self, d, timeout=WAIT):
        d.stopped_by_test = True
        return d.proc.stop(signal.SIGTERM, timeout)

    # ---- REST helpers on the latest daemon

    def api(self, method, path, body=None, **kw):
        return self.sms.api(method, path, body, **kw)

    def send_sms(self, to, text, d=None, **fields):
        """POST /v1/sms, insisting on 202; returns the answer's JSON."""
        d = d or self.sms
        status, _, doc = d.api("POST", "/v1/sms", {"to": to, "text": text, **fields})
        self.assertEqual(status, 202, f"POST /v1/sms answered {status}: {doc}")
        self.assertIsInstance(doc, dict)
        self.assertEqual(doc.get("state"), "queued", doc)
        self.assertTrue(doc.get("id"), doc)
        return doc

    def get_sms(self, sms_id, d=None):
        d = d or self.sms
        status, _, doc = d.api("GET", f"/v1/sms/{sms_id}")
        self.assertEqual(status, 200, f"GET /v1/sms/{sms_id} answered {status}: {doc}")
        return doc

    def wait_sms_state(self, sms_id, states, timeout=WAIT, d=None):
        """Polls GET /v1/sms/{id} until its state is one of states; returns the document."""
        states = (states,) if isinstance(states, str) else tuple(states)
        last = {}

        def reached():
            last["doc"] = self.get_sms(sms_id, d)
            return last["doc"].get("state") in states
        try:
            h.wait_until(reached, timeout, interval=0.05, what=f"message {sms_id} in state {states}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen: {last.get('doc')}") from None
        return last["doc"]

    def modem_status(self, d=None):
        d = d or self.sms
        return d.api("GET", "/v1/modem")

    def wait_modem(self, predicate, timeout=WAIT, what="GET /v1/modem", d=None):
        last = {}

        def ok():
            status, _, doc = self.modem_status(d)
            last["seen"] = (status, doc)
            return predicate(status, doc)
        try:
            h.wait_until(ok, timeout, interval=0.05, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen: {last.get('seen')}") from None
        return last["seen"]

    # ---- the bridge

    def bridge(self, d=None, wait_control=True):
        """A bridge client; with wait_control, waits until GET /v1/modem says
        the raw client is in control (the command in flight finished)."""
        d = d or self.sms
        c = BridgeClient(d.bridge_port)
        self.addCleanup(c.close)
        if wait_control:
            self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "raw_client",
                            what="state raw_client after a bridge client connected", d=d)
        return c

    # ---- the simulated modem's outbox

    def wait_outbox(self, predicate, timeout=WAIT, what="the simulated modem's outbox", modem=None):
        modem = modem or self.modem
        last = {}

        def ok():
            last["box"] = modem.outbox()
            return predicate(last["box"])
        try:
            h.wait_until(ok, timeout, interval=0.05, what=what)
        except AssertionError as e:
            seen = [(m["to"], m["text"][:40], m["total"], m["complete"]) for m in last.get("box", [])]
            raise AssertionError(f"{e}; outbox (to, text, parts, complete): {seen}") from None
        return last["box"]

