"""Black-box tests of vmodemd's SMS gateway ([sms] plugin).

The daemon drives the simulated SIM modem of sim_modem.py (a pty behind a
symlink, opened as its serial device) and is used as its users use it: the
REST API (send, status, inbox, modem, USSD), the raw TCP bridge (a terminal
program talking AT through the daemon, with heartbeats) and its log. The
simulator decodes what the daemon sends with a PDU codec of its own, so the
texts are checked end to end. The crash test runs the simulator as a process
of its own and kills the daemon with SIGKILL in the middle of a burst.

    VMODEMD=build/src/vmodemd/vmodemd /usr/bin/python3 tests/blackbox/test_sms.py
"""
import collections
import datetime
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import sim_modem as sm  # noqa: E402
import sms_harness as sh  # noqa: E402
from sms_harness import HEARTBEAT, WAIT  # noqa: E402

NUMBER = "+436601112233"
OTHER = "+436609998877"


def by_text(box, text):
    return [m for m in box if m["text"] == text]


# --------------------------------------------------------------------------
# Raw TCP bridge
# --------------------------------------------------------------------------

class Bridge(sh.SmsTestCase):
    def test_relay_both_ways_second_client_refused(self):
        modem = self.sim()
        d = self.start_sms()
        a = self.bridge()
        a.heartbeat()
        self.assertTrue(a.command("AT").endswith(b"\r\nOK\r\n"), "AT through the bridge")
        # The modem's own output reaches the client too (an unsolicited line).
        modem.inject_urc("RING")
        a.read_until(b"\r\nRING\r\n")

        b = sh.BridgeClient(d.bridge_port)
        self.addCleanup(b.close)
        rest = b.wait_closed(WAIT)
        self.assertTrue(rest.startswith(b"ERROR:"), f"second client: an ERROR: line, then closed; got {rest!r}")
        self.assertIn(b"\n", rest, "the ERROR: text is a line")

        a.heartbeat()
        answer = a.command("AT+CSQ")
        self.assertIn(b"+CSQ: 20,99", answer, "the first client keeps control")
        self.assertEqual(modem.commands()[-1], "AT+CSQ")
        status, _, doc = self.modem_status()
        self.assertEqual((status, doc.get("state")), (200, "raw_client"))
        a.close()
        self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "ready",
                        what="state ready after the raw client left")

    def test_heartbeats_stripped_even_split_across_segments(self):
        modem = self.sim()
        self.start_sms()
        c = self.bridge()
        before = len(modem.commands())
        # A heartbeat cut in two segments in front of a command, one inside
        # the command bytes, two back to back, and one cut at the end of a line.
        c.send(b"<hea")
        time.sleep(0.05)
        c.send(b"rtbeat>AT")
        time.sleep(0.05)
        c.send(b"+CS" + HEARTBEAT + b"Q\r")
        self.assertIn(b"+CSQ: 20,99", c.read_until(sh.FINAL))
        c.send(b"AT+C" + HEARTBEAT + HEARTBEAT + b"REG?<hear")
        time.sleep(0.05)
        c.send(b"tbeat>\r")
        self.assertRegex(c.read_until(sh.FINAL), rb"\+CREG: \d,1\r\n")
        c.send(HEARTBEAT)
        time.sleep(0.05)
        c.send(b"<heartb")
        time.sleep(0.05)
        c.send(b"eat>ATI\r")
        self.assertIn(b"SIM-MODEM", c.read_until(sh.FINAL))
        # Bytes that only look like the start of a heartbeat go through, also
        # when a segment ends with them or a heartbeat overlaps them.
        for pieces in ([b'AT+CSCA="<hea"\r'], [b'AT+CSCA="<hea', b'x"\r'], [b'AT+CSCA="<' + HEARTBEAT + b'"\r'],
                       [b'AT+CSCA="<hea' + HEARTBEAT + b'"\r'], [b'AT+CSCA="<heartbea', HEARTBEAT + b'"\r']):
            for k, piece in enumerate(pieces):
                if k:
                    time.sleep(0.05)
                c.send(piece)
            c.read_until(sh.FINAL)
        got = modem.commands()[before:]
        self.assertEqual(got, ["AT+CSQ", "AT+CREG?", "ATI", 'AT+CSCA="<hea"', 'AT+CSCA="<heax"', 'AT+CSCA="<"',
                               'AT+CSCA="<hea"', 'AT+CSCA="<heartbea"'],
                         "the modem sees the commands without any heartbeat byte")

    def test_missing_heartbeat_disconnects(self):
        self.sim()
        d = self.start_sms(heartbeat_timeout_ms=500)
        # Silent from the start: dropped about 500 ms after connecting.
        a = sh.BridgeClient(d.bridge_port)
        self.addCleanup(a.close)
        a.wait_closed(WAIT)
        waited = a.closed_at - a.connected_at
        self.assertGreaterEqual(waited, 0.4, "closed before heartbeat_timeout_ms")
        self.assertLess(waited, 3.0, "not closed soon after heartbeat_timeout_ms")
        self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "ready",
                        what="state ready after the silent client was dropped")

        # Heartbeats every 200 ms keep a client for longer than the timeout.
        b = sh.BridgeClient(d.bridge_port)
        self.addCleanup(b.close)
        start = time.monotonic()
        while time.monotonic() - start < 1.2:
            b.heartbeat()
            self.assertTrue(b.still_open(0.2), "closed although it sends heartbeats")
        b.heartbeat()
        last = time.monotonic()
        self.assertTrue(b.command("AT").endswith(b"OK\r\n"))
        b.wait_closed(WAIT)
        self.assertGreaterEqual(b.closed_at - last, 0.35, "closed before heartbeat_timeout_ms")
        self.assertLess(b.closed_at - last, 3.0)

        # Commands are not heartbeats: a client that only types is dropped too.
        c = sh.BridgeClient(d.bridge_port)
        self.addCleanup(c.close)
        while not c.eof and time.monotonic() - c.connected_at < 5.0:
            try:
                c.send(b"AT\r")
            except OSError:                  # closed meanwhile
                c.wait_closed(WAIT)
                break
            c.still_open(0.1)
        self.assertTrue(c.eof, "a client sending AT commands but no heartbeat stays connected")
        self.assertLess(c.closed_at - c.connected_at, 3.0)

    def test_heartbeat_timeout_0_disables_it(self):
        self.sim()
        self.start_sms(heartbeat_timeout_ms=0)
        c = self.bridge()
        self.assertTrue(c.still_open(1.0), "a silent client dropped although heartbeat_timeout_ms = 0")
        self.assertTrue(c.command("AT").endswith(b"\r\nOK\r\n"))

    def test_kick_old_client(self):
        self.sim()
        d = self.start_sms(kick_old_client="true")
        a = self.bridge()
        a.heartbeat()
        self.assertTrue(a.command("AT").endswith(b"OK\r\n"))
        b = sh.BridgeClient(d.bridge_port)
        self.addCleanup(b.close)
        rest = a.wait_closed(WAIT)
        self.assertRegex(rest, rb"(^|\n)ERROR:", "the old client is told why, then closed")
        b.heartbeat()
        self.assertIn(b"+CSQ: 20,99", b.command("AT+CSQ"), "the new client has control")
        self.assertFalse(b.eof)

    def test_byte_log_format(self):
        modem = self.sim()
        d = self.start_sms()
        c = self.bridge()
        c.heartbeat()
        # Control characters and a backslash: escaped in the log.
        c.send(b"AT+CGMI\x01\\\t" + HEARTBEAT + b"\r")
        c.read_until(sh.FINAL)
        self.assertIn("AT+CGMI\x01\\\t", modem.commands())
        log = d.byte_log()
        self.assertTrue(any(x == "SER_W" for x, _, _ in log) and any(x == "SER_R" for x, _, _ in log),
                        "SER_W and SER_R lines in the log")
        now = datetime.datetime.now()
        for _, (day, month, year, hh, mm, ss), _ in log:
            when = datetime.datetime(year, month, day, hh, mm, ss)
            self.assertLess(abs((when - now).total_seconds()), 2 * 86400, f"time stamp {when}")
        written, read = d.serial_stream("SER_W"), d.serial_stream("SER_R")
        for cmd in (b"ATE0V1\r", b"AT+CMEE=1\r", b"AT+CMGF=0\r", b"AT+CNMI=2,1,0,2,0\r",
                    b'AT+CPMS="SM","SM","SM"\r', b"AT+CMGL=4\r"):
            self.assertIn(cmd, written, f"init command {cmd!r} in the SER_W lines")
        self.assertIn(b"AT+CGMI\x01\\\t\r", written, "bridge bytes in the SER_W lines, unescaped back")
        self.assertNotIn(HEARTBEAT, written)
        self.assertIn(b"\r\nOK\r\n", read)
        self.assertIn(b"\r\nERROR\r\n", read)
        raw = [p for x, _, p in log if x == "SER_W" and "CGMI" in p]
        self.assertTrue(any("\\x01" in p.lower() and "\\\\" in p and "\\t" in p for p in raw),
                        f"\\x01, \\\\ and \\t escapes in {raw}")


# --------------------------------------------------------------------------
# REST API
# --------------------------------------------------------------------------

class Api(sh.SmsTestCase):
    def test_auth_required(self):
        self.sim()
        d = self.start_sms()
        for token, what in ((False, "no token"), ("wrong-token", "wrong token"), ("", "empty token")):
            for method, path, body in (("GET", "/v1/modem", None), ("POST", "/v1/sms", {"to": NUMBER, "text": "x"}),
                                       ("GET", "/v1/inbox", None)):
                status, headers, doc = d.api(method, path, body, token=token)
                self.assertEqual(status, 401, f"{method} {path} with {what}")
                self.assertTrue(headers.get("www-authenticate", "").startswith("Bearer"),
                                f"WWW-Authenticate: Bearer on 401, got {headers}")
                self.assertIsInstance(doc, dict)
                self.assertIn("error", doc)
        status, _, _ = d.api("GET", "/v1/modem", token=False,
                             headers={"Authorization": f"Basic {sh.TOKEN}"})
        self.assertEqual(status, 401, "Basic instead of Bearer")
        self.assertEqual(self.modem_status()[0], 200, "the right token")
        self.assertEqual(d.api("GET", "/v1/modem", token=False,
                               headers={"Authorization": f"bearer {sh.TOKEN}"})[0], 200,
                         "the scheme is case-insensitive (RFC 7235)")
        self.assertEqual(self.modem.outbox(), [], "nothing sent by unauthorised POSTs")
        # The token is checked on the header: the body of an unauthorised
        # request is never waited for (nor buffered).
        with socket.create_connection((sh.HOST, d.api_port), timeout=WAIT) as s:
            s.sendall(b"POST /v1/sms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n")
            s.settimeout(2.0)
            head = s.recv(4096)
        self.assertTrue(head.startswith(b"HTTP/1.1 401"), head[:100])

    def test_send_single_gsm7_sent_then_delivered(self):
        modem = self.sim()
        self.start_sms()
        text = "Hello from Switchboard @£$¥ èéùì ÄÖÑÜ§ äöñüà"
        doc = self.send_sms([NUMBER], text, validity_minutes=60)
        self.assertEqual(doc["parts"], 1)
        box = self.wait_outbox(lambda b: len(b) == 1)
        m = box[0]
        self.assertEqual((m["to"], m["text"], m["encoding"], m["total"]), (NUMBER, text, "gsm7", 1))
        self.assertTrue(m["srr"], "status_reports = true: TP-SRR set")
        self.assertEqual(m["validity_minutes"], 60)
        got = self.wait_sms_state(doc["id"], "delivered")
        self.assertEqual((got["id"], got["to"], got["text"]), (doc["id"], [NUMBER], text))
        self.assertTrue(got.get("created_at"))
        self.assertEqual(len(got["parts"]), 1)
        part = got["parts"][0]
        self.assertEqual((part["to"], part["part"], part["total"], part["state"]), (NUMBER, 1, 1, "delivered"))
        self.assertEqual(part["message_reference"], m["mr"][0])
        self.assertGreaterEqual(part["attempts"], 1)
        for key in ("delivery_status", "error"):
            self.assertIn(key, part)

        # `to` as a single string; no report asked for: it stays "sent".
        doc2 = self.send_sms(OTHER, "no report please", status_report=False)
        box = self.wait_outbox(lambda b: len(b) == 2)
        self.assertEqual((box[1]["to"], box[1]["text"], box[1]["srr"]), (OTHER, "no report please", False))
        self.assertEqual(self.wait_sms_state(doc2["id"], ("sent", "delivered"))["state"], "sent")
        self.assertEqual(len(modem.reports()), 1, "one status report: for the first message only")

    def test_multipart_gsm7_and_ucs2(self):
        modem = self.sim()
        self.start_sms()
        messages = [  # text, encoding, recipients
            (sh.gsm7_long_text(400), "gsm7", [NUMBER]),
            ("Grüße 😀" * 30, "ucs2", [NUMBER]),
            (sh.gsm7_long_text(200, tag="two recipients "), "gsm7", [NUMBER, OTHER]),
            ("a" * 152 + "€" + "b" * 10, "gsm7", [NUMBER]),          # an escape pair at the cut
            ("ж" * 66 + "😀" + "ж" * 66 + "😀😀end", "ucs2", [NUMBER]),  # surrogate pairs at the cuts
        ]
        docs = [self.send_sms(to, text) for text, _, to in messages]
        wanted = sum(len(to) for _, _, to in messages)
        box = self.wait_outbox(lambda b: sum(m["complete"] for m in b) == wanted, timeout=2 * WAIT,
                               what=f"{wanted} complete messages in the outbox")
        self.assertEqual(len(box), wanted, "every part belongs to one of the messages")
        ref_bits = {p["concat"]["ref_bits"] for p in modem.sent() if p["concat"]}
        self.assertEqual(len(ref_bits), 1)
        bits = ref_bits.pop()
        for doc, (text, encoding, recipients) in zip(docs, messages):
            n = sh.parts_needed(text, bits)
            self.assertGreater(n, 1)
            self.assertEqual(doc["parts"], n * len(recipients), f"parts over all recipients of {text[:30]!r}")
            got = by_text(box, text)
            self.assertEqual(sorted(m["to"] for m in got), sorted(recipients), f"{text[:30]!r}")
            for m in got:
                self.assertEqual((m["encoding"], m["total"], len(m["parts"]), m["complete"]),
                                 (encoding, n, n, True), f"{text[:30]!r} to {m['to']}")
                for part in m["parts"]:
                    self.assertFalse(any(0xD800 <= ord(ch) <= 0xDFFF for ch in part["text"]),
                                     f"a surrogate pair cut between parts: {part['text'][-3:]!r}")
        # Parts of one message share their reference, other messages to the
        # same number use another one.
        refs = [m["ref"] for m in box if m["to"] == NUMBER]
        self.assertEqual(len(set(refs)), len(messages), f"concatenation references {refs}")
        # A status report for every part: each message ends delivered.
        for doc, (text, _, recipients) in zip(docs, messages):
            got = self.wait_sms_state(doc["id"], "delivered")
            self.assertEqual({p["state"] for p in got["parts"]}, {"delivered"}, got["parts"])
            n = sh.parts_needed(text, bits)
            self.assertEqual(sorted((p["to"], p["part"], p["total"]) for p in got["parts"]),
                             sorted((to, k, n) for to in recipients for k in range(1, n + 1)), got["parts"])

    def test_bad_requests(self):
        self.sim()
        d = self.start_sms()
        cases = [
            ({"text": "no recipient"}, "to"),
            ({"to": [NUMBER]}, "text"),
            ({"to": ["+43abc"], "text": "bad number"}, "to"),
            ({"to": [NUMBER, "0043-66O"], "text": "one bad number"}, "to"),
            ({"to": [], "text": "empty list"}, "to"),
            ({"to": NUMBER, "text": "a" * 40000}, "text"),
            ({"to": NUMBER, "text": 42}, "text"),
            ({"to": NUMBER, "text": "bad validity", "validity_minutes": "soon"}, "validity_minutes"),
        ]
        for body, field in cases:
            status, _, doc = d.api("POST", "/v1/sms", body)
            self.assertEqual(status, 400, f"{body!r:.80}")
            self.assertEqual(doc.get("field"), field, f"{body!r:.80}: {doc}")
            self.assertTrue(doc.get("error"), doc)
        for raw in (b"{not json", b"", b"[1, 2]", b'"text"'):
            status, _, doc = d.api("POST", "/v1/sms", raw=raw)
            self.assertEqual(status, 400, f"body {raw!r}")
            self.assertTrue(doc.get("error"), doc)
        # None of them was queued: the next good message is the only one sent.
        self.send_sms(NUMBER, "the only one")
        box = self.wait_outbox(lambda b: len(b) >= 1)
        self.assertEqual([m["text"] for m in box], ["the only one"])
        status, _, doc = d.api("POST", "/v1/ussd", {"code": "not a code"})
        self.assertEqual(status, 400, doc)
        status, _, doc = d.api("POST", "/v1/ussd", {})
        self.assertEqual(status, 400, doc)

    def test_idempotency_key(self):
        self.sim()
        d = self.start_sms()
        first = self.send_sms(NUMBER, "only once", idempotency_key="k1")
        for text in ("only once", "other text, same key"):
            status, _, doc = d.api("POST", "/v1/sms", {"to": NUMBER, "text": text, "idempotency_key": "k1"})
            self.assertEqual(status, 409, doc)
            self.assertEqual(doc.get("id"), first["id"], "the existing message's id")
            self.assertTrue(doc.get("error"))
        other = self.send_sms(NUMBER, "another key", idempotency_key="k2")
        self.assertNotEqual(other["id"], first["id"])
        box = self.wait_outbox(lambda b: len(b) >= 2)
        self.assertEqual([m["text"] for m in box], ["only once", "another key"])
        self.wait_sms_state(first["id"], ("sent", "delivered"))

    def test_receive_multipart_reversed_then_delete(self):
        modem = self.sim()
        d = self.start_sms()
        long_text = sh.gsm7_long_text(300, tag="incoming ")
        sender2 = "+436641234567"
        r = modem.deliver_sms(NUMBER, long_text, order="reversed")
        nparts = len(r["pdus"])
        self.assertGreater(nparts, 1)
        modem.deliver_sms(sender2, "Привет 👋")
        got = {}

        def both():
            status, _, doc = d.api("GET", "/v1/inbox")
            self.assertEqual(status, 200, doc)
            got["msgs"] = doc["messages"]
            return len(doc["messages"]) >= 2
        h.wait_until(both, WAIT, interval=0.05, what="two messages in the inbox")
        msgs = {m["from"]: m for m in got["msgs"]}
        self.assertEqual(len(got["msgs"]), 2, got["msgs"])
        self.assertEqual(set(msgs), {NUMBER, sender2})
        m = msgs[NUMBER]
        self.assertEqual(m["text"], long_text, "parts delivered in reverse order joined in order")
        self.assertEqual((m["parts"], m["total"]), (nparts, nparts))
        self.assertEqual(msgs[sender2]["text"], "Привет 👋")
        for key in ("id", "timestamp", "coding", "received_at"):
            self.assertIn(key, m)
        h.wait_until(lambda: modem.storage() == {}, WAIT, what="the SIM emptied")
        self.assertTrue(any(c.startswith("AT+CMGD=") for c in modem.commands()))

        # Paging: one at a time.
        status, _, page1 = d.api("GET", "/v1/inbox?limit=1")
        self.assertEqual((status, len(page1["messages"])), (200, 1), page1)
        self.assertIsNotNone(page1["next"])
        status, _, page2 = d.api("GET", f"/v1/inbox?limit=1&after={page1['next']}")
        self.assertEqual((status, len(page2["messages"])), (200, 1), page2)
        self.assertNotEqual(page1["messages"][0]["id"], page2["messages"][0]["id"])
        if page2["next"] is not None:
            status, _, page3 = d.api("GET", f"/v1/inbox?limit=1&after={page2['next']}")
            self.assertEqual((status, page3["messages"], page3["next"]), (200, [], None))

        status, _, _ = d.api("DELETE", f"/v1/inbox/{m['id']}")
        self.assertEqual(status, 204)
        status, _, doc = d.api("GET", "/v1/inbox")
        self.assertEqual([x["from"] for x in doc["messages"]], [sender2])
        status, _, doc = d.api("DELETE", f"/v1/inbox/{m['id']}")
        self.assertEqual(status, 404, doc)
        self.assertIn("error", doc)

    def test_modem_status_follows_the_sim(self):
        modem = self.sim()
        self.start_sms(status_interval="500ms")
        status, _, doc = self.modem_status()
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["state"], doc["device"], doc["sim"], doc["queued"]), ("ready", self.link, "ready", 0))
        self.wait_modem(lambda s, d: (d.get("rssi"), d.get("signal_dbm"), d.get("registration"), d.get("operator"))
                        == (20, -73, "home", "Switchboard Mobile"), what="rssi 20, home, Switchboard Mobile")
        modem.set_signal(25)
        modem.set_operator("Test Net")
        modem.set_registration(5)
        self.wait_modem(lambda s, d: (d.get("rssi"), d.get("signal_dbm"), d.get("registration"), d.get("operator"))
                        == (25, -63, "roaming", "Test Net"), what="rssi 25 (-63 dBm), roaming, Test Net")
        modem.set_signal(99)
        modem.set_registration(3)
        self.wait_modem(lambda s, d: (d.get("signal_dbm", 0), d.get("registration")) == (None, "denied"),
                        what="unknown signal (null), registration denied")

    def test_ussd(self):
        modem = self.sim()
        d = self.start_sms(ussd_timeout="1s")
        status, _, doc = d.api("POST", "/v1/ussd", {"code": "*100#"})
        self.assertEqual((status, doc.get("status"), doc.get("text")), (200, 0, "Balance: 10.00 EUR"), doc)
        self.assertTrue(any(c.startswith('AT+CUSD=1,"*100#"') for c in modem.commands()), modem.commands())

        real = modem._cmd_cusd

        def network_silent(form, args):   # OK to the command, then no +CUSD ever
            return None if form == "set" else real(form, args)
        modem._cmd_cusd = network_silent
        start = time.monotonic()
        status, _, doc = d.api("POST", "/v1/ussd", {"code": "*101#"})
        self.assertEqual(status, 504, doc)
        self.assertGreaterEqual(time.monotonic() - start, 0.8, "gave up before ussd_timeout")
        modem._cmd_cusd = real
        status, _, doc = d.api("POST", "/v1/ussd", {"code": "*100#"})
        self.assertEqual((status, doc.get("status"), doc.get("text")), (200, 0, "Balance: 10.00 EUR"),
                         f"USSD works again after a timeout: {doc}")

    def test_unknown_path_and_wrong_method(self):
        self.sim()
        d = self.start_sms()
        for method, path in (("GET", "/v1/nothing"), ("GET", "/"), ("GET", "/v1/sms/no-such-id")):
            status, headers, doc = d.api(method, path)
            self.assertEqual(status, 404, f"{method} {path}")
            self.assertIn("error", doc)
            self.assertIn("json", headers.get("content-type", ""))
        for method, path in (("PUT", "/v1/sms"), ("DELETE", "/v1/modem"), ("GET", "/v1/ussd"),
                             ("POST", "/v1/inbox")):
            status, headers, doc = d.api(method, path, {} if method in ("PUT", "POST") else None)
            self.assertEqual(status, 405, f"{method} {path}")
            self.assertIn("error", doc)
            self.assertIn("json", headers.get("content-type", ""))


class Config(sh.SmsTestCase):
    def test_api_needs_a_token(self):
        path = os.path.join(self.dir, "no-token.ini")
        with open(path, "w") as f:
            f.write(h.config_text({"sms": {"device": self.link, "api_listen": f"127.0.0.1:{h.free_port()}",
                                           "api_token": "", "store": self.store}}))
        r = subprocess.run([sh.vmodemd_path(), "--config", path], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=WAIT)
        self.assertNotEqual(r.returncode, 0, "started with api_listen and no api_token")
        self.assertIn("api_token", r.stderr.decode(errors="replace"))

    def test_store_locked_by_the_running_daemon(self):
        self.sim()
        d = self.start_sms()
        self.assertTrue(os.path.exists(self.store + ".lock"), "the .lock file next to the store")
        other = os.path.join(self.dir, "other-config.ini")
        keys = dict(d.config["sms"], api_listen=f"127.0.0.1:{h.free_port()}",
                    bridge_listen=f"127.0.0.1:{h.free_port()}")
        with open(other, "w") as f:
            f.write(h.config_text({"sms": keys}))
        second = self._track(h.Process("vmodemd-2", [sh.vmodemd_path(), "--config", other]))
        h.wait_until(lambda: not second.alive(), WAIT, what="the second daemon on the same store to give up")
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("lock", second.stderr_text().lower())
        self.send_sms(NUMBER, "the first daemon still works")
        self.wait_outbox(lambda b: len(b) == 1)


# --------------------------------------------------------------------------
# Raw client versus the API
# --------------------------------------------------------------------------

class Arbitration(sh.SmsTestCase):
    def test_api_send_waits_for_the_raw_client(self):
        modem = self.sim()
        d = self.start_sms()
        c = self.bridge()
        c.heartbeat()
        # The raw client changes what the plugin set up: echo on, text mode.
        c.command("ATE1")
        c.command("AT+CMGF=1")
        before = len(modem.commands())
        doc = self.send_sms(NUMBER, "waits for the raw client")
        status, _, ussd = d.api("POST", "/v1/ussd", {"code": "*100#"})
        self.assertEqual(status, 503, ussd)
        modem.deliver_sms(OTHER, "came during the raw session")
        c.read_until(b'+CMTI: "SM",1', WAIT)
        quiet_until = time.monotonic() + 1.0
        while time.monotonic() < quiet_until:
            self.assertEqual(modem.outbox(), [], "sent while a raw client is in control")
            self.assertEqual(self.get_sms(doc["id"])["state"], "queued")
            time.sleep(0.1)
        status, _, st = self.modem_status()
        self.assertEqual((status, st["state"], st["queued"]), (200, "raw_client", 1))
        self.assertEqual(modem.commands()[before:], [], "the plugin wrote to the modem during the raw session")
        c.heartbeat()
        c.close()

        box = self.wait_outbox(lambda b: len(b) == 1)
        self.assertEqual((box[0]["to"], box[0]["text"]), (NUMBER, "waits for the raw client"))
        self.wait_sms_state(doc["id"], ("sent", "delivered"))
        after = modem.commands()[before:]
        cmgs = next(i for i, x in enumerate(after) if x.startswith("AT+CMGS="))
        for cmd in ("ATE0V1", "AT+CMGF=0", "AT+CMGL=4"):
            self.assertIn(cmd, after[:cmgs], f"{cmd} after the raw session, before the send: {after}")
        # The SMS announced to the raw client is picked up by the re-listing.
        h.wait_until(lambda: [m["text"] for m in d.api("GET", "/v1/inbox")[2]["messages"]]
                     == ["came during the raw session"], WAIT, what="the SMS of the raw session in the inbox")
        h.wait_until(lambda: modem.storage() == {}, WAIT, what="the SIM emptied")

    def test_queued_send_goes_out_after_a_raw_session_that_set_numeric_results(self):
        self.sim()
        self.start_sms()
        c = self.bridge()
        c.heartbeat()
        c.send(b"ATV0\r")                  # numeric result codes: "0\r" for OK
        c.read_until(b"0\r")
        doc = self.send_sms(NUMBER, "after ATV0")
        c.close()
        box = self.wait_outbox(lambda b: len(b) == 1, what="the message queued during the raw session sent")
        self.assertEqual(box[0]["text"], "after ATV0")
        self.wait_sms_state(doc["id"], ("sent", "delivered"))

    def test_raw_client_leaving_the_modem_at_a_prompt(self):
        # The client starts an AT+CMGS and leaves at "> ": the plugin cancels
        # the prompt (ESC, nothing sent) instead of timing its init out.
        modem = self.sim()
        self.start_sms()
        c = self.bridge()
        c.heartbeat()
        c.send(b"AT+CMGS=10\r")
        c.read_until(b"> ")
        doc = self.send_sms(NUMBER, "after a prompt left open")
        left = time.monotonic()
        c.close()
        box = self.wait_outbox(lambda b: len(b) == 1, what="the queued message sent")
        self.assertLess(time.monotonic() - left, 3.0, "sent without waiting for init timeouts")
        self.assertEqual(box[0]["text"], "after a prompt left open")
        self.wait_sms_state(doc["id"], ("sent", "delivered"))
        self.assertEqual(len(modem.outbox()), 1, "the half-written message of the raw client was not sent")

    def test_sigterm_during_a_raw_session_then_restart(self):
        modem = self.sim()
        d = self.start_sms()
        c = self.bridge()
        c.heartbeat()
        doc = self.send_sms(NUMBER, "queued when the daemon was stopped")
        started = time.monotonic()
        rc = self.terminate(d)
        self.assertEqual(rc, 0, "exit code after SIGTERM")
        self.assertLess(time.monotonic() - started, 5.0)
        c.wait_closed(WAIT)
        self.assertEqual(modem.outbox(), [])
        self.start_sms()
        box = self.wait_outbox(lambda b: len(b) == 1)
        self.assertEqual(box[0]["text"], "queued when the daemon was stopped")
        self.wait_sms_state(doc["id"], ("sent", "delivered"))

    def test_client_gets_control_once_the_command_in_flight_finished(self):
        modem = self.sim(send_delay=1.0)
        d = self.start_sms()
        doc = self.send_sms(NUMBER, "in flight when the client came")
        h.wait_until(lambda: len(modem.sent()) == 1, WAIT, what="the +CMGS in flight")
        c = sh.BridgeClient(d.bridge_port)
        self.addCleanup(c.close)
        c.heartbeat()
        status, _, st = self.modem_status()
        self.assertNotEqual(st.get("state"), "raw_client", "control given while +CMGS waits for its answer")
        self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "raw_client",
                        what="state raw_client once the +CMGS answer came")
        got = self.get_sms(doc["id"])
        self.assertIn(got["state"], ("sent", "delivered"), f"the answer went to the plugin: {got}")
        self.assertEqual(got["parts"][0]["message_reference"], modem.sent()[0]["mr"])
        answer = c.command("AT")
        self.assertTrue(answer.endswith(b"\r\nOK\r\n"), answer)
        self.assertNotIn(b"+CMGS", answer, "the +CMGS answer leaked to the raw client")
        self.assertEqual(len(modem.outbox()), 1)


# --------------------------------------------------------------------------
# Modem faults
# --------------------------------------------------------------------------

class ModemFaults(sh.SmsTestCase):
    def test_reboot_reinitialises(self):
        modem = self.sim()
        d = self.start_sms()
        modem.reboot(downtime=0.2)         # RDY, +CFUN: 1, +CPIN: READY; echo on, CNMI default
        d.wait_log(sh.READY_LOG, count=2)
        st = modem.state()
        self.assertEqual((st["echo"], st["cnmi"]), (False, [2, 1, 0, 2, 0]), "init sequence run again")
        doc = self.send_sms(NUMBER, "after the reboot")
        self.wait_sms_state(doc["id"], "delivered")     # needs CNMI ds=2 again
        modem.deliver_sms(OTHER, "incoming after the reboot")
        h.wait_until(lambda: [m["text"] for m in d.api("GET", "/v1/inbox")[2]["messages"]]
                     == ["incoming after the reboot"], WAIT, what="the SMS in the inbox")

    def test_chunked_modem_output(self):
        modem = self.sim(chunked=True, seed=7)
        d = self.start_sms()
        text = sh.gsm7_long_text(200, tag="chunked ")
        doc = self.send_sms(NUMBER, text)
        incoming = "Ω chunked incoming ж " * 5
        modem.deliver_sms(OTHER, incoming)
        box = self.wait_outbox(lambda b: len(b) == 1 and b[0]["complete"])
        self.assertEqual(box[0]["text"], text)
        self.wait_sms_state(doc["id"], "delivered")
        h.wait_until(lambda: [m["text"] for m in d.api("GET", "/v1/inbox")[2]["messages"]] == [incoming],
                     WAIT, what="the UCS2 multipart SMS in the inbox")

    def test_interleaved_multipart_messages(self):
        modem = self.sim()
        d = self.start_sms()
        # Same sender, two messages; another sender with the same reference;
        # an alphanumeric sender with 16-bit references (66 UCS2 units and
        # 152 septets per part then).
        a = sm.build_deliver_parts(NUMBER, "A" * 200 + " first", ref=7)
        b = sm.build_deliver_parts(NUMBER, "B" * 200 + " second", ref=8)
        c = sm.build_deliver_parts(OTHER, "C" * 200 + " third", ref=7)
        wide = ["ж" * 66, "ш" * 66, "end"]
        e = [sm.build_deliver("Switchboard", p, concat=(0x1234, 3, i + 1)) for i, p in enumerate(wide)]
        order = [e[2], a[1], c[0], b[1], e[0], a[0], c[1], b[0], e[1]]
        for pdu in order:
            modem.deliver_pdu(pdu)
        expected = {(NUMBER, "A" * 200 + " first"), (NUMBER, "B" * 200 + " second"),
                    (OTHER, "C" * 200 + " third"), ("Switchboard", "".join(wide))}
        got = {}

        def all_in():
            got["msgs"] = d.api("GET", "/v1/inbox")[2]["messages"]
            return len(got["msgs"]) >= 4
        h.wait_until(all_in, WAIT, interval=0.05, what="four messages in the inbox")
        self.assertEqual({(m["from"], m["text"]) for m in got["msgs"]}, expected)
        self.assertEqual(len(got["msgs"]), 4)
        h.wait_until(lambda: modem.storage() == {}, WAIT, what="the SIM emptied")

    def test_status_report_stored_while_down_is_reconciled(self):
        modem = self.sim(report_delay=0.5)
        d = self.start_sms()
        doc = self.send_sms(NUMBER, "reported while the daemon is down")
        self.wait_sms_state(doc["id"], "sent")
        self.kill9(d)
        h.wait_until(lambda: len(modem.reports()) == 1, WAIT, what="the status report stored on the SIM")
        self.assertIsNotNone(modem.reports()[0]["index"])
        self.assertEqual(len(modem.storage()), 1, "the report came after the kill")
        self.start_sms()                       # AT+CMGL=4 finds the report
        got = self.wait_sms_state(doc["id"], "delivered")
        self.assertEqual(got["parts"][0]["state"], "delivered")
        h.wait_until(lambda: modem.storage() == {}, WAIT, what="the SIM emptied")

    def test_sim_messages_at_start_not_duplicated_after_a_crash(self):
        modem = self.sim()
        text = "on the SIM before the daemon started"
        modem.store(sm.build_deliver(NUMBER, text), stat=0)
        real = modem._cmd_cmgd

        def refuse(form, args):        # the message stays on the SIM after it was stored
            if form == "set":
                raise sm._AtError("cms", 500)
            return real(form, args)
        modem._cmd_cmgd = refuse
        d = self.start_sms()

        def inbox_texts(d):
            status, _, doc = d.api("GET", "/v1/inbox")
            self.assertEqual(status, 200, doc)
            return [m["text"] for m in doc["messages"]]
        h.wait_until(lambda: inbox_texts(d) == [text], WAIT, what="the SIM's message in the inbox")
        h.wait_until(lambda: any(c.startswith("AT+CMGD=") for c in modem.commands()), WAIT,
                     what="an AT+CMGD attempt")
        self.kill9(d)
        self.assertEqual(len(modem.storage()), 1)
        modem._cmd_cmgd = real
        d2 = self.start_sms()                 # lists the SIM again: the same message
        h.wait_until(lambda: modem.storage() == {}, WAIT, what="the SIM emptied")
        self.assertEqual(inbox_texts(d2), [text], "stored once, not again after the re-listing")


# --------------------------------------------------------------------------
# The device goes away and comes back
# --------------------------------------------------------------------------

class Replug(sh.SmsTestCase):
    def test_queued_while_unplugged_sent_after_plug(self):
        modem = self.sim()
        d = self.start_sms(accept_when_absent="true")
        modem.unplug()
        status, doc = self.wait_modem(lambda s, doc: s == 503, what="GET /v1/modem 503 while unplugged")
        self.assertEqual((doc.get("error"), doc.get("state")), ("modem absent", "absent"), doc)
        queued = self.send_sms(NUMBER, "queued while unplugged")
        status, _, ussd = d.api("POST", "/v1/ussd", {"code": "*100#"})
        self.assertEqual(status, 503, ussd)
        self.assertEqual(self.get_sms(queued["id"])["state"], "queued")
        time.sleep(0.5)                      # a few reopen attempts fail meanwhile
        modem.plug()
        box = self.wait_outbox(lambda b: len(b) == 1)
        self.assertEqual(box[0]["text"], "queued while unplugged")
        self.wait_sms_state(queued["id"], ("sent", "delivered"))
        self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "ready")

        # A USB replug: gone for half a second, back on the same path.
        modem.replug(downtime=0.5)
        self.wait_modem(lambda s, doc: s == 503, what="503 during the replug")
        second = self.send_sms(NUMBER, "during the replug")
        box = self.wait_outbox(lambda b: len(b) == 2)
        self.assertEqual(box[1]["text"], "during the replug")
        self.wait_sms_state(second["id"], ("sent", "delivered"))
        d.wait_log(sh.READY_LOG, count=3)
        self.assertEqual(len(by_text(box, "queued while unplugged")), 1, "not sent twice")

    def test_refused_while_absent_without_accept_when_absent(self):
        modem = self.sim()
        d = self.start_sms(byte_log="false")
        modem.unplug()
        self.wait_modem(lambda s, doc: s == 503, what="GET /v1/modem 503 while unplugged")
        status, _, doc = d.api("POST", "/v1/sms", {"to": NUMBER, "text": "refused"})
        self.assertEqual(status, 503, doc)
        self.assertIn("error", doc)
        modem.plug()
        self.wait_modem(lambda s, doc: s == 200 and doc.get("state") == "ready")
        self.send_sms(NUMBER, "accepted again")
        box = self.wait_outbox(lambda b: len(b) >= 1)
        self.assertEqual([m["text"] for m in box], ["accepted again"])
        self.assertNotIn("SER_W", d.log(), "byte_log = false: no byte log")
        self.assertNotIn("SER_R", d.log())


# --------------------------------------------------------------------------
# kill -9 in the middle of a burst
# --------------------------------------------------------------------------

class Crash(sh.SmsTestCase):
    BURST = 200
    KILL_AFTER = 100

    @staticmethod
    def burst_text(i):
        """Message i of the burst: every 7th in three parts; "<iii>" in every part."""
        if i % 7 == 3:
            return (f"<{i:03d}>" * 80)[:400]
        return f"crash burst <{i:03d}>"

    def test_kill9_during_burst_sends_each_accepted_message_at_most_once(self):
        started = time.monotonic()
        _, ctl = self.sim_process("--send-delay", "0.02")
        d = self.start_sms(status_reports="false")
        accepted = {}        # i -> POST answer (202)
        uncertain = set()    # i: the request reached the daemon, no answer came
        refused = []         # any other answer
        stop = threading.Event()

        def post(daemon, i, timeout=5):
            text = self.burst_text(i)
            return daemon.api("POST", "/v1/sms", {"to": [NUMBER], "text": text, "idempotency_key": f"burst-{i}"},
                              timeout=timeout)

        def burst():
            for i in range(self.BURST):
                if stop.is_set():
                    return
                try:
                    status, _, doc = post(d, i)
                except ConnectionRefusedError:
                    return                       # the daemon is gone
                except (OSError, http.client.HTTPException):
                    uncertain.add(i)
                    return
                if status == 202:
                    accepted[i] = doc
                else:
                    refused.append((i, status, doc))

        def parts_sent():
            return ctl.state()["next_mr"]        # one message reference per +CMGS taken

        poster = threading.Thread(target=burst, name="burst", daemon=True)
        poster.start()
        h.wait_until(lambda: (len(accepted) >= self.KILL_AFTER and parts_sent() >= 3) or not poster.is_alive(),
                     30, what=f"{self.KILL_AFTER} accepted and 3 sent")
        self.kill9(d)
        sent_at_kill = parts_sent()
        stop.set()
        poster.join(10)
        self.assertEqual(refused, [], "every POST of the burst is accepted")
        self.assertGreaterEqual(len(accepted), self.KILL_AFTER)
        total_parts = sum(doc["parts"] for doc in accepted.values())
        self.assertLess(sent_at_kill, total_parts, "the kill came before everything was sent")

        # Restarted on the same store, and killed again while it catches up.
        d2 = self.start_sms(status_reports="false")
        h.wait_until(lambda: parts_sent() >= sent_at_kill + 10, 30, what="10 more parts sent after the restart")
        self.kill9(d2)
        sent_at_kill2 = parts_sent()
        self.assertLess(sent_at_kill2, total_parts - 2, "the second kill came before everything was sent")
        d3 = self.start_sms(status_reports="false")
        # A client retries what it is unsure of with the same idempotency key.
        for i in sorted(uncertain) + sorted(accepted)[:5]:
            status, _, doc = post(d3, i)
            if i in accepted:
                self.assertEqual((status, doc.get("id")), (409, accepted[i]["id"]), f"retry of {i}: {doc}")
            else:
                self.assertIn(status, (202, 409), f"retry of unanswered {i}: {doc}")
                accepted[i] = {"id": doc["id"]}

        deadline = time.monotonic() + 60
        docs = {}
        for i, answer in sorted(accepted.items()):
            status, _, doc = d3.api("GET", f"/v1/sms/{answer['id']}")
            self.assertEqual(status, 200, f"accepted message {i} lost after the restarts: {doc}")
            if doc["state"] not in sh.FINAL_STATES:
                doc = self.wait_sms_state(answer["id"], sh.FINAL_STATES, max(1.0, deadline - time.monotonic()),
                                          d=d3)
            docs[i] = doc
        # Every SMS-SUBMIT the modem took, as (message, part number).
        counts = collections.Counter()
        refs = collections.defaultdict(set)
        for p in ctl.sent():
            i = int(re.search(r"<(\d{3})>", p["text"]).group(1))
            counts[(i, p["concat"]["seq"] if p["concat"] else 1)] += 1
            refs[i].add(p["concat"]["ref"] if p["concat"] else None)
        part_states = collections.Counter(p["state"] for doc in docs.values() for p in doc["parts"])
        summary = (f"{len(accepted)} accepted ({total_parts} parts), {len(uncertain)} unanswered, "
                   f"{sent_at_kill} and {sent_at_kill2} parts sent at the kills, part states {dict(part_states)}")
        self.assertEqual(sorted(k for k, n in counts.items() if n > 1), [], f"parts sent twice; {summary}")
        self.assertEqual({i for i, _ in counts} - set(accepted) - uncertain, set(), "sent but never accepted")
        for i, doc in docs.items():
            n = sh.parts_needed(self.burst_text(i))
            self.assertEqual(sorted(p["part"] for p in doc["parts"]), list(range(1, n + 1)), f"parts of {i}")
            for p in doc["parts"]:
                sent = counts[(i, p["part"])]
                if p["state"] in ("sent", "delivered"):
                    self.assertEqual(sent, 1, f"message {i} part {p['part']} is {p['state']} but was sent "
                                              f"{sent} times; {summary}")
                else:
                    self.assertEqual(p["state"], "unknown", f"message {i} part {p['part']}: {p}; {summary}")
            if all(p["state"] in ("sent", "delivered") for p in doc["parts"]):
                self.assertIn(doc["state"], ("sent", "delivered"), doc)
            self.assertLessEqual(len(refs[i]), 1, f"message {i}: its parts carry different references {refs[i]}")
        self.assertLessEqual(part_states["unknown"], 2, f"only a part in flight at a kill can be unknown; {summary}")
        sys.stderr.write(f"[crash: {summary}, {time.monotonic() - started:.1f} s] ")


if __name__ == "__main__":
    h.main()
