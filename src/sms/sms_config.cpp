#include "sms/sms_config.hpp"

namespace sb::sms {

namespace po = core::po;

namespace {

po::options_description sms_keys() {
    po::options_description d("[sms]");
    // clang-format off
    d.add_options()
        ("device", po::value<std::string>()->default_value(""), "the modem's serial port (e.g. /dev/ttyUSB2)")
        ("baud", po::value<long long>()->default_value(115200), "serial speed (8N1 unless data_bits/parity/stop_bits say otherwise)")
        ("data_bits", po::value<long long>()->default_value(8), "5..8")
        ("parity", po::value<std::string>()->default_value("N"), "N, E or O")
        ("stop_bits", po::value<long long>()->default_value(1), "1 or 2")
        ("bridge_listen", po::value<std::string>()->default_value("127.0.0.1:7001"), "raw TCP bridge for one client (empty: none)")
        ("heartbeat", po::value<std::string>()->default_value("<heartbeat>"), "bytes the bridge client sends to stay in control; stripped")
        ("heartbeat_timeout_ms", po::value<long long>()->default_value(5000), "bridge client dropped after this long without a heartbeat (0: never)")
        ("kick_old_client", po::value<std::string>()->default_value("false"), "a new bridge client replaces the one in control")
        ("bridge_buffer", po::value<long long>()->default_value(64 * 1024), "bytes held for a bridge client waiting for the modem")
        ("api_listen", po::value<std::string>()->default_value("127.0.0.1:8025"), "REST API (empty: none)")
        ("api_token", po::value<std::string>()->default_value(""), "bearer token the REST API requires")
        ("max_body", po::value<long long>()->default_value(256 * 1024), "largest REST request body in bytes")
        ("api_max_connections", po::value<long long>()->default_value(16), "REST connections at once")
        ("store", po::value<std::string>()->default_value("sms.db"), "SQLite file of the outbox and inbox (relative: to this file)")
        ("byte_log", po::value<std::string>()->default_value("true"), "log every serial byte (SER_W/SER_R lines)")
        ("hex_dump", po::value<std::string>()->default_value("false"), "add a hex dump to the byte log")
        ("reopen_backoff", po::value<std::string>()->default_value("1s"), "first wait before reopening a vanished port (doubles)")
        ("reopen_backoff_max", po::value<std::string>()->default_value("30s"), "longest wait between reopen attempts")
        ("status_interval", po::value<std::string>()->default_value("30s"), "how often signal, registration and operator are read")
        ("ussd_timeout", po::value<std::string>()->default_value("30s"), "POST /v1/ussd waits this long for the network")
        ("send_timeout", po::value<std::string>()->default_value("60s"), "AT+CMGS until the network acknowledges")
        ("status_reports", po::value<std::string>()->default_value("true"), "request delivery reports")
        ("accept_when_absent", po::value<std::string>()->default_value("false"), "queue POST /v1/sms while the modem is absent (else 503)")
        ("send_attempts", po::value<long long>()->default_value(3), "tries of a part the modem refused before its PDU")
        ("inbox_expiry", po::value<std::string>()->default_value("24h"), "incomplete concatenated messages are shown after this long")
        ("outbox_retention", po::value<std::string>()->default_value("168h"), "finished outgoing messages are kept this long");
    // clang-format on
    return d;
}

long long in_range(const po::variables_map& vm, const char* key, long long min, long long max) {
    return core::get_in_range(vm, key, min, max, "[sms] " + std::string(key));
}

std::chrono::milliseconds millis(const po::variables_map& vm, const char* key, bool zero_ok = false) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(core::get_duration(vm, key));
    if (d < std::chrono::milliseconds::zero() || (!zero_ok && d == std::chrono::milliseconds::zero()))
        throw core::config_error("[sms] " + std::string(key) + ": must be above zero");
    return d;
}

bool flag(const po::variables_map& vm, const char* key) {
    return core::parse_bool("[sms] " + std::string(key), vm[key].as<std::string>());
}

}  // namespace

sms_config parse_sms_config(const std::vector<core::ini_section>& sections) {
    po::variables_map vm;
    auto keys = sms_keys();
    std::string file;
    for (auto& s : sections) {
        if (s.name != "sms")
            throw core::config_error(s.where(s.line) + ": unknown section [" + s.name + "] (the SMS plugin has only [sms])");
        core::store_section(s, keys, vm);
        file = s.file;
    }
    core::store_section({}, keys, vm);
    po::notify(vm);

    sms_config c;
    c.device = vm["device"].as<std::string>();
    if (c.device.empty()) throw core::config_error("[sms] device: missing (the modem's serial port, e.g. /dev/ttyUSB2)");
    c.line.speed = static_cast<unsigned>(in_range(vm, "baud", 50, 4000000));
    if (!core::is_standard_speed(c.line.speed))
        throw core::config_error("[sms] baud: " + std::to_string(c.line.speed) + " is not a standard serial speed");
    c.line.data_bits = static_cast<int>(in_range(vm, "data_bits", 5, 8));
    const auto parity = vm["parity"].as<std::string>();
    if (parity != "N" && parity != "E" && parity != "O" && parity != "n" && parity != "e" && parity != "o")
        throw core::config_error("[sms] parity: '" + parity + "' is not N, E or O");
    c.line.parity = static_cast<char>(parity[0] & ~0x20);
    c.line.stop_bits = static_cast<int>(in_range(vm, "stop_bits", 1, 2));

    c.bridge_listen = core::get_optional_endpoint(vm, "bridge_listen", "127.0.0.1");
    c.heartbeat = vm["heartbeat"].as<std::string>();
    if (c.heartbeat.size() > 64) throw core::config_error("[sms] heartbeat: longer than 64 bytes");
    c.heartbeat_timeout = std::chrono::milliseconds(in_range(vm, "heartbeat_timeout_ms", 0, 24LL * 3600 * 1000));
    if (c.heartbeat.empty() && c.heartbeat_timeout.count() != 0)
        throw core::config_error("[sms] heartbeat is empty but heartbeat_timeout_ms is not 0");
    c.kick_old_client = flag(vm, "kick_old_client");
    c.bridge_buffer = static_cast<std::size_t>(in_range(vm, "bridge_buffer", 1024, 16 << 20));

    c.api_listen = core::get_optional_endpoint(vm, "api_listen", "127.0.0.1");
    c.api_token = vm["api_token"].as<std::string>();
    if (c.api_listen && c.api_token.size() < 8)
        throw core::config_error(c.api_token.empty()
                                     ? "[sms] api_token: missing (the REST API can send SMS: it needs a token; "
                                       "or set api_listen empty)"
                                     : "[sms] api_token: shorter than 8 characters");
    c.max_body = static_cast<std::size_t>(in_range(vm, "max_body", 1024, 16 << 20));
    c.api_max_connections = static_cast<std::size_t>(in_range(vm, "api_max_connections", 1, 10000));
    c.store = core::path_beside(file, vm["store"].as<std::string>());
    if (c.store.empty()) throw core::config_error("[sms] store: missing (the SQLite file of the outbox and inbox)");
    c.byte_log = flag(vm, "byte_log");
    c.hex_dump = flag(vm, "hex_dump");
    c.reopen_backoff = millis(vm, "reopen_backoff");
    c.reopen_backoff_max = millis(vm, "reopen_backoff_max");
    if (c.reopen_backoff_max < c.reopen_backoff) c.reopen_backoff_max = c.reopen_backoff;
    c.status_interval = millis(vm, "status_interval");
    c.ussd_timeout = millis(vm, "ussd_timeout");
    c.send_timeout = millis(vm, "send_timeout");
    c.status_reports = flag(vm, "status_reports");
    c.accept_when_absent = flag(vm, "accept_when_absent");
    c.send_attempts = static_cast<unsigned>(in_range(vm, "send_attempts", 1, 100));
    for (auto [key, field] : {std::pair{"inbox_expiry", &c.inbox_expiry}, std::pair{"outbox_retention", &c.outbox_retention}}) {
        *field = std::chrono::duration_cast<std::chrono::minutes>(millis(vm, key));
        if (field->count() < 1) throw core::config_error("[sms] " + std::string(key) + ": at least 1 minute");
    }
    return c;
}

}  // namespace sb::sms
