#pragma once
// [sip], [sip.behavior] and [sip.media]: the keys of the tone server it
// replaces, with limits and timers of our own added to [sip].
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "sip/uas.hpp"

namespace sb::sip {

struct sip_config {
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 5060;
    bool udp = true;
    bool tcp = false;
    std::size_t max_tcp_connections = 1024;
    clock::duration stats_interval = std::chrono::seconds(30);
    double tone_frequency = 440.0;
    double tone_level_dbfs = -9.0;
    std::uint16_t rtp_port_start = 10000;
    std::uint16_t rtp_port_end = 20000;
    unsigned sample_rate = 8000;
    uas_config uas;  // local address, behaviour, codecs, timers
};

// Builds the config from the sections named "sip", "sip.behavior" and
// "sip.media"; unknown sections or keys and bad values are config_errors
// naming them.
sip_config sip_config_from(const std::vector<core::ini_section>& sections);

}  // namespace sb::sip
