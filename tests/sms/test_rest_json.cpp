// The REST API's request validation and response bodies: every client
// mistake is a 400 naming the field, and what is accepted is encoded
// exactly as sms_store::accept wants it. No socket, no store.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "sms/rest_json.hpp"

using namespace sb::sms;
namespace json = boost::json;

namespace {

api_error error_of(std::string_view body, std::string_view header = {}) {
    auto r = parse_send_request(body, header, {});
    REQUIRE(std::holds_alternative<api_error>(r));
    return std::get<api_error>(r);
}

outbox_request request_of(std::string_view body, std::string_view header = {}, send_defaults d = {}) {
    auto r = parse_send_request(body, header, d);
    if (auto* e = std::get_if<api_error>(&r)) FAIL("unexpected error: " << e->message << " field " << e->field);
    return std::get<outbox_request>(r);
}

}  // namespace

TEST_CASE("POST /v1/sms: a minimal request") {
    auto r = request_of(R"({"to": ["+436601112233"], "text": "Hello"})");
    REQUIRE(r.to == std::vector<std::string>{"+436601112233"});
    CHECK(r.text == "Hello");
    CHECK_FALSE(r.validity);
    CHECK_FALSE(r.idempotency_key);
    REQUIRE(r.pdus.size() == 1);
    REQUIRE(r.pdus[0].size() == 1);
    CHECK(r.pdus[0][0].hex.substr(0, 2) == "00");
}

TEST_CASE("POST /v1/sms: every field") {
    send_defaults d;
    d.concat_ref = 200;
    std::string long_text(400, 'x');
    auto r = request_of(R"J({"to": ["+43 660-111.22 (33)", "0664 1234567"], "text": ")J" + long_text +
                            R"J(", "validity_minutes": 60, "idempotency_key": "k-1", "status_report": false})J",
                        {}, d);
    CHECK(r.to == std::vector<std::string>{"+436601112233", "06641234567"});
    CHECK(r.validity == std::chrono::minutes(60));
    CHECK(r.idempotency_key == "k-1");
    REQUIRE(r.pdus.size() == 2);
    CHECK(r.pdus[0].size() == 3);  // 400 septets: 153 + 153 + 94
    CHECK(r.pdus[1].size() == 3);
    // The first octet of the TPDU (after the "00" SMSC) has TP-SRR (0x20) clear.
    std::vector<std::uint8_t> octets;
    REQUIRE(from_hex(r.pdus[0][0].hex, octets));
    CHECK((octets[1] & 0x20) == 0);
}

TEST_CASE("POST /v1/sms: a single string recipient, the header's idempotency key") {
    auto r = request_of(R"({"to": "+436601112233", "text": "x"})", "hdr-key");
    CHECK(r.to.size() == 1);
    CHECK(r.idempotency_key == "hdr-key");
    // The body's key wins over the header's.
    r = request_of(R"({"to": "+436601112233", "text": "x", "idempotency_key": "body"})", "hdr-key");
    CHECK(r.idempotency_key == "body");
}

TEST_CASE("POST /v1/sms: status report default comes from the config") {
    send_defaults d;
    d.status_report = true;
    auto r = request_of(R"({"to": "+436601112233", "text": "x"})", {}, d);
    std::vector<std::uint8_t> octets;
    REQUIRE(from_hex(r.pdus[0][0].hex, octets));
    CHECK((octets[1] & 0x20) == 0x20);
}

TEST_CASE("POST /v1/sms: errors name the field") {
    struct c {
        const char* body;
        const char* field;
    };
    const c cases[] = {
        {"", ""},
        {"not json", ""},
        {"[1,2]", ""},
        {R"({"text": "x"})", "to"},
        {R"({"to": [], "text": "x"})", "to"},
        {R"({"to": 5, "text": "x"})", "to"},
        {R"({"to": [5], "text": "x"})", "to"},
        {R"({"to": ["+43abc"], "text": "x"})", "to"},
        {R"({"to": [" - "], "text": "x"})", "to"},
        {R"({"to": ["+123456789012345678901"], "text": "x"})", "to"},
        {R"({"to": ["+436601112233"]})", "text"},
        {R"({"to": ["+436601112233"], "text": 7})", "text"},
        {R"({"to": ["+436601112233"], "text": "x", "validity_minutes": 0})", "validity_minutes"},
        {R"({"to": ["+436601112233"], "text": "x", "validity_minutes": 1.5})", "validity_minutes"},
        {R"({"to": ["+436601112233"], "text": "x", "validity_minutes": "60"})", "validity_minutes"},
        {R"({"to": ["+436601112233"], "text": "x", "validity_minutes": 99999999})", "validity_minutes"},
        {R"({"to": ["+436601112233"], "text": "x", "idempotency_key": 3})", "idempotency_key"},
        {R"({"to": ["+436601112233"], "text": "x", "idempotency_key": ""})", "idempotency_key"},
        {R"({"to": ["+436601112233"], "text": "x", "status_report": "yes"})", "status_report"},
        {R"({"to": ["+436601112233"], "txt": "x"})", "txt"},
    };
    for (auto& k : cases) {
        CAPTURE(k.body);
        auto e = error_of(k.body);
        CHECK(e.status == 400);
        CHECK(e.field == k.field);
        CHECK_FALSE(e.message.empty());
    }
    // Invalid UTF-8 is not JSON (RFC 8259 8.1); a text over 255 parts is the text's fault.
    CHECK(error_of("{\"to\": \"+4366\", \"text\": \"\xff\"}").message.find("JSON") != std::string::npos);
    CHECK(error_of(R"({"to": "+4366", "text": ")" + std::string(255 * 153 + 1, 'a') + "\"}").field == "text");
    CHECK(error_of(R"({"to": "+4366", "text": "x"})", std::string(201, 'k')).field == "idempotency_key");
}

TEST_CASE("POST /v1/sms: recipient limit") {
    std::string body = R"({"text": "x", "to": [)";
    for (int i = 0; i < 101; ++i) body += std::string(i ? "," : "") + "\"+4366" + std::to_string(i) + "\"";
    body += "]}";
    CHECK(error_of(body).field == "to");
}

TEST_CASE("POST /v1/ussd") {
    auto ok = parse_ussd_request(R"({"code": "*100#"})");
    REQUIRE(std::holds_alternative<std::string>(ok));
    CHECK(std::get<std::string>(ok) == "*100#");
    for (auto body : {R"({})", R"({"code": ""})", R"({"code": "*100#;ATD"})", R"({"code": 100})", "x"}) {
        CAPTURE(body);
        auto r = parse_ussd_request(body);
        REQUIRE(std::holds_alternative<api_error>(r));
        CHECK(std::get<api_error>(r).status == 400);
    }
}

TEST_CASE("responses are JSON with the documented fields") {
    auto e = json::parse(error_json({409, "dup", "idempotency_key", "abc"})).as_object();
    CHECK(e.at("error") == "dup");
    CHECK(e.at("field") == "idempotency_key");
    CHECK(e.at("id") == "abc");
    CHECK_FALSE(json::parse(error_json({404, "no", {}, {}})).as_object().contains("field"));

    auto a = json::parse(accepted_json("id1", 3)).as_object();
    CHECK(a.at("id") == "id1");
    CHECK(a.at("state") == "queued");
    CHECK(a.at("parts") == 3);

    outbox_message m;
    m.id = "m1";
    m.state = part_state::sent;
    m.to = {"+4366"};
    m.text = "Grüße \"x\"";
    part_info p;
    p.recipient = "+4366";
    p.state = part_state::sent;
    p.message_reference = 7;
    m.parts.push_back(p);
    auto mj = json::parse(message_json(m)).as_object();
    CHECK(mj.at("state") == "sent");
    CHECK(mj.at("text") == "Grüße \"x\"");
    CHECK(mj.at("parts").as_array().at(0).as_object().at("message_reference") == 7);
    CHECK(mj.at("parts").as_array().at(0).as_object().at("delivery_status").is_null());

    modem_status s;
    s.rssi = 20;
    auto mo = json::parse(modem_json(s, "ready", "/dev/ttyUSB2", 4)).as_object();
    CHECK(mo.at("signal_dbm") == -73);
    CHECK(mo.at("queued") == 4);
    CHECK(mo.at("state") == "ready");

    page<inbox_message> pg;
    pg.items.push_back({});
    pg.next = 42;
    auto ij = json::parse(inbox_json(pg)).as_object();
    CHECK(ij.at("messages").as_array().size() == 1);
    CHECK(ij.at("next") == "42");
}

TEST_CASE("iso_time is UTC") {
    CHECK(iso_time(std::chrono::system_clock::from_time_t(0)) == "1970-01-01T00:00:00Z");
    CHECK(iso_time(std::chrono::system_clock::from_time_t(1700000000)) == "2023-11-14T22:13:20Z");
}
