#pragma once
#include <string>

#include "core/config.hpp"
#include "core/upstream_pool.hpp"

namespace sb::mux {

struct mux_config {
    std::string name = "tcpmux";
    std::string protocol;
    core::endpoint listen{"0.0.0.0", 8000};
    core::pool_config pool;
    std::size_t max_clients = 1000;
    core::clock::duration client_timeout{};  // zero: never close an idle client
};

// The options shared by `tcpmux server` and [mux.NAME] sections, by long name.
core::po::options_description mux_options();

// Builds and validates a config; errors name the option and the bad value.
mux_config mux_config_from(const core::po::variables_map& vm, std::string name);

}  // namespace sb::mux
