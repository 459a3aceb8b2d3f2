"""tcpmux's command line as an operator meets it: bad values are refused with
a message naming option and value, --config, --metrics and /health, logging,
--max-clients, and a clean exit 0 on SIGTERM/SIGINT with clients connected."""
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def echo_roundtrip(sock, text):
    line = text.encode() + b"\n"
    sock.sendall(line)
    sock.settimeout(5)
    return h.recv_exactly(sock, len(line)) == line


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:PORT/PATH; error statuses too."""
    try:
        with urllib.request.urlopen(f"http://{h.HOST}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), e.headers.get("Content-Type", "")


def metric_sum(text, name_pattern):
    """Sum of the samples of every metric whose name matches name_pattern."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and re.fullmatch(name_pattern, m.group(1)):
            total += float(m.group(3))
            found = True
    return total if found else None


class BadOptions(h.BlackboxTestCase):
    def run_bad(self, extra, names, value):
        target, listen = h.free_port(), h.free_port()
        args = ["server", "-p", "echo", "-t", f"{h.HOST}:{target}", "-l", f"{h.HOST}:{listen}"]
        # A later occurrence of -p/-t/-l replaces the default one above.
        for i in range(0, len(extra), 2):
            if extra[i] in args:
                args[args.index(extra[i]) + 1] = extra[i + 1]
            else:
                args += extra[i:i + 2]
        rc, out, err = h.run_tcpmux(args, timeout=10)
        text = out + err
        self.assertNotEqual(rc, 0, f"tcpmux {' '.join(args)} accepted it:\n{text}")
        self.assertTrue(any(n in text for n in names), f"message names none of {names}:\n{text}")
        self.assertIn(value, text, f"message does not quote the bad value:\n{text}")
        self.assertFalse(h.port_open(listen), "still listening after exiting")

    def test_unknown_protocol(self):
        self.run_bad(["-p", "nosuch"], ["applicationProtocol", "-p"], "nosuch")

    def test_target_without_port(self):
        self.run_bad(["-t", "notaport"], ["targetServer", "-t"], "notaport")

    def test_target_port_out_of_range(self):
        self.run_bad(["-t", "127.0.0.1:99999"], ["targetServer", "-t"], "99999")

    def test_listen_port_not_a_number(self):
        self.run_bad(["-l", "127.0.0.1:http-ish"], ["listen", "-l"], "http-ish")

    def test_timeout_not_a_duration(self):
        self.run_bad(["--timeout", "abc"], ["timeout"], "abc")

    def test_delay_unknown_unit(self):
        self.run_bad(["--delay", "5parsecs"], ["delay"], "5parsecs")

    def test_negative_backoff(self):
        self.run_bad(["--reconnect-backoff", "-1s"], ["reconnect-backoff"], "-1s")

    def test_max_connections_not_a_number(self):
        self.run_bad(["--max-connections", "abc"], ["max-connections"], "abc")

    def test_negative_max_connections(self):
        # An unsigned parse of "-3" wraps around; the message must still show
        # what the operator typed.
        self.run_bad(["--max-connections", "-3"], ["max-connections"], "-3")

    def test_pipeline_zero(self):
        self.run_bad(["--pipeline", "0"], ["pipeline"], "0")

    def test_queue_size_zero(self):
        self.run_bad(["--queue-size", "0"], ["queue-size"], "0")

    def test_unknown_option(self):
        self.run_bad(["--no-such-option", "1"], ["no-such-option"], "no-such-option")

    def test_listen_port_in_use(self):
        with socket.socket() as busy:
            busy.bind((h.HOST, 0))
            busy.listen()
            port = busy.getsockname()[1]
            rc, out, err = h.run_tcpmux(["server", "-p", "echo", "-t", f"{h.HOST}:{h.free_port()}",
                                         "-l", f"{h.HOST}:{port}"], timeout=10)
        self.assertNotEqual(rc, 0, "started although its port is taken")
        self.assertIn(str(port), out + err, "error does not say which address")


class Running(h.BlackboxTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start_peer("echo", "--framing", "line")

    def test_logs_listening_and_verbose_connection_events(self):
        quiet = self.start_tcpmux("echo", self.upstream.port)
        h.wait_until(lambda: "listening on" in quiet.stderr_text(), 5, what="'listening on' in the log")
        self.stop_gracefully(quiet)

        loud = self.start_tcpmux("echo", self.upstream.port, "-v")
        time.sleep(0.3)
        before = len(loud.stderr_text().splitlines())
        s = h.connect(loud.port)
        self.assertTrue(echo_roundtrip(s, "hello"))
        s.close()
        h.wait_until(lambda: len(loud.stderr_text().splitlines()) >= before + 2, 5,
                     what="-v log lines for a client connecting and leaving")
        self.stop_gracefully(loud)

    def test_debug_logs_every_request(self):
        mux = self.start_tcpmux("echo", self.upstream.port, "-d")
        s = h.connect(mux.port)
        try:
            self.assertTrue(echo_roundtrip(s, "warm up"))
            time.sleep(0.2)
            before = len(mux.stderr_text().splitlines())
            for i in range(10):
                self.assertTrue(echo_roundtrip(s, f"request {i}"))
            h.wait_until(lambda: len(mux.stderr_text().splitlines()) >= before + 10, 5,
                         what="a -d log line per request")
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_idle_shutdown_is_prompt(self):
        # Nothing in flight: SIGTERM must not sit out the whole grace period.
        mux = self.start_tcpmux("echo", self.upstream.port)
        s = h.connect(mux.port)
        try:
            self.assertTrue(echo_roundtrip(s, "done, now idle"))
            started = time.monotonic()
            self.stop_gracefully(mux)
            self.assertLess(time.monotonic() - started, 1.5, "idle tcpmux took long to exit")
        finally:
            s.close()

    def write_config(self, name, body):
        path = os.path.join(h.tmpdir(), name)
        with open(path, "w") as f:
            f.write(body)
        return path

    def test_config_file(self):
        listen = h.free_port()
        path = self.write_config("tcpmux.ini",
                                 "# tcpmux configuration: keys are the long option names\n"
                                 "[tcpmux]\n"
                                 "applicationProtocol = echo\n"
                                 f"targetServer = {h.HOST}:{self.upstream.port}\n"
                                 f"listen = {h.HOST}:{listen}\n"
                                 "timeout = 2s\n"
                                 "max-connections = 2\n")
        mux = self.start_tcpmux_argv(["server", "--config", path], listen)
        s = h.connect(listen)
        try:
            self.assertTrue(echo_roundtrip(s, "configured by file"))
        finally:
            s.close()
        self.stop_gracefully(mux)

    def test_command_line_wins_over_config_file(self):
        in_file, on_line = h.free_port(), h.free_port()
        path = self.write_config("override.ini",
                                 "[tcpmux]\n"
                                 "applicationProtocol = echo\n"
                                 f"targetServer = {h.HOST}:{self.upstream.port}\n"
                                 f"listen = {h.HOST}:{in_file}\n")
        mux = self.start_tcpmux_argv(["server", "--config", path, "-l", f"{h.HOST}:{on_line}"], on_line)
        s = h.connect(on_line)
        try:
            self.assertTrue(echo_roundtrip(s, "listening where the command line says"))
        finally:
            s.close()
        self.assertFalse(h.port_open(in_file), "also listening on the config file's port")
        self.stop_gracefully(mux)

    def test_config_file_bad_value_is_named(self):
        path = self.write_config("bad.ini",
                                 "[tcpmux]\n"
                                 "applicationProtocol = echo\n"
                                 f"targetServer = {h.HOST}:{self.upstream.port}\n"
                                 f"listen = {h.HOST}:{h.free_port()}\n"
                                 "timeout = soon\n")
        rc, out, err = h.run_tcpmux(["server", "--config", path])
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("timeout", out + err)
        self.assertIn("soon", out + err)

    def test_config_file_missing(self):
        missing = os.path.join(h.tmpdir(), "no-such-file.ini")
        rc, out, err = h.run_tcpmux(["server", "--config", missing])
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("no-such-file.ini", out + err)

    def test_metrics_and_health(self):
        mport = h.free_port()
        mux = self.start_tcpmux("echo", self.upstream.port, "--metrics", f"{h.HOST}:{mport}")
        h.wait_until(lambda: h.port_open(mport), 5, what="the metrics port")

        status, body, ctype = http_get(mport, "/health")
        self.assertEqual(status, 200)
        self.assertIn("ok", body)

        status, before_text, ctype = http_get(mport, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("# TYPE", before_text)
        before = metric_sum(before_text, r"[a-z_:]*requests_total")
        self.assertIsNotNone(before, f"no *requests_total counter in:\n{before_text}")

        s = h.connect(mux.port)
        try:
            for i in range(7):
                self.assertTrue(echo_roundtrip(s, f"count me {i}"))
        finally:
            s.close()
        status, after_text, _ = http_get(mport, "/metrics")
        self.assertEqual(status, 200)
        after = metric_sum(after_text, r"[a-z_:]*requests_total")
        self.assertGreaterEqual(after - before, 7, f"requests counter went {before} -> {after}:\n{after_text}")

        status, _, _ = http_get(mport, "/no-such-page")
        self.assertEqual(status, 404)
        self.stop_gracefully(mux)
        self.assertFalse(h.port_open(mport), "metrics port still open after exit")

    def test_sigterm_with_clients_connected(self):
        mux = self.start_tcpmux("echo", self.upstream.port)
        clients = [h.connect(mux.port) for _ in range(4)]
        try:
            for i, s in enumerate(clients):
                self.assertTrue(echo_roundtrip(s, f"before shutdown {i}"))
            clients[0].sendall(b"half a li")  # a message in progress
            started = time.monotonic()
            self.stop_gracefully(mux, signal.SIGTERM, timeout=15)
            self.assertLess(time.monotonic() - started, 10, "shutdown took too long")
            for s in clients:
                self.assertTrue(h.connection_closed(s, 2), "client still connected after tcpmux exited")
        finally:
            for s in clients:
                s.close()
        self.assertFalse(h.port_open(mux.port))

    def test_second_signal_stops_at_once(self):
        mux = self.start_tcpmux("echo", self.upstream.port)
        s = h.connect(mux.port)
        try:
            s.sendall(b"a message that never ends")  # busy: the grace period applies
            time.sleep(0.2)
            mux.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertTrue(mux.alive(), "exited before the grace period although a client was busy")
            started = time.monotonic()
            self.stop_gracefully(mux, signal.SIGTERM, timeout=5)
            self.assertLess(time.monotonic() - started, 1.0, "second SIGTERM did not stop tcpmux at once")
        finally:
            s.close()

    def test_sigint_with_idle_clients(self):
        mux = self.start_tcpmux("echo", self.upstream.port)
        clients = [h.connect(mux.port) for _ in range(3)]
        try:
            self.assertTrue(echo_roundtrip(clients[1], "served"))
            self.stop_gracefully(mux, signal.SIGINT, timeout=15)
        finally:
            for s in clients:
                s.close()

    def test_max_clients(self):
        mux = self.start_tcpmux("echo", self.upstream.port, "--max-clients", "2")
        # wait_port's probe connection must be gone before counting.
        time.sleep(0.3)
        a, b = h.connect(mux.port), h.connect(mux.port)
        try:
            self.assertTrue(echo_roundtrip(a, "a"))
            self.assertTrue(echo_roundtrip(b, "b"))
            c = h.connect(mux.port)
            try:
                try:
                    c.sendall(b"c\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.assertTrue(h.connection_closed(c, 3), "third client served despite --max-clients 2")
            finally:
                c.close()
            a.close()
            time.sleep(0.3)
            d = h.connect(mux.port)
            try:
                self.assertTrue(echo_roundtrip(d, "d after a left"))
            finally:
                d.close()
        finally:
            a.close()
            b.close()
        self.stop_gracefully(mux)

    def test_delay_before_first_request(self):
        mux = self.start_tcpmux("echo", self.upstream.port, "--delay", "400ms")
        s = h.connect(mux.port)
        try:
            self.assertTrue(echo_roundtrip(s, "first"))
            # The upstream connection may have been opened at start-up (the
            # delay then running meanwhile); it cannot have been earlier.
            self.assertGreater(time.monotonic() - mux.started_at, 0.4)
        finally:
            s.close()
        self.stop_gracefully(mux)


if __name__ == "__main__":
    h.main()
