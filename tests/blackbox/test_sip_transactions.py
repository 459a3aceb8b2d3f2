"""Black-box tests of vmodemd's SIP tone server: transactions and limits.

CANCEL while ringing, OPTIONS, the error answers (405, 501, 481, 420, 488),
the 2xx retransmissions when no ACK comes, the call limit (486 or 503) and
TCP framing. SIPp (tests/sip/scenarios) where a caller would do it, the
hand-made sip_harness.SipCaller for requests SIPp does not make easy and for
timing. Calls with media are in test_sip.py.

    VMODEMD=build/src/vmodemd/vmodemd /usr/bin/python3 tests/blackbox/test_sip_transactions.py
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import modem_harness as mh  # noqa: E402
import sip_harness as sh  # noqa: E402
from sip_harness import HOST, T1, T2, is_request, is_response  # noqa: E402

ALLOW = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"}


def final(m):
    return not m.is_request and m.status is not None and m.status >= 200


final.__name__ = "final response"


class Transactions(sh.SipTestCase):

    # -- 2. CANCEL ----------------------------------------------------------------

    def test_cancel_while_ringing(self):
        d = self.start_sip(behavior={"auto_answer_delay_ms": 5000})
        r = self.rtp_receiver()
        s = self.sipp(d, "uac_cancel.xml", keys={"rtp_port": r.port})
        ringing = s.received(is_response(180, "INVITE"))[0]
        cancel_ok = s.received(is_response(200, "CANCEL"))
        terminated = s.received(is_response(487, "INVITE"))
        self.assertEqual(len(cancel_ok), 1, "one 200 to the CANCEL")
        self.assertEqual(len(terminated), 1, "one 487 (not resent after our ACK)")
        self.assertEqual(terminated[0].tag("To"), ringing.tag("To"), "487 To tag = the 180's")
        self.assertEqual(s.received(is_response(200, "INVITE")), [], "the cancelled call was answered")
        self.assertEqual(len(d.log_lines(r"call \d+: cancelled before answer")), 1)
        self.assertEqual(d.metric("sb_sip_calls_cancelled_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_active"), 0)
        self.assertEqual(d.metric("sb_sip_calls_answered_total"), 0)
        self.assertEqual(r.packets(), [], "RTP for a call never answered")
        self.stop_sip(d)

    # -- 3. OPTIONS and the methods we do not take ---------------------------------------

    def test_options_from_sipp(self):
        d = self.start_sip()
        s = self.sipp(d, "options.xml")
        ok = s.received(is_response(200, "OPTIONS"))[0]
        self.assertEqual(set(ok.header_list("Allow")), ALLOW)
        self.assertIn("application/sdp", ok.header_list("Accept"))
        self.assertEqual(d.metric("sb_sip_calls_total"), 0, "an OPTIONS is no call")
        self.stop_sip(d)

    def test_methods_we_do_not_take(self):
        d = self.start_sip()
        c = self.caller(d)
        # OPTIONS, and its retransmission (same branch) answered the same.
        text, branch = c.request("OPTIONS")
        ok = c.expect(is_response(200, "OPTIONS"))
        self.assertEqual(set(ok.header_list("Allow")), ALLOW)
        self.assertIn("application/sdp", ok.header_list("Accept"))
        self.assertEqual(ok.branch, branch, "Via copied")
        c.send(text)
        again = c.expect(is_response(200, "OPTIONS"))
        self.assertEqual(again.raw, ok.raw, "a retransmitted OPTIONS gets the same response")
        # Methods of SIP we know and refuse: 405 with Allow.
        for method in ("REGISTER", "SUBSCRIBE", "MESSAGE", "INFO"):
            c.request(method, body="hello" if method == "MESSAGE" else "", content_type="text/plain")
            resp = c.expect(is_response(405, method), what=f"405 to {method}")
            self.assertEqual(set(resp.header_list("Allow")), ALLOW, f"Allow in the 405 to {method}")
        # A method nobody knows: 501.
        c.request("FROBNICATE")
        c.expect(is_response(501, "FROBNICATE"))
        # BYE and CANCEL for nothing we know: 481.
        c.request("BYE", to_tag="nosuchtag", cseq=2)
        c.expect(is_response(481, "BYE"))
        c.request("CANCEL")
        c.expect(is_response(481, "CANCEL"))
        # A re-INVITE (To tag) for no dialog: 481.
        call_id = "nodialog@test"
        _, branch = c.request("INVITE", call_id=call_id, to_tag="nosuchtag", body=sh.offer_sdp(40000))
        resp = c.expect(final)
        self.assertEqual(resp.status, 481, f"re-INVITE outside any dialog: {resp.summary()}")
        # Garbage is dropped (and counted); the daemon goes on answering.
        c.send(b"\x00\x01 this is not SIP \xff\r\n\r\n")
        c.send("INVITE sip:tone@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1\r\n\r\n")
        c.request("OPTIONS")
        c.expect(is_response(200, "OPTIONS"))
        self.assertGreaterEqual(d.metric("sb_sip_bad_messages_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_total"), 0)
        self.assertTrue(d.proc.alive())
        self.stop_sip(d)

    def test_require_unknown_extension_gets_420(self):
        d = self.start_sip()
        c = self.caller(d)
        call = c.invite(sh.offer_sdp(40000), headers=["Require: x-no-such-extension"])
        resp = c.wait_answer(call)
        self.assertEqual(resp.status, 420, resp.summary())
        self.assertEqual(resp.header_list("Unsupported"), ["x-no-such-extension"])
        c.ack(call, response=resp)
        again = c.collect(3 * T1, is_response(420, "INVITE"))
        self.assertEqual(again, [], "420 resent after the ACK")
        self.assertEqual(d.metric("sb_sip_calls_rejected_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_active"), 0)
        self.stop_sip(d)

    def test_require_on_options_gets_420(self):
        """RFC 3261 8.2.2.3: any request (but ACK and CANCEL) that requires an
        extension we do not support gets 420, not just INVITE."""
        d = self.start_sip()
        c = self.caller(d)
        c.request("OPTIONS", headers=["Require: x-no-such-extension"])
        resp = c.expect(final)
        self.assertEqual(resp.status, 420, f"OPTIONS with Require: x-no-such-extension: {resp.summary()}")
        self.assertEqual(resp.header_list("Unsupported"), ["x-no-such-extension"])
        self.stop_sip(d)

    def test_final_responses_carry_a_to_tag(self):
        """RFC 3261 8.2.6.2: a response (but 100) to a request without a To tag
        gets one, whatever its status: 200 to OPTIONS, 405, 501, 420, 488."""
        d = self.start_sip()
        c = self.caller(d)
        missing = []
        for method in ("OPTIONS", "REGISTER", "FROBNICATE"):
            c.request(method)
            resp = c.expect(final, what=f"the answer to {method}")
            if not resp.tag("To"):
                missing.append(f"{resp.status} to {method}")
        for headers, sdp in ((["Require: x-no-such-extension"], sh.offer_sdp(40000)),
                             ([], sh.offer_sdp(40000, (sh.PT_G729,)))):
            call = c.invite(sdp, headers=headers)
            resp = c.wait_answer(call)
            c.ack(call, response=resp)
            if not resp.tag("To"):
                missing.append(f"{resp.status} to INVITE")
        self.assertEqual(missing, [], "final responses without a To tag")
        self.stop_sip(d)

    def test_bye_while_ringing(self):
        """A BYE on the early dialog (the 180's To tag, RFC 3261 15): 200 to
        it, and the pending INVITE must still get a final response (15.1.2:
        487 recommended); a retransmission of that INVITE starts no new call."""
        d = self.start_sip(behavior={"auto_answer_delay_ms": 1500})
        c = self.caller(d)
        r = self.rtp_receiver()
        call = c.invite(sh.offer_sdp(r.port))
        ringing = c.expect(is_response(180, "INVITE"))
        call.to_tag, call.target = ringing.tag("To"), ringing.contact_uri()
        c.bye(call)
        c.expect(is_response(200, "BYE"))
        finals = c.collect(1.0, lambda m: final(m) and m.cseq == (1, "INVITE"))
        if finals:
            c.ack(call, response=finals[0])
        c.send(call.invite_text)
        late = c.collect(1.0 + 2 * T1, lambda m: m.cseq == (1, "INVITE") and m.status in (180, 200))
        problems = []
        if [m.status for m in finals[:1]] != [487]:
            problems.append(f"final responses to the INVITE after the BYE: {[m.summary() for m in finals]}, "
                            f"expected a 487")
        if late:
            problems.append(f"the INVITE resent after the BYE got {[m.summary() for m in late]} (a new call)")
        self.assertEqual(problems, [])
        self.assertEqual(d.metric("sb_sip_calls_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_answered_total"), 0)
        self.assertEqual(r.packets(), [])
        self.stop_sip(d)

    # -- SDP answers ----------------------------------------------------------------------

    def test_codec_choice(self):
        """Our first preferred codec among those offered, with the offered
        payload numbers; telephone-event kept under its offered number; one
        m= line per offered one, the others refused with port 0 (RFC 3264 6)."""
        d = self.start_sip(media={"preferred_codecs": "PCMA,PCMU"})
        c = self.caller(d)
        video = "m=video 40010 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n"
        cases = [
            ("PCMU, PCMA, te", sh.offer_sdp(40000, (0, 8, 101)), ["8", "101"]),
            ("PCMU, te", sh.offer_sdp(40000, (0, 101)), ["0", "101"]),
            ("G.729, PCMU", sh.offer_sdp(40000, (18, 0)), ["0"]),
            ("PCMA, te as 97", sh.offer_sdp(40000, (8, 101)).replace("101", "97"), ["8", "97"]),
            ("audio then video", sh.offer_sdp(40000, (8,)) + video, ["8"]),
        ]
        for name, offer, formats in cases:
            call = c.invite(offer)
            resp = c.wait_answer(call)
            self.assertEqual(resp.status, 200, f"{name}: {resp.summary()}")
            answer = resp.sdp()
            self.assertEqual(answer.audio.formats, formats, f"{name}: answer formats")
            if "97" in formats:
                self.assertEqual(answer.audio.rtpmap(97), "telephone-event/8000", name)
            self.assertEqual([m.type for m in answer.media], [m.type for m in sh.Sdp(offer).media],
                             f"{name}: one m= line per offered one, in order")
            for m in answer.media[1:]:
                self.assertEqual(m.port, 0, f"{name}: a second stream refused with port 0")
            c.ack(call)
            self.hang_up(c, call)
        self.stop_sip(d)

    def test_no_telephone_event_when_dtmf_disabled(self):
        d = self.start_sip(media={"enable_dtmf": "false"})
        c = self.caller(d)
        call = c.invite(sh.offer_sdp(40000, (0, 101)))
        resp = c.wait_answer(call)
        self.assertEqual(resp.status, 200, resp.summary())
        self.assertEqual(resp.sdp().audio.formats, ["0"], "enable_dtmf = false: telephone-event refused")
        c.ack(call)
        self.hang_up(c, call)
        self.stop_sip(d)

    # -- 4. no common codec ------------------------------------------------------------

    def test_g729_only_offer_gets_488(self):
        d = self.start_sip()
        r = self.rtp_receiver()
        s = self.sipp(d, "uac_488.xml", keys={"rtp_port": r.port})
        rejected = s.received(is_response(488, "INVITE"))
        self.assertEqual(len(rejected), 1, "one 488 (not resent after our ACK)")
        warning = rejected[0].header("Warning")
        self.assertIsNotNone(warning, "488 without Warning")
        self.assertTrue(warning.startswith("305 "), f"Warning code 305 (incompatible media format): {warning}")
        self.assertEqual(s.received(is_response(180, "INVITE")), [], "rang before refusing the offer")
        self.assertEqual(d.metric("sb_sip_calls_rejected_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_active"), 0)
        self.assertEqual(r.packets(), [])
        self.stop_sip(d)

    # -- 5. no ACK ----------------------------------------------------------------------

    def test_no_ack_200_retransmitted_then_bye(self):
        """RFC 3261 13.3.1.4: the 200 is resent at T1, 2T1, 4T1... capped at
        T2 until the ACK; none after 64*T1: we hang up with a BYE."""
        d = self.start_sip(behavior={"tone_duration_seconds": 30})
        c = self.caller(d)
        r = self.rtp_receiver()
        call = c.invite(sh.offer_sdp(r.port))
        ringing = c.expect(is_response(180, "INVITE"))
        c.send(call.invite_text)  # a retransmitted INVITE while it rings: the 180 again
        self.assertEqual(c.expect(is_response(180, "INVITE")).raw, ringing.raw, "180 resent for the INVITE")
        first = c.expect(is_response(200, "INVITE"))
        bye = c.expect(is_request("BYE"), timeout=64 * T1 + 1.0, what="BYE after 64*T1 without ACK")
        oks_before_bye = c.collect(0, is_response(200, "INVITE"))  # those that came before the BYE
        times = [first.t] + [m.t for m in oks_before_bye]
        gaps = [b - a for a, b in zip(times, times[1:])]
        expected = []
        interval, at = T1, 0.0
        while at + interval < 64 * T1 - 0.05:
            at += interval
            expected.append(round(interval, 3))
            interval = min(2 * interval, T2)
        # Each resend is timed from the previous one: a late timer (a busy
        # machine) lengthens a gap and may leave room for one resend less.
        shown = f"got gaps {[round(g, 3) for g in gaps]}, expected {expected}"
        self.assertIn(len(gaps), (len(expected) - 1, len(expected)), f"200 retransmissions: {shown}")
        for i, (g, e) in enumerate(zip(gaps, expected)):
            self.assertTrue(e - 0.01 <= g <= e + 0.08, f"gap {i} between 200s: {g:.3f} s, expected {e} s "
                                                        f"(T1 {T1}, T2 {T2}); {shown}")
        for m in oks_before_bye:
            self.assertEqual(m.raw, first.raw, "a retransmitted 200 differs from the first")
        self.assertAlmostEqual(bye.t - first.t, 64 * T1, delta=0.15, msg="BYE at 64*T1 after the first 200")
        self.assertEqual(bye.call_id, call.call_id)
        self.assertEqual(bye.tag("From"), first.tag("To"))
        self.assertEqual(bye.tag("To"), call.from_tag)
        # Our BYE is a client transaction: resent at T1 until answered.
        bye_again = c.expect(is_request("BYE"), timeout=T1 * 3)
        self.assertAlmostEqual(bye_again.t - bye.t, T1, delta=0.03, msg="BYE retransmission after T1")
        self.assertEqual(bye_again.branch, bye.branch)
        c.respond(bye_again, 200, "OK")
        late = c.collect(3 * T2, lambda m: m.t > bye_again.t)
        self.assertEqual([m.summary() for m in late], [], "BYE or 200 resent after our 200 to the BYE")
        self.assertEqual(r.packets(), [], "RTP for a call never ACKed")
        self.assertEqual(len(d.log_lines(r"no ACK after 64\*T1")), 1)
        self.assertEqual(d.metric("sb_sip_calls_failed_total"), 1)
        self.assertEqual(d.metric("sb_sip_calls_active"), 0)
        self.stop_sip(d)

    # -- 10. the call limit -------------------------------------------------------------

    def answered_call(self, c, r):
        call = c.invite(sh.offer_sdp(r.port))
        resp = c.wait_answer(call)
        self.assertEqual(resp.status, 200, resp.summary())
        c.ack(call)
        return call

    def hang_up(self, c, call):
        c.bye(call)
        c.expect(lambda m: is_response(200, "BYE")(m) and m.call_id == call.call_id)

    def test_call_limit_486(self):
        d = self.start_sip(behavior={"max_concurrent_calls": 2, "tone_duration_seconds": 30})
        c = self.caller(d)
        r1, r2, r3, r4 = (self.rtp_receiver() for _ in range(4))
        call1 = self.answered_call(c, r1)
        call2 = self.answered_call(c, r2)
        s1, s2 = r1.wait_packets(3, 2.0), r2.wait_packets(3, 2.0)
        # Each call its own random SSRC, sequence and timestamp (RFC 3550 5.1).
        self.assertNotEqual(s1[0].ssrc, s2[0].ssrc, "two calls with the same SSRC")
        self.assertNotEqual(s1[0].sequence, s2[0].sequence, "two calls starting at the same sequence number")
        self.assertNotEqual(s1[0].timestamp, s2[0].timestamp, "two calls starting at the same timestamp")
        self.assertNotEqual(s1[0].source, s2[0].source, "two calls on the same RTP port")

        call3 = c.invite(sh.offer_sdp(r3.port))
        busy = c.wait_answer(call3)
        self.assertEqual(busy.status, 486, f"third call over max_concurrent_calls=2: {busy.summary()}")
        c.ack(call3, response=busy)
        self.assertEqual(c.collect(3 * T1, is_response(486, "INVITE")), [], "486 resent after the ACK")
        self.assertEqual(r3.packets(), [])
        self.assertEqual(d.metric("sb_sip_calls_active"), 2)
        self.assertEqual(d.metric("sb_sip_calls_rejected_total"), 1)
        self.assertEqual(len(d.log_lines("call limit 2 reached")), 1)

        # A call that ends frees its place.
        self.hang_up(c, call1)
        call4 = self.answered_call(c, r4)
        r4.wait_packets(3, 2.0)
        self.hang_up(c, call2)
        self.hang_up(c, call4)
        self.assertEqual(d.metric("sb_sip_calls_active"), 0)
        self.assertEqual(d.metric("sb_sip_calls_answered_total"), 3)
        self.stop_sip(d)

    def test_call_limit_503_with_retry_after(self):
        d = self.start_sip(sip={"busy_response": 503},
                           behavior={"max_concurrent_calls": 1, "tone_duration_seconds": 30})
        c = self.caller(d)
        r1, r2 = self.rtp_receiver(), self.rtp_receiver()
        call1 = self.answered_call(c, r1)
        call2 = c.invite(sh.offer_sdp(r2.port))
        busy = c.wait_answer(call2)
        self.assertEqual(busy.status, 503, busy.summary())
        retry = busy.header("Retry-After")
        self.assertIsNotNone(retry, "503 without Retry-After")
        self.assertTrue(retry.split(";")[0].strip().isdigit(), f"Retry-After: {retry}")
        c.ack(call2, response=busy)
        self.hang_up(c, call1)
        self.assertEqual(r2.packets(), [])
        self.stop_sip(d)

    # -- TCP framing ------------------------------------------------------------------------

    def test_tcp_framing(self):
        """Several messages in one segment, one message in several, a body
        delimited by Content-Length, and a CRLF keep-alive (RFC 5626 4.4.1)."""
        d = self.start_sip(sip={"transport": "both"})
        sock = socket.create_connection((HOST, d.sip_port), timeout=5)
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]

        def request(method, cseq, body=""):
            lines = [f"{method} sip:tone@{HOST}:{d.sip_port} SIP/2.0",
                     f"Via: SIP/2.0/TCP {HOST}:{port};branch=z9hG4bK-tcp-{cseq}",
                     "Max-Forwards: 70", f"From: <sip:caller@{HOST}>;tag=tcp{cseq}",
                     f"To: <sip:tone@{HOST}>", "Call-ID: tcp-framing@test", f"CSeq: {cseq} {method}"]
            if body:
                lines.append("Content-Type: text/plain")
            lines.append(f"Content-Length: {len(body)}")
            return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

        buf = b""

        def responses(n, timeout=3.0):
            nonlocal buf
            out = []
            deadline = time.monotonic() + timeout
            while len(out) < n:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    m = sh.SipMessage(head + sep)
                    length = int(m.header("Content-Length") or 0)
                    if len(rest) >= length:
                        out.append(sh.SipMessage(head + sep + rest[:length]))
                        buf = rest[length:]
                        continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(out)} of {n} responses over TCP within {timeout}s; "
                                         f"have {buf[:300]!r}")
                sock.settimeout(left)
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    raise AssertionError(f"TCP connection closed after {len(out)} of {n} responses")
                buf += chunk
            return out

        # Three messages in one write, the middle one with a body that looks like a request.
        body = "OPTIONS sip:x SIP/2.0\r\n\r\n"
        sock.sendall(request("OPTIONS", 1) + request("MESSAGE", 2, body) + request("OPTIONS", 3))
        got = responses(3)
        self.assertEqual([(m.status, m.cseq) for m in got],
                         [(200, (1, "OPTIONS")), (405, (2, "MESSAGE")), (200, (3, "OPTIONS"))])
        # One message in pieces, cut inside the start line, Content-Length and the blank line.
        data = request("OPTIONS", 4)
        cuts = [5, data.index(b"Content-Length") + 9, len(data) - 2, len(data)]
        at = 0
        for cut in cuts:
            sock.sendall(data[at:cut])
            at = cut
            time.sleep(0.05)
        got = responses(1)
        self.assertEqual((got[0].status, got[0].cseq), (200, (4, "OPTIONS")))
        self.assertTrue(got[0].header("Via").startswith("SIP/2.0/TCP"))
        # Keep-alive ping: the pong is a bare CRLF.
        sock.sendall(b"\r\n\r\n")
        deadline = time.monotonic() + 2.0
        while len(buf) < 2 and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                buf += sock.recv(100)
            except socket.timeout:
                break
        self.assertEqual(buf, b"\r\n", "answer to a CRLFCRLF keep-alive")
        self.assertEqual(d.metric("sb_sip_bad_messages_total"), 0)
        self.stop_sip(d)

    def test_tcp_connection_limit(self):
        """max_tcp_connections: one more connection is closed at once; when
        one closes, a new one is taken again."""
        d = self.start_sip(sip={"transport": "tcp", "max_tcp_connections": 2})

        def options(sock, cseq):
            port = sock.getsockname()[1]
            sock.sendall((f"OPTIONS sip:tone@{HOST}:{d.sip_port} SIP/2.0\r\n"
                          f"Via: SIP/2.0/TCP {HOST}:{port};branch=z9hG4bK-limit-{cseq}-{port}\r\n"
                          f"Max-Forwards: 70\r\nFrom: <sip:caller@{HOST}>;tag=l{cseq}\r\n"
                          f"To: <sip:tone@{HOST}>\r\nCall-ID: limit-{port}@test\r\nCSeq: {cseq} OPTIONS\r\n"
                          f"Content-Length: 0\r\n\r\n").encode())
            return sh.SipMessage(mh.recv_until(sock, b"\r\n\r\n", timeout=2.0))

        socks = []
        for i in range(2):
            s_ = socket.create_connection((HOST, d.sip_port), timeout=5)
            self.addCleanup(s_.close)
            socks.append(s_)
            self.assertEqual(options(s_, i + 1).status, 200, f"connection {i + 1}")
        extra = socket.create_connection((HOST, d.sip_port), timeout=5)
        self.addCleanup(extra.close)
        self.assertTrue(h.connection_closed(extra, 2.0), "a third connection over max_tcp_connections=2 stays open")
        d.wait_log("TCP connection refused")
        socks[0].close()

        def new_one_works():
            s_ = socket.create_connection((HOST, d.sip_port), timeout=5)
            self.addCleanup(s_.close)
            try:
                return options(s_, 9).status == 200
            except (AssertionError, OSError):
                return False
        h.wait_until(new_one_works, 3.0, interval=0.1, what="a new TCP connection taken after one closed")
        self.assertEqual(options(socks[1], 3).status, 200, "the second connection still works")
        self.stop_sip(d)

    # -- the daemon's life ------------------------------------------------------------------

    def test_stats_log_and_health(self):
        d = self.start_sip(sip={"stats_interval": "300ms"})
        self.assertEqual(d.http_get("/health"), (200, "ok\n"))
        c = self.caller(d)
        c.request("REGISTER")
        c.expect(is_response(405, "REGISTER"))
        lines = d.wait_log(r"\[sip\] calls: 0 total, 0 active", count=2, timeout=2.0)
        self.assertIn("0 rejected", lines[-1])
        self.stop_sip(d)

    def test_sigterm_exits_promptly(self):
        """SIGTERM with the default stats_interval (30 s): the daemon must not
        wait for the summary timer: [sip] stop() allows itself 500 ms."""
        d = self.start_sip(sip={"stats_interval": "30s"})
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.proc.wait(3.0)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - t0
        self.assertFalse(d.proc.alive(), f"vmodemd still running {took:.1f} s after SIGTERM (idle, "
                                         f"stats_interval 30s)")
        self.assertEqual(d.proc.returncode, 0)
        self.assertLess(took, 2.0)

    def test_sigterm_hangs_up_calls(self):
        """Shutdown: BYE to the answered call, 503 to the one still ringing,
        the RTP stopped, exit 0."""
        d = self.start_sip(behavior={"auto_answer_delay_ms": 600, "tone_duration_seconds": 30})
        c = self.caller(d)
        r1, r2 = self.rtp_receiver(), self.rtp_receiver()
        answered = self.answered_call(c, r1)
        r1.wait_packets(3, 2.0)
        ringing = c.invite(sh.offer_sdp(r2.port))
        c.expect(lambda m: is_response(180, "INVITE")(m) and m.call_id == ringing.call_id)
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        bye = c.expect(lambda m: is_request("BYE")(m) and m.call_id == answered.call_id, timeout=1.0,
                       what="BYE for the answered call at shutdown")
        c.respond(bye, 200, "OK")
        refused = c.wait_answer(ringing, timeout=1.0)
        self.assertEqual(refused.status, 503, f"ringing call at shutdown: {refused.summary()}")
        c.ack(ringing, response=refused)
        self.assertEqual(r1.packets(since=t0 + 0.06), [], "RTP after SIGTERM")
        self.assertEqual(r2.packets(), [])
        self.stop_sip(d)
        self.assertIn("stopped", d.log().splitlines()[-1])

    # -- re-INVITE without change, old-style hold ---------------------------------------------

    def test_reinvite_unchanged_then_old_style_hold(self):
        """A re-INVITE offering the same SDP (a session refresh) gets the same
        o= version (RFC 3264 8) and the tone goes on; one with c=0.0.0.0
        (RFC 2543 hold) stops it."""
        d = self.start_sip(behavior={"tone_duration_seconds": 30})
        c = self.caller(d)
        r = self.rtp_receiver()
        offer = sh.offer_sdp(r.port)
        call = self.answered_call(c, r)
        first = call.answer.sdp()
        r.wait_packets(5, 2.0)
        c.reinvite(call, offer)
        ok = c.wait_answer(call)
        self.assertEqual(ok.status, 200, ok.summary())
        c.ack(call)
        again = ok.sdp()
        self.assertEqual(again.origin["version"], first.origin["version"], "o= version of an unchanged answer")
        self.assertEqual(again.audio.port, first.audio.port)
        self.assertEqual(again.audio.formats, first.audio.formats)
        time.sleep(0.2)
        pk = r.packets()
        self.assertEqual([p for p in pk if p.marker], [pk[0]], "marker bit after a session refresh")
        gaps = [b.t - a.t for a, b in zip(pk, pk[1:])]
        self.assertLess(max(gaps), 0.045, "the tone paused during a session refresh")
        # RFC 2543 hold: c=0.0.0.0.
        c.reinvite(call, sh.offer_sdp(r.port, address="0.0.0.0", version=2))
        ok = c.wait_answer(call)
        self.assertEqual(ok.status, 200, ok.summary())
        held = ok.sdp()
        self.assertEqual(held.origin["version"], first.origin["version"] + 1, "o= version after a change")
        ack_at = time.time()
        c.ack(call)
        time.sleep(0.3)
        self.assertEqual(r.packets(since=ack_at + 0.1), [], "RTP more than 100 ms after the c=0.0.0.0 hold")
        self.hang_up(c, call)
        self.stop_sip(d)


if __name__ == "__main__":
    h.main()
