#include "core/admin_http.hpp"

#include "core/tcp_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <list>
#include <map>
#include <optional>

namespace sb::core {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using asio::as_tuple;

// A request waiting for its handler's reply: shared with the responder,
// which may be called after the connection is gone.
struct pending_reply {
    explicit pending_reply(asio::any_io_executor ex) : timer(std::move(ex)) {}
    std::optional<http_reply> reply;
    asio::steady_timer timer;
};

struct admin_http::impl {
    asio::io_context& io;
    endpoint listen;
    logger log;
    http_options options;
    tcp::acceptor acceptor;
    std::map<std::string, http_handler> routes;
    http_request_handler fallback;
    struct session {
        beast::tcp_stream* stream;
        std::shared_ptr<pending_reply> waiting;
    };
    std::list<session> sessions;
    bool stopping = false;

    impl(asio::io_context& i, endpoint l, logger lg, http_options o)
        : io(i), listen(std::move(l)), log(std::move(lg)), options(o), acceptor(i) {}
};

namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

http_reply plain(unsigned status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body)}; }

// The reply to one request: a GET route, else the fallback (which may answer
// later), else 404/405.
http_request to_request(const http::request<http::string_body>& req) {
    http_request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (auto& f : req) request.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return request;
}

asio::awaitable<http_reply> answer(std::shared_ptr<admin_http::impl> self, std::list<admin_http::impl::session>::iterator me,
                                   http::request<http::string_body>& req) {
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    if (!get && self->options.read_only) {
        auto r = plain(405, "method not allowed\n");
        r.headers.emplace_back("Allow", "GET, HEAD");
        co_return r;
    }
    std::string target(req.target());
    if (get) {
        auto it = self->routes.find(target.substr(0, target.find('?')));
        if (it != self->routes.end()) co_return it->second(target);
    }
    if (!self->fallback) co_return plain(404, "not found\n");

    http_request request = to_request(req);
    request.body = std::move(req.body());
    auto waiting = std::make_shared<pending_reply>(co_await asio::this_coro::executor);
    waiting->timer.expires_after(self->options.reply_timeout);
    me->waiting = waiting;
    self->fallback(std::move(request), [waiting](http_reply r) {
        if (waiting->reply) return;
        waiting->reply = std::move(r);
        waiting->timer.cancel();
    });
    if (!waiting->reply) co_await waiting->timer.async_wait(as_tuple(use_awaitable));
    me->waiting.reset();
    if (waiting->reply) co_return std::move(*waiting->reply);
    co_return plain(self->stopping ? 503 : 504, self->stopping ? "shutting down\n" : "no reply in time\n");
}

asio::awaitable<void> write_reply(beast::tcp_stream& stream, const http_reply& r, unsigned version, bool keep_alive,
                                  bool head) {
    http::response<http::string_body> res;
    res.version(version);
    res.keep_alive(keep_alive);
    res.set(http::field::server, "switchboard");
    res.result(r.status);
    res.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) res.set(name, value);
    res.body() = r.body;
    res.prepare_payload();
    if (head) res.body().clear();
    stream.expires_after(std::chrono::seconds(10));
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    if (ec) stream.socket().close(ec);
}

asio::awaitable<void> serve(std::shared_ptr<admin_http::impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    self->sessions.push_back({&stream, nullptr});
    auto it = std::prev(self->sessions.end());
    // Whatever way this coroutine ends, stop() must not see its stream.
    struct erase_on_exit {
        admin_http::impl& impl;
        std::list<admin_http::impl::session>::iterator it;
        ~erase_on_exit() { impl.sessions.erase(it); }
    } guard{*self, it};
    beast::flat_buffer buffer(16 * 1024);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(self->options.header_limit));
        parser.body_limit(self->options.body_limit);
        stream.expires_after(std::chrono::seconds(10));
        auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
        if (!hec && self->options.check_header) {
            auto refusal = self->options.check_header(to_request(parser.get()));
            if (refusal) {
                co_await write_reply(stream, *refusal, parser.get().version(), false, false);
                break;
            }
        }
        // Plain statements: g++ 12 miscompiles a co_await inside a conditional expression.
        beast::error_code ec = hec;
        if (!ec) {
            auto [bec, bn] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
            ec = bec;
        }
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            // Tell the client why, then close: the rest of its body is unread.
            unsigned status = 431;
            if (ec == http::error::body_limit) status = 413;
            co_await write_reply(stream, plain(status, ec.message() + "\n"), 11, false, false);
            break;
        }
        if (ec) {
            if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted)
                SB_LOG(self->log, debug) << "http: " << ec.message();
            break;
        }
        auto& req = parser.get();
        http_reply r;
        try {
            r = co_await answer(self, it, req);
        } catch (const std::exception& e) {
            SB_LOG(self->log, error) << "http: " << req.method_string() << " " << req.target() << ": " << e.what();
            r = plain(500, "internal error\n");
        }
        if (self->stopping && !stream.socket().is_open()) break;
        const bool keep_alive = req.keep_alive() && !self->stopping;
        co_await write_reply(stream, r, req.version(), keep_alive, req.method() == http::verb::head);
        if (!keep_alive || !stream.socket().is_open()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<admin_http::impl> self) {
    for (;;) {
        auto [ec, socket] = co_await self->acceptor.async_accept(as_tuple(use_awaitable));
        if (ec) {
            if (self->stopping || ec == asio::error::operation_aborted) break;
            SB_LOG(self->log, warning) << "admin http accept: " << ec.message();
            continue;
        }
        if (self->sessions.size() >= self->options.max_sessions) {
            SB_LOG(self->log, warning) << "admin http: too many connections, closing one";
            continue;
        }
        asio::co_spawn(self->io, serve(self, std::move(socket)), asio::detached);
    }
}

}  // namespace

std::string_view http_request::header(std::string_view name) const {
    for (auto& [n, v] : headers)
        if (iequals(n, name)) return v;
    return {};
}

admin_http::admin_http(asio::io_context& io, endpoint listen, logger log, http_options options)
    : impl_(std::make_shared<impl>(io, std::move(listen), std::move(log), options)) {}

admin_http::~admin_http() { stop(); }

void admin_http::route(std::string path, http_handler handler) { impl_->routes[std::move(path)] = std::move(handler); }

void admin_http::fallback(http_request_handler handler) { impl_->fallback = std::move(handler); }

void admin_http::start() {
    open_listener(impl_->acceptor, impl_->listen);
    SB_LOG(impl_->log, notice) << "http listening on " << local_endpoint().to_string();
    asio::co_spawn(impl_->io, accept_loop(impl_), asio::detached);
}

void admin_http::stop() {
    if (!impl_ || impl_->stopping) return;
    impl_->stopping = true;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto& s : impl_->sessions) {
        s.stream->socket().close(ignored);
        if (s.waiting) s.waiting->timer.cancel();
    }
}

endpoint admin_http::local_endpoint() const {
    beast::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return {ep.address().to_string(), ep.port()};
}

}  // namespace sb::core
