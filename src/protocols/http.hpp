#pragma once
// HTTP/1.1 framing with Beast's parser. Only message boundaries are found;
// bytes are forwarded unchanged. Beast stays out of this header: it is heavy
// to compile and only http.cpp needs it.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/protocol.hpp"

namespace sb::proto {

class http_protocol final : public core::protocol {
public:
    std::string_view name() const override { return "http"; }
    std::string_view description() const override { return "HTTP/1.1 requests and responses (keep-alive)"; }
    std::size_t default_max_message() const override { return 1024 * 1024; }

    std::unique_ptr<core::framer> make_request_framer(std::size_t max_size) const override;
    std::unique_ptr<core::framer> make_response_framer(std::size_t max_size) const override;

    std::vector<std::uint8_t> error_response(core::bytes_view request, std::error_code ec) const override;
    std::string describe(core::bytes_view message) const override;
};

}  // namespace sb::proto
