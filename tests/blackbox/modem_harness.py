"""Helpers for the vmodemd black-box tests (test_modem*.py).

The tests start the real `vmodemd` binary (path in env VMODEMD) and use its
modems the way a user does: a terminal program opens DIR/ttyN (a pty) in raw
mode and types AT commands; the remote ends of calls are plain sockets on
127.0.0.1 owned by the test. This module holds:

- Terminal: terminal.Terminal (a tty opened like minicom opens a serial port, raw
  8 bits, reads bounded by a timeout) that also counts the bytes either way,
  which the daemon's metrics must match;
- Peer: a TCP server on 127.0.0.1 for a modem to dial;
- ModemTestCase: BlackboxTestCase plus start_vmodemd / open_tty / call
  helpers; a failing test prints the daemon's log (run with -v).

Only the standard library; run with /usr/bin/python3.
"""
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

import terminal as _tty  # noqa: E402

HOST = h.HOST

# Short timings keep the suite fast; the tests derive their waits from these.
GUARD = 0.2            # -G 200ms: S12 = 10
RING_INTERVAL = 0.3    # --ring-interval 300ms

FINAL_RESULT = _tty.FINAL_RESULT
CONNECT = re.compile(rb"\r\nCONNECT(?: \d+)?\r\n")


def vmodemd_path():
    return h.binary_path("VMODEMD")


def run_vmodemd(args, timeout=10.0):
    """Run `vmodemd ARGS` to completion (bad options): (exit code, stdout, stderr)."""
    r = subprocess.run([vmodemd_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def listening(port):
    """True if some socket LISTENs on port. Read from /proc rather than by
    connecting: a probe on vmodemd's call port would be an incoming call."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _show(data, limit=300):
    return repr(bytes(data[:limit])) + ("..." if len(data) > limit else "")


# --------------------------------------------------------------------------
# Terminal side
# --------------------------------------------------------------------------

class Terminal(_tty.Terminal):
    """terminal.Terminal (a tty opened as minicom opens a modem port: O_NOCTTY,
    raw 8 bits) that also counts the bytes it wrote and read, for the
    metrics to match: `written` and `received`."""

    def __init__(self, path, timeout=5.0):
        super().__init__(path, timeout)
        self.written = 0
        self.received = 0

    def _got(self, data):
        self.received += len(data)
        return data

    def write(self, data, timeout=None):
        if isinstance(data, str):
            data = data.encode("latin-1")
        super().write(data, timeout)
        self.written += len(data)

    def read_until(self, pattern, timeout=None):
        return self._got(super().read_until(pattern, timeout))

    def read_exactly(self, n, timeout=None):
        return self._got(super().read_exactly(n, timeout))

    def read_for(self, seconds):
        return self._got(super().read_for(seconds))

    def drain(self):
        return self._got(super().drain())

    def expect_quiet(self, seconds, what="silence"):
        got = self.read_for(seconds)
        if got:
            raise AssertionError(f"{self.path}: expected {what} for {seconds} s, got {_show(got)}")


# --------------------------------------------------------------------------
# Remote side
# --------------------------------------------------------------------------

class Peer:
    """A TCP server on 127.0.0.1 for a modem to dial. Connections are
    accepted in a thread and handed out by accept()."""

    def __init__(self, backlog=8):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.conns = queue.Queue()
        self._all = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._closed:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._all.append(s)
            self.conns.put(s)

    def accept(self, timeout=5.0):
        try:
            return self.conns.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no connection to the peer on port {self.port} within {timeout}s") from None

    def close(self):
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for s in self._all:
            try:
                s.close()
            except OSError:
                pass


def recv_until(sock, pattern, timeout=5.0):
    """Bytes from sock up to and including pattern (bytes)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while pattern not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {pattern!r} from the socket within {timeout}s; got {_show(buf)}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise AssertionError(f"socket closed before {pattern!r}; got {_show(buf)}")
        buf += chunk
    return buf


def recv_all_until_eof(sock, timeout=5.0):
    """Everything until the peer closes; AssertionError if it stays open."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"connection still open after {timeout}s; got {_show(buf)}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return buf
        if not chunk:
            return buf
        buf += chunk


def recv_exactly(sock, n, timeout):
    sock.settimeout(timeout)
    try:
        return h.recv_exactly(sock, n)
    except socket.timeout:
        raise AssertionError(f"fewer than {n} bytes from the socket within {timeout}s") from None


def call_in(port, timeout=5.0):
    """An incoming call: a TCP connection to vmodemd's listener."""
    return h.connect(port, timeout)


def in_thread(fn, *args):
    """Runs fn(*args) in a thread; join() returns its result or raises its exception."""
    result = {}

    def run():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the joining test
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=60.0):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError(f"{getattr(fn, '__name__', fn)} still running after {timeout}s")
        if "error" in result:
            raise result["error"]
        return result.get("value")
    return join


# --------------------------------------------------------------------------
# Test case base
# --------------------------------------------------------------------------

class Daemon:
    """A running vmodemd: .proc (harness Process), .port (calls), .mport
    (metrics or None), .tty_dir, tty(i)."""

    def __init__(self, proc, port, mport, tty_dir, count, first=0):
        self.proc, self.port, self.mport, self.tty_dir = proc, port, mport, tty_dir
        self.count, self.first = count, first

    def tty(self, i=0):
        return os.path.join(self.tty_dir, f"tty{self.first + i}")

    def links(self):
        return sorted(n for n in os.listdir(self.tty_dir) if n.startswith("tty")) \
            if os.path.isdir(self.tty_dir) else []


class ModemTestCase(h.BlackboxTestCase):
    """BlackboxTestCase with a vmodemd, ttys and peers that are all closed
    after the test whatever happens."""

    def new_dir(self, name="vmodem"):
        d = os.path.join(h.tmpdir(), f"{self.id().rsplit('.', 1)[-1]}-{name}-{time.monotonic_ns()}")
        os.makedirs(d)
        return d

    def start_vmodemd(self, n=1, *extra, listen=True, metrics=False, tty_dir=None, fast=True,
                      argv=None, count=None, wait=True):
        """vmodemd -n N -a 127.0.0.1:PORT -t DIR [-G 200ms --ring-interval 300ms] -v EXTRA...
        Waits until every link exists and the listeners listen. argv replaces
        the generated command line (then give count, the number of modems)."""
        tty_dir = tty_dir or os.path.join(self.new_dir(), "ttys")
        port = h.free_port() if listen else None
        mport = h.free_port() if metrics else None
        if argv is None:
            argv = ["-n", n, "-t", tty_dir, "-v"]
            argv += ["-a", f"{HOST}:{port}"] if listen else ["-X"]
            if fast:  # unless EXTRA sets them
                if not {"-G", "--guard-time"} & set(map(str, extra)):
                    argv += ["-G", f"{int(GUARD * 1000)}ms"]
                if "--ring-interval" not in map(str, extra):
                    argv += ["--ring-interval", f"{int(RING_INTERVAL * 1000)}ms"]
            if metrics:
                argv += ["-m", f"{HOST}:{mport}"]
            argv += list(extra)
            count = n
        p = self._track(h.Process("vmodemd", [vmodemd_path()] + [str(a) for a in argv]))
        d = Daemon(p, port, mport, tty_dir, count)
        if wait:
            self.wait_ready(d)
        return d

    def wait_ready(self, d, timeout=10.0):
        def ready():
            if not d.proc.alive():
                raise AssertionError(f"vmodemd exited with {d.proc.returncode} at start-up: "
                                     f"{d.proc.stderr_text()[-2000:]}")
            if d.count and not all(os.path.islink(d.tty(i)) for i in range(d.count)):
                return False
            if d.port and not listening(d.port):
                return False
            if d.mport and not listening(d.mport):
                return False
            return True
        h.wait_until(ready, timeout, what="vmodemd's links and listeners")

    def open_tty(self, path, sync=True):
        """Opens the tty; with sync, types AT and waits for OK, so that the modem has
        seen DTR (it polls a closed tty every 50 ms) before the test goes on."""
        t = Terminal(path)
        self.addCleanup(t.close)
        if sync:
            out = t.command("AT")
            self.assertEqual(out, b"AT\r\r\nOK\r\n", f"first AT on {path}")
        return t

    def peer(self, backlog=8):
        p = Peer(backlog)
        self.addCleanup(p.close)
        return p

    def dial(self, term, peer, number=None, expect=b"\r\nCONNECT 115200\r\n", timeout=5.0):
        """ATD to the peer; returns the peer's end of the call."""
        number = number or f"{HOST}:{peer.port}"
        out = term.command(f"ATD{number}", timeout)
        self.assertEqual(out, f"ATD{number}\r".encode() + expect, f"ATD{number}")
        return self.track_socket(peer.accept())

    def track_socket(self, s):
        self.addCleanup(s.close)
        return s

    def escape(self, term):
        """+++ between two guard times; returns the seconds from the last '+'
        to the OK."""
        time.sleep(GUARD * 2)
        term.write(b"+++")
        t0 = time.monotonic()
        out = term.read_until(b"\r\nOK\r\n", timeout=GUARD * 10 + 2)
        elapsed = time.monotonic() - t0
        self.assertEqual(out, b"\r\nOK\r\n", "+++ escape: the OK must come alone")
        return elapsed

    def stop_vmodemd(self, d, timeout=10.0):
        self.stop_gracefully(d.proc, timeout=timeout)
