#include "websocket/links.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "core/telnet.hpp"
#include "websocket/latin1.hpp"

namespace sb::ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);
using ws_stream = websocket::stream<beast::tcp_stream>;

namespace {

constexpr std::string_view server_name = "Switchboard minitel gateway";

std::string_view view(const beast::flat_buffer& b) {
    return {static_cast<const char*>(b.cdata().data()), b.cdata().size()};
}

// A WebSocket message in either direction: text frames carry one character
// per byte, binary frames the bytes themselves.
void take_message(const ws_stream& ws, const beast::flat_buffer& in, std::string& data) {
    if (ws.got_text()) text_to_bytes(view(in), data);
    else data.append(view(in));
}

// text: scratch space, kept by the caller so its capacity is reused.
awaitable<error_code> send_message(ws_stream& ws, std::string_view raw, bool binary, std::string& text) {
    if (binary) {
        ws.binary(true);
        auto [ec, n] = co_await ws.async_write(asio::buffer(raw.data(), raw.size()), tuple_awaitable);
        co_return ec;
    }
    // Videotex is 7-bit: usually the text frame is the bytes themselves.
    std::string_view payload = raw;
    if (!is_ascii(raw)) {
        text.clear();
        bytes_to_text(raw, text);
        payload = text;
    }
    ws.text(true);
    auto [ec, n] = co_await ws.async_write(asio::buffer(payload.data(), payload.size()), tuple_awaitable);
    co_return ec;
}

// What both WebSocket ends (the user's and a server's) do alike.
class ws_end {
public:
    explicit ws_end(beast::tcp_stream stream) : ws_(std::move(stream)) {
        // One frame per message and large writes: Beast's default splits
        // messages into 4 KiB frames, a cost per frame on both ends.
        ws_.auto_fragment(false);
        ws_.write_buffer_bytes(64 * 1024);
    }
    ws_stream& ws() { return ws_; }

protected:
    awaitable<error_code> read_message(std::string& data) {
        in_.clear();
        auto [ec, n] = co_await ws_.async_read(in_, tuple_awaitable);
        if (!ec) take_message(ws_, in_, data);
        co_return ec;
    }
    awaitable<void> close_with(websocket::close_code code) {
        auto [ec] = co_await ws_.async_close(code, tuple_awaitable);
        (void)ec;
    }
    void close_socket() {
        error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    ws_stream ws_;
    beast::flat_buffer in_;
    std::string text_;
};

class ws_user final : public user_link, public ws_end {
public:
    using ws_end::ws_end;

    awaitable<error_code> read(std::string& data, std::string&) override { return read_message(data); }
    void encode(std::string_view raw, std::string& wire) const override { wire.append(raw); }
    bool wire_is_raw() const override { return true; }
    awaitable<error_code> write(std::string_view wire) override { return send_message(ws_, wire, false, text_); }
    awaitable<void> close_gracefully(bool going_away) override {
        return close_with(going_away ? websocket::close_code::going_away : websocket::close_code::normal);
    }
    void close_now() override { close_socket(); }
};

class telnet_user final : public user_link {
public:
    telnet_user(tcp::socket sock, std::chrono::milliseconds junk_time)
        : sock_(std::move(sock)),
          telnet_(core::telnet_policy::echoing_server()),
          junk_until_(std::chrono::steady_clock::now() + junk_time) {}

    awaitable<error_code> read(std::string& data, std::string& control) override {
        if (!greeted_) {
            // Our offers go out before anything is read: clients wait for them.
            greeted_ = true;
            control += telnet_.start();
            co_return error_code{};
        }
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), tuple_awaitable);
        if (ec) co_return ec;
        std::string decoded;
        telnet_.decode(std::string_view(buf_.data(), n), decoded, control);
        // Some clients type or paste a greeting of their own right after
        // connecting; a Minitel service would read it as keys.
        if (std::chrono::steady_clock::now() >= junk_until_) data += decoded;
        co_return ec;
    }
    void encode(std::string_view raw, std::string& wire) const override { core::telnet_session::encode(raw, wire); }
    bool wire_is_raw() const override { return false; }
    awaitable<error_code> write(std::string_view wire) override {
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(wire.data(), wire.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<void> close_gracefully(bool) override {
        error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
    }
    void close_now() override {
        error_code ignored;
        sock_.close(ignored);
    }

private:
    tcp::socket sock_;
    core::telnet_session telnet_;
    std::chrono::steady_clock::time_point junk_until_;
    bool greeted_ = false;
    std::array<char, 16 * 1024> buf_;
};

// Resolve and connect within the timeout, trying every address.
awaitable<error_code> connect_within(tcp::socket& sock, const std::string& host, const std::string& port,
                                     std::chrono::milliseconds timeout) {
    asio::steady_timer timer(sock.get_executor(), timeout);
    tcp::resolver resolver(sock.get_executor());
    auto attempt = [&]() -> awaitable<error_code> {
        auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
        if (rec) co_return rec;
        auto [cec, ep] = co_await asio::async_connect(sock, results, tuple_awaitable);
        co_return cec;
    };
    auto r = co_await (attempt() || timer.async_wait(tuple_awaitable));
    if (r.index() == 1) co_return asio::error::timed_out;
    co_return std::get<0>(r);
}

class raw_service : public service_link {
public:
    raw_service(asio::any_io_executor ex, service_url url, std::chrono::milliseconds timeout)
        : sock_(ex), url_(std::move(url)), timeout_(timeout) {}

    awaitable<error_code> connect() override {
        auto ec = co_await connect_within(sock_, url_.host, url_.port, timeout_);
        if (!ec) {
            error_code ignored;
            sock_.set_option(tcp::no_delay(true), ignored);
        }
        co_return ec;
    }
    awaitable<error_code> read(std::string& data, std::string& control) override {
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), tuple_awaitable);
        if (!ec) decode(std::string_view(buf_.data(), n), data, control);
        co_return ec;
    }
    awaitable<error_code> write(std::string_view raw) override {
        std::string wire;
        const std::string_view out = encode(raw, wire);
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out.data(), out.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<error_code> write_control(std::string_view wire) override {
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(wire.data(), wire.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<void> close_gracefully() override {
        error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
    }
    void close_now() override {
        error_code ignored;
        sock_.close(ignored);
    }

protected:
    virtual void decode(std::string_view in, std::string& data, std::string&) { data.append(in); }
    virtual std::string_view encode(std::string_view raw, std::string&) { return raw; }

    tcp::socket sock_;
    service_url url_;
    std::chrono::milliseconds timeout_;
    std::array<char, 64 * 1024> buf_;
};

class telnet_service final : public raw_service {
public:
    using raw_service::raw_service;

    awaitable<error_code> connect() override {
        auto ec = co_await raw_service::connect();
        if (ec) co_return ec;
        const auto hello = telnet_.start();
        co_return co_await write_control(hello);
    }

private:
    void decode(std::string_view in, std::string& data, std::string& control) override {
        telnet_.decode(in, data, control);
    }
    std::string_view encode(std::string_view raw, std::string& wire) override {
        core::telnet_session::encode(raw, wire);
        return wire;
    }

    core::telnet_session telnet_;
};

class ws_service final : public service_link, public ws_end {
public:
    ws_service(asio::any_io_executor ex, server_profile p, std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds ping_interval)
        : ws_end(beast::tcp_stream(ex)), p_(std::move(p)), timeout_(connect_timeout), ping_(ping_interval) {}

    awaitable<error_code> connect() override {
        auto& sock = beast::get_lowest_layer(ws_).socket();
        if (auto ec = co_await connect_within(sock, p_.url.host, p_.url.port, timeout_)) co_return ec;
        error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        websocket::stream_base::timeout t{};
        t.handshake_timeout = timeout_;
        t.idle_timeout = p_.ping ? 2 * std::chrono::duration_cast<std::chrono::steady_clock::duration>(ping_)
                                 : websocket::stream_base::none();
        t.keep_alive_pings = p_.ping;
        ws_.set_option(t);
        ws_.read_message_max(p_.max_frame_size);
        std::string protocols;
        for (auto& s : p_.subprotocols) protocols += (protocols.empty() ? "" : ", ") + s;
        ws_.set_option(websocket::stream_base::decorator([protocols](websocket::request_type& req) {
            req.set(http::field::user_agent, server_name);
            if (!protocols.empty()) req.set(http::field::sec_websocket_protocol, protocols);
        }));
        const bool v6 = p_.url.host.find(':') != std::string::npos;
        const auto host = (v6 ? "[" + p_.url.host + "]" : p_.url.host) + ":" + p_.url.port;
        auto [ec] = co_await ws_.async_handshake(host, p_.url.path, tuple_awaitable);
        co_return ec;
    }
    awaitable<error_code> read(std::string& data, std::string&) override { return read_message(data); }
    awaitable<error_code> write(std::string_view raw) override { return send_message(ws_, raw, p_.binary_frames, text_); }
    awaitable<error_code> write_control(std::string_view) override { co_return error_code{}; }
    awaitable<void> close_gracefully() override { return close_with(websocket::close_code::normal); }
    void close_now() override { close_socket(); }

private:
    server_profile p_;
    std::chrono::milliseconds timeout_, ping_;
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

std::unique_ptr<user_link> make_telnet_user(tcp::socket sock, std::chrono::milliseconds junk_time) {
    error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    return std::make_unique<telnet_user>(std::move(sock), junk_time);
}

std::unique_ptr<service_link> make_service_link(asio::any_io_executor ex, const server_profile& p,
                                                std::chrono::milliseconds connect_timeout,
                                                std::chrono::milliseconds ping_interval) {
    switch (p.url.kind) {
    case service_url::scheme::ws: return std::make_unique<ws_service>(ex, p, connect_timeout, ping_interval);
    case service_url::scheme::telnet: return std::make_unique<telnet_service>(ex, p.url, connect_timeout);
    case service_url::scheme::tcp:
    case service_url::scheme::local: break;
    }
    return std::make_unique<raw_service>(ex, p.url, connect_timeout);
}

}  // namespace sb::ws
