// Our side of a connection to a WebSocket videotex server.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "websocket/links_detail.hpp"
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

constexpr std::string_view user_agent = "Switchboard minitel gateway";

class ws_service final : public service_link, public ws_end {
public:
    ws_service(asio::any_io_executor ex, server_profile p, std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds ping_interval)
        : ws_end(beast::tcp_stream(ex)), p_(std::move(p)), timeout_(connect_timeout), ping_(ping_interval) {}

    awaitable<error_code> connect() override {
        auto& sock = beast::get_lowest_layer(ws_).socket();
        if (auto ec = co_await detail::connect_within(sock, p_.url.host, p_.url.port, timeout_)) co_return ec;
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
            req.set(http::field::user_agent, user_agent);
            if (!protocols.empty()) req.set(http::field::sec_websocket_protocol, protocols);
        }));
        const bool v6 = p_.url.host.find(':') != std::string::npos;
        const auto host = (v6 ? "[" + p_.url.host + "]" : p_.url.host) + ":" + p_.url.port;
        auto [ec] = co_await ws_.async_handshake(host, p_.url.path, tuple_awaitable);
        co_return ec;
    }
    awaitable<error_code> read(std::string& data, std::string&) override { return read_message(data); }
    awaitable<error_code> write(std::string_view raw) override { return send_message(raw, p_.binary_frames); }
    awaitable<error_code> write_control(std::string_view) override { co_return error_code{}; }
    awaitable<void> close_gracefully() override { return close_with(websocket::close_code::normal); }
    void close_now() override { close_socket(); }

private:
    server_profile p_;
    std::chrono::milliseconds timeout_, ping_;
};

}  // namespace

std::unique_ptr<service_link> detail::make_ws_service(asio::any_io_executor ex, const server_profile& p,
                                                      std::chrono::milliseconds connect_timeout,
                                                      std::chrono::milliseconds ping_interval) {
    return std::make_unique<ws_service>(ex, p, connect_timeout, ping_interval);
}

}  // namespace sb::ws
