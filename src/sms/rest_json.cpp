#include "sms/rest_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>

namespace sb::sms {

namespace json = boost::json;

namespace {

// 63 weeks: the longest relative TP-VP.
constexpr std::int64_t max_validity_minutes = 63LL * 7 * 24 * 60;

api_error bad(std::string message, std::string field) { return {400, std::move(message), std::move(field), {}}; }

std::optional<std::string> normalise_number(std::string_view in) {
    std::string out;
    for (char c : in) {
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
        out.push_back(c);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

json::value time_or_null(const std::optional<sys_time>& t) {
    if (!t) return nullptr;
    return json::value(iso_time(*t));
}

std::string_view coding_name(text_coding c) {
    switch (c) {
    case text_coding::gsm7: return "gsm7";
    case text_coding::ucs2: return "ucs2";
    case text_coding::eight_bit: return "8bit";
    }
    return "gsm7";
}

json::object inbox_object(const inbox_message& m) {
    json::object o;
    o["id"] = m.id;
    o["from"] = m.sender;
    o["timestamp"] = m.timestamp;
    o["text"] = m.text;
    o["coding"] = coding_name(m.coding);
    if (m.coding == text_coding::eight_bit) o["data_hex"] = to_hex(m.payload);
    o["parts"] = m.parts;
    o["total"] = m.total;
    o["complete"] = m.parts >= m.total;
    o["smsc"] = m.smsc;
    if (m.message_class) o["class"] = *m.message_class;
    o["received_at"] = iso_time(m.received_at);
    return o;
}

std::string dump(const json::value& v) { return json::serialize(v) + "\n"; }

}  // namespace

std::string error_json(const api_error& e) {
    json::object o;
    o["error"] = e.message;
    if (!e.field.empty()) o["field"] = e.field;
    if (!e.id.empty()) o["id"] = e.id;
    return dump(o);
}

std::variant<outbox_request, api_error> parse_send_request(std::string_view body, std::string_view idempotency_header,
                                                           const send_defaults& defaults) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return bad("body is not JSON: " + ec.message(), "");
    if (!v.is_object()) return bad("body must be a JSON object", "");
    const auto& o = v.get_object();
    for (auto& [key, value] : o) {
        if (key != "to" && key != "text" && key != "validity_minutes" && key != "idempotency_key" &&
            key != "status_report")
            return bad("unknown field", std::string(key));
    }

    outbox_request r;
    const json::value* to = o.if_contains("to");
    if (!to) return bad("missing: the recipients, a number or a list of numbers", "to");
    std::vector<std::string_view> numbers;
    if (to->is_string()) {
        numbers.push_back(to->get_string());
    } else if (to->is_array()) {
        for (auto& n : to->get_array()) {
            if (!n.is_string()) return bad("every recipient must be a string", "to");
            numbers.push_back(n.get_string());
        }
    } else {
        return bad("must be a number or a list of numbers (strings)", "to");
    }
    if (numbers.empty()) return bad("no recipient", "to");
    if (numbers.size() > defaults.max_recipients)
        return bad("more than " + std::to_string(defaults.max_recipients) + " recipients", "to");
    for (auto n : numbers) {
        auto number = normalise_number(n);
        if (!number) return bad("empty number", "to");
        r.to.push_back(std::move(*number));
    }

    const json::value* text = o.if_contains("text");
    if (!text) return bad("missing", "text");
    if (!text->is_string()) return bad("must be a string", "text");
    r.text = std::string(text->get_string());

    if (const json::value* vm = o.if_contains("validity_minutes"); vm && !vm->is_null()) {
        if (!vm->is_int64() && !vm->is_uint64()) return bad("must be a whole number of minutes", "validity_minutes");
        const auto minutes = vm->is_int64() ? vm->get_int64() : static_cast<std::int64_t>(vm->get_uint64());
        if (minutes < 1 || minutes > max_validity_minutes || (vm->is_uint64() && vm->get_uint64() > INT64_MAX))
            return bad("must be 1 to " + std::to_string(max_validity_minutes) + " (63 weeks)", "validity_minutes");
        r.validity = std::chrono::minutes(minutes);
    }

    if (const json::value* k = o.if_contains("idempotency_key"); k && !k->is_null()) {
        if (!k->is_string()) return bad("must be a string", "idempotency_key");
        r.idempotency_key = std::string(k->get_string());
    } else if (!idempotency_header.empty()) {
        r.idempotency_key = std::string(idempotency_header);
    }
    if (r.idempotency_key && (r.idempotency_key->empty() || r.idempotency_key->size() > 200))
        return bad("must be 1 to 200 bytes", "idempotency_key");

    bool status_report = defaults.status_report;
    if (const json::value* sr = o.if_contains("status_report"); sr && !sr->is_null()) {
        if (!sr->is_bool()) return bad("must be true or false", "status_report");
        status_report = sr->get_bool();
    }

    std::size_t parts = 0;
    for (std::size_t i = 0; i < r.to.size(); ++i) {
        submit_request s;
        s.to = r.to[i];
        s.text = r.text;
        s.validity = r.validity;
        s.status_report_request = status_report;
        s.concat_ref = static_cast<std::uint8_t>(defaults.concat_ref + i);
        std::string why;
        auto pdus = encode_submit(s, why);
        if (pdus.empty()) return bad(why, why.rfind("destination", 0) == 0 ? "to" : "text");
        parts += pdus.size();
        r.pdus.push_back(std::move(pdus));
    }
    if (parts > 1000) return bad("more than 1000 parts over all recipients", "to");
    return r;
}

std::variant<std::string, api_error> parse_ussd_request(std::string_view body) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return bad("body is not JSON: " + ec.message(), "");
    if (!v.is_object()) return bad("body must be a JSON object", "");
    const json::value* code = v.get_object().if_contains("code");
    if (!code || !code->is_string()) return bad("missing: a USSD code such as *100#", "code");
    std::string c(code->get_string());
    if (c.empty() || c.size() > 160) return bad("must be 1 to 160 characters", "code");
    for (char ch : c)
        if (!(ch >= '0' && ch <= '9') && ch != '*' && ch != '#')
            return bad("only digits, '*' and '#'", "code");
    return c;
}

std::string accepted_json(const std::string& id, std::size_t parts) {
    json::object o;
    o["id"] = id;
    o["state"] = "queued";
    o["parts"] = parts;
    return dump(o);
}

std::string message_json(const outbox_message& m) {
    json::object o;
    o["id"] = m.id;
    o["state"] = to_string(m.state);
    json::array to;
    for (auto& t : m.to) to.emplace_back(t);
    o["to"] = std::move(to);
    o["text"] = m.text;
    if (m.validity) o["validity_minutes"] = m.validity->count();
    if (m.idempotency_key) o["idempotency_key"] = *m.idempotency_key;
    o["created_at"] = iso_time(m.created_at);
    json::array parts;
    for (auto& p : m.parts) {
        json::object j;
        j["to"] = p.recipient;
        j["part"] = p.part;
        j["total"] = p.total;
        j["state"] = to_string(p.state);
        j["message_reference"] = p.message_reference ? json::value(*p.message_reference) : json::value(nullptr);
        j["delivery_status"] = p.delivery_status ? json::value(*p.delivery_status) : json::value(nullptr);
        j["attempts"] = p.attempts;
        j["error"] = p.error;
        j["sent_at"] = time_or_null(p.sent_at);
        j["done_at"] = time_or_null(p.done_at);
        parts.emplace_back(std::move(j));
    }
    o["parts"] = std::move(parts);
    return dump(o);
}

std::string inbox_json(const page<inbox_message>& p) {
    json::object o;
    json::array messages;
    for (auto& m : p.items) messages.emplace_back(inbox_object(m));
    o["messages"] = std::move(messages);
    o["next"] = p.next ? json::value(std::to_string(*p.next)) : json::value(nullptr);
    return dump(o);
}

std::string inbox_message_json(const inbox_message& m) { return dump(inbox_object(m)); }

std::string modem_json(const modem_status& s, std::string_view state, std::string_view device, std::uint64_t queued) {
    json::object o;
    o["state"] = state;
    o["device"] = device;
    auto dbm = s.signal_dbm();
    o["signal_dbm"] = dbm ? json::value(*dbm) : json::value(nullptr);
    o["rssi"] = s.rssi ? json::value(*s.rssi) : json::value(nullptr);
    o["operator"] = s.operator_name;
    o["registration"] = s.registration;
    o["sim"] = s.sim;
    o["manufacturer"] = s.manufacturer;
    o["model"] = s.model;
    o["imei"] = s.imei;
    o["queued"] = queued;
    return dump(o);
}

std::string ussd_json(const ussd_reply& r) {
    json::object o;
    o["status"] = r.status;
    o["text"] = r.text;
    if (r.dcs >= 0) o["dcs"] = r.dcs;
    return dump(o);
}

std::string iso_time(sys_time t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace sb::sms
