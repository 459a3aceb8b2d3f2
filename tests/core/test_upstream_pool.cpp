// The pool against fake upstreams on 127.0.0.1: queueing, deadlines,
// parallel connections, pipelining with out-of-order replies, reconnects.
#include <doctest/doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "core/error.hpp"
#include "core/upstream_pool.hpp"

using namespace sb::core;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

// Test protocol: lines whose first two bytes are a big-endian tag.
class line_framer final : public framer {
public:
    line_framer() : framer(1024) {}
    frame_result scan(bytes_view b) override {
        for (std::size_t i = 0; i < b.size(); ++i)
            if (b[i] == '\n') return frame_result::complete(i + 1);
        return b.size() > max_size() ? frame_result::error(errc::frame_too_large) : frame_result::need_more();
    }
};

class tagged_lines final : public protocol {
public:
    explicit tagged_lines(bool tags) : tags_(tags) {}
    std::string_view name() const override { return "lines"; }
    std::string_view description() const override { return "test"; }
    std::size_t default_max_message() const override { return 1024; }
    std::unique_ptr<framer> make_request_framer(std::size_t) const override { return std::make_unique<line_framer>(); }
    std::unique_ptr<framer> make_response_framer(std::size_t) const override { return std::make_unique<line_framer>(); }
    bool has_tags() const override { return tags_; }
    void set_tag(std::span<std::uint8_t> m, std::uint16_t t) const override {
        m[0] = static_cast<std::uint8_t>(t >> 8);
        m[1] = static_cast<std::uint8_t>(t);
    }
    std::optional<std::uint16_t> tag(bytes_view m) const override {
        if (m.size() < 2) return std::nullopt;
        return static_cast<std::uint16_t>(m[0] << 8 | m[1]);
    }

private:
    bool tags_;
};

// A fake upstream: each connection is served by `behaviour`.
using behaviour = std::function<asio::awaitable<void>(tcp::socket)>;

asio::awaitable<void> accept_all(tcp::acceptor& acc, behaviour b, int* connections) {
    for (;;) {
        auto [ec, s] = co_await acc.async_accept(as_tuple(use_awaitable));
        if (ec) co_return;
        ++*connections;
        asio::co_spawn(acc.get_executor(), b(std::move(s)), asio::detached);
    }
}

struct fake_upstream {
    fake_upstream(asio::io_context& io, behaviour b) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        asio::co_spawn(io, accept_all(acceptor, std::move(b), &connections), asio::detached);
    }
    endpoint where() const { return {"127.0.0.1", acceptor.local_endpoint().port()}; }
    tcp::acceptor acceptor;
    int connections = 0;
};

// Echo each line back after `delay`, one at a time per connection.
behaviour echo_after(std::chrono::milliseconds delay, bool close_after_reply = false) {
    return [=](tcp::socket s) -> asio::awaitable<void> {
        std::string buf;
        asio::steady_timer t(s.get_executor());
        for (;;) {
            auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', as_tuple(use_awaitable));
            if (ec) co_return;
            std::string line = buf.substr(0, n);
            buf.erase(0, n);
            if (delay.count()) {
                t.expires_after(delay);
                co_await t.async_wait(as_tuple(use_awaitable));
            }
            co_await asio::async_write(s, asio::buffer(line), as_tuple(use_awaitable));
            if (close_after_reply) co_return;
        }
    };
}

asio::awaitable<void> silent(tcp::socket s) {
    char b[256];
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(b), as_tuple(use_awaitable));
        if (ec) co_return;
    }
}

pool_config config_for(endpoint target) {
    pool_config c;
    c.target = std::move(target);
    c.timeout = 1s;
    c.reconnect_backoff = 20ms;
    c.reconnect_backoff_max = 100ms;
    c.connect_timeout = 500ms;
    return c;
}

struct result {
    std::error_code ec;
    std::string reply;
    clock::duration took{};
    bool finished = false;
};

asio::awaitable<void> send(upstream_pool& pool, std::string line, result& out) {
    auto req = std::make_shared<exchange_request>(co_await asio::this_coro::executor);
    req->data.assign(line.begin(), line.end());
    auto t0 = clock::now();
    out.ec = co_await pool.exchange(req);
    out.took = clock::now() - t0;
    out.reply.assign(req->response.begin(), req->response.end());
    out.finished = true;
}

void run_until(asio::io_context& io, const std::function<bool()>& done, clock::duration limit = 5s) {
    auto end = clock::now() + limit;
    while (!done() && clock::now() < end) io.run_for(10ms);
}

std::string payload(const std::string& r) { return r.size() > 2 ? r.substr(2) : r; }

// g++ 12 warns (-Wrestrict, a known false positive) on "lit" + std::string.
std::string line(const char* prefix, std::size_t i) {
    std::string s(prefix);
    s += std::to_string(i);
    s += '\n';
    return s;
}

}  // namespace

TEST_CASE("serial exchange through one connection") {
    asio::io_context io;
    fake_upstream up(io, echo_after(0ms));
    tagged_lines proto(false);
    upstream_pool pool(io, proto, config_for(up.where()), logger("test", severity::error));
    pool.start();
    result a, b;
    asio::co_spawn(io, send(pool, "..hello\n", a), asio::detached);
    asio::co_spawn(io, send(pool, "..world\n", b), asio::detached);
    run_until(io, [&] { return a.finished && b.finished; });
    CHECK(!a.ec);
    CHECK(!b.ec);
    CHECK(a.reply == "..hello\n");
    CHECK(b.reply == "..world\n");
    CHECK(up.connections == 1);
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("a full queue is answered at once, and the deadline includes queue time") {
    asio::io_context io;
    fake_upstream up(io, silent);
    tagged_lines proto(false);
    auto cfg = config_for(up.where());
    cfg.queue_size = 2;
    cfg.timeout = 300ms;
    upstream_pool pool(io, proto, cfg, logger("test", severity::error));
    pool.start();
    io.run_for(50ms);  // connected
    std::vector<result> r(4);
    for (auto& x : r) asio::co_spawn(io, send(pool, "..x\n", x), asio::detached);
    io.run_for(20ms);
    // one in flight, two queued, the fourth refused without waiting
    CHECK(r[3].finished);
    CHECK(r[3].ec == errc::queue_full);
    CHECK(pool.stats().in_flight == 1);
    CHECK(pool.stats().queued == 2);
    run_until(io, [&] { return r[0].finished && r[1].finished && r[2].finished; });
    for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(r[i].ec == errc::request_timeout);
        CHECK(r[i].took >= 290ms);
        CHECK(r[i].took < 600ms);  // queued ones do not wait for their turn plus a timeout
    }
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("no reachable upstream fails fast") {
    asio::io_context io;
    endpoint closed;
    {
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed = {"127.0.0.1", a.local_endpoint().port()};
    }
    tagged_lines proto(false);
    upstream_pool pool(io, proto, config_for(closed), logger("test", severity::error));
    pool.start();
    io.run_for(100ms);  // the first attempt has failed
    result r;
    asio::co_spawn(io, send(pool, "..x\n", r), asio::detached);
    run_until(io, [&] { return r.finished; });
    CHECK(r.ec == errc::upstream_unavailable);
    CHECK(r.took < 50ms);
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("connections serve requests in parallel") {
    asio::io_context io;
    fake_upstream up(io, echo_after(100ms));
    tagged_lines proto(false);
    auto cfg = config_for(up.where());
    cfg.connections = 4;
    upstream_pool pool(io, proto, cfg, logger("test", severity::error));
    pool.start();
    io.run_for(50ms);
    CHECK(pool.stats().connected == 4);
    std::vector<result> r(8);
    auto t0 = clock::now();
    for (std::size_t i = 0; i < r.size(); ++i)
        asio::co_spawn(io, send(pool, line("..n", i), r[i]), asio::detached);
    run_until(io, [&] { return std::all_of(r.begin(), r.end(), [](auto& x) { return x.finished; }); });
    auto took = clock::now() - t0;
    for (std::size_t i = 0; i < r.size(); ++i) {
        CAPTURE(i);
        CHECK(!r[i].ec);
        CHECK(r[i].reply == line("..n", i));
    }
    CHECK(took < 350ms);  // 8 requests x 100 ms over 4 connections: ~200 ms, serial would be 800
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("pipelined replies out of order reach their own requests") {
    asio::io_context io;
    // Reads two requests, answers the second first, with a stale reply ahead of both.
    fake_upstream up(io, [](tcp::socket s) -> asio::awaitable<void> {
        std::string buf;
        for (;;) {
            std::vector<std::string> lines;
            while (lines.size() < 2) {
                auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', as_tuple(use_awaitable));
                if (ec) co_return;
                lines.push_back(buf.substr(0, n));
                buf.erase(0, n);
            }
            std::string out = "\xff\xffstale\n" + lines[1] + lines[0];
            co_await asio::async_write(s, asio::buffer(out), as_tuple(use_awaitable));
        }
    });
    tagged_lines proto(true);
    auto cfg = config_for(up.where());
    cfg.pipeline = 2;
    upstream_pool pool(io, proto, cfg, logger("test", severity::error));
    pool.start();
    io.run_for(50ms);
    std::vector<result> r(6);
    for (std::size_t i = 0; i < r.size(); ++i)
        asio::co_spawn(io, send(pool, line("..p", i), r[i]), asio::detached);
    run_until(io, [&] { return std::all_of(r.begin(), r.end(), [](auto& x) { return x.finished; }); });
    for (std::size_t i = 0; i < r.size(); ++i) {
        CAPTURE(i);
        CHECK(!r[i].ec);
        CHECK(payload(r[i].reply) == line("p", i));
    }
    CHECK(up.connections == 1);
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("an upstream that closes after each reply is reconnected") {
    asio::io_context io;
    fake_upstream up(io, echo_after(0ms, true));
    tagged_lines proto(false);
    upstream_pool pool(io, proto, config_for(up.where()), logger("test", severity::error));
    pool.start();
    for (int i = 0; i < 3; ++i) {
        result r;
        asio::co_spawn(io, send(pool, "..again\n", r), asio::detached);
        run_until(io, [&] { return r.finished; });
        CAPTURE(i);
        CHECK(!r.ec);
        CHECK(r.reply == "..again\n");
        io.run_for(20ms);
    }
    CHECK(up.connections >= 3);
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("stop fails queued requests with shutting_down") {
    asio::io_context io;
    fake_upstream up(io, silent);
    tagged_lines proto(false);
    upstream_pool pool(io, proto, config_for(up.where()), logger("test", severity::error));
    pool.start();
    io.run_for(50ms);
    result a, b;
    asio::co_spawn(io, send(pool, "..a\n", a), asio::detached);
    asio::co_spawn(io, send(pool, "..b\n", b), asio::detached);
    io.run_for(20ms);
    pool.stop(0s);
    run_until(io, [&] { return a.finished && b.finished; });
    CHECK(a.ec == errc::shutting_down);
    CHECK(b.ec == errc::shutting_down);
    result c;
    asio::co_spawn(io, send(pool, "..c\n", c), asio::detached);
    run_until(io, [&] { return c.finished; });
    CHECK(c.ec == errc::shutting_down);
}

TEST_CASE("an upstream that accepts and closes at once is retried with backoff, not in a storm") {
    asio::io_context io;
    fake_upstream up(io, [](tcp::socket s) -> asio::awaitable<void> {
        s.close();
        co_return;
    });
    tagged_lines proto(true);
    auto cfg = config_for(up.where());
    cfg.pipeline = 2;  // the reader sees EOF at once and returns
    upstream_pool pool(io, proto, cfg, logger("test", severity::error));
    pool.start();
    io.run_for(1s);
    // 20 ms doubling to the 100 ms cap: about a dozen attempts in a second.
    CHECK(up.connections >= 3);
    CHECK(up.connections < 40);
    pool.stop(0s);
    io.run_for(50ms);
}

TEST_CASE("pipelined requests to a silent upstream time out, each one") {
    asio::io_context io;
    fake_upstream up(io, silent);
    tagged_lines proto(true);
    auto cfg = config_for(up.where());
    cfg.pipeline = 4;
    cfg.timeout = 100ms;
    upstream_pool pool(io, proto, cfg, logger("test", severity::error));
    pool.start();
    io.run_for(50ms);
    std::vector<result> r(4);
    for (auto& x : r) asio::co_spawn(io, send(pool, "..t\n", x), asio::detached);
    run_until(io, [&] { return std::all_of(r.begin(), r.end(), [](auto& x) { return x.finished; }); });
    for (auto& x : r) CHECK(x.ec == errc::request_timeout);
    pool.stop(0s);
    io.run_for(50ms);
}
