#pragma once
// The Minitel plugin: [minitel]. A WebSocket and Telnet gateway that routes
// each user to the embedded videotex server or a remote one, with
// teletel-style redirections through a directory.
#include <memory>

#include "core/plugin.hpp"
#include "websocket/minitel_config.hpp"

namespace sb::ws {

std::unique_ptr<core::service> make_minitel_service(minitel_config cfg, core::host_context& ctx);
std::unique_ptr<core::plugin> make_minitel_plugin();

}  // namespace sb::ws
