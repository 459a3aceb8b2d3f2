#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace sb::core {

// A host and port as the user wrote them; resolved when used, so hostnames work.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;

    std::string to_string() const;
    bool operator==(const endpoint&) const = default;
};

// "5020" (host = default_host), "127.0.0.1:5020", "[::1]:5020", "name:5020".
// Throws std::invalid_argument with a message naming the bad text.
endpoint parse_endpoint(std::string_view text, std::string_view default_host = {});

}  // namespace sb::core
