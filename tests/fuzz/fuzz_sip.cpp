// libFuzzer target for the SIP parser, the TCP framer and SDP offer/answer.
// Standalone (no core library), so it builds as
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Isrc -Itests/fuzz tests/fuzz/fuzz_sip.cpp
//           src/sip/sip_message.cpp src/sip/sdp.cpp
//
// Input layout: [mode] [limits] [4 piece sizes] [payload...]
//   mode % 3:   0 parse_message, 1 stream_framer, 2 parse_sdp + make_answer
//   limits:     bits 0-1 pick default or small limits, the rest scale them,
//               so the too_large paths are reached with short inputs
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sip/sdp.hpp"
#include "sip/sip_message.hpp"

#define SB_SIP_FUZZ_CHECK(cond)                                                                \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace {

using namespace sb::sip;

struct input {
    std::uint8_t mode = 0;
    std::uint8_t limits = 0;
    std::uint8_t pieces[4] = {1, 1, 1, 1};
    std::string_view payload;
};

input split_input(const std::uint8_t* data, std::size_t size) {
    input in;
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    auto take = [&](std::uint8_t& b) {
        if (rest.empty()) return;
        b = static_cast<std::uint8_t>(rest.front());
        rest.remove_prefix(1);
    };
    take(in.mode);
    take(in.limits);
    for (auto& p : in.pieces) take(p);
    in.payload = rest;
    return in;
}

message_limits pick_limits(std::uint8_t b) {
    message_limits l;
    std::size_t const scale = (b >> 2) + 1u;  // 1..64
    switch (b & 3) {
    case 1:
        l.max_message_size = 16 * scale;
        l.max_header_line = 8 * scale;
        l.max_headers = scale;
        break;
    case 2: l.max_header_line = 4 * scale; break;
    case 3: l.max_headers = scale / 8; break;
    default: break;
    }
    return l;
}

// Big enough for anything we serialize from a message that met `pick_limits`.
message_limits relaxed() {
    message_limits l;
    l.max_message_size = 1 << 20;
    l.max_headers = 1 << 12;
    l.max_header_line = 1 << 20;
    return l;
}

// Output of ours must read back as what it was made from.
void check_round_trip(const sip_message& m) {
    sip_message again;
    SB_SIP_FUZZ_CHECK(parse_message(serialize(m), again, relaxed()) == parse_error::ok);
    SB_SIP_FUZZ_CHECK(again.is_request == m.is_request);
    SB_SIP_FUZZ_CHECK(again.method == m.method && again.uri == m.uri);
    SB_SIP_FUZZ_CHECK(again.status == m.status && again.reason == m.reason);
    SB_SIP_FUZZ_CHECK(again.body == m.body);
    SB_SIP_FUZZ_CHECK(again.headers("Via") == m.headers("Via"));
    SB_SIP_FUZZ_CHECK(again.header("Call-ID") == m.header("Call-ID"));
    SB_SIP_FUZZ_CHECK(serialize(again) == serialize(m));
}

void exercise_values(const sip_message& m) {
    for (auto v : m.headers("Via")) (void)parse_via(v);
    for (auto name : {"From", "To", "Contact", "Route", "Record-Route"})
        for (auto v : m.headers(name))
            if (auto const na = parse_name_addr(v)) (void)parse_uri(na->uri);
    (void)parse_uri(m.uri);
    (void)m.cseq();
    (void)m.max_forwards();
}

void fuzz_parse(const input& in) {
    auto const limits = pick_limits(in.limits);
    sip_message m;
    auto const e = parse_message(in.payload, m, limits);
    if (e != parse_error::ok) return;
    SB_SIP_FUZZ_CHECK(m.fields.size() <= limits.max_headers);
    SB_SIP_FUZZ_CHECK(in.payload.size() <= limits.max_message_size);
    SB_SIP_FUZZ_CHECK(m.cseq().has_value());
    SB_SIP_FUZZ_CHECK(parse_via(*m.header("Via")).has_value());
    exercise_values(m);
    check_round_trip(m);
    if (!m.is_request) return;

    // What a UAS does with a request: stamp the Via, answer it.
    auto stamped = m;
    SB_SIP_FUZZ_CHECK(stamp_via(stamped, "192.0.2.1", 5062));
    auto const top = parse_via(*stamped.header("Via"));
    SB_SIP_FUZZ_CHECK(top.has_value());
    auto const before = parse_via(*m.header("Via"));
    if (before->has_rport) {
        SB_SIP_FUZZ_CHECK(top->received == "192.0.2.1");
        if (!before->rport) SB_SIP_FUZZ_CHECK(top->rport == 5062);
    }
    SB_SIP_FUZZ_CHECK(stamped.headers("Via").size() == m.headers("Via").size());

    std::vector<header_field> const extra{{"Contact", "<sip:tones@192.0.2.4>"}, {"Content-Type", "application/sdp"}};
    response_options opt;
    opt.to_tag = "fuzz1";
    opt.copy_record_route = true;
    opt.extra = extra;
    opt.body = "v=0\r\n";
    sip_message r;
    SB_SIP_FUZZ_CHECK(parse_message(make_response(stamped, 200, "OK", opt), r, relaxed()) == parse_error::ok);
    SB_SIP_FUZZ_CHECK(!r.is_request && r.status == 200 && r.body == "v=0\r\n");
    SB_SIP_FUZZ_CHECK(r.headers("Via") == stamped.headers("Via"));
    SB_SIP_FUZZ_CHECK(r.header("Call-ID") == m.header("Call-ID"));
    SB_SIP_FUZZ_CHECK(r.header("CSeq") == m.header("CSeq"));
    auto const to = parse_name_addr(*r.header("To"));
    SB_SIP_FUZZ_CHECK(to && to->tag().has_value());
}

struct framed {
    stream_framer::status status;
    parse_error error;
    std::string message;
    bool operator==(const framed&) const = default;
};

// false once the framer failed
bool drain(stream_framer& f, std::vector<framed>& out, const message_limits& limits) {
    sip_message m;
    for (;;) {
        auto const s = f.next(m);
        if (s == stream_framer::status::need_more) {
            // Never more than one partial message held back.
            SB_SIP_FUZZ_CHECK(f.buffered() <= limits.max_message_size);
            return true;
        }
        out.push_back({s, f.error(), s == stream_framer::status::message ? serialize(m) : std::string{}});
        if (s == stream_framer::status::error) {
            SB_SIP_FUZZ_CHECK(f.error() != parse_error::ok);
            SB_SIP_FUZZ_CHECK(f.buffered() == 0);
            return false;
        }
        if (s == stream_framer::status::message) {
            SB_SIP_FUZZ_CHECK(m.fields.size() <= limits.max_headers);
            exercise_values(m);
            check_round_trip(m);
        } else if (s == stream_framer::status::bad_message) {
            SB_SIP_FUZZ_CHECK(f.error() != parse_error::ok);
        }
    }
}

void fuzz_framer(const input& in) {
    auto const limits = pick_limits(in.limits);
    std::vector<framed> whole;
    {
        stream_framer f(limits);
        f.feed(in.payload);
        drain(f, whole, limits);
    }
    // How the bytes were cut may not change what comes out.
    std::vector<framed> pieces;
    stream_framer f(limits);
    auto rest = in.payload;
    std::size_t piece = 0;
    bool alive = true;
    while (alive && !rest.empty()) {
        auto const n = std::min<std::size_t>(rest.size(), std::max<std::uint8_t>(in.pieces[piece++ % 4], 1));
        f.feed(rest.substr(0, n));
        rest.remove_prefix(n);
        alive = drain(f, pieces, limits);
    }
    SB_SIP_FUZZ_CHECK(pieces == whole);
}

void fuzz_sdp(const input& in) {
    sdp_limits limits;
    if (in.limits & 1) {
        limits.max_media = (in.limits >> 1) % 8;
        limits.max_attributes = in.limits >> 1;
        limits.max_line = 16 + (in.limits >> 1);
    }
    session_description offer;
    if (parse_sdp(in.payload, offer, limits) != sdp_error::ok) return;
    SB_SIP_FUZZ_CHECK(offer.media.size() <= limits.max_media);

    local_media local;
    local.address = "192.0.2.4";
    local.rtp_port = 40000;
    local.codecs = {"PCMU", "PCMA", "opus/48000/2"};
    local.session_id = 7;
    local.session_version = 7;

    session_description ours;
    SB_SIP_FUZZ_CHECK(parse_sdp(make_offer(local), ours) == sdp_error::ok);

    sdp_answer answer;
    auto const e = make_answer(offer, local, answer);
    SB_SIP_FUZZ_CHECK(e == sdp_error::ok || e == sdp_error::no_common_codec);
    if (e != sdp_error::ok) return;
    session_description back;
    SB_SIP_FUZZ_CHECK(parse_sdp(answer.sdp, back) == sdp_error::ok);
    SB_SIP_FUZZ_CHECK(back.media.size() == offer.media.size());
    SB_SIP_FUZZ_CHECK(answer.choice.media_index < back.media.size());
    for (std::size_t i = 0; i < back.media.size(); ++i)
        SB_SIP_FUZZ_CHECK((back.media[i].port != 0) == (i == answer.choice.media_index));
    // The answer, read as an answer to an offer of ours, agrees with itself.
    media_choice c;
    SB_SIP_FUZZ_CHECK(read_answer(back, local, c) == sdp_error::ok);
    SB_SIP_FUZZ_CHECK(c.payload == answer.choice.payload);
    SB_SIP_FUZZ_CHECK(c.dtmf_payload == answer.choice.dtmf_payload);
    SB_SIP_FUZZ_CHECK(c.dtmf_events == answer.choice.dtmf_events);

    auto again = answer.sdp;
    SB_SIP_FUZZ_CHECK(bump_version(answer.sdp, again) == 7u);
    SB_SIP_FUZZ_CHECK(again == answer.sdp);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto const in = split_input(data, size);
    switch (in.mode % 3) {
    case 0: fuzz_parse(in); break;
    case 1: fuzz_framer(in); break;
    default: fuzz_sdp(in); break;
    }
    return 0;
}
