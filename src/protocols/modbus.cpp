#include "protocols/modbus.hpp"

#include "core/error.hpp"

namespace sb::proto {

namespace {

using core::frame_result;

constexpr std::size_t unit_at = 6;
constexpr std::size_t function_at = 7;

std::uint16_t read_be16(core::bytes_view b, std::size_t at) {
    return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}

}  // namespace

frame_result mbap_framer::scan(core::bytes_view buf) {
    // Reject each header field as soon as its bytes are present: a peer that is
    // not speaking Modbus should not keep the connection waiting for more.
    if (buf.size() > 2 && buf[2] != 0) return frame_result::error(core::errc::bad_frame);
    if (buf.size() > 3 && buf[3] != 0) return frame_result::error(core::errc::bad_frame);
    if (buf.size() > 4 && buf[4] != 0) return frame_result::error(core::errc::bad_frame);  // len >= 256
    if (buf.size() < header_size) {
        // Only a limit below the header size gets here with a full buffer.
        if (!buf.empty() && buf.size() >= max_size()) return frame_result::error(core::errc::frame_too_large);
        return frame_result::need_more();
    }

    std::size_t const len = read_be16(buf, 4);
    if (len < min_length || len > max_length) return frame_result::error(core::errc::bad_frame);
    auto const total = header_size + len;
    if (total > max_size()) return frame_result::error(core::errc::frame_too_large);
    return buf.size() >= total ? frame_result::complete(total) : frame_result::need_more();
}

std::unique_ptr<core::framer> modbus_protocol::make_request_framer(std::size_t max_size) const {
    return std::make_unique<mbap_framer>(max_size);
}

std::unique_ptr<core::framer> modbus_protocol::make_response_framer(std::size_t max_size) const {
    return std::make_unique<mbap_framer>(max_size);
}

void modbus_protocol::set_tag(std::span<std::uint8_t> message, std::uint16_t tag) const {
    if (message.size() < 2) return;
    message[0] = static_cast<std::uint8_t>(tag >> 8);
    message[1] = static_cast<std::uint8_t>(tag & 0xff);
}

std::optional<std::uint16_t> modbus_protocol::tag(core::bytes_view message) const {
    if (message.size() < 2) return std::nullopt;
    return read_be16(message, 0);
}

bool modbus_protocol::response_matches(core::bytes_view request, core::bytes_view response) const {
    if (request.size() <= function_at || response.size() <= function_at) return false;
    if (request[unit_at] != response[unit_at]) return false;
    auto const fc = request[function_at];
    // An exception reply carries the request's function code with the top bit set.
    return response[function_at] == fc || response[function_at] == (fc | 0x80);
}

std::vector<std::uint8_t> modbus_protocol::error_response(core::bytes_view request, std::error_code ec) const {
    // Without unit and function code there is nothing to address an exception
    // to; the client connection is closed instead.
    if (request.size() <= function_at) return {};
    auto const code = ec == core::errc::upstream_unavailable ? gateway_path_unavailable : gateway_target_failed;
    return {
        request[0], request[1],  // the client's transaction id
        0, 0,                    // protocol id
        0, 3,                    // unit + function + exception code
        request[unit_at],
        static_cast<std::uint8_t>(request[function_at] | 0x80),
        code,
    };
}

std::string modbus_protocol::describe(core::bytes_view message) const {
    if (message.size() < 2) return "short frame (" + std::to_string(message.size()) + " bytes)";
    std::string out = "tid=" + std::to_string(read_be16(message, 0));
    if (message.size() > unit_at) out += " unit=" + std::to_string(message[unit_at]);
    if (message.size() > function_at) out += " fc=" + std::to_string(message[function_at]);
    return out;
}

}  // namespace sb::proto
