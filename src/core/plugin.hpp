#pragma once
// A plugin turns its config sections into running services on the host's
// io_context. Plugins never include each other; they meet through the host.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/log.hpp"

namespace boost::asio {
class io_context;
}

namespace sb::core {

class metrics_registry;
class admin_http;

struct host_context {
    boost::asio::io_context& io;
    metrics_registry& metrics;
    admin_http* http;  // null when the host serves no HTTP port
    logger log;
};

class service {
public:
    virtual ~service() = default;
    virtual std::string name() const = 0;
    // Binds listeners (throwing on failure, so start-up errors are reported
    // before the process claims to run) and spawns its coroutines.
    virtual void start() = 0;
    // Stop accepting, let work in flight finish for up to grace, then cancel
    // everything. Must leave the io_context with no work of this service.
    virtual void stop(std::chrono::steady_clock::duration grace) = 0;
    // After stop(): true once nothing of the service is left running, so
    // the host can exit before the grace period ends.
    virtual bool stopped() const = 0;
};

class plugin {
public:
    virtual ~plugin() = default;
    // Owns the section named exactly so and every "name.*" section.
    virtual std::string_view name() const = 0;
    virtual std::vector<std::unique_ptr<service>> configure(const std::vector<ini_section>& sections,
                                                            host_context& ctx) = 0;
};

}  // namespace sb::core
