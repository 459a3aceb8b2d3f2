#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "sip/rtp.hpp"

using namespace sb::sip;

namespace {

using byte_vector = std::vector<std::uint8_t>;

byte_vector bytes(std::initializer_list<int> b) {
    byte_vector out;
    for (int v : b) out.push_back(static_cast<std::uint8_t>(v));
    return out;
}

void append(byte_vector& v, std::string_view s) { v.insert(v.end(), s.begin(), s.end()); }

byte_vector packet(const rtp_header& h, const byte_vector& payload) {
    byte_vector out(rtp_header_size + payload.size());
    REQUIRE(write_rtp_packet(h, payload, out) == out.size());
    return out;
}

rtp_status parse(const byte_vector& in) {
    rtp_packet p;
    return parse_rtp(in, p);
}

bool inside(std::span<const std::uint8_t> part, const byte_vector& whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// A telephone-event packet as SIPp and most softphones send it.
byte_vector event_packet(std::uint16_t seq, std::uint32_t ts, bool marker, std::uint8_t event, bool end,
                         std::uint16_t duration, std::uint32_t ssrc = 0x1234) {
    byte_vector payload(4);
    REQUIRE(write_telephone_event({event, end, 10, duration}, payload) == 4);
    return packet({marker, 101, seq, ts, ssrc}, payload);
}

// Feeds packets, collecting the digits reported.
struct dtmf_feed {
    dtmf_detector detector;
    std::string digits;
    void operator()(const byte_vector& bytes) {
        rtp_packet p;
        REQUIRE(parse_rtp(bytes, p) == rtp_status::ok);
        for (auto const& e : detector.on_packet(p)) digits += dtmf_digit(e.event);
    }
};

// One key press the way SIPp plays it: a start packet with the marker, a
// continuation every 20 ms under the same timestamp, then the end packet
// three times. Returns the sequence number after it.
std::uint16_t press(dtmf_feed& feed, std::uint16_t seq, std::uint32_t ts, std::uint8_t event,
                    std::uint16_t duration = 800, std::uint32_t ssrc = 0x1234) {
    for (std::uint16_t d = 160; d < duration; d = static_cast<std::uint16_t>(d + 160))
        feed(event_packet(seq++, ts, d == 160, event, false, d, ssrc));
    for (int i = 0; i < 3; ++i) feed(event_packet(seq++, ts, false, event, true, duration, ssrc));
    return seq;
}

}  // namespace

// ---- RTP ------------------------------------------------------------------

TEST_CASE("rtp: header layout") {
    std::array<std::uint8_t, 12> out{};
    REQUIRE(write_rtp_header({true, 8, 0x1234, 0x89abcdef, 0x01020304}, out) == 12);
    CHECK(out == std::array<std::uint8_t, 12>{0x80, 0x88, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef, 1, 2, 3, 4});
    REQUIRE(write_rtp_header({false, 0, 0, 0, 0}, out) == 12);
    CHECK(out[0] == 0x80);
    CHECK(out[1] == 0x00);

    CHECK(write_rtp_header({false, 128, 0, 0, 0}, out) == 0);  // PT is 7 bits
    std::array<std::uint8_t, 11> small{};
    CHECK(write_rtp_header({}, small) == 0);
    std::array<std::uint8_t, 171> almost{};
    std::array<std::uint8_t, 160> payload{};
    CHECK(write_rtp_packet({}, payload, almost) == 0);
}

TEST_CASE("rtp: build and parse round trip") {
    byte_vector payload(160);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
    for (auto const& h : {rtp_header{false, 0, 0, 0, 0}, rtp_header{true, 8, 65535, 0xffffffff, 0xdeadbeef},
                          rtp_header{true, 101, 1, 160, 42}, rtp_header{false, 127, 0x8000, 0x80000000, 1}}) {
        for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{160}}) {
            byte_vector const p(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(n));
            auto const wire = packet(h, p);
            rtp_packet got;
            REQUIRE(parse_rtp(wire, got) == rtp_status::ok);
            CHECK(got.header == h);
            CHECK(got.csrc_count == 0);
            CHECK(!got.has_extension);
            CHECK(got.padding == 0);
            CHECK(byte_vector(got.payload.begin(), got.payload.end()) == p);
            CHECK(inside(got.payload, wire));
        }
    }
}

TEST_CASE("rtp: CSRCs, extension and padding are skipped to the payload") {
    // V=2 P=1 X=1 CC=2, PT 0, then 2 CSRCs, an extension of 1 word,
    // payload "abc", 3 octets of padding (count included).
    auto wire = bytes({0xB2, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0, 0, 0, 9,  //
                       0, 0, 0, 1, 0, 0, 0, 2,                            //
                       0xBE, 0xDE, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44});
    append(wire, "abc");
    wire.insert(wire.end(), {0, 0, 3});
    rtp_packet p;
    REQUIRE(parse_rtp(wire, p) == rtp_status::ok);
    CHECK(p.csrc_count == 2);
    CHECK(p.csrcs.size() == 8);
    CHECK(p.csrcs[7] == 2);
    CHECK(p.has_extension);
    CHECK(p.extension_profile == 0xBEDE);
    CHECK(p.extension.size() == 4);
    CHECK(p.extension[0] == 0x11);
    CHECK(p.padding == 3);
    CHECK(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()) == "abc");
    CHECK(p.header.timestamp == 160);
    CHECK(p.header.ssrc == 9);

    // Padding may eat the whole payload.
    auto empty = bytes({0xA0, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4});
    REQUIRE(parse_rtp(empty, p) == rtp_status::ok);
    CHECK(p.payload.empty());
    CHECK(p.padding == 4);
}

TEST_CASE("rtp: malformed packets are rejected") {
    auto const good = packet({false, 0, 1, 2, 3}, byte_vector(20, 0xFF));
    for (std::size_t n = 0; n < rtp_header_size; ++n) {
        CAPTURE(n);
        CHECK(parse(byte_vector(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n))) ==
              rtp_status::too_short);
    }
    for (int version : {0, 1, 3}) {
        auto bad = good;
        bad[0] = static_cast<std::uint8_t>((bad[0] & 0x3F) | (version << 6));
        CHECK(parse(bad) == rtp_status::bad_version);
    }
    // 15 CSRCs need 60 bytes after the header; 20 are there.
    auto csrc = good;
    csrc[0] |= 0x0F;
    CHECK(parse(csrc) == rtp_status::bad_csrc);
    csrc.resize(12 + 60);
    CHECK(parse(csrc) == rtp_status::ok);
    csrc.resize(12 + 59);
    CHECK(parse(csrc) == rtp_status::bad_csrc);

    auto ext = bytes({0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7});
    CHECK(parse(ext) == rtp_status::bad_extension);  // 8 data bytes announced, 7 there
    ext.push_back(8);
    CHECK(parse(ext) == rtp_status::ok);
    CHECK(parse(byte_vector(ext.begin(), ext.begin() + 15)) == rtp_status::bad_extension);  // header cut

    auto pad = good;
    pad[0] |= 0x20;
    pad.back() = 0;
    CHECK(parse(pad) == rtp_status::bad_padding);  // the count includes itself
    pad.back() = 21;
    CHECK(parse(pad) == rtp_status::bad_padding);  // would eat into the header
    pad.back() = 20;
    CHECK(parse(pad) == rtp_status::ok);
    auto header_only = byte_vector(good.begin(), good.begin() + 12);
    header_only[0] |= 0x20;
    CHECK(parse(header_only) == rtp_status::bad_padding);  // the count octet is the SSRC's
}

TEST_CASE("rtp: every truncation of a full packet is rejected or shorter") {
    auto wire = bytes({0x91, 0x65, 0x00, 0x07, 0, 0, 1, 0, 0, 0, 0, 5, 0, 0, 0, 6, 0x10, 0x00, 0x00, 0x01, 9, 9, 9, 9});
    append(wire, "payload");
    for (std::size_t n = 0; n <= wire.size(); ++n) {
        CAPTURE(n);
        byte_vector const cut(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
        rtp_packet p;
        auto const st = parse_rtp(cut, p);
        if (n < 12) CHECK(st == rtp_status::too_short);
        else if (n < 16) CHECK(st == rtp_status::bad_csrc);
        else if (n < 24) CHECK(st == rtp_status::bad_extension);
        else {
            REQUIRE(st == rtp_status::ok);
            CHECK(p.payload.size() == n - 24);
            CHECK(p.header.marker == false);
            CHECK(p.header.payload_type == 101);
        }
    }
}

TEST_CASE("rtp: garbage never reads outside the datagram") {
    std::uint32_t x = 1;
    for (int round = 0; round < 20000; ++round) {
        x = x * 1664525u + 1013904223u;
        byte_vector garbage(x % 64);
        for (auto& b : garbage) {
            x = x * 1664525u + 1013904223u;
            b = static_cast<std::uint8_t>(x >> 24);
        }
        if (!garbage.empty() && (round & 1)) garbage[0] = static_cast<std::uint8_t>(0x80 | (garbage[0] & 0x3F));
        rtp_packet p;
        if (parse_rtp(garbage, p) != rtp_status::ok) continue;
        REQUIRE(inside(p.payload, garbage));
        REQUIRE(inside(p.csrcs, garbage));
        REQUIRE(inside(p.extension, garbage));
        REQUIRE(12 + p.csrcs.size() + (p.has_extension ? 4 : 0) + p.extension.size() + p.payload.size() +
                    p.padding ==
                garbage.size());
    }
}

TEST_CASE("rtp: RTP and RTCP told apart on a shared port") {
    CHECK(looks_like_rtcp(bytes({0x80, 200})));
    CHECK(looks_like_rtcp(bytes({0x81, 203})));
    CHECK(!looks_like_rtcp(bytes({0x80, 0x00})));
    CHECK(!looks_like_rtcp(bytes({0x80, 0x80 | 101})));  // marker set, PT 101 = 229
    CHECK(!looks_like_rtcp(bytes({0x80})));
    CHECK(!looks_like_rtcp({}));
}

// ---- telephone-event ----------------------------------------------------------

TEST_CASE("telephone-event: payload layout") {
    auto const e = parse_telephone_event(bytes({0x05, 0x8A, 0x03, 0x20}));
    REQUIRE(e);
    CHECK(e->event == 5);
    CHECK(e->end);
    CHECK(e->volume == 10);
    CHECK(e->duration == 800);
    // The R bit is reserved: ignored.
    CHECK(*parse_telephone_event(bytes({0x0B, 0x4A, 0x00, 0xA0})) == telephone_event{11, false, 10, 160});
    CHECK(!parse_telephone_event(bytes({0x05, 0x8A, 0x03})));
    CHECK(!parse_telephone_event({}));

    std::array<std::uint8_t, 4> out{};
    CHECK(write_telephone_event({11, true, 63, 0xFFFF}, out) == 4);
    CHECK(out == std::array<std::uint8_t, 4>{0x0B, 0xBF, 0xFF, 0xFF});
    CHECK(write_telephone_event({1, false, 0xFF, 1}, out) == 4);
    CHECK(out[1] == 0x3F);  // volume masked to 6 bits
    CHECK(write_telephone_event({}, std::span(out).first(3)) == 0);

    CHECK(dtmf_digit(0) == '0');
    CHECK(dtmf_digit(9) == '9');
    CHECK(dtmf_digit(10) == '*');
    CHECK(dtmf_digit(11) == '#');
    CHECK(dtmf_digit(12) == 'A');
    CHECK(dtmf_digit(15) == 'D');
    CHECK(dtmf_digit(16) == '\0');
    CHECK(dtmf_digit(255) == '\0');
}

TEST_CASE("dtmf: SIPp-like presses are each reported once, at their first packet") {
    dtmf_feed feed;
    std::uint16_t seq = 100;
    std::uint32_t ts = 48000;
    // The first packet alone reports the digit; its repeats and three end
    // packets add nothing.
    feed(event_packet(seq++, ts, true, 1, false, 160));
    CHECK(feed.digits == "1");
    for (std::uint16_t d = 320; d <= 800; d = static_cast<std::uint16_t>(d + 160))
        feed(event_packet(seq++, ts, false, 1, false, d));
    for (int i = 0; i < 3; ++i) feed(event_packet(seq++, ts, false, 1, true, 960));
    CHECK(feed.digits == "1");

    // "2 3 # 4", with audio time passing between presses.
    for (int ev : {2, 3, 11, 4}) {
        ts += 2400;
        seq = press(feed, seq, ts, static_cast<std::uint8_t>(ev));
    }
    CHECK(feed.digits == "123#4");

    // The same key twice is two presses: a new timestamp after an end.
    ts += 2400;
    seq = press(feed, seq, ts, 5);
    ts += 1200;
    seq = press(feed, seq, ts, 5);
    CHECK(feed.digits == "123#455");

    // A retransmitted end packet arriving late changes nothing.
    feed(event_packet(seq++, ts, false, 5, true, 800));
    CHECK(feed.digits == "123#455");
}

TEST_CASE("dtmf: lost, late and reordered packets") {
    dtmf_feed feed;
    // Only the end packets arrive: still one report.
    for (int i = 0; i < 3; ++i) feed(event_packet(static_cast<std::uint16_t>(i), 1000, false, 7, true, 800));
    CHECK(feed.digits == "7");
    // Start lost, continuation first.
    feed(event_packet(10, 5000, false, 8, false, 480));
    feed(event_packet(11, 5000, false, 8, false, 640));
    CHECK(feed.digits == "78");
    // A late packet of the earlier event after the new one started.
    feed(event_packet(9, 1000, false, 7, true, 800));
    CHECK(feed.digits == "78");
    // The next event after a late one is still new.
    feed(event_packet(12, 9000, true, 9, false, 160));
    CHECK(feed.digits == "789");
    // Timestamps far behind are a sender restarting its clock, not late.
    feed(event_packet(13, 9000 - 0x20000, true, 0, false, 160));
    CHECK(feed.digits == "7890");
}

TEST_CASE("dtmf: timestamps wrap, SSRCs change, payloads may be short") {
    dtmf_feed feed;
    std::uint16_t seq = 65530;  // sequence numbers wrap too
    seq = press(feed, seq, 0xFFFFF000u, 1);
    seq = press(feed, seq, 0x00000400u, 2);  // after the 32-bit wrap
    CHECK(feed.digits == "12");
    // A new stream may reuse a timestamp; it is a new event.
    seq = press(feed, seq, 0x00000400u, 3, 800, 0x9999);
    CHECK(feed.digits == "123");

    // Under 4 bytes of payload: nothing to report.
    rtp_packet p;
    auto runt = packet({true, 101, seq, 5000, 0x9999}, bytes({1, 0x80, 0}));
    REQUIRE(parse_rtp(runt, p) == rtp_status::ok);
    CHECK(feed.detector.on_packet(p).empty());

    // reset() forgets the stream: the same packet reports again.
    auto const again = event_packet(seq, 0x00000400u, false, 3, true, 800, 0x9999);
    feed(again);
    CHECK(feed.digits == "123");
    feed.detector.reset();
    feed(again);
    CHECK(feed.digits == "1233");
}

TEST_CASE("dtmf: a long press split into segments is one press") {
    dtmf_feed feed;
    // RFC 4733 2.5.1.3: at duration 0xFFFF the sender starts a new segment
    // under timestamp + 0xFFFF, without the marker.
    feed(event_packet(1, 10000, true, 0, false, 160));
    feed(event_packet(2, 10000, false, 0, false, 0xFFFF));
    feed(event_packet(3, 10000 + 0xFFFF, false, 0, false, 160));
    feed(event_packet(4, 10000 + 0xFFFF, false, 0, false, 0xFFFF));
    feed(event_packet(5, 10000 + 2 * 0xFFFF, false, 0, false, 320));
    for (int i = 0; i < 3; ++i) feed(event_packet(static_cast<std::uint16_t>(6 + i), 10000 + 2 * 0xFFFF, false, 0, true, 480));
    CHECK(feed.digits == "0");
    // After the end, the same digit is a new press even without a marker.
    feed(event_packet(9, 10000 + 2 * 0xFFFF + 1600, false, 0, false, 160));
    CHECK(feed.digits == "00");
    // A different digit right behind is new whatever the marker.
    feed(event_packet(10, 10000 + 2 * 0xFFFF + 3200, false, 4, false, 160));
    CHECK(feed.digits == "004");
    // The same digit under a new timestamp with the marker is a new press
    // even though the previous end was lost.
    feed(event_packet(11, 10000 + 2 * 0xFFFF + 4800, true, 4, false, 160));
    CHECK(feed.digits == "0044");
}

TEST_CASE("dtmf: consecutive events packed into one payload") {
    dtmf_feed feed;
    // RFC 4733 2.5.1.5: "1" ended after 800, "2" runs from ts + 800.
    byte_vector payload(8);
    REQUIRE(write_telephone_event({1, true, 10, 800}, payload) == 4);
    REQUIRE(write_telephone_event({2, false, 10, 320}, std::span(payload).subspan(4)) == 4);
    feed(packet({true, 101, 1, 4000, 7}, payload));
    CHECK(feed.digits == "12");
    // "2" continues under its own timestamp.
    feed(event_packet(2, 4800, false, 2, false, 480, 7));
    feed(event_packet(3, 4800, false, 2, true, 640, 7));
    CHECK(feed.digits == "12");
    // Seen again as a whole, however long the events lasted together.
    byte_vector longs(16);
    for (std::uint8_t i = 0; i < 4; ++i)
        write_telephone_event({static_cast<std::uint8_t>(i + 6), true, 0, 0xFFFF}, std::span(longs).subspan(4 * i));
    auto const wire = packet({true, 101, 4, 20000, 7}, longs);
    feed(wire);
    CHECK(feed.digits == "126789");
    feed(wire);
    CHECK(feed.digits == "126789");

    // Past max_events_per_packet, events are not looked at.
    byte_vector many(4 * (max_events_per_packet + 2));
    for (std::size_t i = 0; i < max_events_per_packet + 2; ++i)
        write_telephone_event({static_cast<std::uint8_t>(i), true, 0, 160}, std::span(many).subspan(4 * i));
    rtp_packet p;
    auto const big = packet({true, 101, 5, 0x01000000, 7}, many);
    REQUIRE(parse_rtp(big, p) == rtp_status::ok);
    auto const r = feed.detector.on_packet(p);
    CHECK(r.count == max_events_per_packet);
    CHECK(r.events[0].event == 0);
    CHECK(r.events[max_events_per_packet - 1].event == max_events_per_packet - 1);
}

// ---- RTCP -----------------------------------------------------------------

TEST_CASE("rtcp: NTP timestamps from wall-clock time") {
    using namespace std::chrono;
    CHECK(ntp_timestamp(system_clock::time_point{}) == std::uint64_t{2208988800u} << 32);
    CHECK(ntp_timestamp(system_clock::time_point{} + milliseconds(500)) ==
          (std::uint64_t{2208988800u} << 32 | 0x80000000u));
    // 2000-01-01T00:00:00Z = Unix 946684800 = NTP 3155673600.
    CHECK(ntp_timestamp(system_clock::time_point{seconds(946684800)}) == std::uint64_t{3155673600u} << 32);
    auto const quarter = ntp_timestamp(system_clock::time_point{seconds(946684800) + microseconds(250000)});
    CHECK((quarter & 0xFFFFFFFF) == 0x40000000u);
    // Before 1970 the fraction still counts up from the whole second below.
    CHECK(ntp_timestamp(system_clock::time_point{} - milliseconds(500)) ==
          ((std::uint64_t{2208988800u} - 1) << 32 | 0x80000000u));
    // The extremes of the clock are defined, if meaningless (sanitizers watch).
    (void)ntp_timestamp(system_clock::time_point::min());
    (void)ntp_timestamp(system_clock::time_point::max());
}

TEST_CASE("rtcp: sender report layout") {
    std::array<std::uint8_t, 28> out{};
    sender_report const sr{0x11223344, 0xAABBCCDD00112233, 0x55667788, 1500, 240000};
    REQUIRE(write_sender_report(sr, out) == 28);
    CHECK(out == std::array<std::uint8_t, 28>{0x80, 200, 0x00, 0x06,             // V=2 RC=0, SR, 7 words - 1
                                              0x11, 0x22, 0x33, 0x44,             // SSRC
                                              0xAA, 0xBB, 0xCC, 0xDD,             // NTP seconds
                                              0x00, 0x11, 0x22, 0x33,             // NTP fraction
                                              0x55, 0x66, 0x77, 0x88,             // RTP timestamp
                                              0x00, 0x00, 0x05, 0xDC,             // packets
                                              0x00, 0x03, 0xA9, 0x80});           // octets
    CHECK(write_sender_report(sr, std::span(out).first(27)) == 0);
}

TEST_CASE("rtcp: SDES CNAME layout and padding") {
    std::array<std::uint8_t, 300> out{};
    REQUIRE(write_sdes_cname(0x01020304, "tone@host", out) == 20);
    auto expected = bytes({0x81, 202, 0x00, 0x04, 1, 2, 3, 4, 1, 9});
    append(expected, "tone@host");
    expected.push_back(0);  // end of items, which is also the padding here
    CHECK(byte_vector(out.begin(), out.begin() + 20) == expected);

    // Whatever the length, a 32-bit multiple with at least one null after
    // the text, and the length field in words minus one.
    for (std::size_t n = 1; n <= max_rtcp_text; ++n) {
        CAPTURE(n);
        std::string const cname(n, 'x');
        out.fill(0xEE);
        auto const size = write_sdes_cname(7, cname, out);
        REQUIRE(size == 8 + ((2 + n + 1 + 3) / 4) * 4);
        CHECK(size % 4 == 0);
        CHECK((out[2] << 8 | out[3]) == size / 4 - 1);
        CHECK(out[9] == n);
        for (std::size_t i = 10 + n; i < size; ++i) REQUIRE(out[i] == 0);
        CHECK(size - (10 + n) >= 1);
        CHECK(size - (10 + n) <= 4);
        CHECK(write_sdes_cname(7, cname, std::span(out).first(size - 1)) == 0);
    }
    CHECK(write_sdes_cname(7, "", out) == 0);
    CHECK(write_sdes_cname(7, std::string(256, 'x'), out) == 0);
}

TEST_CASE("rtcp: BYE layout") {
    std::array<std::uint8_t, 300> out{};
    REQUIRE(write_bye(0x0A0B0C0D, "", out) == 8);
    CHECK(byte_vector(out.begin(), out.begin() + 8) == bytes({0x81, 203, 0x00, 0x01, 0x0A, 0x0B, 0x0C, 0x0D}));

    out.fill(0xEE);
    REQUIRE(write_bye(0x0A0B0C0D, "bye", out) == 12);
    auto expected = bytes({0x81, 203, 0x00, 0x02, 0x0A, 0x0B, 0x0C, 0x0D, 3});
    append(expected, "bye");
    CHECK(byte_vector(out.begin(), out.begin() + 12) == expected);

    out.fill(0xEE);
    REQUIRE(write_bye(1, "done", out) == 16);
    expected = bytes({0x81, 203, 0x00, 0x03, 0, 0, 0, 1, 4});
    append(expected, "done");
    expected.insert(expected.end(), {0, 0, 0});
    CHECK(byte_vector(out.begin(), out.begin() + 16) == expected);

    CHECK(write_bye(1, std::string(255, 'r'), out) == 264);
    CHECK(write_bye(1, std::string(256, 'r'), out) == 0);
    CHECK(write_bye(1, "done", std::span(out).first(15)) == 0);
}

TEST_CASE("rtcp: compound packets parse back") {
    std::array<std::uint8_t, max_rtcp_size> out{};
    sender_report const sr{0xCAFEF00D, 0xE1234567'89ABCDEF, 123456, 50, 8000};

    auto const n = write_rtcp_report(sr, "tone@192.0.2.1", out);
    REQUIRE(n == 28 + 28);  // SDES: 8 + 2 + 14 + a null, padded to 28
    CHECK(out[28] == 0x81);
    CHECK(out[29] == 202);
    rtcp_summary s;
    REQUIRE(parse_rtcp(std::span(out).first(n), s) == rtcp_status::ok);
    CHECK(s.packets == 2);
    CHECK(s.ssrc == sr.ssrc);
    CHECK(s.has_sender_report);
    CHECK(s.sr == sr);
    CHECK(!s.has_bye);

    auto const m = write_rtcp_bye(sr, "tone@192.0.2.1", "call ended", out);
    REQUIRE(m == 28 + 28 + 20);  // BYE: 8 + 1 + 10, padded to 20
    CHECK(out[56] == 0x81);
    CHECK(out[57] == 203);
    CHECK(out[58] == 0);
    CHECK(out[59] == 4);
    REQUIRE(parse_rtcp(std::span(out).first(m), s) == rtcp_status::ok);
    CHECK(s.packets == 3);
    CHECK(s.has_bye);

    // Every prefix is valid only where a packet ends.
    for (std::size_t k = 0; k < m; ++k) {
        CAPTURE(k);
        auto const st = parse_rtcp(std::span(out).first(k), s);
        CHECK((st == rtcp_status::ok) == (k == 28 || k == 56));
    }

    // The largest compound fits max_rtcp_size exactly.
    CHECK(write_rtcp_bye(sr, std::string(255, 'c'), std::string(255, 'r'), out) == max_rtcp_size);
    CHECK(write_rtcp_bye(sr, std::string(255, 'c'), std::string(255, 'r'), std::span(out).first(559)) == 0);
    CHECK(write_rtcp_report(sr, "", out) == 0);
    CHECK(write_rtcp_bye(sr, "c", "r", std::span(out).first(28 + 12)) == 0);
}

TEST_CASE("rtcp: validity checks of RFC 3550 A.2") {
    rtcp_summary s;
    auto const rr = bytes({0x80, 201, 0x00, 0x01, 0, 0, 0, 9});  // empty RR
    CHECK(parse_rtcp(rr, s) == rtcp_status::ok);
    CHECK(s.packets == 1);
    CHECK(s.ssrc == 9);
    CHECK(!s.has_sender_report);

    CHECK(parse_rtcp({}, s) == rtcp_status::too_short);
    CHECK(parse_rtcp(bytes({0x80, 201, 0, 1}), s) == rtcp_status::too_short);
    CHECK(parse_rtcp(bytes({0x40, 201, 0, 1, 0, 0, 0, 9}), s) == rtcp_status::bad_version);
    CHECK(parse_rtcp(bytes({0x81, 202, 0, 1, 0, 0, 0, 9}), s) == rtcp_status::bad_first_packet);  // SDES first
    CHECK(parse_rtcp(bytes({0xA0, 201, 0, 1, 0, 0, 0, 4}), s) == rtcp_status::bad_first_packet);  // padded first
    CHECK(parse_rtcp(bytes({0x80, 201, 0, 2, 0, 0, 0, 9}), s) == rtcp_status::bad_length);       // overruns
    CHECK(parse_rtcp(bytes({0x81, 201, 0, 1, 0, 0, 0, 9}), s) == rtcp_status::bad_length);       // RC=1, no block

    auto trailing = rr;
    trailing.insert(trailing.end(), {0, 0});
    CHECK(parse_rtcp(trailing, s) == rtcp_status::too_short);
    trailing.insert(trailing.end(), {0, 0});
    CHECK(parse_rtcp(trailing, s) == rtcp_status::bad_version);  // a "packet" of zeros

    // Padding on the last packet is fine; on any other it is not.
    auto padded = rr;
    padded.insert(padded.end(), {0xA1, 203, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4});
    REQUIRE(parse_rtcp(padded, s) == rtcp_status::ok);
    CHECK(s.has_bye);
    CHECK(s.packets == 2);
    padded.back() = 0;
    CHECK(parse_rtcp(padded, s) == rtcp_status::bad_padding);
    padded.back() = 9;
    CHECK(parse_rtcp(padded, s) == rtcp_status::bad_padding);
    auto mid = rr;
    mid.insert(mid.end(), {0xA1, 203, 0x00, 0x01, 0, 0, 0, 9});
    mid.insert(mid.end(), rr.begin(), rr.end());
    CHECK(parse_rtcp(mid, s) == rtcp_status::bad_padding);

    // A BYE whose SSRC count overruns it.
    auto bye = rr;
    bye.insert(bye.end(), {0x82, 203, 0x00, 0x01, 0, 0, 0, 9});
    CHECK(parse_rtcp(bye, s) == rtcp_status::bad_length);
    // An SR whose report count overruns it.
    std::array<std::uint8_t, 28> sr{};
    write_sender_report({}, sr);
    sr[0] |= 1;
    CHECK(parse_rtcp(sr, s) == rtcp_status::bad_length);
    // Unknown packet types after the first are walked over.
    auto app = rr;
    app.insert(app.end(), {0x80, 204, 0x00, 0x02, 0, 0, 0, 9, 'n', 'a', 'm', 'e'});
    CHECK(parse_rtcp(app, s) == rtcp_status::ok);
    CHECK(s.packets == 2);
}

// ---- jitter -----------------------------------------------------------------

TEST_CASE("jitter: RFC 3550 A.8 on synthetic streams") {
    jitter_estimator j;
    // Perfectly paced: no jitter, across the 32-bit wrap of both clocks.
    std::uint32_t ts = 0xFFFFF000u, arrival = 0xFFFFFF00u;
    for (int i = 0; i < 100; ++i) {
        CHECK(j.update(arrival, ts) == 0);
        ts += 160;
        arrival += 160;
    }

    // Every other packet 40 units late: |D| = 40 each time, so J converges
    // on 40 (the integer form settles one short of it, as the RFC's does).
    j.reset();
    // Against the floating-point J += (|D| - J) / 16: the integer form
    // reports the floor of J*16 / 16 and rounds each step, so it may trail
    // by a little over one unit.
    constexpr double tolerance = 1.5;
    double reference = 0;
    std::uint32_t last_transit = 0;
    for (std::uint32_t i = 0; i < 500; ++i) {
        std::uint32_t const t = 1000 + 160 * i;
        std::uint32_t const a = 777 + 160 * i + (i % 2 ? 40 : 0);
        auto const got = j.update(a, t);
        if (i > 0) {
            double const d = std::abs(static_cast<double>(static_cast<std::int32_t>((a - t) - last_transit)));
            reference += (d - reference) / 16;
        }
        last_transit = a - t;
        CHECK(std::abs(static_cast<double>(got) - reference) <= tolerance);
    }
    CHECK(j.jitter() >= 39);
    CHECK(j.jitter() <= 40);

    // Pseudo-random delays against the floating-point formula.
    j.reset();
    reference = 0;
    std::uint32_t x = 99;
    for (std::uint32_t i = 0; i < 2000; ++i) {
        x = x * 1664525u + 1013904223u;
        std::uint32_t const t = 160 * i;
        std::uint32_t const a = 160 * i + (x >> 24);  // 0..255 units of delay
        auto const got = j.update(a, t);
        if (i > 0) {
            double const d = std::abs(static_cast<double>(static_cast<std::int32_t>((a - t) - last_transit)));
            reference += (d - reference) / 16;
        }
        last_transit = a - t;
        REQUIRE(std::abs(static_cast<double>(got) - reference) <= tolerance);
    }
    CHECK(j.jitter() > 50);

    // The largest possible transit jump neither overflows nor goes negative.
    j.reset();
    j.update(0, 0);
    auto const big = j.update(0x80000000u, 0);
    CHECK(big == 0x80000000u / 16);
    for (int i = 0; i < 1000; ++i) j.update(i % 2 ? 0x80000000u : 0, 0);
    CHECK(j.jitter() <= 0x80000000u);
    CHECK(j.jitter() >= 0x7F000000u);
}
