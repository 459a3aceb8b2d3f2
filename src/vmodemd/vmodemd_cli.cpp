#include "vmodemd/vmodemd_cli.hpp"

#include <iostream>

#include "core/plugin_host.hpp"
#include "modem/modem_config.hpp"
#include "modem/modem_service.hpp"
#include "mux/mux_service.hpp"
#include "sip/sip_service.hpp"
#include "sms/sms_service.hpp"
#include "websocket/minitel_service.hpp"

namespace sb::vmodemd {

namespace po = core::po;

namespace {

// Any modem option given on the command line (not just defaulted)?
bool has_modem_options(const po::variables_map& vm, const po::options_description& modem) {
    for (auto& [k, v] : vm)
        if (!v.defaulted() && modem.find_nothrow(k, false)) return true;
    return false;
}

}  // namespace

int vmodemd_main(int argc, char** argv) {
    po::options_description general("vmodemd options");
    // clang-format off
    general.add_options()
        ("help,h", "this help")
        ("config,c", po::value<std::string>(), "site configuration (INI): one section per plugin; command-line modem options override its [modem] section")
        ("check", po::bool_switch(), "validate the configuration and exit")
        ("verbose,v", po::value<int>()->implicit_value(1)->zero_tokens()->composing(), "more logging (repeatable: -vvv logs data as hex)")
        ("debug,d", po::bool_switch(), "debug logging");
    // clang-format on
    const auto modem = modem::modem_options();
    po::options_description desc;
    desc.add(general).add(modem);
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
            std::cout << "usage: vmodemd --config FILE [modem options]\n"
                         "       vmodemd [modem options]        (modems only, e.g. vmodemd -n 2 -a 127.0.0.1:2020)\n\n"
                      << general << "\n"
                      << modem << "\n";
            return 0;
        }
        std::vector<core::ini_section> sections;
        if (vm.count("config")) {
            sections = core::read_ini(vm["config"].as<std::string>());
            bool has_modem = false;
            for (auto& s : sections) has_modem = has_modem || s.name == "modem";
            if (!has_modem && has_modem_options(vm, modem)) sections.push_back({"modem", "command line", 0, {}});
        } else {
            // Like the vmodem tool it replaces: the modem plugin alone, from the command line.
            sections.push_back({"modem", "command line", 0, {}});
        }
        core::host_config host = core::host_config_from(sections, {});
        if (verbosity || vm["debug"].as<bool>())
            host.log_level = core::severity_from_verbosity(verbosity, vm["debug"].as<bool>());

        core::plugin_host plugins;
        plugins.add(mux::make_mux_plugin());
        plugins.add(modem::make_modem_plugin(vm));
        plugins.add(sip::make_sip_plugin());
        plugins.add(ws::make_minitel_plugin());
        plugins.add(sms::make_sms_plugin());
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
