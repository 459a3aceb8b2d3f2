// libFuzzer target for the SMS REST API's request bodies: POST /v1/sms and
// POST /v1/ussd. Whatever a client sends is an outbox request or an error
// (400 naming the field, never a crash); an accepted request has one PDU
// list per recipient, 1-255 parts each, each part's hex within the PDU
// limit; the JSON answers built from errors are JSON again.
//
// Input layout: [flags] [body...]
//   flags bit 0: status reports by default; bits 1-7: the concatenation reference
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_driver.hpp"
#include "sms/rest_json.hpp"

using namespace sb::sms;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    sb::sms::send_defaults d;
    d.status_report = data[0] & 1;
    d.concat_ref = static_cast<std::uint8_t>(data[0] >> 1);
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

    auto r = parse_send_request(body, "header-key", d);
    if (auto* e = std::get_if<api_error>(&r)) {
        SB_FUZZ_CHECK(e->status == 400);
        SB_FUZZ_CHECK(!e->message.empty());
        boost::json::error_code ec;
        (void)boost::json::parse(error_json(*e), ec);
        SB_FUZZ_CHECK(!ec);
    } else {
        auto& req = std::get<outbox_request>(r);
        SB_FUZZ_CHECK(!req.to.empty());
        SB_FUZZ_CHECK(req.pdus.size() == req.to.size());
        for (auto& parts : req.pdus) {
            SB_FUZZ_CHECK(!parts.empty() && parts.size() <= 255);
            for (std::size_t i = 0; i < parts.size(); ++i) {
                SB_FUZZ_CHECK(parts[i].part == i + 1);
                SB_FUZZ_CHECK(parts[i].total == parts.size());
                SB_FUZZ_CHECK(parts[i].hex.size() <= max_hex_chars);
                SB_FUZZ_CHECK(parts[i].hex.size() == 2 + 2 * parts[i].tpdu_length);
            }
        }
        SB_FUZZ_CHECK(req.idempotency_key && !req.idempotency_key->empty());
    }

    auto u = parse_ussd_request(body);
    if (auto* code = std::get_if<std::string>(&u)) {
        SB_FUZZ_CHECK(!code->empty() && code->size() <= 160);
        for (char c : *code) SB_FUZZ_CHECK((c >= '0' && c <= '9') || c == '*' || c == '#');
    }
    return 0;
}
