"""tcpmux with the echo (newline), iso8583 (2-byte big-endian length) and mpu
(4 ASCII digits length) framers, in front of an echo server that answers each
complete frame: messages survive any split, several per send, many clients;
a client sending garbage is closed and nobody else notices."""
import asyncio
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FRAMING = {"echo": "line", "iso8583": "iso8583", "mpu": "mpu"}


def frame(protocol, payload):
    if protocol == "echo":
        assert b"\n" not in payload
        return payload + b"\n"
    if protocol == "iso8583":
        return struct.pack(">H", len(payload)) + payload
    if protocol == "mpu":
        return b"%04d" % len(payload) + payload
    raise ValueError(protocol)


def payload_for(protocol, size, seed):
    """size bytes; binary (every byte value) where the framing allows it."""
    rng = random.Random(seed)
    if protocol == "echo":
        return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 \t\r{}") for _ in range(size))
    return bytes(rng.randrange(256) for _ in range(size))


def roundtrip(sock, message, timeout=5):
    sock.sendall(message)
    sock.settimeout(timeout)
    got = h.recv_exactly(sock, len(message))
    return got


class FramerTests:
    """Mixed into one TestCase per protocol."""
    PROTOCOL = None

    def setUp(self):
        super().setUp()
        self.upstream = self.start_peer("echo", "--framing", FRAMING[self.PROTOCOL])
        self.mux = self.start_tcpmux(self.PROTOCOL, self.upstream.port, "--timeout", "5s")

    def msg(self, size, seed):
        return frame(self.PROTOCOL, payload_for(self.PROTOCOL, size, seed))

    def test_roundtrips_of_many_sizes(self):
        s = h.connect(self.mux.port)
        try:
            # 10 and 266 put a newline byte into the iso8583 length header.
            for i, size in enumerate([1, 2, 10, 100, 255, 266, 1000, 4000, 9999]):
                m = self.msg(size, i)
                self.assertEqual(roundtrip(s, m), m, f"message of {size} bytes")
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_message_split_into_tiny_sends(self):
        s = h.connect(self.mux.port)
        try:
            rng = random.Random(1)
            for n, size in enumerate([40, 300]):
                m = self.msg(size, 100 + n)
                i = 0
                while i < len(m):
                    step = 1 if n == 0 else rng.randrange(1, 8)
                    s.sendall(m[i:i + step])
                    i += step
                    time.sleep(0.002)
                s.settimeout(5)
                self.assertEqual(h.recv_exactly(s, len(m)), m)
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_several_messages_in_one_send(self):
        s = h.connect(self.mux.port)
        try:
            msgs = [self.msg(size, 200 + i) for i, size in enumerate([5, 1, 77, 300, 2])]
            # And a message whose end shares a send with the next one's start.
            tail = self.msg(50, 300)
            blob = b"".join(msgs) + tail[:20]
            s.sendall(blob)
            time.sleep(0.05)
            s.sendall(tail[20:])
            want = b"".join(msgs) + tail
            s.settimeout(5)
            self.assertEqual(h.recv_exactly(s, len(want)), want)
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_concurrent_clients(self):
        errors = []
        protocol = self.PROTOCOL

        async def client(i):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(h.HOST, self.mux.port), 5)
            try:
                for k in range(15):
                    tag = f"client{i:03d}-msg{k:03d}-".encode()
                    m = frame(protocol, tag + payload_for(protocol, (i * 7 + k * 13) % 200 + 1, i * 1000 + k))
                    writer.write(m)
                    await writer.drain()
                    try:
                        got = await asyncio.wait_for(reader.readexactly(len(m)), 10)
                    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError) as e:
                        errors.append(f"client {i} msg {k}: {type(e).__name__}")
                        return
                    if got != m:
                        errors.append(f"client {i} msg {k}: got {got[:40]!r}, want {m[:40]!r}")
            finally:
                writer.close()

        async def main():
            await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(25))), 40)
        asyncio.run(main())
        self.assertEqual(errors, [])
        self.stop_gracefully(self.mux)

    def test_half_closed_client_still_gets_its_reply(self):
        # Like `printf ... | nc`: the client sends and shuts its side down at once.
        s = h.connect(self.mux.port)
        try:
            msgs = [self.msg(30, 1), self.msg(12, 2)]
            s.sendall(b"".join(msgs))
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            want = b"".join(msgs)
            self.assertEqual(h.recv_exactly(s, len(want)), want)
            self.assertTrue(h.connection_closed(s, 3), "connection not closed after the replies")
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_late_reply_goes_to_nobody(self):
        # A's message times out (the upstream answers after 0.8 s; the framer
        # has no error reply, so A is closed). B's message, sent meanwhile,
        # must get B's own echo, not A's late one.
        mux = self.start_tcpmux(self.PROTOCOL, self.upstream.port, "--timeout", "600ms")
        a, b = h.connect(mux.port), h.connect(mux.port)
        try:
            slow = frame(self.PROTOCOL, b"slow message from A")
            a.sendall(slow)
            self.assertTrue(h.connection_closed(a, 3), "timed-out client not closed")
            mine = frame(self.PROTOCOL, b"fast message from B")
            self.assertEqual(roundtrip(b, mine), mine, "B got A's late reply")
            again = frame(self.PROTOCOL, b"B again")
            self.assertEqual(roundtrip(b, again), again)
        finally:
            a.close()
            b.close()
        self.stop_gracefully(mux)

    # Garbage that the framer must reject: (description, bytes).
    GARBAGE = []

    def test_garbage_closes_only_that_client(self):
        self.assertTrue(self.GARBAGE)
        good = h.connect(self.mux.port)
        try:
            m = self.msg(20, 1)
            self.assertEqual(roundtrip(good, m), m)
            for what, data in self.GARBAGE:
                bad = h.connect(self.mux.port)
                try:
                    try:
                        bad.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # already closed by tcpmux: what we want
                    self.assertTrue(h.connection_closed(bad, 3.0), f"{what}: client connection left open")
                finally:
                    bad.close()
                # The well-behaved client, connected all along, is still served.
                m = self.msg(30, len(what))
                self.assertEqual(roundtrip(good, m), m, f"after {what}")
            fresh = h.connect(self.mux.port)
            try:
                m = self.msg(40, 5)
                self.assertEqual(roundtrip(fresh, m), m, "new client after garbage")
            finally:
                fresh.close()
        finally:
            good.close()
        self.assertTrue(self.mux.alive(), "tcpmux died")
        self.stop_gracefully(self.mux)


class Echo(FramerTests, h.BlackboxTestCase):
    PROTOCOL = "echo"
    # The echo framer's limit is 64 KiB per line.
    GARBAGE = [("a 200 KiB line without newline", b"x" * (200 * 1024))]


class Iso8583(FramerTests, h.BlackboxTestCase):
    PROTOCOL = "iso8583"
    GARBAGE = [("zero length header", b"\x00\x00garbage")]

    def test_largest_message(self):
        s = h.connect(self.mux.port)
        try:
            m = self.msg(0xFFFF, 9)
            self.assertEqual(roundtrip(s, m), m)
        finally:
            s.close()
        self.stop_gracefully(self.mux)


class Mpu(FramerTests, h.BlackboxTestCase):
    PROTOCOL = "mpu"
    GARBAGE = [("negative length -001", b"-001abc"),
               ("non-digit length 12a4", b"12a4" + b"z" * 20),
               ("zero length 0000", b"0000")]


class Modbus(h.BlackboxTestCase):
    """The MBAP framer rejects what is not Modbus/TCP."""

    def test_garbage_closes_only_that_client(self):
        upstream = self.start_peer("modbus")
        mux = self.start_tcpmux("modbus", upstream.port, "--timeout", "5s")
        good = h.connect(mux.port)
        try:
            good.sendall(h.mb_read_request(1, 1, 0, 2))
            self.assertEqual(h.mb_recv_reply(good, 5).registers(), [h.register_value(1, 0), h.register_value(1, 1)])
            for what, data in [("protocol id 0x1234", struct.pack(">HHHBBHH", 1, 0x1234, 6, 1, 3, 0, 1)),
                               ("length 0", struct.pack(">HHH", 1, 0, 0) + b"\x01\x03"),
                               ("length 300", struct.pack(">HHH", 1, 0, 300) + b"\x01\x03" + b"\x00" * 298),
                               ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")]:
                bad = h.connect(mux.port)
                try:
                    try:
                        bad.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.assertTrue(h.connection_closed(bad, 3.0), f"{what}: client connection left open")
                finally:
                    bad.close()
                good.sendall(h.mb_read_request(2, 3, 7, 1))
                r = h.mb_recv_reply(good, 5)
                self.assertEqual((r.tid, r.unit, r.registers()), (2, 3, [h.register_value(3, 7)]), f"after {what}")
        finally:
            good.close()
        self.assertTrue(mux.alive())
        self.stop_gracefully(mux)


class List(h.BlackboxTestCase):
    def test_list_is_sorted_and_complete(self):
        rc, out, err = h.run_tcpmux(["list"])
        self.assertEqual(rc, 0, err)
        names = [line.split()[0].lstrip("*-") or line.split()[1]
                 for line in out.splitlines() if line.strip()]
        self.assertEqual(names, sorted(names), out)
        for name in ("echo", "http", "iso8583", "modbus", "mpu"):
            self.assertIn(name, names, out)
        self.assertEqual(len(names), len(set(names)), out)


if __name__ == "__main__":
    h.main()
