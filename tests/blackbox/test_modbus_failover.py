"""tcpmux -p modbus when the upstream fails: clients get Modbus exception
replies (0x0B gateway target failed to respond, 0x0A gateway path unavailable)
on a connection that stays open, and service resumes when the upstream is back."""
import asyncio
import logging
import signal
import subprocess
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

EXCEPTION_CODES = (h.GATEWAY_PATH_UNAVAILABLE, h.GATEWAY_TARGET_FAILED)


class RawClient:
    """A Modbus/TCP client on a raw asyncio stream that records every outcome."""

    def __init__(self, index, port):
        self.index = index
        self.port = port
        self.unit = h.MODBUS_UNITS[index % len(h.MODBUS_UNITS)]
        self.tid = index * 1000
        self.events = []  # (sent_at, answered_at, kind, detail); kind: ok, exc, bad, closed, timeout

    async def open(self):
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(h.HOST, self.port), 5)

    def close(self):
        self.writer.close()

    async def request(self, reply_timeout=5.0):
        self.tid = (self.tid + 1) & 0xFFFF
        address = (self.index * 31 + self.tid) % 1900
        count = 1 + self.tid % 5
        sent = time.monotonic()
        self.writer.write(h.mb_read_request(self.tid, self.unit, address, count))
        try:
            await self.writer.drain()
            r = await h.mb_read_reply(self.reader, reply_timeout)
        except (EOFError, ConnectionError) as e:
            self.events.append((sent, time.monotonic(), "closed", str(e)))
            return "closed"
        except asyncio.TimeoutError:
            self.events.append((sent, time.monotonic(), "timeout", f"no reply to tid {self.tid}"))
            return "timeout"
        now = time.monotonic()
        if r.tid != self.tid or r.unit != self.unit or r.proto != 0:
            kind, detail = "bad", f"sent tid {self.tid} unit {self.unit}, got {r}"
        elif r.is_exception:
            if r.fc == 0x83 and r.exception_code in EXCEPTION_CODES and len(r.adu) == 9:
                kind, detail = "exc", r.exception_code
            else:
                kind, detail = "bad", f"unexpected exception reply {r}"
        elif r.fc == 3 and r.registers() == [h.register_value(self.unit, address + i) for i in range(count)]:
            kind, detail = "ok", None
        else:
            kind, detail = "bad", f"wrong data for unit {self.unit} address {address} count {count}: {r}"
        self.events.append((sent, now, kind, detail))
        return kind

    def kinds(self, since=0.0, until=float("inf")):
        return [e[2] for e in self.events if since <= e[0] < until]


class ModbusFailover(h.BlackboxTestCase):
    def assert_no_broken_clients(self, clients):
        problems = [(c.index, e) for c in clients for e in c.events if e[2] in ("bad", "closed", "timeout")]
        self.assertEqual(problems, [], "clients must get a reply on an open connection every time")

    def test_upstream_killed_then_restarted(self):
        upstream = self.start_peer("modbus")
        port = upstream.port
        mux = self.start_tcpmux("modbus", port, "--timeout", "1s", "--reconnect-backoff", "100ms",
                                "--max-connections", "2", "--pipeline", "2")
        marks = {}

        async def main():
            clients = [RawClient(i, mux.port) for i in range(10)]
            await asyncio.gather(*(c.open() for c in clients))
            stop = asyncio.Event()

            async def load(c):
                while not stop.is_set():
                    if await c.request() in ("closed", "timeout"):
                        return
                    await asyncio.sleep(0.02)

            tasks = [asyncio.ensure_future(load(c)) for c in clients]
            loop = asyncio.get_running_loop()
            try:
                await asyncio.sleep(1.0)
                marks["kill"] = time.monotonic()
                await loop.run_in_executor(None, upstream.kill)
                await asyncio.sleep(2.0)
                marks["restart_begin"] = time.monotonic()
                await loop.run_in_executor(None, lambda: self.start_peer("modbus", port=port))
                marks["restart"] = time.monotonic()
                deadline = marks["restart"] + 5.0
                while time.monotonic() < deadline:
                    if all("ok" in c.kinds(since=marks["restart"]) for c in clients):
                        break
                    if all(t.done() for t in tasks):
                        break
                    await asyncio.sleep(0.05)
                marks["recovered"] = time.monotonic()
                await asyncio.sleep(0.3)
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
                for c in clients:
                    c.close()
            return clients

        clients = asyncio.run(main())
        self.assert_no_broken_clients(clients)
        for c in clients:
            self.assertIn("ok", c.kinds(until=marks["kill"]), f"client {c.index} never served before the kill")
        # While the upstream is down every answer is an exception reply, and
        # there are answers (requests are not left hanging).
        outage = [(c.index, k) for c in clients
                  for k in c.kinds(since=marks["kill"] + 0.2, until=marks["restart_begin"])]
        codes = [e[3] for c in clients for e in c.events if e[2] == "exc"]
        sys.stderr.write(f"\n  {sum(len(c.events) for c in clients)} replies; during the outage {len(outage)}; "
                         f"exceptions 0x0A: {codes.count(10)}, 0x0B: {codes.count(11)}; back after "
                         f"{marks['recovered'] - marks['restart']:.2f}s ... ")
        self.assertTrue(outage, "no request was answered while the upstream was down")
        self.assertEqual([x for x in outage if x[1] != "exc"], [], "answers while the upstream was down")
        slow = [(c.index, round(e[1] - e[0], 2)) for c in clients for e in c.events
                if e[2] == "exc" and e[1] - e[0] > 2.5]
        self.assertEqual(slow, [], "exception replies must come within --timeout (1s) plus margin")
        not_back = [c.index for c in clients if "ok" not in c.kinds(since=marks["restart"])]
        self.assertEqual(not_back, [], f"clients not served within 5s of the upstream's restart "
                                       f"(waited {marks['recovered'] - marks['restart']:.1f}s)")
        self.assertTrue(mux.alive(), "tcpmux died")
        self.stop_gracefully(mux)

    def test_nothing_listening_answers_0x0A_and_recovers(self):
        target = h.free_port()  # nothing listens there yet
        mux = self.start_tcpmux("modbus", target, "--timeout", "1s", "--reconnect-backoff", "100ms")
        s = h.connect(mux.port)
        try:
            for tid in (77, 78, 0xFFFF):
                sent = time.monotonic()
                s.sendall(h.mb_read_request(tid, 5, 10, 2))
                r = h.mb_recv_reply(s, 5)
                elapsed = time.monotonic() - sent
                self.assertEqual((r.tid, r.proto, r.unit), (tid, 0, 5), r)
                self.assertEqual(r.fc, 0x83, f"want an exception reply to fc 3, got {r}")
                self.assertEqual(r.exception_code, h.GATEWAY_PATH_UNAVAILABLE, r)
                self.assertEqual(len(r.adu), 9, r)
                self.assertLess(elapsed, 2.5, "0x0A must come within --timeout (1s) plus margin")

            # A real Modbus client sees the same as an error reply.
            async def with_pymodbus():
                client = AsyncModbusTcpClient(h.HOST, mux.port, timeout=5, reconnect_delay=0)
                try:
                    await asyncio.wait_for(client.connect(), 5)
                    self.assertTrue(client.connected)
                    rr = await asyncio.wait_for(client.read_holding_registers(0, 4, slave=3), 6)
                    self.assertTrue(rr.isError(), rr)
                    self.assertEqual(rr.exception_code, h.GATEWAY_PATH_UNAVAILABLE, rr)
                    self.assertTrue(client.connected, "connection closed after the exception reply")
                finally:
                    await client.close()
            asyncio.run(with_pymodbus())

            # The upstream appears: the same client connection is served.
            self.start_peer("modbus", port=target)
            deadline = time.monotonic() + 8.0
            tid = 100
            while True:
                tid += 1
                s.sendall(h.mb_read_request(tid, 5, 10, 2))
                r = h.mb_recv_reply(s, 5)
                self.assertEqual(r.tid, tid)
                if not r.is_exception:
                    self.assertEqual(r.registers(), [h.register_value(5, 10), h.register_value(5, 11)])
                    break
                self.assertIn(r.exception_code, EXCEPTION_CODES, r)
                self.assertLess(time.monotonic(), deadline, "not served within 8s of the upstream starting")
                time.sleep(0.1)
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_upstream_never_answers_gives_0x0B(self):
        upstream = self.start_peer("blackhole")
        mux = self.start_tcpmux("modbus", upstream.port, "--timeout", "500ms")
        s = h.connect(mux.port)
        try:
            for tid in (1, 2):
                sent = time.monotonic()
                s.sendall(h.mb_read_request(tid, 1, 0, 1))
                r = h.mb_recv_reply(s, 5)
                elapsed = time.monotonic() - sent
                self.assertEqual((r.tid, r.unit, r.fc), (tid, 1, 0x83), r)
                self.assertEqual(r.exception_code, h.GATEWAY_TARGET_FAILED, r)
                self.assertGreater(elapsed, 0.4, "answered before --timeout 500ms elapsed")
                self.assertLess(elapsed, 2.0, "answered long after --timeout 500ms")
            self.assertFalse(h.connection_closed(s, 0.2), "client connection closed after the timeout")
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_full_queue_answers_0x0B_quickly(self):
        # One upstream connection, one request at a time, 500 ms per request,
        # at most 2 waiting: of 12 simultaneous requests most are refused at
        # once with 0x0B, the accepted ones are served, nobody hangs.
        upstream = self.start_peer("slowmodbus", "--delay", "0.5")
        mux = self.start_tcpmux("modbus", upstream.port, "--max-connections", "1", "--pipeline", "1",
                                "--queue-size", "2", "--timeout", "5s")

        async def main():
            clients = [RawClient(i, mux.port) for i in range(12)]
            await asyncio.gather(*(c.open() for c in clients))
            await asyncio.sleep(0.1)
            await asyncio.wait_for(asyncio.gather(*(c.request(reply_timeout=8) for c in clients)), 15)
            # Once the burst is over the multiplexer serves again.
            await clients[0].request(reply_timeout=8)
            for c in clients:
                c.close()
            return clients

        clients = asyncio.run(main())
        self.assert_no_broken_clients(clients)
        burst = [c.events[0] for c in clients]
        ok = [e for e in burst if e[2] == "ok"]
        refused = [e for e in burst if e[2] == "exc"]
        sys.stderr.write(f"\n  burst of 12: {len(ok)} served, {len(refused)} refused ... ")
        self.assertTrue(all(e[3] == h.GATEWAY_TARGET_FAILED for e in refused),
                        [e[3] for e in refused])
        self.assertGreaterEqual(len(ok), 1, "no request of the burst was served")
        self.assertLessEqual(len(ok), 4, "more requests served than 1 in flight + --queue-size 2 (+1 slack)")
        self.assertEqual(len(ok) + len(refused), 12)
        slow_refusals = [round(e[1] - e[0], 3) for e in refused if e[1] - e[0] > 0.45]
        self.assertEqual(slow_refusals, [], "queue-full refusals must come before the upstream's first answer")
        self.assertEqual(clients[0].events[-1][2], "ok", "not served after the burst")
        self.stop_gracefully(mux)


    def test_late_reply_is_not_given_to_the_next_request(self):
        # A request times out; its reply comes later. Neither the same client's
        # next request nor another client's request with the same transaction
        # id may receive it.
        for pipeline in ("1", "4"):
            with self.subTest(pipeline=pipeline):
                upstream = self.start_peer("slowmodbus", "--delay", "0.7", "--slow-from", "1000")
                mux = self.start_tcpmux("modbus", upstream.port, "--timeout", "600ms",
                                        "--max-connections", "1", "--pipeline", pipeline)
                a, b = h.connect(mux.port), h.connect(mux.port)
                try:
                    a.sendall(h.mb_read_request(1, 1, 1000, 4))  # slow: times out
                    r = h.mb_recv_reply(a, 3)
                    self.assertEqual((r.tid, r.fc, r.exception_code), (1, 0x83, h.GATEWAY_TARGET_FAILED), r)
                    a.sendall(h.mb_read_request(2, 1, 5, 4))
                    b.sendall(h.mb_read_request(1, 1, 7, 4))
                    ra, rb = h.mb_recv_reply(a, 3), h.mb_recv_reply(b, 3)
                    self.assertEqual((ra.tid, ra.fc), (2, 3), ra)
                    self.assertEqual(ra.registers(), [h.register_value(1, 5 + i) for i in range(4)],
                                     "client got the late reply to its timed-out request")
                    self.assertEqual((rb.tid, rb.fc), (1, 3), rb)
                    self.assertEqual(rb.registers(), [h.register_value(1, 7 + i) for i in range(4)],
                                     "another client got the late reply")
                    # Nothing else arrives for either of them.
                    self.assertFalse(h.connection_closed(a, 0.3))
                    self.assertFalse(h.connection_closed(b, 0.1))
                finally:
                    a.close()
                    b.close()
                self.stop_gracefully(mux)

    def test_upstream_closing_after_every_reply(self):
        # Some devices close the connection after each answer. The closed
        # connection is noticed (or the request retried on a new one), so no
        # request fails although the device answers every one it receives.
        upstream = self.start_peer("slowmodbus", "--delay", "0", "--close-after-reply", "1")
        mux = self.start_tcpmux("modbus", upstream.port, "--timeout", "2s")
        s = h.connect(mux.port)
        try:
            outcomes = []
            for tid in range(1, 9):
                s.sendall(h.mb_read_request(tid, 6, tid, 2))
                r = h.mb_recv_reply(s, 5)
                self.assertEqual(r.tid, tid)
                outcomes.append("ok" if r.fc == 3 and r.registers() == [h.register_value(6, tid),
                                                                       h.register_value(6, tid + 1)]
                                else f"exception {r.exception_code}" if r.is_exception else repr(r))
                time.sleep(0.1)
            self.assertEqual(outcomes, ["ok"] * 8)
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_sigterm_lets_the_request_in_flight_finish(self):
        # Shutdown: a request already sent upstream still gets its real reply
        # (within the grace period); one still waiting in the queue is answered
        # with an exception rather than dropped; then exit 0.
        upstream = self.start_peer("slowmodbus", "--delay", "1.0")
        mux = self.start_tcpmux("modbus", upstream.port, "--timeout", "4s",
                                "--max-connections", "1", "--pipeline", "1")
        a, b = h.connect(mux.port), h.connect(mux.port)
        try:
            a.sendall(h.mb_read_request(10, 2, 30, 3))
            time.sleep(0.1)
            b.sendall(h.mb_read_request(11, 2, 40, 3))  # queued behind a's
            time.sleep(0.2)
            mux.send_signal(signal.SIGTERM)
            rb = h.mb_recv_reply(b, 3)
            self.assertEqual((rb.tid, rb.fc), (11, 0x83), f"queued request at shutdown: {rb}")
            self.assertIn(rb.exception_code, EXCEPTION_CODES, rb)
            ra = h.mb_recv_reply(a, 3)
            self.assertEqual((ra.tid, ra.fc), (10, 3), f"request in flight at shutdown: {ra}")
            self.assertEqual(ra.registers(), [h.register_value(2, 30 + i) for i in range(3)])
            self.assertTrue(h.connection_closed(a, 5), "client not closed at shutdown")
        finally:
            a.close()
            b.close()
        try:
            rc = mux.proc.wait(6)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertEqual(rc, 0, "exit code after SIGTERM")


if __name__ == "__main__":
    h.main()
