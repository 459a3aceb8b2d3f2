// GET /v1/modem's fields from the modem's answers (3GPP TS 27.007).
#include <doctest/doctest.h>

#include "sms/modem_status.hpp"

using namespace sb::sms;

TEST_CASE("+CSQ: rssi to dBm, 99 is unknown, garbage keeps the value") {
    modem_status s;
    CHECK(apply_csq(s, "+CSQ: 20,99"));
    CHECK(s.rssi == 20);
    CHECK(s.signal_dbm() == -73);
    CHECK(apply_csq(s, "+CSQ: 0,0"));
    CHECK(s.signal_dbm() == -113);
    CHECK(apply_csq(s, "+CSQ: 31,99"));
    CHECK(s.signal_dbm() == -51);
    CHECK_FALSE(apply_csq(s, "+CSQ: 32,99"));
    CHECK_FALSE(apply_csq(s, "+CSQ: x,99"));
    CHECK_FALSE(apply_csq(s, "+CSQ: 5"));
    CHECK_FALSE(apply_csq(s, "+CREG: 0,1"));
    CHECK(s.rssi == 31);
    CHECK(apply_csq(s, "+CSQ: 99,99"));
    CHECK_FALSE(s.rssi);
    CHECK_FALSE(s.signal_dbm());
}

TEST_CASE("+CREG: answer has <n> first, the URC does not") {
    modem_status s;
    CHECK(apply_creg(s, "+CREG: 0,1", false));
    CHECK(s.registration == "home");
    CHECK(apply_creg(s, "+CREG: 5", true));
    CHECK(s.registration == "roaming");
    CHECK(apply_creg(s, "+CREG: 2,3,\"00A1\",\"0B2C\"", false));
    CHECK(s.registration == "denied");
    CHECK(apply_creg(s, "+CREG: 2,\"00A1\",\"0B2C\"", true));
    CHECK(s.registration == "searching");
    CHECK(apply_creg(s, "+CEREG: 0,0", false));
    CHECK(s.registration == "not_registered");
    CHECK(apply_creg(s, "+CREG: 1,4", false));
    CHECK(s.registration == "unknown");
    CHECK_FALSE(apply_creg(s, "+CREG: 1", false));
    CHECK_FALSE(apply_creg(s, "+CSQ: 1,1", true));
}

TEST_CASE("+COPS and +CPIN") {
    modem_status s;
    CHECK(apply_cops(s, "+COPS: 0,0,\"A1 Telekom, AT\",7"));
    CHECK(s.operator_name == "A1 Telekom, AT");
    CHECK(apply_cops(s, "+COPS: 0"));
    CHECK(s.operator_name.empty());
    CHECK_FALSE(apply_cops(s, "+COPS: \"x"));
    CHECK(apply_cpin(s, "+CPIN: READY"));
    CHECK(s.sim == "ready");
    CHECK(apply_cpin(s, "+CPIN: SIM PIN"));
    CHECK(s.sim == "pin_required");
    apply_cpin_error(s, 10);
    CHECK(s.sim == "absent");
}

TEST_CASE("+CUSD") {
    auto r = parse_cusd("+CUSD: 0,\"Balance: 10.00 EUR, valid to 1.1.\",15");
    REQUIRE(r);
    CHECK(r->status == 0);
    CHECK(r->text == "Balance: 10.00 EUR, valid to 1.1.");
    CHECK(r->dcs == 15);
    r = parse_cusd("+CUSD: 4");
    REQUIRE(r);
    CHECK(r->status == 4);
    CHECK(r->text.empty());
    CHECK_FALSE(parse_cusd("+CUSD: x"));
    CHECK_FALSE(parse_cusd("+CUSD: 0,\"open"));
}
