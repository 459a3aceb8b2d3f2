#include "core/upstream_pool.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <deque>
#include <random>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/frame_buffer.hpp"

namespace sb::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using req_ptr = std::shared_ptr<exchange_request>;

namespace {
constexpr auto forever = clock::time_point::max();

bool aborted(const std::error_code& ec) {
    return ec == std::error_code(boost::system::error_code(asio::error::operation_aborted));
}

// Peek without blocking: false when the peer has closed or reset the
// connection. Bytes waiting on an idle connection are stale replies (to
// requests that timed out) and are left for the reader to drop.
bool peer_alive(tcp::socket& s) {
    std::uint8_t b;
    ssize_t n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    return true;
}

void tune_socket(tcp::socket& s, clock::duration health) {
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    if (health > clock::duration::zero()) {
        // TCP keepalive probes the peer while the connection is idle, so a
        // powered-off device is found even when no request is sent.
        s.set_option(asio::socket_base::keep_alive(true), ignored);
        int idle = std::max(1, static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(health).count()));
        int intvl = std::max(1, idle / 3), cnt = 3;
        ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    }
}

struct in_flight {
    req_ptr req;
    std::uint16_t tag = 0;
};
}  // namespace

struct slot {
    explicit slot(asio::io_context& io, std::size_t i) : index(i), socket(io), wake(io), watchdog(io) {}

    std::size_t index;
    tcp::socket socket;
    asio::steady_timer wake;      // waiting for work (or the next health check)
    asio::steady_timer watchdog;  // replies overdue -> connection is dead
    bool up = false;
    bool failed = false;   // last connect attempt failed and none succeeded since
    bool waiting = false;  // parked in next_request
    clock::time_point idle_since = clock::now();
    std::deque<in_flight> inflight;
    std::uint16_t next_tag = 0;
    std::uint64_t replies = 0;  // delivered on this slot, over all connections

    // The next tag that no request still waiting here carries: a timed-out
    // request keeps its tag until its late reply or the watchdog.
    std::uint16_t fresh_tag() {
        for (;;) {
            std::uint16_t t = ++next_tag;
            bool used = false;
            for (auto& f : inflight) used = used || f.tag == t;
            if (!used) return t;
        }
    }
    std::unique_ptr<framer> reader;
    frame_buffer buf;

    clock::time_point overdue_at(clock::duration grace) const {
        return inflight.empty() ? forever : inflight.front().req->deadline + grace;
    }
};

struct upstream_pool::state {
    state(asio::io_context& i, const protocol& p, pool_config c, logger l)
        : io(i), proto(p), cfg(std::move(c)), log(std::move(l)), rng(std::random_device{}()) {
        if (cfg.max_message == 0) cfg.max_message = proto.default_max_message();
        if (!proto.has_tags()) cfg.pipeline = 1;
        if (cfg.pipeline == 0) cfg.pipeline = 1;
        if (cfg.connections == 0) cfg.connections = 1;
        for (std::size_t i = 0; i < cfg.connections; ++i) slots.push_back(std::make_unique<slot>(io, i));
    }

    asio::io_context& io;
    const protocol& proto;
    pool_config cfg;
    logger log;
    std::minstd_rand rng;
    std::vector<std::unique_ptr<slot>> slots;
    std::deque<req_ptr> queue;
    bool stopping = false;
    bool was_down = false;  // to log the transition once, not every retry
    // Deadlines are enforced by one sweeper per pool rather than a timer per
    // request: re-arming the reactor's timer for every request costs a
    // syscall each, and every request has the same timeout anyway.
    asio::steady_timer sweeper{io};
    bool sweeper_idle = true;
    int running = 0;  // slot and sweeper coroutines still alive

    bool all_down() const {
        for (auto& s : slots)
            if (s->up || !s->failed) return false;
        return true;
    }

    std::error_code expiry_reason() const {
        return all_down() ? std::error_code(errc::upstream_unavailable) : std::error_code(errc::request_timeout);
    }

    // Fails every request whose deadline has passed; returns whether any
    // request is still pending.
    bool sweep(clock::time_point now) {
        const std::error_code why = expiry_reason();
        while (!queue.empty() && (queue.front()->done || queue.front()->deadline <= now)) {
            complete(queue.front(), why);
            queue.pop_front();
        }
        bool pending = !queue.empty();
        for (auto& s : slots)
            for (auto& f : s->inflight) {
                if (!f.req->done && f.req->deadline <= now) complete(f.req, errc::request_timeout);
                pending = pending || !f.req->done;
            }
        return pending;
    }

    clock::duration sweep_tick() const {
        return std::clamp<clock::duration>(cfg.timeout / 16, std::chrono::milliseconds(2), std::chrono::milliseconds(250));
    }

    std::size_t in_flight_count() const {
        std::size_t n = 0;
        for (auto& s : slots) n += s->inflight.size();
        return n;
    }

    static void complete(const req_ptr& r, std::error_code ec) {
        if (r->done) return;  // the client already gave up on it
        r->done = true;
        r->ec = ec;
        r->timer.cancel();
    }

    void fail_queue(std::error_code ec) {
        while (!queue.empty()) {
            complete(queue.front(), ec);
            queue.pop_front();
        }
    }

    // Wakes the parked slot that has the most room for another request.
    void wake_one() {
        slot* best = nullptr;
        for (auto& s : slots)
            if (s->waiting && s->up && s->inflight.size() < cfg.pipeline &&
                (!best || s->inflight.size() < best->inflight.size()))
                best = s.get();
        if (best) {
            best->waiting = false;
            best->wake.cancel();
        }
    }

    void wake_all() {
        for (auto& s : slots) {
            s->waiting = false;
            s->wake.cancel();
        }
    }

    clock::duration jittered(clock::duration b) {
        // Uniform in [b/2, b]: many clients of one device must not reconnect in lockstep.
        auto half = b / 2;
        std::uniform_int_distribution<long long> d(0, std::max<long long>(1, half.count()));
        return half + clock::duration(d(rng));
    }
};

namespace {

using state_ptr = std::shared_ptr<upstream_pool::state>;

struct running_guard {
    explicit running_guard(int& n) : n_(n) { ++n_; }
    ~running_guard() { --n_; }
    int& n_;
};

asio::awaitable<bool> cancelled() {
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() != asio::cancellation_type::none;
}

// The next request for this slot, or null when the slot should leave its
// connection: stopping, or the idle connection failed its health check.
asio::awaitable<req_ptr> next_request(state_ptr st, slot& s) {
    for (;;) {
        if (!st->queue.empty() && s.inflight.size() < st->cfg.pipeline) {
            req_ptr r = std::move(st->queue.front());
            st->queue.pop_front();
            if (r->done) continue;  // expired while queued
            if (!st->queue.empty()) st->wake_one();  // let another slot take the rest
            co_return r;
        }
        if (st->stopping && s.inflight.empty()) co_return nullptr;
        s.waiting = true;
        auto interval = st->cfg.health_check_interval;
        if (interval > clock::duration::zero()) s.wake.expires_after(interval);
        else s.wake.expires_at(forever);
        auto [ec] = co_await s.wake.async_wait(as_tuple(use_awaitable));
        s.waiting = false;
        if (co_await cancelled()) co_return nullptr;
        if (!ec && s.inflight.empty() && !peer_alive(s.socket)) {
            SB_LOG(st->log, warning) << "upstream " << st->cfg.target.to_string() << " slot " << s.index
                                     << ": health check failed (peer closed the connection)";
            co_return nullptr;
        }
    }
}

// Reads the next complete reply into s.buf[s.begin, s.begin + size).
asio::awaitable<std::pair<std::error_code, std::size_t>> read_frame(slot& s) {
    for (;;) {
        frame_result f = s.reader->scan(s.buf.pending());
        if (f.is_complete()) co_return std::pair{std::error_code{}, f.size};
        if (f.is_error()) co_return std::pair{f.ec, std::size_t{0}};
        auto room = s.buf.prepare();
        if (room.empty()) co_return std::pair{std::error_code(errc::frame_too_large), std::size_t{0}};
        auto [ec, n] = co_await s.socket.async_read_some(asio::buffer(room.data(), room.size()), as_tuple(use_awaitable));
        if (ec == asio::error::eof) {
            frame_result e = s.reader->at_eof(s.buf.pending());
            if (e.is_complete()) co_return std::pair{std::error_code{}, e.size};
        }
        if (ec) co_return std::pair{std::error_code(ec), std::size_t{0}};
        s.buf.commit(n);
    }
}

// Delivers one reply to the request it answers; stale or foreign replies are dropped.
void deliver(state_ptr& st, slot& s, std::size_t size) {
    bytes_view reply = s.buf.pending().first(size);
    auto drop = [&](const char* why) {
        SB_LOG(st->log, debug) << "upstream slot " << s.index << ": dropped reply (" << why << ") "
                               << st->proto.describe(reply);
    };
    auto it = s.inflight.begin();
    if (st->proto.has_tags()) {
        auto t = st->proto.tag(reply);
        while (it != s.inflight.end() && (!t || it->tag != *t)) ++it;
        if (it == s.inflight.end()) return drop("no request with this id");
    } else if (it == s.inflight.end()) {
        return drop("no request outstanding");
    }
    if (!st->proto.response_matches(it->req->data, reply)) return drop("unit or function differs from the request");
    req_ptr r = std::move(it->req);
    s.inflight.erase(it);
    ++s.replies;
    if (!r->done) {
        r->response.assign(reply.begin(), reply.end());
        r->upstream_closes = s.reader->closes_connection();
    }
    upstream_pool::state::complete(r, {});
}

void fail_in_flight(slot& s, std::error_code ec) {
    for (auto& f : s.inflight) upstream_pool::state::complete(f.req, ec);
    s.inflight.clear();
}

clock::duration grace_of(const state_ptr& st) { return st->cfg.timeout; }

// A reply overdue by more than a timeout past its deadline means the
// connection is stuck: returning tears it down.
asio::awaitable<void> watchdog(state_ptr st, slot& s) {
    for (;;) {
        auto at = s.overdue_at(grace_of(st));
        if (at != forever && clock::now() >= at) {
            SB_LOG(st->log, warning) << "upstream " << st->cfg.target.to_string() << " slot " << s.index
                                     << ": no reply within " << format_duration(2 * st->cfg.timeout)
                                     << ", reconnecting";
            co_return;
        }
        s.watchdog.expires_at(at);
        co_await s.watchdog.async_wait(as_tuple(use_awaitable));
        if (co_await cancelled()) co_return;
    }
}

void arm_watchdog(slot& s, std::size_t before) {
    if (before == 0) s.watchdog.cancel();  // it sleeps until "forever": re-arm with the new deadline
}

// One request at a time: what devices that serve one request at a time need.
asio::awaitable<void> serve_serial(state_ptr st, slot& s) {
    for (;;) {
        req_ptr r = co_await next_request(st, s);
        if (!r) co_return;
        // A connection idle for a while may have been closed by the peer in
        // the meantime; find out before sending rather than fail the request.
        if (clock::now() - s.idle_since > std::chrono::milliseconds(1) && !peer_alive(s.socket)) {
            st->queue.push_front(std::move(r));
            SB_LOG(st->log, info) << "upstream slot " << s.index << ": idle connection was closed by the peer";
            co_return;
        }
        std::uint16_t tag = 0;
        if (st->proto.has_tags()) {
            tag = s.fresh_tag();
            st->proto.set_tag(r->data, tag);
        }
        s.reader->expect_response_to(r->data);
        bool closes = false;
        s.inflight.push_back({r, tag});
        arm_watchdog(s, 0);
        auto [wec, wn] = co_await asio::async_write(s.socket, asio::buffer(r->data), as_tuple(use_awaitable));
        if (wec) {
            fail_in_flight(s, st->stopping ? errc::shutting_down : errc::upstream_failed);
            co_return;
        }
        while (!s.inflight.empty()) {
            auto [ec, size] = co_await read_frame(s);
            if (ec) {
                if (!aborted(ec))
                    SB_LOG(st->log, info) << "upstream slot " << s.index << ": " << ec.message();
                fail_in_flight(s, st->stopping ? errc::shutting_down : errc::upstream_failed);
                co_return;
            }
            deliver(st, s, size);
            closes = s.reader->closes_connection();
            s.buf.consume(size);
            s.reader->reset();
        }
        s.idle_since = clock::now();
        if (closes) co_return;  // the upstream ends this connection after its reply
    }
}

asio::awaitable<void> pipeline_writer(state_ptr st, slot& s) {
    std::vector<std::uint8_t> batch;
    for (;;) {
        req_ptr r = co_await next_request(st, s);
        if (!r) co_return;
        std::size_t before = s.inflight.size();
        batch.clear();
        // Everything already queued that fits the window goes out in one
        // write: one syscall for many requests is what makes pipelining pay.
        for (;;) {
            std::uint16_t tag = s.fresh_tag();
            st->proto.set_tag(r->data, tag);
            batch.insert(batch.end(), r->data.begin(), r->data.end());
            s.inflight.push_back({std::move(r), tag});
            if (s.inflight.size() >= st->cfg.pipeline) break;
            while (!st->queue.empty() && st->queue.front()->done) st->queue.pop_front();
            if (st->queue.empty()) break;
            r = std::move(st->queue.front());
            st->queue.pop_front();
        }
        arm_watchdog(s, before);
        auto [ec, n] = co_await asio::async_write(s.socket, asio::buffer(batch), as_tuple(use_awaitable));
        if (ec) co_return;
    }
}

asio::awaitable<void> run_sweeper(state_ptr st) {
    running_guard alive(st->running);
    for (;;) {
        if (st->stopping && st->queue.empty() && st->in_flight_count() == 0) co_return;
        bool pending = st->sweep(clock::now());
        st->sweeper_idle = !pending;
        // While stopping, keep ticking: the slots leave without waking it.
        if (pending || st->stopping) st->sweeper.expires_after(st->sweep_tick());
        else st->sweeper.expires_at(forever);  // exchange() wakes it
        co_await st->sweeper.async_wait(as_tuple(use_awaitable));
        if (st->stopping && st->queue.empty() && st->in_flight_count() == 0) co_return;
    }
}

asio::awaitable<void> pipeline_reader(state_ptr st, slot& s) {
    for (;;) {
        auto [ec, size] = co_await read_frame(s);
        if (ec) {
            if (!aborted(ec))
                SB_LOG(st->log, info) << "upstream slot " << s.index << ": " << ec.message();
            co_return;
        }
        std::size_t before = s.inflight.size();
        deliver(st, s, size);
        bool closes = s.reader->closes_connection();
        s.buf.consume(size);
        s.reader->reset();
        if (closes) co_return;
        if (s.inflight.size() < before) {
            if (s.waiting) {  // the writer may be parked on a full window
                s.waiting = false;
                s.wake.cancel();
            }
            if (s.inflight.empty() && st->stopping) co_return;
        }
    }
}

asio::awaitable<std::error_code> connect(state_ptr st, slot& s) {
    tcp::resolver resolver(st->io);
    auto [rec, results] = co_await (resolver.async_resolve(st->cfg.target.host, std::to_string(st->cfg.target.port),
                                                           as_tuple(use_awaitable)));
    if (rec) co_return rec;
    asio::steady_timer timer(st->io);
    timer.expires_after(st->cfg.connect_timeout);
    s.socket = tcp::socket(st->io);
    auto outcome = co_await (asio::async_connect(s.socket, results, as_tuple(use_awaitable)) ||
                             timer.async_wait(as_tuple(use_awaitable)));
    if (outcome.index() == 1) co_return std::error_code(boost::system::error_code(asio::error::timed_out));
    auto [cec, ep] = std::get<0>(outcome);
    co_return cec;
}

asio::awaitable<void> run_slot(state_ptr st, std::size_t index) {
    running_guard alive(st->running);
    slot& s = *st->slots[index];
    auto backoff = st->cfg.reconnect_backoff;
    const auto target = st->cfg.target.to_string();
    while (!st->stopping) {
        std::error_code ec = co_await connect(st, s);
        if (st->stopping) break;
        if (ec) {
            s.failed = true;
            if (st->all_down()) {
                st->fail_queue(errc::upstream_unavailable);
                if (!st->was_down)
                    SB_LOG(st->log, warning) << "upstream " << target << " unreachable: " << ec.message()
                                             << " (retrying with backoff up to "
                                             << format_duration(st->cfg.reconnect_backoff_max) << ")";
                st->was_down = true;
            }
            SB_LOG(st->log, debug) << "upstream " << target << " slot " << index << ": connect failed: " << ec.message();
            s.wake.expires_after(st->jittered(backoff));
            co_await s.wake.async_wait(as_tuple(use_awaitable));
            backoff = std::min(backoff * 2, st->cfg.reconnect_backoff_max);
            continue;
        }
        tune_socket(s.socket, st->cfg.health_check_interval);
        if (st->cfg.delay > clock::duration::zero()) {
            // Some devices drop the first request sent right after accepting.
            s.wake.expires_after(st->cfg.delay);
            co_await s.wake.async_wait(as_tuple(use_awaitable));
            if (st->stopping) break;
        }
        s.up = true;
        s.failed = false;
        if (st->was_down) SB_LOG(st->log, notice) << "upstream " << target << " reachable again";
        st->was_down = false;
        SB_LOG(st->log, info) << "upstream " << target << " slot " << index << " connected";
        s.reader = st->proto.make_response_framer(st->cfg.max_message);
        s.buf = frame_buffer(st->cfg.max_message, 4096);
        s.idle_since = clock::now();
        if (!st->queue.empty()) st->wake_one();
        const auto connected_at = clock::now();
        const auto replies_before = s.replies;

        if (st->cfg.pipeline > 1)
            co_await ((pipeline_writer(st, s) || pipeline_reader(st, s)) || watchdog(st, s));
        else
            co_await (serve_serial(st, s) || watchdog(st, s));

        s.up = false;
        fail_in_flight(s, st->stopping ? errc::shutting_down : errc::upstream_failed);
        boost::system::error_code ignored;
        s.socket.close(ignored);
        SB_LOG(st->log, info) << "upstream " << target << " slot " << index << " disconnected";
        if (st->stopping) break;
        // A connection that served replies or lived a while ended normally
        // (keep-alive closed, device restarted): reconnect at once. One that
        // the peer closed straight away (a forwarder with nothing behind it,
        // a device at its connection limit) must not become a reconnect storm.
        if (s.replies != replies_before || clock::now() - connected_at > std::chrono::seconds(1)) {
            backoff = st->cfg.reconnect_backoff;
        } else {
            s.wake.expires_after(st->jittered(backoff));
            co_await s.wake.async_wait(as_tuple(use_awaitable));
            backoff = std::min(backoff * 2, st->cfg.reconnect_backoff_max);
        }
    }
    s.up = false;
    fail_in_flight(s, errc::shutting_down);
}

}  // namespace

upstream_pool::upstream_pool(asio::io_context& io, const protocol& proto, pool_config cfg, logger log)
    : state_(std::make_shared<state>(io, proto, std::move(cfg), std::move(log))) {}

upstream_pool::~upstream_pool() = default;

void upstream_pool::start() {
    for (std::size_t i = 0; i < state_->slots.size(); ++i) asio::co_spawn(state_->io, run_slot(state_, i), asio::detached);
    asio::co_spawn(state_->io, run_sweeper(state_), asio::detached);
}

void upstream_pool::stop(clock::duration grace) {
    auto& st = *state_;
    if (!st.stopping) {
        st.stopping = true;
        st.fail_queue(errc::shutting_down);
        st.wake_all();  // idle slots leave now; busy ones after their replies
        st.sweeper.cancel();
    }
    if (grace <= clock::duration::zero()) {
        boost::system::error_code ignored;
        for (auto& s : st.slots) {
            s->socket.close(ignored);
            s->wake.cancel();
            s->watchdog.cancel();
        }
        st.sweeper.cancel();
    }
}

asio::awaitable<std::error_code> upstream_pool::exchange(std::shared_ptr<exchange_request> req) {
    auto& st = *state_;
    req->done = false;
    req->upstream_closes = false;
    req->ec.clear();
    req->response.clear();
    req->submitted = clock::now();
    req->deadline = req->submitted + st.cfg.timeout;
    if (st.stopping) co_return errc::shutting_down;
    if (st.all_down()) co_return errc::upstream_unavailable;
    // Requests that an idle connection is about to take are not waiting.
    std::size_t free = 0;
    for (auto& s : st.slots)
        if (s->up) free += st.cfg.pipeline - std::min(st.cfg.pipeline, s->inflight.size());
    if (st.queue.size() >= st.cfg.queue_size + free) co_return errc::queue_full;
    st.queue.push_back(req);
    st.wake_one();
    if (st.sweeper_idle) {
        st.sweeper_idle = false;
        st.sweeper.expires_after(st.sweep_tick());
    }
    // Completion cancels the wait; the sweeper enforces the deadline.
    req->timer.expires_at(forever);
    co_await req->timer.async_wait(as_tuple(use_awaitable));
    if (!req->done) {  // cancelled from outside (shutdown)
        req->done = true;
        req->ec = errc::shutting_down;
    }
    co_return req->ec;
}

pool_stats upstream_pool::stats() const {
    pool_stats p;
    p.queued = state_->queue.size();
    p.in_flight = state_->in_flight_count();
    p.slots = state_->slots.size();
    for (auto& s : state_->slots) p.connected += s->up ? 1 : 0;
    return p;
}

const pool_config& upstream_pool::config() const { return state_->cfg; }

bool upstream_pool::stopped() const { return state_->stopping && state_->running == 0; }

}  // namespace sb::core
