"""Black-box tests of vmodemd's Minitel gateway ([minitel] plugin).

Users reach the gateway over WebSocket (minitel_harness.WsClient, a raw
RFC 6455 client; python3-websockets for many sessions at once; node's `ws`
driven like MiEdit's emulator by miedit_client.js) or Telnet
(minitel_harness.TelnetClient). Behind it: the embedded videotex tree of
conf/minitel (default_service = local), TCP services of the test
(tcp://: raw bytes both ways, so an echo makes the gateway an echo) and
WebSocket videotex servers (videotex_peer.py) reached through a directory.

    VMODEMD=build/src/vmodemd/vmodemd /usr/bin/python3 tests/blackbox/test_minitel.py
"""
import asyncio
import json
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import minitel_harness as mh  # noqa: E402
from minitel_harness import (CONNEXION_FIN, ENQROM, ENQROM_ANSWER, ENVOI, FF, IAC, NOP, OPT_BINARY,  # noqa: E402
                             OPT_ECHO, OPT_SGA, REPETITION, SB, SE, SEP_Y, SOMMAIRE, SUITE, WsRejected,
                             ws_text)

ALL_BYTES = bytes(range(256))
NODE = shutil.which("node") or shutil.which("nodejs")
NODE_PATH = "/usr/share/nodejs"
JUNK_TIME = 0.5


def after_junk_time(t):
    """Sleeps until the Telnet junk window of connection t is over."""
    left = t.connected_at + JUNK_TIME + 0.15 - time.monotonic()
    if left > 0:
        time.sleep(left)


class Bytes(mh.MinitelTestCase):
    """Byte-exactness through a tcp:// echo default service."""

    def echo_gateway(self, **minitel):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url, **minitel}, telnet=False)
        return svc, d

    def test_all_bytes_as_text_frames(self):
        svc, d = self.echo_gateway()
        c = self.ws(d)
        c.send_bytes_as_text(ALL_BYTES)
        self.assertEqual(c.read_exactly(256), ALL_BYTES, "256 byte values, text frame in, text out")
        conn = svc.wait_connections(1)
        h.wait_until(lambda: len(conn.received) >= 256, 2.0, what="the service got 256 bytes")
        self.assertEqual(bytes(conn.received), ALL_BYTES, "the service receives the raw bytes (U+00xx -> 0xxx)")
        # Each byte in its own frame, in order.
        for b in ALL_BYTES:
            c.send_bytes_as_text(bytes([b]))
        self.assertEqual(c.read_exactly(256), ALL_BYTES, "256 one-character text frames")
        self.assertEqual(set(c.opcodes), {"text"}, f"output frames must all be text, got {c.opcodes}")
        c.close()

    def test_binary_input_frames(self):
        svc, d = self.echo_gateway()
        c = self.ws(d)
        c.send_binary(ALL_BYTES * 4)
        self.assertEqual(c.read_exactly(1024), ALL_BYTES * 4, "binary in, the same bytes back")
        self.assertEqual(set(c.opcodes), {"text"}, f"output is text frames even for binary input: {c.opcodes}")
        # Text and binary mixed on one connection keep their order.
        c.send_binary(b"\x80\x81")
        c.send_bytes_as_text(b"\xfe\xff")
        c.send_binary(b"\x00")
        self.assertEqual(c.read_exactly(5), b"\x80\x81\xfe\xff\x00")
        c.close()

    def test_code_points_above_ff_dropped_and_fragments(self):
        svc, d = self.echo_gateway()
        c = self.ws(d)
        c.send_text("A\u20acB\U0001F600C\u0100D\u00ffE")
        self.assertEqual(c.read_exactly(6), b"AB" + b"CD\xffE", "code points above U+00FF are dropped")
        # A fragmented text message with a 2-byte UTF-8 sequence split across fragments,
        # and a ping between fragments.
        encoded = ws_text(b"x\xe9y\xffz").encode("utf-8")  # b'x\xc3\xa9y\xc3\xbfz'
        c.send_frame(mh.OP_TEXT, encoded[:2], fin=False)
        c.send_frame(mh.OP_CONT, encoded[2:5], fin=False)
        c.ping(b"mid")
        c.send_frame(mh.OP_CONT, encoded[5:], fin=True)
        self.assertEqual(c.read_exactly(5), b"x\xe9y\xffz", "fragmented text message, UTF-8 split across fragments")
        c.close()

    def test_websockets_library_client(self):
        """python3-websockets as the user: strings out, strings back."""
        svc, d = self.echo_gateway()
        import websockets

        async def run():
            async with websockets.connect(f"ws://{mh.HOST}:{d.ws_port}/any/path?x=1", open_timeout=5,
                                          ping_interval=None, close_timeout=2) as ws:
                await ws.send(ws_text(ALL_BYTES))
                got = ""
                while len(got) < 256:
                    m = await asyncio.wait_for(ws.recv(), 3.0)
                    self.assertIsInstance(m, str, "output must be text frames")
                    got += m
                await ws.send(ALL_BYTES)  # binary frame
                got2 = ""
                while len(got2) < 256:
                    got2 += await asyncio.wait_for(ws.recv(), 3.0)
                return got, got2
        got, got2 = asyncio.run(run())
        self.assertEqual(got, ws_text(ALL_BYTES))
        self.assertEqual(got2, ws_text(ALL_BYTES))

    def test_subprotocols(self):
        svc, d = self.echo_gateway()
        for offered, expected in ((["tty"], "tty"), (["binary"], "binary"), (["foo", "binary"], "binary"),
                                  (["tty", "binary"], None), (["foo"], None), (None, None)):
            c = self.ws(d, subprotocols=offered)
            if expected is not None:
                self.assertEqual(c.subprotocol, expected, f"offered {offered}")
            elif offered and len(offered) == 2:
                self.assertIn(c.subprotocol, offered, f"offered {offered}: one of them")
            else:
                self.assertIsNone(c.subprotocol, f"offered {offered}: no subprotocol in the answer")
            c.send_binary(b"sub")
            self.assertEqual(c.read_exactly(3), b"sub")
            self.assertEqual(set(c.opcodes), {"text"}, f"subprotocol {c.subprotocol}: output frames {c.opcodes}")
            c.close()

    def test_max_frame_size(self):
        svc, d = self.echo_gateway(max_frame_size=1024)
        c = self.ws(d)
        c.send_binary(b"k" * 1024)
        self.assertEqual(c.read_exactly(1024), b"k" * 1024, "a message of max_frame_size bytes passes")
        c.send_binary(b"K" * 4096)
        code = c.wait_closed(3.0)
        self.assertIn(code, (1009, 1002, None), f"a message above max_frame_size: close code {code}")
        self.assert_alive_and_serving(d, svc)

    def test_baud_pacing(self):
        svc, d = self.echo_gateway(baud=9600)
        c = self.ws(d)
        t0 = time.monotonic()
        c.send_binary(b"p" * 960)
        c.read_until(lambda data: len(data) >= 1, 2.0, what="the first byte")
        first = time.monotonic() - t0
        c.read_until(lambda data: len(data) >= 960, 5.0, what="960 bytes")
        took = time.monotonic() - t0
        self.assertLess(first, 0.3, "the first bytes come at once")
        self.assertGreater(took, 0.8, f"960 bytes at 9600 baud (960 bytes/s) took only {took:.2f} s")
        self.assertLess(took, 2.0, f"960 bytes at 9600 baud took {took:.2f} s")
        c.close()


class Telnet(mh.MinitelTestCase):

    def test_negotiation(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url}, ws=False)
        t = self.telnet(d, answer=False)
        offers = [("WILL", OPT_ECHO), ("WILL", OPT_SGA), ("DO", OPT_SGA), ("WILL", OPT_BINARY), ("DO", OPT_BINARY)]
        t.read_until(lambda t: all(o in t.commands for o in offers), 2.0, what=f"the offers {offers}")
        self.assertEqual(len(t.commands), 5, f"exactly the five offers at connect: {t.commands}")
        # Agree to all of them, and ask for options the gateway must refuse.
        t.send_raw(bytes([IAC, mh.DO, OPT_ECHO, IAC, mh.DO, OPT_SGA, IAC, mh.WILL, OPT_SGA,
                          IAC, mh.DO, OPT_BINARY, IAC, mh.WILL, OPT_BINARY]))
        t.send_raw(bytes([IAC, mh.WILL, 24, IAC, mh.DO, 31, IAC, mh.WILL, 31, IAC, mh.DO, 5]))
        t.read_until(lambda t: {("DONT", 24), ("WONT", 31), ("DONT", 31), ("WONT", 5)} <= set(t.commands),
                     2.0, what="DONT 24, WONT 31, DONT 31, WONT 5")
        t.quiet(0.5)
        answers = t.commands[5:]
        self.assertEqual(sorted(answers), sorted([("DONT", 24), ("WONT", 31), ("DONT", 31), ("WONT", 5)]),
                         f"one refusal each, no answer to the agreements (no loop): {answers}")
        # Refusing an offer: the gateway accepts the refusal without asking again.
        t2 = self.telnet(d, answer=False)
        t2.read_until(lambda t: len(t.commands) >= 5, 2.0, what="the offers")
        t2.send_raw(bytes([IAC, mh.DONT, OPT_ECHO, IAC, mh.DONT, OPT_SGA, IAC, mh.WONT, OPT_SGA,
                           IAC, mh.DONT, OPT_BINARY, IAC, mh.WONT, OPT_BINARY]))
        t2.quiet(0.6)
        extra = t2.commands[5:]
        self.assertTrue(all(v in ("WONT", "DONT") for v, _ in extra) and len(extra) <= 5,
                        f"after refusals only acknowledgements (WONT/DONT), at most one each: {extra}")
        # Data still flows after all that.
        after_junk_time(t)
        t.send_data(b"after negotiation")
        t.read_until(b"after negotiation", 2.0)

    def test_escaping_nop_subnegotiation_and_junk(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url}, ws=False)
        t = self.telnet(d)
        t.send_raw(b"JUNK\r\n\x00garbage")  # at once: inside the junk window
        time.sleep(0.1)
        t.send_raw(b"more junk")
        after_junk_time(t)
        conn = svc.wait_connections(1)
        t.send_data(b"<")
        t.read_until(b"<", 2.0)
        self.assertNotIn(b"JUNK", bytes(conn.received), "bytes in the junk window must not reach the service")
        self.assertNotIn(b"junk", bytes(t.data), "junk is not echoed")
        t.data.clear()
        # 0xFF both ways: IAC IAC from the user is one 0xFF for the service, and back.
        payload = b"a\xffb\xff\xffc" + ALL_BYTES
        t.send_data(payload)
        t.read_until(lambda t: len(t.data) >= len(payload), 3.0, what=f"{len(payload)} bytes back")
        self.assertEqual(bytes(t.data), payload, "0xFF escaped as IAC IAC both ways")
        h.wait_until(lambda: conn.received.endswith(payload), 2.0, what="the raw bytes at the service")
        t.data.clear()
        # NOP and a sub-negotiation in the middle of data are dropped.
        start = len(conn.received)
        t.send_raw(b"x" + bytes([IAC, NOP]) + b"y" + bytes([IAC, SB, 24, 0]) + b"VT100" + bytes([IAC, SE]) + b"z"
                   + bytes([IAC, SB, 31, 0, 80, 0, 24, IAC, SE]) + b"!")
        t.read_until(b"xyz!", 2.0)
        self.assertEqual(bytes(t.data), b"xyz!")
        self.assertEqual(bytes(conn.received[start:]), b"xyz!", "the service gets the data only")
        # The service's 0xFF go out as IAC IAC (checked above by the parser); a lone byte too.
        t.data.clear()
        conn.send(b"\xff")
        t.read_until(b"\xff", 2.0)


class LocalService(mh.MinitelTestCase):
    """The embedded videotex tree (conf/minitel)."""

    DIRECTORY = [{"name": "3615 TEST", "address": "ws://127.0.0.1:9/", "ping": "false", "subprotocol": ""}]

    @staticmethod
    def pages(data):
        """The pages drawn so far: output split at FF (each page starts with one)."""
        return [b"\x0c" + p for p in bytes(data).split(b"\x0c")[1:]]

    def test_miedit_client_navigates(self):
        if not NODE:
            self.skipTest("node not installed (Debian packages nodejs, node-ws)")
        if not os.path.isdir(os.path.join(NODE_PATH, "ws")):
            self.skipTest(f"node-ws not in {NODE_PATH} (Debian package node-ws)")
        d = self.start_minitel({"default_service": "local"}, directory=self.DIRECTORY, telnet=False)
        env = dict(os.environ, NODE_PATH=NODE_PATH)
        proc = subprocess.Popen([NODE, os.path.join(mh.HERE, "miedit_client.js"), f"ws://{mh.HOST}:{d.ws_port}/"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        def stop_node():
            proc.kill()
            proc.wait(5)
            for f in (proc.stdin, proc.stdout, proc.stderr):
                f.close()
        self.addCleanup(stop_node)
        events = queue.Queue()
        threading.Thread(target=lambda: [events.put(json.loads(l)) for l in proc.stdout], daemon=True).start()
        data = bytearray()
        kinds = set()

        def until(pred, what, timeout=3.0):
            deadline = time.monotonic() + timeout
            while not pred(bytes(data)):
                try:
                    e = events.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    self.fail(f"MiEdit-like client: timed out waiting for {what}; received {mh.show(data, 500)}\n"
                              f"node stderr: {proc.stderr.read1(4000) if proc.poll() is not None else ''}")
                if e["event"] == "data":
                    kinds.add(e["kind"])
                    data.extend(mh.ws_bytes(e["data"]))
                elif e["event"] == "close":
                    return e
                elif e["event"] == "error":
                    self.fail(f"node client error: {e['message']}")
            return None

        def send(chars):
            proc.stdin.write((json.dumps({"keys": ws_text(chars)}) + "\n").encode())
            proc.stdin.flush()

        until(lambda d: b"SWITCHBOARD" in d, "the welcome page")
        self.assertTrue(data.startswith(FF), f"the welcome page starts with FF: {mh.show(data)}")
        data.clear()
        send(ENVOI)  # Envoi with nothing typed: the menu
        until(lambda d: b"SOMMAIRE" in d and b"Actualites" in d, "the menu after Envoi")
        self.assertTrue(data.startswith(FF), "a page starts with FF")
        data.clear()
        send(b"1" + ENVOI)
        until(lambda d: b"ACTUALITES" in d and b"1/2" in d, "news page 1/2 after 1 Envoi")
        data.clear()
        send(SUITE)
        until(lambda d: b"2/2" in d, "news page 2/2 after Suite")
        data.clear()
        send(SOMMAIRE)
        until(lambda d: b"SOMMAIRE" in d and b"Actualites" in d, "the menu after Sommaire")
        data.clear()
        send(b"2" + ENVOI)
        until(lambda d: b"ANNUAIRE" in d and b"TEST" in d, "the directory page, listing 3615 TEST")
        self.assertEqual(kinds, {"text"}, "MiEdit gets text frames")
        data.clear()
        send(CONNEXION_FIN)
        e = until(lambda d: False, "the close after Connexion/Fin", timeout=3.0)
        self.assertEqual(e["code"], 1000, f"Connexion/Fin on the local service closes the session: {e}")

    def test_telnet_user_gets_welcome(self):
        d = self.start_minitel({"default_service": "local"}, ws=False)
        t = self.telnet(d)
        t.read_until(b"SWITCHBOARD", 3.0)
        self.assertIn(FF, bytes(t.data))
        after_junk_time(t)
        t.data.clear()
        t.send_data(CONNEXION_FIN)
        t.wait_closed(3.0)


    def test_pages_hot_reload(self):
        """A copy of conf/minitel with reload_check = 200ms: a rewritten page
        shows in new sessions (and after Repetition in open ones); a broken
        service.ini is named with its line in the log and changes nothing."""
        tree = os.path.join(h.tmpdir(), f"pages-{time.monotonic_ns()}")
        shutil.copytree(os.path.dirname(mh.PAGES), tree)
        ini = os.path.join(tree, "service.ini")
        d = self.start_minitel({"pages": ini, "reload_check": "200ms"}, telnet=False)
        old = self.ws(d)
        old.read_until(b"SWITCHBOARD", 3.0)
        old.take()
        # Bytes 0x20-0x7E and C0/C1 videotex controls only: the tree refuses bytes above 0x7F.
        page = (b"\x1fAA\x1bFPAGE RECHARGEE A CHAUD\x1fMC\x1bBCode :\x1fMJ...................."
                b"\x1fXC\x1b] Connexion/Fin \x1b\\ pour terminer")
        with open(os.path.join(tree, "welcome.vdt"), "wb") as f:
            f.write(page)
        t0 = time.monotonic()
        d.wait_log("pages reloaded", 2.0)
        fresh = self.ws(d)
        data = fresh.read_until(b"PAGE RECHARGEE", 2.0)
        self.assertNotIn(b"SWITCHBOARD", data, "a new session gets the new page only")
        self.assertLess(time.monotonic() - t0, 2.0, "the new page within ~2 s of the change")
        old.send_bytes_as_text(REPETITION)
        data = old.read_until(b"PAGE RECHARGEE", 2.0)
        self.assertIn(FF, data, "Repetition draws the page again from FF")
        self.assertNotIn(b"SWITCHBOARD", data)
        self.assertLess(time.monotonic() - t0, 2.5)
        fresh.close()
        # A broken service.ini: an unknown key in [page welcome].
        with open(ini) as f:
            lines = f.read().split("\n")
        at = lines.index("[page welcome]") + 1
        lines.insert(at, "sufite = menu")
        with open(ini, "w") as f:
            f.write("\n".join(lines))
        d.wait_log("pages not reloaded", 2.0)
        failure = [l for l in d.log().splitlines() if "pages not reloaded" in l]
        self.assertIn(f"{ini}:{at + 1}", failure[0], f"the error names the file and line {at + 1}: {failure}")
        self.assertIn("sufite", failure[0], "the error names the key")
        fresh = self.ws(d)
        data = fresh.read_until(b"PAGE RECHARGEE", 2.0)
        self.assertNotIn(b"SWITCHBOARD", data, "new sessions get the last good pages")
        old.take()
        old.send_bytes_as_text(REPETITION)
        old.read_until(b"PAGE RECHARGEE", 2.0)
        time.sleep(0.5)  # two more checks: a bad tree is not loaded (nor logged) again until it changes
        self.assertEqual(d.log().count("pages not reloaded"), 1, "the failure is logged once")
        self.assertEqual(d.log().count("pages reloaded"), 1, "no reload of the unchanged broken tree")

    def test_directory_page_lists_codes(self):
        """welcome -> Sommaire (menu) -> 2 Envoi: the directory page lists every code."""
        entries = [{"name": "3615 ALPHA", "address": "tcp://127.0.0.1:9", "ping": "false", "subprotocol": "",
                    "description": "Premier service"},
                   {"name": "3615 BETA", "address": "ws://127.0.0.1:9/", "ping": "false", "subprotocol": ""}]
        d = self.start_minitel({"default_service": "local"}, directory=entries, telnet=False)
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        c.send_bytes_as_text(SOMMAIRE)
        c.read_until(lambda d: b"SOMMAIRE" in d and b"Actualites" in d, 3.0, what="the menu after Sommaire")
        c.take()
        c.send_bytes_as_text(b"2" + ENVOI)
        data = c.read_until(lambda d: b"ALPHA" in d and b"BETA" in d, 3.0, what="both codes on the directory page")
        self.assertIn(FF, data, "the directory page starts with FF")
        page = data[data.rfind(FF):]  # (before it: the echo of the typed 2)
        for text in (b"ANNUAIRE", b"ALPHA", b"BETA", b"Premier service"):
            self.assertIn(text, page, f"{text} on the directory page: {mh.show(page, 600)}")


class Directory(mh.MinitelTestCase):
    """Codes typed on the default service bridge the user to a directory entry."""

    def setup_gateway(self, default="local", peer_args=(), extra_entries=(), **minitel):
        peer = self.start_peer(*peer_args)
        entries = [{"name": "3615 TEST", "address": peer.url, "ping": "false", "subprotocol": ""},
                   {"name": "TESTALIAS", "alias": "3615 TEST"}, *extra_entries]
        d = self.start_minitel({"default_service": default, **minitel}, directory=entries)
        return peer, d

    def go_to_peer(self, c, code=b"TEST"):
        c.send_bytes_as_text(code)
        c.send_bytes_as_text(ENVOI)
        c.read_until(b"\x0cPEER PAGE", 3.0)

    def expect_local_welcome(self, c, after):
        """After `after` (what the test did), the welcome page is drawn again: FF ... SWITCHBOARD."""
        data = c.read_until(lambda d: b"SWITCHBOARD" in d, 3.0, what=f"the welcome page again after {after}")
        i = data.rfind(b"SWITCHBOARD")
        self.assertIn(FF, data[:i], f"the page drawn again after {after} starts with FF: {mh.show(data)}")

    def test_redirect_and_back_on_connexion_fin(self):
        peer, d = self.setup_gateway()
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        self.go_to_peer(c)
        h.wait_until(lambda: peer.events("OPEN"), 2.0, what="the gateway connected to the peer")
        c.send_bytes_as_text(b"hello\xe9")
        c.read_until(b"<hello\xe9>", 2.0)
        self.assertNotIn(b"\x13A", peer.received(), "the Envoi of the code is not forwarded")
        self.assertEqual(peer.events("RECV")[0][2], "text", "text frames to the peer by default")
        c.take()
        c.send_bytes_as_text(CONNEXION_FIN)
        self.expect_local_welcome(c, "Connexion/Fin")
        h.wait_until(lambda: peer.events("CLOSE"), 3.0, what="the gateway closed the peer connection")
        # The session goes on: again, through the alias, then Connexion/Fin on the local service ends it.
        c.take()
        self.go_to_peer(c, b"TESTALIAS")
        c.send_bytes_as_text(SEP_Y)
        self.expect_local_welcome(c, "SEP Y")
        c.take()
        c.send_bytes_as_text(CONNEXION_FIN)
        self.assertEqual(c.wait_closed(3.0), 1000, "Connexion/Fin on the local service closes with 1000")

    def test_back_on_stars_sommaire_split_in_one_byte_frames(self):
        peer, d = self.setup_gateway()
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        for b in b"3615 test":  # lower case, one byte per frame
            c.send_bytes_as_text(bytes([b]))
        for b in ENVOI:
            c.send_bytes_as_text(bytes([b]))
        c.read_until(b"\x0cPEER PAGE", 3.0)
        c.take()
        for b in b"***" + SOMMAIRE:
            c.send_binary(bytes([b]))
            time.sleep(0.02)
        self.expect_local_welcome(c, "*** Sommaire in 1-byte frames")

    def test_back_when_peer_closes(self):
        peer, d = self.setup_gateway()
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        self.go_to_peer(c, b"  3615   TEST ")
        c.take()
        c.send_bytes_as_text(b"BYE")
        c.read_until(b"<BYE>", 2.0)
        self.expect_local_welcome(c, "the peer closed")
        # Still a live session on the local service.
        c.take()
        c.send_bytes_as_text(ENVOI)
        c.read_until(b"SOMMAIRE", 3.0)

    def test_telnet_user_redirect(self):
        peer, d = self.setup_gateway()
        t = self.telnet(d)
        t.read_until(b"SWITCHBOARD", 3.0)
        after_junk_time(t)
        t.data.clear()
        t.send_data(b"TEST" + ENVOI)
        t.read_until(b"\x0cPEER PAGE", 3.0)
        t.send_data(b"\xff\x80")
        t.read_until(b"<\xff\x80>", 2.0)
        t.data.clear()
        t.send_data(b"***")
        time.sleep(0.05)
        t.send_data(SOMMAIRE)
        t.read_until(b"SWITCHBOARD", 3.0)

    def test_binary_frame_entry_and_unknown_code_on_remote_default(self):
        """default_service tcp:// (an echo): an unknown code goes to it like any
        input; a known one leaves it, and coming back connects to it afresh."""
        svc = self.service("echo")
        peer, d = self.setup_gateway(default=svc.url, peer_args=("--frame", "binary"))
        c = self.ws(d)
        conn1 = svc.wait_connections(1)
        c.send_bytes_as_text(b"NOPE" + ENVOI)
        c.read_until(b"NOPE" + ENVOI, 2.0)
        h.wait_until(lambda: bytes(conn1.received) == b"NOPE" + ENVOI, 2.0,
                     what="the unknown code and its Envoi at the default service")
        c.take()
        c.send_bytes_as_text(b"TEST")
        c.send_bytes_as_text(ENVOI)
        c.read_until(b"\x0cPEER PAGE", 3.0)
        self.assertEqual(set(c.opcodes), {"text"}, "the user gets text frames, whatever the peer sends")
        time.sleep(0.2)
        self.assertEqual(bytes(conn1.received), b"NOPE" + ENVOI + b"TEST",
                         "the code's characters reach the default service, its Envoi does not")
        c.take()
        c.send_bytes_as_text(CONNEXION_FIN)
        conn2 = svc.wait_connections(2, 3.0)
        c.send_binary(b"again")
        c.read_until(b"again", 2.0)
        h.wait_until(lambda: bytes(conn2.received) == b"again", 2.0, what="echo through the new connection")
        h.wait_until(conn1.ended.is_set, 3.0, what="the first default-service connection closed")

    def test_entry_with_binary_frames(self):
        peer = self.start_peer()
        entries = [{"name": "3615 BIN", "address": peer.url, "ping": "false", "subprotocol": "",
                    "frame": "binary"}]
        d = self.start_minitel({"default_service": "local"}, directory=entries, telnet=False)
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.send_bytes_as_text(b"BIN" + ENVOI)
        c.read_until(b"PEER PAGE", 3.0)
        c.send_bytes_as_text(b"\x01\xfe")
        c.read_until(b"<\x01\xfe>", 2.0)
        kinds = {r[2] for r in peer.events("RECV")}
        self.assertEqual(kinds, {"binary"}, f'"frame": "binary" sends binary frames to the server: {kinds}')

    def test_ws_default_service(self):
        """default_service ws://: the gateway is a WebSocket client; when that
        service closes, the user's session closes with 1000."""
        peer = self.start_peer("--page", "REMOTE HOME")
        d = self.start_minitel({"default_service": peer.url}, telnet=False)
        c = self.ws(d)
        c.read_until(b"\x0cREMOTE HOME", 3.0)
        c.send_bytes_as_text(b"abc\x80")
        c.read_until(b"<abc\x80>", 2.0)
        c.send_bytes_as_text(b"BYE")
        self.assertEqual(c.wait_closed(3.0), 1000)


    def test_telnet_entry(self):
        """telnet:// entry: the gateway is a Telnet client toward a videotex
        server that negotiates BINARY and SGA (and asks for TTYPE)."""
        svc = self.service("telnet", greeting=b"\x0cTELNET PAGE\x1fAA")
        entries = [{"name": "3615 TELNET", "address": f"telnet://{mh.HOST}:{svc.port}", "ping": "false",
                    "subprotocol": ""}]
        d = self.start_minitel({"default_service": "local"}, directory=entries, telnet=False)
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        c.send_bytes_as_text(b"TELNET" + ENVOI)
        c.read_until(b"\x0cTELNET PAGE", 3.0)
        conn = svc.wait_connections(1)
        c.quiet(0.4)  # negotiation settles
        cmds = list(conn.telnet.commands)
        for want in (("WILL", OPT_BINARY), ("DO", OPT_BINARY), ("WILL", OPT_SGA), ("DO", OPT_SGA)):
            self.assertIn(want, cmds, f"the gateway agrees to {want}: {cmds}")
        self.assertIn(("WONT", 24), cmds, f"DO TTYPE refused: {cmds}")
        self.assertNotIn(("WILL", 24), cmds)
        dup = {x for x in cmds if cmds.count(x) > 1}
        self.assertFalse(dup, f"each command at most once (no negotiation loop): {cmds}")
        # Asking again for what is on already gets no answer (RFC 1143).
        conn.send(bytes([IAC, mh.DO, OPT_BINARY, IAC, mh.WILL, OPT_SGA, IAC, mh.DO, 24]))
        time.sleep(0.4)
        self.assertEqual(conn.telnet.commands[len(cmds):], [("WONT", 24)],
                         "repeated requests: no answer for enabled options, one refusal for TTYPE")
        self.assertNotIn(bytes([IAC]), bytes(c.data), f"no Telnet commands reach the user: {mh.show(c.data)}")
        # Data both ways, 0xFF doubled on the Telnet wire only.
        c.take()
        start = len(conn.received)
        c.send_bytes_as_text(b"a\xffb\xff\xffc")
        c.read_until(b"a\xffb\xff\xffc", 2.0)
        h.wait_until(lambda: len(conn.received) - start >= 9, 2.0, what="the typed bytes at the server")
        self.assertEqual(bytes(conn.received[start:]), b"a\xff\xffb\xff\xff\xff\xffc",
                         "0xFF doubled on the wire toward the Telnet server")
        self.assertTrue(bytes(conn.telnet.data).endswith(b"a\xffb\xff\xffc"), "the server decodes the bytes")
        self.assertNotIn(b"\x13A", bytes(conn.telnet.data), "the Envoi of the code is not forwarded")
        c.take()
        c.send_bytes_as_text(CONNEXION_FIN)
        self.expect_local_welcome(c, "Connexion/Fin")
        h.wait_until(conn.ended.is_set, 3.0, what="the gateway closed the Telnet connection")

    def test_unreachable_entry(self):
        """tcp:// entry where nothing listens: back on the local page with
        "Service indisponible" on row 0, and the session goes on."""
        port = h.free_port()
        entries = [{"name": "3615 DOWN", "address": f"tcp://{mh.HOST}:{port}", "ping": "false", "subprotocol": ""}]
        d = self.start_minitel({"default_service": "local", "connect_timeout": "1s"}, directory=entries,
                               telnet=False)
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)
        c.take()
        t0 = time.monotonic()
        c.send_bytes_as_text(b"DOWN" + ENVOI)
        data = c.read_until(b"Service indisponible", 1.5)
        self.assertLess(time.monotonic() - t0, 1.5, "the failure shows within connect_timeout")
        i = data.rfind(b"Service indisponible")
        self.assertEqual(data[i - 3:i], b"\x1f\x40\x41", f"the message is on row 0 (US 0x40 0x41): {mh.show(data)}")
        self.assertIn(b"SWITCHBOARD", data[:i], "the local page is drawn again")
        self.assertIn(FF, data[:i])
        d.wait_log("cannot connect", 1.0)
        c.quiet(0.2)
        c.send_bytes_as_text(ENVOI)
        menu = c.read_until(b"SOMMAIRE", 2.0)
        # The next page clears row 0 first (a Minitel's FF leaves it as it is).
        self.assertIn(FF + b"\x1f\x40\x41\x18", menu, f"row 0 not cleared: {mh.show(menu)}")
        c.take()
        c.send_bytes_as_text(CONNEXION_FIN)
        self.assertEqual(c.wait_closed(3.0), 1000, "the session still works: Connexion/Fin ends it")


class Config(mh.MinitelTestCase):

    def test_spec_example_values(self):
        """The [minitel] keys with the values of the documented example."""
        d = self.start_minitel({"default_service": "local", "max_sessions": 500, "max_sessions_per_ip": 100,
                                "allowed_origins": "", "idle_timeout": "30min", "session_timeout": "4h",
                                "ping_interval": "20s", "baud": 0, "max_buffer": 262144,
                                "max_frame_size": 65536, "telnet_junk_time": "500ms", "enqrom": "auto"})
        c = self.ws(d)
        c.read_until(b"SWITCHBOARD", 3.0)

    def test_bad_values_named(self):
        for key, value in (("enqrom", "sometimes"), ("default_service", "ftp://127.0.0.1:21"),
                           ("baud", "1234"), ("idle_timeout", "soon")):
            d = self.start_minitel({key: value}, wait=False)
            h.wait_until(lambda: not d.proc.alive(), 5.0, what=f"vmodemd to refuse {key} = {value}")
            self.assertNotEqual(d.proc.returncode, 0, f"{key} = {value}: exit code")
            self.assertIn(key, d.log(), f"{key} = {value}: the error names the option")


class Lifecycle(mh.MinitelTestCase):

    def test_service_close_closes_user(self):
        svc = self.service("close_on", marker=b"QUIT")
        d = self.start_minitel({"default_service": svc.url})
        c = self.ws(d)
        c.send_bytes_as_text(b"QUIT")
        self.assertEqual(c.wait_closed(3.0), 1000, "default service closed: WebSocket close code 1000")
        t = self.telnet(d)
        after_junk_time(t)
        t.send_data(b"QUIT")
        t.wait_closed(3.0)

    def test_200_concurrent_sessions(self):
        import websockets
        svc = self.service("echo", max_connections=260)
        d = self.start_minitel({"default_service": svc.url, "max_sessions": 500, "max_sessions_per_ip": 300},
                               telnet=False)

        async def session(i):
            msg = ws_text(b"%d:" % i + bytes(random.randrange(256) for _ in range(100)) + b";")
            async with websockets.connect(f"ws://{mh.HOST}:{d.ws_port}/", open_timeout=10, ping_interval=None,
                                          close_timeout=2) as ws:
                for part in range(3):
                    await ws.send(msg + str(part))
                await asyncio.sleep(0.2)
                got = ""
                want = "".join(msg + str(part) for part in range(3))
                while len(got) < len(want):
                    got += await asyncio.wait_for(ws.recv(), 10.0)
                return got == want

        async def run():
            return await asyncio.wait_for(asyncio.gather(*(session(i) for i in range(200)),
                                                         return_exceptions=True), 40.0)
        results = asyncio.run(run())
        errors = [r for r in results if r is not True]
        self.assertFalse(errors, f"{len(errors)} of 200 sessions failed: {errors[:5]}")
        self.assertGreaterEqual(len(svc.conns), 200)

    def test_metrics(self):
        svc = self.service("echo")
        http_port = h.free_port()
        entries = [{"name": "3615 ECHO", "address": svc.url, "ping": "false", "subprotocol": ""}]
        d = self.start_minitel({"default_service": "local"}, host={"http": f"{mh.HOST}:{http_port}"},
                               directory=entries, telnet=False)
        h.wait_until(lambda: h.port_open(http_port), 5.0, what="the /metrics listener")
        a, b = self.ws(d), self.ws(d)
        for c in (a, b):
            c.read_until(b"SWITCHBOARD", 3.0)
        a.send_bytes_as_text(b"ECHO" + ENVOI)
        svc.wait_connections(1)
        a.send_binary(b"ping")
        a.read_until(b"ping", 2.0)
        a.quiet(0.2)
        m = d.metrics()
        ws_label = 'plugin="minitel",transport="ws"'
        self.assertEqual(m.get('minitel_sessions{plugin="minitel"}'), 2, f"sessions open: {m}")
        self.assertEqual(d.metric("minitel_sessions_total", ws_label), 2)
        self.assertEqual(d.metric("minitel_sessions_total", 'plugin="minitel",transport="telnet"'), 0)
        self.assertEqual(d.metric("minitel_redirects_total"), 1)
        bytes_in = d.metric("minitel_user_bytes_total", 'plugin="minitel",direction="in"')
        bytes_out = d.metric("minitel_user_bytes_total", 'plugin="minitel",direction="out"')
        self.assertEqual(bytes_in, len(b"ECHO" + ENVOI + b"ping"), "bytes from the users")
        self.assertGreater(bytes_out, 200, "bytes to the users (pages, echo)")
        self.assertEqual(d.metric("minitel_rejected_total"), 0)
        a.close()
        b.close()
        h.wait_until(lambda: d.metric("minitel_sessions") == 0, 2.0, what="minitel_sessions back to 0")
        self.assertEqual(d.metric("minitel_sessions_total", ws_label), 2, "a counter does not go down")

    def test_sigterm_with_open_sessions(self):
        """SIGTERM: WebSocket users get 1001 (going away), Telnet users a
        close, the bridged server a close; exit 0 within ~2 s."""
        svc = self.service("echo")
        entries = [{"name": "3615 ECHO", "address": svc.url, "ping": "false", "subprotocol": ""}]
        d = self.start_minitel({"default_service": "local"}, directory=entries)
        local, bridged = self.ws(d), self.ws(d)
        local.read_until(b"SWITCHBOARD", 3.0)
        bridged.read_until(b"SWITCHBOARD", 3.0)
        bridged.send_bytes_as_text(b"ECHO" + ENVOI)
        conn = svc.wait_connections(1)
        bridged.send_binary(b"x")
        bridged.read_until(b"x", 2.0)
        mute = self.ws(d)  # reads nothing more: never answers the close frame
        mute.read_until(b"SWITCHBOARD", 3.0)
        t = self.telnet(d)
        t.read_until(b"SWITCHBOARD", 3.0)
        self.terminate(d)
        for name, c in (("local", local), ("bridged", bridged)):
            self.assertEqual(c.wait_closed(2.0), 1001, f"{name} WebSocket user: close code going away")
            self.assertLess(time.monotonic() - d.term_sent_at, 1.0, f"{name}: the close frame comes at once")
        t.wait_closed(2.0)
        rc = self.wait_exit(d, 2.0)
        self.assertEqual(rc, 0, "exit code after SIGTERM")
        h.wait_until(conn.ended.is_set, 1.0, what="the bridged server's connection closed")
        self.assertIn("shutting down", d.log())

    def test_malformed_handshakes(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url}, telnet=False)
        rss0 = d.rss_kib()
        port = d.ws_port
        cases = {
            "garbage": b"\x16\x03\x01\x00\xa5\x01\x00garbage\r\n\r\n",
            "no key": (f"GET / HTTP/1.1\r\nHost: {mh.HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode(),
            "bad version": (f"GET / HTTP/1.1\r\nHost: {mh.HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n").encode(),
            "huge header": (f"GET / HTTP/1.1\r\nHost: {mh.HOST}\r\nX-Big: ".encode() + b"A" * (1 << 20)
                            + b"\r\nUpgrade: websocket\r\n\r\n"),
            "many headers": (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
                             + b"\r\n"),
            "not GET": b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        }
        for name, request in cases.items():
            t0 = time.monotonic()
            status, raw = mh.ws_raw_handshake(port, request, timeout=5.0)
            took = time.monotonic() - t0
            self.assertNotEqual(status, 101, f"{name}: must not be upgraded: {mh.show(raw)}")
            self.assertTrue(status is None or 400 <= status < 500, f"{name}: answered {status}: {mh.show(raw)}")
            self.assertLess(took, 4.5, f"{name}: the gateway kept the connection {took:.1f} s")
        # Half a handshake, then the client goes away.
        s = socket.create_connection((mh.HOST, port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpg")
        s.close()
        self.assert_alive_and_serving(d, svc)
        self.assertLess(d.rss_kib() - rss0, 16 * 1024, "RSS growth after the malformed handshakes (KiB)")

    def test_telnet_option_flood(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url})
        rss0 = d.rss_kib()
        t = self.telnet(d, answer=False)
        rng = random.Random(1)
        flood = bytearray()
        for _ in range(100000):
            flood += bytes([IAC, rng.choice((mh.DO, mh.DONT, mh.WILL, mh.WONT)), rng.randrange(256)])
        received = [0]
        stop = threading.Event()

        def drain():
            t.sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    chunk = t.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                received[0] += len(chunk)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        t0 = time.monotonic()
        try:
            t.sock.settimeout(10.0)
            t.sock.sendall(bytes(flood))
        except OSError:
            pass  # the gateway may drop a flooding client
        sent_in = time.monotonic() - t0
        # Meanwhile and after: other users are served.
        self.assert_alive_and_serving(d, svc)
        t2 = self.telnet(d)
        after_junk_time(t2)
        t2.send_data(b"still here")
        t2.read_until(b"still here", 3.0)
        time.sleep(0.5)
        stop.set()
        reader.join(2.0)
        self.assertLess(sent_in, 10.0, "the flood was taken in")
        self.assertLessEqual(received[0], 3 * 100000 + 64, f"answers to the flood: {received[0]} bytes, "
                             "more than one 3-byte answer per request (a negotiation loop?)")
        self.assertLess(d.rss_kib() - rss0, 32 * 1024, "RSS growth after the option flood (KiB)")

    def test_origin_allow_list(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url,
                                "allowed_origins": "http://good.example, https://minitel.example:8443"},
                               telnet=False)
        for origin in ("http://evil.example", "http://good.example.evil", "null"):
            with self.assertRaises(WsRejected, msg=f"Origin {origin}") as cm:
                self.ws(d, origin=origin)
            self.assertEqual(cm.exception.status, 403, f"Origin {origin}")
        for origin in ("http://good.example", "https://minitel.example:8443"):
            c = self.ws(d, origin=origin)
            c.send_binary(b"ok")
            self.assertEqual(c.read_exactly(2), b"ok", f"Origin {origin}")
            c.close()

    def test_session_limits(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url, "max_sessions_per_ip": 2})
        a, b = self.ws(d), self.ws(d)
        for c in (a, b):
            c.send_binary(b"x")
            c.read_exactly(1)
        with self.assertRaises(WsRejected) as cm:
            self.ws(d)
        self.assertEqual(cm.exception.status, 503, "third WebSocket session from one IP")
        t = self.telnet(d, answer=False)
        t.wait_closed(3.0)
        self.assertTrue(t.data, "a refused Telnet user gets a short text before the close")
        a.close()
        time.sleep(0.3)
        c = self.ws(d)  # a place is free again
        c.send_binary(b"y")
        self.assertEqual(c.read_exactly(1), b"y")
        # max_sessions, whatever the address.
        d2 = self.start_minitel({"default_service": svc.url, "max_sessions": 1}, telnet=False)
        c1 = self.ws(d2)
        c1.send_binary(b"z")
        c1.read_exactly(1)
        with self.assertRaises(WsRejected) as cm:
            self.ws(d2)
        self.assertEqual(cm.exception.status, 503, "second session with max_sessions = 1")

    def test_slow_reader_disconnected(self):
        svc = self.service("flood", limit=256 << 20)
        # A user whose output has not moved for write_timeout is a slow reader.
        d = self.start_minitel({"default_service": svc.url, "max_buffer": 65536, "write_timeout": "2s"},
                               telnet=False)
        rss0 = d.rss_kib()
        c = self.ws(d, rcvbuf=4096)  # and never reads
        conn = svc.wait_connections(1)
        peak = rss0
        deadline = time.monotonic() + 10.0
        while not conn.ended.is_set() and time.monotonic() < deadline:
            peak = max(peak, d.rss_kib())
            time.sleep(0.05)
        self.assertTrue(conn.ended.is_set(), f"slow reader still connected after 10 s; the service sent "
                        f"{conn.sent} bytes")
        self.assertLess(conn.sent, 64 << 20, "the gateway read far more than max_buffer from the service")
        self.assertLess(peak - rss0, 24 * 1024, f"RSS grew {peak - rss0} KiB with a slow reader")
        code = c.wait_closed(5.0)  # reads what was queued, then the end
        self.assertIn(code, (None, 1008, 1011, 1013, 1001, 1000), f"close code {code}")
        self.assertIn("slow reader", d.log(), "no log line for the slow reader")
        self.assert_alive_and_serving(d)

    def test_keys_without_reading_stay_bounded(self):
        """A user who sends keys (Repetition: a page each on the local service) but reads
        nothing: the gateway stops reading that user instead of queueing
        pages, and drops it after write_timeout."""
        http_port = h.free_port()
        d = self.start_minitel({"default_service": "local", "max_buffer": 65536, "write_timeout": "2s"},
                               host={"http": f"{mh.HOST}:{http_port}"}, telnet=False)
        h.wait_until(lambda: h.port_open(http_port), 5.0, what="the /metrics listener")
        rss0 = d.rss_kib()
        c = self.ws(d, rcvbuf=4096)  # and never reads
        c.sock.settimeout(0.2)
        sent, peak = 0, rss0
        deadline = time.monotonic() + 8.0
        frame = mh.frame_bytes(0x2, b"\x13\x43" * 32768)  # a 64 KiB frame of Repetition (a redraw each)
        while time.monotonic() < deadline:
            try:
                c.sock.sendall(frame)
                sent += 32768
            except socket.timeout:
                pass  # the gateway stopped reading us: good
            except OSError:
                break  # dropped
            peak = max(peak, d.rss_kib())
            if "slow reader" in d.log():
                break
        self.assertIn("slow reader", d.log(), f"not dropped; {sent} keys sent")
        # One frame's worth of keys would be 32768 pages (about 17 MB): what
        # was queued for the user stays near what the socket buffers hold.
        out = d.metric("minitel_user_bytes_total", 'plugin="minitel",direction="out"')
        self.assertLess(out, 6 << 20, f"{out} bytes of pages queued for a user who reads nothing")
        # RSS only as a sanity bound: AddressSanitizer's quarantine keeps freed memory.
        self.assertLess(peak - rss0, 96 * 1024, f"RSS grew {peak - rss0} KiB for {sent} unread pages")
        self.assert_alive_and_serving(d)

    def test_idle_and_session_timeouts(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url, "idle_timeout": "1s", "session_timeout": "3s"},
                               telnet=False)
        idle, busy = self.ws(d), self.ws(d)
        t0 = time.monotonic()
        idle_closed = busy_closed = None
        while time.monotonic() - t0 < 5.0 and busy_closed is None:
            now = time.monotonic()
            if idle_closed is None:
                try:
                    idle.pump(now + 0.05)
                except mh.WsClosed:
                    idle_closed = time.monotonic() - t0
            try:
                busy.send_binary(b".")
                busy.pump(now + 0.25)
            except (mh.WsClosed, OSError):
                busy_closed = time.monotonic() - t0
        self.assertIsNotNone(idle_closed, "idle session not closed (idle_timeout 1s)")
        self.assertGreater(idle_closed, 0.8, f"idle session closed after {idle_closed:.2f} s")
        self.assertLess(idle_closed, 2.5, f"idle session closed after {idle_closed:.2f} s")
        self.assertIsNotNone(busy_closed, "busy session not closed by session_timeout 3s")
        self.assertGreater(busy_closed, 2.5, f"busy session closed after {busy_closed:.2f} s: input must keep "
                           "it from idling out")
        self.assertLess(busy_closed, 4.5, f"session_timeout 3s closed it after {busy_closed:.2f} s")

    def test_ping(self):
        svc = self.service("echo")
        d = self.start_minitel({"default_service": svc.url, "ping_interval": "500ms"}, telnet=False)
        mute, polite = self.ws(d, auto_pong=False), self.ws(d)
        t0 = time.monotonic()
        mute_closed = None
        while time.monotonic() - t0 < 2.2:
            if mute_closed is None:
                try:
                    mute.pump(time.monotonic() + 0.05)
                except mh.WsClosed:
                    mute_closed = time.monotonic() - t0
            polite.pump(time.monotonic() + 0.05)
        self.assertGreaterEqual(mute.pings, 1, "pings every ping_interval")
        self.assertIsNotNone(mute_closed, "no pong: closed within 2 intervals (+ margin)")
        self.assertLess(mute_closed, 1.8)
        self.assertGreaterEqual(polite.pings, 3, f"a client that answers gets pinged on ({polite.pings})")
        polite.send_binary(b"alive")
        polite.read_until(b"alive", 2.0)

    def test_enqrom(self):
        svc = self.service("enqrom")
        d = self.start_minitel({"default_service": svc.url, "enqrom": "auto"}, telnet=False)
        # The user does not answer: the gateway does, after 500 ms.
        c = self.ws(d)
        conn = svc.wait_connections(1)
        c.read_until(ENQROM, 2.0)
        h.wait_until(lambda: ENQROM_ANSWER in conn.received, 2.0, what="the gateway's ENQROM answer")
        took = time.monotonic() - conn.opened_at
        self.assertGreater(took, 0.4, f"answered after {took:.2f} s: the user has 500 ms")
        self.assertEqual(bytes(conn.received), ENQROM_ANSWER)
        # The user answers at once: that answer only.
        c2 = self.ws(d)
        conn2 = svc.wait_connections(2)
        c2.read_until(ENQROM, 2.0)
        c2.send_bytes_as_text(b"\x01Bm;\x04")
        time.sleep(1.0)
        self.assertEqual(bytes(conn2.received), b"\x01Bm;\x04", "the user answered: the gateway stays out")
        # enqrom = never: nobody answers.
        d2 = self.start_minitel({"default_service": svc.url, "enqrom": "never"}, telnet=False)
        c3 = self.ws(d2)
        conn3 = svc.wait_connections(3)
        c3.read_until(ENQROM, 2.0)
        time.sleep(1.0)
        self.assertEqual(bytes(conn3.received), b"", "enqrom = never: no answer")


if __name__ == "__main__":
    h.main()
