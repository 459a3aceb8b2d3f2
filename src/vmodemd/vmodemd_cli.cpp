#include "vmodemd/vmodemd_cli.hpp"

#include <iostream>

#include "core/plugin_host.hpp"
#include "mux/mux_service.hpp"

namespace sb::vmodemd {

namespace po = core::po;

int vmodemd_main(int argc, char** argv) {
    po::options_description desc("vmodemd options");
    // clang-format off
    desc.add_options()
        ("help,h", "this help")
        ("config,c", po::value<std::string>(), "site configuration (INI): one section per plugin")
        ("check", po::bool_switch(), "validate the configuration and exit")
        ("verbose,v", po::value<int>()->implicit_value(1)->zero_tokens()->composing(), "more logging (repeatable)")
        ("debug,d", po::bool_switch(), "debug logging");
    // clang-format on
    try {
        po::variables_map vm;
        int verbosity = 0;
        {
            // -v may be given several times: count them before Program_options folds them.
            std::vector<const char*> args{argv[0]};
            for (int i = 1; i < argc; ++i) {
                std::string a = argv[i];
                if (a.size() > 1 && a[0] == '-' && a[1] == 'v' && a.find_first_not_of('v', 1) == std::string::npos)
                    verbosity += static_cast<int>(a.size() - 1);
                else if (a == "--verbose")
                    ++verbosity;
                else
                    args.push_back(argv[i]);
            }
            core::store_command_line(static_cast<int>(args.size()), args.data(), desc, vm);
        }
        if (vm.count("help")) {
            std::cout << "usage: vmodemd --config FILE\n\n" << desc << "\n";
            return 0;
        }
        if (!vm.count("config")) {
            std::cerr << "vmodemd: --config FILE is required (see conf/site.ini)\n";
            return 2;
        }
        auto sections = core::read_ini(vm["config"].as<std::string>());
        core::host_config host = core::host_config_from(sections, {});
        if (verbosity || vm["debug"].as<bool>())
            host.log_level = core::severity_from_verbosity(verbosity, vm["debug"].as<bool>());

        core::plugin_host plugins;
        plugins.add(mux::make_mux_plugin());
        if (vm["check"].as<bool>()) {
            plugins.validate(sections);
            std::cout << "configuration ok\n";
            return 0;
        }
        core::init_console_logging();
        core::raise_fd_limit();
        return plugins.run(std::move(sections), host);
    } catch (const core::config_error& e) {
        std::cerr << "vmodemd: " << e.what() << "\n";
        return 2;
    } catch (const po::error& e) {
        std::cerr << "vmodemd: " << e.what() << "\n";
        return 2;
    } catch (const std::system_error& e) {
        std::cerr << "vmodemd: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace sb::vmodemd
