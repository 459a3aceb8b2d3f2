"""A real terminal-program workload over two vmodemd modems: tty0 dials the
daemon's own call port, tty1 auto-answers, and Debian's lrzsz moves a 2 MiB
random file from `sz` on tty0 to `rz` on tty1 with ZMODEM. The file must
arrive byte for byte (sha256).

Needs lrzsz (scripts/setup installs it); skipped without it."""
import hashlib
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import modem_harness as mh  # noqa: E402
from modem_harness import HOST  # noqa: E402

SIZE = 2 << 20
TIMEOUT = 60.0


def sha256_file(path):
    d = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            d.update(block)
    return d.hexdigest()


class Zmodem(mh.ModemTestCase):
    def setUp(self):
        super().setUp()
        self.sz, self.rz = shutil.which("sz"), shutil.which("rz")
        if not (self.sz and self.rz):
            self.skipTest("lrzsz (sz, rz) is not installed")

    def spawn(self, name, argv, tty_path, cwd):
        """Runs argv with stdin and stdout on a fresh blocking fd of the tty,
        as a terminal program runs its transfer helper."""
        fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY)
        err = open(os.path.join(cwd, f"{name}.stderr"), "wb")
        try:
            p = subprocess.Popen(argv, stdin=fd, stdout=fd, stderr=err, cwd=cwd, start_new_session=True)
        finally:
            os.close(fd)
            err.close()
        self.addCleanup(self._reap, p)
        return p

    @staticmethod
    def exits_within(p, seconds):
        try:
            p.wait(seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    @staticmethod
    def _reap(p):
        if p.poll() is None:
            p.kill()
            p.wait(5)

    def test_sz_to_rz_2mib(self):
        # A 1 s guard time (the Hayes default): ZMODEM never pauses that long
        # around a "+++" in the middle of its data.
        d = self.start_vmodemd(2, "-G", "1s")
        caller = self.open_tty(d.tty(0))
        callee = self.open_tty(d.tty(1))
        self.assertEqual(callee.command("ATS0=1"), b"ATS0=1\r\r\nOK\r\n")
        out = caller.command(f"ATD{HOST}:{d.port}", timeout=5)
        self.assertEqual(out, f"ATD{HOST}:{d.port}\r\r\nCONNECT 115200\r\n".encode(), "tty0 dials")
        self.assertEqual(callee.read_until(mh.CONNECT, timeout=3), b"\r\nRING\r\n\r\nCONNECT 115200\r\n",
                         "tty1 answers")
        caller.expect_quiet(0.1)
        callee.expect_quiet(0.1)

        work = self.new_dir("zmodem")
        send_dir, recv_dir = os.path.join(work, "send"), os.path.join(work, "recv")
        os.makedirs(send_dir)
        os.makedirs(recv_dir)
        src = os.path.join(send_dir, "payload.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(SIZE))

        t0 = time.monotonic()
        # Receiver first, so the sender's ZRQINIT finds it listening.
        rz = self.spawn("rz", [self.rz, "-b", "-q", "-y"], d.tty(1), recv_dir)
        sz = self.spawn("sz", [self.sz, "-b", "-q", src], d.tty(0), send_dir)
        failures = []
        for name, p in (("sz", sz), ("rz", rz)):
            if name == "rz" and not self.exits_within(rz, 1.0):
                # sz ends the session with "OO" and exits at once, and its
                # exit tcflush(TCIOFLUSH) on a pty discards the "OO" if the
                # reader of the master has not taken it yet (it happens with a
                # plain Python relay between two ptys too). rz then waits
                # 3 x 10 s for it. Type the "OO" for sz, as the user would.
                caller.write(b"OO")
            left = max(0.1, TIMEOUT - (time.monotonic() - t0))
            try:
                rc = p.wait(left)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
                rc = "killed after the time limit"
            if rc != 0:
                with open(os.path.join(send_dir if name == "sz" else recv_dir, f"{name}.stderr"), "rb") as f:
                    failures.append(f"{name}: exit {rc}; stderr: {f.read()[-2000:]!r}")
        elapsed = time.monotonic() - t0
        self.assertEqual(failures, [], f"ZMODEM transfer failed after {elapsed:.1f}s")

        dst = os.path.join(recv_dir, "payload.bin")
        self.assertTrue(os.path.exists(dst), f"rz wrote no payload.bin (dir: {os.listdir(recv_dir)})")
        self.assertEqual(os.path.getsize(dst), SIZE, "received size")
        self.assertEqual(sha256_file(dst), sha256_file(src), "received file differs")
        sys.stderr.write(f"\n  2 MiB by ZMODEM in {elapsed:.1f}s\n")

        # The call is still up: both terminals still talk to each other.
        caller.read_for(0.2)
        callee.read_for(0.2)
        caller.write(b"done?")
        self.assertEqual(callee.read_until(b"done?", timeout=5)[-5:], b"done?")
        self.stop_vmodemd(d)


if __name__ == "__main__":
    h.main()
