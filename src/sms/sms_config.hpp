#pragma once
// [sms]: the SIM-modem bridge, its AT engine and the REST API.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/endpoint.hpp"
#include "core/tty.hpp"

namespace sb::sms {

struct sms_config {
    std::string device;  // the modem's serial port, e.g. /dev/ttyUSB2
    core::line_settings line;
    std::optional<core::endpoint> bridge_listen;  // empty value: no raw bridge
    std::string heartbeat = "<heartbeat>";        // empty: none expected
    std::chrono::milliseconds heartbeat_timeout{5000};  // 0: not enforced
    bool kick_old_client = false;
    std::size_t bridge_buffer = 64 * 1024;  // bytes held for a client waiting for control
    std::optional<core::endpoint> api_listen;  // empty value: no REST API
    std::string api_token;                     // required with api_listen
    std::size_t max_body = 256 * 1024;
    std::size_t api_max_connections = 16;
    std::string store = "sms.db";
    bool byte_log = true;
    bool hex_dump = false;
    std::chrono::milliseconds reopen_backoff{1000};
    std::chrono::milliseconds reopen_backoff_max{30000};
    std::chrono::milliseconds status_interval{30000};
    std::chrono::milliseconds ussd_timeout{30000};
    std::chrono::milliseconds send_timeout{60000};  // AT+CMGS until +CMGS: <mr>
    bool status_reports = true;       // TP-SRR on every part
    bool accept_when_absent = false;  // POST /v1/sms while the port is closed: 503, or queue
    unsigned send_attempts = 3;       // a part answered ERROR before its PDU is retried this often
    std::chrono::minutes inbox_expiry{24 * 60};      // incomplete concatenated messages
    std::chrono::minutes outbox_retention{7 * 24 * 60};  // finished messages kept for GET
};

// Throws core::config_error naming the key and the bad value.
sms_config parse_sms_config(const std::vector<core::ini_section>& sections);

}  // namespace sb::sms
