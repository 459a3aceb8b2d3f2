#include "core/error.hpp"

#include "core/framer.hpp"

namespace sb::core {

namespace {
class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "switchboard"; }
    std::string message(int v) const override {
        switch (static_cast<errc>(v)) {
        case errc::ok: return "ok";
        case errc::idle_timeout: return "idle timeout";
        case errc::frame_too_large: return "frame too large";
        case errc::bad_frame: return "malformed frame";
        case errc::upstream_unavailable: return "upstream unavailable";
        case errc::upstream_failed: return "upstream connection failed";
        case errc::request_timeout: return "request timed out";
        case errc::queue_full: return "request queue full";
        case errc::shutting_down: return "shutting down";
        case errc::too_many_clients: return "too many clients";
        case errc::response_mismatch: return "response does not match request";
        }
        return "unknown switchboard error";
    }
};
}  // namespace

const std::error_category& category() noexcept {
    static const category_impl instance;
    return instance;
}

frame_result framer::at_eof(bytes_view buf) {
    return buf.empty() ? frame_result::need_more() : frame_result::error(errc::bad_frame);
}

}  // namespace sb::core
