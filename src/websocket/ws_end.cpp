#include "websocket/ws_end.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "websocket/latin1.hpp"

namespace sb::ws::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

ws_end::ws_end(beast::tcp_stream stream) : ws_(std::move(stream)) {
    // One frame per message and large writes: Beast's default splits
    // messages into 4 KiB frames, a cost per frame on both ends.
    ws_.auto_fragment(false);
    ws_.write_buffer_bytes(64 * 1024);
}

// A WebSocket message in either direction: text frames carry one character
// per byte, binary frames the bytes themselves.
awaitable<error_code> ws_end::read_message(std::string& data) {
    in_.clear();
    auto [ec, n] = co_await ws_.async_read(in_, tuple_awaitable);
    if (ec) co_return ec;
    const std::string_view got(static_cast<const char*>(in_.cdata().data()), in_.cdata().size());
    if (ws_.got_text()) text_to_bytes(got, data);
    else data.append(got);
    co_return ec;
}

awaitable<error_code> ws_end::send_message(std::string_view raw, bool binary) {
    std::string_view payload = raw;
    if (binary) {
        ws_.binary(true);
    } else {
        // Videotex is 7-bit: usually the text frame is the bytes themselves.
        if (!is_ascii(raw)) {
            text_.clear();
            bytes_to_text(raw, text_);
            payload = text_;
        }
        ws_.text(true);
    }
    auto [ec, n] = co_await ws_.async_write(asio::buffer(payload.data(), payload.size()), tuple_awaitable);
    co_return ec;
}

awaitable<void> ws_end::close_with(websocket::close_code code) {
    auto [ec] = co_await ws_.async_close(code, tuple_awaitable);
    (void)ec;
}

void ws_end::close_socket() {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
}

}  // namespace sb::ws::detail
