#include "sms/modem_status.hpp"

#include <charconv>
#include <vector>

namespace sb::sms {

namespace {

// The comma-separated fields after "+XXX: ", quotes kept off; commas inside
// quotes do not split.
std::optional<std::vector<std::string>> fields_of(std::string_view line, std::string_view prefix) {
    if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
    line.remove_prefix(prefix.size());
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::vector<std::string> out(1);
    bool quoted = false;
    for (char c : line) {
        if (c == '"')
            quoted = !quoted;
        else if (c == ',' && !quoted)
            out.emplace_back();
        else
            out.back().push_back(c);
    }
    if (quoted) return std::nullopt;
    return out;
}

std::optional<int> number(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

bool apply_csq(modem_status& s, std::string_view line) {
    auto f = fields_of(line, "+CSQ:");
    if (!f || f->size() != 2) return false;
    auto rssi = number((*f)[0]);
    if (!rssi || *rssi < 0 || (*rssi > 31 && *rssi != 99)) return false;
    s.rssi = *rssi == 99 ? std::nullopt : rssi;
    return true;
}

bool apply_creg(modem_status& s, std::string_view line, bool urc) {
    auto f = fields_of(line, "+CREG:");
    if (!f) f = fields_of(line, "+CEREG:");
    if (!f) f = fields_of(line, "+CGREG:");
    // The answer to AT+CREG? starts with <n>; a URC does not.
    const std::size_t at = urc ? 0 : 1;
    if (!f || f->size() <= at) return false;
    auto stat = number((*f)[at]);
    if (!stat) return false;
    switch (*stat) {
    case 0: s.registration = "not_registered"; break;
    case 1: s.registration = "home"; break;
    case 2: s.registration = "searching"; break;
    case 3: s.registration = "denied"; break;
    case 5: s.registration = "roaming"; break;
    default: s.registration = "unknown"; break;
    }
    return true;
}

bool apply_cops(modem_status& s, std::string_view line) {
    auto f = fields_of(line, "+COPS:");
    if (!f || f->empty() || !number((*f)[0])) return false;
    s.operator_name = f->size() >= 3 ? (*f)[2] : std::string();
    return true;
}

bool apply_cpin(modem_status& s, std::string_view line) {
    auto f = fields_of(line, "+CPIN:");
    if (!f || f->size() != 1) return false;
    const auto& v = (*f)[0];
    if (v == "READY")
        s.sim = "ready";
    else if (v == "SIM PIN")
        s.sim = "pin_required";
    else if (v == "SIM PUK")
        s.sim = "puk_required";
    else
        s.sim = "unknown";
    return true;
}

void apply_cpin_error(modem_status& s, int cme_code) {
    // 27.007 9.2.1: 10 SIM not inserted, 13 SIM failure, 11 PIN required, 12 PUK required.
    switch (cme_code) {
    case 10:
    case 13: s.sim = "absent"; break;
    case 11: s.sim = "pin_required"; break;
    case 12: s.sim = "puk_required"; break;
    default: s.sim = "unknown"; break;
    }
}

std::optional<ussd_reply> parse_cusd(std::string_view line) {
    auto f = fields_of(line, "+CUSD:");
    if (!f || f->empty()) return std::nullopt;
    auto status = number((*f)[0]);
    if (!status) return std::nullopt;
    ussd_reply r;
    r.status = *status;
    if (f->size() >= 2) r.text = (*f)[1];
    if (f->size() >= 3)
        if (auto d = number((*f)[2])) r.dcs = *d;
    return r;
}

}  // namespace sb::sms
