#pragma once
// The directory of videotex servers a user may be redirected to, read from
// a file in the teletel.org "yellow pages" JSON form:
//   {"servers": [{"name": "3615 ULLA", "address": "ws://host:port/",
//                 "ping": "true", "subprotocol": "[tty]"},
//                {"name": "ULLA2", "alias": "3615 ULLA"}]}
// Values are strings there ("ping": "false"); booleans, numbers and JSON
// arrays are accepted too. Our own keys: "frame" ("text" or "binary") and
// "max_frame_size". Unknown keys (tarif, cost...) are ignored.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "websocket/service_url.hpp"

namespace sb::ws {

// How to talk to one server: the per-server profile of the gateway.
struct server_profile {
    std::string name;                       // as written, e.g. "3615 ULLA"
    std::string description;
    service_url url;
    bool ping = false;                      // keep the link alive with WebSocket pings
    std::vector<std::string> subprotocols;  // offered in the WebSocket handshake
    bool binary_frames = false;             // send binary rather than text frames
    std::size_t max_frame_size = 64 * 1024;
};

class directory {
public:
    static constexpr std::size_t max_file_size = 4 * 1024 * 1024;
    static constexpr std::size_t max_entries = 10000;
    static constexpr std::size_t max_alias_hops = 8;

    // Throws std::runtime_error naming the source and the entry for JSON
    // that is not a directory. Entries whose address cannot be used (wss://
    // for instance) are skipped and described in warnings().
    static directory parse(std::string_view json, std::string_view source_name);

    // The server a typed code stands for: case and runs of spaces do not
    // matter, and the "3615 " style prefix may be left out. Aliases are
    // followed. Null when nothing matches.
    const server_profile* find(std::string_view typed) const;

    std::size_t size() const { return servers_.size(); }
    const std::vector<std::string>& warnings() const { return warnings_; }
    // Code and description of every server, for the directory page.
    std::vector<std::pair<std::string, std::string>> listing() const;

    // Upper case, trimmed, inner runs of spaces collapsed to one.
    static std::string normalize(std::string_view code);

private:
    std::vector<server_profile> servers_;
    std::vector<std::string> keys_;  // normalize(servers_[i].name), computed once at parse
    std::vector<std::pair<std::string, std::string>> aliases_;  // normalized alias -> normalized target
    std::vector<std::string> warnings_;
};

}  // namespace sb::ws
