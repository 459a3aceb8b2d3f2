"""Talk to a tty the way a terminal program (minicom, picocom) does.

For the black-box tests of the virtual modem: open its tty (a pty slave behind
a symlink) like a terminal program would, which to the modem is DTR going up,
type AT commands and read what comes back; closing it drops DTR.

    with Terminal("/tmp/vmodem/tty0") as t:
        assert t.command("AT").endswith(b"OK\\r\\n")
        t.write(b"ATDT 127.0.0.1:2323\\r")
        t.read_until(b"CONNECT", timeout=10)

Every read is bounded by a timeout; bytes that arrive beyond what a read
returns stay buffered for the next one. Standard library only; run with
/usr/bin/python3.
"""
import errno
import os
import re
import select
import termios
import time

DEFAULT_TIMEOUT = 5.0

# A final result code on a line of its own, as a modem in verbose mode (V1)
# sends it: "\r\nOK\r\n". Informational lines and the command echo never match.
FINAL_RESULT = re.compile(
    rb"(?:^|(?<=[\r\n]))(?:OK|ERROR|CONNECT[^\r\n]*|NO CARRIER|BUSY|NO ANSWER|NO DIALTONE)\r\n")
# The same for numeric result codes (V0): "0\r" OK, "1\r" CONNECT, "3\r" NO
# CARRIER, "4\r" ERROR, "6\r" NO DIALTONE, "7\r" BUSY, "8\r" NO ANSWER, or an
# extended CONNECT code (e.g. "10\r", "12\r").
NUMERIC_FINAL_RESULT = re.compile(rb"(?:^|(?<=[\r\n]))[0-9]{1,3}\r")


class Hangup(EOFError):
    """The other side of the tty went away (EIO or end of file on read).

    `data` holds what had been read before.
    """

    def __init__(self, message, data=b""):
        super().__init__(message)
        self.data = data


class ReadTimeout(TimeoutError):
    """A read did not complete in time. `data` holds what was read meanwhile.

    A TimeoutError, so `except TimeoutError` catches it.
    """

    def __init__(self, message, data=b""):
        super().__init__(message)
        self.data = data


def make_raw(fd, speed=None):
    """Put the tty on fd in raw 8-bit mode, as cfmakeraw(3) plus CLOCAL|CREAD.

    No echo, no line editing, no CR/LF translation, no flow control, no
    signals; read returns as soon as one byte is there (VMIN=1, VTIME=0).
    speed, if given, is a baud rate such as 9600 (ignored by a pty).
    """
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
               | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    # CLOCAL: never wait for carrier, never be hung up by a modem-control line.
    cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    if speed is not None:
        ispeed = ospeed = getattr(termios, f"B{int(speed)}")
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


class Terminal:
    """One open tty, set raw, as a terminal program holds it.

    Opened O_RDWR|O_NOCTTY|O_NONBLOCK (the tty never becomes our controlling
    terminal, and the open does not wait for carrier). timeout is the default
    for every method that takes one. Use as a context manager, or call close().
    """

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, speed=None):
        """Open path (a tty or a symlink to one) and set it raw (see make_raw)."""
        self.path = path
        self.timeout = timeout
        self._buffer = bytearray()
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            make_raw(self._fd, speed)
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def __enter__(self):
        """The terminal itself."""
        return self

    def __exit__(self, *exc):
        """Close the terminal (DTR down, to a modem)."""
        self.close()
        return False

    def __repr__(self):
        return f"Terminal({self.path!r}, fd={self._fd})"

    @property
    def closed(self):
        """True once close() was called."""
        return self._fd < 0

    def fileno(self):
        """The tty file descriptor (for select or termios calls of a test's own)."""
        return self._fd

    def close(self):
        """Close the tty. Unread buffered bytes are dropped. Safe to call twice."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
        self._buffer.clear()

    def write(self, data, timeout=None):
        """Write all of data (bytes, or str encoded as latin-1) to the tty.

        Waits for room while the tty's buffer is full; raises TimeoutError if
        not everything could be written in time, Hangup if the other side is gone.
        """
        if isinstance(data, str):
            data = data.encode("latin-1")
        view = memoryview(data)
        deadline = self._deadline(timeout)
        while view:
            try:
                n = os.write(self._fd, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno == errno.EIO:
                    raise Hangup(f"{self.path}: hung up while writing") from e
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.path}: {len(view)} of {len(data)} bytes not written in time")
            select.select([], [self._fd], [], left)

    def read_until(self, pattern, timeout=None):
        """Read up to and including pattern (bytes, or a compiled bytes regex).

        Returns everything before the pattern plus the pattern; later bytes
        stay buffered. Raises ReadTimeout (a TimeoutError) carrying what was
        read so far, or Hangup if the other side goes away first.
        """
        if isinstance(pattern, str):
            pattern = pattern.encode("latin-1")
        deadline = self._deadline(timeout)
        while True:
            end = self._find(pattern)
            if end is not None:
                return self._take(end)
            if not self._fill(deadline):
                data = self._take(len(self._buffer))
                raise ReadTimeout(f"{self.path}: no {self._describe(pattern)} within "
                                  f"{self._timeout(timeout)} s; read {data!r}", data)

    def read_exactly(self, n, timeout=None):
        """Read exactly n bytes. Raises ReadTimeout (with the bytes read) if fewer come in time."""
        deadline = self._deadline(timeout)
        while len(self._buffer) < n:
            if not self._fill(deadline):
                data = self._take(len(self._buffer))
                raise ReadTimeout(f"{self.path}: {len(data)} of {n} bytes within "
                                  f"{self._timeout(timeout)} s: {data!r}", data)
        return self._take(n)

    def read_for(self, seconds):
        """Everything that arrives within seconds (plus anything already buffered).

        A hangup ends the wait early and returns what was read.
        """
        deadline = time.monotonic() + seconds
        try:
            while self._fill(deadline):
                pass
        except Hangup as e:
            self._buffer[:0] = e.data
        return self._take(len(self._buffer))

    def expect_quiet(self, seconds):
        """Assert that nothing arrives for seconds (nothing buffered either).

        Raises AssertionError naming the bytes that did arrive.
        """
        data = self.read_for(seconds)
        if data:
            raise AssertionError(f"{self.path}: expected silence for {seconds} s, got {data!r}")

    def command(self, text, timeout=None, final=FINAL_RESULT):
        """Type text and CR (as a user pressing Enter) and wait for the final result line.

        Returns the whole response: the modem's echo of the command (if echo
        is on), any informational lines, and the final result line (OK, ERROR,
        CONNECT..., NO CARRIER, BUSY, NO ANSWER or NO DIALTONE) with its CR LF.
        Bytes after it (data following CONNECT) stay buffered. For numeric
        result codes (ATV0) pass final=NUMERIC_FINAL_RESULT. Raises ReadTimeout
        with the partial response if no result line comes in time.
        """
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        self.write(text + "\r", timeout)
        return self.read_until(final, timeout)

    def drain(self):
        """Drop whatever has arrived and is buffered; returns it (no waiting)."""
        self._fill(time.monotonic())
        return self._take(len(self._buffer))

    # Internals.

    def _timeout(self, timeout):
        return self.timeout if timeout is None else timeout

    def _deadline(self, timeout):
        return time.monotonic() + self._timeout(timeout)

    def _find(self, pattern):
        """End offset of the first match in the buffer, or None."""
        if isinstance(pattern, re.Pattern):
            m = pattern.search(self._buffer)
            return m.end() if m else None
        i = self._buffer.find(pattern)
        return i + len(pattern) if i >= 0 else None

    @staticmethod
    def _describe(pattern):
        return repr(pattern.pattern if isinstance(pattern, re.Pattern) else pattern)

    def _take(self, n):
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _fill(self, deadline):
        """Wait until deadline for bytes and buffer them; False if none came.

        Reads whatever is there even when the deadline has passed. Raises
        Hangup (carrying and emptying the buffer) on EIO or end of file.
        """
        if self._fd < 0:
            raise ValueError(f"{self.path}: terminal is closed")
        while True:
            left = max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self._fd], [], [], left)
            if not readable:
                return False
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                if left <= 0:
                    return False
                continue
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                data = self._take(len(self._buffer))
                raise Hangup(f"{self.path}: the other side hung up; read {data!r}", data)
            self._buffer += chunk
            return True


