"""The simulated SMS modem (sim_modem.py) checked on its own, so that the SMS
black-box tests can trust it: its PDU codec against published PDUs and hand-
computed encodings, and the modem through its pty, opened as a terminal
program opens a serial port (terminal.py), speaking AT.

Needs no daemon binary. Run with /usr/bin/python3; about 5 s.
"""
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sim_modem as sm  # noqa: E402
from terminal import Hangup, Terminal  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
# A final result code on a line of its own, +CME/+CMS ERROR included.
FINAL = re.compile(rb"(?:^|(?<=[\r\n]))(?:OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n")

# The classic SMS-SUBMIT: to +46708251358, "hellohello", VP 4 days. <len> is
# 23: the leading 00 (no SMSC) is not counted.
HELLO_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# The classic SMS-DELIVER: SMSC +27381000015, from 27838890001 (type 0xC8),
# 1999-03-29 15:16:59 GMT+2, "hellohello".
HELLO_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


# --------------------------------------------------------------------------
# The PDU codec, no pty
# --------------------------------------------------------------------------

class PduCodec(unittest.TestCase):
    def test_published_submit(self):
        d = sm.decode_pdu(HELLO_SUBMIT)
        self.assertEqual(d["type"], "SUBMIT")
        self.assertEqual(d["tpdu_len"], 23)
        self.assertEqual((d["to"], d["to_toa"]), ("+46708251358", 0x91))
        self.assertEqual((d["text"], d["encoding"], d["validity_minutes"]), ("hellohello", "gsm7", 4 * 1440))
        self.assertFalse(d["srr"])
        self.assertEqual(sm.build_submit("+46708251358", "hellohello", validity_minutes=4 * 1440),
                         HELLO_SUBMIT)
        self.assertEqual(sm.tpdu_length(HELLO_SUBMIT), 23)

    def test_published_deliver(self):
        d = sm.decode_pdu(HELLO_DELIVER)
        self.assertEqual(d["type"], "DELIVER")
        self.assertEqual((d["smsc"], d["sender"], d["sender_toa"]), ("+27381000015", "27838890001", 0xC8))
        self.assertEqual(d["scts"], (1999, 3, 29, 15, 16, 59, 8))
        self.assertEqual(d["text"], "hellohello")
        rebuilt = sm.build_deliver("27838890001", "hellohello", smsc="+27381000015", sender_toa=0xC8,
                                   timestamp=(1999, 3, 29, 15, 16, 59), tz_quarters=8)
        self.assertEqual(rebuilt, HELLO_DELIVER)

    def test_gsm7_alphabet_and_extension(self):
        every = "".join(ch for i, ch in enumerate(sm.GSM7_DEFAULT) if i != 0x1B) + "€[]{}~|^\\\f"
        self.assertEqual(sm.gsm7_text(sm.gsm7_septets(every)), every)
        self.assertEqual(sm.gsm7_septets("€"), [0x1B, 0x65])
        self.assertEqual(sm.gsm7_septets("@£$"), [0x00, 0x01, 0x02])
        self.assertEqual(sm.pack_septets(sm.gsm7_septets("hellohello")).hex().upper(), "E8329BFD4697D9EC37")
        self.assertTrue(sm.gsm7_encodable("Grüße €"))
        self.assertFalse(sm.gsm7_encodable("ç"))  # only the capital Ç is in the alphabet
        with self.assertRaises(ValueError):
            sm.gsm7_septets("😀")

    def test_concatenation_header_fill_bit(self):
        # 6 header octets = 48 bits, text from septet 7 (bit 49): one fill bit,
        # "h" (0x68) shifted left by one = 0xD0, then "i" = 0x69. UDL 9 septets.
        udl, ud, udhi = sm.encode_user_data("hi", "gsm7", (0xCC, 2, 1))
        self.assertEqual((udl, ud.hex().upper(), udhi), (9, "050003CC0201D069", True))
        d = sm.decode_user_data(ud, 0, udl, "gsm7", True)
        self.assertEqual(d["text"], "hi")
        self.assertEqual(d["concat"], {"ref": 0xCC, "total": 2, "seq": 1, "ref_bits": 8})
        # UCS2: header then UTF-16BE; 16-bit references too.
        udl, ud, _ = sm.encode_user_data("€", "ucs2", (0x1234, 3, 2))
        self.assertEqual(ud.hex().upper(), "0608041234030220AC")
        self.assertEqual(sm.decode_user_data(ud, 0, udl, "ucs2", True)["concat"]["ref"], 0x1234)

    def test_splitting(self):
        self.assertEqual(len(sm.split_text("a" * 160)), 1)
        self.assertEqual([len(p) for p in sm.split_text("a" * 161)], [153, 8])
        # An escape pair is never cut: 152 plain + "€" would be 154 septets.
        parts = sm.split_text("a" * 152 + "€" + "b")
        self.assertEqual(parts, ["a" * 152 + "€b"])  # 155 septets fit one message
        parts = sm.split_text("a" * 152 + "€" + "b" * 10)
        self.assertEqual(parts[0], "a" * 152)
        self.assertEqual(len(sm.split_text("ж" * 70)), 1)
        self.assertEqual([len(p) for p in sm.split_text("ж" * 71)], [67, 4])
        # A surrogate pair is never cut: 66 units + emoji (2 units) -> next part.
        parts = sm.split_text("ж" * 66 + "😀" + "ж" * 10)
        self.assertEqual(parts[0], "ж" * 66)
        self.assertEqual("".join(parts), "ж" * 66 + "😀" + "ж" * 10)

    def test_addresses(self):
        self.assertEqual(sm.encode_address("+436601112233").hex().upper(), "0C91346610112233")
        self.assertEqual(sm.encode_address("12345").hex().upper(), "05812143F5")
        alpha = sm.encode_address("Switchboard")
        self.assertEqual(alpha[:2], bytes([20, 0xD0]))
        self.assertEqual(sm.decode_address(alpha, 0)[:2], ("Switchboard", 0xD0))

    def test_status_report(self):
        pdu = sm.build_status_report(200, "+436601112233", status=0x46, smsc="+436640501",
                                     scts=(2024, 5, 1, 12, 0, 0), discharge=(2024, 5, 1, 12, 0, 5))
        d = sm.decode_pdu(pdu)
        self.assertEqual((d["type"], d["mr"], d["recipient"], d["status"], d["delivered"]),
                         ("STATUS-REPORT", 200, "+436601112233", 0x46, False))
        self.assertEqual(d["discharge"], (2024, 5, 1, 12, 0, 5, 0))
        self.assertEqual(d["tpdu_len"], 25)

    def test_validity_period(self):
        self.assertEqual(sm.vp_relative_minutes(0xAA), 4 * 1440)
        self.assertEqual(sm.vp_relative_minutes(0xA7), 1440)
        self.assertEqual(sm.vp_relative_minutes(143), 720)
        self.assertEqual(sm.vp_relative(60), 11)
        for minutes in (5, 60, 720, 750, 1440, 3 * 1440, 30 * 1440, 63 * 7 * 1440):
            self.assertGreaterEqual(sm.vp_relative_minutes(sm.vp_relative(minutes)), minutes)

    def test_garbage_only_raises_pdu_error(self):
        rng = random.Random(6)
        for _ in range(3000):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            try:
                sm.decode_pdu(data.hex())
            except sm.PduError:
                pass
        # A valid PDU cut short anywhere.
        for n in range(0, len(HELLO_DELIVER), 2):
            with self.assertRaises(sm.PduError):
                sm.decode_pdu(HELLO_DELIVER[:n])


# --------------------------------------------------------------------------
# The modem through its pty
# --------------------------------------------------------------------------

class ModemCase(unittest.TestCase):
    options = {}

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sim-modem-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.link = os.path.join(self.dir, "ttyUSB0")
        self.modem = sm.SimModem(self.link, report_delay=0.05, seed=1, **self.options)
        self.addCleanup(self.modem.close)
        self.t = self.open()

    def open(self):
        t = Terminal(self.link, timeout=3)
        self.addCleanup(t.close)
        return t

    def cmd(self, text, t=None):
        return (t or self.t).command(text, final=FINAL)

    def quiet(self):
        """Echo off, numeric errors: responses without the echo."""
        self.assertEqual(self.cmd("ATE0"), b"ATE0\r" + OK)
        self.assertEqual(self.cmd("AT+CMEE=1"), OK)

    def send_pdu(self, pdu, length=None):
        """+CMGS with echo off: the whole answer after Ctrl-Z."""
        length = sm.tpdu_length(pdu) if length is None else length
        self.t.write(f"AT+CMGS={length}\r")
        self.assertEqual(self.t.read_until(b"> "), b"\r\n> ")
        self.t.write(pdu + "\x1a")
        return self.t.read_until(FINAL)

    def urc(self, timeout=2):
        """The next unsolicited line ("\\r\\n...\\r\\n") without its framing."""
        data = self.t.read_until(re.compile(rb"\r\n[^\r\n]+\r\n"), timeout)
        self.assertTrue(data.startswith(b"\r\n"), data)
        return data[2:-2].decode()


class AtCommands(ModemCase):
    def test_at_and_echo(self):
        self.assertEqual(self.cmd("AT"), b"AT\r" + OK)
        self.assertEqual(self.cmd("at"), b"at\r" + OK)
        self.assertEqual(self.cmd("ATE0"), b"ATE0\r" + OK, "the line that turns echo off is echoed")
        self.assertEqual(self.cmd("AT"), OK)
        self.assertEqual(self.cmd("ATE1"), OK)
        self.assertEqual(self.cmd("AT"), b"AT\r" + OK)

    def test_identification(self):
        self.quiet()
        self.assertEqual(self.cmd("ATI"), b"\r\nSwitchboard\r\nSIM-MODEM\r\nRevision: SIMMODEM_1.0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CGMI"), b"\r\nSwitchboard\r\n" + OK)
        self.assertEqual(self.cmd("AT+CGSN"), b"\r\n867530912345678\r\n" + OK)
        self.assertEqual(self.cmd("AT+CIMI"), b"\r\n232011234567890\r\n" + OK)

    def test_numeric_results(self):
        self.quiet()
        self.t.write("ATV0\r")
        self.assertEqual(self.t.read_exactly(2), b"0\r")
        self.t.write("AT+CSQ\r")
        self.assertEqual(self.t.read_until(b"0\r"), b"+CSQ: 20,99\r\n0\r")
        self.t.write("AT+NOPE\r")
        self.assertEqual(self.t.read_exactly(2), b"4\r")
        self.t.write("ATV1\r")
        self.assertEqual(self.t.read_until(FINAL), OK)

    def test_cmee_modes(self):
        self.assertEqual(self.cmd("ATE0"), b"ATE0\r" + OK)
        self.assertEqual(self.cmd("AT+CMEE?"), b"\r\n+CMEE: 0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGR=99"), ERROR)
        self.assertEqual(self.cmd('AT+CPIN="1234"'), ERROR)
        self.assertEqual(self.cmd("AT+CMEE=1"), OK)
        self.assertEqual(self.cmd("AT+CMGR=99"), b"\r\n+CMS ERROR: 321\r\n")
        self.assertEqual(self.cmd('AT+CPIN="1234"'), b"\r\n+CME ERROR: 3\r\n")
        self.assertEqual(self.cmd("AT+CMEE=2"), OK)
        self.assertEqual(self.cmd("AT+CMGR=99"), b"\r\n+CMS ERROR: invalid memory index\r\n")
        self.assertEqual(self.cmd("AT+CMEE=3"), ERROR)
        self.assertEqual(self.cmd("AT+CMEE=?"), b"\r\n+CMEE: (0-2)\r\n" + OK)

    def test_unknown_garbage_and_overlong(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+FOO"), ERROR)
        self.assertEqual(self.cmd("ATJ"), ERROR)
        self.t.write("hello\r")           # no AT: not a command line, no answer
        self.t.expect_quiet(0.1)
        self.assertEqual(self.cmd("xyzAT"), OK, "characters before AT are skipped")
        self.assertEqual(self.cmd("AT" + "E0" * 400), ERROR)
        rng = random.Random(1)
        self.t.write(bytes(rng.randrange(256) for _ in range(4096)))
        self.t.read_for(0.2)
        self.assertEqual(self.cmd("\x1b\rAT"), OK, "still answering after 4 KiB of noise")
        self.assertEqual(self.modem.state()["mode"], "command")

    def test_split_and_combined(self):
        self.quiet()
        for piece in ("A", "T+C", "SQ", "\r"):
            self.t.write(piece)
            time.sleep(0.02)
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CSQ: 20,99\r\n" + OK)
        self.t.write("AT\rAT+CSQ\rAT+CREG?\r")
        self.assertEqual(self.t.read_until(FINAL), OK)
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CSQ: 20,99\r\n" + OK)
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CREG: 0,1\r\n" + OK)
        self.assertEqual(self.cmd("AT+CSQ;+CREG?"), b"\r\n+CSQ: 20,99\r\n\r\n+CREG: 0,1\r\n" + OK)
        self.assertEqual(self.cmd("ATE0V1+CMGF=0;+CMGF?"), b"\r\n+CMGF: 0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CSQ;+FOO;+CREG?"), b"\r\n+CSQ: 20,99\r\n" + ERROR,
                         "a failing command ends the line")
        self.assertEqual(self.cmd("AT+CSQX\x08\x08Q"), b"\r\n+CSQ: 20,99\r\n" + OK, "backspace edits")
        self.assertEqual(self.modem.commands()[-1], "AT+CSQ", "commands() holds the edited line")

    def test_csq(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CSQ=?"), b"\r\n+CSQ: (0-31,99),(0-7,99)\r\n" + OK)
        self.modem.set_signal(7, 3)
        self.assertEqual(self.cmd("AT+CSQ"), b"\r\n+CSQ: 7,3\r\n" + OK)

    def test_creg(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CREG?"), b"\r\n+CREG: 0,1\r\n" + OK)
        self.assertEqual(self.cmd("AT+CREG=2"), OK)
        self.assertEqual(self.cmd("AT+CREG?"), b'\r\n+CREG: 2,1,"1A2B","00C3D4E5"\r\n' + OK)
        self.modem.set_registration(2)
        self.assertEqual(self.urc(), "+CREG: 2")
        self.modem.set_registration(5, lac="0001", ci="00000002")
        self.assertEqual(self.urc(), '+CREG: 5,"0001","00000002"')
        self.assertEqual(self.cmd("AT+CREG=0"), OK)
        self.modem.set_registration(1)
        self.t.expect_quiet(0.1)
        self.assertEqual(self.cmd("AT+CREG?"), b"\r\n+CREG: 0,1\r\n" + OK)

    def test_cops(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+COPS?"), b'\r\n+COPS: 0,0,"Switchboard Mobile",7\r\n' + OK)
        self.assertEqual(self.cmd("AT+COPS=3,2"), OK)
        self.assertEqual(self.cmd("AT+COPS?"), b'\r\n+COPS: 0,2,"23201",7\r\n' + OK)
        self.modem.set_operator("A1", numeric="23201")
        self.assertEqual(self.cmd("AT+COPS=3,0;+COPS?"), b'\r\n+COPS: 0,0,"A1",7\r\n' + OK)
        self.modem.set_registration(0)
        self.assertEqual(self.cmd("AT+COPS?"), b"\r\n+COPS: 0\r\n" + OK)
        self.modem.set_registration(1)
        self.assertEqual(self.cmd("AT+COPS=2"), OK)
        self.assertEqual(self.cmd("AT+CREG?"), b"\r\n+CREG: 0,0\r\n" + OK)
        self.assertEqual(self.cmd("AT+COPS=0"), OK)
        self.assertEqual(self.cmd("AT+CREG?"), b"\r\n+CREG: 0,1\r\n" + OK)

    def test_cmgf_cnmi_cpms(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CMGF?"), b"\r\n+CMGF: 0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGF=1"), OK)
        self.assertEqual(self.cmd("AT+CMGF?"), b"\r\n+CMGF: 1\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGF=2"), ERROR)
        self.assertEqual(self.cmd("AT+CNMI?"), b"\r\n+CNMI: 2,1,0,0,0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,2,0"), OK)
        self.assertEqual(self.cmd("AT+CNMI?"), b"\r\n+CNMI: 2,1,0,2,0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,3,0"), b"\r\n+CMS ERROR: 302\r\n")
        self.modem.deliver_sms("+436601112233", "one")
        self.assertEqual(self.urc(), '+CMTI: "SM",1')
        self.assertEqual(self.cmd("AT+CPMS?"), b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n' + OK)
        self.assertEqual(self.cmd('AT+CPMS="SM","SM","SM"'), b"\r\n+CPMS: 1,30,1,30,1,30\r\n" + OK)
        self.assertEqual(self.cmd('AT+CPMS="ME"'), b"\r\n+CMS ERROR: 302\r\n")

    def test_sms_commands_refused_in_text_mode(self):
        self.assertEqual(self.cmd("ATE0"), b"ATE0\r" + OK)
        self.assertEqual(self.cmd("AT+CMGF=1"), OK)
        self.assertEqual(self.cmd("AT+CMGS=23"), ERROR)
        self.assertEqual(self.cmd("AT+CMEE=1"), OK)
        self.assertEqual(self.cmd('AT+CMGS="+436601112233"'), b"\r\n+CMS ERROR: 303\r\n")
        self.assertEqual(self.cmd('AT+CMGL="ALL"'), b"\r\n+CMS ERROR: 303\r\n")
        self.assertEqual(self.modem.outbox(), [])

    def test_cusd(self):
        self.quiet()
        self.assertEqual(self.cmd('AT+CUSD=1,"*100#",15'), OK)
        self.assertEqual(self.urc(), '+CUSD: 0,"Balance: 10.00 EUR",15')
        self.assertEqual(self.cmd('AT+CUSD=1,"*999#",15'), OK)
        self.assertEqual(self.urc(), "+CUSD: 4")


class SimPin(ModemCase):
    options = {"pin": "4321"}

    def test_pin_and_absent_sim(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CPIN?"), b"\r\n+CPIN: SIM PIN\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGL=4"), b"\r\n+CMS ERROR: 311\r\n")
        self.assertEqual(self.cmd("AT+CIMI"), b"\r\n+CME ERROR: 11\r\n")
        self.assertEqual(self.cmd("AT+CREG?"), b"\r\n+CREG: 0,1\r\n" + OK)
        self.assertEqual(self.cmd("AT+COPS?"), b"\r\n+COPS: 0\r\n" + OK, "no SIM, no operator")
        self.assertEqual(self.cmd('AT+CPIN="0000"'), b"\r\n+CME ERROR: 16\r\n")
        self.assertEqual(self.cmd('AT+CPIN="4321"'), OK)
        self.assertEqual(self.cmd("AT+CPIN?"), b"\r\n+CPIN: READY\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGL=4"), OK)
        self.modem.set_sim("ABSENT")
        self.assertEqual(self.cmd("AT+CPIN?"), b"\r\n+CME ERROR: 10\r\n")
        self.assertEqual(self.cmd("AT+CMGL=4"), b"\r\n+CMS ERROR: 310\r\n")


class Sending(ModemCase):
    def test_published_submit(self):
        self.quiet()
        self.assertEqual(self.send_pdu(HELLO_SUBMIT, 23), b"\r\n+CMGS: 0\r\n" + OK)
        [m] = self.modem.outbox()
        self.assertEqual((m["to"], m["text"], m["encoding"], m["mr"], m["total"], m["complete"]),
                         ("+46708251358", "hellohello", "gsm7", [0], 1, True))
        self.assertEqual(m["validity_minutes"], 5760)
        self.assertEqual(self.modem.sent()[0]["pdu"], HELLO_SUBMIT)

    def test_echo_at_the_prompt(self):
        self.t.write("AT+CMGS=23\r")
        self.assertEqual(self.t.read_until(b"> "), b"AT+CMGS=23\r\r\n> ")
        self.t.write(HELLO_SUBMIT[:20] + "\r\n" + HELLO_SUBMIT[20:] + "\x1a")
        self.assertEqual(self.t.read_until(FINAL),
                         (HELLO_SUBMIT[:20] + "\r\n" + HELLO_SUBMIT[20:]).encode() + b"\r\n+CMGS: 0\r\n" + OK)
        self.assertEqual(self.modem.outbox()[0]["text"], "hellohello")

    def test_bad_pdus(self):
        self.quiet()
        err = b"\r\n+CMS ERROR: 304\r\n"
        self.assertEqual(self.send_pdu(HELLO_SUBMIT, 24), err, "the SMSC octet is not counted")
        self.assertEqual(self.send_pdu(HELLO_SUBMIT, 22), err)
        self.assertEqual(self.send_pdu(HELLO_SUBMIT[:-1], 23), err, "odd number of hex digits")
        self.assertEqual(self.send_pdu(HELLO_SUBMIT[:-2] + "XY", 23), err)
        self.assertEqual(self.send_pdu(HELLO_DELIVER), err, "a DELIVER is no SUBMIT")
        self.assertEqual(self.send_pdu(HELLO_SUBMIT[:-2] + "3737", 24), err, "trailing octet after the UD")
        self.assertEqual(self.send_pdu("", 1), err)
        self.assertEqual(self.cmd("AT+CMGS=0"), err)
        self.assertEqual(self.cmd("AT+CMGS=165"), err)
        self.assertEqual(self.modem.outbox(), [])
        self.assertEqual(self.send_pdu(HELLO_SUBMIT), b"\r\n+CMGS: 0\r\n" + OK, "no reference used up")

    def test_escape_cancels(self):
        self.quiet()
        self.t.write("AT+CMGS=23\r")
        self.t.read_until(b"> ")
        self.t.write(HELLO_SUBMIT[:10] + "\x1b")
        self.assertEqual(self.t.read_until(FINAL), OK)
        self.assertEqual(self.cmd("AT"), OK)
        self.assertEqual(self.modem.outbox(), [])

    def test_references_wrap(self):
        self.modem.close()
        self.modem = sm.SimModem(self.link, mr_start=254)
        self.addCleanup(self.modem.close)
        self.t = self.open()
        self.quiet()
        answers = [self.send_pdu(HELLO_SUBMIT) for _ in range(3)]
        self.assertEqual(answers, [b"\r\n+CMGS: %d\r\n" % mr + OK for mr in (254, 255, 0)])
        self.assertEqual([m["mr"] for m in self.modem.outbox()], [[254], [255], [0]])

    def test_injected_failure_and_no_network(self):
        self.quiet()
        self.modem.fail_next_cmgs(500)
        self.assertEqual(self.send_pdu(HELLO_SUBMIT), b"\r\n+CMS ERROR: 500\r\n")
        self.assertEqual(self.send_pdu(HELLO_SUBMIT), b"\r\n+CMGS: 0\r\n" + OK)
        self.modem.set_registration(0)
        self.assertEqual(self.send_pdu(HELLO_SUBMIT), b"\r\n+CMS ERROR: 331\r\n")
        self.assertEqual(len(self.modem.outbox()), 1)

    def test_multipart_ucs2(self):
        self.quiet()
        text = "Grüße aus Wien 😀 " * 6
        pdus = sm.build_submit_parts("+436601112233", text, ref=77, srr=True)
        self.assertEqual(len(pdus), 2)
        answers = [self.send_pdu(p) for p in reversed(pdus)]   # order of sending does not matter
        self.assertEqual(answers, [b"\r\n+CMGS: 0\r\n" + OK, b"\r\n+CMGS: 1\r\n" + OK])
        [m] = self.modem.outbox()
        self.assertEqual((m["to"], m["text"], m["encoding"], m["total"], m["ref"], m["complete"]),
                         ("+436601112233", text, "ucs2", 2, 77, True))
        self.assertEqual(m["mr"], [1, 0], "by part number")
        self.assertTrue(m["srr"])

    def test_multipart_gsm7_incomplete(self):
        self.quiet()
        text = "{x} " * 40          # 240 septets
        pdus = sm.build_submit_parts("+436601112233", text, ref=3)
        self.assertEqual(len(pdus), 2)
        self.send_pdu(pdus[0])
        [m] = self.modem.outbox()
        self.assertFalse(m["complete"])
        self.send_pdu(pdus[1])
        [m] = self.modem.outbox()
        self.assertTrue(m["complete"])
        self.assertEqual(m["text"], text)

    def test_network_delay_and_typeahead(self):
        self.quiet()
        self.modem.set_send_delay(0.3)
        self.t.write("AT+CMGS=23\r")
        self.t.read_until(b"> ")
        start = time.monotonic()
        self.t.write(HELLO_SUBMIT + "\x1aAT+CSQ\r")
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CMGS: 0\r\n" + OK)
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CSQ: 20,99\r\n" + OK, "typed ahead, answered after")
        self.assertEqual(len(self.modem.outbox()), 1, "recorded when Ctrl-Z came, before the answer")

    def test_status_report_direct(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,1,0"), OK)
        to = "+436601112233"
        self.send_pdu(sm.build_submit(to, "report me", srr=True))
        head = self.urc()
        pdu = self.t.read_until(b"\r\n")[:-2].decode()
        self.assertEqual(head, f"+CDS: {sm.tpdu_length(pdu)}")
        d = sm.decode_pdu(pdu)
        self.assertEqual((d["type"], d["mr"], d["recipient"], d["status"]), ("STATUS-REPORT", 0, to, 0))
        self.assertEqual(self.modem.reports()[0]["mr"], 0)

    def test_status_report_stored(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,2,0"), OK)
        self.modem.set_delivery_reports(True, status=0x45)
        self.send_pdu(sm.build_submit("+436601112233", "x"))           # no TP-SRR: no report
        self.send_pdu(sm.build_submit("+436601112233", "y", srr=True))
        self.assertEqual(self.urc(), '+CDSI: "SM",1')
        out = self.cmd("AT+CMGR=1")
        m = re.fullmatch(rb"\r\n\+CMGR: 0,,(\d+)\r\n([0-9A-F]+)\r\n\r\nOK\r\n", out)
        self.assertTrue(m, out)
        d = sm.decode_pdu(m.group(2).decode())
        self.assertEqual((d["type"], d["mr"], d["status"], d["delivered"]), ("STATUS-REPORT", 1, 0x45, False))
        self.assertEqual(int(m.group(1)), d["tpdu_len"])

    def test_no_report_when_ds_is_0_or_reports_off(self):
        self.quiet()
        self.send_pdu(sm.build_submit("+436601112233", "y", srr=True))
        self.t.expect_quiet(0.2)              # report_delay is 0.05 s
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,1,0"), OK)
        self.modem.set_delivery_reports(False)
        self.send_pdu(sm.build_submit("+436601112233", "z", srr=True))
        self.t.expect_quiet(0.2)
        self.assertEqual(self.modem.reports(), [])

    def test_urcs_held_at_the_prompt(self):
        self.quiet()
        self.t.write("AT+CMGS=23\r")
        self.t.read_until(b"> ")
        self.modem.deliver_sms("+436601112233", "while you type")
        self.t.expect_quiet(0.1)
        self.t.write(HELLO_SUBMIT + "\x1a")
        self.assertEqual(self.t.read_until(FINAL), b"\r\n+CMGS: 0\r\n" + OK)
        self.assertEqual(self.urc(), '+CMTI: "SM",1')


class Receiving(ModemCase):
    def cmgl(self, stat):
        out = self.cmd(f"AT+CMGL={stat}")
        self.assertTrue(out.endswith(OK), out)
        entries = re.findall(rb"\+CMGL: (\d+),(\d),,(\d+)\r\n([0-9A-F]+)\r\n", out)
        return [(int(i), int(s), int(n), p.decode()) for i, s, n, p in entries]

    def test_cmti_and_cmgl(self):
        self.quiet()
        r = self.modem.deliver_sms("+436601112233", "first")
        self.assertEqual(r["indices"], [1])
        self.assertEqual(self.urc(), '+CMTI: "SM",1')
        self.modem.deliver_sms("Switchboard", "second €")
        self.assertEqual(self.urc(), '+CMTI: "SM",2')
        entries = self.cmgl(4)
        self.assertEqual([(i, s) for i, s, _, _ in entries], [(1, 0), (2, 0)])
        for i, s, n, pdu in entries:
            self.assertEqual(n, sm.tpdu_length(pdu))
        decoded = [sm.decode_pdu(p) for _, _, _, p in entries]
        self.assertEqual([(d["sender"], d["text"]) for d in decoded],
                         [("+436601112233", "first"), ("Switchboard", "second €")])
        self.assertEqual(self.cmgl(0), [], "listed unread ones are read now")
        self.assertEqual(len(self.cmgl(1)), 2)
        self.assertEqual(self.cmd("AT+CMGL=5"), b"\r\n+CMS ERROR: 302\r\n")
        self.assertEqual(self.cmd("AT+CMGL=?"), b"\r\n+CMGL: (0-4)\r\n" + OK)

    def test_cmgr_and_cmgd(self):
        self.quiet()
        self.modem.store(sm.build_deliver("+436601112233", "a"))
        self.modem.store(sm.build_deliver("+436601112233", "b"))
        self.modem.store(sm.build_deliver("+436601112233", "c"), stat=1)
        out = self.cmd("AT+CMGR=2")
        m = re.fullmatch(rb"\r\n\+CMGR: 0,,(\d+)\r\n([0-9A-F]+)\r\n\r\nOK\r\n", out)
        self.assertTrue(m, out)
        self.assertEqual(sm.decode_pdu(m.group(2).decode())["text"], "b")
        self.assertTrue(self.cmd("AT+CMGR=2").startswith(b"\r\n+CMGR: 1,,"), "read now")
        self.assertEqual(self.cmd("AT+CMGR=31"), b"\r\n+CMS ERROR: 321\r\n")
        self.assertEqual(self.cmd("AT+CMGD=2"), OK)
        self.assertEqual(self.cmd("AT+CMGR=2"), b"\r\n+CMS ERROR: 321\r\n")
        self.assertEqual(self.cmd("AT+CMGD=2"), OK, "deleting an empty slot is fine")
        self.assertEqual(self.cmd("AT+CMGD=0,1"), OK, "delflag 1: every read message")
        self.assertEqual(sorted(self.modem.storage()), [1])
        self.assertEqual(self.cmd("AT+CMGD=1,4"), OK)
        self.assertEqual(self.modem.storage(), {})
        self.assertEqual(self.cmd("AT+CMGD=0"), b"\r\n+CMS ERROR: 321\r\n")

    def test_multipart_in_reverse_order(self):
        self.quiet()
        text = "Lorem ipsum dolor sit amet, " * 12
        r = self.modem.deliver_sms("+436601112233", text, order="reversed", ref=9)
        self.assertEqual(len(r["pdus"]), 3)
        self.assertEqual([self.urc() for _ in range(3)], [f'+CMTI: "SM",{i}' for i in (1, 2, 3)])
        decoded = [sm.decode_pdu(p) for _, _, _, p in self.cmgl(4)]
        self.assertEqual([d["concat"]["seq"] for d in decoded], [3, 2, 1])
        self.assertEqual({(d["concat"]["ref"], d["concat"]["total"]) for d in decoded}, {(9, 3)})
        by_seq = sorted(decoded, key=lambda d: d["concat"]["seq"])
        self.assertEqual("".join(d["text"] for d in by_seq), text)
        self.assertEqual([len(d["text"]) for d in by_seq], [153, 153, len(text) - 306])

    def test_ucs2_chosen_automatically(self):
        self.quiet()
        text = "Привет 😀 " * 9        # 90 UTF-16 units: two UCS2 parts
        r = self.modem.deliver_sms("+436601112233", text)
        decoded = [sm.decode_pdu(p) for p in r["pdus"]]
        self.assertEqual({d["encoding"] for d in decoded}, {"ucs2"})
        self.assertEqual(sm._join_text([d["text"] for d in decoded]), text)
        self.assertEqual(r["indices"], [1, 2])

    def test_parts_spaced_in_time(self):
        self.quiet()
        start = time.monotonic()
        self.modem.deliver_sms("+436601112233", "x" * 200, interval=0.15)
        self.assertEqual(self.urc(), '+CMTI: "SM",1')
        self.assertEqual(self.urc(), '+CMTI: "SM",2')
        self.assertGreaterEqual(time.monotonic() - start, 0.12)

    def test_cmt_direct(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CNMI=2,2,0,0,0"), OK)
        r = self.modem.deliver_sms("+436601112233", "direct")
        self.assertEqual(r["indices"], ["direct"])
        self.assertEqual(self.urc(), f"+CMT: ,{sm.tpdu_length(r['pdus'][0])}")
        self.assertEqual(self.t.read_until(b"\r\n"), r["pdus"][0].encode() + b"\r\n")
        self.assertEqual(self.modem.storage(), {})

    def test_cnmi_mode_0_buffers(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CNMI=0,1,0,0,0"), OK)
        self.modem.deliver_sms("+436601112233", "buffered")
        self.t.expect_quiet(0.1)
        self.assertEqual(self.cmd("AT+CNMI=2,1,0,0,0"), OK)
        self.assertEqual(self.urc(), '+CMTI: "SM",1')

    def test_sim_full_then_freed(self):
        self.modem.close()
        self.modem = sm.SimModem(self.link, capacity=3)
        self.addCleanup(self.modem.close)
        self.t = self.open()
        self.quiet()
        self.assertEqual([self.modem.deliver_sms("+436601112233", f"m{i}")["indices"][0] for i in range(4)],
                         [1, 2, 3, None])
        self.assertEqual([self.urc() for _ in range(3)], [f'+CMTI: "SM",{i}' for i in (1, 2, 3)])
        self.assertEqual(self.cmd("AT+CPMS?"), b'\r\n+CPMS: "SM",3,3,"SM",3,3,"SM",3,3\r\n' + OK)
        self.assertEqual(self.cmd("AT+CMGD=2"), OK)
        self.assertEqual(self.urc(), '+CMTI: "SM",2', "the network delivers it once there is room")
        self.assertEqual(sm.decode_pdu(self.modem.storage()[2]["pdu"])["text"], "m3")

    def test_garbage_pdu_on_the_sim(self):
        self.quiet()
        self.modem.deliver_pdu("00FFEE")
        self.assertEqual(self.urc(), '+CMTI: "SM",1')
        self.assertEqual(self.cmd("AT+CMGR=1"), b"\r\n+CMGR: 0,,2\r\n00FFEE\r\n" + OK)


class Faults(ModemCase):
    def test_chunked_output(self):
        self.quiet()
        self.modem.set_chunked(True)
        fd = self.t.fileno()
        os.write(fd, b"AT+CSQ\r")
        data, reads, deadline = b"", 0, time.monotonic() + 3
        while not data.endswith(OK) and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                data += os.read(fd, 100)
                reads += 1
        self.assertEqual(data, b"\r\n+CSQ: 20,99\r\n" + OK)
        self.assertGreater(reads, 3, "the answer came in pieces")
        self.assertEqual(self.send_pdu(HELLO_SUBMIT), b"\r\n+CMGS: 0\r\n" + OK)

    def test_hang(self):
        self.quiet()
        self.modem.hang()
        self.t.write("AT\r")
        self.t.expect_quiet(0.3)
        self.modem.deliver_sms("+436601112233", "while hung")
        self.t.expect_quiet(0.1)
        self.modem.unhang()
        self.assertEqual(self.cmd("AT"), OK)
        self.assertEqual(len(self.modem.storage()), 1, "stored, its +CMTI lost")

    def test_timeout_next(self):
        self.quiet()
        self.modem.timeout_next(2)
        self.t.write("AT\r")
        self.t.expect_quiet(0.2)
        self.t.write("AT+CSQ\r")
        self.t.expect_quiet(0.2)
        self.assertEqual(self.cmd("AT"), OK)

    def test_mid_command_urc(self):
        self.quiet()
        self.modem.inject_urc("RING", mid_command=True)
        self.assertEqual(self.cmd("AT+CSQ"), b"\r\n+CSQ: 20,99\r\n\r\nRING\r\n" + OK)
        self.modem.inject_urc("+CMTI: \"SM\",7")
        self.assertEqual(self.urc(), '+CMTI: "SM",7')

    def test_reboot(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CMGF=1"), OK)
        self.modem.store(sm.build_deliver("+436601112233", "kept"))
        self.modem.reboot(downtime=0.2)
        self.t.write("AT\r")
        self.assertEqual(self.t.read_for(0.1), b"", "silent while booting")
        self.assertEqual(self.t.read_until(b"+CPIN: READY\r\n"),
                         b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n")
        self.assertEqual(self.cmd("AT"), b"AT\r" + OK, "echo on again")
        self.assertEqual(self.cmd("AT+CMGF?"), b"AT+CMGF?\r\r\n+CMGF: 0\r\n" + OK)
        self.assertEqual(self.cmd("AT+CMGR=99"), b"AT+CMGR=99\r\r\nERROR\r\n", "CMEE back to 0")
        self.assertEqual(len(self.modem.storage()), 1, "the SIM keeps its messages")

    def test_cfun_reset(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CFUN=1,1"), OK)
        self.assertEqual(self.t.read_until(b"+CPIN: READY\r\n"),
                         b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n")

    def test_atz(self):
        self.quiet()
        self.assertEqual(self.cmd("AT+CMGF=1;+CNMI=2,2,0,1,0"), OK)
        self.assertEqual(self.cmd("ATZ"), OK)
        self.assertEqual(self.cmd("AT+CMGF?;+CNMI?"),
                         b"AT+CMGF?;+CNMI?\r\r\n+CMGF: 0\r\n\r\n+CNMI: 2,1,0,0,0\r\n" + OK)

    def test_replug(self):
        self.quiet()
        old_pty = self.modem.pty_name
        self.modem.replug(downtime=0.3)
        with self.assertRaises(Hangup):
            self.t.read_until(b"never", timeout=2)
        self.assertFalse(os.path.lexists(self.link), "the device is gone")
        deadline = time.monotonic() + 3
        while not os.path.exists(self.link) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(self.link), "back on the same path")
        self.assertNotEqual(self.modem.pty_name, old_pty)
        t = self.open()
        self.assertEqual(self.cmd("AT", t), b"AT\r" + OK, "power-on defaults")

    def test_unplug_and_plug(self):
        self.modem.unplug()
        self.assertFalse(os.path.lexists(self.link))
        with self.assertRaises(Hangup):
            self.t.read_until(b"never", timeout=2)
        self.modem.plug()
        self.assertEqual(self.cmd("AT", self.open()), b"AT\r" + OK)

    def test_nothing_sent_while_nobody_listens(self):
        self.quiet()
        self.t.close()
        time.sleep(0.1)
        self.modem.deliver_sms("+436601112233", "into the void")
        t = self.open()
        self.assertEqual(self.cmd("AT", t), OK, "no stale +CMTI on the next open")
        self.assertFalse(self.modem.state()["echo"])

    def test_many_opens(self):
        for _ in range(5):
            t = self.open()
            self.assertEqual(self.cmd("AT", t), b"AT\r" + OK)
            t.close()


class Program(unittest.TestCase):
    def test_program_with_control(self):
        tmp = tempfile.mkdtemp(prefix="sim-modem-")
        self.addCleanup(shutil.rmtree, tmp, True)
        link = os.path.join(tmp, "dev", "ttyUSB0")
        p = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "sim_modem.py"), "--link", link,
                              "--control", "0", "--cmee", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.wait)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertTrue(select.select([p.stdout], [], [], 5)[0], "no ready line")
        ready = json.loads(p.stdout.readline())
        self.assertEqual((ready["ready"], ready["link"]), (True, link))
        with sm.ControlClient(ready["control"]) as c, Terminal(link, timeout=3) as t:
            self.assertEqual(c.ping(), "pong")
            self.assertEqual(t.command("ATE0", final=FINAL), b"ATE0\r" + OK)
            r = c.deliver_sms(sender="+436601112233", text="over the control port")
            self.assertEqual(r["indices"], [1])
            self.assertEqual(t.read_until(b"\r\n+CMTI: \"SM\",1\r\n"), b"\r\n+CMTI: \"SM\",1\r\n")
            t.write("AT+CMGS=23\r")
            t.read_until(b"> ")
            t.write(HELLO_SUBMIT + "\x1a")
            self.assertEqual(t.read_until(FINAL), b"\r\n+CMGS: 0\r\n" + OK)
            self.assertEqual(c.outbox()[0]["text"], "hellohello")
            self.assertEqual(c.storage()["1"]["stat"], 0)
            with self.assertRaises(sm.ControlError):
                c.call("close")
            with self.assertRaises(sm.ControlError):
                c.set_signal(bogus=1)
            c.set_signal(rssi=9)
            self.assertEqual(t.command("AT+CSQ", final=FINAL), b"\r\n+CSQ: 9,99\r\n" + OK)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(5), 0, p.stderr.read().decode())
        self.assertFalse(os.path.lexists(link))


if __name__ == "__main__":
    unittest.main(verbosity=2)
