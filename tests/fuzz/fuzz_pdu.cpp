// libFuzzer target for the SMS PDU codec (src/sms).
//
// Input layout: [mode] [payload...]
//   mode % 4 == 0: payload is the hex a modem printed: decode_deliver()
//   mode % 4 == 1: payload is octets: decoded directly and as hex, which must agree
//   mode % 4 == 2: payload is UTF-8 text for encode_submit(); bits 2-7 pick the
//                  number, validity, status report flag and concat ref. Every part
//                  must be well formed, and the parts, turned into the DELIVERs the
//                  recipient would see, must decode and reassemble to the text.
//   mode % 4 == 3: payload is a run of PDUs ([length] [octets])*, fed to one
//                  reassembler with the time moving on; its bounds must hold.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_driver.hpp"
#include "sms/gsm7.hpp"
#include "sms/pdu.hpp"

namespace {

using namespace sb::sms;

void check_decoded(const deliver_pdu& d) {
    std::u32string scratch;
    SB_FUZZ_CHECK(utf8_decode(d.text, scratch));
    SB_FUZZ_CHECK(utf8_decode(d.sender.value, scratch));
    SB_FUZZ_CHECK(utf8_decode(d.recipient.value, scratch));
    SB_FUZZ_CHECK(d.payload.size() <= 160);
    SB_FUZZ_CHECK(d.udh.size() < 140);
    SB_FUZZ_CHECK(d.timestamp.empty() || d.timestamp.size() == 25);
    SB_FUZZ_CHECK(d.discharge_time.empty() || d.discharge_time.size() == 25);
    if (d.concat) SB_FUZZ_CHECK(d.concat->part >= 1 && d.concat->part <= d.concat->total);
    if (d.coding == text_coding::eight_bit) SB_FUZZ_CHECK(d.text.empty());
}

std::optional<deliver_pdu> decode_checked(std::string_view hex) {
    std::string error;
    auto d = decode_deliver(hex, error);
    SB_FUZZ_CHECK(d.has_value() == error.empty());
    if (d) check_decoded(*d);
    return d;
}

// The SMS-DELIVER a recipient would get for one of our SUBMITs: same address,
// PID, DCS, UDHI and user data; fixed SMSC and timestamp.
std::string as_deliver(const submit_pdu& p) {
    std::vector<std::uint8_t> b;
    SB_FUZZ_CHECK(from_hex(p.hex, b));
    SB_FUZZ_CHECK(b.size() == 1 + p.tpdu_length && b[0] == 0);
    std::size_t i = 1;
    std::uint8_t const fo = b[i++];
    SB_FUZZ_CHECK((fo & 0x03) == 1);  // SMS-SUBMIT
    SB_FUZZ_CHECK(b[i++] == 0);       // TP-MR left to the modem
    std::size_t const da_octets = 2 + (b[i] + 1u) / 2;
    SB_FUZZ_CHECK(b.size() >= i + da_octets + 3);  // PID, DCS, UDL at least
    std::vector<std::uint8_t> d = {0x00, static_cast<std::uint8_t>(0x04 | (fo & 0x40))};
    d.insert(d.end(), b.begin() + static_cast<std::ptrdiff_t>(i), b.begin() + static_cast<std::ptrdiff_t>(i + da_octets));
    i += da_octets;
    d.push_back(b[i++]);  // PID
    d.push_back(b[i++]);  // DCS
    if (fo & 0x10) ++i;   // relative TP-VP
    for (std::uint8_t t : {0x32, 0x10, 0x91, 0x81, 0x03, 0x00, 0x40}) d.push_back(t);
    d.insert(d.end(), b.begin() + static_cast<std::ptrdiff_t>(i), b.end());
    return to_hex(d);
}

void fuzz_encode(std::uint8_t mode, std::string_view text) {
    submit_request req;
    req.to = (mode & 0x04) ? "+436601112233" : "06601";
    if (mode & 0x08) req.validity = std::chrono::minutes((mode >> 4) * 997);
    req.status_report_request = (mode & 0x10) != 0;
    req.concat_ref = static_cast<std::uint8_t>(mode * 7);
    req.text = std::string(text);

    std::string error;
    auto const parts = encode_submit(req, error);
    std::u32string scratch;
    bool const valid = utf8_decode(text, scratch);
    auto const plan = plan_split(text);
    SB_FUZZ_CHECK(parts.empty() == !error.empty());
    SB_FUZZ_CHECK(plan.has_value() == valid);
    if (!valid) {
        SB_FUZZ_CHECK(parts.empty());
        return;
    }
    SB_FUZZ_CHECK(!parts.empty());
    SB_FUZZ_CHECK(plan->parts == parts.size());
    SB_FUZZ_CHECK(plan->gsm7 == gsm7_encodable(text));

    reassembler r;
    std::optional<complete_message> done;
    for (std::size_t n = parts.size(); n-- > 0;) {
        auto const& p = parts[n];
        SB_FUZZ_CHECK(p.part == n + 1 && p.total == parts.size());
        SB_FUZZ_CHECK(p.hex.size() == 2 + 2 * p.tpdu_length);
        SB_FUZZ_CHECK(p.tpdu_length <= 164);
        for (char c : p.hex) SB_FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
        auto const d = decode_checked(as_deliver(p));
        SB_FUZZ_CHECK(d.has_value());
        SB_FUZZ_CHECK(d->sender.value == req.to);
        SB_FUZZ_CHECK(d->coding == (plan->gsm7 ? text_coding::gsm7 : text_coding::ucs2));
        SB_FUZZ_CHECK(d->concat.has_value() == (parts.size() > 1));
        // Parts stand on their own: no escape or surrogate pair is cut.
        if (parts.size() > 1) {
            SB_FUZZ_CHECK(d->concat->ref == req.concat_ref && d->concat->part == p.part);
            SB_FUZZ_CHECK(d->text.find("\uFFFD") == std::string::npos || text.find("\uFFFD") != std::string::npos);
        }
        SB_FUZZ_CHECK(!done);
        done = r.add(*d, reassembler::clock::time_point{});
    }
    SB_FUZZ_CHECK(done.has_value());
    SB_FUZZ_CHECK(done->text == text);
    SB_FUZZ_CHECK(r.open() == 0);
}

void fuzz_reassembly(std::uint8_t mode, std::span<const std::uint8_t> data) {
    reassembler_limits limits;
    limits.max_open = 1 + (mode >> 2) % 8;
    limits.timeout = std::chrono::seconds(60);
    reassembler r(limits);
    auto now = reassembler::clock::time_point{};
    while (!data.empty()) {
        std::size_t const n = std::min<std::size_t>(data[0], data.size() - 1);
        auto const pdu = data.subspan(1, n);
        data = data.subspan(1 + n);
        now += std::chrono::seconds(n % 16);
        std::string error;
        auto const d = decode_deliver_octets(pdu, error);
        if (!d) continue;
        check_decoded(*d);
        auto const m = r.add(*d, now);
        SB_FUZZ_CHECK(r.open() <= limits.max_open);
        if (m) {
            std::u32string scratch;
            SB_FUZZ_CHECK(utf8_decode(m->text, scratch));
            SB_FUZZ_CHECK(m->parts == m->total);
        }
        if (n % 5 == 0) {
            for (auto const& partial : r.expire(now)) SB_FUZZ_CHECK(partial.parts < partial.total);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::uint8_t const mode = data[0];
    std::span<const std::uint8_t> const payload(data + 1, size - 1);
    std::string_view const text(reinterpret_cast<const char*>(payload.data()), payload.size());
    switch (mode % 4) {
    case 0: decode_checked(text); break;
    case 1: {
        std::string error1, error2;
        auto const a = decode_deliver_octets(payload, error1);
        auto const b = decode_deliver(to_hex(payload), error2);
        SB_FUZZ_CHECK(a.has_value() == b.has_value());
        SB_FUZZ_CHECK(error1 == error2);
        if (a) {
            check_decoded(*a);
            SB_FUZZ_CHECK(a->text == b->text && a->payload == b->payload && a->sender.value == b->sender.value);
        }
        break;
    }
    case 2: fuzz_encode(mode, text); break;
    default: fuzz_reassembly(mode, payload); break;
    }
    return 0;
}
