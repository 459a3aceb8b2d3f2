"""tcpmux -p modbus in front of a real pymodbus server: many clients share the
upstream pool and every one of them gets its own answers."""
import asyncio
import logging
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

CLIENTS = 50
READS = 20


async def pymodbus_client(port, index, reads, errors):
    """One pymodbus client reading its own registers READS times; every
    deviation is appended to errors. Returns the number of good reads."""
    unit = h.MODBUS_UNITS[index % len(h.MODBUS_UNITS)]
    base = 37 * index
    good = 0
    client = AsyncModbusTcpClient(h.HOST, port, timeout=10, reconnect_delay=0)
    try:
        await asyncio.wait_for(client.connect(), 10)
        if not client.connected:
            errors.append(f"client {index}: could not connect")
            return 0
        for k in range(reads):
            # Vary address and count so that a reply meant for someone else
            # differs in length as well as in values.
            address = base + k
            count = 1 + (index + k) % 12
            try:
                rr = await asyncio.wait_for(client.read_holding_registers(address, count, slave=unit), 15)
            except Exception as e:  # noqa: BLE001 - any failure is a test failure, recorded
                errors.append(f"client {index} read {k}: {type(e).__name__}: {e}")
                return good
            if rr.isError():
                errors.append(f"client {index} read {k}: error reply {rr}")
                continue
            want = [h.register_value(unit, address + i) for i in range(count)]
            if rr.registers != want:
                errors.append(f"client {index} read {k}: unit {unit} address {address} count {count}: "
                              f"got {rr.registers} want {want}")
                continue
            if rr.unit_id != unit:
                errors.append(f"client {index} read {k}: reply unit {rr.unit_id}, want {unit}")
                continue
            good += 1
    finally:
        await client.close()
    return good


class ModbusMux(h.BlackboxTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start_peer("modbus")

    def run_clients(self, port, clients=CLIENTS, reads=READS):
        errors = []

        async def main():
            return await asyncio.wait_for(
                asyncio.gather(*(pymodbus_client(port, i, reads, errors) for i in range(clients))), 45)
        started = time.monotonic()
        goods = asyncio.run(main())
        elapsed = time.monotonic() - started
        self.assertEqual(errors, [], f"{len(errors)} bad replies (first 20 shown): {errors[:20]}")
        self.assertEqual(sum(goods), clients * reads)
        return elapsed

    def test_50_clients_default_pool(self):
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s")
        self.run_clients(mux.port)
        self.assertTrue(mux.alive())
        self.stop_gracefully(mux)

    def test_50_clients_pipelined_pool(self):
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s",
                                "--pipeline", "4", "--max-connections", "2")
        self.run_clients(mux.port)
        self.stop_gracefully(mux)

    def test_writes_then_reads_are_routed(self):
        # Each client writes its own scratch register and reads it back: the
        # write echo and the read both have to reach the right client.
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s",
                                "--pipeline", "4", "--max-connections", "2")
        errors = []

        async def one(i):
            unit = h.MODBUS_UNITS[i % len(h.MODBUS_UNITS)]
            address = 1500 + i
            client = AsyncModbusTcpClient(h.HOST, mux.port, timeout=10, reconnect_delay=0)
            try:
                await asyncio.wait_for(client.connect(), 10)
                for k in range(5):
                    value = (i * 100 + k) & 0xFFFF
                    wr = await asyncio.wait_for(client.write_register(address, value, slave=unit), 15)
                    if wr.isError() or wr.address != address or wr.value != value:
                        errors.append(f"client {i}: write reply {wr}")
                    rr = await asyncio.wait_for(client.read_holding_registers(address, 1, slave=unit), 15)
                    if rr.isError() or rr.registers != [value]:
                        errors.append(f"client {i}: read back {rr} {getattr(rr, 'registers', None)}, want {value}")
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {i}: {type(e).__name__}: {e}")
            finally:
                await client.close()

        async def main():
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(20))), 40)
        asyncio.run(main())
        self.assertEqual(errors, [])
        self.stop_gracefully(mux)

    def test_same_transaction_id_from_two_connections(self):
        # Two clients use the same transaction id at the same moment: the
        # upstream must see distinct ids, and each client must get its own
        # answer back with its id restored.
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s",
                                "--pipeline", "4", "--max-connections", "2")
        a, b = h.connect(mux.port), h.connect(mux.port)
        try:
            rng = random.Random(7)
            for round_ in range(50):
                tid = 0x1234 if round_ % 2 else rng.randrange(0x10000)
                addr_a, addr_b = rng.randrange(0, 900), rng.randrange(900, 1800)
                count_a, count_b = 3, 5
                a.sendall(h.mb_read_request(tid, 1, addr_a, count_a))
                b.sendall(h.mb_read_request(tid, 2, addr_b, count_b))
                ra = h.mb_recv_reply(a, 5)
                rb = h.mb_recv_reply(b, 5)
                for r, unit, addr, count, who in ((ra, 1, addr_a, count_a, "a"), (rb, 2, addr_b, count_b, "b")):
                    self.assertEqual(r.tid, tid, f"round {round_} client {who}: transaction id not restored: {r}")
                    self.assertEqual(r.proto, 0)
                    self.assertEqual(r.unit, unit, f"round {round_} client {who}: {r}")
                    self.assertEqual(r.fc, 3, f"round {round_} client {who}: {r}")
                    self.assertEqual(r.registers(), [h.register_value(unit, addr + i) for i in range(count)],
                                     f"round {round_} client {who}: someone else's reply")
        finally:
            a.close()
            b.close()
        self.stop_gracefully(mux)

    def test_upstream_exception_passes_through(self):
        # The device's own exception (illegal data address: the block has
        # MODBUS_REGISTERS registers) reaches the client unchanged.
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s")
        s = h.connect(mux.port)
        try:
            s.sendall(h.mb_read_request(0xBEEF, 4, h.MODBUS_REGISTERS - 2, 10))
            r = h.mb_recv_reply(s, 5)
            self.assertEqual((r.tid, r.unit, r.fc, r.exception_code), (0xBEEF, 4, 0x83, 0x02), r)
            s.sendall(h.mb_read_request(0xBEF0, 4, 0, 1))
            r = h.mb_recv_reply(s, 5)
            self.assertEqual((r.tid, r.registers()), (0xBEF0, [h.register_value(4, 0)]))
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_client_pipelining_on_one_connection(self):
        # A client may write several requests without waiting; each answer
        # carries the client's transaction id and the right data.
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s",
                                "--pipeline", "4", "--max-connections", "2")
        s = h.connect(mux.port)
        try:
            requests = {}
            burst = b""
            for i in range(8):
                tid = 0xFF00 + i
                requests[tid] = (3, 100 * i, 2 + i)
                burst += h.mb_read_request(tid, *requests[tid])
            s.sendall(burst)
            seen = {}
            for _ in requests:
                r = h.mb_recv_reply(s, 5)
                self.assertIn(r.tid, requests, f"reply with an id never sent: {r}")
                self.assertNotIn(r.tid, seen, f"two replies for id {r.tid:#x}")
                unit, addr, count = requests[r.tid]
                self.assertEqual(r.unit, unit)
                self.assertEqual(r.registers(), [h.register_value(unit, addr + i) for i in range(count)])
                seen[r.tid] = r
            self.assertFalse(h.connection_closed(s, 0.2), "connection closed after the burst")
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_concurrent_same_ids_raw_async(self):
        # 30 raw clients all counting transaction ids from 1 in lock step,
        # pipelined pool: an upstream reply routed by the client's id rather
        # than by tcpmux's own tag would land at the wrong client.
        mux = self.start_tcpmux("modbus", self.upstream.port, "--timeout", "5s",
                                "--pipeline", "4", "--max-connections", "2")
        errors = []

        async def one(i):
            unit = h.MODBUS_UNITS[i % len(h.MODBUS_UNITS)]
            reader, writer = await asyncio.wait_for(asyncio.open_connection(h.HOST, mux.port), 5)
            try:
                for tid in range(1, 31):
                    address = (i * 53 + tid) % 1900
                    count = 1 + (i + tid) % 7
                    writer.write(h.mb_read_request(tid, unit, address, count))
                    await writer.drain()
                    try:
                        r = await h.mb_read_reply(reader, 10)
                    except (EOFError, asyncio.TimeoutError) as e:
                        errors.append(f"client {i} tid {tid}: {type(e).__name__} {e}")
                        return
                    want = [h.register_value(unit, address + k) for k in range(count)]
                    if r.tid != tid or r.unit != unit or r.fc != 3 or r.registers() != want:
                        errors.append(f"client {i} tid {tid}: got {r}, want unit {unit} {want}")
            finally:
                writer.close()

        async def main():
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(30))), 40)
        asyncio.run(main())
        self.assertEqual(errors, [], errors[:10])
        self.stop_gracefully(mux)


async def raw_clients(port, clients, requests, errors, first_index=0):
    """clients raw connections, each sending requests reads one after the
    other and checking every reply; failures go to errors."""
    async def one(i):
        unit = h.MODBUS_UNITS[i % len(h.MODBUS_UNITS)]
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(h.HOST, port), 10)
        except (OSError, asyncio.TimeoutError) as e:
            errors.append(f"client {i}: connect: {e!r}")
            return
        try:
            for k in range(requests):
                tid = (i * 7 + k) & 0xFFFF
                address = (i * 11 + k * 3) % 1900
                count = 1 + (i + k) % 9
                writer.write(h.mb_read_request(tid, unit, address, count))
                await writer.drain()
                try:
                    r = await h.mb_read_reply(reader, 15)
                except (EOFError, asyncio.TimeoutError) as e:
                    errors.append(f"client {i} request {k}: {type(e).__name__} {e}")
                    return
                want = [h.register_value(unit, address + n) for n in range(count)]
                if r.tid != tid or r.unit != unit or r.fc != 3 or r.registers() != want:
                    errors.append(f"client {i} request {k}: got {r}")
        finally:
            writer.close()
    await asyncio.gather(*(one(first_index + i) for i in range(clients)))


class ModbusPoolShape(h.BlackboxTestCase):
    """What the upstream sees: no more connections than --max-connections, no
    more requests outstanding on one than --pipeline, never two outstanding
    with the same transaction id."""

    def run_load(self, mux, clients, requests):
        errors = []
        asyncio.run(asyncio.wait_for(raw_clients(mux.port, clients, requests, errors), 45))
        self.assertEqual(errors, [], errors[:10])

    def test_pipeline_4_on_3_connections(self):
        upstream = self.start_peer("slowmodbus", "--delay", "0.02")
        mux = self.start_tcpmux("modbus", upstream.port, "--max-connections", "3", "--pipeline", "4",
                                "--timeout", "10s")
        self.run_load(mux, 30, 8)
        self.stop_gracefully(mux)
        connections = h.peer_stats(upstream, "connections")
        outstanding = h.peer_stats(upstream, "outstanding")
        self.assertGreaterEqual(connections, 1)
        self.assertLessEqual(connections, 3, "more upstream connections than --max-connections 3")
        self.assertLessEqual(outstanding, 4, "more requests outstanding on a connection than --pipeline 4")
        self.assertGreaterEqual(outstanding, 2, "30 busy clients and --pipeline 4, yet never 2 requests "
                                                "outstanding on a connection")
        self.assertEqual(h.peer_stats(upstream, "duplicate-tid"), 0,
                         "two outstanding requests on one upstream connection had the same transaction id")
        self.assertNotIn("duplicate-tid", upstream.stderr_text())

    def test_pipeline_1_one_request_at_a_time(self):
        upstream = self.start_peer("slowmodbus", "--delay", "0.01")
        mux = self.start_tcpmux("modbus", upstream.port, "--max-connections", "2", "--pipeline", "1",
                                "--timeout", "10s")
        self.run_load(mux, 20, 4)
        self.stop_gracefully(mux)
        self.assertLessEqual(h.peer_stats(upstream, "connections"), 2)
        self.assertEqual(h.peer_stats(upstream, "outstanding"), 1,
                         "--pipeline 1 sent a request before the previous one was answered")

    def test_300_clients(self):
        upstream = self.start_peer("modbus")
        # 300 requests can arrive at once: the queue must hold them all, or
        # the overflow is (rightly) answered with exception 0x0B.
        mux = self.start_tcpmux("modbus", upstream.port, "--max-connections", "4", "--pipeline", "8",
                                "--timeout", "10s", "--queue-size", "1000")
        self.run_load(mux, 300, 3)
        self.stop_gracefully(mux)


if __name__ == "__main__":
    h.main()
