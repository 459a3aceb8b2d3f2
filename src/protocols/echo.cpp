#include "protocols/echo.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace sb::proto {

core::frame_result line_framer::scan(core::bytes_view buf) {
    if (buf.empty()) return core::frame_result::need_more();
    // Bytes past max_size can never belong to an acceptable line.
    auto const limit = std::min(buf.size(), max_size());
    if (searched_ < limit) {
        auto const first = buf.begin() + static_cast<std::ptrdiff_t>(searched_);
        auto const last = buf.begin() + static_cast<std::ptrdiff_t>(limit);
        auto const nl = std::find(first, last, std::uint8_t{'\n'});
        if (nl != last) return core::frame_result::complete(static_cast<std::size_t>(nl - buf.begin()) + 1);
        searched_ = limit;
    }
    if (buf.size() >= max_size()) return core::frame_result::error(core::errc::frame_too_large);
    return core::frame_result::need_more();
}

std::unique_ptr<core::framer> echo_protocol::make_request_framer(std::size_t max_size) const {
    return std::make_unique<line_framer>(max_size);
}

std::unique_ptr<core::framer> echo_protocol::make_response_framer(std::size_t max_size) const {
    return std::make_unique<line_framer>(max_size);
}

}  // namespace sb::proto
