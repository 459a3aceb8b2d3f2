#pragma once
// The modem plugin: a bank of virtual modems on ptys, their listener for
// incoming calls, serial attach bridges and the metrics endpoint.
#include <memory>

#include "core/plugin.hpp"
#include "modem/modem_config.hpp"

namespace sb::modem {

std::unique_ptr<core::service> make_modem_service(modem_config cfg, std::string name, core::host_context& ctx);

// [modem] and [modem.NAME] sections. Options given on the command line
// (cli) override the file's; with no file, vmodemd runs this plugin alone
// from an empty [modem] section and the command line.
std::unique_ptr<core::plugin> make_modem_plugin(core::po::variables_map cli = {});

}  // namespace sb::modem
