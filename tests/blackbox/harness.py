"""Shared helpers for the tcpmux black-box tests.

The tests start the real `tcpmux` binary (path in env TCPMUX) in front of real
peers on 127.0.0.1 and talk to it as a client would. This module holds:

- process handling: start tcpmux / a peer, wait for its port, stop it with
  SIGTERM and check the exit code, and print its captured stderr when a test
  fails (BlackboxTestCase);
- Modbus/TCP encoding for raw-socket clients;
- the upstream peers, run as child processes so that a test can kill one
  (SIGKILL, like a crashed device) and start it again on the same port:
      /usr/bin/python3 harness.py peer KIND --port N [options]
  KIND is modbus (pymodbus server), slowmodbus (hand-written server that
  answers after --delay seconds), echo (frame-aware echo: --framing line,
  iso8583 or mpu), http (http.server, HTTP/1.1 keep-alive) or blackhole
  (accepts and reads, never answers).

Only the standard library and Debian's python3-* packages are used; run with
/usr/bin/python3.
"""
import asyncio
import atexit
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
HOST = "127.0.0.1"

_tmpdir = None
_live = []  # every Process started and not yet reaped, killed at exit


def tmpdir():
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="tcpmux-blackbox-")
        atexit.register(shutil.rmtree, _tmpdir, True)
    return _tmpdir


def binary_path(env):
    """The binary named by environment variable env (meson test sets it)."""
    path = os.environ.get(env)
    if not path:
        raise RuntimeError(f"env {env} must name the binary under test (meson test sets it)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{env}={path} is not an executable file")
    return path


def tcpmux_path():
    return binary_path("TCPMUX")


def free_port():
    """A port that nothing listens on right now (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class Process:
    """A child process whose stdout/stderr go to files in the temp dir."""

    _count = 0

    def __init__(self, name, argv):
        Process._count += 1
        self.name = name
        self.argv = [str(a) for a in argv]
        base = os.path.join(tmpdir(), f"{Process._count:03d}-{name}")
        self.out_path = base + ".out"
        self.err_path = base + ".err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.started_at = time.monotonic()
        self.killed = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, start_new_session=True)
        _live.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    @property
    def returncode(self):
        return self.proc.poll()

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_port(self, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.returncode} before listening on "
                                     f"port {port}\n{self.describe()}")
            if port_open(port):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not listening on port {port} after {timeout}s\n"
                                     f"{self.describe()}")
            time.sleep(0.02)

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait; returns the exit code, or None if it had to be killed."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._reap()
        return self.proc.returncode

    def kill(self):
        if self.alive():
            self.killed = True
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._reap()

    def _reap(self):
        if self in _live:
            _live.remove(self)
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def describe(self, tail=120):
        lines = self.stderr_text().splitlines()
        text = "\n".join("    " + l for l in lines[-tail:])
        out = self.stdout_text().strip()
        rc = self.proc.poll()
        how = "running" if rc is None else "killed by the test" if self.killed else f"exit {rc}"
        s = f"--- {self.name} (pid {self.pid}, {how}): {' '.join(self.argv)}\n"
        s += f"  stderr ({len(lines)} lines, last {min(len(lines), tail)}):\n{text}\n"
        if out:
            s += "  stdout:\n" + "\n".join("    " + l for l in out.splitlines()[-40:]) + "\n"
        return s


def _kill_all():
    for p in list(_live):
        try:
            p.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_kill_all)


def _on_sigterm(signum, frame):  # meson kills a timed-out test with SIGTERM
    _kill_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


def run_tcpmux(args, timeout=10.0):
    """Run `tcpmux ARGS` to completion (list, bad options): (exit code, stdout, stderr)."""
    r = subprocess.run([tcpmux_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Test case base
# --------------------------------------------------------------------------

class BlackboxTestCase(unittest.TestCase):
    """Starts processes for one test, stops them after it, and on failure
    prints what each of them wrote to stderr."""

    def setUp(self):
        self._procs = []

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            sys.stderr.write(f"\n===== processes of failed test {self.id()} =====\n")
            for p in getattr(self, "_procs", []):
                sys.stderr.write(p.describe())
            sys.stderr.flush()
        return result

    def _track(self, p):
        self._procs.append(p)
        self.addCleanup(p.kill)
        return p

    def _check_survived(self, d):
        """Cleanup for a daemon object with .proc and .stopped_by_test: one that
        died during the test (a crash) fails it even where its clients noticed
        nothing."""
        if not d.proc.alive() and not d.stopped_by_test:
            rc = d.proc.returncode
            how = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
            raise AssertionError(f"vmodemd died during the test ({how})")

    def start_tcpmux(self, protocol, target_port, *extra, listen_port=None, wait=True):
        """tcpmux server -p PROTOCOL -t 127.0.0.1:TARGET -l 127.0.0.1:PORT EXTRA...
        Returns the Process with .port set; waits until the port accepts."""
        port = listen_port or free_port()
        argv = [tcpmux_path(), "server", "-p", protocol, "-t", f"{HOST}:{target_port}",
                "-l", f"{HOST}:{port}", *extra]
        p = self._track(Process("tcpmux", argv))
        p.port = port
        if wait:
            p.wait_port(port)
        return p

    def start_tcpmux_argv(self, args, port, wait=True):
        p = self._track(Process("tcpmux", [tcpmux_path()] + list(args)))
        p.port = port
        if wait:
            p.wait_port(port)
        return p

    def start_peer(self, kind, *args, port=None, wait=True):
        port = port or free_port()
        argv = [PYTHON, os.path.join(HERE, "harness.py"), "peer", kind, "--port", port, *args]
        p = self._track(Process(f"peer-{kind}", argv))
        p.port = port
        if wait:
            p.wait_port(port)
        return p

    def stop_gracefully(self, p, sig=signal.SIGTERM, timeout=10.0):
        """Stop tcpmux the way an operator would and insist on exit code 0."""
        self.assertTrue(p.alive(), f"{p.name} died before it was stopped (exit {p.returncode})")
        rc = p.stop(sig, timeout)
        self.assertIsNotNone(rc, f"{p.name} did not exit within {timeout}s of {signal.Signals(sig).name}")
        self.assertEqual(rc, 0, f"{p.name} exit code after {signal.Signals(sig).name}")


def main():
    unittest.main(verbosity=2)


# --------------------------------------------------------------------------
# Modbus/TCP
# --------------------------------------------------------------------------

# Exception codes tcpmux answers with instead of closing the client.
GATEWAY_PATH_UNAVAILABLE = 0x0A
GATEWAY_TARGET_FAILED = 0x0B

MODBUS_UNITS = range(1, 11)
MODBUS_REGISTERS = 2000


def register_value(unit, address):
    """The value the modbus peers hold in holding register ADDRESS of UNIT:
    distinct for every (unit, address) pair the tests use."""
    return (unit * 4099 + address * 7 + 0x1234) & 0xFFFF


def mb_read_request(tid, unit, address, count):
    """Read Holding Registers (0x03) as a Modbus/TCP ADU."""
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, 3, address, count)


def mb_write_request(tid, unit, address, value):
    """Write Single Register (0x06)."""
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, 6, address, value)


class ModbusReply:
    def __init__(self, adu):
        self.adu = adu
        self.tid, self.proto, self.length, self.unit = struct.unpack(">HHHB", adu[:7])
        self.fc = adu[7]
        self.pdu = adu[7:]

    @property
    def is_exception(self):
        return bool(self.fc & 0x80)

    @property
    def exception_code(self):
        return self.pdu[1] if self.is_exception else None

    def registers(self):
        n = self.pdu[1]
        return list(struct.unpack(f">{n // 2}H", self.pdu[2:2 + n]))

    def __repr__(self):
        return f"ModbusReply({self.adu.hex()})"


def mb_frame_length(buf):
    """Bytes in the first ADU of buf, or None while the header is incomplete."""
    if len(buf) < 6:
        return None
    return 6 + struct.unpack(">H", buf[4:6])[0]


async def mb_read_reply(reader, timeout):
    """One ADU from an asyncio stream. Raises EOFError if the peer closed."""
    async def read():
        try:
            head = await reader.readexactly(7)
            body = await reader.readexactly(struct.unpack(">H", head[4:6])[0] - 1)
        except asyncio.IncompleteReadError as e:
            raise EOFError(f"connection closed ({len(e.partial)} bytes of a reply read)") from None
        except ConnectionResetError:
            raise EOFError("connection reset") from None
        return ModbusReply(head + body)
    return await asyncio.wait_for(read(), timeout)


def mb_recv_reply(sock, timeout):
    """One ADU from a blocking socket. Raises EOFError if the peer closed."""
    sock.settimeout(timeout)
    head = recv_exactly(sock, 7)
    body = recv_exactly(sock, struct.unpack(">H", head[4:6])[0] - 1)
    return ModbusReply(head + body)


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            raise EOFError("connection reset") from None
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def connection_closed(sock, timeout):
    """True once the peer closed sock (EOF or reset), False if still open after timeout.
    Data that arrives meanwhile is discarded."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# --------------------------------------------------------------------------
# Peers (run as: harness.py peer KIND --port N ...)
# --------------------------------------------------------------------------

def peer_modbus(port, args):
    import logging
    logging.basicConfig(level=logging.WARNING)
    # It logs every closed client connection (port probes too) as an error.
    logging.getLogger("pymodbus.server.async_io").setLevel(logging.CRITICAL)
    from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                    ModbusSlaveContext)
    from pymodbus.server import StartAsyncTcpServer

    slaves = {}
    for unit in MODBUS_UNITS:
        block = ModbusSequentialDataBlock(0, [register_value(unit, a) for a in range(MODBUS_REGISTERS)])
        slaves[unit] = ModbusSlaveContext(hr=block, zero_mode=True)
    context = ModbusServerContext(slaves=slaves, single=False)
    asyncio.run(StartAsyncTcpServer(context=context, address=(HOST, port), allow_reuse_address=True))


def _modbus_answer(adu):
    tid, _, _, unit = struct.unpack(">HHHB", adu[:7])
    fc = adu[7]
    if fc == 3 and len(adu) >= 12:
        address, count = struct.unpack(">HH", adu[8:12])
        values = [register_value(unit, address + i) for i in range(count)]
        pdu = struct.pack(f">BB{count}H", 3, 2 * count, *values)
    else:
        pdu = bytes([fc | 0x80, 0x01])  # illegal function
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def peer_slowmodbus(port, args):
    """Modbus/TCP server answering Read Holding Registers after a delay, one
    request at a time per connection (like a slow device). --delay seconds
    for every request; --slow-from ADDRESS: only requests from that address
    on are slow, the others are answered at once; --close-after-reply 1:
    closes the connection after each reply (as some devices do).

    It reads ahead while it works, so it sees how a client pipelines, and
    reports on stderr (one line each, for the tests to read):
      STAT connections=N        concurrent connections, whenever it changes
      STAT outstanding=N        most requests received and not yet answered
                                on one connection, whenever a new maximum
      STAT duplicate-tid=T      two outstanding requests on one connection
                                carried the same transaction id"""
    delay = float(args.get("delay", "0.5"))
    slow_from = int(args.get("slow-from", "0"))
    close_after_reply = args.get("close-after-reply", "0") == "1"
    state = {"connections": 0, "outstanding": 0}

    def stat(text):
        sys.stderr.write(f"STAT {text}\n")
        sys.stderr.flush()

    async def handle(reader, writer):
        state["connections"] += 1
        stat(f"connections={state['connections']}")
        pending = asyncio.Queue()
        outstanding = []  # transaction ids received, not yet answered

        async def work():
            while True:
                adu = await pending.get()
                address = struct.unpack(">H", adu[8:10])[0] if len(adu) >= 10 else 0
                if address >= slow_from:
                    await asyncio.sleep(delay)
                writer.write(_modbus_answer(adu))
                outstanding.remove(adu[:2])
                await writer.drain()
                if close_after_reply:
                    writer.close()
                    return

        worker = asyncio.ensure_future(work())
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
                while (n := mb_frame_length(buf)) is not None and len(buf) >= n:
                    adu, buf = buf[:n], buf[n:]
                    if adu[:2] in outstanding:
                        stat(f"duplicate-tid={struct.unpack('>H', adu[:2])[0]}")
                    outstanding.append(adu[:2])
                    if len(outstanding) > state["outstanding"]:
                        state["outstanding"] = len(outstanding)
                        stat(f"outstanding={len(outstanding)}")
                    pending.put_nowait(adu)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            worker.cancel()
            state["connections"] -= 1
            stat(f"connections={state['connections']}")
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, port, reuse_address=True)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def peer_stats(process, name):
    """Largest value a peer reported as STAT name=N (0 if none)."""
    values = [int(line.split("=", 1)[1]) for line in process.stderr_text().splitlines()
              if line.startswith(f"STAT {name}=")]
    return max(values, default=0)


def frame_split(framing, buf):
    """Length of the first complete frame in buf, or None."""
    if framing == "line":
        i = buf.find(b"\n")
        return None if i < 0 else i + 1
    if framing == "iso8583":
        if len(buf) < 2:
            return None
        n = 2 + struct.unpack(">H", buf[:2])[0]
        return n if len(buf) >= n else None
    if framing == "mpu":
        if len(buf) < 4:
            return None
        n = 4 + int(buf[:4].decode("ascii"))
        return n if len(buf) >= n else None
    raise ValueError(framing)


def peer_echo(port, args):
    """Echoes every complete frame back, whole, in one write, in order. A
    frame containing b"slow" is echoed after --slow-delay seconds (0.8)."""
    framing = args.get("framing", "line")
    slow_delay = float(args.get("slow-delay", "0.8"))

    async def handle(reader, writer):
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
                while (n := frame_split(framing, buf)) is not None:
                    if b"slow" in buf[:n]:
                        await writer.drain()
                        await asyncio.sleep(slow_delay)
                    writer.write(buf[:n])
                    buf = buf[n:]
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, port, reuse_address=True)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def peer_blackhole(port, args):
    """Accepts and reads everything, never answers."""
    async def handle(reader, writer):
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, port, reuse_address=True)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def peer_http(port, args):
    """HTTP/1.1 keep-alive server.
    GET /chunked/...   -> chunked body "chunk0;chunk1;...;path=/chunked/..."
    GET|HEAD /...      -> 200, body "path=<path>"
    POST /...          -> 200, body "post path=<path> body=<request body>"
                          (request body by Content-Length or chunked)
    GET /slow...       -> as GET /..., after 0.8 s
    GET /eof-body...   -> 200 without length, "Connection: close", body
                          "until-eof path=<path>" ended by closing the connection
    Every response carries X-Path: <path>."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: with Nagle's algorithm
        # every response would wait for a delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):
            sys.stderr.write("http peer: " + (fmt % a) + "\n")

        def _simple(self, body, send_body=True):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Path", self.path)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/slow"):
                time.sleep(0.8)
            if self.path.startswith("/eof-body"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(f"until-eof path={self.path}".encode())
                self.close_connection = True
                return
            if self.path.startswith("/chunked/"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("X-Path", self.path)
                self.end_headers()
                parts = [f"chunk{i};".encode() for i in range(5)] + [f"path={self.path}".encode()]
                for part in parts:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            self._simple(f"path={self.path}".encode())

        def do_HEAD(self):
            self._simple(f"path={self.path}".encode(), send_body=False)

        def do_POST(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    body += self.rfile.read(size)
                    self.rfile.readline()
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._simple(b"post path=" + self.path.encode() + b" body=" + body)

    class Server(ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    Server((HOST, port), Handler).serve_forever()


PEERS = {
    "modbus": peer_modbus,
    "slowmodbus": peer_slowmodbus,
    "echo": peer_echo,
    "blackhole": peer_blackhole,
    "http": peer_http,
}


def _peer_main(argv):
    kind, rest = argv[0], argv[1:]
    opts = {}
    while rest:
        key, value, rest = rest[0], rest[1], rest[2:]
        opts[key.lstrip("-")] = value
    port = int(opts.pop("port"))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        PEERS[kind](port, opts)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "peer":
        _peer_main(sys.argv[2:])
    else:
        sys.exit("usage: harness.py peer KIND --port N [--option value]...")


def config_text(sections):
    """An INI file from {"section": {"key": value}}, in order."""
    out = []
    for name, keys in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in keys.items()]
        out.append("")
    return "\n".join(out)


def http_get(port, path, timeout=5.0):
    """GET http://127.0.0.1:port/path: (status, body as text)."""
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def get_metrics(port):
    """{'name{labels}': value} from the Prometheus text at /metrics."""
    status, body = http_get(port, "/metrics")
    if status != 200:
        raise AssertionError(f"/metrics answered {status}: {body[:200]}")
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out
