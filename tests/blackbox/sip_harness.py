"""Helpers for the SIP tone server black-box tests (test_sip*.py).

The tests start the real `vmodemd --config FILE` (path in env VMODEMD) with
the [sip] plugin on 127.0.0.1 and call it the way a phone or a SIP tester
does: Debian's SIPp (`sip-tester`) runs the scenarios of tests/sip/scenarios,
and a small hand-written caller (SipCaller) makes the exchanges SIPp does not
make easy (requests it never sends, an INVITE never ACKed, timing to the
millisecond). The audio ends of calls are UDP sockets owned by the test
(RtpReceiver), which record every RTP and RTCP packet with its arrival time.
This module holds:

- SipDaemon and SipTestCase.start_sip: the daemon with a generated INI file,
  its log (stderr), /metrics and /health;
- Sipp / SipTestCase.sipp: one SIPp run, its exit code and its message trace
  read back as timed SIP messages (SIPp stamps them with the wall clock, and
  the kernel stamps what the test's sockets receive with the same clock, so
  the two can be compared);
- SipMessage and Sdp: parsers for what the daemon sends;
- SipCaller: a UDP SIP user agent client built from plain strings;
- RtpReceiver, parse_rtp, parse_rtcp: the far end of the media;
- G.711 decoding (ulaw_to_linear, alaw_to_linear) and the tone measures
  (fit_tone: least-squares fit of a sine at a known frequency: level and
  purity; goertzel_power; zero_crossing_frequency), and the checks built on
  them (SipTestCase.check_tone_stream).

Only the standard library; run with /usr/bin/python3.
"""
import bisect
import math
import os
import random
import re
import select
import shutil
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
SCENARIOS = os.path.normpath(os.path.join(HERE, "..", "sip", "scenarios"))
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SIPP_PCAPS = "/usr/share/sip-tester"

RATE = 8000              # G.711 samples per second
FRAME = 160              # samples per 20 ms packet
PACKET_INTERVAL = 0.020
TONE_HZ = 440.0
TONE_DBFS = -9.0
FULL_SCALE = 32767.0     # the daemon's 0 dBFS: the peak of a full-scale sine

# Short timers keep the suite fast; tests derive their waits from these.
T1 = 0.100
T2 = 0.400
ANSWER_DELAY = 0.100

PT_PCMU, PT_PCMA, PT_G729, PT_DTMF = 0, 8, 18, 101


def vmodemd_path():
    return h.binary_path("VMODEMD")


def rng():
    return random.SystemRandom()


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

def udp_port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_sip_port():
    """A port free for both TCP and UDP (SIP listens on both with transport=both)."""
    for _ in range(50):
        port = h.free_port()
        if udp_port_free(port):
            return port
    raise RuntimeError("no port free for both TCP and UDP")


def free_rtp_range(size=40):
    """(start, end) of a block of UDP ports for the daemon's RTP; it skips any
    port that someone else holds, so a clash costs nothing but a port."""
    for _ in range(100):
        start = rng().randrange(20000, 60000, 2)
        if all(udp_port_free(p) for p in (start, start + 1, start + 2, start + 3)):
            return start, start + size - 1
    raise RuntimeError("no free RTP port range")


# Linux's SO_TIMESTAMPNS (asm-generic): the kernel stamps each datagram with
# its arrival time (CLOCK_REALTIME, the clock of time.time() and of SIPp's
# trace), so a busy test process does not blur what the daemon did.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def stamp_arrivals(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        pass


def recv_stamped(sock, size=65536):
    """(data, source, t) with t the kernel's arrival time, or time.time() if it gave none."""
    data, anc, _, src = sock.recvmsg(size, socket.CMSG_SPACE(16))
    t = time.time()
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
            sec, nsec = struct.unpack("qq", cdata[:16])
            t = sec + nsec / 1e9
    return data, src, t


def udp_bound(port):
    """True if some UDP socket is bound to port (from /proc: probing a SIP
    port with a datagram would be a message to the daemon)."""
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


# --------------------------------------------------------------------------
# SIP messages and SDP
# --------------------------------------------------------------------------

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}


class SipMessage:
    """A parsed SIP message: .is_request, .method/.uri or .status/.reason,
    header lookup by any case or compact form, .body (str), .t (when it was
    received or sent, time.time() clock), .raw."""

    def __init__(self, raw, t=None, source=None):
        self.raw = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.t = t
        self.source = source
        head, sep, body = self.raw.partition("\r\n\r\n")
        if not sep:
            head, sep, body = self.raw.partition("\n\n")
        lines = head.replace("\r\n", "\n").split("\n")
        self.start_line = lines[0]
        self.fields = []  # (lower-case full name, value)
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.fields:  # folded
                name, value = self.fields[-1]
                self.fields[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.fields.append((COMPACT.get(name, name), value.strip()))
        length = self.header("Content-Length")
        self.body = body[:int(length)] if length and length.isdigit() else body
        parts = self.start_line.split(" ", 2)
        self.is_request = not self.start_line.startswith("SIP/")
        if self.is_request:
            self.method, self.uri = parts[0], parts[1] if len(parts) > 1 else ""
            self.status, self.reason = None, None
        else:
            self.method, self.uri = None, None
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            self.reason = parts[2] if len(parts) > 2 else ""

    def header(self, name):
        """The first value of header name, or None."""
        values = self.headers(name)
        return values[0] if values else None

    def headers(self, name):
        key = name.lower()
        key = COMPACT.get(key, key)
        return [v for n, v in self.fields if n == key]

    def header_list(self, name):
        """A comma-separated header (Allow, Supported...) as a list of tokens,
        every instance of it together."""
        out = []
        for v in self.headers(name):
            out += [t.strip() for t in v.split(",") if t.strip()]
        return out

    def tag(self, name):
        """The tag parameter of From or To, or None."""
        v = self.header(name)
        if v is None:
            return None
        m = re.search(r";\s*tag=([^;>\s]+)", v.rsplit(">", 1)[-1] if ">" in v else v)
        return m.group(1) if m else None

    @property
    def cseq(self):
        v = self.header("CSeq")
        if not v:
            return None, None
        num, _, method = v.partition(" ")
        return int(num), method.strip()

    @property
    def branch(self):
        v = self.header("Via")
        m = re.search(r";\s*branch=([^;,\s]+)", v or "")
        return m.group(1) if m else None

    @property
    def call_id(self):
        return self.header("Call-ID")

    def contact_uri(self):
        v = self.header("Contact")
        if not v:
            return None
        m = re.search(r"<([^>]*)>", v)
        return m.group(1) if m else v.split(";")[0].strip()

    def sdp(self):
        return Sdp(self.body) if self.body.strip() else None

    def summary(self):
        return self.start_line + (f" (CSeq {self.header('CSeq')})" if self.header("CSeq") else "")

    def __repr__(self):
        return f"SipMessage({self.summary()!r})"


def is_response(status, method=None):
    """A predicate for SipCaller.expect: a response with this status (and CSeq method)."""
    def match(m):
        return (not m.is_request and m.status == status and (method is None or m.cseq[1] == method))
    match.__name__ = f"{status} response to {method or 'any request'}"
    return match


def is_request(method):
    def match(m):
        return m.is_request and m.method == method
    match.__name__ = f"{method} request"
    return match


class SdpMedia:
    def __init__(self, line):
        parts = line.split()
        self.type = parts[0]
        self.port = int(parts[1].split("/")[0])
        self.proto = parts[2]
        self.formats = parts[3:]
        self.attributes = []  # (name, value or None)
        self.connection = None

    def attr(self, name):
        return [v for n, v in self.attributes if n == name]

    def rtpmap(self, pt):
        for v in self.attr("rtpmap"):
            num, _, enc = v.partition(" ")
            if num == str(pt):
                return enc
        return None

    def payload_for(self, encoding):
        """The payload type an rtpmap gives to encoding (e.g. "telephone-event"), or None."""
        for v in self.attr("rtpmap"):
            num, _, enc = v.partition(" ")
            if enc.split("/")[0].lower() == encoding.lower():
                return int(num)
        return None

    @property
    def direction(self):
        for n, _ in self.attributes:
            if n in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return n
        return None


class Sdp:
    """The parts of an SDP body the tests look at: o=, c= (session and
    media), and the m= lines with their a= attributes."""

    def __init__(self, text):
        self.text = text
        self.lines = [l for l in text.replace("\r\n", "\n").split("\n") if l]
        self.origin = None
        self.connection = None
        self.media = []
        self.attributes = []
        for line in self.lines:
            kind, _, value = line.partition("=")
            if kind == "o":
                f = value.split()
                self.origin = {"username": f[0], "session_id": f[1], "version": int(f[2]),
                               "address": f[5] if len(f) > 5 else None}
            elif kind == "c":
                addr = value.split()[2].split("/")[0]
                if self.media:
                    self.media[-1].connection = addr
                else:
                    self.connection = addr
            elif kind == "m":
                self.media.append(SdpMedia(value))
            elif kind == "a":
                name, sep, v = value.partition(":")
                (self.media[-1].attributes if self.media else self.attributes).append((name, v if sep else None))

    @property
    def audio(self):
        for m in self.media:
            if m.type == "audio":
                return m
        return None

    def address_of(self, media):
        return media.connection or self.connection

    @property
    def direction(self):
        """Media-level direction, else session-level, else sendrecv."""
        m = self.audio
        if m is not None and m.direction:
            return m.direction
        for n, _ in self.attributes:
            if n in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return n
        return "sendrecv"


RTPMAPS = {PT_PCMU: ["a=rtpmap:0 PCMU/8000"],
           PT_PCMA: ["a=rtpmap:8 PCMA/8000"],
           PT_G729: ["a=rtpmap:18 G729/8000", "a=fmtp:18 annexb=no"],
           PT_DTMF: ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]}


def rtpmap_lines(formats):
    """The a=rtpmap (and fmtp) lines for payload types formats, CRLF-joined
    (for SIPp's -key rtpmaps and for SipCaller's offers)."""
    return "\r\n".join(line for pt in formats for line in RTPMAPS[pt])


def offer_sdp(rtp_port, formats=(PT_PCMU, PT_DTMF), direction="sendrecv", version=1, address=HOST,
              session_id=4242):
    lines = ["v=0", f"o=caller {session_id} {version} IN IP4 {address}", "s=-", f"c=IN IP4 {address}",
             "t=0 0", f"m=audio {rtp_port} RTP/AVP {' '.join(map(str, formats))}",
             rtpmap_lines(formats), f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------

class SipDaemon:
    """A running vmodemd with the SIP plugin: .proc (harness Process),
    .sip_port, .http_port, .rtp_range, .config (the sections written)."""

    def __init__(self, proc, sip_port, http_port, rtp_range, config):
        self.proc, self.sip_port, self.http_port = proc, sip_port, http_port
        self.rtp_range, self.config = rtp_range, config

    def log(self):
        return self.proc.stderr_text()

    def log_lines(self, pattern):
        """The log lines that match the regular expression pattern."""
        rx = re.compile(pattern)
        return [l for l in self.log().splitlines() if rx.search(l)]

    def wait_log(self, pattern, timeout=5.0, count=1):
        """Waits until count log lines match pattern; returns them."""
        found = []

        def seen():
            nonlocal found
            found = self.log_lines(pattern)
            return len(found) >= count
        h.wait_until(seen, timeout, what=f"{count} log line(s) matching {pattern!r}")
        return found

    def http_get(self, path, timeout=5.0):
        return h.http_get(self.http_port, path, timeout)

    def metrics(self):
        """{'name{labels}': value} from /metrics."""
        return h.get_metrics(self.http_port)

    def metric(self, name, labels='plugin="sip"'):
        m = self.metrics()
        key = f"{name}{{{labels}}}" if labels else name
        if key not in m:
            known = sorted(k for k in m if k.startswith("sb_sip"))
            raise AssertionError(f"metric {key} not in /metrics; sb_sip ones: {known}")
        return m[key]


# --------------------------------------------------------------------------
# SIPp
# --------------------------------------------------------------------------

TRACE_HEAD = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d[ \t]\d\d:\d\d:\d\d)(\.\d+)\s*\n"
                        r"(UDP|TCP|TLS|SCTP) message (sent|received) (?:\(\d+ bytes\)|\[\d+\] bytes)\s*:[ \t]*\n",
                        re.M)


def parse_sipp_trace(text):
    """SIPp's -trace_msg file as a list of SipMessage with .t (wall clock,
    SIPp's stamp) and .direction ('sent' or 'received')."""
    heads = list(TRACE_HEAD.finditer(text))
    out = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        raw = text[m.end():end].lstrip("\n")
        t = time.mktime(time.strptime(m.group(1).replace("\t", " "), "%Y-%m-%d %H:%M:%S")) + float(m.group(2))
        msg = SipMessage(raw, t)
        msg.direction = m.group(4)
        msg.transport = m.group(3)
        out.append(msg)
    return out


class SippProcess(h.Process):
    """A SIPp run; on failure the test prints its errors and message trace too."""

    def describe(self, tail=120):
        s = super().describe(tail)
        for title, path in (("errors", self.error_path), ("messages", self.message_path)):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            lines = text.splitlines()
            s += f"  {title} ({path}, last {min(len(lines), 150)} lines):\n"
            s += "\n".join("    " + l for l in lines[-150:]) + "\n"
        return s


class Sipp:
    """One SIPp run of a scenario against the daemon: the caller's side."""

    def __init__(self, proc, port, media_port):
        self.proc, self.port, self.media_port = proc, port, media_port

    def wait(self, timeout=30.0):
        """Waits for SIPp to exit; returns its exit code."""
        try:
            self.proc.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"SIPp still running after {timeout}s\n{self.proc.describe()}") from None
        self.proc._reap()
        return self.proc.returncode

    def messages(self):
        try:
            with open(self.proc.message_path, "rb") as f:
                return parse_sipp_trace(f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return []

    def sent(self, pred=None):
        return [m for m in self.messages() if m.direction == "sent" and (pred is None or pred(m))]

    def received(self, pred=None):
        return [m for m in self.messages() if m.direction == "received" and (pred is None or pred(m))]


# --------------------------------------------------------------------------
# A hand-made SIP caller (UDP)
# --------------------------------------------------------------------------

class SipCaller:
    """A SIP UAC on its own UDP socket. Requests are built from strings;
    received messages are kept in arrival order and handed out by expect(),
    which skips (and keeps) those that do not match."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        stamp_arrivals(self.sock)
        self.port = self.sock.getsockname()[1]
        self.pending = []   # received, not yet handed out
        self.received = []  # everything received
        self._n = 0

    def close(self):
        self.sock.close()

    def new_branch(self):
        self._n += 1
        return f"z9hG4bK-test-{self._n}-{rng().getrandbits(40):x}"

    def new_tag(self):
        return f"{rng().getrandbits(48):x}"

    def send(self, text):
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.sock.sendto(data, (HOST, self.daemon.sip_port))
        return time.time()

    def _read(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, src, t = recv_stamped(self.sock)
        except socket.timeout:
            return None
        m = SipMessage(data, t, src)
        self.received.append(m)
        return m

    def expect(self, match, timeout=3.0, what=None):
        """The first received message (pending or new) for which match(m) is true."""
        for i, m in enumerate(self.pending):
            if match(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                got = ", ".join(m.summary() for m in self.received[-12:]) or "nothing"
                raise AssertionError(f"no {what or getattr(match, '__name__', 'match')} from the daemon within "
                                     f"{timeout}s; last received: {got}")
            m = self._read(left)
            if m is None:
                continue
            if match(m):
                return m
            self.pending.append(m)

    def collect(self, seconds, match=lambda m: True):
        """Every message matching match that arrives within seconds (pending ones too)."""
        got = [m for m in self.pending if match(m)]
        self.pending = [m for m in self.pending if not match(m)]
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            m = self._read(left)
            if m is None:
                continue
            (got if match(m) else self.pending).append(m)
        return got

    def request(self, method, call_id=None, from_tag=None, to_tag=None, cseq=1, branch=None, uri=None,
                headers=(), body="", content_type="application/sdp", send=True):
        """Builds (and sends) a request; returns its text and branch."""
        branch = branch or self.new_branch()
        uri = uri or f"sip:tone@{HOST}:{self.daemon.sip_port}"
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:caller@{HOST}:{self.port}>;tag={from_tag or self.new_tag()}",
                 f"To: <sip:tone@{HOST}:{self.daemon.sip_port}>" + (f";tag={to_tag}" if to_tag else ""),
                 f"Call-ID: {call_id or self.new_tag() + '@test'}",
                 f"CSeq: {cseq} {method}",
                 f"Contact: <sip:caller@{HOST}:{self.port}>"]
        lines += list(headers)
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
        text = "\r\n".join(lines) + "\r\n\r\n" + body
        if send:
            self.send(text)
        return text, branch

    def invite(self, sdp=None, headers=()):
        """Sends an INVITE (with sdp as the offer, or none); returns the Call."""
        call = Call(self.new_tag() + "@test", self.new_tag())
        call.invite_text, call.branch = self.request("INVITE", call.call_id, call.from_tag, cseq=call.cseq,
                                                     headers=headers, body=sdp or "")
        call.sent_at = time.time()
        return call

    def wait_answer(self, call, timeout=3.0):
        """The 200 to call's INVITE (provisional answers are collected in call.provisional)."""
        def final(m):
            return (not m.is_request and m.call_id == call.call_id and m.cseq == (call.cseq, "INVITE")
                    and m.status >= 200)
        final.__name__ = f"final answer to INVITE {call.call_id}"
        resp = self.expect(final, timeout)
        call.provisional = [m for m in self.received if not m.is_request and m.call_id == call.call_id
                            and m.status is not None and m.status < 200]
        call.answer = resp
        if resp.status == 200:
            call.to_tag = resp.tag("To")
            call.target = resp.contact_uri()
        return resp

    def ack(self, call, body="", response=None):
        """ACK for a 2xx (new branch, to the Contact) or, given the non-2xx
        response, for it (the INVITE's branch, RFC 3261 17.1.1.3)."""
        if response is not None and response.status >= 300:
            return self.request("ACK", call.call_id, call.from_tag, response.tag("To"), call.cseq,
                                branch=call.branch)[0]
        return self.request("ACK", call.call_id, call.from_tag, call.to_tag, call.cseq, uri=call.target,
                            body=body)[0]

    def bye(self, call):
        call.cseq += 1
        text, call.bye_branch = self.request("BYE", call.call_id, call.from_tag, call.to_tag, call.cseq,
                                             uri=call.target)
        call.bye_at = time.time()
        return text

    def reinvite(self, call, sdp):
        call.cseq += 1
        text, call.branch = self.request("INVITE", call.call_id, call.from_tag, call.to_tag, call.cseq,
                                         uri=call.target, body=sdp)
        return text

    def respond(self, req, status, reason, headers=(), to_tag=None):
        """A response to a request from the daemon (its BYE)."""
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {v}" for v in req.headers("Via")]
        lines += [f"From: {req.header('From')}"]
        to = req.header("To")
        if to_tag and "tag=" not in to:
            to += f";tag={to_tag}"
        lines += [f"To: {to}", f"Call-ID: {req.call_id}", f"CSeq: {req.header('CSeq')}"]
        lines += list(headers) + ["Content-Length: 0"]
        return self.send("\r\n".join(lines) + "\r\n\r\n")


class Call:
    """One call made by SipCaller: its dialog identifiers and last INVITE."""

    def __init__(self, call_id, from_tag):
        self.call_id, self.from_tag = call_id, from_tag
        self.to_tag = None       # from the 200
        self.target = None       # the 200's Contact: Request-URI of ACK, BYE, re-INVITE
        self.cseq = 1
        self.branch = None       # of the last INVITE
        self.invite_text = None  # the first INVITE as sent (to resend it)
        self.sent_at = None
        self.answer = None       # the final response to the last INVITE
        self.provisional = []
        self.bye_branch = None
        self.bye_at = None


# --------------------------------------------------------------------------
# RTP
# --------------------------------------------------------------------------

class RtpPacket:
    __slots__ = ("version", "padding", "extension", "csrc_count", "marker", "payload_type", "sequence",
                 "timestamp", "ssrc", "payload", "t", "source")

    def __repr__(self):
        return (f"RTP(pt={self.payload_type} m={int(self.marker)} seq={self.sequence} ts={self.timestamp} "
                f"ssrc={self.ssrc:08x} {len(self.payload)} bytes)")


def parse_rtp(data, t=None, source=None):
    if len(data) < 12:
        raise ValueError(f"RTP packet of {len(data)} bytes")
    b0, b1, seq, ts, ssrc = struct.unpack(">BBHII", data[:12])
    p = RtpPacket()
    p.version, p.padding, p.extension, p.csrc_count = b0 >> 6, bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F
    p.marker, p.payload_type = bool(b1 & 0x80), b1 & 0x7F
    p.sequence, p.timestamp, p.ssrc = seq, ts, ssrc
    p.payload = data[12 + 4 * p.csrc_count:]
    p.t, p.source = t, source
    return p


def rtp_packet(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF,
                       ssrc) + payload


def telephone_event(event, end, volume, duration):
    """An RFC 4733 event payload."""
    return struct.pack(">BBH", event, (0x80 if end else 0) | (volume & 0x3F), duration)


def parse_rtcp(data):
    """An RTCP compound packet as a list of (packet type, body bytes after the
    4-byte header, first byte's count field)."""
    out = []
    while len(data) >= 4:
        b0, pt, length = struct.unpack(">BBH", data[:4])
        size = 4 * (length + 1)
        out.append((pt, data[4:size], b0 & 0x1F))
        data = data[size:]
    return out


class RtpReceiver:
    """UDP sockets on an even port (RTP) and the next one (RTCP), recording
    every datagram with its arrival time (the kernel's, on the time.time()
    clock) in a thread."""

    def __init__(self):
        for _ in range(100):
            port = rng().randrange(20000, 60000, 2)
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtp.bind((HOST, port))
                rtcp.bind((HOST, port + 1))
            except OSError:
                rtp.close()
                rtcp.close()
                continue
            break
        else:
            raise RuntimeError("no free even UDP port pair for RTP")
        rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        stamp_arrivals(rtp)
        stamp_arrivals(rtcp)
        self.sock, self.rtcp_sock, self.port = rtp, rtcp, port
        self._lock = threading.Lock()
        self._rtp, self._rtcp, self._bad = [], [], []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        socks = [self.sock, self.rtcp_sock]
        while not self._closed:
            try:
                ready, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                return
            for s in ready:
                try:
                    data, src, t = recv_stamped(s)
                except OSError:
                    continue
                with self._lock:
                    if s is self.rtcp_sock:
                        self._rtcp.append((t, data, src))
                        continue
                    try:
                        self._rtp.append(parse_rtp(data, t, src))
                    except ValueError:
                        self._bad.append((t, data, src))

    def packets(self, since=None, until=None):
        with self._lock:
            out = list(self._rtp)
        return [p for p in out if (since is None or p.t >= since) and (until is None or p.t < until)]

    def rtcp(self):
        with self._lock:
            return list(self._rtcp)

    def bad(self):
        with self._lock:
            return list(self._bad)

    def wait_packets(self, count, timeout, since=None):
        h.wait_until(lambda: len(self.packets(since)) >= count, timeout, interval=0.005,
                     what=f"{count} RTP packets on port {self.port} (got {len(self.packets(since))})")
        return self.packets(since)

    def wait_quiet(self, seconds, timeout):
        """Waits until no packet has arrived for seconds; returns the arrival time of the last one."""
        def quiet():
            p = self.packets()
            return time.time() - (p[-1].t if p else 0) >= seconds
        h.wait_until(quiet, timeout, interval=0.01, what=f"RTP on port {self.port} to stop")
        p = self.packets()
        return p[-1].t if p else None

    def send(self, data, to):
        self.sock.sendto(data, to)

    def close(self):
        self._closed = True
        self._thread.join(1.0)
        self.sock.close()
        self.rtcp_sock.close()


# --------------------------------------------------------------------------
# G.711 and the tone
# --------------------------------------------------------------------------

def ulaw_to_linear(code):
    """ITU-T G.711 mu-law to 16-bit linear (the classic Sun reference decoder)."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def alaw_to_linear(code):
    """ITU-T G.711 A-law to 16-bit linear."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


ULAW = [ulaw_to_linear(i) for i in range(256)]
ALAW = [alaw_to_linear(i) for i in range(256)]


def decode(payload, pt):
    table = {PT_PCMU: ULAW, PT_PCMA: ALAW}[pt]
    return [table[b] for b in payload]


def _solve3(a, b):
    """Solves the 3x3 system a x = b (Gaussian elimination with pivoting)."""
    m = [row[:] + [v] for row, v in zip(a, b)]
    for col in range(3):
        piv = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, 3):
            f = m[r][col] / m[col][col]
            for c in range(col, 4):
                m[r][c] -= f * m[col][c]
    x = [0.0] * 3
    for r in (2, 1, 0):
        x[r] = (m[r][3] - sum(m[r][c] * x[c] for c in range(r + 1, 3))) / m[r][r]
    return x


class ToneFit:
    """A least-squares fit of samples to A*sin(2 pi f t + phi) + dc."""

    def __init__(self, amplitude, dc, purity, energy):
        self.amplitude, self.dc, self.purity, self.energy = amplitude, dc, purity, energy

    @property
    def dbfs(self):
        return 20 * math.log10(self.amplitude / FULL_SCALE) if self.amplitude > 0 else -math.inf


def fit_tone(samples, freq=TONE_HZ, rate=RATE, positions=None):
    """Fits samples to a sine at freq plus a constant. purity is the energy
    of the sine over the energy of the samples: 1.0 for a clean tone, less
    for any other frequency, noise, glitches or phase jumps in the block.
    positions: each sample's index on the sample clock (default 0, 1, 2...)."""
    w = 2 * math.pi * freq / rate
    where = range(len(samples)) if positions is None else positions
    s = [math.sin(w * i) for i in where]
    c = [math.cos(w * i) for i in where]
    n = len(samples)
    ss = sum(v * v for v in s)
    cc = sum(v * v for v in c)
    sc = sum(x * y for x, y in zip(s, c))
    s1, c1 = sum(s), sum(c)
    xs = sum(x * y for x, y in zip(samples, s))
    xc = sum(x * y for x, y in zip(samples, c))
    x1 = sum(samples)
    a, b, dc = _solve3([[ss, sc, s1], [sc, cc, c1], [s1, c1, n]], [xs, xc, x1])
    energy = sum(x * x for x in samples)
    fitted = sum((a * si + b * ci) ** 2 for si, ci in zip(s, c))
    return ToneFit(math.hypot(a, b), dc, fitted / energy if energy else 0.0, energy)


def goertzel_power(samples, freq, rate=RATE):
    """Power of samples at freq (Goertzel), normalised so a sine of amplitude
    A over the whole block gives A^2 / 2 per sample, like the mean square."""
    w = 2 * math.pi * freq / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * power / (len(samples) ** 2)


def zero_crossing_frequency(samples, rate=RATE):
    """Frequency from the rising zero crossings (interpolated) of samples."""
    ups = []
    for i in range(1, len(samples)):
        a, b = samples[i - 1], samples[i]
        if a < 0 <= b:
            ups.append(i - 1 + (-a) / (b - a))
    if len(ups) < 2:
        return 0.0
    return (len(ups) - 1) * rate / (ups[-1] - ups[0])


def percentile(values, q):
    v = sorted(values)
    if not v:
        return 0.0
    k = min(len(v) - 1, max(0, int(math.ceil(q * len(v))) - 1))
    return v[k]


def seq_diff(a, b):
    """b - a for 16-bit sequence numbers."""
    return (b - a) & 0xFFFF


def ts_diff(a, b):
    return (b - a) & 0xFFFFFFFF


# --------------------------------------------------------------------------
# Test case base
# --------------------------------------------------------------------------

class SipTestCase(h.BlackboxTestCase):
    """BlackboxTestCase with a vmodemd SIP daemon, SIPp runs, SIP callers and
    RTP receivers that are all closed after the test whatever happens."""

    def start_sip(self, sip=None, behavior=None, media=None, host=None, wait=True):
        """vmodemd --config FILE with [host], [sip], [sip.behavior] and
        [sip.media] from the test defaults updated by the given dicts."""
        sip_port = free_sip_port()
        http_port = h.free_port()
        rtp = free_rtp_range()
        sections = {
            "host": {"http": f"{HOST}:{http_port}", "log_level": "debug", **(host or {})},
            # stats_interval 0: no summary timer, which a test of its own covers
            # (test_sip_transactions: test_stats_log_and_prompt_shutdown).
            "sip": {"bind_address": HOST, "port": sip_port, "transport": "udp",
                    "t1": f"{int(T1 * 1000)}ms", "t2": f"{int(T2 * 1000)}ms", "stats_interval": "0s",
                    **(sip or {})},
            "sip.behavior": {"auto_answer": "true", "auto_answer_delay_ms": int(ANSWER_DELAY * 1000),
                             "tone_duration_seconds": 3, "tone_frequency": TONE_HZ,
                             "tone_level_dbfs": TONE_DBFS, **(behavior or {})},
            "sip.media": {"rtp_port_range_start": rtp[0], "rtp_port_range_end": rtp[1],
                          "preferred_codecs": "PCMU,PCMA", "enable_dtmf": "true",
                          "audio_sample_rate": RATE, **(media or {})},
        }
        path = os.path.join(h.tmpdir(), f"{self.id().rsplit('.', 1)[-1]}-{time.monotonic_ns()}.ini")
        with open(path, "w") as f:
            f.write(h.config_text(sections))
        p = self._track(h.Process("vmodemd", [vmodemd_path(), "--config", path]))
        d = SipDaemon(p, sip_port, http_port, rtp, sections)
        if wait:
            self.wait_sip_ready(d)
        return d

    def wait_sip_ready(self, d, timeout=10.0):
        transport = str(d.config["sip"].get("transport", "udp"))

        def ready():
            if not d.proc.alive():
                raise AssertionError(f"vmodemd exited with {d.proc.returncode} at start-up:\n"
                                     f"{d.proc.stderr_text()[-3000:]}")
            if "SIP on " not in d.log() or not mh.listening(d.http_port):
                return False
            if transport in ("udp", "both") and not udp_bound(d.sip_port):
                return False
            if transport in ("tcp", "both") and not mh.listening(d.sip_port):
                return False
            return True
        h.wait_until(ready, timeout, what="vmodemd's SIP and HTTP listeners")

    def stop_sip(self, d, timeout=10.0):
        """SIGTERM and exit code 0."""
        self.stop_gracefully(d.proc, timeout=timeout)

    def rtp_receiver(self):
        r = RtpReceiver()
        self.addCleanup(r.close)
        return r

    def caller(self, d):
        c = SipCaller(d)
        self.addCleanup(c.close)
        return c

    def sipp(self, d, scenario, *args, keys=None, transport="u1", timeout=30, wait=True):
        """sipp 127.0.0.1:PORT -sf tests/sip/scenarios/SCENARIO -m 1 ... ARGS.
        keys become -key NAME VALUE ([NAME] in the scenario). With wait, runs
        it to its end; returns the Sipp either way."""
        if not os.access(SIPP, os.X_OK):
            self.skipTest(f"{SIPP} not installed (Debian package sip-tester)")
        port = free_sip_port()
        media_port = free_rtp_range(4)[0]
        base = os.path.join(h.tmpdir(), f"{self.id().rsplit('.', 1)[-1]}-{scenario}-{time.monotonic_ns()}")
        argv = [SIPP, f"{HOST}:{d.sip_port}", "-sf", os.path.join(SCENARIOS, scenario), "-m", "1",
                "-i", HOST, "-p", port, "-mp", media_port, "-t", transport, "-nostdin",
                "-timeout", f"{timeout}s", "-timeout_error", "-max_retrans", "5",
                "-trace_msg", "-message_file", base + ".msg", "-trace_err", "-error_file", base + ".errors"]
        for k, v in (keys or {}).items():
            argv += ["-key", k, str(v)]
        argv += list(args)
        p = SippProcess("sipp-" + scenario.rsplit(".", 1)[0], argv)
        p.message_path, p.error_path = base + ".msg", base + ".errors"
        self._track(p)
        s = Sipp(p, port, media_port)
        if wait:
            rc = s.wait(timeout + 10)
            self.assertEqual(rc, 0, f"SIPp {scenario}: exit code {rc} (0: the call went as the scenario "
                                    f"says; its errors and message trace are printed below)")
        return s

    # -- media checks shared by the call tests --------------------------------

    def check_tone_stream(self, packets, pt, duration, what="tone", skipped=0):
        """The RTP of one answered call: headers, pacing, G.711 content, length.
        skipped: the frames the daemon says it skipped after a stall
        (sb_sip_rtp_late_frames_total; a loaded machine): its timestamps may
        jump by that many frames in all, the sequence numbers never."""
        self.check_rtp_headers(packets, pt, what, skipped)
        self.check_pacing(packets, what)
        # Length: tone_duration_seconds of audio.
        played = packets[-1].t - packets[0].t + PACKET_INTERVAL
        self.assertAlmostEqual(played, duration, delta=0.3, msg=f"{what}: seconds of RTP")
        self.assertAlmostEqual(len(packets), duration * 50, delta=15, msg=f"{what}: packets")
        return self.check_tone(packets, pt, what)

    def check_rtp_headers(self, packets, pt, what, skipped=0):
        self.assertGreater(len(packets), 10, f"{what}: only {len(packets)} RTP packets")
        p0 = packets[0]
        jumps = 0
        for i, p in enumerate(packets):
            self.assertEqual((p.version, p.padding, p.extension, p.csrc_count), (2, False, False, 0),
                             f"{what}: packet {i} header {p}")
            self.assertEqual(p.payload_type, pt, f"{what}: payload type of packet {i}")
            self.assertEqual(len(p.payload), FRAME, f"{what}: payload of packet {i}: 160 samples of 20 ms")
            self.assertEqual(p.ssrc, p0.ssrc, f"{what}: SSRC changed at packet {i}")
            self.assertEqual(p.marker, i == 0, f"{what}: marker bit on packet {i} (set on the first only)")
            self.assertEqual(p.source, packets[0].source, f"{what}: packet {i} from another address")
            if i:
                q = packets[i - 1]
                self.assertEqual(seq_diff(q.sequence, p.sequence), 1,
                                 f"{what}: sequence {q.sequence} then {p.sequence} (packet {i})")
                step = ts_diff(q.timestamp, p.timestamp)
                self.assertTrue(step >= FRAME and step % FRAME == 0 and step <= FRAME * (1 + skipped),
                                f"{what}: timestamp {q.timestamp} then {p.timestamp} (packet {i}; "
                                f"{skipped} frames skipped by the daemon)")
                jumps += step // FRAME - 1
        self.assertEqual(jumps, skipped, f"{what}: frames missing from the timestamps vs "
                                         f"sb_sip_rtp_late_frames_total")

    def check_pacing(self, packets, what, tolerance=0.005):
        """50 packets a second, each 20 ms after the previous (95 % of them
        within tolerance)."""
        gaps = [b.t - a.t for a, b in zip(packets, packets[1:])]
        rate = (len(packets) - 1) / (packets[-1].t - packets[0].t)
        self.assertAlmostEqual(rate, 50.0, delta=1.0, msg=f"{what}: packets per second")
        jitter = [abs(g - PACKET_INTERVAL) for g in gaps]
        p95 = percentile(jitter, 0.95)
        self.assertLess(p95, tolerance, f"{what}: 95th percentile of |inter-arrival - 20 ms| = {p95 * 1000:.2f} ms "
                                    f"(max {max(jitter) * 1000:.2f} ms)")

    def check_tone(self, packets, pt, what):
        """A clean 440 Hz sine at -9 dBFS, second by second (a last part
        shorter than half a second left out), each sample at its place on the
        timestamp clock. Returns the samples."""
        p0 = packets[0]
        positions, samples = [], []
        for p in packets:
            at = ts_diff(p0.timestamp, p.timestamp)
            positions += range(at, at + FRAME)
            samples += decode(p.payload, pt)
        self.assertGreaterEqual(len(samples), RATE // 2, f"{what}: less than half a second of audio")
        for i in range(positions[-1] // RATE + 1):
            lo, hi = bisect.bisect_left(positions, i * RATE), bisect.bisect_left(positions, (i + 1) * RATE)
            if hi - lo < RATE // 2 and i:
                continue  # the last half second
            block, where = samples[lo:hi], positions[lo:hi]
            fit = fit_tone(block, positions=where)
            self.assertGreaterEqual(fit.purity, 0.99, f"{what}: second {i}: energy at 440 Hz / total "
                                                      f"= {fit.purity:.5f}")
            if len(block) == RATE:  # no frame skipped: Goertzel's view of the same
                total = sum(x * x for x in block) / len(block)
                at_440 = goertzel_power(block, TONE_HZ)
                self.assertGreaterEqual(at_440 / total, 0.99, f"{what}: second {i}: Goertzel 440 Hz / total "
                                                              f"= {at_440 / total:.5f}")
            self.assertAlmostEqual(fit.dbfs, TONE_DBFS, delta=1.0, msg=f"{what}: second {i}: level in dBFS")
            self.assertLess(abs(fit.dc), 50, f"{what}: second {i}: DC offset {fit.dc:.1f}")
        # The frequency from the zero crossings of the longest unbroken run.
        runs, run = [], [samples[0]]
        for k in range(1, len(samples)):
            if positions[k] != positions[k - 1] + 1:
                runs.append(run)
                run = []
            run.append(samples[k])
        runs.append(run)
        freq = zero_crossing_frequency(max(runs, key=len))
        self.assertAlmostEqual(freq, TONE_HZ, delta=1.0, msg=f"{what}: frequency from the zero crossings")
        return samples
