#pragma once
// The project's own failures as error_code values (STYLE rule 5).
#include <system_error>

namespace sb::core {

enum class errc {
    ok = 0,
    idle_timeout = 1,
    frame_too_large,
    bad_frame,             // a header that is not a valid length or protocol id
    upstream_unavailable,  // no upstream connection could be made
    upstream_failed,       // the upstream connection broke during the exchange
    request_timeout,       // --timeout elapsed (queue time included)
    queue_full,            // --queue-size requests already waiting
    shutting_down,
    too_many_clients,
    response_mismatch,     // reply whose id/unit/function does not match
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace sb::core

template <>
struct std::is_error_code_enum<sb::core::errc> : std::true_type {};
