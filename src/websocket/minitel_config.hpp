#pragma once
// [minitel]: the WebSocket/Telnet gateway and its embedded videotex server.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/endpoint.hpp"
#include "websocket/service_url.hpp"

namespace sb::ws {

enum class enqrom_mode : unsigned char { auto_, always, never };

struct minitel_config {
    std::optional<core::endpoint> ws_listen;      // empty value: no WebSocket listener
    std::optional<core::endpoint> telnet_listen;  // empty value: no Telnet listener
    service_url default_service;                  // local unless told otherwise
    std::string pages;                            // empty: the built-in demo tree is not used
                                                  // (relative paths are taken from the INI file's folder)
    std::string directory;                        // empty: no redirections
    std::size_t max_sessions = 500;
    std::size_t max_sessions_per_ip = 20;
    std::vector<std::string> allowed_origins;     // empty: any Origin
    std::chrono::milliseconds idle_timeout = std::chrono::minutes(30);
    std::chrono::milliseconds session_timeout = std::chrono::hours(4);
    std::chrono::milliseconds ping_interval = std::chrono::seconds(20);
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
    std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
    std::chrono::milliseconds telnet_junk_time = std::chrono::milliseconds(500);
    std::chrono::milliseconds enqrom_wait = std::chrono::milliseconds(500);
    std::chrono::milliseconds reload_check = std::chrono::seconds(2);
    unsigned baud = 0;                            // 0: no pacing; 1200, 4800, 9600
    std::size_t max_buffer = 256 * 1024;
    std::size_t max_frame_size = 64 * 1024;
    enqrom_mode enqrom = enqrom_mode::auto_;
    std::string enqrom_answer = "\x01" "Cu;" "\x04";  // a Minitel 1B
};

// Throws core::config_error naming the key and the bad value.
minitel_config parse_minitel_config(const std::vector<core::ini_section>& sections);

}  // namespace sb::ws
