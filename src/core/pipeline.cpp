#include "core/pipeline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/frame_buffer.hpp"

namespace sb::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

struct client {
    tcp::socket socket;
    std::shared_ptr<pipeline_context> ctx;
    logger log;
    std::string peer;
    clock::time_point deadline = clock::time_point::max();  // pushed forward by the worker
};

void push_deadline(client& c) {
    if (c.ctx->client_timeout > clock::duration::zero()) c.deadline = clock::now() + c.ctx->client_timeout;
}

asio::awaitable<void> watchdog(client& c) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto now = clock::now();
    while (c.deadline > now) {
        timer.expires_at(c.deadline);
        co_await timer.async_wait(use_awaitable);
        now = clock::now();
    }
    SB_LOG(c.log, info) << "client " << c.peer << " idle for " << format_duration(c.ctx->client_timeout)
                        << ", closing";
}

const char* outcome_name(std::error_code ec) {
    if (!ec) return "ok";
    if (ec == errc::request_timeout) return "timeout";
    if (ec == errc::queue_full) return "queue full";
    if (ec == errc::upstream_unavailable) return "upstream unavailable";
    if (ec == errc::upstream_failed) return "upstream failed";
    if (ec == errc::shutting_down) return "shutting down";
    return "error";
}

void count_failure(pipeline_metrics& m, std::error_code ec) {
    m.failed->inc();
    if (ec == errc::request_timeout) m.timeouts->inc();
    else if (ec == errc::queue_full) m.queue_full->inc();
    else if (ec == errc::upstream_unavailable) m.unavailable->inc();
}

asio::awaitable<void> work(client& c, session_registry::guard& reg) {
    auto& ctx = *c.ctx;
    const protocol& proto = ctx.proto;
    auto framer = proto.make_request_framer(ctx.max_message);
    auto req = std::make_shared<exchange_request>(c.socket.get_executor());
    frame_buffer buf(ctx.max_message, 1024);
    std::vector<std::uint8_t> reply;

    for (;;) {
        bytes_view pending = buf.pending();
        frame_result f = framer->scan(pending);
        if (f.is_error()) {
            ctx.metrics.bad_frames->inc();
            SB_LOG(c.log, warning) << "client " << c.peer << ": " << f.ec.message() << ", closing";
            auto answer = proto.error_response(pending, f.ec);
            if (!answer.empty()) co_await asio::async_write(c.socket, asio::buffer(answer), as_tuple(use_awaitable));
            co_return;
        }
        if (f.is_need_more()) {
            if (ctx.sessions.stopping() && pending.empty()) co_return;
            auto room = buf.prepare();
            if (room.empty()) {  // the framer should have said so; never grow past the limit
                SB_LOG(c.log, warning) << "client " << c.peer << ": message over " << ctx.max_message << " bytes, closing";
                co_return;
            }
            reg.busy(!pending.empty());
            auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(room.data(), room.size()),
                                                             as_tuple(use_awaitable));
            if (ec) {
                if (ec == asio::error::eof) {
                    frame_result e = framer->at_eof(buf.pending());
                    if (e.is_error() || (e.is_need_more() && !buf.pending().empty()))
                        SB_LOG(c.log, info) << "client " << c.peer << " closed mid-message (" << buf.pending().size()
                                            << " bytes dropped)";
                } else if (ec != asio::error::operation_aborted) {
                    SB_LOG(c.log, info) << "client " << c.peer << ": " << ec.message();
                }
                co_return;
            }
            buf.commit(n);
            push_deadline(c);
            continue;
        }

        // One complete request.
        reg.busy(true);
        bytes_view request = pending.first(f.size);
        auto t0 = clock::now();
        // A request the pool still holds (its deadline passed before the
        // reply came) must not be reused: the late reply would land in it.
        if (req.use_count() > 1) req = std::make_shared<exchange_request>(c.socket.get_executor());
        req->data.assign(request.begin(), request.end());
        // Waiting for the reply is not idleness: the pool's --timeout bounds it.
        if (ctx.client_timeout > clock::duration::zero())
            c.deadline = clock::now() + ctx.client_timeout + ctx.pool->config().timeout + std::chrono::seconds(1);
        auto ec = co_await ctx.pool->exchange(req);
        push_deadline(c);
        auto latency = clock::now() - t0;
        if (!ec) {
            reply.swap(req->response);
            if (proto.has_tags()) {
                if (auto t = proto.tag(request)) proto.set_tag(reply, *t);
            }
            ctx.metrics.requests->inc();
            ctx.metrics.latency->observe(latency);
        } else {
            count_failure(ctx.metrics, ec);
            reply = proto.error_response(request, ec);
        }
        SB_LOG(c.log, debug) << "client " << c.peer << " " << proto.describe(request) << " -> " << outcome_name(ec)
                             << " in " << std::chrono::duration_cast<std::chrono::microseconds>(latency).count()
                             << " us";
        if (reply.empty()) {
            SB_LOG(c.log, info) << "client " << c.peer << ": request failed (" << ec.message()
                                << ") and the protocol has no error reply: closing";
            co_return;
        }
        // The upstream ended the connection after this reply: a body that
        // ends at close tells the client so only by closing too.
        bool close_after = framer->closes_connection() || (!ec && req->upstream_closes);
        buf.consume(f.size);
        framer->reset();
        auto [wec, wn] = co_await asio::async_write(c.socket, asio::buffer(reply), as_tuple(use_awaitable));
        if (wec) {
            SB_LOG(c.log, info) << "client " << c.peer << ": write failed: " << wec.message();
            co_return;
        }
        push_deadline(c);
        if (close_after || ctx.sessions.stopping()) co_return;
    }
}

}  // namespace

asio::awaitable<void> serve_client(tcp::socket socket, std::shared_ptr<pipeline_context> ctx, std::uint64_t id) {
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    client c{std::move(socket), ctx, ctx->log.with_connection(id),
             ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port()),
             clock::time_point::max()};
    c.socket.set_option(tcp::no_delay(true), ec);
    session_registry::guard reg(ctx->sessions, c.socket, id);
    ctx->metrics.clients_total->inc();
    SB_LOG(c.log, info) << "client " << c.peer << " connected";
    if (ctx->client_timeout > clock::duration::zero()) {
        push_deadline(c);
        co_await (work(c, reg) || watchdog(c));
    } else {
        co_await work(c, reg);
    }
    c.socket.shutdown(tcp::socket::shutdown_both, ec);
    c.socket.close(ec);
    SB_LOG(c.log, info) << "client " << c.peer << " disconnected";
}

}  // namespace sb::core
