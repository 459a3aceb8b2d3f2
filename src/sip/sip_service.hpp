#pragma once
// The SIP tone server plugin: [sip], [sip.behavior], [sip.media].
#include <memory>

#include "core/plugin.hpp"
#include "sip/sip_config.hpp"

namespace sb::sip {

std::unique_ptr<core::service> make_sip_service(sip_config cfg, core::host_context& ctx);
std::unique_ptr<core::plugin> make_sip_plugin();

}  // namespace sb::sip
