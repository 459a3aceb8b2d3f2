#pragma once
// RTP and RTCP for a G.711 tone stream, sans-I/O: builders write into a
// caller's buffer and return the size written (0 when it does not fit),
// parsers take bytes from the network and return a status, never throw and
// never read outside the span they are given. Also the RFC 4733
// telephone-event payload with a per-call detector, and the RFC 3550 A.8
// interarrival jitter estimator.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace sb::sip {

// ---- RTP (RFC 3550 section 5.1) ------------------------------------------

constexpr std::size_t rtp_header_size = 12;

struct rtp_header {
    bool marker = false;
    std::uint8_t payload_type = 0;  // 7 bits
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    std::uint32_t ssrc = 0;

    bool operator==(const rtp_header&) const = default;
};

// Version 2, no padding, no extension, no CSRCs. 0 when out is shorter than
// 12 bytes or payload_type does not fit in 7 bits.
std::size_t write_rtp_header(const rtp_header& h, std::span<std::uint8_t> out) noexcept;
// Header then payload; 0 when the whole packet does not fit.
std::size_t write_rtp_packet(const rtp_header& h, std::span<const std::uint8_t> payload,
                             std::span<std::uint8_t> out) noexcept;

struct rtp_packet {
    rtp_header header;
    std::uint8_t csrc_count = 0;
    std::span<const std::uint8_t> csrcs;  // csrc_count * 4 bytes, network order
    bool has_extension = false;
    std::uint16_t extension_profile = 0;
    std::span<const std::uint8_t> extension;  // the extension's data words, skipped by us
    std::uint8_t padding = 0;                 // padding octets removed, count octet included
    std::span<const std::uint8_t> payload;    // points into the parsed bytes
};

enum class rtp_status : std::uint8_t {
    ok,
    too_short,      // under 12 bytes
    bad_version,    // version is not 2
    bad_csrc,       // the CSRC list runs past the end
    bad_extension,  // the extension header or its data run past the end
    bad_padding,    // padding count 0, or longer than what follows the header
};

// On anything but ok, out is unspecified.
rtp_status parse_rtp(std::span<const std::uint8_t> in, rtp_packet& out) noexcept;

// RFC 5761 section 4: on a port shared by RTP and RTCP, second bytes 192-223
// are RTCP packet types (and RTP payload types 64-95 are never used).
bool looks_like_rtcp(std::span<const std::uint8_t> in) noexcept;

// ---- RFC 4733 telephone-event ---------------------------------------------

constexpr std::size_t telephone_event_size = 4;

struct telephone_event {
    std::uint8_t event = 0;  // 0-9, 10 '*', 11 '#', 12-15 A-D, 16 flash, ...
    bool end = false;
    std::uint8_t volume = 0;     // 0-63, in -dBm0
    std::uint16_t duration = 0;  // timestamp units since the event's timestamp

    bool operator==(const telephone_event&) const = default;
};

// The first event of a payload; nullopt under 4 bytes. The R bit is ignored.
std::optional<telephone_event> parse_telephone_event(std::span<const std::uint8_t> payload) noexcept;
// 4, or 0 when out is too short (volume is masked to 6 bits).
std::size_t write_telephone_event(const telephone_event& e, std::span<std::uint8_t> out) noexcept;
// '0'-'9', '*', '#', 'A'-'D' for events 0-15, '\0' for anything else.
char dtmf_digit(std::uint8_t event) noexcept;

// RFC 4733 2.5.1.5 packs consecutive events into one payload; the detector
// looks at this many and ignores any further ones, which bounds its work.
constexpr std::size_t max_events_per_packet = 8;

struct dtmf_report {
    std::array<telephone_event, max_events_per_packet> events{};
    std::size_t count = 0;

    bool empty() const noexcept { return count == 0; }
    const telephone_event* begin() const noexcept { return events.data(); }
    const telephone_event* end() const noexcept { return events.data() + count; }
};

// Reports each event once, on the first packet seen with its timestamp,
// whatever that packet is: a start packet, a continuation or (when all
// before it were lost) an end packet. Senders repeat every event for its
// whole duration under one timestamp and send the end packet three times;
// all of those repeats are ignored. Also ignored: late packets of earlier
// events (up to 2^16 timestamp units behind the current one; further back
// is taken as the sender restarting its clock), and the later segments of a
// long event split at duration 0xFFFF (RFC 4733 2.5.1.3: same event, no end
// seen, marker clear, under 2^16 units on). A new SSRC starts afresh.
// Feed it only packets of the negotiated telephone-event payload type.
class dtmf_detector {
public:
    dtmf_report on_packet(const rtp_packet& p) noexcept;
    void reset() noexcept { seen_ = false; }

private:
    enum class verdict : std::uint8_t { new_event, same, next_segment, stale };
    verdict classify(std::uint32_t timestamp, bool marker, const telephone_event& e) const noexcept;

    bool seen_ = false;
    std::uint32_t ssrc_ = 0;
    std::uint32_t timestamp_ = 0;
    telephone_event last_{};
};

// ---- RTCP (RFC 3550 section 6) --------------------------------------------

namespace rtcp_type {
constexpr std::uint8_t sr = 200, rr = 201, sdes = 202, bye = 203, app = 204;
}

// 64-bit NTP timestamp (seconds since 1900 . 32-bit fraction) of a wall-clock
// time; the caller reads the clock.
std::uint64_t ntp_timestamp(std::chrono::system_clock::time_point t) noexcept;

struct sender_report {
    std::uint32_t ssrc = 0;
    std::uint64_t ntp_timestamp = 0;
    std::uint32_t rtp_timestamp = 0;  // the same instant on the RTP clock
    std::uint32_t packet_count = 0;   // RTP packets sent
    std::uint32_t octet_count = 0;    // RTP payload octets sent (no headers)

    bool operator==(const sender_report&) const = default;
};

constexpr std::size_t sender_report_size = 28;  // no report blocks
// CNAME and BYE reason are one length octet long at most.
constexpr std::size_t max_rtcp_text = 255;
// SR (28) + SDES with a 255-byte CNAME (268) + BYE with a 255-byte reason (264).
constexpr std::size_t max_rtcp_size = 560;

// Each returns the bytes written, a multiple of 4, or 0 when out is too short
// or a text is too long (or the CNAME empty).
std::size_t write_sender_report(const sender_report& sr, std::span<std::uint8_t> out) noexcept;
std::size_t write_sdes_cname(std::uint32_t ssrc, std::string_view cname, std::span<std::uint8_t> out) noexcept;
std::size_t write_bye(std::uint32_t ssrc, std::string_view reason, std::span<std::uint8_t> out) noexcept;

// Compound packets as RFC 3550 6.1 wants them: SR first, then SDES CNAME,
// and for leaving, BYE last. An empty reason leaves the reason out.
std::size_t write_rtcp_report(const sender_report& sr, std::string_view cname, std::span<std::uint8_t> out) noexcept;
std::size_t write_rtcp_bye(const sender_report& sr, std::string_view cname, std::string_view reason,
                           std::span<std::uint8_t> out) noexcept;

enum class rtcp_status : std::uint8_t {
    ok,
    too_short,         // under 8 bytes, or a packet header cut short
    bad_version,       // a packet whose version is not 2
    bad_first_packet,  // not SR or RR first, or padding on the first packet
    bad_length,        // lengths do not add up to the datagram, or a count overruns its packet
    bad_padding,       // padding on a packet that is not last, or a bad count
};

// What a well-formed compound packet told us: enough to log and ignore it.
struct rtcp_summary {
    std::size_t packets = 0;
    std::uint32_t ssrc = 0;  // of the first packet's sender
    bool has_sender_report = false;
    sender_report sr;  // when has_sender_report
    bool has_bye = false;
};

// RFC 3550 A.2 validity checks over a whole compound packet.
rtcp_status parse_rtcp(std::span<const std::uint8_t> in, rtcp_summary& out) noexcept;

// ---- Interarrival jitter (RFC 3550 A.8) -------------------------------------

// For one received stream (reset on a new SSRC). Both arguments are in RTP
// timestamp units: the arrival time is the receiver's clock converted to the
// stream's clock rate, any origin. Uses the RFC's integer form (jitter kept
// times 16), so it is exact, wraps correctly and never overflows.
class jitter_estimator {
public:
    // Returns the current jitter estimate; 0 after the first packet.
    std::uint32_t update(std::uint32_t arrival, std::uint32_t rtp_timestamp) noexcept;
    std::uint32_t jitter() const noexcept { return static_cast<std::uint32_t>(jitter16_ >> 4); }
    void reset() noexcept { *this = {}; }

private:
    bool primed_ = false;
    std::uint32_t transit_ = 0;
    std::uint64_t jitter16_ = 0;
};

}  // namespace sb::sip
