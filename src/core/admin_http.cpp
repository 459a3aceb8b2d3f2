#include "core/admin_http.hpp"

#include "core/tcp_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <map>

namespace sb::core {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using asio::as_tuple;

struct admin_http::impl {
    asio::io_context& io;
    endpoint listen;
    logger log;
    tcp::acceptor acceptor;
    std::map<std::string, http_handler> routes;
    std::list<beast::tcp_stream*> sessions;
    bool stopping = false;
    static constexpr std::size_t max_sessions = 64;

    impl(asio::io_context& i, endpoint l, logger lg) : io(i), listen(std::move(l)), log(std::move(lg)), acceptor(i) {}

    http_reply dispatch(const std::string& target) {
        auto path = target.substr(0, target.find('?'));
        auto it = routes.find(path);
        if (it == routes.end()) return {404, "text/plain; charset=utf-8", "not found\n"};
        return it->second(target);
    }
};

namespace {

asio::awaitable<void> serve(std::shared_ptr<admin_http::impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    self->sessions.push_back(&stream);
    auto it = std::prev(self->sessions.end());
    beast::flat_buffer buffer(16 * 1024);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(8 * 1024);
        parser.body_limit(16 * 1024);
        stream.expires_after(std::chrono::seconds(10));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
        if (ec) {
            if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted)
                SB_LOG(self->log, debug) << "admin http: " << ec.message();
            break;
        }
        auto& req = parser.get();
        http::response<http::string_body> res;
        res.version(req.version());
        res.keep_alive(req.keep_alive());
        res.set(http::field::server, "switchboard");
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "method not allowed\n";
        } else {
            http_reply r = self->dispatch(std::string(req.target()));
            res.result(r.status);
            res.set(http::field::content_type, r.content_type);
            res.body() = std::move(r.body);
        }
        res.prepare_payload();
        if (req.method() == http::verb::head) res.body().clear();
        stream.expires_after(std::chrono::seconds(10));
        auto [wec, wn] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
        if (wec || !res.keep_alive() || self->stopping) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    self->sessions.erase(it);
}

asio::awaitable<void> accept_loop(std::shared_ptr<admin_http::impl> self) {
    for (;;) {
        auto [ec, socket] = co_await self->acceptor.async_accept(as_tuple(use_awaitable));
        if (ec) {
            if (self->stopping || ec == asio::error::operation_aborted) break;
            SB_LOG(self->log, warning) << "admin http accept: " << ec.message();
            continue;
        }
        if (self->sessions.size() >= admin_http::impl::max_sessions) {
            SB_LOG(self->log, warning) << "admin http: too many connections, closing one";
            continue;
        }
        asio::co_spawn(self->io, serve(self, std::move(socket)), asio::detached);
    }
}

}  // namespace

admin_http::admin_http(asio::io_context& io, endpoint listen, logger log)
    : impl_(std::make_shared<impl>(io, std::move(listen), std::move(log))) {}

admin_http::~admin_http() { stop(); }

void admin_http::route(std::string path, http_handler handler) { impl_->routes[std::move(path)] = std::move(handler); }

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
    for (auto* s : impl_->sessions) s->socket().close(ignored);
}

endpoint admin_http::local_endpoint() const {
    beast::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return {ep.address().to_string(), ep.port()};
}

}  // namespace sb::core
