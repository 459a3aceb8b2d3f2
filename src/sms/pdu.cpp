#include "sms/pdu.hpp"

#include <algorithm>

#include "sms/gsm7.hpp"

namespace sb::sms {

namespace {

// ----- limits of the format (23.040 9.2.3.16, 9.2.3.24) -----

constexpr std::size_t max_ud_octets = 140;
constexpr std::size_t max_ud_septets = 160;
constexpr std::size_t max_address_digits = 20;     // TP-DA/OA/RA: 2-12 octets
constexpr std::size_t max_smsc_octets = 11;        // RP address: TOA + 10 octets
constexpr std::size_t single_gsm7 = 160;
constexpr std::size_t part_gsm7 = 153;             // 160 - 7 septets of UDH (6 octets + fill)
constexpr std::size_t single_ucs2 = 70;
constexpr std::size_t part_ucs2 = 67;              // (140 - 6) / 2
constexpr std::size_t max_parts = 255;
// Rejected before any work: 255 full parts of 4-byte UTF-8 is the most that
// could ever fit, so a bigger body is an error however it decodes.
constexpr std::size_t max_text_bytes = max_parts * single_gsm7 * 4;

constexpr std::uint8_t mti_deliver = 0;
constexpr std::uint8_t mti_submit = 1;
constexpr std::uint8_t mti_status_report = 2;
constexpr std::uint8_t fo_mms = 0x04;
constexpr std::uint8_t fo_vpf_relative = 0x10;
constexpr std::uint8_t fo_srr = 0x20;
constexpr std::uint8_t fo_udhi = 0x40;
constexpr std::uint8_t fo_rp = 0x80;
constexpr std::uint8_t iei_concat8 = 0x00;
constexpr std::uint8_t iei_concat16 = 0x08;
constexpr std::uint8_t toa_international = 0x91;
constexpr std::uint8_t toa_unknown = 0x81;

constexpr char hex_digits[] = "0123456789ABCDEF";
constexpr char bcd_digits[] = "0123456789*#abc";  // 23.040 9.1.2.3; F is the filler

// ----- encoding -----

// One character of the text in its target coding: 1-2 septets or 1-2 UTF-16 units.
struct coded_text {
    bool gsm7 = true;
    std::vector<std::uint16_t> units;        // septets or UTF-16 code units
    std::vector<std::size_t> char_starts;    // index into units where each character begins
};

bool code_text(std::string_view utf8, coded_text& out, std::string& error) {
    std::u32string text;
    if (!utf8_decode(utf8, text)) {
        error = "text is not valid UTF-8";
        return false;
    }
    out.gsm7 = gsm7_encodable(std::u32string_view(text));
    out.units.reserve(text.size() * 2);
    out.char_starts.reserve(text.size());
    for (char32_t c : text) {
        out.char_starts.push_back(out.units.size());
        if (out.gsm7) {
            auto const code = *gsm7_lookup(c);
            if (code.extended) out.units.push_back(gsm7_escape);
            out.units.push_back(code.septet);
        } else if (c >= 0x10000) {
            char32_t const v = c - 0x10000;
            out.units.push_back(static_cast<std::uint16_t>(0xD800 | (v >> 10)));
            out.units.push_back(static_cast<std::uint16_t>(0xDC00 | (v & 0x3FF)));
        } else {
            out.units.push_back(static_cast<std::uint16_t>(c));
        }
    }
    return true;
}

// Part boundaries [begin, end) in units, cut only where a character starts.
std::vector<std::pair<std::size_t, std::size_t>> split(const coded_text& t) {
    std::vector<std::pair<std::size_t, std::size_t>> parts;
    std::size_t const single = t.gsm7 ? single_gsm7 : single_ucs2;
    std::size_t const per_part = t.gsm7 ? part_gsm7 : part_ucs2;
    if (t.units.size() <= single) {
        parts.emplace_back(0, t.units.size());
        return parts;
    }
    std::size_t begin = 0;
    for (std::size_t i = 0; i < t.char_starts.size(); ++i) {
        std::size_t const start = t.char_starts[i];
        std::size_t const end = i + 1 < t.char_starts.size() ? t.char_starts[i + 1] : t.units.size();
        if (end - begin > per_part) {
            parts.emplace_back(begin, start);
            begin = start;
        }
    }
    parts.emplace_back(begin, t.units.size());
    return parts;
}

bool encode_address(std::string_view number, std::vector<std::uint8_t>& out, std::string& error) {
    bool const international = !number.empty() && number.front() == '+';
    if (international) number.remove_prefix(1);
    if (number.empty() || number.size() > max_address_digits) {
        error = "destination must have 1 to 20 digits";
        return false;
    }
    for (char c : number)
        if (c < '0' || c > '9') {
            error = "destination may hold only digits after an optional '+'";
            return false;
        }
    out.push_back(static_cast<std::uint8_t>(number.size()));
    out.push_back(international ? toa_international : toa_unknown);
    for (std::size_t i = 0; i < number.size(); i += 2) {
        unsigned const lo = static_cast<unsigned>(number[i] - '0');
        unsigned const hi = i + 1 < number.size() ? static_cast<unsigned>(number[i + 1] - '0') : 0xFu;
        out.push_back(static_cast<std::uint8_t>(lo | (hi << 4)));
    }
    return true;
}

// ----- decoding -----

// Bounds-checked cursor: every read says whether the bytes were there.
class reader {
public:
    explicit reader(std::span<const std::uint8_t> data) noexcept : data_(data) {}
    bool byte(std::uint8_t& b) noexcept {
        if (pos_ >= data_.size()) return false;
        b = data_[pos_++];
        return true;
    }
    bool take(std::size_t n, std::span<const std::uint8_t>& out) noexcept {
        if (data_.size() - pos_ < n) return false;
        out = data_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    std::size_t left() const noexcept { return data_.size() - pos_; }

private:
    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
};

bool fail(std::string& error, std::string_view why) {
    error.assign(why);
    return false;
}

void append_bcd(std::string& out, std::span<const std::uint8_t> octets, std::size_t digits) {
    for (std::size_t i = 0; i < digits && i / 2 < octets.size(); ++i) {
        unsigned const nibble = i % 2 == 0 ? (octets[i / 2] & 0x0Fu) : (octets[i / 2] >> 4);
        // A filler inside the count is a sender's mistake, not a digit.
        if (nibble != 0xF) out += bcd_digits[nibble];
    }
}

bool is_international(std::uint8_t toa) noexcept { return ((toa >> 4) & 7) == 1; }

// Digits with a '+' for TON international (never a bare "+").
void append_number(address& out, std::span<const std::uint8_t> octets, std::size_t digits) {
    std::string value;
    value.reserve(digits + 1);
    if (is_international(out.type)) value.push_back('+');
    append_bcd(value, octets, digits);
    if (value == "+") value.clear();
    out.value = std::move(value);
}

// RP-SC address ahead of the TPDU (27.005 3.1): length in octets, TOA included.
bool read_smsc(reader& r, address& out, std::string& error) {
    std::uint8_t len = 0;
    if (!r.byte(len)) return fail(error, "empty PDU");
    if (len == 0) return true;
    if (len > max_smsc_octets) return fail(error, "SMSC address longer than 11 octets");
    std::span<const std::uint8_t> body;
    if (!r.take(len, body)) return fail(error, "SMSC address truncated");
    out.type = body[0];
    append_number(out, body.subspan(1), (len - 1) * 2u);
    return true;
}

// TP-OA / TP-RA (23.040 9.1.2.5): length in semi-octets, TOA, then BCD or
// (TON 5) packed GSM7 (23.038 6.2.1).
bool read_address(reader& r, address& out, std::string& error) {
    std::uint8_t digits = 0;
    if (!r.byte(digits) || !r.byte(out.type)) return fail(error, "address truncated");
    if (digits > max_address_digits) return fail(error, "address longer than 20 semi-octets");
    std::span<const std::uint8_t> body;
    if (!r.take((digits + 1u) / 2, body)) return fail(error, "address truncated");
    if (out.alphanumeric()) {
        std::vector<std::uint8_t> septets;
        unpack_septets(body, digits * 4u / 7, 0, septets);
        out.value = gsm7_to_utf8(septets);
        return true;
    }
    append_number(out, body, digits);
    return true;
}

struct dcs_info {
    text_coding coding = text_coding::gsm7;
    std::optional<std::uint8_t> message_class;
};

// 23.038 4. Reserved groups and alphabets are read as GSM7, as 23.038 tells
// a receiver to do.
dcs_info read_dcs(std::uint8_t dcs) noexcept {
    dcs_info info;
    switch (dcs >> 4) {
    case 0x0: case 0x1: case 0x2: case 0x3:   // general data coding
    case 0x4: case 0x5: case 0x6: case 0x7: { // the same, marked for automatic deletion
        unsigned const alphabet = (dcs >> 2) & 3;
        if (alphabet == 1) info.coding = text_coding::eight_bit;
        else if (alphabet == 2) info.coding = text_coding::ucs2;
        // Compressed (23.042) text cannot be shown: pass it on as data.
        if (dcs & 0x20) info.coding = text_coding::eight_bit;
        if (dcs & 0x10) info.message_class = static_cast<std::uint8_t>(dcs & 3);
        break;
    }
    case 0xE: info.coding = text_coding::ucs2; break;  // message waiting, store, UCS2
    case 0xF:                                         // data coding / message class
        if (dcs & 0x04) info.coding = text_coding::eight_bit;
        info.message_class = static_cast<std::uint8_t>(dcs & 3);
        break;
    default: break;  // reserved 0x8-0xB, message waiting 0xC-0xD: GSM7
    }
    return info;
}

// UDH IEs (23.040 9.2.3.24). A malformed IE list ends the scan but not the
// message: where the text starts is known from UDHL alone.
void read_udh(std::span<const std::uint8_t> udh, deliver_pdu& out) {
    out.udh.assign(udh.begin(), udh.end());
    std::size_t i = 0;
    while (udh.size() - i >= 2) {
        std::uint8_t const iei = udh[i];
        std::size_t const len = udh[i + 1];
        i += 2;
        if (udh.size() - i < len) break;
        auto const ie = udh.subspan(i, len);
        i += len;
        concat_info c;
        if (iei == iei_concat8 && len == 3) {
            c.ref = ie[0];
            c.total = ie[1];
            c.part = ie[2];
        } else if (iei == iei_concat16 && len == 4) {
            c.ref = static_cast<std::uint16_t>((ie[0] << 8) | ie[1]);
            c.total = ie[2];
            c.part = ie[3];
            c.ref16 = true;
        } else {
            continue;
        }
        // 23.040 9.2.3.24.1: total 0, part 0 or part past total void the IE.
        // A repeated IE: the last one counts.
        if (c.total != 0 && c.part != 0 && c.part <= c.total) out.concat = c;
    }
}

std::string ucs2_to_utf8(std::span<const std::uint8_t> octets) {
    std::string out;
    out.reserve(octets.size() * 3 / 2);
    std::size_t i = 0;
    while (i + 1 < octets.size()) {
        char32_t c = static_cast<char32_t>((octets[i] << 8) | octets[i + 1]);
        i += 2;
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < octets.size()) {
            char32_t const lo = static_cast<char32_t>((octets[i] << 8) | octets[i + 1]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            }
        }
        utf8_append(out, c);  // a lone surrogate becomes U+FFFD
    }
    if (i < octets.size()) utf8_append(out, 0xFFFD);  // odd length: half a character
    return out;
}

void decode_text(deliver_pdu& out) {
    switch (out.coding) {
    case text_coding::gsm7: out.text = gsm7_to_utf8(out.payload); break;
    case text_coding::ucs2: out.text = ucs2_to_utf8(out.payload); break;
    case text_coding::eight_bit: out.text.clear(); break;
    }
}

// TP-UDL and TP-UD (23.040 9.2.3.16 / 9.2.3.24), after PID and DCS are known.
bool read_user_data(reader& r, bool udhi, deliver_pdu& out, std::string& error) {
    std::uint8_t udl = 0;
    if (!r.byte(udl)) return fail(error, "user data length missing");
    std::span<const std::uint8_t> ud;
    if (out.coding == text_coding::gsm7) {
        if (udl > max_ud_septets) return fail(error, "user data longer than 160 septets");
        if (!r.take(packed_size(udl, 0), ud)) return fail(error, "user data truncated");
        std::size_t header_septets = 0;
        unsigned fill = 0;
        std::size_t header_octets = 0;
        if (udhi) {
            if (ud.empty()) return fail(error, "user data header missing");
            header_octets = ud[0] + 1u;
            if (header_octets > ud.size()) return fail(error, "user data header longer than the user data");
            header_septets = (header_octets * 8 + 6) / 7;
            if (header_septets > udl) return fail(error, "user data header longer than the user data");
            fill = static_cast<unsigned>(header_septets * 7 - header_octets * 8);
            read_udh(ud.subspan(1, header_octets - 1), out);
        }
        if (!unpack_septets(ud.subspan(header_octets), udl - header_septets, fill, out.payload))
            return fail(error, "user data truncated");
    } else {
        if (udl > max_ud_octets) return fail(error, "user data longer than 140 octets");
        if (!r.take(udl, ud)) return fail(error, "user data truncated");
        std::size_t header_octets = 0;
        if (udhi) {
            if (ud.empty()) return fail(error, "user data header missing");
            header_octets = ud[0] + 1u;
            if (header_octets > ud.size()) return fail(error, "user data header longer than the user data");
            read_udh(ud.subspan(1, header_octets - 1), out);
        }
        auto const body = ud.subspan(header_octets);
        out.payload.assign(body.begin(), body.end());
    }
    decode_text(out);
    return true;
}

bool read_timestamp(reader& r, std::string& out, std::string& error) {
    std::span<const std::uint8_t> ts;
    if (!r.take(7, ts)) return fail(error, "timestamp truncated");
    out = decode_timestamp(ts.first<7>()).value_or(std::string());
    return true;
}

bool read_deliver(reader& r, deliver_pdu& out, std::string& error) {
    out.kind = pdu_kind::deliver;
    out.more_messages = (out.first_octet & fo_mms) == 0;
    out.reply_path = (out.first_octet & fo_rp) != 0;
    if (!read_address(r, out.sender, error)) return false;
    if (!r.byte(out.pid) || !r.byte(out.dcs)) return fail(error, "PID/DCS truncated");
    auto const dcs = read_dcs(out.dcs);
    out.coding = dcs.coding;
    out.message_class = dcs.message_class;
    if (!read_timestamp(r, out.timestamp, error)) return false;
    return read_user_data(r, (out.first_octet & fo_udhi) != 0, out, error);
}

bool read_status_report(reader& r, deliver_pdu& out, std::string& error) {
    out.kind = pdu_kind::status_report;
    out.more_messages = (out.first_octet & fo_mms) == 0;
    if (!r.byte(out.message_reference)) return fail(error, "message reference missing");
    if (!read_address(r, out.recipient, error)) return false;
    if (!read_timestamp(r, out.timestamp, error)) return false;
    if (!read_timestamp(r, out.discharge_time, error)) return false;
    if (!r.byte(out.status)) return fail(error, "status missing");
    out.state = classify_status(out.status);
    if (r.left() == 0) return true;
    // 23.040 9.2.3.27: TP-PI, extended while bit 7 is set, then what it announces.
    std::uint8_t pi = 0;
    if (!r.byte(pi)) return fail(error, "parameter indicator truncated");
    for (std::uint8_t ext = pi; ext & 0x80;)
        if (!r.byte(ext)) return fail(error, "parameter indicator truncated");
    if ((pi & 0x01) && !r.byte(out.pid)) return fail(error, "PID truncated");
    if ((pi & 0x02) && !r.byte(out.dcs)) return fail(error, "DCS truncated");
    auto const dcs = read_dcs(out.dcs);
    out.coding = dcs.coding;
    out.message_class = dcs.message_class;
    if (pi & 0x04) return read_user_data(r, (out.first_octet & fo_udhi) != 0, out, error);
    return true;
}

unsigned bcd_pair(std::uint8_t b, bool& ok) noexcept {
    unsigned const tens = b & 0x0Fu;
    unsigned const units = b >> 4;
    if (tens > 9 || units > 9) ok = false;
    return tens * 10 + units;
}

void two_digits(std::string& out, unsigned v) {
    out += static_cast<char>('0' + v / 10 % 10);
    out += static_cast<char>('0' + v % 10);
}

}  // namespace

// ----- public: encoding -----

std::uint8_t relative_validity(std::chrono::minutes validity) noexcept {
    auto const m = validity.count();
    auto ceil_div = [](long long a, long long b) { return (a + b - 1) / b; };
    if (m <= 5) return 0;
    if (m <= 12 * 60) return static_cast<std::uint8_t>(ceil_div(m, 5) - 1);
    if (m <= 24 * 60) return static_cast<std::uint8_t>(143 + ceil_div(m - 12 * 60, 30));
    if (m <= 30 * 24 * 60) return static_cast<std::uint8_t>(166 + ceil_div(m, 24 * 60));
    auto const weeks = ceil_div(m, 7 * 24 * 60);
    return static_cast<std::uint8_t>(std::min<long long>(192 + weeks, 255));
}

std::optional<split_info> plan_split(std::string_view utf8_text) {
    if (utf8_text.size() > max_text_bytes) return std::nullopt;
    coded_text t;
    std::string error;
    if (!code_text(utf8_text, t, error)) return std::nullopt;
    return split_info{t.gsm7, t.units.size(), split(t).size()};
}

std::vector<submit_pdu> encode_submit(const submit_request& request) {
    std::string error;
    return encode_submit(request, error);
}

std::vector<submit_pdu> encode_submit(const submit_request& request, std::string& error) {
    std::vector<submit_pdu> out;
    std::vector<std::uint8_t> address;
    if (!encode_address(request.to, address, error)) return out;
    if (request.text.size() > max_text_bytes) {
        error = "text longer than 255 parts";
        return out;
    }
    coded_text t;
    if (!code_text(request.text, t, error)) return out;
    auto const parts = split(t);
    if (parts.size() > max_parts) {
        error = "text longer than 255 parts";
        return out;
    }
    bool const concat = parts.size() > 1;
    auto const total = static_cast<std::uint8_t>(parts.size());
    out.reserve(parts.size());

    std::vector<std::uint8_t> tpdu;
    std::vector<std::uint8_t> septets;
    for (std::size_t n = 0; n < parts.size(); ++n) {
        auto const [begin, end] = parts[n];
        auto const part = static_cast<std::uint8_t>(n + 1);
        tpdu.clear();
        std::uint8_t fo = mti_submit;
        if (request.validity) fo |= fo_vpf_relative;
        if (request.status_report_request) fo |= fo_srr;
        if (concat) fo |= fo_udhi;
        tpdu.push_back(fo);
        tpdu.push_back(0);  // TP-MR: the modem assigns it
        tpdu.insert(tpdu.end(), address.begin(), address.end());
        tpdu.push_back(0);  // TP-PID: plain short message
        tpdu.push_back(t.gsm7 ? 0x00 : 0x08);
        if (request.validity) tpdu.push_back(relative_validity(*request.validity));
        // UDHL, then IEI 0x00 (concatenation, 8-bit reference), IEDL 3.
        std::uint8_t const udh[] = {5, iei_concat8, 3, request.concat_ref, total, part};
        std::size_t const count = end - begin;
        if (t.gsm7) {
            // Six header octets are 48 bits: one fill bit puts the text on
            // septet 7, so the header counts as 7 septets in TP-UDL.
            tpdu.push_back(static_cast<std::uint8_t>(count + (concat ? 7 : 0)));
            if (concat) tpdu.insert(tpdu.end(), std::begin(udh), std::end(udh));
            septets.assign(t.units.begin() + static_cast<std::ptrdiff_t>(begin),
                           t.units.begin() + static_cast<std::ptrdiff_t>(end));
            pack_septets(septets, concat ? 1 : 0, tpdu);
        } else {
            tpdu.push_back(static_cast<std::uint8_t>(count * 2 + (concat ? sizeof udh : 0)));
            if (concat) tpdu.insert(tpdu.end(), std::begin(udh), std::end(udh));
            for (std::size_t i = begin; i < end; ++i) {
                tpdu.push_back(static_cast<std::uint8_t>(t.units[i] >> 8));
                tpdu.push_back(static_cast<std::uint8_t>(t.units[i] & 0xFF));
            }
        }
        submit_pdu p;
        p.hex = "00" + to_hex(tpdu);
        p.tpdu_length = tpdu.size();
        p.part = part;
        p.total = total;
        out.push_back(std::move(p));
    }
    return out;
}

// ----- public: decoding -----

delivery_state classify_status(std::uint8_t tp_st) noexcept {
    if (tp_st < 0x20) return delivery_state::delivered;
    if (tp_st < 0x40) return delivery_state::pending;
    return delivery_state::failed;
}

std::optional<std::string> decode_timestamp(std::span<const std::uint8_t, 7> o) {
    bool ok = true;
    unsigned const year = bcd_pair(o[0], ok);
    unsigned const month = bcd_pair(o[1], ok);
    unsigned const day = bcd_pair(o[2], ok);
    unsigned const hour = bcd_pair(o[3], ok);
    unsigned const minute = bcd_pair(o[4], ok);
    unsigned const second = bcd_pair(o[5], ok);
    // Time zone in quarter hours; bit 3 of the first (low) semi-octet is the sign.
    bool const negative = (o[6] & 0x08) != 0;
    unsigned const tz_tens = o[6] & 0x07u;
    unsigned const tz_units = o[6] >> 4;
    if (!ok || tz_units > 9 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 59)
        return std::nullopt;
    unsigned const quarters = tz_tens * 10 + tz_units;
    std::string s;
    s.reserve(25);
    two_digits(s, year >= 90 ? 19 : 20);
    two_digits(s, year);
    s += '-';
    two_digits(s, month);
    s += '-';
    two_digits(s, day);
    s += 'T';
    two_digits(s, hour);
    s += ':';
    two_digits(s, minute);
    s += ':';
    two_digits(s, second);
    s += negative && quarters != 0 ? '-' : '+';
    two_digits(s, quarters / 4);
    s += ':';
    two_digits(s, quarters % 4 * 15);
    return s;
}

std::optional<deliver_pdu> decode_deliver_octets(std::span<const std::uint8_t> pdu, std::string& error) {
    if (pdu.size() > max_pdu_octets) {
        error = "PDU longer than 176 octets";
        return std::nullopt;
    }
    reader r(pdu);
    deliver_pdu out;
    if (!read_smsc(r, out.smsc, error)) return std::nullopt;
    if (!r.byte(out.first_octet)) {
        error = "TPDU missing";
        return std::nullopt;
    }
    bool ok = false;
    switch (out.first_octet & 3) {
    case mti_deliver: ok = read_deliver(r, out, error); break;
    case mti_status_report: ok = read_status_report(r, out, error); break;
    case mti_submit: error = "SMS-SUBMIT (a stored outgoing message), not a received one"; break;
    default: error = "reserved message type"; break;
    }
    if (!ok) return std::nullopt;
    if (r.left() != 0) {
        error = "bytes after the user data";
        return std::nullopt;
    }
    return out;
}

std::optional<deliver_pdu> decode_deliver(std::string_view hex, std::string& error) {
    if (hex.size() > max_hex_chars) {
        error = "PDU longer than 176 octets";
        return std::nullopt;
    }
    std::vector<std::uint8_t> octets;
    octets.reserve(hex.size() / 2);
    if (!from_hex(hex, octets)) {
        error = "not hex: two hex digits per octet, nothing else";
        return std::nullopt;
    }
    return decode_deliver_octets(octets, error);
}

// ----- public: helpers -----

std::string to_hex(std::span<const std::uint8_t> bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s += hex_digits[b >> 4];
        s += hex_digits[b & 0x0F];
    }
    return s;
}

bool from_hex(std::string_view hex, std::vector<std::uint8_t>& out) {
    if (hex.size() % 2 != 0) return false;
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::size_t const first = out.size();
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int const hi = value(hex[i]);
        int const lo = value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            out.resize(first);
            return false;
        }
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return true;
}

// ----- reassembly -----

reassembler::reassembler(reassembler_limits limits) : limits_(limits) {}

complete_message reassembler::join(const pending& p, std::uint8_t total) {
    complete_message m;
    auto const& first = p.parts.begin()->second;
    m.sender = first.sender;
    m.smsc = first.smsc;
    m.timestamp = first.timestamp;
    m.coding = first.coding;
    m.message_class = first.message_class;
    m.parts = static_cast<std::uint8_t>(p.parts.size());
    m.total = total;
    bool const same_coding = std::all_of(p.parts.begin(), p.parts.end(),
                                         [&](auto const& kv) { return kv.second.coding == first.coding; });
    for (auto const& [n, part] : p.parts) m.payload.insert(m.payload.end(), part.payload.begin(), part.payload.end());
    if (same_coding) {
        // Joined before decoding: an escape or a surrogate pair split by the
        // sender still becomes one character.
        if (m.coding == text_coding::gsm7) m.text = gsm7_to_utf8(m.payload);
        else if (m.coding == text_coding::ucs2) m.text = ucs2_to_utf8(m.payload);
    } else {
        for (auto const& [n, part] : p.parts) m.text += part.text;
        m.payload.clear();  // septets next to octets would mean nothing
    }
    return m;
}

std::optional<complete_message> reassembler::add(const deliver_pdu& part, clock::time_point now) {
    if (part.kind != pdu_kind::deliver) return std::nullopt;
    for (auto it = open_.begin(); it != open_.end();) {
        if (now - it->second.first_seen > limits_.timeout) {
            it = open_.erase(it);
            ++dropped_;
        } else {
            ++it;
        }
    }
    if (!part.concat || part.concat->total < 2) {
        pending single;
        single.parts.emplace(1, part);
        return join(single, 1);
    }
    auto const& c = *part.concat;
    key k{part.sender.value, c.ref, c.total, c.ref16};
    auto it = open_.find(k);
    if (it == open_.end()) {
        while (!open_.empty() && open_.size() >= limits_.max_open) {
            auto oldest = std::min_element(open_.begin(), open_.end(), [](auto const& a, auto const& b) {
                return a.second.order < b.second.order;
            });
            open_.erase(oldest);
            ++dropped_;
        }
        it = open_.emplace(std::move(k), pending{now, next_order_++, {}}).first;
    }
    auto& p = it->second;
    if (!p.parts.emplace(c.part, part).second) {
        ++duplicates_;
        return std::nullopt;
    }
    if (p.parts.size() < c.total) return std::nullopt;
    auto m = join(p, c.total);
    open_.erase(it);
    return m;
}

std::vector<complete_message> reassembler::expire(clock::time_point now) {
    std::vector<complete_message> out;
    for (auto it = open_.begin(); it != open_.end();) {
        if (now - it->second.first_seen > limits_.timeout) {
            out.push_back(join(it->second, it->first.total));
            it = open_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

}  // namespace sb::sms
