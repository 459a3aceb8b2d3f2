#include "modem/modem_config.hpp"

#include "modem/attach.hpp"
#include "modem/command_interpreter.hpp"
#include "modem/dial_translation.hpp"

namespace sb::modem {

namespace po = core::po;

po::options_description modem_options() {
    po::options_description d("Modem options");
    // clang-format off
    d.add_options()
        ("num,n", po::value<long long>()->default_value(1), "number of modems")
        ("addr,a", po::value<std::string>()->default_value("127.0.0.1:2020"), "listen for incoming calls on HOST:PORT (or PORT: all interfaces)")
        ("tty,t", po::value<std::string>()->default_value("/tmp/vmodem"), "directory for the tty links ttyN")
        ("start,s", po::value<long long>()->default_value(0), "number of the first ttyN")
        ("ring,r", po::value<long long>()->default_value(10), "rings before an unanswered caller gets NO ANSWER")
        ("ring-interval", po::value<std::string>()->default_value("2s"), "time between RINGs")
        ("answer-char,S", po::value<std::string>()->default_value(""), "characters sent to the caller when the modem answers (\\r, \\n, \\xNN escapes)")
        ("guard-time,G", po::value<std::string>()->default_value("1s"), "+++ escape guard time (S12, 20 ms units)")
        ("disable-pre-guard,D", po::bool_switch(), "no silence needed before +++")
        ("disable-post-guard,P", po::bool_switch(), "OK right after the third +, no silence needed")
        ("port,p", po::value<long long>()->default_value(23), "port dialled when the number names none")
        ("nolisten,X", po::bool_switch(), "no listener: outgoing calls only")
        ("nagle-size,N", po::value<long long>()->default_value(1024), "send typed data once this many bytes are buffered ...")
        ("nagle-timeout,M", po::value<std::string>()->default_value("0ms"), "... or this long after the first buffered byte (0: at once)")
        ("watchdog,w", po::value<std::string>()->default_value("0s"), "hang up calls idle this long (0: never)")
        ("metrics,m", po::value<std::string>(), "serve metrics (JSON at /, /proc, Prometheus at /metrics) on HOST:PORT (loopback if only PORT)")
        ("command,C", po::value<std::vector<std::string>>()->composing(), "custom AT command: regexp->response->result (repeatable)")
        ("translate,T", po::value<std::vector<std::string>>()->composing(), "number translation: regexp->format (repeatable)")
        ("attach,A", po::value<std::vector<std::string>>()->composing(), "bridge ttys: tty1:tty2:speed,data,parity,stop (repeatable)")
        ("phone-book", po::value<std::string>()->default_value(""), "phone book file: NUMBER HOST[:PORT] [telnet] per line")
        ("telnet", po::bool_switch(), "negotiate telnet on every call (default: only when asked or when the remote starts with IAC)")
        ("connect-speed", po::value<long long>()->default_value(115200), "speed shown in CONNECT")
        ("dial-timeout", po::value<std::string>()->default_value("50s"), "default S7: no answer after this long");
    // clang-format on
    return d;
}

namespace {

long long in_range(const po::variables_map& vm, const char* name, long long min, long long max) {
    return core::get_in_range(vm, name, min, max);
}

// "\r", "\n", "\t", "\\", "\xNN": answer strings are usually control characters.
std::string unescape(const std::string& option, const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) throw core::config_error("option '--" + option + "': trailing backslash in '" + s + "'");
        switch (s[i]) {
            case 'r': out += '\r'; break;
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case '\\': out += '\\'; break;
            case 'x': {
                auto hex = s.substr(i + 1, 2);
                if (hex.size() != 2 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                    throw core::config_error("option '--" + option + "': \\x needs two hex digits in '" + s + "'");
                out += static_cast<char>(std::stoi(hex, nullptr, 16));
                i += 2;
                break;
            }
            default: throw core::config_error("option '--" + option + "': unknown escape \\" + s[i] + " in '" + s + "'");
        }
    }
    return out;
}

std::vector<std::string> strings(const po::variables_map& vm, const char* name) {
    return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
}

}  // namespace

modem_config modem_config_from(const po::variables_map& vm) {
    modem_config c;
    c.count = static_cast<unsigned>(in_range(vm, "num", 1, 1024));
    c.first_index = static_cast<unsigned>(in_range(vm, "start", 0, 100000));
    c.tty_dir = vm["tty"].as<std::string>();
    if (c.tty_dir.empty()) throw core::config_error("option '--tty': empty directory");
    if (vm["nolisten"].as<bool>())
        c.listen.reset();
    else
        c.listen = core::get_endpoint(vm, "addr", "0.0.0.0");
    c.max_rings = static_cast<unsigned>(in_range(vm, "ring", 1, 255));
    c.ring_interval = core::get_duration(vm, "ring-interval");
    if (c.ring_interval <= duration::zero()) throw core::config_error("option '--ring-interval': must be more than 0");
    c.answer_chars = unescape("answer-char", vm["answer-char"].as<std::string>());
    c.guard_time = core::get_duration(vm, "guard-time");
    if (c.guard_time < duration::zero() || c.guard_time > std::chrono::milliseconds(255 * 20))
        throw core::config_error("option '--guard-time': " + core::format_duration(c.guard_time) +
                                 " is out of range 0..5.1s (S12 holds 20 ms units)");
    c.pre_guard = !vm["disable-pre-guard"].as<bool>();
    c.post_guard = !vm["disable-post-guard"].as<bool>();
    c.default_port = static_cast<std::uint16_t>(in_range(vm, "port", 1, 65535));
    c.nagle_size = static_cast<std::size_t>(in_range(vm, "nagle-size", 1, 1 << 20));
    c.nagle_timeout = core::get_duration(vm, "nagle-timeout");
    if (c.nagle_timeout > std::chrono::seconds(10))
        throw core::config_error("option '--nagle-timeout': at most 10s");
    c.watchdog = core::get_duration(vm, "watchdog");
    if (vm.count("metrics")) c.metrics = core::get_endpoint(vm, "metrics", "127.0.0.1");
    c.commands = strings(vm, "command");
    c.translate = strings(vm, "translate");
    c.attach = strings(vm, "attach");
    c.phone_book = vm["phone-book"].as<std::string>();
    c.telnet = vm["telnet"].as<bool>();
    c.connect_speed = static_cast<unsigned>(in_range(vm, "connect-speed", 0, 100'000'000));
    c.dial_timeout = core::get_duration(vm, "dial-timeout");
    if (c.dial_timeout < std::chrono::seconds(1) || c.dial_timeout > std::chrono::seconds(255))
        throw core::config_error("option '--dial-timeout': " + core::format_duration(c.dial_timeout) +
                                 " is out of range 1s..255s (S7)");
    // Rules are checked here so a typo fails at start-up, naming the rule.
    for (auto& r : c.commands) try {
            (void)parse_command_hook(r);
        } catch (const std::exception& e) {
            throw core::config_error("option '--command': '" + r + "': " + e.what());
        }
    for (auto& r : c.translate) try {
            (void)parse_translate_rule(r);
        } catch (const std::exception& e) {
            throw core::config_error("option '--translate': '" + r + "': " + e.what());
        }
    for (auto& r : c.attach) try {
            (void)parse_attach(r);
        } catch (const std::exception& e) {
            throw core::config_error("option '--attach': '" + r + "': " + e.what());
        }
    return c;
}

}  // namespace sb::modem
