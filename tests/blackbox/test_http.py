"""tcpmux -p http between http.client and a real http.server (HTTP/1.1
keep-alive): every client gets its own responses, whole and in order."""
import http.client
import io
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class _KeepOpen(io.BufferedReader):
    # http.client.HTTPResponse closes its file once the body is read; several
    # responses read from one connection must share one buffer.
    def close(self):
        pass


class _SharedSock:
    def __init__(self, sock):
        self.reader = _KeepOpen(socket.SocketIO(sock, "rb"))

    def makefile(self, mode, *args, **kwargs):
        return self.reader


def read_response(shared, method="GET"):
    r = http.client.HTTPResponse(shared, method=method)
    r.begin()
    return r, r.read()


class HttpMux(h.BlackboxTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start_peer("http")
        self.mux = self.start_tcpmux("http", self.upstream.port, "--timeout", "5s")

    def conn(self):
        return http.client.HTTPConnection(h.HOST, self.mux.port, timeout=10)

    def test_methods_on_one_keepalive_connection(self):
        c = self.conn()
        try:
            c.request("GET", "/first")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"path=/first"))
            self.assertEqual(r.getheader("X-Path"), "/first")
            sock = c.sock
            self.assertIsNotNone(sock, "connection not kept alive after the first response")

            c.request("POST", "/submit", body=b"hello=world&x=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"post path=/submit body=hello=world&x=1"))

            # HEAD: the response announces a length but has no body; the next
            # response on the connection must not be taken for it.
            c.request("HEAD", "/head-me")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Length"), str(len(b"path=/head-me")))
            self.assertEqual(r.read(), b"")

            c.request("GET", "/after-head")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"path=/after-head"))

            # Chunked request body.
            c.request("POST", "/chunked-upload", body=iter([b"part1-", b"part2-", b"part3"]),
                      encode_chunked=True)
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"post path=/chunked-upload body=part1-part2-part3"))

            # Chunked response.
            c.request("GET", "/chunked/abc")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            self.assertEqual(r.read(), b"chunk0;chunk1;chunk2;chunk3;chunk4;path=/chunked/abc")

            for i in range(10):
                c.request("GET", f"/again/{i}")
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, f"path=/again/{i}".encode()))
            self.assertIs(c.sock, sock, "http.client had to reconnect: keep-alive broken")
        finally:
            c.close()
        self.stop_gracefully(self.mux)

    def test_large_bodies(self):
        body = bytes(range(256)) * 1024  # 256 KiB, all byte values
        c = self.conn()
        try:
            c.request("POST", "/big", body=body)
            r = c.getresponse()
            data = r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(len(data), len(b"post path=/big body=") + len(body))
            self.assertEqual(data, b"post path=/big body=" + body)
            c.request("GET", "/small")
            r = c.getresponse()
            self.assertEqual(r.read(), b"path=/small")
        finally:
            c.close()
        self.stop_gracefully(self.mux)

    def test_pipelined_requests_in_one_send(self):
        s = h.connect(self.mux.port)
        try:
            s.sendall(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                      b"HEAD /p3 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /chunked/p4 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /p5 HTTP/1.1\r\nHost: x\r\n\r\n")
            shared = _SharedSock(s)
            s.settimeout(10)
            r, body = read_response(shared)
            self.assertEqual((r.status, body), (200, b"path=/p1"))
            r, body = read_response(shared)
            self.assertEqual((r.status, body), (200, b"post path=/p2 body=hello"))
            r, body = read_response(shared, method="HEAD")
            self.assertEqual((r.status, body, r.getheader("X-Path")), (200, b"", "/p3"))
            r, body = read_response(shared)
            self.assertEqual((r.status, body), (200, b"chunk0;chunk1;chunk2;chunk3;chunk4;path=/chunked/p4"))
            r, body = read_response(shared)
            self.assertEqual((r.status, body), (200, b"path=/p5"))
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_request_split_into_small_sends(self):
        s = h.connect(self.mux.port)
        try:
            request = b"POST /split HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
            for i in range(0, len(request), 3):
                s.sendall(request[i:i + 3])
                time.sleep(0.005)
            s.settimeout(10)
            r, body = read_response(_SharedSock(s))
            self.assertEqual((r.status, body), (200, b"post path=/split body=hello world"))
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_concurrent_clients_get_their_own_responses(self):
        errors = []
        lock = threading.Lock()

        def client(i):
            c = self.conn()
            try:
                for k in range(15):
                    path = f"/client{i}/req{k}"
                    if k % 3 == 2:
                        c.request("POST", path, body=f"from {i}/{k}".encode())
                        want = f"post path={path} body=from {i}/{k}".encode()
                    elif k % 5 == 4:
                        path = "/chunked" + path
                        c.request("GET", path)
                        want = f"chunk0;chunk1;chunk2;chunk3;chunk4;path={path}".encode()
                    else:
                        c.request("GET", path)
                        want = f"path={path}".encode()
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or body != want:
                        with lock:
                            errors.append(f"client {i} {path}: {r.status} {body[:80]!r}, want {want!r}")
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                with lock:
                    errors.append(f"client {i}: {type(e).__name__}: {e}")
            finally:
                c.close()

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(client, i) for i in range(12)]
            for f in futures:
                f.result(timeout=40)
        self.assertEqual(errors, [])
        self.stop_gracefully(self.mux)


    def test_connection_close_request(self):
        # The client asks to close: it gets its response, then the connection
        # ends; the upstream (which closes too) is replaced for the next client.
        s = h.connect(self.mux.port)
        try:
            s.sendall(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(10)
            r, body = read_response(_SharedSock(s))
            self.assertEqual((r.status, body), (200, b"path=/bye"))
            self.assertTrue(h.connection_closed(s, 3), "client connection left open after Connection: close")
        finally:
            s.close()
        c = self.conn()
        try:
            for i in range(3):
                c.request("GET", f"/next/{i}")
                self.assertEqual(c.getresponse().read(), f"path=/next/{i}".encode())
        finally:
            c.close()
        self.stop_gracefully(self.mux)

    def test_urllib_clients_one_after_another(self):
        # urllib.request sends "Connection: close" with every request, so the
        # upstream closes the shared connection after each response.
        for i in range(6):
            try:
                with urllib.request.urlopen(f"http://{h.HOST}:{self.mux.port}/urllib/{i}", timeout=10) as r:
                    self.assertEqual((r.status, r.read()), (200, f"path=/urllib/{i}".encode()), f"request {i}")
            except urllib.error.HTTPError as e:
                self.fail(f"request {i}: {e.code} {e.read()!r}")
        self.stop_gracefully(self.mux)

    def test_response_body_ended_by_eof(self):
        c = http.client.HTTPConnection(h.HOST, self.mux.port, timeout=5)
        try:
            c.request("GET", "/eof-body/1")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"until-eof path=/eof-body/1"))
        finally:
            c.close()
        c = self.conn()
        try:
            for path in ("/after-eof", "/eof-body/2", "/after-eof-2"):
                c.request("GET", path)
                r = c.getresponse()
                want = b"until-eof path=" + path.encode() if "eof-body" in path else b"path=" + path.encode()
                self.assertEqual((r.status, r.read()), (200, want))
                if r.will_close:
                    c.close()
        finally:
            c.close()
        self.stop_gracefully(self.mux)

    def test_expect_100_continue(self):
        # Headers and body sent together (as curl does once it stops waiting):
        # the upstream answers "100 Continue" and then the real response; the
        # client must get both, and the next response must not be shifted.
        s = h.connect(self.mux.port)
        try:
            s.sendall(b"POST /cont HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd")
            s.settimeout(10)
            shared = _SharedSock(s)
            r, body = read_response(shared)  # http.client skips the 100 itself
            self.assertEqual((r.status, body), (200, b"post path=/cont body=abcd"))
            s.sendall(b"GET /after-continue HTTP/1.1\r\nHost: x\r\n\r\n")
            r, body = read_response(shared)
            self.assertEqual((r.status, body), (200, b"path=/after-continue"))
        finally:
            s.close()
        self.stop_gracefully(self.mux)

    def test_malformed_and_oversized_requests_close_only_that_client(self):
        good = self.conn()
        try:
            good.request("GET", "/before")
            self.assertEqual(good.getresponse().read(), b"path=/before")
            for what, data, status in [
                    ("garbage request line", b"THIS IS NOT HTTP\r\n\r\n", 400),
                    ("body over the 1 MiB limit",
                     b"POST /huge HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 65536, 413)]:
                bad = h.connect(self.mux.port)
                try:
                    try:
                        bad.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    bad.settimeout(5)
                    try:
                        r, _ = read_response(_SharedSock(bad))
                        self.assertEqual(r.status, status, what)
                    except (ConnectionResetError, http.client.RemoteDisconnected):
                        pass  # closed without a reply still isolates the client
                    self.assertTrue(h.connection_closed(bad, 3), f"{what}: connection left open")
                finally:
                    bad.close()
                good.request("GET", "/after")
                self.assertEqual(good.getresponse().read(), b"path=/after", f"after {what}")
        finally:
            good.close()
        self.stop_gracefully(self.mux)


class HttpMuxFailures(h.BlackboxTestCase):
    def test_upstream_down_gives_502(self):
        mux = self.start_tcpmux("http", h.free_port(), "--timeout", "1s", "--reconnect-backoff", "100ms")
        c = http.client.HTTPConnection(h.HOST, mux.port, timeout=10)
        try:
            started = time.monotonic()
            c.request("GET", "/nobody-home")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 502)
            self.assertLess(time.monotonic() - started, 3.0)
        finally:
            c.close()
        self.assertTrue(mux.alive())
        self.stop_gracefully(mux)

    def test_late_response_is_not_given_to_the_next_request(self):
        # GET /slow times out (504); the upstream answers it later. The
        # client's next request on the same connection must get its own
        # response, not the late one.
        upstream = self.start_peer("http")
        mux = self.start_tcpmux("http", upstream.port, "--timeout", "600ms")
        c = http.client.HTTPConnection(h.HOST, mux.port, timeout=10)
        try:
            c.request("GET", "/slow/first")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 504)
            self.assertFalse(r.will_close, "504 closed the connection")
            c.request("GET", "/fast/second")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"path=/fast/second"),
                             "the second request got the first one's late response")
        finally:
            c.close()
        self.stop_gracefully(mux)

    def test_error_reply_to_head_has_no_body(self):
        mux = self.start_tcpmux("http", h.free_port(), "--timeout", "1s")
        c = http.client.HTTPConnection(h.HOST, mux.port, timeout=10)
        try:
            c.request("HEAD", "/head")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (502, b""))
            c.request("GET", "/get")
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 502, "response stream shifted after the HEAD error reply")
            self.assertEqual(int(r.getheader("Content-Length")), len(body))
        finally:
            c.close()
        self.stop_gracefully(mux)

    def test_full_queue_gives_503_quickly(self):
        upstream = self.start_peer("http")
        mux = self.start_tcpmux("http", upstream.port, "--timeout", "5s", "--max-connections", "1",
                                "--queue-size", "1")
        results = []
        lock = threading.Lock()

        def get(i):
            c = http.client.HTTPConnection(h.HOST, mux.port, timeout=10)
            try:
                started = time.monotonic()
                c.request("GET", f"/slow/{i}")
                r = c.getresponse()
                body = r.read()
                with lock:
                    results.append((r.status, body, time.monotonic() - started, r.getheader("Retry-After"), i))
            finally:
                c.close()

        with ThreadPoolExecutor(8) as pool:
            for f in [pool.submit(get, i) for i in range(8)]:
                f.result(timeout=30)
        served = [r for r in results if r[0] == 200]
        busy = [r for r in results if r[0] == 503]
        self.assertEqual(len(served) + len(busy), 8, results)
        self.assertGreaterEqual(len(served), 1, results)
        self.assertLessEqual(len(served), 3, f"more served than 1 in flight + --queue-size 1 (+1): {results}")
        for status, body, elapsed, retry_after, i in served:
            self.assertEqual(body, f"path=/slow/{i}".encode())
        for status, body, elapsed, retry_after, i in busy:
            self.assertLess(elapsed, 0.7, "503 must come before the upstream's first answer (0.8 s)")
            self.assertIsNotNone(retry_after, "503 without Retry-After")
        self.stop_gracefully(mux)

    def test_upstream_never_answers_gives_504(self):
        upstream = self.start_peer("blackhole")
        mux = self.start_tcpmux("http", upstream.port, "--timeout", "500ms")
        c = http.client.HTTPConnection(h.HOST, mux.port, timeout=10)
        try:
            started = time.monotonic()
            c.request("GET", "/slow")
            r = c.getresponse()
            r.read()
            elapsed = time.monotonic() - started
            self.assertEqual(r.status, 504)
            self.assertGreater(elapsed, 0.4, "504 before --timeout 500ms elapsed")
            self.assertLess(elapsed, 3.0, "504 long after --timeout 500ms")
        finally:
            c.close()
        self.assertTrue(mux.alive())
        self.stop_gracefully(mux)


if __name__ == "__main__":
    h.main()
