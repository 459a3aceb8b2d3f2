#pragma once
// The two ends of a Minitel session as byte pipes: the user (a WebSocket
// or Telnet client that connected to us) and the videotex service (ws://,
// telnet:// or tcp:// that we connect to). The session coroutines see only
// these interfaces; Beast stays inside links.cpp.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "websocket/directory.hpp"

namespace sb::ws {

using error_code = boost::system::error_code;

class user_link {
public:
    virtual ~user_link() = default;
    // Appends what the user typed (decoded: telnet commands and WebSocket
    // framing removed); negotiation answers are appended to control, ready
    // for the wire.
    virtual boost::asio::awaitable<error_code> read(std::string& data, std::string& control) = 0;
    // Raw videotex bytes into the link's wire form (telnet doubles 0xFF).
    virtual void encode(std::string_view raw, std::string& wire) const = 0;
    // encode() only appends (no escaping): raw bytes may be moved in.
    virtual bool wire_is_raw() const = 0;
    virtual boost::asio::awaitable<error_code> write(std::string_view wire) = 0;
    // WebSocket close 1000 (1001 when the gateway stops); Telnet: FIN.
    virtual boost::asio::awaitable<void> close_gracefully(bool going_away) = 0;
    virtual void close_now() = 0;
};

class service_link {
public:
    virtual ~service_link() = default;
    virtual boost::asio::awaitable<error_code> connect() = 0;
    virtual boost::asio::awaitable<error_code> read(std::string& data, std::string& control) = 0;
    virtual boost::asio::awaitable<error_code> write(std::string_view raw) = 0;
    virtual boost::asio::awaitable<error_code> write_control(std::string_view wire) = 0;
    // A close frame (WebSocket) or a FIN, with no other write in progress.
    virtual boost::asio::awaitable<void> close_gracefully() = 0;
    virtual void close_now() = 0;
};

struct ws_accept_options {
    std::size_t max_frame_size = 64 * 1024;
    std::chrono::milliseconds ping_interval{20000};
    std::chrono::milliseconds handshake_timeout{10000};
    std::vector<std::string> allowed_origins;
};

// The outcome of reading a WebSocket upgrade request: either a link, or an
// HTTP status already sent (400, 403, 426, 503) and why.
struct ws_accept_result {
    std::unique_ptr<user_link> link;
    unsigned status = 0;
    std::string why;
    std::string subprotocol;
    bool admitted = false;  // admit() said yes: the caller owes a release
};

// Reads the HTTP upgrade, checks Origin, asks admit() (limits) and
// completes the handshake, answering a "tty" or "binary" subprotocol.
boost::asio::awaitable<ws_accept_result> accept_websocket(boost::asio::ip::tcp::socket sock,
                                                          const ws_accept_options& opt,
                                                          std::function<bool()> admit);

// A Telnet user: negotiates BINARY, SGA and our ECHO, and ignores data for
// junk_time after connect.
std::unique_ptr<user_link> make_telnet_user(boost::asio::ip::tcp::socket sock, std::chrono::milliseconds junk_time);

// A connection to a videotex server, not yet connected.
std::unique_ptr<service_link> make_service_link(boost::asio::any_io_executor ex, const server_profile& p,
                                                std::chrono::milliseconds connect_timeout,
                                                std::chrono::milliseconds ping_interval);

}  // namespace sb::ws
