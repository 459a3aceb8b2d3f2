#include "protocols/length_prefixed.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace sb::proto {

namespace {

using core::frame_result;

// A message that needs more than `available` bytes cannot fit in max_size
// when `available` already fills it (a limit smaller than the header).
frame_result header_pending(std::size_t available, std::size_t max_size) {
    if (available > 0 && available >= max_size) return frame_result::error(core::errc::frame_too_large);
    return frame_result::need_more();
}

// Shared tail once the body length is known.
frame_result finish(std::size_t header, std::size_t body, std::size_t available, std::size_t max_size) {
    // A zero length is not an empty message but a desynchronised stream.
    if (body == 0) return frame_result::error(core::errc::bad_frame);
    auto const total = header + body;
    if (total > max_size) return frame_result::error(core::errc::frame_too_large);
    return available >= total ? frame_result::complete(total) : frame_result::need_more();
}

}  // namespace

frame_result iso8583_framer::scan(core::bytes_view buf) {
    if (buf.size() < header_size) return header_pending(buf.size(), max_size());
    auto const len = static_cast<std::size_t>(buf[0]) << 8 | buf[1];
    return finish(header_size, len, buf.size(), max_size());
}

frame_result mpu_framer::scan(core::bytes_view buf) {
    // Check each digit as it arrives: a peer that sent garbage may never send
    // four bytes, and it should not hold the connection open waiting for them.
    std::size_t len = 0;
    auto const have = std::min(buf.size(), header_size);
    for (std::size_t i = 0; i < have; ++i) {
        if (buf[i] < '0' || buf[i] > '9') return frame_result::error(core::errc::bad_frame);
        len = len * 10 + (buf[i] - '0');
    }
    if (have < header_size) return header_pending(have, max_size());
    return finish(header_size, len, buf.size(), max_size());
}

std::unique_ptr<core::framer> iso8583_protocol::make_request_framer(std::size_t max_size) const {
    return std::make_unique<iso8583_framer>(max_size);
}

std::unique_ptr<core::framer> iso8583_protocol::make_response_framer(std::size_t max_size) const {
    return std::make_unique<iso8583_framer>(max_size);
}

std::unique_ptr<core::framer> mpu_protocol::make_request_framer(std::size_t max_size) const {
    return std::make_unique<mpu_framer>(max_size);
}

std::unique_ptr<core::framer> mpu_protocol::make_response_framer(std::size_t max_size) const {
    return std::make_unique<mpu_framer>(max_size);
}

}  // namespace sb::proto
