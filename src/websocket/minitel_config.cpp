#include "websocket/minitel_config.hpp"

#include <sstream>

namespace sb::ws {

namespace po = core::po;

namespace {

po::options_description minitel_keys() {
    po::options_description d("[minitel]");
    // clang-format off
    d.add_options()
        ("ws_listen", po::value<std::string>()->default_value("127.0.0.1:8182"), "WebSocket listener (empty: none)")
        ("telnet_listen", po::value<std::string>()->default_value("127.0.0.1:2324"), "Telnet listener (empty: none)")
        ("default_service", po::value<std::string>()->default_value("local"), "local, ws://, telnet:// or tcp:// URL")
        ("pages", po::value<std::string>()->default_value("minitel/service.ini"), "videotex tree of the local service")
        ("directory", po::value<std::string>()->default_value(""), "teletel.org-style JSON directory (empty: none)")
        ("max_sessions", po::value<long long>()->default_value(500), "sessions at once")
        ("max_sessions_per_ip", po::value<long long>()->default_value(20), "sessions at once from one address")
        ("allowed_origins", po::value<std::string>()->default_value(""), "comma-separated WebSocket Origins (empty: any)")
        ("idle_timeout", po::value<std::string>()->default_value("30min"), "no key from the user for this long ends the session")
        ("session_timeout", po::value<std::string>()->default_value("4h"), "longest session")
        ("ping_interval", po::value<std::string>()->default_value("20s"), "WebSocket ping period; a missed pong closes")
        ("connect_timeout", po::value<std::string>()->default_value("10s"), "connecting to a videotex server")
        ("write_timeout", po::value<std::string>()->default_value("30s"), "a user who takes longer to accept output is a slow reader")
        ("telnet_junk_time", po::value<std::string>()->default_value("500ms"), "data from a Telnet client is ignored for this long after connect")
        ("enqrom_wait", po::value<std::string>()->default_value("500ms"), "enqrom = auto: answer if the terminal has not within this time")
        ("reload_check", po::value<std::string>()->default_value("2s"), "how often page files are checked for changes")
        ("baud", po::value<long long>()->default_value(0), "pace output like a 1200, 4800 or 9600 baud line (0: no pacing)")
        ("max_buffer", po::value<long long>()->default_value(256 * 1024), "bytes queued toward one user before it is a slow reader")
        ("max_frame_size", po::value<long long>()->default_value(64 * 1024), "largest WebSocket message from a user")
        ("enqrom", po::value<std::string>()->default_value("auto"), "answer ENQROM for the terminal: auto, always or never");
    // clang-format on
    return d;
}

long long in_range(const po::variables_map& vm, const char* key, long long min, long long max) {
    return core::get_in_range(vm, key, min, max, "[minitel] " + std::string(key));
}

std::chrono::milliseconds positive(const po::variables_map& vm, const char* key) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(core::get_duration(vm, key));
    if (d <= std::chrono::milliseconds::zero())
        throw core::config_error("[minitel] " + std::string(key) + ": must be above zero");
    return d;
}

}  // namespace

minitel_config parse_minitel_config(const std::vector<core::ini_section>& sections) {
    po::variables_map vm;
    auto keys = minitel_keys();
    std::string file;
    for (auto& s : sections) {
        if (s.name != "minitel")
            throw core::config_error(s.where(s.line) + ": unknown section [" + s.name +
                                     "] (the Minitel plugin has only [minitel])");
        core::store_section(s, keys, vm);
        file = s.file;
    }
    core::store_section({}, keys, vm);
    po::notify(vm);

    minitel_config c;
    c.ws_listen = core::get_optional_endpoint(vm, "ws_listen", "127.0.0.1");
    c.telnet_listen = core::get_optional_endpoint(vm, "telnet_listen", "127.0.0.1");
    if (!c.ws_listen && !c.telnet_listen)
        throw core::config_error("[minitel] ws_listen and telnet_listen are both empty: nothing to listen on");
    std::string why;
    auto url = parse_service_url(vm["default_service"].as<std::string>(), why);
    if (!url) throw core::config_error("[minitel] default_service: '" + vm["default_service"].as<std::string>() + "': " + why);
    c.default_service = *url;
    if (c.default_service.kind == service_url::scheme::local) c.pages = core::path_beside(file, vm["pages"].as<std::string>());
    c.directory = core::path_beside(file, vm["directory"].as<std::string>());
    c.max_sessions = static_cast<std::size_t>(in_range(vm, "max_sessions", 1, 1000000));
    c.max_sessions_per_ip = static_cast<std::size_t>(in_range(vm, "max_sessions_per_ip", 1, 1000000));
    std::stringstream origins(vm["allowed_origins"].as<std::string>());
    for (std::string o; std::getline(origins, o, ',');) {
        while (!o.empty() && o.front() == ' ') o.erase(0, 1);
        while (!o.empty() && o.back() == ' ') o.pop_back();
        if (!o.empty()) c.allowed_origins.push_back(o);
    }
    c.idle_timeout = positive(vm, "idle_timeout");
    c.session_timeout = positive(vm, "session_timeout");
    c.ping_interval = positive(vm, "ping_interval");
    c.connect_timeout = positive(vm, "connect_timeout");
    c.write_timeout = positive(vm, "write_timeout");
    c.telnet_junk_time = std::chrono::duration_cast<std::chrono::milliseconds>(core::get_duration(vm, "telnet_junk_time"));
    c.enqrom_wait = positive(vm, "enqrom_wait");
    c.reload_check = positive(vm, "reload_check");
    c.baud = static_cast<unsigned>(in_range(vm, "baud", 0, 115200));
    if (c.baud != 0 && c.baud != 1200 && c.baud != 4800 && c.baud != 9600)
        throw core::config_error("[minitel] baud: " + std::to_string(c.baud) + " is not 0, 1200, 4800 or 9600");
    c.max_buffer = static_cast<std::size_t>(in_range(vm, "max_buffer", 4096, 64 << 20));
    c.max_frame_size = static_cast<std::size_t>(in_range(vm, "max_frame_size", 256, 16 << 20));
    const auto e = vm["enqrom"].as<std::string>();
    if (e == "auto") c.enqrom = enqrom_mode::auto_;
    else if (e == "always") c.enqrom = enqrom_mode::always;
    else if (e == "never") c.enqrom = enqrom_mode::never;
    else throw core::config_error("[minitel] enqrom: '" + e + "' is not auto, always or never");
    return c;
}

}  // namespace sb::ws
