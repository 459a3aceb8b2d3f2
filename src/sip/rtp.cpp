#include "sip/rtp.hpp"

#include <algorithm>

namespace sb::sip {

namespace {

using bytes = std::span<const std::uint8_t>;

std::uint16_t get16(bytes b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }
std::uint32_t get32(bytes b, std::size_t at) {
    return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 | std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}
void put16(std::span<std::uint8_t> b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(std::span<std::uint8_t> b, std::size_t at, std::uint32_t v) {
    put16(b, at, static_cast<std::uint16_t>(v >> 16));
    put16(b, at + 2, static_cast<std::uint16_t>(v));
}

// V=2, P=0 and a 5-bit count, the first octet of every packet we send.
constexpr std::uint8_t first_octet(std::size_t count) { return static_cast<std::uint8_t>(0x80 | (count & 0x1F)); }

// RTCP's length field: the packet's size in 32-bit words minus one.
void put_rtcp_header(std::span<std::uint8_t> out, std::size_t count, std::uint8_t type, std::size_t size) {
    out[0] = first_octet(count);
    out[1] = type;
    put16(out, 2, static_cast<std::uint16_t>(size / 4 - 1));
}

constexpr std::size_t round4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Header, SSRC, CNAME item, then at least one null octet (the end of the
// item list) padding the chunk to a 32-bit boundary.
constexpr std::size_t sdes_size(std::size_t cname) { return 8 + round4(2 + cname + 1); }
// Header, SSRC and, with a reason, its length octet and text padded with
// nulls (not counted in the length octet).
constexpr std::size_t bye_size(std::size_t reason) { return 8 + (reason ? round4(1 + reason) : 0); }

static_assert(sender_report_size + sdes_size(max_rtcp_text) + bye_size(max_rtcp_text) == max_rtcp_size);

// Packets this close behind the current event are late ones of earlier
// events; further back is a sender restarting its clock. 2^16 is the
// longest a single event segment can last.
constexpr std::uint32_t stale_window = 0x10000;

}  // namespace

// ---- RTP ------------------------------------------------------------------

std::size_t write_rtp_header(const rtp_header& h, std::span<std::uint8_t> out) noexcept {
    if (out.size() < rtp_header_size || h.payload_type > 127) return 0;
    out[0] = first_octet(0);
    out[1] = static_cast<std::uint8_t>((h.marker ? 0x80 : 0) | h.payload_type);
    put16(out, 2, h.sequence);
    put32(out, 4, h.timestamp);
    put32(out, 8, h.ssrc);
    return rtp_header_size;
}

std::size_t write_rtp_packet(const rtp_header& h, std::span<const std::uint8_t> payload,
                             std::span<std::uint8_t> out) noexcept {
    if (out.size() < rtp_header_size + payload.size()) return 0;
    if (write_rtp_header(h, out) == 0) return 0;
    std::copy(payload.begin(), payload.end(), out.begin() + rtp_header_size);
    return rtp_header_size + payload.size();
}

rtp_status parse_rtp(std::span<const std::uint8_t> in, rtp_packet& out) noexcept {
    if (in.size() < rtp_header_size) return rtp_status::too_short;
    if ((in[0] >> 6) != 2) return rtp_status::bad_version;
    bool const padded = in[0] & 0x20;
    out.has_extension = in[0] & 0x10;
    out.csrc_count = in[0] & 0x0F;
    out.header.marker = in[1] & 0x80;
    out.header.payload_type = in[1] & 0x7F;
    out.header.sequence = get16(in, 2);
    out.header.timestamp = get32(in, 4);
    out.header.ssrc = get32(in, 8);

    std::size_t at = rtp_header_size;
    std::size_t const csrc_bytes = std::size_t{out.csrc_count} * 4;
    if (in.size() - at < csrc_bytes) return rtp_status::bad_csrc;
    out.csrcs = in.subspan(at, csrc_bytes);
    at += csrc_bytes;

    out.extension_profile = 0;
    out.extension = {};
    if (out.has_extension) {
        if (in.size() - at < 4) return rtp_status::bad_extension;
        out.extension_profile = get16(in, at);
        std::size_t const ext_bytes = std::size_t{get16(in, at + 2)} * 4;
        at += 4;
        if (in.size() - at < ext_bytes) return rtp_status::bad_extension;
        out.extension = in.subspan(at, ext_bytes);
        at += ext_bytes;
    }

    std::size_t end = in.size();
    out.padding = 0;
    if (padded) {
        // The count includes itself, so 0 is malformed, and the padding may
        // eat the whole payload but nothing of the headers before it.
        std::uint8_t const count = in.back();
        if (count == 0 || count > end - at) return rtp_status::bad_padding;
        out.padding = count;
        end -= count;
    }
    out.payload = in.subspan(at, end - at);
    return rtp_status::ok;
}

bool looks_like_rtcp(std::span<const std::uint8_t> in) noexcept {
    return in.size() >= 2 && in[1] >= 192 && in[1] <= 223;
}

// ---- telephone-event ----------------------------------------------------------

std::optional<telephone_event> parse_telephone_event(std::span<const std::uint8_t> payload) noexcept {
    if (payload.size() < telephone_event_size) return std::nullopt;
    telephone_event e;
    e.event = payload[0];
    e.end = payload[1] & 0x80;
    e.volume = payload[1] & 0x3F;
    e.duration = get16(payload, 2);
    return e;
}

std::size_t write_telephone_event(const telephone_event& e, std::span<std::uint8_t> out) noexcept {
    if (out.size() < telephone_event_size) return 0;
    out[0] = e.event;
    out[1] = static_cast<std::uint8_t>((e.end ? 0x80 : 0) | (e.volume & 0x3F));
    put16(out, 2, e.duration);
    return telephone_event_size;
}

char dtmf_digit(std::uint8_t event) noexcept {
    static constexpr char digits[] = "0123456789*#ABCD";
    return event < 16 ? digits[event] : '\0';
}

dtmf_detector::verdict dtmf_detector::classify(std::uint32_t timestamp, bool marker,
                                               const telephone_event& e) const noexcept {
    if (!seen_) return verdict::new_event;
    std::uint32_t const ahead = timestamp - timestamp_;
    if (ahead == 0) return verdict::same;  // a repeat, or a retransmitted end
    // Behind, in serial-number terms: on_packet already took anything far
    // behind as a restart, so this is a late packet, or an earlier event of
    // a packed payload seen again.
    if (ahead >= 0x80000000u) return verdict::stale;
    if (e.event == last_.event && !last_.end && !marker && ahead < stale_window) return verdict::next_segment;
    return verdict::new_event;
}

dtmf_report dtmf_detector::on_packet(const rtp_packet& p) noexcept {
    dtmf_report report;
    auto const count = std::min(p.payload.size() / telephone_event_size, max_events_per_packet);
    auto const event_at = [&](std::size_t i) {
        return *parse_telephone_event(p.payload.subspan(i * telephone_event_size));
    };
    if (count == 0) return report;
    if (seen_ && p.header.ssrc != ssrc_) seen_ = false;

    // Events packed into one payload follow each other without a gap: each
    // starts where the previous one's duration ends. Whether the packet is
    // late or the sender restarted its clock is decided once, on the last
    // of them, so a packed payload seen again is late as a whole however
    // long its events lasted together.
    std::uint32_t last = p.header.timestamp;
    for (std::size_t i = 0; i + 1 < count; ++i) last += event_at(i).duration;
    if (seen_) {
        std::uint32_t const behind = timestamp_ - last;
        if (behind > stale_window && behind <= 0x80000000u) seen_ = false;
    }

    std::uint32_t timestamp = p.header.timestamp;
    bool marker = p.header.marker;
    for (std::size_t i = 0; i < count; ++i) {
        auto const e = event_at(i);
        switch (classify(timestamp, marker, e)) {
        case verdict::new_event:
            report.events[report.count++] = e;
            seen_ = true;
            ssrc_ = p.header.ssrc;
            [[fallthrough]];
        case verdict::next_segment:
            timestamp_ = timestamp;
            last_ = e;
            break;
        case verdict::same:
            // Remember the end bit: it decides whether the same digit under
            // a later timestamp is a new press or the next segment.
            last_.end = last_.end || e.end;
            break;
        case verdict::stale:
            break;
        }
        timestamp += e.duration;
        marker = false;
    }
    return report;
}

// ---- RTCP -----------------------------------------------------------------

std::uint64_t ntp_timestamp(std::chrono::system_clock::time_point t) noexcept {
    using namespace std::chrono;
    // system_clock counts from 1970 (C++20); NTP from 1900.
    constexpr std::uint64_t epoch_offset = 2208988800u;
    auto const ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    // Floor division: before 1970 the fraction still counts up from the
    // whole second below.
    auto secs = ns / 1'000'000'000;
    auto rem = ns % 1'000'000'000;
    if (rem < 0) {
        --secs;
        rem += 1'000'000'000;
    }
    auto const frac_ns = static_cast<std::uint64_t>(rem);
    auto const frac = (frac_ns << 32) / 1'000'000'000;
    return (static_cast<std::uint64_t>(secs) + epoch_offset) << 32 | frac;
}

std::size_t write_sender_report(const sender_report& sr, std::span<std::uint8_t> out) noexcept {
    if (out.size() < sender_report_size) return 0;
    put_rtcp_header(out, 0, rtcp_type::sr, sender_report_size);
    put32(out, 4, sr.ssrc);
    put32(out, 8, static_cast<std::uint32_t>(sr.ntp_timestamp >> 32));
    put32(out, 12, static_cast<std::uint32_t>(sr.ntp_timestamp));
    put32(out, 16, sr.rtp_timestamp);
    put32(out, 20, sr.packet_count);
    put32(out, 24, sr.octet_count);
    return sender_report_size;
}

std::size_t write_sdes_cname(std::uint32_t ssrc, std::string_view cname, std::span<std::uint8_t> out) noexcept {
    if (cname.empty() || cname.size() > max_rtcp_text) return 0;
    auto const size = sdes_size(cname.size());
    if (out.size() < size) return 0;
    std::fill_n(out.begin(), size, std::uint8_t{0});
    put_rtcp_header(out, 1, rtcp_type::sdes, size);
    put32(out, 4, ssrc);
    out[8] = 1;  // CNAME
    out[9] = static_cast<std::uint8_t>(cname.size());
    std::copy(cname.begin(), cname.end(), out.begin() + 10);
    return size;
}

std::size_t write_bye(std::uint32_t ssrc, std::string_view reason, std::span<std::uint8_t> out) noexcept {
    if (reason.size() > max_rtcp_text) return 0;
    auto const size = bye_size(reason.size());
    if (out.size() < size) return 0;
    std::fill_n(out.begin(), size, std::uint8_t{0});
    put_rtcp_header(out, 1, rtcp_type::bye, size);
    put32(out, 4, ssrc);
    if (!reason.empty()) {
        out[8] = static_cast<std::uint8_t>(reason.size());
        std::copy(reason.begin(), reason.end(), out.begin() + 9);
    }
    return size;
}

std::size_t write_rtcp_report(const sender_report& sr, std::string_view cname, std::span<std::uint8_t> out) noexcept {
    auto const a = write_sender_report(sr, out);
    if (a == 0) return 0;
    auto const b = write_sdes_cname(sr.ssrc, cname, out.subspan(a));
    return b == 0 ? 0 : a + b;
}

std::size_t write_rtcp_bye(const sender_report& sr, std::string_view cname, std::string_view reason,
                           std::span<std::uint8_t> out) noexcept {
    auto const ab = write_rtcp_report(sr, cname, out);
    if (ab == 0) return 0;
    auto const c = write_bye(sr.ssrc, reason, out.subspan(ab));
    return c == 0 ? 0 : ab + c;
}

rtcp_status parse_rtcp(std::span<const std::uint8_t> in, rtcp_summary& out) noexcept {
    out = {};
    if (in.size() < 8) return rtcp_status::too_short;
    // A.2: the first packet is SR or RR, without padding.
    if ((in[0] >> 6) != 2) return rtcp_status::bad_version;
    if ((in[0] & 0x20) || (in[1] != rtcp_type::sr && in[1] != rtcp_type::rr)) return rtcp_status::bad_first_packet;
    out.ssrc = get32(in, 4);

    std::size_t at = 0;
    while (at < in.size()) {
        auto const rest = in.size() - at;
        if (rest < 4) return rtcp_status::too_short;
        if ((in[at] >> 6) != 2) return rtcp_status::bad_version;
        auto const count = std::size_t{in[at] & 0x1Fu};
        auto const type = in[at + 1];
        auto const size = (std::size_t{get16(in, at + 2)} + 1) * 4;
        if (size > rest) return rtcp_status::bad_length;
        auto const packet = in.subspan(at, size);
        auto body = size - 4;
        if (packet[0] & 0x20) {
            // Only the last packet of a compound may carry padding.
            if (size != rest) return rtcp_status::bad_padding;
            auto const pad = std::size_t{packet.back()};
            if (pad == 0 || pad > body) return rtcp_status::bad_padding;
            body -= pad;
        }
        // Counts must fit in what the length says: report blocks are 24
        // bytes after the SSRC (and the 20-byte sender info of an SR), a
        // BYE's SSRC list 4 each.
        switch (type) {
        case rtcp_type::sr:
            if (body < 24 + 24 * count) return rtcp_status::bad_length;
            if (at == 0) {
                out.has_sender_report = true;
                out.sr = {get32(packet, 4), std::uint64_t{get32(packet, 8)} << 32 | get32(packet, 12),
                          get32(packet, 16), get32(packet, 20), get32(packet, 24)};
            }
            break;
        case rtcp_type::rr:
            if (body < 4 + 24 * count) return rtcp_status::bad_length;
            break;
        case rtcp_type::bye:
            if (body < 4 * count) return rtcp_status::bad_length;
            out.has_bye = true;
            break;
        default:
            break;
        }
        ++out.packets;
        at += size;
    }
    return rtcp_status::ok;
}

// ---- jitter -----------------------------------------------------------------

std::uint32_t jitter_estimator::update(std::uint32_t arrival, std::uint32_t rtp_timestamp) noexcept {
    std::uint32_t const transit = arrival - rtp_timestamp;
    if (!primed_) {
        primed_ = true;
        transit_ = transit;
        return jitter();
    }
    // The transit difference taken modulo 2^32 as a signed value, so both
    // clocks may wrap; its magnitude needs 64 bits for -2^31.
    auto const d = static_cast<std::int64_t>(static_cast<std::int32_t>(transit - transit_));
    transit_ = transit;
    auto const magnitude = static_cast<std::uint64_t>(d < 0 ? -d : d);
    // J += (|D| - J) / 16 in fixed point, rounded as A.8 does.
    jitter16_ = jitter16_ + magnitude - ((jitter16_ + 8) >> 4);
    return jitter();
}

}  // namespace sb::sip
