#pragma once
#include <memory>

#include "core/plugin.hpp"
#include "core/protocol_registry.hpp"
#include "mux/mux_config.hpp"

namespace sb::mux {

// Looks the protocol up, failing with a config_error that lists the known ones.
const core::protocol& find_protocol(const core::protocol_registry& reg, const std::string& name);

// One multiplexer: a listener, its clients, and the upstream pool they share.
std::unique_ptr<core::service> make_mux_service(const core::protocol& proto, mux_config cfg, core::host_context& ctx);

// The [mux.NAME] plugin for vmodemd: one multiplexer per section.
std::unique_ptr<core::plugin> make_mux_plugin();

}  // namespace sb::mux
