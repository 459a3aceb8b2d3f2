#include "core/endpoint.hpp"

#include <charconv>
#include <stdexcept>

namespace sb::core {

namespace {
std::uint16_t parse_port(std::string_view s, std::string_view whole) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > 65535)
        throw std::invalid_argument("'" + std::string(whole) + "' is not HOST:PORT (bad port '" + std::string(s) + "')");
    return static_cast<std::uint16_t>(v);
}
}  // namespace

std::string endpoint::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

endpoint parse_endpoint(std::string_view text, std::string_view default_host) {
    if (text.empty()) throw std::invalid_argument("empty address, expected HOST:PORT");
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw std::invalid_argument("'" + std::string(text) + "' is not [IPv6]:PORT");
        return {std::string(text.substr(1, close - 1)), parse_port(text.substr(close + 2), text)};
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        if (default_host.empty())
            throw std::invalid_argument("'" + std::string(text) + "' is not HOST:PORT");
        return {std::string(default_host), parse_port(text, text)};
    }
    if (text.find(':') != colon)
        throw std::invalid_argument("'" + std::string(text) + "' is ambiguous: write IPv6 addresses as [ADDR]:PORT");
    if (colon == 0) {
        if (default_host.empty()) throw std::invalid_argument("'" + std::string(text) + "' has no host");
        return {std::string(default_host), parse_port(text.substr(1), text)};
    }
    return {std::string(text.substr(0, colon)), parse_port(text.substr(colon + 1), text)};
}

}  // namespace sb::core
