#pragma once
// The part of a WebSocket link both ends share (the user's, accepted by
// us, and a videotex server's, connected by us): one Beast stream, messages
// in and out with the one-character-per-byte text convention. Its methods
// live in ws_end.cpp so Beast's read, write and close templates are
// compiled once. Included only by the links' .cpp files.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>
#include <string_view>

#include "websocket/links.hpp"

namespace sb::ws::detail {

using ws_stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

class ws_end {
public:
    explicit ws_end(boost::beast::tcp_stream stream);
    ws_stream& ws() { return ws_; }

protected:
    // One whole message, appended as bytes (text frames decoded).
    boost::asio::awaitable<error_code> read_message(std::string& data);
    // One message: a text frame (the bytes as characters) or a binary one.
    boost::asio::awaitable<error_code> send_message(std::string_view raw, bool binary);
    boost::asio::awaitable<void> close_with(boost::beast::websocket::close_code code);
    void close_socket();

    ws_stream ws_;
    boost::beast::flat_buffer in_;
    std::string text_;  // scratch for send_message, capacity reused
};

}  // namespace sb::ws::detail
