// Load client and echo target for bench/minitel, which compiles this file
// itself (c++ -O2 -std=c++20 -pthread): it is not part of the meson build.
// A client in C++ keeps the client's own cost out of the figures: what is
// measured is the gateway between it and the echo target.
//
//   minitel_load echo PORT
//       epoll echo server on 127.0.0.1:PORT: every byte back as it arrives.
//   minitel_load keys PORT tcp|text|binary N WARMUP
//       N one-byte round trips (after WARMUP), one at a time; prints
//       "p50 P99 max" in microseconds.
//   minitel_load bulk PORT tcp|text|binary MIB
//       MIB MiB sent in 32 KiB messages while another thread reads the echo
//       back and checks every byte; prints "seconds send_seconds".
//
// text/binary: a WebSocket client (the frame type it sends; subprotocol
// "binary" is offered with binary), masking with the zero key; tcp: no
// framing. Bytes 0x00-0x7F only, so a text frame carries one byte per
// character. Exit status 0, or 1 with a message on stderr.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t message_size = 32768;

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "minitel_load: %s%s%s\n", what.c_str(), errno ? ": " : "", errno ? std::strerror(errno) : "");
    std::exit(1);
}

double now_us()
{
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

sockaddr_in loopback(int port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

void write_all(int fd, const std::uint8_t* p, std::size_t n)
{
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fail("write");
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

// ------------------------------------------------------------------ echo

int run_echo(int port)
{
    int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(port);
    if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 4096) != 0)
        fail("bind/listen");
    int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static std::uint8_t buf[1 << 18];
    epoll_event evs[256];
    for (;;) {
        int n = ::epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c = ::accept(ls, nullptr, nullptr);
                if (c < 0)
                    continue;
                ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                epoll_event e{};
                e.events = EPOLLIN;
                e.data.fd = c;
                ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                continue;
            }
            ssize_t r = ::read(fd, buf, sizeof buf);
            if (r <= 0) {
                ::close(fd);
                continue;
            }
            // A blocking write: only the bulk phase sends much, on one connection.
            const std::uint8_t* p = buf;
            std::size_t left = static_cast<std::size_t>(r);
            while (left > 0) {
                ssize_t w = ::write(fd, p, left);
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    ::close(fd);
                    break;
                }
                p += w;
                left -= static_cast<std::size_t>(w);
            }
        }
    }
}

// ------------------------------------------------------------------ client

enum class mode { tcp, text, binary };

struct link {
    int fd = -1;
    mode m = mode::tcp;
    std::vector<std::uint8_t> in; // received, not yet parsed
    std::size_t in_pos = 0;

    std::vector<std::uint8_t> frame(const std::uint8_t* p, std::size_t n) const
    {
        std::vector<std::uint8_t> out;
        if (m == mode::tcp) {
            out.assign(p, p + n);
            return out;
        }
        out.push_back(static_cast<std::uint8_t>(0x80 | (m == mode::text ? 1 : 2)));
        if (n < 126) {
            out.push_back(static_cast<std::uint8_t>(0x80 | n));
        } else if (n < 65536) {
            out.push_back(0x80 | 126);
            out.push_back(static_cast<std::uint8_t>(n >> 8));
            out.push_back(static_cast<std::uint8_t>(n));
        } else {
            out.push_back(0x80 | 127);
            for (int s = 56; s >= 0; s -= 8)
                out.push_back(static_cast<std::uint8_t>(n >> s));
        }
        out.insert(out.end(), 4, 0); // the zero masking key
        out.insert(out.end(), p, p + n);
        return out;
    }

    bool fill()
    {
        if (in_pos > 0 && in_pos == in.size()) {
            in.clear();
            in_pos = 0;
        } else if (in_pos > (1 << 20)) {
            in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(in_pos));
            in_pos = 0;
        }
        std::size_t old = in.size();
        in.resize(old + (1 << 18));
        ssize_t r;
        do
            r = ::read(fd, in.data() + old, 1 << 18);
        while (r < 0 && errno == EINTR);
        in.resize(old + static_cast<std::size_t>(std::max<ssize_t>(r, 0)));
        return r > 0;
    }

    // Payload bytes as they come (data frames), pings answered, close = failure.
    // Returns the payload as [p, p + n) valid until the next call.
    std::pair<const std::uint8_t*, std::size_t> next_payload()
    {
        for (;;) {
            std::size_t avail = in.size() - in_pos;
            if (m == mode::tcp) {
                if (avail > 0) {
                    auto p = in.data() + in_pos;
                    in_pos = in.size();
                    return {p, avail};
                }
            } else if (avail >= 2) {
                const std::uint8_t* b = in.data() + in_pos;
                int opcode = b[0] & 0x0F;
                std::uint64_t n = b[1] & 0x7F;
                std::size_t head = 2;
                bool complete = true;
                if (n == 126) {
                    complete = avail >= 4;
                    if (complete)
                        n = (std::uint64_t{b[2]} << 8) | b[3], head = 4;
                } else if (n == 127) {
                    complete = avail >= 10;
                    if (complete) {
                        n = 0;
                        for (int i = 0; i < 8; ++i)
                            n = (n << 8) | b[2 + i];
                        head = 10;
                    }
                }
                if (b[1] & 0x80)
                    fail("server frame is masked");
                if (complete && avail >= head + n) {
                    in_pos += head + n;
                    if (opcode <= 2 && n > 0)
                        return {b + head, static_cast<std::size_t>(n)};
                    if (opcode == 8)
                        fail("the gateway closed the WebSocket");
                    if (opcode == 9) {
                        std::vector<std::uint8_t> pong{0x8A, static_cast<std::uint8_t>(0x80 | n), 0, 0, 0, 0};
                        pong.insert(pong.end(), b + head, b + head + n);
                        write_all(fd, pong.data(), pong.size());
                    }
                    continue;
                }
            }
            if (!fill())
                fail("connection closed by the gateway");
        }
    }
};

link connect_link(int port, mode m)
{
    link l;
    l.m = m;
    l.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(port);
    if (::connect(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        fail("connect");
    int one = 1;
    ::setsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};
    ::setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (m == mode::tcp)
        return l;
    std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                      (m == mode::binary ? "Sec-WebSocket-Protocol: binary\r\n" : "") + "\r\n";
    write_all(l.fd, reinterpret_cast<const std::uint8_t*>(req.data()), req.size());
    std::string head;
    for (;;) {
        if (!l.fill())
            fail("handshake: connection closed");
        std::string got(l.in.begin(), l.in.end());
        auto end = got.find("\r\n\r\n");
        if (end != std::string::npos) {
            head = got.substr(0, end);
            l.in_pos = end + 4;
            break;
        }
        if (l.in.size() > 16384)
            fail("handshake: no end of the HTTP head");
    }
    errno = 0;
    if (head.rfind("HTTP/1.1 101", 0) != 0)
        fail("handshake answered: " + head.substr(0, head.find('\r')));
    return l;
}

mode parse_mode(const char* s)
{
    std::string m = s;
    if (m == "tcp")
        return mode::tcp;
    if (m == "text")
        return mode::text;
    if (m == "binary")
        return mode::binary;
    fail("mode must be tcp, text or binary");
}

int run_keys(int port, mode m, int n, int warmup)
{
    link l = connect_link(port, m);
    std::vector<double> t;
    t.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < warmup + n; ++i) {
        std::uint8_t c = static_cast<std::uint8_t>(0x20 + i % 95);
        auto f = l.frame(&c, 1);
        double t0 = now_us();
        write_all(l.fd, f.data(), f.size());
        auto [p, len] = l.next_payload();
        double t1 = now_us();
        errno = 0;
        if (len != 1 || p[0] != c)
            fail("keystroke " + std::to_string(i) + ": wrong echo");
        if (i >= warmup)
            t.push_back(t1 - t0);
    }
    std::sort(t.begin(), t.end());
    auto pct = [&](double q) { return t[static_cast<std::size_t>(std::max(0.0, std::ceil(q * t.size()) - 1))]; };
    std::printf("%.1f %.1f %.1f\n", pct(0.50), pct(0.99), t.back());
    ::close(l.fd);
    return 0;
}

int run_bulk(int port, mode m, long mib)
{
    link l = connect_link(port, m);
    const std::size_t total = static_cast<std::size_t>(mib) << 20;
    std::vector<std::uint8_t> pattern(message_size);
    for (std::size_t i = 0; i < message_size; ++i)
        pattern[i] = static_cast<std::uint8_t>(i % 128);
    auto frame = l.frame(pattern.data(), pattern.size());
    std::atomic<double> send_done{0};
    double t0 = now_us();
    std::thread writer([&] {
        for (std::size_t sent = 0; sent < total; sent += message_size)
            write_all(l.fd, frame.data(), frame.size());
        send_done = now_us();
    });
    std::size_t got = 0;
    while (got < total) {
        auto [p, len] = l.next_payload();
        for (std::size_t i = 0; i < len; ++i) {
            if (p[i] != static_cast<std::uint8_t>((got + i) % 128)) {
                errno = 0;
                fail("bulk: data differs at byte " + std::to_string(got + i));
            }
        }
        got += len;
    }
    double t1 = now_us();
    writer.join();
    std::printf("%.6f %.6f\n", (t1 - t0) / 1e6, (send_done - t0) / 1e6);
    ::close(l.fd);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "echo" && argc == 3)
        return run_echo(std::atoi(argv[2]));
    if (cmd == "keys" && argc == 6)
        return run_keys(std::atoi(argv[2]), parse_mode(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
    if (cmd == "bulk" && argc == 5)
        return run_bulk(std::atoi(argv[2]), parse_mode(argv[3]), std::atol(argv[4]));
    std::fprintf(stderr, "usage: minitel_load echo PORT | keys PORT MODE N WARMUP | bulk PORT MODE MIB\n");
    return 2;
}
