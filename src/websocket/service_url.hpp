#pragma once
// Where a Minitel session goes: the embedded videotex server, a WebSocket
// videotex server, or a Telnet or raw TCP one.
#include <optional>
#include <string>
#include <string_view>

namespace sb::ws {

struct service_url {
    enum class scheme : unsigned char { local, ws, telnet, tcp } kind = scheme::local;
    std::string host;   // without brackets for IPv6
    std::string port;
    std::string path;   // ws only, starts with '/'

    std::string to_string() const;
};

// "local", "ws://host[:port][/path]" (port 80 by default),
// "telnet://host[:port]" (23), "tcp://host:port"; IPv6 hosts in brackets.
// Returns nullopt and sets why for anything else (wss:// included: TLS is
// not built in).
std::optional<service_url> parse_service_url(std::string_view text, std::string& why);

}  // namespace sb::ws
