// [sms] parsing: defaults, and every bad value named.
#include <doctest/doctest.h>

#include "sms/sms_config.hpp"

using namespace sb::sms;

namespace {

sms_config parse(const std::string& text) {
    return parse_sms_config(sb::core::parse_ini(text, "/etc/switchboard/site.ini"));
}

}  // namespace

TEST_CASE("[sms] defaults: loopback, 115200 8N1, the usual heartbeat, store beside the file") {
    auto c = parse("[sms]\ndevice = /dev/ttyUSB2\napi_token = 0123456789\n");
    CHECK(c.device == "/dev/ttyUSB2");
    CHECK(c.line.speed == 115200);
    CHECK(c.line.data_bits == 8);
    CHECK(c.line.parity == 'N');
    CHECK(c.line.stop_bits == 1);
    REQUIRE(c.bridge_listen);
    CHECK(c.bridge_listen->host == "127.0.0.1");
    REQUIRE(c.api_listen);
    CHECK(c.api_listen->host == "127.0.0.1");
    CHECK(c.heartbeat == "<heartbeat>");
    CHECK(c.heartbeat_timeout == std::chrono::milliseconds(5000));
    CHECK_FALSE(c.kick_old_client);
    CHECK(c.store == "/etc/switchboard/sms.db");
    CHECK_FALSE(c.accept_when_absent);
}

TEST_CASE("[sms] every key") {
    auto c = parse(
        "[sms]\ndevice = /dev/ttyACM0\nbaud = 9600\nparity = e\nstop_bits = 2\nbridge_listen =\n"
        "heartbeat = PING\nheartbeat_timeout_ms = 0\nkick_old_client = yes\napi_listen = 0.0.0.0:9000\n"
        "api_token = averylongtoken\nstore = /var/lib/sms.db\nbyte_log = false\nreopen_backoff = 500ms\n"
        "reopen_backoff_max = 10s\nstatus_interval = 1m\nussd_timeout = 20s\naccept_when_absent = true\n"
        "send_attempts = 5\napi_max_connections = 4\n");
    CHECK(c.line.speed == 9600);
    CHECK(c.line.parity == 'E');
    CHECK(c.line.stop_bits == 2);
    CHECK_FALSE(c.bridge_listen);
    CHECK(c.heartbeat == "PING");
    CHECK(c.heartbeat_timeout.count() == 0);
    CHECK(c.kick_old_client);
    CHECK(c.api_listen->port == 9000);
    CHECK(c.store == "/var/lib/sms.db");
    CHECK_FALSE(c.byte_log);
    CHECK(c.reopen_backoff == std::chrono::milliseconds(500));
    CHECK(c.status_interval == std::chrono::minutes(1));
    CHECK(c.accept_when_absent);
    CHECK(c.send_attempts == 5);
    CHECK(c.api_max_connections == 4);
}

TEST_CASE("[sms] errors name the key") {
    struct c {
        const char* text;
        const char* names;
    };
    const c cases[] = {
        {"[sms]\napi_token = 0123456789\n", "device"},
        {"[sms]\ndevice = /dev/x\n", "api_token"},
        {"[sms]\ndevice = /dev/x\napi_token = short\n", "api_token"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nbaud = 12345\n", "baud"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nparity = X\n", "parity"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nheartbeat_timeout_ms = -1\n", "heartbeat_timeout_ms"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nheartbeat =\n", "heartbeat"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nbridge_listen = nowhere\n", "bridge_listen"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nreopen_backoff = 0s\n", "reopen_backoff"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\nkick_old_client = maybe\n", "kick_old_client"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\ncolour = red\n", "colour"},
        {"[sms]\ndevice = /dev/x\napi_token = 0123456789\ninbox_expiry = 30s\n", "inbox_expiry"},
        {"[sms.extra]\ndevice = /dev/x\n", "sms.extra"},
    };
    for (auto& k : cases) {
        CAPTURE(k.text);
        CHECK_THROWS_WITH_AS(parse(k.text), doctest::Contains(k.names), sb::core::config_error);
    }
    // No API, no token needed.
    CHECK_NOTHROW(parse("[sms]\ndevice = /dev/x\napi_listen =\n"));
}
