// The user's side of a WebSocket session: the HTTP upgrade, its checks and
// the handshake.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "websocket/links.hpp"
#include "websocket/ws_end.hpp"

namespace sb::ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);
namespace http = beast::http;
using detail::ws_end;

namespace {

constexpr std::string_view server_name = "Switchboard minitel gateway";

class ws_user final : public user_link, public ws_end {
public:
    using ws_end::ws_end;

    awaitable<error_code> read(std::string& data, std::string&) override { return read_message(data); }
    void encode(std::string_view raw, std::string& wire) const override { wire.append(raw); }
    bool wire_is_raw() const override { return true; }
    awaitable<error_code> write(std::string_view wire) override { return send_message(wire, false); }
    awaitable<void> close_gracefully(bool going_away) override {
        return close_with(going_away ? websocket::close_code::going_away : websocket::close_code::normal);
    }
    void close_now() override { close_socket(); }
};

awaitable<void> reply(beast::tcp_stream& stream, http::status status, std::string body) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, server_name);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::connection, "close");
    if (status == http::status::upgrade_required) res.set(http::field::upgrade, "websocket");
    if (status == http::status::service_unavailable) res.set(http::field::retry_after, "30");
    res.body() = std::move(body);
    res.prepare_payload();
    (void)co_await http::async_write(stream, res, tuple_awaitable);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// The first of the client's subprotocols that we speak: Minitel clients ask
// for "tty" (text) or "binary"; both mean the same bytes to us.
std::string pick_subprotocol(std::string_view offered) {
    while (!offered.empty()) {
        const auto comma = offered.find(',');
        auto item = offered.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item == "tty" || item == "binary") return std::string(item);
        if (comma == std::string_view::npos) break;
        offered.remove_prefix(comma + 1);
    }
    return {};
}

}  // namespace

awaitable<ws_accept_result> accept_websocket(tcp::socket sock, const ws_accept_options& opt,
                                             std::function<bool()> admit) {
    ws_accept_result r;
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    stream.expires_after(opt.handshake_timeout);
    auto [ec, n] = co_await http::async_read(stream, buf, parser, tuple_awaitable);
    if (ec) {
        r.why = "bad upgrade request: " + ec.message();
        // Garbage gets a 400; a peer that went away or timed out gets nothing.
        if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
            ec != http::error::end_of_stream) {
            r.status = 400;
            co_await reply(stream, http::status::bad_request, "Bad request\n");
        }
        co_return r;
    }
    auto req = parser.release();
    if (!websocket::is_upgrade(req)) {
        r.status = 426;
        r.why = "not a WebSocket upgrade";
        co_await reply(stream, http::status::upgrade_required, "This is a Minitel WebSocket gateway\n");
        co_return r;
    }
    if (!opt.allowed_origins.empty()) {
        const auto origin = std::string(req[http::field::origin]);
        if (std::find(opt.allowed_origins.begin(), opt.allowed_origins.end(), origin) == opt.allowed_origins.end()) {
            r.status = 403;
            r.why = "Origin '" + origin.substr(0, 200) + "' is not allowed";
            co_await reply(stream, http::status::forbidden, "Origin not allowed\n");
            co_return r;
        }
    }
    if (!admit()) {
        r.status = 503;
        r.why = "session limit reached";
        co_await reply(stream, http::status::service_unavailable, "Too many sessions, try again later\n");
        co_return r;
    }
    r.admitted = true;
    error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    r.subprotocol = pick_subprotocol(req[http::field::sec_websocket_protocol]);
    stream.expires_never();
    auto link = std::make_unique<ws_user>(std::move(stream));
    auto& ws = link->ws();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = opt.handshake_timeout;
    // Beast pings after half the idle time without traffic and closes when
    // the whole idle time passes without an answer.
    t.idle_timeout = 2 * std::chrono::duration_cast<std::chrono::steady_clock::duration>(opt.ping_interval);
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(opt.max_frame_size);
    ws.set_option(websocket::stream_base::decorator([proto = r.subprotocol](websocket::response_type& res) {
        res.set(http::field::server, server_name);
        if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
    }));
    auto [aec] = co_await ws.async_accept(req, tuple_awaitable);
    if (aec) {
        r.why = "WebSocket handshake failed: " + aec.message();
        co_return r;
    }
    r.link = std::move(link);
    co_return r;
}

}  // namespace sb::ws
