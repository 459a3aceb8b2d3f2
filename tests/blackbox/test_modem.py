"""vmodemd as a terminal user and the far end of a call meet it: AT commands
typed on the pty, calls out to a TCP peer and in from a TCP caller, the +++
escape, hang-ups from either side, the tty closed mid-call, number
translation, the metrics page, the command line and --config, SIGTERM.

Every test starts its own daemon (-G 200ms, --ring-interval 300ms) with its
ttys in a temp dir, on 127.0.0.1 ports from free_port()."""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import modem_harness as mh  # noqa: E402
from modem_harness import GUARD, HOST, RING_INTERVAL  # noqa: E402

OK = b"\r\nOK\r\n"
CONNECT = b"\r\nCONNECT 115200\r\n"
NO_CARRIER = b"\r\nNO CARRIER\r\n"
RING = b"\r\nRING\r\n"


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Command mode
# --------------------------------------------------------------------------

class AtCommands(mh.ModemTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_vmodemd(1)
        self.t = self.open_tty(self.d.tty(0))

    def test_at_echo_and_case(self):
        t = self.t
        self.assertEqual(t.command("AT"), b"AT\r\r\nOK\r\n")
        self.assertEqual(t.command("at"), b"at\r\r\nOK\r\n")
        self.assertEqual(t.command("AT E1 Q0 V1 X4"), b"AT E1 Q0 V1 X4\r\r\nOK\r\n")

    def test_echo_off_and_on(self):
        t = self.t
        self.assertEqual(t.command("ATE0"), b"ATE0\r" + OK, "the line that turns echo off is still echoed")
        self.assertEqual(t.command("AT"), OK, "E0: no echo")
        self.assertEqual(t.command("ATE1"), OK)
        self.assertEqual(t.command("AT"), b"AT\r" + OK, "E1: echo again")

    def test_information(self):
        t = self.t
        out = t.command("ATI")
        self.assertRegex(out, re.compile(rb"\AATI\r\r\n[^\r\n]+\r\n\r\nOK\r\n\Z"), "ATI: one information line")
        out = t.command("ATI3")
        self.assertIn(b"Switchboard", out, "ATI3 names the product")
        self.assertTrue(out.endswith(OK), out)

    def test_s_registers(self):
        t = self.t
        self.assertEqual(t.command("ATS0?"), b"ATS0?\r\r\n000\r\n" + OK)
        self.assertEqual(t.command("ATS0=3"), b"ATS0=3\r" + OK)
        self.assertEqual(t.command("ATS0?"), b"ATS0?\r\r\n003\r\n" + OK)
        self.assertEqual(t.command("ATS12?"), b"ATS12?\r\r\n010\r\n" + OK, "-G 200ms is S12=10 (20 ms units)")
        # A/ repeats the last line, without a CR.
        t.write(b"A/")
        self.assertEqual(t.read_until(mh.FINAL_RESULT), b"A/\r\n010\r\n" + OK)
        self.assertEqual(t.command("ATZ"), b"ATZ\r" + OK)
        self.assertEqual(t.command("ATS0?"), b"ATS0?\r\r\n000\r\n" + OK, "ATZ resets S0")
        self.assertEqual(t.command("ATS12?"), b"ATS12?\r\r\n010\r\n" + OK,
                         "ATZ restores the configured guard time")

    def test_settings_page(self):
        out = self.t.command("AT&V")
        self.assertTrue(out.startswith(b"AT&V\r"), out)
        self.assertTrue(out.endswith(OK), out)
        for part in (b"E1", b"V1", b"S00:000", b"S12:010"):
            self.assertIn(part, out, f"AT&V shows {part!r}")

    def test_unknown_command_is_error(self):
        t = self.t
        self.assertEqual(t.command("AT+XYZZY"), b"AT+XYZZY\r\r\nERROR\r\n")
        self.assertEqual(t.command("ATS0=999"), b"ATS0=999\r\r\nERROR\r\n", "register values stop at 255")
        self.assertEqual(t.command("AT"), b"AT\r" + OK, "the modem still works after an ERROR")

    def test_numeric_and_quiet_results(self):
        t = self.t
        t.write(b"ATV0\r")
        self.assertEqual(t.read_for(0.3), b"ATV0\r0\r", "V0: numeric result 0 + CR")
        t.write(b"ATV1Q1\r")
        self.assertEqual(t.read_for(0.3), b"ATV1Q1\r", "Q1: no result")
        self.assertEqual(t.command("ATQ0"), b"ATQ0\r" + OK)


# --------------------------------------------------------------------------
# Outgoing calls
# --------------------------------------------------------------------------

class OutgoingCalls(mh.ModemTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_vmodemd(1)
        self.t = self.open_tty(self.d.tty(0))
        self.peer = self.peer()

    def test_all_byte_values_both_ways(self):
        t = self.t
        s = self.dial(t, self.peer)
        every = bytes(range(256))
        t.write(every)
        self.assertEqual(mh.recv_exactly(s, 256, 5), every, "tty -> remote, 8-bit clean")
        s.sendall(every)
        self.assertEqual(t.read_exactly(256), every, "remote -> tty, 8-bit clean")
        # And again in the other order, so that no byte value is special
        # right after the call starts or after a pause.
        s.sendall(every[::-1])
        self.assertEqual(t.read_exactly(256), every[::-1])
        t.write(every[::-1])
        self.assertEqual(mh.recv_exactly(s, 256, 5), every[::-1])
        t.expect_quiet(0.2, "no extra bytes on the tty")

    def test_one_mebibyte_each_way_at_once(self):
        t = self.t
        # A 1 s guard time: bulk data never pauses that long, so random
        # "+++" in it cannot be taken for an escape.
        self.assertEqual(t.command("ATS12=50"), b"ATS12=50\r" + OK)
        s = self.dial(t, self.peer)
        size = 1 << 20
        up, down = os.urandom(size), os.urandom(size)
        got_up = mh.in_thread(mh.recv_exactly, s, size, 60)
        send_down = mh.in_thread(s.sendall, down)
        send_up = mh.in_thread(t.write, up, 60)
        got_down = t.read_exactly(size, timeout=60)
        send_up(60)
        send_down(60)
        received_up = got_up(60)
        self.assertEqual(len(received_up), size)
        self.assertTrue(received_up == up, "tty -> remote: 1 MiB differs (sha256 "
                        f"{hashlib.sha256(received_up).hexdigest()[:16]} vs {hashlib.sha256(up).hexdigest()[:16]})")
        self.assertTrue(got_down == down, "remote -> tty: 1 MiB differs")
        t.expect_quiet(0.2, "nothing after the data")

    def test_dial_forms(self):
        t = self.t
        for number in (f"T{HOST}:{self.peer.port}", f"P{HOST}:{self.peer.port}",
                       f"*127*0*0*1*{self.peer.port}", f"T*127*0*0*1*{self.peer.port}"):
            s = self.dial(t, self.peer, number)
            s.sendall(number.encode())
            self.assertEqual(t.read_exactly(len(number)), number.encode(), f"ATD{number}: data")
            s.close()
            self.assertEqual(t.read_until(NO_CARRIER), NO_CARRIER, f"ATD{number}: remote hang-up")

    def test_escape_and_return_online_without_loss(self):
        t = self.t
        s = self.dial(t, self.peer)
        s.sendall(b"before")
        self.assertEqual(t.read_exactly(6), b"before")
        elapsed = self.escape(t)
        self.assertGreaterEqual(elapsed, GUARD * 0.75, "OK came before one guard time of silence after +++")
        self.assertEqual(mh.recv_exactly(s, 3, 5), b"+++", "the '+' bytes go to the remote")
        # While escaped, what the remote sends waits for ATO.
        s.sendall(b"sent while escaped;")
        t.expect_quiet(0.3, "no remote data in command mode")
        self.assertEqual(t.command("ATS0?"), b"ATS0?\r\r\n000\r\n" + OK, "commands work while escaped")
        s.sendall(b"and more")
        time.sleep(0.1)
        self.assertEqual(t.command("ATO"), b"ATO\r" + CONNECT)
        expected = b"sent while escaped;and more"
        self.assertEqual(t.read_exactly(len(expected)), expected, "data sent while escaped, after CONNECT")
        # Back online both ways; nothing typed in command mode reached the remote.
        t.write(b"after ATO")
        self.assertEqual(mh.recv_exactly(s, 9, 5), b"after ATO", "commands typed while escaped leaked to the remote")
        s.sendall(b"still here")
        self.assertEqual(t.read_exactly(10), b"still here")

    def test_plus_without_guard_times_is_data(self):
        t = self.t
        s = self.dial(t, self.peer)
        time.sleep(GUARD * 2)
        t.write(b"x+++")  # no silence before the '+'
        t.expect_quiet(GUARD * 3, "no OK for +++ right after data")
        time.sleep(GUARD * 2)
        t.write(b"+++y")  # no silence after the third '+'
        t.expect_quiet(GUARD * 3, "no OK for +++ followed by data")
        self.assertEqual(mh.recv_exactly(s, 8, 5), b"x+++" + b"+++y")
        s.sendall(b"online")
        self.assertEqual(t.read_exactly(6), b"online", "still in data mode")

    def test_ath_hangs_up(self):
        t = self.t
        s = self.dial(t, self.peer)
        self.escape(t)
        self.assertEqual(t.command("ATH"), b"ATH\r" + OK)
        self.assertTrue(h.connection_closed(s, 3), "the remote did not see the call end after ATH")
        self.assertEqual(t.command("ATO"), b"ATO\r" + NO_CARRIER, "no call to return to")
        self.assertEqual(t.command("AT"), b"AT\r" + OK)
        s2 = self.dial(t, self.peer)  # and the modem dials again
        s2.sendall(b"second call")
        self.assertEqual(t.read_exactly(11), b"second call")

    def test_remote_hangup_is_no_carrier(self):
        t = self.t
        s = self.dial(t, self.peer)
        s.sendall(b"bye")
        s.close()
        self.assertEqual(t.read_until(NO_CARRIER), b"bye" + NO_CARRIER, "last data, then NO CARRIER")
        self.assertEqual(t.command("AT"), b"AT\r" + OK, "command mode after NO CARRIER")
        t.write(b"typed after the call\r")
        self.assertEqual(t.read_for(0.3), b"typed after the call\r", "text without AT: echo only")
        self.assertEqual(t.command("AT"), b"AT\r" + OK)

    def test_remote_hangup_while_escaped(self):
        t = self.t
        s = self.dial(t, self.peer)
        self.escape(t)
        s.close()
        self.assertEqual(t.read_until(NO_CARRIER), NO_CARRIER, "carrier lost while escaped")
        self.assertEqual(t.command("ATO"), b"ATO\r" + NO_CARRIER, "no call to return to")
        self.assertEqual(t.command("AT"), b"AT\r" + OK)

    def test_refused_is_busy(self):
        port = h.free_port()
        self.assertEqual(self.t.command(f"ATD{HOST}:{port}"), f"ATD{HOST}:{port}\r".encode() + b"\r\nBUSY\r\n")
        self.assertEqual(self.t.command("AT"), b"AT\r" + OK)

    def test_no_answer_after_s7(self):
        # A listener whose accept queue is full: the kernel drops the SYN and
        # the connect neither succeeds nor fails.
        full = socket.socket()
        self.addCleanup(full.close)
        full.bind((HOST, 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex((HOST, port))
            fillers.append(f)
            self.addCleanup(f.close)
        time.sleep(0.1)
        t = self.t
        self.assertEqual(t.command("ATS7=1"), b"ATS7=1\r" + OK)
        t0 = time.monotonic()
        out = t.command(f"ATD{HOST}:{port}", timeout=6)
        elapsed = time.monotonic() - t0
        self.assertEqual(out, f"ATD{HOST}:{port}\r".encode() + b"\r\nNO ANSWER\r\n")
        self.assertGreaterEqual(elapsed, 0.8, "NO ANSWER before S7=1 second")
        self.assertEqual(t.command("AT"), b"AT\r" + OK)

    def test_unknown_number_is_no_carrier(self):
        self.assertEqual(self.t.command("ATDT5551234"), b"ATDT5551234\r" + NO_CARRIER,
                         "digits nobody mapped are not a host")


# --------------------------------------------------------------------------
# Incoming calls
# --------------------------------------------------------------------------

class IncomingCalls(mh.ModemTestCase):
    def test_ring_then_ata(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        c = self.track_socket(mh.call_in(d.port))
        t0 = time.monotonic()
        self.assertEqual(t.read_until(RING, timeout=2), RING)
        first = time.monotonic() - t0
        self.assertEqual(t.read_until(RING, timeout=2), RING)
        interval = time.monotonic() - t0 - first
        self.assertLess(first, RING_INTERVAL, "the first RING comes at once")
        self.assertGreater(interval, RING_INTERVAL * 0.6, "RINGs come every --ring-interval")
        self.assertLess(interval, RING_INTERVAL * 3, "RINGs come every --ring-interval")
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        c.sendall(b"hello modem")
        self.assertEqual(t.read_exactly(11), b"hello modem")
        t.write(b"hello caller \x00\xff+")
        self.assertEqual(mh.recv_exactly(c, 16, 5), b"hello caller \x00\xff+")
        c.close()
        self.assertEqual(t.read_until(NO_CARRIER), NO_CARRIER, "caller hung up")
        self.assertEqual(t.command("AT"), b"AT\r" + OK)

    def test_ath_hangs_up_the_caller(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        c = self.track_socket(mh.call_in(d.port))
        t.read_until(RING, timeout=2)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        self.escape(t)
        self.assertEqual(t.command("ATH0"), b"ATH0\r" + OK)
        self.assertEqual(mh.recv_all_until_eof(c, 3), b"+++", "the caller sees +++ then the hang-up")

    def test_caller_hanging_up_stops_the_ringing(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        c = mh.call_in(d.port)
        self.assertEqual(t.read_until(RING, timeout=2), RING)
        c.close()
        time.sleep(RING_INTERVAL * 0.5)
        t.drain()
        t.expect_quiet(RING_INTERVAL * 2.5)  # no more RINGs once the caller is gone
        self.assertEqual(t.command("ATA"), b"ATA\r" + NO_CARRIER, "nothing left to answer")
        # And the modem takes the next call.
        c2 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t.read_until(RING, timeout=2), RING)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        c2.sendall(b"second")
        self.assertEqual(t.read_exactly(6), b"second")

    def test_auto_answer(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        self.assertEqual(t.command("ATS0=1"), b"ATS0=1\r" + OK)
        c = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t.read_until(mh.CONNECT, timeout=3), RING + CONNECT, "S0=1: answered on the first ring")
        c.sendall(b"\x00auto\xff")
        self.assertEqual(t.read_exactly(6), b"\x00auto\xff")
        t.write(b"answered")
        self.assertEqual(mh.recv_exactly(c, 8, 5), b"answered")

    def test_auto_answer_after_two_rings_sends_answer_chars(self):
        d = self.start_vmodemd(1, "-S", "HELLO\\r\\n")
        t = self.open_tty(d.tty(0))
        self.assertEqual(t.command("ATS0=2"), b"ATS0=2\r" + OK)
        c = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t.read_until(mh.CONNECT, timeout=3), RING + RING + CONNECT)
        self.assertEqual(mh.recv_exactly(c, 7, 5), b"HELLO\r\n", "-S characters go to the caller on answer")
        t.write(b"x")
        self.assertEqual(mh.recv_exactly(c, 1, 5), b"x")

    def test_second_caller_gets_busy(self):
        d = self.start_vmodemd(2)  # tty1 stays closed: that modem takes no call
        t = self.open_tty(d.tty(0))
        c1 = self.track_socket(mh.call_in(d.port))
        t.read_until(RING, timeout=2)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        c2 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(mh.recv_all_until_eof(c2, 3), b"BUSY\r\n", "second caller: BUSY, then closed")
        c1.sendall(b"first call unharmed")
        self.assertEqual(t.read_exactly(19), b"first call unharmed")
        t.expect_quiet(0.2, "no RING for the rejected caller")

    def test_calls_go_to_the_first_open_idle_modem(self):
        d = self.start_vmodemd(3)  # tty0 stays closed
        t1 = self.open_tty(d.tty(1))
        t2 = self.open_tty(d.tty(2))
        c1 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t1.read_until(RING, timeout=2), RING, "first call: tty1 (tty0 is closed)")
        t2.expect_quiet(0.1, "no RING on tty2 while tty1 rings")
        c2 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t2.read_until(RING, timeout=2), RING, "second call: tty2 (tty1 is ringing)")
        self.assertEqual(t1.command("ATA"), b"ATA\r" + CONNECT)
        self.assertEqual(t2.command("ATA"), b"ATA\r" + CONNECT)
        c1.sendall(b"one")
        c2.sendall(b"two")
        self.assertEqual(t1.read_exactly(3), b"one")
        self.assertEqual(t2.read_exactly(3), b"two")
        c3 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(mh.recv_all_until_eof(c3, 3), b"BUSY\r\n", "third call: every open modem is busy")

    def test_tty_closed_while_ringing_drops_the_caller(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        c = self.track_socket(mh.call_in(d.port))
        t.read_until(RING, timeout=2)
        t.close()
        self.assertTrue(h.connection_closed(c, 3), "the caller is still connected after the tty closed")
        t2 = self.open_tty(d.tty(0))
        t2.expect_quiet(RING_INTERVAL * 2, "no RING for the dropped caller")

    def test_closed_tty_takes_no_call(self):
        d = self.start_vmodemd(1)
        c = self.track_socket(mh.call_in(d.port))
        self.assertEqual(mh.recv_all_until_eof(c, 3), b"BUSY\r\n", "no terminal open: BUSY")
        # Once a terminal opens the tty, calls ring.
        t = self.open_tty(d.tty(0))
        self.track_socket(mh.call_in(d.port))
        self.assertEqual(t.read_until(RING, timeout=2), RING)

    def test_unanswered_call_gets_no_answer(self):
        d = self.start_vmodemd(1, "-r", "2")
        t = self.open_tty(d.tty(0))
        c = self.track_socket(mh.call_in(d.port))
        t0 = time.monotonic()
        self.assertEqual(mh.recv_all_until_eof(c, 5), b"NO ANSWER\r\n", "after -r rings: NO ANSWER, then closed")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, RING_INTERVAL * 1.5, "NO ANSWER before the second ring interval ended")
        self.assertEqual(t.read_for(RING_INTERVAL * 2), RING + RING, "exactly -r 2 RINGs, then silence")
        self.assertEqual(t.command("ATA"), b"ATA\r" + NO_CARRIER, "no caller left to answer")
        # The modem takes the next call.
        c2 = self.track_socket(mh.call_in(d.port))
        self.assertEqual(t.read_until(RING, timeout=2), RING)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        c2.sendall(b"ok")
        self.assertEqual(t.read_exactly(2), b"ok")


# --------------------------------------------------------------------------
# The terminal program goes away
# --------------------------------------------------------------------------

class TtyClosed(mh.ModemTestCase):
    def test_tty_closed_mid_call_hangs_up_and_resets(self):
        d = self.start_vmodemd(1)
        peer = self.peer()
        t = self.open_tty(d.tty(0))
        self.assertEqual(t.command("ATS0=2"), b"ATS0=2\r" + OK)
        s = self.dial(t, peer)
        s.sendall(b"x")
        self.assertEqual(t.read_exactly(1), b"x")
        t.close()
        self.assertTrue(h.connection_closed(s, 3), "the remote did not see EOF when the tty was closed")
        t2 = self.open_tty(d.tty(0))  # AT -> OK at once
        self.assertEqual(t2.command("ATS0?"), b"ATS0?\r\r\n000\r\n" + OK, "the reopened modem is reset")
        s2 = self.dial(t2, peer)
        s2.sendall(b"again")
        self.assertEqual(t2.read_exactly(5), b"again")

    def test_incoming_call_ends_when_tty_closes(self):
        d = self.start_vmodemd(1)
        t = self.open_tty(d.tty(0))
        c = self.track_socket(mh.call_in(d.port))
        t.read_until(RING, timeout=2)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        t.close()
        self.assertTrue(h.connection_closed(c, 3), "the caller did not see EOF when the tty was closed")
        t2 = self.open_tty(d.tty(0))
        self.track_socket(mh.call_in(d.port))
        self.assertEqual(t2.read_until(RING, timeout=2), RING, "the reopened modem takes calls")

    def test_reopened_tty_shows_nothing_of_the_old_call(self):
        d = self.start_vmodemd(1)
        peer = self.peer()
        t = self.open_tty(d.tty(0))
        s = self.dial(t, peer)
        # The remote keeps sending while the terminal goes away unread.
        stop = threading.Event()

        def flood():
            try:
                while not stop.is_set():
                    s.sendall(b"OLD CALL DATA " * 64)
                    time.sleep(0.002)
            except OSError:
                pass
        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        time.sleep(0.2)
        t.close()
        closed = h.connection_closed(s, 3)
        stop.set()
        sender.join(3)
        self.assertTrue(closed, "the remote did not see EOF when the tty was closed")
        t2 = mh.Terminal(d.tty(0))
        self.addCleanup(t2.close)
        stale = t2.read_for(0.3)
        self.assertEqual(stale, b"", f"the reopened tty shows {len(stale)} bytes of the old call")
        self.assertEqual(t2.command("AT"), b"AT\r" + OK)


# --------------------------------------------------------------------------
# Number translation
# --------------------------------------------------------------------------

class Translation(mh.ModemTestCase):
    def test_rules_phone_book_and_default_port(self):
        rule_peer, book_peer, default_peer = self.peer(), self.peer(), self.peer()
        book = os.path.join(self.new_dir("book"), "phones")
        with open(book, "w") as f:
            f.write("# number   target\n"
                    f"12-34      {HOST}:{book_peer.port}\n"
                    "\n"
                    f"999        {HOST}:{h.free_port()}   # nobody there\n")
        d = self.start_vmodemd(1, "-T", r"^555(\d+)$->127.0.0.1:$1", "--phone-book", book,
                               "-p", default_peer.port)
        t = self.open_tty(d.tty(0))

        def call(number, peer, tag):
            s = self.dial(t, peer, number)
            s.sendall(tag)
            self.assertEqual(t.read_exactly(len(tag)), tag, f"ATD{number} reached the wrong peer")
            s.close()
            t.read_until(NO_CARRIER)

        call(f"T555{rule_peer.port}", rule_peer, b"rule")
        call("T1234", book_peer, b"book")
        call("T(12) 34", book_peer, b"book, punctuated")
        call(HOST, default_peer, b"default port")
        self.assertEqual(t.command("ATDT999"), b"ATDT999\r\r\nBUSY\r\n", "phone book entry, refused")
        self.assertEqual(t.command("ATDT4321"), b"ATDT4321\r" + NO_CARRIER, "no rule and no entry")


class Telnet(mh.ModemTestCase):
    IAC, DONT, DO, WONT, WILL = 255, 254, 253, 252, 251
    BINARY, ECHO, SGA, TTYPE = 0, 1, 3, 24

    def cmd(self, verb, opt):
        return bytes([self.IAC, verb, opt])

    def test_remote_starting_with_iac_gets_negotiation_and_escaping(self):
        d = self.start_vmodemd(1)
        peer = self.peer()
        t = self.open_tty(d.tty(0))
        s = self.dial(t, peer)
        # A telnet server talks first: it offers to echo and asks for a
        # terminal type (which the modem refuses), then sends text.
        s.sendall(self.cmd(self.WILL, self.ECHO) + self.cmd(self.DO, self.TTYPE) + b"login: ")
        self.assertEqual(t.read_exactly(7), b"login: ", "negotiation bytes are not data")
        answers = mh.recv_exactly(s, 6, 5)
        self.assertEqual(answers, self.cmd(self.DO, self.ECHO) + self.cmd(self.WONT, self.TTYPE))
        # Data with 0xFF both ways: doubled on the wire, single on the tty.
        t.write(b"a\xffb")
        self.assertEqual(mh.recv_exactly(s, 4, 5), b"a\xff\xffb")
        s.sendall(b"c\xff\xffd")
        self.assertEqual(t.read_exactly(3), b"c\xffd")
        # Answering our own answer again would loop: the server repeating
        # WILL ECHO (already agreed) gets no reply.
        s.sendall(self.cmd(self.WILL, self.ECHO) + b"!")
        self.assertEqual(t.read_exactly(1), b"!")
        s.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            s.recv(10)

    def test_telnet_rule_negotiates_from_the_start(self):
        peer = self.peer()
        d = self.start_vmodemd(1, "-T", rf"^7$->telnet://127.0.0.1:{peer.port}")
        t = self.open_tty(d.tty(0))
        s = self.dial(t, peer, "T7")
        offer = mh.recv_exactly(s, 15, 5)
        self.assertEqual(offer, self.cmd(self.WILL, self.BINARY) + self.cmd(self.DO, self.BINARY) +
                         self.cmd(self.WILL, self.SGA) + self.cmd(self.DO, self.SGA) + self.cmd(self.DO, self.ECHO))
        s.sendall(self.cmd(self.DO, self.BINARY) + self.cmd(self.WILL, self.BINARY) + b"ok")
        self.assertEqual(t.read_exactly(2), b"ok")
        t.write(b"\xff")
        self.assertEqual(mh.recv_exactly(s, 2, 5), b"\xff\xff")


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------

class Metrics(mh.ModemTestCase):
    def test_json_counters_reflect_calls(self):
        start_ms = int(time.time() * 1000)
        d = self.start_vmodemd(2, metrics=True)
        peer = self.peer()
        t = self.open_tty(d.tty(0))

        # Outgoing: 1000 bytes up, 2000 down, the remote hangs up.
        s = self.dial(t, peer)
        up1, down1 = os.urandom(1000), os.urandom(2000)
        t.write(up1)
        self.assertEqual(mh.recv_exactly(s, 1000, 5), up1)
        s.sendall(down1)
        self.assertEqual(t.read_exactly(2000), down1)
        status, body = http_get(d.mport, "/")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)[0]["status"], "online", "status during a call")
        s.close()
        t.read_until(NO_CARRIER)

        # Incoming: 300 bytes from the caller, 400 to it, the caller hangs up.
        c = self.track_socket(mh.call_in(d.port))
        t.read_until(RING, timeout=2)
        self.assertEqual(t.command("ATA"), b"ATA\r" + CONNECT)
        down2, up2 = os.urandom(300), os.urandom(400)
        c.sendall(down2)
        self.assertEqual(t.read_exactly(300), down2)
        t.write(up2)
        self.assertEqual(mh.recv_exactly(c, 400, 5), up2)
        c.close()
        t.read_until(NO_CARRIER)
        t.expect_quiet(0.2)
        end_ms = int(time.time() * 1000)

        expected0 = {"modemId": 0, "status": "idle", "numCons": 2, "numInCons": 1, "numOutCons": 1,
                     "connTxBytes": 1400, "connRxBytes": 2300,
                     "ttyRxBytes": t.written, "ttyTxBytes": t.received}
        expected1 = {"modemId": 1, "status": "idle", "numCons": 0, "numInCons": 0, "numOutCons": 0,
                     "connTxBytes": 0, "connRxBytes": 0, "ttyRxBytes": 0, "ttyTxBytes": 0}
        modems = []

        def settled():
            nonlocal modems
            modems = json.loads(http_get(d.mport, "/")[1])
            return len(modems) == 2 and all(
                all(m.get(k) == v for k, v in e.items()) for m, e in zip(modems, (expected0, expected1)))
        try:
            h.wait_until(settled, 2, interval=0.1, what="the metrics")
        except AssertionError:
            pass
        self.assertEqual(len(modems), 2, modems)
        m0, m1 = modems
        for key, value in expected0.items():
            self.assertEqual(m0.get(key), value, f"modem 0 {key} (whole entry: {m0})")
        for key, value in expected1.items():
            self.assertEqual(m1.get(key), value, f"modem 1 {key} (whole entry: {m1})")
        for key in ("lastTtyRxMs", "lastTtyTxMs", "lastAtCmdMs", "lastConnMs"):
            self.assertTrue(start_ms - 1000 <= m0.get(key, 0) <= end_ms + 1000,
                            f"modem 0 {key} = {m0.get(key)} is not a time during the test "
                            f"({start_ms}..{end_ms})")
            self.assertEqual(m1.get(key), 0, f"modem 1 {key}")

        status, body = http_get(d.mport, "/proc")
        self.assertEqual(status, 200)
        self.assertIsInstance(json.loads(body).get("uptime"), int, body)

        status, body = http_get(d.mport, "/metrics")
        self.assertEqual(status, 200)
        samples = {}
        for line in body.splitlines():
            m = re.match(r'(sb_modem_\w+)\{[^}]*modem="(tty\d+)"[^}]*\}\s+(\S+)', line)
            if m:
                samples[(m.group(1), m.group(2))] = float(m.group(3))
        self.assertEqual(samples.get(("sb_modem_calls_out_total", "tty0")), 1, body)
        self.assertEqual(samples.get(("sb_modem_calls_in_total", "tty0")), 1, body)
        self.assertEqual(samples.get(("sb_modem_conn_rx_bytes_total", "tty0")), 2300, body)
        self.assertEqual(samples.get(("sb_modem_tty_open", "tty0")), 1, body)
        self.assertEqual(samples.get(("sb_modem_tty_open", "tty1")), 0, body)


# --------------------------------------------------------------------------
# Process: signals, --config, bad options
# --------------------------------------------------------------------------

class Attach(mh.ModemTestCase):
    def test_serial_port_attached_to_a_modem(self):
        """A retro machine on a serial port (here one end of a socat pty
        pair) reaches a modem through -A, both ways, 8-bit clean."""
        import shutil
        if not shutil.which("socat"):
            self.skipTest("socat not installed (scripts/setup installs it)")
        ports = self.new_dir("serial")
        machine_side, line_side = os.path.join(ports, "machine"), os.path.join(ports, "line")
        socat = self._track(h.Process("socat", ["socat", f"pty,raw,echo=0,link={machine_side}",
                                                f"pty,raw,echo=0,link={line_side}"]))
        h.wait_until(lambda: os.path.exists(machine_side) and os.path.exists(line_side), 5, what="socat ptys")
        tty_dir = os.path.join(self.new_dir(), "ttys")
        d = self.start_vmodemd(1, "-A", f"{line_side}:{tty_dir}/tty0:9600,8,N,1", tty_dir=tty_dir)
        peer = self.peer()
        t = mh.Terminal(machine_side)
        self.addCleanup(t.close)
        out = b""
        for _ in range(50):  # the bridge opens the modem's tty within its retry period
            t.write(b"AT\r")
            try:
                out = t.read_until(OK, timeout=0.2)
                break
            except TimeoutError:
                continue
        self.assertIn(OK, out, "no OK through the attached serial port")
        t.drain()
        s = self.dial(t, peer)
        payload = bytes(range(256))
        t.write(payload)
        self.assertEqual(mh.recv_exactly(s, 256, 5), payload)
        s.sendall(payload)
        self.assertEqual(t.read_exactly(256), payload)
        self.assertTrue(socat.alive())
        self.assertTrue(d.proc.alive())


class Lifecycle(mh.ModemTestCase):
    def test_sigterm_exits_0_and_removes_links(self):
        d = self.start_vmodemd(2)
        peer = self.peer()
        t = self.open_tty(d.tty(0))
        s = self.dial(t, peer)
        self.assertEqual(d.links(), ["tty0", "tty1"])
        self.stop_vmodemd(d)
        self.assertEqual(d.links(), [], "links left behind after SIGTERM")
        self.assertTrue(h.connection_closed(s, 2), "the call was not closed by the shutdown")
        self.assertFalse(mh.listening(d.port), "still listening")

    def write_config(self, tty_dir, port):
        conf = os.path.join(self.new_dir("conf"), "vmodemd.ini")
        with open(conf, "w") as f:
            f.write("[modem]\n"
                    "num = 2\n"
                    f"tty = {tty_dir}\n"
                    f"addr = {HOST}:{port}\n"
                    "guard-time = 200ms\n"
                    "ring-interval = 300ms\n"
                    "connect-speed = 2400\n")
        return conf

    def test_config_file(self):
        peer = self.peer()
        tty_dir = os.path.join(self.new_dir(), "ttys")
        port = h.free_port()
        conf = self.write_config(tty_dir, port)
        d = self.start_vmodemd(argv=["--config", conf, "-v"], tty_dir=tty_dir, count=2, listen=False)
        d.port = port
        self.wait_ready(d)
        self.assertEqual(d.links(), ["tty0", "tty1"], "num = 2 from the file")
        t = self.open_tty(d.tty(1))
        self.assertEqual(t.command("ATS12?"), b"ATS12?\r\r\n010\r\n" + OK, "guard-time from the file")
        self.dial(t, peer, expect=b"\r\nCONNECT 2400\r\n")
        c = self.track_socket(mh.call_in(port))  # addr from the file; tty1 is busy, tty0 closed
        self.assertEqual(mh.recv_all_until_eof(c, 3), b"BUSY\r\n")
        t.close()
        self.stop_vmodemd(d)

    def test_command_line_overrides_config_file(self):
        peer = self.peer()
        tty_dir = os.path.join(self.new_dir(), "ttys")
        conf = self.write_config(tty_dir, h.free_port())
        port = h.free_port()
        d = self.start_vmodemd(argv=["--config", conf, "-v", "--connect-speed", "9600", "-n", "3",
                                     "-a", f"{HOST}:{port}"],
                               tty_dir=tty_dir, count=3, listen=False)
        d.port = port
        self.wait_ready(d)
        self.assertEqual(d.links(), ["tty0", "tty1", "tty2"], "-n 3 overrides num = 2")
        t = self.open_tty(d.tty(2))
        self.assertEqual(t.command("ATS12?"), b"ATS12?\r\r\n010\r\n" + OK, "guard-time still from the file")
        self.dial(t, peer, expect=b"\r\nCONNECT 9600\r\n")
        t.close()
        self.stop_vmodemd(d)

    def run_bad(self, args, names, value, conf=None):
        tty_dir = os.path.join(self.new_dir(), "ttys")
        base = ["-t", tty_dir, "-a", f"{HOST}:{h.free_port()}"]
        if conf is not None:
            path = os.path.join(self.new_dir("conf"), "bad.ini")
            with open(path, "w") as f:
                f.write(conf.replace("TTY_DIR", tty_dir))
            base = ["--config", path]
        args = [str(a) for a in args]
        for i in range(0, len(base), 2):  # the case's own -t / -a win
            if base[i] in args:
                base[i:i + 2] = [None, None]
        argv = [a for a in base if a is not None] + args
        try:
            rc, out, err = mh.run_vmodemd(argv, timeout=5)
        except subprocess.TimeoutExpired:
            self.fail(f"vmodemd {' '.join(argv)} accepted it and kept running")
        text = out + err
        self.assertEqual(rc, 2, f"vmodemd {' '.join(argv)}: exit code (output: {text!r})")
        self.assertTrue(any(n in text for n in names), f"message names none of {names}: {text!r}")
        self.assertIn(value, text, f"message does not quote the bad value: {text!r}")
        self.assertFalse(os.path.exists(os.path.join(tty_dir, "tty0")), "a link was left behind")

    def test_bad_option_values_exit_2_naming_them(self):
        cases = [
            (["-n", "0"], ["num"], "0"),
            (["-n", "many"], ["num"], "many"),
            (["--ring-interval", "soon"], ["ring-interval"], "soon"),
            (["-G", "9s"], ["guard-time"], "9"),
            (["-a", f"{HOST}:99999"], ["addr"], "99999"),
            (["-r", "300"], ["ring"], "300"),
            (["-T", "no-arrow-here"], ["translate"], "no-arrow-here"),
            (["-C", "X9->text->MAYBE"], ["command"], "MAYBE"),
            (["-S", "bad\\q"], ["answer-char"], "bad\\q"),
            (["--phone-book", "/nonexistent/phones"], ["phone-book"], "/nonexistent/phones"),
            (["--no-such-option"], ["no-such-option"], "no-such-option"),
        ]
        for args, names, value in cases:
            with self.subTest(args=args):
                self.run_bad(args, names, value)

    def test_bad_value_in_config_file(self):
        self.run_bad([], ["ring"], "999", conf="[modem]\ntty = TTY_DIR\nring = 999\n")
        self.run_bad([], ["ring-interval"], "later", conf="[modem]\ntty = TTY_DIR\nring-interval = later\n")

    def test_phone_book_error_names_the_line(self):
        path = os.path.join(self.new_dir("book"), "phones")
        with open(path, "w") as f:
            f.write("1234 127.0.0.1:2000\n5678\n")
        self.run_bad(["--phone-book", path], ["phone-book"], f"{path}:2")


if __name__ == "__main__":
    h.main()
