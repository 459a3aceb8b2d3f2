// libFuzzer target for the RTP side of the SIP plugin: RTP, RTCP and
// telephone-event parsing, the DTMF detector and the jitter estimator, on
// arbitrary datagrams.
//
// Input layout: [datagram...]; the same bytes are also cut into datagrams
// at every 0xFF byte and fed, in order, to one detector and one estimator.
// Whatever the bytes: no read outside them, parsed parts add up to the
// datagram, what parses rebuilds to the same bytes, a packet seen twice is
// reported once, and the jitter stays within the largest transit jump.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "sip/rtp.hpp"

// Our own check: fuzz_driver.hpp's SB_FUZZ_CHECK drags in the core headers.
#define RTP_FUZZ_CHECK(cond)                                                                  \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

using namespace sb::sip;

namespace {

using bytes = std::span<const std::uint8_t>;

bool inside(bytes part, bytes whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_rtp(bytes in) {
    rtp_packet p;
    if (parse_rtp(in, p) != rtp_status::ok) return;
    RTP_FUZZ_CHECK(in.size() >= rtp_header_size);
    RTP_FUZZ_CHECK(inside(p.csrcs, in) && inside(p.extension, in) && inside(p.payload, in));
    RTP_FUZZ_CHECK(p.csrcs.size() == std::size_t{p.csrc_count} * 4);
    RTP_FUZZ_CHECK(rtp_header_size + p.csrcs.size() + (p.has_extension ? 4 : 0) + p.extension.size() +
                       p.payload.size() + p.padding ==
                   in.size());
    RTP_FUZZ_CHECK(p.header.payload_type < 128);

    // The fixed header rebuilds to the same bytes, bar the P/X/CC bits
    // that write_rtp_header never sets.
    std::uint8_t rebuilt[rtp_header_size];
    RTP_FUZZ_CHECK(write_rtp_header(p.header, rebuilt) == rtp_header_size);
    RTP_FUZZ_CHECK(rebuilt[0] == 0x80 && (in[0] & 0xC0) == 0x80);
    RTP_FUZZ_CHECK(std::equal(rebuilt + 1, rebuilt + rtp_header_size, in.begin() + 1));

    if (auto e = parse_telephone_event(p.payload)) {
        RTP_FUZZ_CHECK(p.payload.size() >= telephone_event_size);
        RTP_FUZZ_CHECK(e->volume < 64);
        std::uint8_t out[telephone_event_size];
        RTP_FUZZ_CHECK(write_telephone_event(*e, out) == telephone_event_size);
        // Equal but for the reserved bit, which is not kept.
        RTP_FUZZ_CHECK(out[0] == p.payload[0] && out[1] == (p.payload[1] & 0xBF) && out[2] == p.payload[2] &&
                       out[3] == p.payload[3]);
        (void)dtmf_digit(e->event);
    } else {
        RTP_FUZZ_CHECK(p.payload.size() < telephone_event_size);
    }
}

void check_rtcp(bytes in) {
    rtcp_summary s;
    (void)looks_like_rtcp(in);
    if (parse_rtcp(in, s) != rtcp_status::ok) return;
    RTP_FUZZ_CHECK(in.size() % 4 == 0);
    RTP_FUZZ_CHECK(s.packets >= 1 && s.packets <= in.size() / 4);
    RTP_FUZZ_CHECK(in[1] == rtcp_type::sr || in[1] == rtcp_type::rr);
    RTP_FUZZ_CHECK(s.has_sender_report == (in[1] == rtcp_type::sr));
}

// Builds our own compound packets from the input and checks they parse
// back to what went in.
void check_rtcp_builders(bytes in) {
    if (in.size() < 4) return;
    sender_report sr;
    sr.ssrc = std::uint32_t{in[0]} << 24 | std::uint32_t{in[1]} << 16 | std::uint32_t{in[2]} << 8 | in[3];
    sr.ntp_timestamp = std::uint64_t{sr.ssrc} * 0x9E3779B97F4A7C15u;
    sr.rtp_timestamp = ~sr.ssrc;
    sr.packet_count = static_cast<std::uint32_t>(in.size());
    sr.octet_count = sr.packet_count * 160;
    auto const text = in.subspan(4);
    auto const split = text.empty() ? 0 : text[0] % (text.size() + 1);
    std::string_view const cname(reinterpret_cast<const char*>(text.data()), split);
    std::string_view const reason(reinterpret_cast<const char*>(text.data()) + split, text.size() - split);

    std::vector<std::uint8_t> out(max_rtcp_size + 8);
    auto const cut = std::span(out).first(std::min<std::size_t>(out.size(), in[0] * 3));
    auto const n = write_rtcp_bye(sr, cname, reason, cut);
    bool const fits = !cname.empty() && cname.size() <= max_rtcp_text && reason.size() <= max_rtcp_text;
    if (n == 0) {
        RTP_FUZZ_CHECK(!fits || cut.size() < max_rtcp_size);
        return;
    }
    RTP_FUZZ_CHECK(fits && n <= cut.size() && n <= max_rtcp_size && n % 4 == 0);
    rtcp_summary s;
    RTP_FUZZ_CHECK(parse_rtcp(std::span(out).first(n), s) == rtcp_status::ok);
    RTP_FUZZ_CHECK(s.packets == 3 && s.has_sender_report && s.has_bye && s.sr == sr && s.ssrc == sr.ssrc);
}

// The datagrams of the input, cut at each 0xFF.
std::vector<bytes> datagrams(bytes in) {
    std::vector<bytes> out;
    while (!in.empty()) {
        auto const end = std::find(in.begin(), in.end(), std::uint8_t{0xFF});
        auto const n = static_cast<std::size_t>(end - in.begin());
        out.push_back(in.first(n));
        in = in.subspan(std::min(n + 1, in.size()));
    }
    return out;
}

void check_stream(bytes in) {
    dtmf_detector detector;
    jitter_estimator jitter;
    std::uint32_t max_jump = 0;
    std::uint32_t previous_transit = 0;
    bool have_transit = false;

    for (auto d : datagrams(in)) {
        rtp_packet p;
        if (parse_rtp(d, p) != rtp_status::ok) continue;

        // Feeding a packet twice never reports the second time.
        auto const first = detector.on_packet(p);
        auto const again = detector.on_packet(p);
        RTP_FUZZ_CHECK(first.count <= max_events_per_packet);
        RTP_FUZZ_CHECK(again.empty());
        auto const events = p.payload.size() / telephone_event_size;
        RTP_FUZZ_CHECK(first.count <= events);
        // Reports come out in payload order, each one of the payload's events.
        for (std::size_t i = 0, at = 0; i < first.count; ++i) {
            bool found = false;
            for (; !found && (at + 1) * telephone_event_size <= p.payload.size(); ++at)
                found = *parse_telephone_event(p.payload.subspan(at * telephone_event_size)) == first.events[i];
            RTP_FUZZ_CHECK(found);
        }

        // Arrival time made up from the sequence number.
        std::uint32_t const arrival = std::uint32_t{p.header.sequence} * 160u;
        std::uint32_t const transit = arrival - p.header.timestamp;
        if (have_transit) {
            auto const jump = static_cast<std::int64_t>(static_cast<std::int32_t>(transit - previous_transit));
            max_jump = std::max(max_jump, static_cast<std::uint32_t>(jump < 0 ? -jump : jump));
        }
        have_transit = true;
        previous_transit = transit;
        auto const j = jitter.update(arrival, p.header.timestamp);
        RTP_FUZZ_CHECK(j == jitter.jitter());
        RTP_FUZZ_CHECK(j <= max_jump);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes const in(data, size);
    check_rtp(in);
    check_rtcp(in);
    (void)parse_telephone_event(in);
    check_rtcp_builders(in);
    check_stream(in);
    return 0;
}
