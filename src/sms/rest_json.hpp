#pragma once
// The REST API's bodies, sans-I/O: request JSON in, validated requests or
// an error naming the field out; store records in, response JSON out. The
// service routes and authenticates; everything a client can get wrong is
// decided here, where doctest reaches it without a socket.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "sms/modem_status.hpp"
#include "sms/sms_store.hpp"

namespace sb::sms {

struct api_error {
    unsigned status = 400;
    std::string message;
    std::string field;  // the request field at fault, if one is
    std::string id;     // 409: the message the idempotency key already names
};
// {"error": "...", "field": "..."}
std::string error_json(const api_error& e);

struct send_defaults {
    bool status_report = true;
    std::uint8_t concat_ref = 0;  // random, from the caller; recipient i uses concat_ref + i
    std::size_t max_recipients = 100;
};

// POST /v1/sms: {"to": ["+43..."] or "+43...", "text": "...", "validity_minutes": 60,
// "idempotency_key": "...", "status_report": true}. Numbers may contain
// spaces, dashes, dots and parentheses, which are dropped; anything else
// wrong is a 400 naming the field. The Idempotency-Key header counts as the
// field when the body has none.
std::variant<outbox_request, api_error> parse_send_request(std::string_view body, std::string_view idempotency_header,
                                                           const send_defaults& defaults);
// POST /v1/ussd: {"code": "*100#"}. Digits, '*' and '#' only, 1-160 of them.
std::variant<std::string, api_error> parse_ussd_request(std::string_view body);

std::string accepted_json(const std::string& id, std::size_t parts);
std::string message_json(const outbox_message& m);
std::string inbox_json(const page<inbox_message>& p);
std::string inbox_message_json(const inbox_message& m);
std::string modem_json(const modem_status& s, std::string_view state, std::string_view device, std::uint64_t queued);
std::string ussd_json(const ussd_reply& r);

// UTC, "2026-11-23T18:40:00Z".
std::string iso_time(sys_time t);

}  // namespace sb::sms
