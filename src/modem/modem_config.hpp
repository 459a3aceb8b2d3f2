#pragma once
// The [modem] section and vmodemd's command line: one options_description
// for both, so every option is also an INI key with the same long name.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace sb::modem {

using duration = std::chrono::steady_clock::duration;

struct modem_config {
    unsigned count = 1;                   // -n
    unsigned first_index = 0;             // -s: ttyN numbering starts here
    std::string tty_dir = "/tmp/vmodem";  // -t: links are tty_dir/ttyN
    std::optional<core::endpoint> listen = core::endpoint{"127.0.0.1", 2020};  // -a; none with -X
    unsigned max_rings = 10;              // -r: then the caller gets NO ANSWER
    duration ring_interval = std::chrono::seconds(2);
    std::string answer_chars;             // -S: sent to the caller when the modem answers
    duration guard_time = std::chrono::seconds(1);  // -G, sets S12
    bool pre_guard = true;                // -D disables
    bool post_guard = true;               // -P disables
    std::uint16_t default_port = 23;      // -p
    std::size_t nagle_size = 1024;        // -N: flush the tty->net buffer at this size ...
    duration nagle_timeout{};             // -M: ... or this long after its first byte (0: at once)
    duration watchdog{};                  // -w: hang up a call idle this long (0: never)
    std::optional<core::endpoint> metrics;  // -m: JSON + Prometheus HTTP
    std::vector<std::string> commands;    // -C regexp->response->result
    std::vector<std::string> translate;   // -T regexp->format
    std::vector<std::string> attach;      // -A tty1:tty2:speed,data,parity,stop
    std::string phone_book;               // file of "NUMBER TARGET [telnet]"
    bool telnet = false;                  // negotiate telnet on every call
    unsigned connect_speed = 115200;      // CONNECT <speed>
    duration dial_timeout = std::chrono::seconds(50);  // S7 default
    std::size_t max_calls_queued = 0;     // reserved
    int hexdump_level = 0;                // -v count: 3 and more dumps data
};

// Long names are INI keys; the letters are vmodem's.
core::po::options_description modem_options();

// Validates and builds; errors name the option and the bad value.
modem_config modem_config_from(const core::po::variables_map& vm);

}  // namespace sb::modem
