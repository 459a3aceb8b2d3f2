#include "websocket/service_url.hpp"

#include <charconv>

namespace sb::ws {

namespace {

bool valid_port(std::string_view p) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    return ec == std::errc{} && end == p.data() + p.size() && v > 0 && v < 65536;
}

}  // namespace

std::string service_url::to_string() const {
    if (kind == scheme::local) return "local";
    const char* name = kind == scheme::ws ? "ws" : kind == scheme::telnet ? "telnet" : "tcp";
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(name) + "://" + (v6 ? "[" + host + "]" : host) + ":" + port + path;
}

std::optional<service_url> parse_service_url(std::string_view text, std::string& why) {
    service_url u;
    if (text == "local") return u;
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) {
        why = "expected local, ws://, telnet:// or tcp://";
        return std::nullopt;
    }
    const auto scheme = text.substr(0, sep);
    std::string_view default_port;
    if (scheme == "ws") {
        u.kind = service_url::scheme::ws;
        default_port = "80";
    } else if (scheme == "telnet") {
        u.kind = service_url::scheme::telnet;
        default_port = "23";
    } else if (scheme == "tcp") {
        u.kind = service_url::scheme::tcp;
    } else {
        why = "unsupported scheme '" + std::string(scheme) + "' (wss:// needs a TLS terminator in front)";
        return std::nullopt;
    }
    auto rest = text.substr(sep + 3);
    const auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        if (u.kind != service_url::scheme::ws) {
            why = "only ws:// URLs have a path";
            return std::nullopt;
        }
        u.path = std::string(rest.substr(slash));
    } else if (u.kind == service_url::scheme::ws) {
        u.path = "/";
    }
    std::string_view host, port;
    if (!authority.empty() && authority[0] == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "unclosed '[' in the host";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') {
                why = "junk after ']'";
                return std::nullopt;
            }
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (host.empty()) {
        why = "no host";
        return std::nullopt;
    }
    if (port.empty()) port = default_port;
    if (port.empty()) {
        why = "tcp:// needs a port";
        return std::nullopt;
    }
    if (!valid_port(port)) {
        why = "bad port '" + std::string(port) + "'";
        return std::nullopt;
    }
    u.host = std::string(host);
    u.port = std::string(port);
    return u;
}

}  // namespace sb::ws
