#include "mux/tcpmux_cli.hpp"

#include <iostream>

#include "core/plugin_host.hpp"
#include "mux/mux_service.hpp"
#include "protocols/builtin.hpp"

namespace sb::mux {

namespace po = core::po;

namespace {

void usage(std::ostream& os, const po::options_description& desc) {
    os << "usage: tcpmux server -p PROTOCOL -t HOST:PORT [-l [HOST:]PORT] [options]\n"
          "       tcpmux list      protocols, sorted\n"
          "       tcpmux version\n\n"
       << desc << "\n";
}

int list(const core::protocol_registry& reg) {
    for (auto* p : reg.sorted()) std::cout << p->name() << "\t" << p->description() << "\n";
    return 0;
}

int server(int argc, char** argv, const core::protocol_registry& reg) {
    po::options_description general("General options");
    // clang-format off
    general.add_options()
        ("help,h", "this help")
        ("config", po::value<std::string>(), "INI file: long option names as keys, flat or under [tcpmux] (the command line wins)")
        ("metrics", po::value<std::string>(), "serve Prometheus /metrics and /health on HOST:PORT (PORT alone: loopback)")
        ("verbose,v", po::bool_switch(), "log connection events (info)")
        ("debug,d", po::bool_switch(), "log every request (debug)");
    // clang-format on
    po::options_description all;
    all.add(general).add(mux_options());

    po::variables_map vm;
    core::store_command_line(argc, argv, all, vm);
    if (vm.count("help")) {
        usage(std::cout, all);
        return 0;
    }
    if (vm.count("config")) {
        auto path = vm["config"].as<std::string>();
        auto sections = core::read_ini(path, true);
        auto desc = mux_options();
        for (auto& s : sections) {
            if (!s.name.empty() && s.name != "tcpmux" && s.name != "server")
                throw core::config_error(s.where(s.line) + ": unknown section [" + s.name +
                                         "] (tcpmux reads [tcpmux]; vmodemd reads [mux.NAME])");
            core::store_section(s, desc, vm);
        }
    }
    po::notify(vm);

    auto cfg = mux_config_from(vm, "tcpmux");
    const auto& proto = find_protocol(reg, cfg.protocol);

    core::host_config host;
    host.log_level = core::severity_from_verbosity(vm["verbose"].as<bool>() ? 1 : 0, vm["debug"].as<bool>());
    if (vm.count("metrics")) host.http = core::get_endpoint(vm, "metrics", "127.0.0.1");
    core::init_console_logging();
    core::raise_fd_limit();

    core::plugin_host runner;
    return runner.run_built(host, [&](core::host_context& ctx) {
        std::vector<std::unique_ptr<core::service>> services;
        services.push_back(make_mux_service(proto, std::move(cfg), ctx));
        return services;
    });
}

}  // namespace

int tcpmux_main(int argc, char** argv) {
    core::protocol_registry reg;
    proto::register_builtin(reg);
    std::string cmd = argc > 1 ? argv[1] : "";
    try {
        if (cmd == "list") return list(reg);
        if (cmd == "version" || cmd == "--version") {
            std::cout << "tcpmux (switchboard) 0.1.0\n";
            return 0;
        }
        if (cmd == "server") return server(argc - 1, argv + 1, reg);
        if (cmd == "help" || cmd == "-h" || cmd == "--help") {
            usage(std::cout, mux_options());
            return 0;
        }
        std::cerr << "tcpmux: " << (cmd.empty() ? "missing command" : "unknown command '" + cmd + "'") << "\n";
        usage(std::cerr, mux_options());
        return 2;
    } catch (const core::config_error& e) {
        std::cerr << "tcpmux: " << e.what() << "\n";
        return 2;
    } catch (const po::error& e) {
        std::cerr << "tcpmux: " << e.what() << "\n";
        return 2;
    } catch (const std::system_error& e) {
        std::cerr << "tcpmux: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace sb::mux
