#include "mux/mux_config.hpp"

namespace sb::mux {

namespace po = core::po;

po::options_description mux_options() {
    po::options_description d("Multiplexer options");
    // clang-format off
    d.add_options()
        ("applicationProtocol,p", po::value<std::string>(), "protocol framer: echo, http, iso8583, modbus, mpu (see `tcpmux list`)")
        ("targetServer,t", po::value<std::string>(), "upstream HOST:PORT")
        ("listen,l", po::value<std::string>()->default_value("8000"), "listen on PORT (all interfaces) or HOST:PORT")
        ("timeout", po::value<std::string>()->default_value("5s"), "per-request deadline, queue time included")
        ("delay", po::value<std::string>()->default_value("0s"), "wait after connecting upstream before the first request")
        ("max-connections", po::value<long long>()->default_value(1), "upstream connections serving requests in parallel")
        ("pipeline", po::value<long long>()->default_value(1), "outstanding requests per upstream connection (protocols with ids: modbus)")
        ("queue-size", po::value<long long>()->default_value(256), "requests that may wait for an upstream connection")
        ("reconnect-backoff", po::value<std::string>()->default_value("100ms"), "first reconnect delay; doubles up to --reconnect-backoff-max")
        ("reconnect-backoff-max", po::value<std::string>()->default_value("10s"), "longest reconnect delay")
        ("connect-timeout", po::value<std::string>()->default_value("3s"), "upstream connect timeout")
        ("health-check-interval", po::value<std::string>()->default_value("10s"), "check idle upstream connections this often (0 disables)")
        ("max-clients", po::value<long long>()->default_value(1000), "clients served at once; more are refused")
        ("max-message", po::value<long long>()->default_value(0), "largest message in bytes (0: the protocol's limit)")
        ("client-timeout", po::value<std::string>()->default_value("0s"), "close clients idle this long (0: never)");
    // clang-format on
    return d;
}

namespace {
std::size_t in_range(const po::variables_map& vm, const char* name, long long min, long long max) {
    return static_cast<std::size_t>(core::get_in_range(vm, name, min, max));
}
}  // namespace

mux_config mux_config_from(const po::variables_map& vm, std::string name) {
    mux_config c;
    c.name = std::move(name);
    if (!vm.count("applicationProtocol"))
        throw core::config_error("option '--applicationProtocol' (-p) is required");
    if (!vm.count("targetServer")) throw core::config_error("option '--targetServer' (-t) is required");
    c.protocol = vm["applicationProtocol"].as<std::string>();
    c.pool.target = core::get_endpoint(vm, "targetServer");
    c.listen = core::get_endpoint(vm, "listen", "0.0.0.0");
    c.pool.timeout = core::get_duration(vm, "timeout");
    if (c.pool.timeout <= core::clock::duration::zero())
        throw core::config_error("option '--timeout': must be more than 0");
    c.pool.delay = core::get_duration(vm, "delay");
    c.pool.connections = in_range(vm, "max-connections", 1, 1024);
    c.pool.pipeline = in_range(vm, "pipeline", 1, 256);
    c.pool.queue_size = in_range(vm, "queue-size", 1, 1'000'000);
    c.pool.reconnect_backoff = core::get_duration(vm, "reconnect-backoff");
    c.pool.reconnect_backoff_max = core::get_duration(vm, "reconnect-backoff-max");
    if (c.pool.reconnect_backoff <= core::clock::duration::zero())
        throw core::config_error("option '--reconnect-backoff': must be more than 0");
    c.pool.reconnect_backoff_max = std::max(c.pool.reconnect_backoff_max, c.pool.reconnect_backoff);
    c.pool.connect_timeout = core::get_duration(vm, "connect-timeout");
    c.pool.health_check_interval = core::get_duration(vm, "health-check-interval");
    c.max_clients = in_range(vm, "max-clients", 1, 1'000'000);
    c.pool.max_message = in_range(vm, "max-message", 0, 64 << 20);
    c.client_timeout = core::get_duration(vm, "client-timeout");
    return c;
}

}  // namespace sb::mux
