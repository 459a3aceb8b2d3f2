#!/usr/bin/python3
"""A simulated GSM/LTE SIM modem on a pty, for the SMS black-box tests.

The simulator creates a pty pair, sets it raw and puts a symlink to the slave
side at LINK (like /dev/ttyUSB2 of a USB modem); a program under test opens
LINK as it opens a serial port and speaks AT to it. The simulator serves the
master side from a thread of its own.

As a library:

    with SimModem("/tmp/x/ttyUSB0", capacity=30) as modem:
        ...                                  # the program under test opens the link
        modem.deliver_sms("+436601112233", "Hello")   # stored on the SIM, +CMTI
        modem.outbox()                       # what the program sent, decoded

As a program (a process of its own, steered over a line-based TCP control):

    /usr/bin/python3 sim_modem.py --link /tmp/x/ttyUSB0 [--control PORT] [options]

prints one JSON line {"ready": true, "link": ..., "pty": ..., "control": PORT}
to stdout when it serves (--control 0 picks a free port), and on SIGTERM or
SIGINT removes the link and exits 0. Control protocol (127.0.0.1 only): one
request per line, `METHOD` or `METHOD {JSON object of keyword arguments}`, e.g.
`deliver_sms {"sender": "+436601112233", "text": "Hi", "order": "reversed"}`;
one reply line per request, `{"ok": true, "result": ...}` or `{"ok": false,
"error": "..."}`. METHOD is any name in CONTROL_METHODS (the public methods of
SimModem below); ControlClient wraps it.

The modem (what a real one does, as far as an SMS gateway cares):
- V.250 framing: echo on by default (ATE0/ATE1, echoed as the bytes arrive),
  "\\r\\nOK\\r\\n" with V1 and "0\\r" with V0, commands found after "AT"/"at",
  several in one line (ATE0V1, AT+CSQ;+CREG?), a line split across writes or
  several lines in one write, backspace editing, lines longer than MAX_LINE
  answered with ERROR, lines without AT ignored.
- +CMEE=0/1/2: plain ERROR, +CME/+CMS ERROR: <n>, or the verbose text.
- ATI, ATZ/AT&F (defaults: echo on, V1, CMEE as configured, CMGF=0, CNMI
  2,1,0,0,0, CREG=0), +CGMI/+CGMM/+CGMR/+CGSN/+CIMI, +CFUN (=1,1 reboots),
  +CPIN (READY / SIM PIN with unlocking / no SIM), +CSQ, +CREG (n=0/1/2 with
  +CREG: URCs), +COPS, +CSCA, +CSMS, +CSCS, +CNMA, +CUSD (answers with a
  +CUSD: URC).
- SMS in PDU mode only (+CMGF=1 is accepted, then +CMGS/+CMGL/+CMGR answer
  +CMS ERROR: 303): +CMGS=<len> prompts "\\r\\n> ", takes hex until Ctrl-Z
  (ESC cancels with OK), checks <len> against the TPDU octets (else +CMS ERROR:
  304), decodes the SMS-SUBMIT itself (decode_pdu), records it in the outbox and
  answers "+CMGS: <mr>". TP-SRR plus delivery reports on: an SMS-STATUS-REPORT
  after a delay, as "+CDS: <len>" + PDU (CNMI ds=1) or stored on the SIM with
  "+CDSI: \\"SM\\",<index>" (ds=2).
- SIM storage "SM" of `capacity` slots: +CPMS, +CMGL=<stat> (0..4; listing or
  reading REC UNREAD marks it REC READ), +CMGR, +CMGD=<index>[,<delflag>].
  Incoming SMS (deliver_sms) are stored with "+CMTI: \\"SM\\",<index>" (CNMI
  mt=1), silently (mt=0) or given directly as "+CMT: ,<len>" (mt=2); when the
  SIM is full they wait in the network and come once a slot is freed.
  CNMI mode 0 buffers these URCs until mode 1/2 is set (bfr 0 flushes, 1 drops).
- URCs generated while a command runs (at the prompt, or while +CMGS waits for
  the network) are held until its final result code, unless inject_urc(...,
  mid_command=True) asks for one inside the next response.
- Faults for tests: chunked output (1-3 byte writes with small delays), hang()
  (reads and drops everything, answers nothing) until unhang(), timeout_next(n)
  (the next n command lines get no answer), fail_next_cmgs(code), a network
  delay before the +CMGS answer, reboot() ("RDY", "+CFUN: 1", "+CPIN: ..." and
  defaults again), unplug()/plug()/replug() (the pty closes, the program gets
  EOF/EIO, the link vanishes and comes back on the same path).
- Nothing is written while no program holds the tty open (bytes sent into an
  unopened UART are lost; a pty would keep them for the next open).

The PDU code here is written from 3GPP TS 23.040 / 23.038 / 27.005 and is
independent of src/sms, so the black-box tests cross-check the C++ codec.
Standard library only; run with /usr/bin/python3.
"""
import argparse
import concurrent.futures
import heapq
import itertools
import json
import math
import os
import random
import re
import select
import signal
import socket
import socketserver
import sys
import termios
import threading
import time

# ==========================================================================
# GSM 03.38 (3GPP TS 23.038) default alphabet and extension table
# ==========================================================================

GSM7_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(GSM7_DEFAULT) == 128
GSM7_ESCAPE = 0x1B
GSM7_EXTENSION = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
_GSM7_CODE = {ch: i for i, ch in enumerate(GSM7_DEFAULT) if i != GSM7_ESCAPE}
_GSM7_EXT_CODE = {ch: code for code, ch in GSM7_EXTENSION.items()}


class PduError(ValueError):
    """A PDU that does not follow TS 23.040 (or that this decoder cannot read)."""


def gsm7_encodable(text):
    """True if every character of text is in the default alphabet or the extension table."""
    return all(ch in _GSM7_CODE or ch in _GSM7_EXT_CODE for ch in text)


def gsm7_septets(text):
    """text as GSM 7-bit septet values (extension characters as ESC + code)."""
    out = []
    for ch in text:
        if ch in _GSM7_CODE:
            out.append(_GSM7_CODE[ch])
        elif ch in _GSM7_EXT_CODE:
            out += [GSM7_ESCAPE, _GSM7_EXT_CODE[ch]]
        else:
            raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return out


def gsm7_text(septets):
    """Septet values as text. An unknown extension code shows as its default
    character (TS 23.038 6.2.1.1); a trailing lone ESC is dropped."""
    out = []
    escape = False
    for s in septets:
        if escape:
            out.append(GSM7_EXTENSION.get(s, GSM7_DEFAULT[s] if s != GSM7_ESCAPE else " "))
            escape = False
        elif s == GSM7_ESCAPE:
            escape = True
        else:
            out.append(GSM7_DEFAULT[s])
    return "".join(out)


def pack_septets(septets, first_septet=0):
    """Pack septets LSB first (TS 23.038 6.1.2.1.1), the first one at septet
    position first_septet (the positions before it are zero bits, room for a
    user data header). Returns ceil((first_septet + n) * 7 / 8) octets."""
    value = 0
    for i, s in enumerate(septets):
        value |= (s & 0x7F) << (7 * (first_septet + i))
    total = first_septet + len(septets)
    return value.to_bytes((total * 7 + 7) // 8, "little")


def unpack_septets(data, count, first_septet=0):
    """count septets from packed data, starting at septet position first_septet."""
    value = int.from_bytes(bytes(data), "little")
    return [(value >> (7 * i)) & 0x7F for i in range(first_septet, count)]


# ==========================================================================
# TS 23.040 fields: addresses, time stamps, validity period, DCS
# ==========================================================================

_BCD_DIGITS = "0123456789*#abc"


def _bcd(digits):
    nibbles = []
    for ch in digits.lower():
        i = _BCD_DIGITS.find(ch)
        if i < 0:
            raise ValueError(f"{ch!r} cannot be a semi-octet digit")
        nibbles.append(i)
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2))


def _unbcd(data, ndigits=None):
    out = []
    for b in data:
        for nib in (b & 0x0F, b >> 4):
            out.append("" if nib == 0xF else _BCD_DIGITS[nib])
    if ndigits is not None:
        out = out[:ndigits]
    return "".join(out)


TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0


def encode_address(number, toa=None):
    """A TP address (TP-OA/DA/RA): length in useful semi-octets, type of address, value.

    "+4366..." is international (0x91), digits alone 0x81, anything else
    alphanumeric (0xD0, GSM 7-bit packed).
    """
    if toa is None:
        if re.fullmatch(r"\+[0-9*#]+", number):
            toa = TOA_INTERNATIONAL
        elif re.fullmatch(r"[0-9*#]*", number):
            toa = TOA_UNKNOWN
        else:
            toa = TOA_ALPHANUMERIC
    if (toa >> 4) & 7 == 5:
        septets = gsm7_septets(number)
        return bytes([(len(septets) * 7 + 3) // 4, toa]) + pack_septets(septets)
    digits = number.lstrip("+")
    return bytes([len(digits), toa]) + _bcd(digits)


def decode_address(data, pos):
    """(number, toa, next position) of the TP address at data[pos]."""
    if pos + 2 > len(data):
        raise PduError("address truncated")
    length, toa = data[pos], data[pos + 1]
    if not toa & 0x80:
        raise PduError(f"type of address 0x{toa:02X} lacks its extension bit")
    end = pos + 2 + (length + 1) // 2
    if end > len(data):
        raise PduError("address value truncated")
    raw = data[pos + 2:end]
    if (toa >> 4) & 7 == 5:
        number = gsm7_text(unpack_septets(raw, length * 4 // 7))
    else:
        number = _unbcd(raw, length)
        if (toa >> 4) & 7 == 1:
            number = "+" + number
    return number, toa, end


def encode_smsc(number):
    """The SMSC address that precedes the TPDU (TS 24.011 RP address): 00 for none."""
    if not number:
        return b"\x00"
    toa = TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN
    value = _bcd(number.lstrip("+"))
    return bytes([1 + len(value), toa]) + value


def decode_smsc(data):
    """(number or "", length of the SMSC field) of a PDU as the AT commands carry it."""
    if not data:
        raise PduError("empty PDU")
    n = data[0]
    if n == 0:
        return "", 1
    if 1 + n > len(data) or n > 11:
        raise PduError(f"SMSC length {n} does not fit")
    toa = data[1]
    number = _unbcd(data[2:1 + n])
    if (toa >> 4) & 7 == 1:
        number = "+" + number
    return number, 1 + n


def _swap(v):
    return ((v % 10) << 4) | (v // 10 % 10)


def encode_scts(when=None, tz_quarters=0):
    """A 7-octet time stamp (TP-SCTS, TP-DT): when is (year, month, day, hour,
    minute, second) local to tz_quarters (quarter hours from GMT); None: now, GMT."""
    if when is None:
        when = time.gmtime()[:6]
        tz_quarters = 0
    year, month, day, hour, minute, second = when
    q = abs(tz_quarters)
    tz = _swap(q) | (0x08 if tz_quarters < 0 else 0)
    return bytes([_swap(year % 100), _swap(month), _swap(day), _swap(hour), _swap(minute),
                  _swap(second), tz])


def decode_scts(data):
    """(year, month, day, hour, minute, second, tz quarter hours) of a time stamp."""
    if len(data) != 7:
        raise PduError("time stamp truncated")

    def num(b):
        return (b & 0x0F) * 10 + (b >> 4)

    year, month, day, hour, minute, second = (num(b) for b in data[:6])
    tz = (data[6] & 0x07) * 10 + (data[6] >> 4)
    if data[6] & 0x08:
        tz = -tz
    century = 1900 if year >= 90 else 2000     # two digits only: 90..99 read as the 1990s
    return (century + year, month, day, hour, minute, second, tz)


def vp_relative_minutes(vp):
    """Minutes of a relative TP-VP octet (TS 23.040 9.2.3.12.1)."""
    if vp <= 143:
        return (vp + 1) * 5
    if vp <= 167:
        return 12 * 60 + (vp - 143) * 30
    if vp <= 196:
        return (vp - 166) * 24 * 60
    return (vp - 192) * 7 * 24 * 60


def vp_relative(minutes):
    """The smallest relative TP-VP octet that lasts at least minutes."""
    if minutes <= 720:
        return max(0, math.ceil(minutes / 5) - 1)
    if minutes <= 1440:
        return 143 + math.ceil((minutes - 720) / 30)
    if minutes <= 30 * 1440:
        return 166 + math.ceil(minutes / 1440)
    return min(255, 192 + math.ceil(minutes / (7 * 1440)))


def dcs_alphabet(dcs):
    """"gsm7", "8bit" or "ucs2" for a TP-DCS octet (TS 23.038 4); "compressed" for
    compressed text, which nobody sends and this decoder does not read."""
    group = dcs >> 4
    if group <= 0x7:                       # general data coding / automatic deletion
        if dcs & 0x20:
            return "compressed"
        return {0: "gsm7", 1: "8bit", 2: "ucs2", 3: "gsm7"}[(dcs >> 2) & 3]
    if group in (0xC, 0xD):                # message waiting, GSM 7-bit
        return "gsm7"
    if group == 0xE:                       # message waiting, UCS2
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"                          # reserved groups: default alphabet


DCS_BY_ALPHABET = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}


# ==========================================================================
# User data
# ==========================================================================

def _parse_udh(udh):
    ies = []
    concat = None
    i = 0
    while i < len(udh):
        if i + 2 > len(udh):
            raise PduError("user data header element truncated")
        iei, n = udh[i], udh[i + 1]
        value = udh[i + 2:i + 2 + n]
        if len(value) != n:
            raise PduError("user data header element value truncated")
        ies.append({"iei": iei, "value": value.hex().upper()})
        if iei == 0x00 and n == 3:
            concat = {"ref": value[0], "total": value[1], "seq": value[2], "ref_bits": 8}
        elif iei == 0x08 and n == 4:
            concat = {"ref": (value[0] << 8) | value[1], "total": value[2], "seq": value[3],
                      "ref_bits": 16}
        i += 2 + n
    return ies, concat


def decode_user_data(data, pos, udl, alphabet, udhi):
    """Decode TP-UD at data[pos:] with TP-UDL udl. Returns a dict with text
    (None for 8-bit data), data (hex of the payload without header), udh (the
    information elements) and concat ({ref, total, seq, ref_bits} or None)."""
    rest = data[pos:]
    if alphabet == "gsm7":
        nbytes = (udl * 7 + 7) // 8
    elif alphabet in ("8bit", "ucs2"):
        nbytes = udl
    else:
        raise PduError(f"cannot decode {alphabet} user data")
    if len(rest) != nbytes:
        raise PduError(f"TP-UDL {udl} needs {nbytes} octets of user data, {len(rest)} present")
    header = b""
    if udhi:
        if nbytes < 1 or rest[0] + 1 > nbytes:
            raise PduError("user data header does not fit the user data")
        header = bytes(rest[:rest[0] + 1])
    ies, concat = _parse_udh(header[1:]) if header else ([], None)
    if alphabet == "gsm7":
        first = (len(header) * 8 + 6) // 7
        if first > udl:
            raise PduError("user data header longer than TP-UDL")
        septets = unpack_septets(rest, udl, first)
        text = gsm7_text(septets)
        payload = bytes(septets)
    else:
        payload = bytes(rest[len(header):])
        if alphabet == "ucs2":
            if len(payload) % 2:
                raise PduError("UCS2 user data of an odd number of octets")
            text = payload.decode("utf-16-be", "surrogatepass")
        else:
            text = None
    return {"text": text, "data": payload.hex().upper(), "udh": ies, "concat": concat}


def encode_user_data(text, alphabet, concat=None):
    """(TP-UDL, TP-UD, UDHI) for text in alphabet ("gsm7", "ucs2" or "8bit" with
    text as bytes); concat = (ref, total, seq) adds an 8-bit reference
    concatenation header (16-bit when ref > 255)."""
    header = b""
    if concat is not None:
        ref, total, seq = concat
        if ref > 0xFF:
            ie = bytes([0x08, 4, ref >> 8, ref & 0xFF, total, seq])
        else:
            ie = bytes([0x00, 3, ref, total, seq])
        header = bytes([len(ie)]) + ie
    if alphabet == "gsm7":
        septets = gsm7_septets(text)
        first = (len(header) * 8 + 6) // 7
        ud = bytearray(pack_septets(septets, first))
        ud[:len(header)] = header          # header octets, then fill bits (zero)
        return first + len(septets), bytes(ud), bool(header)
    if alphabet == "ucs2":
        ud = header + text.encode("utf-16-be", "surrogatepass")
    elif alphabet == "8bit":
        ud = header + bytes(text)
    else:
        raise ValueError(f"unknown alphabet {alphabet!r}")
    return len(ud), ud, bool(header)


def choose_alphabet(text):
    return "gsm7" if gsm7_encodable(text) else "ucs2"


def split_text(text, alphabet=None):
    """text cut into the parts of a message: one part up to 160 septets (70
    UCS2 units), else parts of 153 septets (67 units) that never cut an
    extension character's escape or a surrogate pair."""
    alphabet = alphabet or choose_alphabet(text)
    if alphabet == "gsm7":
        def units(ch):
            return 2 if ch in _GSM7_EXT_CODE else 1
        single, part = 160, 153
    else:
        def units(ch):
            return 2 if ord(ch) > 0xFFFF else 1
        single, part = 70, 67
    if sum(units(ch) for ch in text) <= single:
        return [text]
    parts, current, n = [], [], 0
    for ch in text:
        u = units(ch)
        if n + u > part:
            parts.append("".join(current))
            current, n = [], 0
        current.append(ch)
        n += u
    parts.append("".join(current))
    return parts


# ==========================================================================
# Whole PDUs
# ==========================================================================

def tpdu_length(pdu_hex):
    """The <length> that +CMGS/+CMGL/+CMT/+CDS give for a PDU: its octets
    without the SMSC field."""
    data = bytes.fromhex(pdu_hex)
    return len(data) - decode_smsc(data)[1]


def build_deliver(sender, text, alphabet=None, smsc="+436640501", sender_toa=None,
                  timestamp=None, tz_quarters=0, concat=None, pid=0, dcs=None, mms=True,
                  sri=False):
    """An SMS-DELIVER PDU (SMSC field + TPDU) as upper-case hex.

    alphabet None picks GSM 7-bit when text fits it, else UCS2; concat is
    (ref, total, seq); timestamp (year, month, day, hour, minute, second) in
    tz_quarters, default now (GMT); mms True: no more messages waiting.
    """
    alphabet = alphabet or choose_alphabet(text)
    udl, ud, udhi = encode_user_data(text, alphabet, concat)
    first = 0x00 | (0x04 if mms else 0) | (0x20 if sri else 0) | (0x40 if udhi else 0)
    tpdu = (bytes([first]) + encode_address(sender, sender_toa)
            + bytes([pid, DCS_BY_ALPHABET[alphabet] if dcs is None else dcs])
            + encode_scts(timestamp, tz_quarters) + bytes([udl]) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper()


def build_deliver_parts(sender, text, alphabet=None, ref=None, force_concat=False, **kw):
    """The SMS-DELIVER PDUs of a message, concatenated when it needs more than
    one part (or force_concat); ref None draws a random 8-bit reference."""
    alphabet = alphabet or choose_alphabet(text)
    parts = split_text(text, alphabet)
    if len(parts) == 1 and not force_concat:
        return [build_deliver(sender, text, alphabet, **kw)]
    if ref is None:
        ref = random.randrange(256)
    return [build_deliver(sender, p, alphabet, concat=(ref, len(parts), i + 1), **kw)
            for i, p in enumerate(parts)]


def build_submit(to, text, alphabet=None, mr=0, srr=False, validity_minutes=None, concat=None,
                 smsc=None, to_toa=None, rd=False, pid=0, dcs=None):
    """An SMS-SUBMIT PDU as +CMGS takes it (SMSC field, "00" by default, + TPDU), hex."""
    alphabet = alphabet or choose_alphabet(text)
    udl, ud, udhi = encode_user_data(text, alphabet, concat)
    vpf = 0 if validity_minutes is None else 2
    first = (0x01 | (0x04 if rd else 0) | (vpf << 3) | (0x20 if srr else 0)
             | (0x40 if udhi else 0))
    vp = b"" if validity_minutes is None else bytes([vp_relative(validity_minutes)])
    tpdu = (bytes([first, mr & 0xFF]) + encode_address(to, to_toa)
            + bytes([pid, DCS_BY_ALPHABET[alphabet] if dcs is None else dcs]) + vp
            + bytes([udl]) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper()


def build_submit_parts(to, text, alphabet=None, ref=None, **kw):
    alphabet = alphabet or choose_alphabet(text)
    parts = split_text(text, alphabet)
    if len(parts) == 1:
        return [build_submit(to, text, alphabet, **kw)]
    if ref is None:
        ref = random.randrange(256)
    return [build_submit(to, p, alphabet, concat=(ref, len(parts), i + 1), **kw)
            for i, p in enumerate(parts)]


def build_status_report(mr, recipient, status=0, smsc="+436640501", recipient_toa=None,
                        scts=None, discharge=None):
    """An SMS-STATUS-REPORT PDU (SMSC field + TPDU), hex: the report on the
    SUBMIT with message reference mr; status is TP-ST (0 delivered, 0x40..
    permanent error, 0x20.. or 0x60.. temporary)."""
    tpdu = (bytes([0x02 | 0x04, mr & 0xFF]) + encode_address(recipient, recipient_toa)
            + encode_scts(scts) + encode_scts(discharge) + bytes([status & 0xFF]))
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode_pdu(pdu_hex, with_smsc=True):
    """Decode an SMS-DELIVER, SMS-SUBMIT or SMS-STATUS-REPORT PDU (hex).

    with_smsc: the PDU starts with the SMSC field, as over AT commands. MTI 0
    reads as DELIVER, 1 as SUBMIT, 2 as STATUS-REPORT (the directions that
    a modem sees them in). Returns a dict (keys below); raises PduError.
    """
    try:
        data = bytes.fromhex(pdu_hex)
    except ValueError as e:
        raise PduError(f"not hex: {e}") from None
    smsc, pos = decode_smsc(data) if with_smsc else ("", 0)
    if pos >= len(data):
        raise PduError("no TPDU")
    tpdu = data[pos:]
    fo = tpdu[0]
    mti = fo & 0x03
    out = {"smsc": smsc, "tpdu_len": len(tpdu), "first_octet": fo}
    p = 1
    try:
        if mti == 1:
            out["type"] = "SUBMIT"
            out.update(rd=bool(fo & 0x04), vpf=(fo >> 3) & 3, srr=bool(fo & 0x20),
                       udhi=bool(fo & 0x40), rp=bool(fo & 0x80), mr=tpdu[1])
            out["to"], out["to_toa"], p = decode_address(tpdu, 2)
            out["pid"], out["dcs"] = tpdu[p], tpdu[p + 1]
            p += 2
            vpf = out["vpf"]
            out["validity_minutes"] = None
            if vpf == 2:
                out["vp"] = tpdu[p]
                out["validity_minutes"] = vp_relative_minutes(tpdu[p])
                p += 1
            elif vpf in (1, 3):
                if p + 7 > len(tpdu):
                    raise PduError("validity period truncated")
                out["vp"] = tpdu[p:p + 7].hex().upper()
                p += 7
        elif mti == 0:
            out["type"] = "DELIVER"
            out.update(mms=bool(fo & 0x04), sri=bool(fo & 0x20), udhi=bool(fo & 0x40),
                       rp=bool(fo & 0x80))
            out["sender"], out["sender_toa"], p = decode_address(tpdu, 1)
            out["pid"], out["dcs"] = tpdu[p], tpdu[p + 1]
            out["scts"] = decode_scts(tpdu[p + 2:p + 9])
            p += 9
        elif mti == 2:
            out["type"] = "STATUS-REPORT"
            out.update(mms=bool(fo & 0x04), srq=bool(fo & 0x20), udhi=bool(fo & 0x40),
                       mr=tpdu[1])
            out["recipient"], out["recipient_toa"], p = decode_address(tpdu, 2)
            out["scts"] = decode_scts(tpdu[p:p + 7])
            out["discharge"] = decode_scts(tpdu[p + 7:p + 14])
            out["status"] = tpdu[p + 14]
            out["delivered"] = tpdu[p + 14] <= 0x02
            p += 15
            if p < len(tpdu):              # TP-PI and what it announces
                pi = tpdu[p]
                p += 1
                out["pid"] = tpdu[p] if pi & 1 else None
                p += 1 if pi & 1 else 0
                out["dcs"] = tpdu[p] if pi & 2 else 0
                p += 1 if pi & 2 else 0
                if pi & 4:
                    udl = tpdu[p]
                    out.update(decode_user_data(tpdu, p + 1, udl, dcs_alphabet(out["dcs"]),
                                                out["udhi"]))
                    out["encoding"] = dcs_alphabet(out["dcs"])
                    return out
            out.update(text=None, data="", udh=[], concat=None, encoding=None)
            if p != len(tpdu):
                raise PduError("trailing octets after the status report")
            return out
        else:
            raise PduError("reserved TP-MTI 3")
        udl = tpdu[p]
        out["encoding"] = dcs_alphabet(out["dcs"])
        out.update(decode_user_data(tpdu, p + 1, udl, out["encoding"], out["udhi"]))
    except IndexError:
        raise PduError("TPDU truncated") from None
    return out


def _pdu_len(pdu_hex):
    """tpdu_length that never fails (a test may store garbage on the SIM)."""
    try:
        return tpdu_length(pdu_hex)
    except ValueError:
        return len(pdu_hex) // 2


def _join_text(pieces):
    """Texts of parts joined; UCS2 parts cut inside a surrogate pair come together."""
    return "".join(pieces).encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


# ==========================================================================
# The modem
# ==========================================================================

MAX_LINE = 560           # a command line longer than this is answered ERROR
MAX_PDU_HEX = 2 * 200    # hex digits accepted after the > prompt
MAX_OUTPUT = 1 << 20     # bytes queued for a program that does not read

CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 16: "incorrect password", 21: "invalid index",
    30: "no network service", 50: "incorrect parameters", 100: "unknown",
}
CMS_TEXT = {
    300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
    304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
    310: "SIM not inserted", 311: "SIM PIN required", 321: "invalid memory index",
    322: "memory full", 330: "SMSC address unknown", 331: "no network service",
    332: "network timeout", 500: "unknown error",
}
STAT_NAMES = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT"}

REG_STATES = {0, 1, 2, 3, 4, 5}


class _AtError(Exception):
    def __init__(self, kind=None, code=None):
        super().__init__(kind, code)
        self.kind = kind      # None: plain ERROR; "cme"; "cms"
        self.code = code


class _Prompt(Exception):
    """+CMGS went to the > prompt: the rest of the command line is not run."""


def _make_raw(fd):
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
               | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _parse_args(s):
    """Comma-separated AT parameters; quoted strings unquoted; "" for omitted ones."""
    args, cur, quoted = [], [], False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if quoted:
        raise _AtError()
    args.append("".join(cur).strip())
    return args


def _int_arg(args, i, default=None, lo=None, hi=None, err=None):
    err = err or _AtError()
    if i >= len(args) or args[i] == "":
        if default is None:
            raise err
        return default
    if not re.fullmatch(r"[0-9]{1,6}", args[i]):
        raise err
    v = int(args[i])
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise err
    return v


class SimModem:
    """A simulated SMS modem behind a pty whose slave is symlinked at link.

    Serves from a thread of its own as soon as it is built; close() (or the
    context manager) stops it and removes the link. Every public method may be
    called from any thread. Options: capacity (SIM slots), cmee (default of
    +CMEE), rssi/ber, registration (+CREG stat), operator/operator_numeric,
    pin (the SIM asks for it at power-on when set), smsc, mr_start, send_delay
    (seconds before the +CMGS answer), report_delay/report_status (status
    reports), delivery_reports, chunked, seed (for the chunking).
    """

    def __init__(self, link, capacity=30, cmee=0, rssi=20, ber=99, registration=1,
                 operator="Switchboard Mobile", operator_short="SBM", operator_numeric="23201",
                 act=7, pin=None, smsc="+436640501", mr_start=0, send_delay=0.0,
                 report_delay=0.1, report_status=0, delivery_reports=True, chunked=False,
                 seed=None, imei="867530912345678", imsi="232011234567890"):
        self.link = os.path.abspath(link)
        self.capacity = capacity
        self._default_cmee = cmee
        self._rssi, self._ber = rssi, ber
        self._reg = registration
        self._lac, self._ci = "1A2B", "00C3D4E5"
        self._operator = (operator, operator_short, operator_numeric, act)
        self._pin = pin
        self._sim = "SIM PIN" if pin else "READY"
        self._smsc = smsc
        self._mr = mr_start & 0xFF
        self._send_delay = send_delay
        self._report_delay = report_delay
        self._report_status = report_status
        self._delivery_reports = delivery_reports
        self._chunked = chunked
        self._rng = random.Random(seed)
        self._imei, self._imsi = imei, imsi
        self.ussd_replies = {"*100#": "Balance: 10.00 EUR"}

        self._storage = {}            # index -> {"stat": int, "pdu": hex}
        self._sent = []               # decoded SUBMITs, in the order they came
        self._reports = []            # status reports sent: {"mr", "status", "pdu", "index"}
        self._network_queue = []      # incoming PDUs waiting for a free SIM slot
        self._commands = []           # command lines received (text), for tests
        self._hung = False
        self._timeouts = 0
        self._fail_cmgs = []          # +CMS error codes for the next CMGS
        self._mid_urcs = []           # URCs to put before the next final result
        self._cfun = 1
        self._detached = False        # AT+COPS=2
        self._post_final = []         # actions once the final result code is out

        self._master = -1
        self._pty = None
        self._gen = 0                 # bumps when the pty is replaced
        self._absent = True           # no program holds the slave open
        self._absent_until = 0.0
        self._out = bytearray()
        self._next_chunk = 0.0
        self._timers = []
        self._seq = itertools.count()
        self._posted = []
        self._posted_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._closed = False
        self._reset_session()
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name="sim-modem", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------
    # Public control API (any thread)
    # ------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def pty_name(self):
        """The pty slave's device (/dev/pts/N), None while unplugged."""
        return self._pty

    def close(self):
        """Stop serving, close the pty and remove the link. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wake()
        self._thread.join(5)
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def ping(self):
        return "pong"

    def deliver_sms(self, sender, text, alphabet=None, order=None, ref=None,
                    force_concat=False, timestamp=None, interval=0.0):
        """An SMS from sender arrives: SMS-DELIVER PDUs (GSM 7-bit or UCS2 as
        the text needs, concatenated when long or force_concat) stored on the
        SIM with +CMTI (or given as +CMT per +CNMI). order: None (in sequence),
        "reversed", or a list of 0-based part numbers; interval: seconds
        between parts. Returns the PDUs and, for parts delivered at once, the
        SIM index each went to (None: SIM full, waiting in the network;
        "direct": given as +CMT)."""
        pdus = build_deliver_parts(sender, text, alphabet, ref, force_concat, smsc=self._smsc,
                                   timestamp=timestamp)
        if order is None:
            order = list(range(len(pdus)))
        elif order == "reversed":
            order = list(reversed(range(len(pdus))))
        elif sorted(order) != list(range(len(pdus))):
            raise ValueError(f"order {order} is not a permutation of the {len(pdus)} parts")
        ordered = [pdus[i] for i in order]
        if interval <= 0:
            return {"pdus": pdus, "indices": self._call(lambda: [self._incoming(p) for p in ordered])}
        for k, p in enumerate(ordered):
            self._call(lambda p=p, k=k: self._after(k * interval, lambda: self._incoming(p)))
        return {"pdus": pdus, "indices": None}

    def deliver_pdu(self, pdu):
        """An incoming PDU (hex, with SMSC field) as it is, valid or not; as deliver_sms."""
        bytes.fromhex(pdu)
        return self._call(lambda: self._incoming(pdu.upper()))

    def store(self, pdu, stat=0, index=None):
        """Put a PDU on the SIM without any URC (a message that came while
        powered off); returns its index, None if full."""
        return self._call(lambda: self._store(pdu.upper(), stat, index))

    def storage(self):
        """The SIM: {index: {"stat": n, "pdu": hex}}."""
        return self._call(lambda: {i: dict(e) for i, e in sorted(self._storage.items())})

    def sent(self):
        """Every SMS-SUBMIT taken by +CMGS, decoded (decode_pdu) plus "mr" (the
        reference answered) and "pdu"."""
        return self._call(lambda: [dict(p) for p in self._sent])

    def outbox(self):
        """The messages sent: parts put together by (to, reference, total).
        Each {"to", "text", "encoding", "total", "complete", "ref", "mr": [..],
        "srr", "validity_minutes", "parts": [{"seq", "mr", "text"}]}."""
        return self._call(self._assemble_outbox)

    def clear_outbox(self):
        return self._call(lambda: self._sent.clear())

    def reports(self):
        """The status reports emitted: {"mr", "status", "pdu", "index"}."""
        return self._call(lambda: [dict(r) for r in self._reports])

    def commands(self):
        """Every command line received, as text (for checking what a program sent)."""
        return self._call(lambda: list(self._commands))

    def state(self):
        """Settings a program can change: echo, cmee, cmgf, cnmi, creg_n, ..."""
        def get():
            return {"echo": self._echo, "verbose": self._verbose, "cmee": self._cmee,
                    "cmgf": self._cmgf, "cnmi": list(self._cnmi), "creg_n": self._creg_n,
                    "sim": self._sim, "registration": self._reg, "rssi": self._rssi,
                    "hung": self._hung, "plugged": self._master >= 0, "chunked": self._chunked,
                    "client": not self._absent, "mode": self._mode, "next_mr": self._mr,
                    "network_queue": len(self._network_queue), "cfun": self._cfun}
        return self._call(get)

    def set_signal(self, rssi, ber=99):
        """+CSQ: rssi (0..31, 99 unknown), ber (0..7, 99)."""
        def do():
            self._rssi, self._ber = rssi, ber
        return self._call(do)

    def set_registration(self, stat, lac=None, ci=None):
        """+CREG stat (0 not registered, 1 home, 2 searching, 3 denied, 5
        roaming); a +CREG: URC when the program enabled them and it changed."""
        if stat not in REG_STATES:
            raise ValueError(f"registration state {stat}")

        def do():
            changed = stat != self._reg or (lac and lac != self._lac) or (ci and ci != self._ci)
            self._reg = stat
            self._lac = lac or self._lac
            self._ci = ci or self._ci
            if changed and self._creg_n:
                self._urc([self._creg_line(urc=True)], sms=False)
        return self._call(do)

    def set_operator(self, name, short=None, numeric=None, act=None):
        def do():
            old = self._operator
            self._operator = (name, short or old[1], numeric or old[2],
                              old[3] if act is None else act)
        return self._call(do)

    def set_sim(self, state, pin=None):
        """"READY", "SIM PIN" (unlocked by AT+CPIN=<pin>) or "ABSENT"."""
        if state not in ("READY", "SIM PIN", "ABSENT"):
            raise ValueError(f"SIM state {state!r}")

        def do():
            self._sim = state
            if pin is not None:
                self._pin = pin
        return self._call(do)

    def set_chunked(self, on=True):
        """Output in random 1-3 byte writes with 1-5 ms between them."""
        def do():
            self._chunked = bool(on)
        return self._call(do)

    def set_send_delay(self, seconds):
        """Seconds between Ctrl-Z and the +CMGS answer (the network round trip)."""
        def do():
            self._send_delay = float(seconds)
        return self._call(do)

    def set_delivery_reports(self, enabled=True, delay=None, status=None):
        """Whether a SUBMIT with TP-SRR gets a status report, after delay s, with TP-ST status."""
        def do():
            self._delivery_reports = bool(enabled)
            if delay is not None:
                self._report_delay = float(delay)
            if status is not None:
                self._report_status = int(status)
        return self._call(do)

    def hang(self):
        """Stop answering entirely: input is read and dropped, nothing is written."""
        def do():
            self._hung = True
            self._out.clear()
            self._reset_input()
        return self._call(do)

    def unhang(self):
        def do():
            self._hung = False
            self._reset_input()
        return self._call(do)

    def timeout_next(self, n=1):
        """The next n command lines are echoed but never answered."""
        def do():
            self._timeouts = int(n)
        return self._call(do)

    def fail_next_cmgs(self, code=500, count=1):
        """The next count +CMGS (valid ones) answer +CMS ERROR: code; nothing is sent."""
        def do():
            self._fail_cmgs += [int(code)] * int(count)
        return self._call(do)

    def inject_urc(self, text, mid_command=False):
        """Emit an unsolicited line now (e.g. "RING"), or with mid_command
        just before the final result code of the next command."""
        def do():
            if mid_command:
                self._mid_urcs.append(text)
            else:
                self._urc([text], sms=False, hold=False)
        return self._call(do)

    def reboot(self, downtime=0.0):
        """Restart: silent for downtime seconds, then "RDY", "+CFUN: 1",
        "+CPIN: ..." and every setting back to its default (ATZ); the SIM's
        messages stay, a SIM with a PIN asks for it again."""
        return self._call(lambda: self._reboot(downtime))

    def unplug(self):
        """The device disappears: the pty closes (the program reads EOF/EIO)
        and the link is removed."""
        return self._call(self._close_pty)

    def plug(self):
        """The device (back) on the same link path: a new pty, power-on defaults."""
        def do():
            if self._master < 0:
                self._reboot_state()
                self._open_pty()
        return self._call(do)

    def replug(self, downtime=0.5):
        """unplug() now and plug() after downtime seconds (a USB replug)."""
        def do():
            self._close_pty()
            self._after(downtime, lambda: (self._master < 0 and not self._stopping)
                        and (self._reboot_state(), self._open_pty()))
        return self._call(do)

    # ------------------------------------------------------------------
    # The event loop (its own thread)
    # ------------------------------------------------------------------

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _call(self, fn):
        """Run fn in the loop thread and return its result (or raise its exception)."""
        if threading.current_thread() is getattr(self, "_thread", None):
            return fn()
        if self._stopping:
            raise RuntimeError("the simulated modem is closed")
        future = concurrent.futures.Future()
        with self._posted_lock:
            self._posted.append((fn, future))
        self._wake()
        return future.result(timeout=10)

    def _after(self, delay, fn, session=False):
        """Run fn in delay seconds; session: only if no reboot or replug came first."""
        gen = self._session if session else None
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn, gen))

    def _run(self):
        while not self._stopping:
            now = time.monotonic()
            deadline = self._timers[0][0] if self._timers else math.inf
            fd, gen = self._master, self._gen
            watch = False
            if fd >= 0:
                if self._absent and now < self._absent_until:
                    deadline = min(deadline, self._absent_until)
                else:
                    watch = True
            want_write = watch and bool(self._out)
            if want_write and self._chunked and now < self._next_chunk:
                deadline = min(deadline, self._next_chunk)
                want_write = False
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            if watch:
                poller.register(fd, select.POLLIN | (select.POLLOUT if want_write else 0))
            ms = -1 if deadline == math.inf else max(0, math.ceil((deadline - now) * 1000))
            events = dict(poller.poll(ms))
            if self._wake_r in events:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            self._run_posted()
            if watch and self._master == fd and self._gen == gen:
                self._serve_master(fd, events.get(fd, 0))
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and not self._stopping:
                _, _, fn, session = heapq.heappop(self._timers)
                if session is None or session == self._session:
                    self._guard(fn)
        self._run_posted(closing=True)

    def _run_posted(self, closing=False):
        with self._posted_lock:
            posted, self._posted = self._posted, []
        for fn, future in posted:
            if closing:
                future.set_exception(RuntimeError("the simulated modem is closed"))
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller
                future.set_exception(e)

    def _guard(self, fn):
        try:
            fn()
        except Exception as e:  # a bug in the simulator must not stop the modem
            sys.stderr.write(f"sim_modem: {type(e).__name__}: {e}\n")

    def _serve_master(self, fd, ev):
        if ev & select.POLLIN:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._went_absent()
                return
            if data:
                self._absent = False
                self._guard(lambda: self._feed(data))
        elif ev & (select.POLLHUP | select.POLLERR):
            self._went_absent()
            return
        else:
            self._absent = False
        if ev & select.POLLOUT and self._out and self._master == fd:
            if self._chunked:
                n = self._rng.randint(1, 3)
                self._next_chunk = time.monotonic() + self._rng.uniform(0.001, 0.005)
            else:
                n = len(self._out)
            try:
                written = os.write(fd, bytes(self._out[:n]))
                del self._out[:written]
            except BlockingIOError:
                pass
            except OSError:
                self._went_absent()

    def _client_present(self):
        """Whether a program holds the slave open (a pty master polls POLLHUP when not)."""
        if self._absent:
            poller = select.poll()
            poller.register(self._master, select.POLLOUT)
            if not any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0)):
                self._absent = False
        return not self._absent

    def _went_absent(self):
        """No program holds the slave open: what the modem sends now is lost."""
        self._absent = True
        self._absent_until = time.monotonic() + 0.05
        self._out.clear()

    def _open_pty(self):
        master, slave = os.openpty()
        try:
            _make_raw(slave)
            name = os.ttyname(slave)
        finally:
            os.close(slave)   # the program's open is the only one: its close is seen
        os.set_blocking(master, False)
        os.set_inheritable(master, False)
        tmp = f"{self.link}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(self.link), exist_ok=True)
        os.symlink(name, tmp)
        os.replace(tmp, self.link)
        self._master, self._pty = master, name
        self._gen += 1
        self._absent = True
        self._absent_until = 0.0
        self._out.clear()

    def _close_pty(self):
        if self._master >= 0:
            try:
                if os.readlink(self.link) == self._pty:
                    os.unlink(self.link)
            except OSError:
                pass
            os.close(self._master)
            self._master, self._pty = -1, None
            self._gen += 1
            self._out.clear()
            self._reset_input()

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    def _write(self, data):
        if self._hung or self._master < 0 or not self._client_present():
            return
        if len(self._out) + len(data) <= MAX_OUTPUT:
            self._out += data

    def _lines(self, lines):
        """Information text: "\\r\\n" + lines joined + "\\r\\n" (V1), lines + "\\r\\n" (V0)."""
        body = "\r\n".join(lines)
        return (f"\r\n{body}\r\n" if self._verbose else f"{body}\r\n").encode("latin-1", "replace")

    def _final(self, result="OK", error=None):
        for text in self._mid_urcs:
            self._write(self._lines([text]))
        self._mid_urcs.clear()
        if error is not None:
            kind, code = error.kind, error.code
            mode = self._cmee
            if kind is None or mode == 0:
                result = "ERROR"
            elif mode == 1:
                result = f"+{kind.upper()} ERROR: {code}"
            else:
                text = (CME_TEXT if kind == "cme" else CMS_TEXT).get(code, str(code))
                result = f"+{kind.upper()} ERROR: {text}"
        if self._verbose:
            self._write(f"\r\n{result}\r\n".encode("latin-1"))
        else:
            numeric = {"OK": "0", "ERROR": "4"}.get(result)
            self._write(f"{numeric}\r".encode() if numeric else f"{result}\r\n".encode("latin-1"))

    def _urc(self, lines, sms=True, hold=True):
        """An unsolicited result: held while a command runs; SMS ones buffered
        while +CNMI mode is 0."""
        if sms and self._cnmi[0] == 0:
            self._ta_buffer.append(lines)
            return
        if hold and self._mode != "command":
            self._held.append(lines)
            return
        self._write(self._lines(lines))

    def _flush_held(self):
        held, self._held = self._held, []
        for lines in held:
            self._write(self._lines(lines))

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------

    def _reset_session(self):
        """ATZ / power-on defaults of what a program can set."""
        self._session = getattr(self, "_session", 0) + 1
        self._echo = True
        self._verbose = True
        self._cmee = self._default_cmee
        self._cmgf = 0
        self._cnmi = [2, 1, 0, 0, 0]
        self._creg_n = 0
        self._cops_format = 0
        self._cscs = "IRA"
        self._ta_buffer = []
        self._held = []
        self._reset_input()

    def _reset_input(self):
        self._mode = "command"        # "command", "pdu" (after the prompt), "busy"
        self._line = bytearray()
        self._overflow = False
        self._pdu = bytearray()
        self._pdu_bad = False
        self._pdu_len = 0
        self._pending_in = bytearray()

    def _reboot_state(self):
        self._reset_session()
        self._mid_urcs.clear()
        self._timeouts = 0
        self._cfun = 1
        self._detached = False
        self._hung = False
        if self._pin and self._sim == "READY":
            self._sim = "SIM PIN"

    def _reboot(self, downtime):
        self._reboot_state()
        self._hung = True

        def up():
            self._hung = False
            self._reset_input()
            self._write(self._lines(["RDY"]) + self._lines(["+CFUN: 1"]))
            if self._sim != "ABSENT":
                self._write(self._lines([f"+CPIN: {self._sim}"]))
        if downtime > 0:
            self._after(downtime, up)
        else:
            up()

    # ------------------------------------------------------------------
    # Input
    # ------------------------------------------------------------------

    def _feed(self, data):
        if self._hung:
            return
        for i, b in enumerate(data):
            if self._hung or self._master < 0:
                return
            if self._mode == "busy":
                self._pending_in += data[i:]
                return
            if self._mode == "pdu":
                self._pdu_byte(b)
                continue
            if self._echo:
                self._write(bytes([b]))
            if b == 0x0D:
                line, overflow = bytes(self._line), self._overflow
                self._line.clear()
                self._overflow = False
                self._command_line(line, overflow)
            elif b == 0x0A:
                continue
            elif b in (0x08, 0x7F):
                if self._line:
                    self._line.pop()
            elif len(self._line) < MAX_LINE:
                self._line.append(b)
            else:
                self._overflow = True

    def _command_line(self, raw, overflow):
        text = raw.decode("latin-1")
        if text.strip():
            self._commands.append(text)
            del self._commands[:-1000]
        if self._timeouts > 0 and text.strip():
            self._timeouts -= 1
            return
        if overflow:
            self._final(error=_AtError())
            return
        m = re.search(r"[Aa][Tt]", text)
        if not m:
            return                    # no "AT": not a command line (V.250 5.2.1)
        body = text[m.end():]
        try:
            self._run_line(body)
        except _Prompt:
            return
        except _AtError as e:
            self._final(error=e)
        else:
            self._final()
        self._after_command()

    def _after_command(self):
        self._flush_held()
        for fn in self._post_final:
            fn()
        self._post_final = []

    def _run_line(self, body):
        """Run the commands of one line; info text is written as each command ends."""
        i, n = 0, len(body)
        while i < n:
            c = body[i]
            if c in " ;":
                i += 1
                continue
            if c in "+^$":
                j, quoted = i + 1, False
                while j < n and (quoted or body[j] != ";"):
                    if body[j] == '"':
                        quoted = not quoted
                    j += 1
                lines = self._extended(body[i:j].strip())
                i = j
            else:
                m = re.match(r"(&[A-Za-z]|[A-Za-z])(\d*)(=\d*|\?)?", body[i:])
                if not m:
                    raise _AtError()
                i += m.end()
                lines = self._basic(m.group(1).upper(), m.group(2), m.group(3))
            if lines:
                self._write(self._lines(lines))

    def _basic(self, name, digits, tail):
        v = int(digits) if digits else 0
        if name == "E" and v in (0, 1):
            self._echo = bool(v)
        elif name == "V" and v in (0, 1):
            self._verbose = bool(v)
        elif name == "Q" and v == 0:
            pass
        elif name == "I" and v == 0:
            return ["Switchboard", "SIM-MODEM", "Revision: SIMMODEM_1.0"]
        elif name in ("Z", "&F") and v == 0:
            self._reset_session()
        elif name in ("X", "H", "&C", "&D", "&K", "&W"):
            pass
        elif name == "S" and digits:
            if tail == "?":
                return [f"{2 if v == 3 else 0:03d}"]
        else:
            raise _AtError()
        return None

    # ------------------------------------------------------------------
    # Extended commands
    # ------------------------------------------------------------------

    def _extended(self, cmd):
        m = re.fullmatch(r"([+^$][A-Za-z0-9_]+)(=\?|\?|=(.*))?", cmd, re.S)
        if not m:
            raise _AtError()
        name, suffix, value = m.group(1).upper(), m.group(2), m.group(3)
        form = "action" if suffix is None else "test" if suffix == "=?" else \
            "read" if suffix == "?" else "set"
        handler = getattr(self, "_cmd_" + name[1:].lower(), None) if name[0] == "+" else None
        if handler is None:
            raise _AtError()
        args = _parse_args(value) if form == "set" else []
        return handler(form, args)

    def _need_sim(self, kind):
        if self._sim == "ABSENT":
            raise _AtError(kind, 10 if kind == "cme" else 310)
        if self._sim != "READY":
            raise _AtError(kind, 11 if kind == "cme" else 311)

    def _reg_stat(self):
        """+CREG stat as the modem sees it: not registered when off, detached or without SIM."""
        if self._cfun != 1 or self._detached or self._sim == "ABSENT":
            return 0
        return self._reg

    def _registered(self):
        return self._reg_stat() in (1, 5) and self._sim == "READY"

    # identification
    def _ident(self, form, value):
        if form == "test":
            return None
        if form != "action":
            raise _AtError()
        return [value]

    def _cmd_cgmi(self, form, args):
        return self._ident(form, "Switchboard")

    def _cmd_cgmm(self, form, args):
        return self._ident(form, "SIM-MODEM")

    def _cmd_cgmr(self, form, args):
        return self._ident(form, "Revision: SIMMODEM_1.0")

    def _cmd_cgsn(self, form, args):
        return self._ident(form, self._imei)

    _cmd_gmi, _cmd_gmm, _cmd_gmr, _cmd_gsn = _cmd_cgmi, _cmd_cgmm, _cmd_cgmr, _cmd_cgsn

    def _cmd_cimi(self, form, args):
        self._need_sim("cme")
        return self._ident(form, self._imsi)

    def _cmd_cmee(self, form, args):
        if form == "read":
            return [f"+CMEE: {self._cmee}"]
        if form == "test":
            return ["+CMEE: (0-2)"]
        if form == "set":
            self._cmee = _int_arg(args, 0, 0, 0, 2)
            return None
        raise _AtError()

    def _cmd_cfun(self, form, args):
        if form == "read":
            return [f"+CFUN: {self._cfun}"]
        if form == "test":
            return ["+CFUN: (0,1,4),(0-1)"]
        if form != "set":
            raise _AtError("cme", 50)
        fun = _int_arg(args, 0, None, 0, 4, _AtError("cme", 50))
        rst = _int_arg(args, 1, 0, 0, 1, _AtError("cme", 50))
        if fun not in (0, 1, 4):
            raise _AtError("cme", 50)
        self._cfun = fun
        if rst:
            self._post_final.append(lambda: self._reboot(0.1))
        return None

    def _cmd_cpin(self, form, args):
        if form == "test":
            return None
        if self._sim == "ABSENT":
            raise _AtError("cme", 10)
        if form == "read":
            return [f"+CPIN: {self._sim}"]
        if form != "set" or not args[0]:
            raise _AtError("cme", 50)
        if self._sim == "READY":
            raise _AtError("cme", 3)
        if args[0] != self._pin:
            raise _AtError("cme", 16)
        self._sim = "READY"
        return None

    def _cmd_csq(self, form, args):
        if form == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if form != "action":
            raise _AtError()
        return [f"+CSQ: {self._rssi},{self._ber}"]

    def _creg_line(self, urc=False):
        stat = self._reg_stat()
        fields = [] if urc else [str(self._creg_n)]
        fields.append(str(stat))
        if self._creg_n == 2 and stat in (1, 5):
            fields += [f'"{self._lac}"', f'"{self._ci}"']
        return "+CREG: " + ",".join(fields)

    def _cmd_creg(self, form, args):
        if form == "read":
            return [self._creg_line()]
        if form == "test":
            return ["+CREG: (0-2)"]
        if form == "set":
            self._creg_n = _int_arg(args, 0, 0, 0, 2)
            return None
        raise _AtError()

    def _cmd_cops(self, form, args):
        name, short, numeric, act = self._operator
        if form == "test":
            return [f'+COPS: (2,"{name}","{short}","{numeric}",{act}),,(0-4),(0-2)']
        if form == "read":
            if not self._registered():
                return ["+COPS: 0"]
            shown = (name, short, numeric)[self._cops_format]
            return [f'+COPS: 0,{self._cops_format},"{shown}",{act}']
        if form != "set":
            raise _AtError()
        mode = _int_arg(args, 0, None, 0, 4, _AtError("cme", 50))
        if mode == 3:
            self._cops_format = _int_arg(args, 1, 0, 0, 2, _AtError("cme", 50))
        elif mode == 2:
            self._detached = True
        elif mode in (0, 4) or (mode == 1 and len(args) > 2 and args[2] in (name, short, numeric)):
            self._detached = False
        else:
            raise _AtError("cme", 30)
        return None

    def _cmd_cscs(self, form, args):
        if form == "read":
            return [f'+CSCS: "{self._cscs}"']
        if form == "test":
            return ['+CSCS: ("GSM","IRA","UCS2")']
        if form == "set" and args[0].upper() in ("GSM", "IRA", "UCS2"):
            self._cscs = args[0].upper()
            return None
        raise _AtError("cme", 4)

    def _cmd_csca(self, form, args):
        if form == "test":
            return None
        self._need_sim("cms")
        if form == "read":
            toa = 145 if self._smsc.startswith("+") else 129
            return [f'+CSCA: "{self._smsc}",{toa}']
        if form == "set" and re.fullmatch(r"\+?[0-9]{1,20}", args[0]):
            self._smsc = args[0]
            return None
        raise _AtError("cms", 302)

    def _cmd_csms(self, form, args):
        if form == "read":
            return ["+CSMS: 0,1,1,1"]
        if form == "test":
            return ["+CSMS: (0,1)"]
        if form == "set":
            _int_arg(args, 0, None, 0, 1, _AtError("cms", 302))
            return ["+CSMS: 1,1,1"]
        raise _AtError()

    def _cmd_cnma(self, form, args):
        return None

    def _cmd_cusd(self, form, args):
        if form == "read":
            return ["+CUSD: 1"]
        if form == "test":
            return ["+CUSD: (0-2)"]
        if form != "set":
            raise _AtError()
        n = _int_arg(args, 0, 0, 0, 2, _AtError("cme", 50))
        if n == 2 or len(args) < 2 or not args[1]:
            return None
        if not self._registered():
            raise _AtError("cme", 30)
        reply = self.ussd_replies.get(args[1])
        line = (f'+CUSD: 0,"{reply}",15' if reply is not None else "+CUSD: 4")
        self._after(0.1, lambda: self._urc([line], sms=False), session=True)
        return None

    # SMS
    def _cmd_cmgf(self, form, args):
        if form == "read":
            return [f"+CMGF: {self._cmgf}"]
        if form == "test":
            return ["+CMGF: (0-1)"]
        if form == "set":
            self._cmgf = _int_arg(args, 0, 0, 0, 1)
            return None
        raise _AtError()

    def _cmd_cnmi(self, form, args):
        if form == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self._cnmi)]
        if form == "test":
            return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]
        if form != "set":
            raise _AtError()
        err = _AtError("cms", 302)
        limits = (2, 3, 3, 2, 1)
        new = [_int_arg(args, k, self._cnmi[k], 0, limits[k], err) for k in range(5)]
        if len(args) > 5:
            raise err
        old_mode = self._cnmi[0]
        self._cnmi = new
        if old_mode == 0 and new[0] != 0:
            buffered, self._ta_buffer = self._ta_buffer, []
            if new[4] == 0:
                self._post_final.append(lambda: [self._urc(b, sms=False) for b in buffered])
        return None

    def _cmd_cpms(self, form, args):
        if form == "test":
            return ['+CPMS: ("SM"),("SM"),("SM")']
        self._need_sim("cms")
        used, total = len(self._storage), self.capacity
        if form == "read":
            return [f'+CPMS: "SM",{used},{total},"SM",{used},{total},"SM",{used},{total}']
        if form != "set" or len(args) > 3 or any(a.upper() not in ("SM", "") for a in args) \
                or not args[0]:
            raise _AtError("cms", 302)
        return [f"+CPMS: {used},{total},{used},{total},{used},{total}"]

    def _pdu_mode(self):
        self._need_sim("cms")
        if self._cmgf != 0:
            raise _AtError("cms", 303)

    def _cmd_cmgs(self, form, args):
        if form == "test":
            return None
        self._pdu_mode()
        if form != "set" or len(args) != 1:
            raise _AtError("cms", 304)
        n = _int_arg(args, 0, None, 1, 164, _AtError("cms", 304))
        self._mode = "pdu"
        self._pdu_len = n
        self._pdu.clear()
        self._pdu_bad = False
        self._write(b"\r\n> ")
        raise _Prompt()

    def _cmd_cmgl(self, form, args):
        if form == "test":
            return ["+CMGL: (0-4)"]
        self._pdu_mode()
        if form == "read":
            raise _AtError()
        stat = 0 if form == "action" else _int_arg(args, 0, 0, 0, 4, _AtError("cms", 302))
        lines = []
        for index in sorted(self._storage):
            e = self._storage[index]
            if stat == 4 or e["stat"] == stat:
                lines += [f"+CMGL: {index},{e['stat']},,{_pdu_len(e['pdu'])}", e["pdu"]]
                if e["stat"] == 0:
                    e["stat"] = 1
        return lines

    def _index_arg(self, args, i=0, allow_zero=False):
        err = _AtError("cms", 321)
        index = _int_arg(args, i, None, 0, 65535, err)
        if not (1 <= index <= self.capacity or (allow_zero and index == 0)):
            raise err
        return index

    def _cmd_cmgr(self, form, args):
        if form == "test":
            return None
        self._pdu_mode()
        if form != "set":
            raise _AtError("cms", 302)
        e = self._storage.get(self._index_arg(args))
        if e is None:
            raise _AtError("cms", 321)
        lines = [f"+CMGR: {e['stat']},,{_pdu_len(e['pdu'])}", e["pdu"]]
        if e["stat"] == 0:
            e["stat"] = 1
        return lines

    def _cmd_cmgd(self, form, args):
        if form == "test":
            return ["+CMGD: (1-%d),(0-4)" % self.capacity]
        self._need_sim("cms")
        if form != "set":
            raise _AtError("cms", 302)
        flag = _int_arg(args, 1, 0, 0, 4, _AtError("cms", 302))
        index = self._index_arg(args, 0, allow_zero=flag > 0)
        if flag == 0:
            self._storage.pop(index, None)
        else:
            doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag]
            for i in [i for i, e in self._storage.items() if e["stat"] in doomed]:
                del self._storage[i]
        if self._network_queue:
            self._after(0.05, self._retry_network)
        return None

    # ------------------------------------------------------------------
    # +CMGS: the PDU after the prompt
    # ------------------------------------------------------------------

    def _pdu_byte(self, b):
        if b == 0x1A:
            self._submit()
            return
        if b == 0x1B:
            self._reset_input()
            self._final()
            self._after_command()
            return
        if self._echo:
            self._write(bytes([b]))
        if b in (0x0D, 0x0A, 0x20):
            return
        if chr(b) not in "0123456789abcdefABCDEF":
            self._pdu_bad = True
        elif len(self._pdu) < MAX_PDU_HEX:
            self._pdu.append(b)
        else:
            self._pdu_bad = True

    def _submit(self):
        hexpdu = self._pdu.decode("ascii")
        bad, expected = self._pdu_bad, self._pdu_len
        self._reset_input()
        try:
            if bad or len(hexpdu) % 2:
                raise _AtError("cms", 304)
            try:
                data = bytes.fromhex(hexpdu)
                smsc, smsc_len = decode_smsc(data)
                if len(data) - smsc_len != expected:
                    raise _AtError("cms", 304)
                decoded = decode_pdu(hexpdu)
            except (ValueError, IndexError):     # PduError is a ValueError
                raise _AtError("cms", 304) from None
            if decoded["type"] != "SUBMIT":
                raise _AtError("cms", 304)
            if not self._registered():
                raise _AtError("cms", 331)
            if not smsc and not self._smsc:
                raise _AtError("cms", 330)
            if self._fail_cmgs:
                raise _AtError("cms", self._fail_cmgs.pop(0))
        except _AtError as e:
            self._answer_submit(None, e)
            return
        mr = self._mr
        self._mr = (self._mr + 1) & 0xFF
        decoded["mr_in_pdu"] = decoded["mr"]
        decoded["mr"] = mr
        decoded["pdu"] = hexpdu.upper()
        decoded["time"] = time.time()
        self._sent.append(decoded)
        if decoded["srr"] and self._delivery_reports:
            self._after(self._report_delay, lambda: self._status_report(decoded))
        if self._send_delay > 0:
            self._mode = "busy"
            self._after(self._send_delay, lambda: self._answer_submit(mr), session=True)
        else:
            self._answer_submit(mr)

    def _answer_submit(self, mr, error=None):
        pending = bytes(self._pending_in)
        self._reset_input()
        if error is None:
            self._write(self._lines([f"+CMGS: {mr}"]))
            self._final()
        else:
            self._final(error=error)
        self._after_command()
        if pending:
            self._feed(pending)

    def _status_report(self, submit):
        pdu = build_status_report(submit["mr"], submit["to"], self._report_status,
                                  smsc=self._smsc, recipient_toa=submit["to_toa"])
        report = {"mr": submit["mr"], "status": self._report_status, "pdu": pdu, "index": None}
        ds = self._cnmi[3]
        if ds == 1:
            self._urc([f"+CDS: {tpdu_length(pdu)}", pdu])
        elif ds == 2:
            index = self._store(pdu, 0)
            report["index"] = index
            if index is not None:
                self._urc([f'+CDSI: "SM",{index}'])
        else:
            return
        self._reports.append(report)

    # ------------------------------------------------------------------
    # Incoming messages and the SIM
    # ------------------------------------------------------------------

    def _store(self, pdu, stat=0, index=None):
        if index is None:
            free = [i for i in range(1, self.capacity + 1) if i not in self._storage]
            if not free:
                return None
            index = free[0]
        elif not 1 <= index <= self.capacity:
            raise ValueError(f"index {index} outside 1..{self.capacity}")
        self._storage[index] = {"stat": stat, "pdu": pdu}
        return index

    def _incoming(self, pdu):
        if self._cnmi[1] == 2:
            self._urc([f"+CMT: ,{_pdu_len(pdu)}", pdu])
            return "direct"
        index = self._store(pdu, 0)
        if index is None:
            self._network_queue.append(pdu)
            return None
        if self._cnmi[1] in (1, 3):
            self._urc([f'+CMTI: "SM",{index}'])
        return index

    def _retry_network(self):
        queue, self._network_queue = self._network_queue, []
        for k, pdu in enumerate(queue):
            if self._incoming(pdu) is None:
                self._network_queue += queue[k + 1:]
                break

    def _assemble_outbox(self):
        messages, open_groups = [], {}
        for p in self._sent:
            c = p["concat"]
            if not c or c["total"] <= 1:
                messages.append({"single": p})
                continue
            key = (p["to"], c["ref"], c["total"])
            group = open_groups.get(key)
            if group is None or c["seq"] in group["by_seq"]:
                group = {"by_seq": {}, "total": c["total"], "ref": c["ref"]}
                open_groups[key] = group
                messages.append(group)
            group["by_seq"][c["seq"]] = p
        out = []
        for m in messages:
            if "single" in m:
                p = m["single"]
                parts, total, ref = [p], 1, None
                seqs = [1]
            else:
                seqs = sorted(m["by_seq"])
                parts = [m["by_seq"][s] for s in seqs]
                total, ref = m["total"], m["ref"]
            first = parts[0]
            texts = [p["text"] or "" for p in parts]
            out.append({
                "to": first["to"],
                "text": _join_text(texts) if first["encoding"] == "ucs2" else "".join(texts),
                "encoding": first["encoding"],
                "total": total,
                "complete": seqs == list(range(1, total + 1)),
                "ref": ref,
                "mr": [p["mr"] for p in parts],
                "srr": any(p["srr"] for p in parts),
                "validity_minutes": first["validity_minutes"],
                "parts": [{"seq": s, "mr": p["mr"], "text": p["text"]} for s, p in zip(seqs, parts)],
            })
        return out


# ==========================================================================
# Control over TCP
# ==========================================================================

CONTROL_METHODS = frozenset({
    "ping", "deliver_sms", "deliver_pdu", "store", "storage", "sent", "outbox", "clear_outbox",
    "reports", "commands", "state", "set_signal", "set_registration", "set_operator", "set_sim",
    "set_chunked", "set_send_delay", "set_delivery_reports", "hang", "unhang", "timeout_next",
    "fail_next_cmgs", "inject_urc", "reboot", "unplug", "plug", "replug",
})


class ControlError(RuntimeError):
    pass


def _control_reply(modem, line):
    line = line.strip()
    if not line:
        return None
    method, _, rest = line.partition(" ")
    try:
        if method not in CONTROL_METHODS:
            raise ControlError(f"unknown method {method!r}")
        kwargs = json.loads(rest) if rest.strip() else {}
        if not isinstance(kwargs, dict):
            raise ControlError("arguments must be a JSON object")
        result = getattr(modem, method)(**kwargs)
        return {"ok": True, "result": result}
    except Exception as e:  # reported to the client
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def start_control_server(modem, port=0, host="127.0.0.1"):
    """Serve the control protocol on host:port (0: a free port) from a thread.
    Returns the server; server.server_address[1] is the port, server.shutdown() stops it."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                line = self.rfile.readline(1 << 20)
                if not line:
                    return
                reply = _control_reply(modem, line.decode("utf-8", "replace"))
                if reply is not None:
                    self.wfile.write((json.dumps(reply) + "\n").encode())
                    self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="sim-modem-control", daemon=True).start()
    return server


class ControlClient:
    """The control protocol from another process: client.deliver_sms(sender=..., text=...)."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rwb")

    def call(self, method, **kwargs):
        line = method + (" " + json.dumps(kwargs) if kwargs else "") + "\n"
        self._file.write(line.encode())
        self._file.flush()
        reply = self._file.readline()
        if not reply:
            raise ControlError("control connection closed")
        reply = json.loads(reply)
        if not reply["ok"]:
            raise ControlError(reply["error"])
        return reply["result"]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda **kw: self.call(name, **kw)

    def close(self):
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description="A simulated SMS modem on a pty.")
    ap.add_argument("--link", required=True, help="path of the symlink to the pty (the 'device')")
    ap.add_argument("--control", type=int, help="TCP port on 127.0.0.1 for the control protocol (0: any)")
    ap.add_argument("--capacity", type=int, default=30, help="SIM message slots")
    ap.add_argument("--cmee", type=int, default=0, choices=(0, 1, 2), help="default of +CMEE")
    ap.add_argument("--rssi", type=int, default=20)
    ap.add_argument("--registration", type=int, default=1, choices=sorted(REG_STATES))
    ap.add_argument("--operator", default="Switchboard Mobile")
    ap.add_argument("--pin", help="the SIM asks for this PIN at power-on")
    ap.add_argument("--smsc", default="+436640501")
    ap.add_argument("--mr-start", type=int, default=0, help="first message reference")
    ap.add_argument("--send-delay", type=float, default=0.0, help="seconds before the +CMGS answer")
    ap.add_argument("--report-delay", type=float, default=0.1, help="seconds before a status report")
    ap.add_argument("--no-delivery-reports", action="store_true")
    ap.add_argument("--chunked", action="store_true", help="answer in 1-3 byte writes")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    modem = SimModem(args.link, capacity=args.capacity, cmee=args.cmee, rssi=args.rssi,
                     registration=args.registration, operator=args.operator, pin=args.pin,
                     smsc=args.smsc, mr_start=args.mr_start, send_delay=args.send_delay,
                     report_delay=args.report_delay,
                     delivery_reports=not args.no_delivery_reports, chunked=args.chunked,
                     seed=args.seed)
    server = None
    try:
        port = None
        if args.control is not None:
            server = start_control_server(modem, args.control)
            port = server.server_address[1]
        print(json.dumps({"ready": True, "link": modem.link, "pty": modem.pty_name,
                          "control": port}), flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        modem.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
