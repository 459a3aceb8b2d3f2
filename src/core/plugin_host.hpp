#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/plugin.hpp"

namespace sb::core {

struct host_config {
    std::optional<endpoint> http;  // metrics/health; none by default
    std::chrono::steady_clock::duration grace = std::chrono::seconds(3);
    severity log_level = severity::notice;
};

// Reads the [host] section (http, grace, log_level) if present.
host_config host_config_from(const std::vector<ini_section>& sections, host_config defaults);

// Runs plugins on one io_context until SIGINT/SIGTERM.
class plugin_host {
public:
    void add(std::unique_ptr<plugin> p);

    // Every section must belong to [host] or a registered plugin; a section
    // (and its subsections) with "enabled = false" is skipped. Returns the
    // process exit code. Throws config_error for configuration problems.
    int run(std::vector<ini_section> sections, const host_config& cfg);

    // Builds every service without starting one: configuration errors only.
    void validate(std::vector<ini_section> sections);

    // Runs services built elsewhere (e.g. from a command line) the same way:
    // build is called once with the host's context.
    using service_builder = std::function<std::vector<std::unique_ptr<service>>(host_context&)>;
    int run_built(const host_config& cfg, const service_builder& build);

private:
    int run_services(std::vector<std::unique_ptr<service>> services, const host_config& cfg,
                     boost::asio::io_context& io, metrics_registry& metrics, admin_http* http);
    std::vector<std::unique_ptr<service>> build(std::vector<ini_section> sections, host_context& ctx);
    std::vector<std::unique_ptr<plugin>> plugins_;
};

}  // namespace sb::core
