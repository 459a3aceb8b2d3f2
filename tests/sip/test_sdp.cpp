#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "sip/sdp.hpp"

using namespace sb::sip;

// Found by doctest through ADL, so failures print names, not numbers.
namespace sb::sip {
doctest::String toString(sdp_error e) { return std::string(to_string(e)).c_str(); }
doctest::String toString(sdp_direction d) { return std::string(to_string(d)).c_str(); }
}  // namespace sb::sip

namespace {

// Lines joined with CRLF.
std::string sdp(std::initializer_list<std::string_view> lines) {
    std::string out;
    for (auto l : lines) {
        out.append(l);
        out += "\r\n";
    }
    return out;
}

session_description parsed(std::string_view text) {
    session_description d;
    INFO(text);
    REQUIRE(parse_sdp(text, d) == sdp_error::ok);
    return d;
}

local_media local(std::vector<std::string> codecs = {"PCMU", "PCMA"}) {
    local_media l;
    l.address = "192.0.2.4";
    l.rtp_port = 40000;
    l.codecs = std::move(codecs);
    l.session_id = 1700000000;
    l.session_version = 1700000000;
    l.username = "switchboard";
    return l;
}

sdp_answer answer(std::string_view offer_text, const local_media& l = local()) {
    auto const offer = parsed(offer_text);
    sdp_answer a;
    REQUIRE(make_answer(offer, l, a) == sdp_error::ok);
    return a;
}

// Offer with one audio stream of the given m= formats and extra lines.
std::string audio_offer(std::string_view formats, std::initializer_list<std::string_view> extra = {},
                        std::string_view connection = "c=IN IP4 198.51.100.7") {
    std::string out = sdp({"v=0", "o=alice 2890844526 2890844526 IN IP4 198.51.100.7", "s=-"});
    out += std::string(connection) + "\r\n";
    out += "t=0 0\r\n";
    out += "m=audio 49170 RTP/AVP " + std::string(formats) + "\r\n";
    for (auto l : extra) out += std::string(l) + "\r\n";
    return out;
}

const std::string sipp_offer = sdp({
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
});

// A softphone offer: opus, G.722, G.711 both laws, two telephone-events.
const std::string softphone_offer = sdp({
    "v=0",
    "o=- 3912345678 3912345678 IN IP4 203.0.113.50",
    "s=Softphone",
    "c=IN IP4 203.0.113.50",
    "t=0 0",
    "m=audio 51372 RTP/AVP 111 9 8 0 110 101",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
});

}  // namespace

TEST_SUITE("sdp parse") {

TEST_CASE("SIPp's offer") {
    auto const d = parsed(sipp_offer);
    CHECK(d.version == 0);
    CHECK(d.origin.username == "user1");
    CHECK(d.origin.session_id == "53655765");
    CHECK(d.origin.session_version == "2353687637");
    CHECK(d.origin.net_type == "IN");
    CHECK(d.origin.addr_type == "IP4");
    CHECK(d.origin.address == "127.0.0.1");
    CHECK(d.session_name == "-");
    REQUIRE(d.connection);
    CHECK(d.connection->address == "127.0.0.1");
    REQUIRE(d.media.size() == 1);
    auto const& m = d.media[0];
    CHECK(m.type == "audio");
    CHECK(m.port == 6000);
    CHECK(m.proto == "RTP/AVP");
    CHECK(m.formats == std::vector<std::string>{"0"});
    CHECK(m.rtpmap(0)->encoding == "PCMU");
    CHECK(m.rtpmap(0)->clock_rate == 8000);
    CHECK(d.direction_of(m) == sdp_direction::sendrecv);
    CHECK(d.connection_of(m) == &*d.connection);
}

TEST_CASE("softphone offer: rtpmap, fmtp, ptime, direction") {
    auto const d = parsed(softphone_offer);
    auto const& m = d.media.at(0);
    CHECK(m.formats.size() == 6);
    CHECK(m.rtpmaps.size() == 6);
    CHECK(m.rtpmap(111)->encoding == "opus");
    CHECK(m.rtpmap(111)->clock_rate == 48000);
    CHECK(m.rtpmap(111)->parameters == "2");
    CHECK(m.fmtp("111") == "minptime=10;useinbandfec=1");
    CHECK(m.fmtp("101") == "0-16");
    CHECK(!m.fmtp("0"));
    CHECK(m.ptime == 20u);
    CHECK(m.direction == sdp_direction::sendrecv);
    CHECK(m.attributes.size() == 10);
    CHECK(!m.rtpmap(96));
    // Static types need no rtpmap.
    CHECK(m.rtpmap(18)->encoding == "G729");
    CHECK(m.rtpmap(3)->encoding == "GSM");
}

TEST_CASE("levels: media c= and direction override the session's") {
    auto const d = parsed(sdp({
        "v=0",
        "o=bob 1 1 IN IP6 2001:db8::1",
        "s= ",
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "a=sendonly",
        "m=audio 5000 RTP/AVP 0",
        "m=audio 5002 RTP/AVP 8",
        "c=IN IP4 224.2.1.1/127/2",
        "a=inactive",
        "m=video 5004 RTP/AVP 31",
        "a=recvonly",
    }));
    REQUIRE(d.media.size() == 3);
    CHECK(d.direction_of(d.media[0]) == sdp_direction::sendonly);
    CHECK(d.direction_of(d.media[1]) == sdp_direction::inactive);
    CHECK(d.direction_of(d.media[2]) == sdp_direction::recvonly);
    CHECK(d.connection_of(d.media[0])->address == "2001:db8::1");
    CHECK(d.connection_of(d.media[0])->addr_type == "IP6");
    CHECK(d.connection_of(d.media[1])->address == "224.2.1.1");
    CHECK(d.attributes.size() == 1);
}

TEST_CASE("line ends, blank lines, port counts, unknown lines") {
    auto const d = parsed(
        "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=x\ni=info\nu=http://x\ne=a@b\nb=AS:64\nt=0 0\nr=7d 1h 0 25h\nz=0 0\n"
        "k=prompt\nc=IN IP4 10.0.0.1\nm=audio 5000/2 RTP/AVP 0 8\nb=TIAS:64000\na=ptime:30.0\na=x-custom\n\n\r\n");
    REQUIRE(d.media.size() == 1);
    CHECK(d.media[0].port_count == 2);
    CHECK(d.media[0].ptime == 30u);
    CHECK(d.media[0].attributes.back().name == "x-custom");
    CHECK(d.media[0].attributes.back().value.empty());
    CHECK(parsed("v=0\r\no=- 1 2 IN IP4 h\r\nm=audio 1 RTP/AVP 0").media.size() == 1);  // no final CRLF
}

TEST_CASE("malformed descriptions") {
    session_description d;
    auto err = [&](std::string_view text) { return parse_sdp(text, d); };
    auto const head = std::string("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n");
    CHECK(err(head) == sdp_error::ok);
    CHECK(err("") == sdp_error::bad_version);
    CHECK(err("\r\n") == sdp_error::bad_version);
    CHECK(err("v=1\r\n") == sdp_error::bad_version);
    CHECK(err("o=- 1 1 IN IP4 h\r\nv=0\r\n") == sdp_error::bad_version);
    CHECK(err(head + "v=0\r\n") == sdp_error::bad_version);
    CHECK(err("v=0\r\ns=-\r\n") == sdp_error::missing_field);
    CHECK(err("garbage") == sdp_error::malformed_line);
    CHECK(err(head + "V=0\r\n") == sdp_error::malformed_line);
    CHECK(err(head + "m audio\r\n") == sdp_error::malformed_line);
    CHECK(err(head + "=x\r\n") == sdp_error::malformed_line);
    CHECK(err(head + "a=x\x01y\r\n") == sdp_error::malformed_line);
    CHECK(err(head + "a=x\ry\r\n") == sdp_error::malformed_line);
    CHECK(err(head + std::string("a=x\0y\r\n", 7)) == sdp_error::malformed_line);
    CHECK(err("v=0\r\no=- 1 1 IN IP4\r\n") == sdp_error::bad_origin);
    CHECK(err("v=0\r\no=- x 1 IN IP4 h\r\n") == sdp_error::bad_origin);
    CHECK(err("v=0\r\no=- 1 1 IN IP4 h extra\r\n") == sdp_error::bad_origin);
    CHECK(err(head + "o=- 1 1 IN IP4 h\r\n") == sdp_error::bad_origin);
    CHECK(err(head + "c=IN IP4\r\n") == sdp_error::bad_connection);
    CHECK(err(head + "c=IN IPX 1.2.3.4\r\n") == sdp_error::bad_connection);
    CHECK(err(head + "c=ATM NSAP 1.2.3.4\r\n") == sdp_error::bad_connection);
    CHECK(err(head + "c=IN IP4 <bad>\r\n") == sdp_error::bad_connection);
    CHECK(err(head + "m=audio x RTP/AVP 0\r\n") == sdp_error::bad_media);
    CHECK(err(head + "m=audio 70000 RTP/AVP 0\r\n") == sdp_error::bad_media);
    CHECK(err(head + "m=audio 5000/0 RTP/AVP 0\r\n") == sdp_error::bad_media);
    CHECK(err(head + "m=audio 5000 RTP/AVP\r\n") == sdp_error::bad_media);
    CHECK(err(head + "m=audio 5000\r\n") == sdp_error::bad_media);
    CHECK(err(head + "m=audio 5000 RTP/AVP 0 <\r\n") == sdp_error::bad_media);
    auto const m = head + "m=audio 5000 RTP/AVP 0 96\r\n";
    CHECK(err(m + "a=rtpmap:96 opus/48000/2\r\n") == sdp_error::ok);
    CHECK(err(m + "a=rtpmap:96\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=rtpmap:96 opus\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=rtpmap:96 opus/0\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=rtpmap:96 opus/fast\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=rtpmap:128 X/8000\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=rtpmap:x X/8000\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=fmtp:\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=ptime:fast\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=ptime:20.x\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=\r\n") == sdp_error::bad_attribute);
    CHECK(err(m + "a=:x\r\n") == sdp_error::bad_attribute);
}

TEST_CASE("limits") {
    session_description d;
    auto const head = std::string("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\n");
    std::string media = head;
    for (int i = 0; i < 64; ++i) media += "m=audio " + std::to_string(5000 + 2 * i) + " RTP/AVP 0\r\n";
    CHECK(parse_sdp(media, d) == sdp_error::ok);
    CHECK(d.media.size() == 64);
    CHECK(parse_sdp(media + "m=audio 4000 RTP/AVP 0\r\n", d) == sdp_error::too_many_media);

    std::string attrs = head + "a=session\r\nm=audio 5000 RTP/AVP 0\r\n";
    for (int i = 0; i < 255; ++i) attrs += "a=x-" + std::to_string(i) + "\r\n";
    CHECK(parse_sdp(attrs, d) == sdp_error::ok);
    CHECK(parse_sdp(attrs + "a=one-more\r\n", d) == sdp_error::too_many_attributes);

    auto const long_line = "a=x:" + std::string(4092, 'y');
    CHECK(parse_sdp(head + long_line + "\r\n", d) == sdp_error::ok);
    CHECK(parse_sdp(head + long_line + "y\r\n", d) == sdp_error::line_too_long);

    sdp_limits tight;
    tight.max_media = 1;
    tight.max_attributes = 1;
    CHECK(parse_sdp(head + "m=audio 1 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n", d, tight) == sdp_error::too_many_media);
    CHECK(parse_sdp(head + "a=a\r\na=b\r\n", d, tight) == sdp_error::too_many_attributes);
}

TEST_CASE("every truncation parses or fails cleanly") {
    session_description d;
    for (std::size_t n = 0; n <= softphone_offer.size(); ++n) {
        auto const e = parse_sdp(std::string_view(softphone_offer).substr(0, n), d);
        CHECK(e != sdp_error::no_common_codec);
    }
}

}  // TEST_SUITE

TEST_SUITE("sdp answer") {

TEST_CASE("SIPp's PCMU offer") {
    auto const a = answer(sipp_offer);
    CHECK(a.choice.payload == 0);
    CHECK(a.choice.codec == "PCMU");
    CHECK(a.choice.clock_rate == 8000);
    CHECK(!a.choice.dtmf_payload);
    CHECK(a.choice.direction == sdp_direction::sendrecv);
    CHECK(a.choice.sends());
    CHECK(a.choice.receives());
    CHECK(a.choice.remote_address == "127.0.0.1");
    CHECK(a.choice.remote_port == 6000);
    CHECK(a.sdp == sdp({
                       "v=0",
                       "o=switchboard 1700000000 1700000000 IN IP4 192.0.2.4",
                       "s=-",
                       "c=IN IP4 192.0.2.4",
                       "t=0 0",
                       "m=audio 40000 RTP/AVP 0",
                       "a=rtpmap:0 PCMU/8000",
                       "a=ptime:20",
                       "a=sendrecv",
                   }));
    auto const back = parsed(a.sdp);
    CHECK(back.media.at(0).port == 40000);
}

TEST_CASE("our preference decides, with the offer's payload numbers") {
    CHECK(answer(audio_offer("0 8")).choice.payload == 0);
    CHECK(answer(audio_offer("8 0")).choice.payload == 0);  // ours, not the offerer's order
    CHECK(answer(audio_offer("0 8"), local({"PCMA", "PCMU"})).choice.payload == 8);
    CHECK(answer(audio_offer("0 8"), local({"PCMA", "PCMU"})).choice.codec == "PCMA");
    CHECK(answer(audio_offer("8"), local({"PCMU", "PCMA"})).choice.codec == "PCMA");
    CHECK(answer(audio_offer("18 8")).choice.payload == 8);  // no rtpmap: static types

    auto a = answer(softphone_offer);
    CHECK(a.choice.payload == 0);
    CHECK(a.choice.dtmf_payload == 101);
    CHECK(a.choice.dtmf_events == "0-16");
    CHECK(a.choice.remote_port == 51372);
    auto const back = parsed(a.sdp);
    auto const& m = back.media.at(0);
    CHECK(m.formats == std::vector<std::string>{"0", "101"});
    CHECK(m.rtpmap(101)->encoding == "telephone-event");
    CHECK(m.rtpmap(101)->clock_rate == 8000);
    CHECK(m.fmtp("101") == "0-16");
    CHECK(m.ptime == 20u);

    // Dynamic numbers for G.711 (allowed, if odd) and telephone-event.
    a = answer(audio_offer("96 97 98", {"a=rtpmap:96 opus/48000/2", "a=rtpmap:97 PCMA/8000",
                                        "a=rtpmap:98 telephone-event/8000", "a=fmtp:98 0-15"}));
    CHECK(a.choice.payload == 97);
    CHECK(a.choice.codec == "PCMA");
    CHECK(a.choice.dtmf_payload == 98);
    CHECK(a.choice.dtmf_events == "0-15");
    CHECK(a.sdp.find("m=audio 40000 RTP/AVP 97 98\r\n") != std::string::npos);
    CHECK(a.sdp.find("a=rtpmap:97 PCMA/8000\r\n") != std::string::npos);

    // Encoding names are case-insensitive; the remote's spelling is kept.
    a = answer(audio_offer("100", {"a=rtpmap:100 pcmu/8000"}));
    CHECK(a.choice.payload == 100);
    CHECK(a.choice.codec == "pcmu");

    // A preference can name a rate and channels.
    a = answer(softphone_offer, local({"opus/48000/2", "PCMU"}));
    CHECK(a.choice.payload == 111);
    CHECK(a.choice.clock_rate == 48000);
    CHECK(a.choice.dtmf_payload == 110);  // the telephone-event at 48 kHz
    CHECK(a.sdp.find("a=rtpmap:111 opus/48000/2\r\n") != std::string::npos);
    CHECK(answer(softphone_offer, local({"opus/48000/1", "PCMA"})).choice.codec == "PCMA");
    // G722's RTP clock is 8000 whatever its sampling rate (RFC 3551 4.5.2).
    CHECK(answer(softphone_offer, local({"G722"})).choice.payload == 9);
    CHECK(answer(softphone_offer, local({"G722/16000", "PCMA"})).choice.payload == 8);
}

TEST_CASE("telephone-event kept or dropped") {
    auto const te = [](std::initializer_list<std::string_view> lines) {
        return audio_offer("0 101", lines);
    };
    CHECK(answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"})).choice.dtmf_events == "0-16");
    CHECK(answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"})).choice.dtmf_events == "0-15");
    // RFC 4733: no fmtp means 0-15.
    CHECK(answer(te({"a=rtpmap:101 telephone-event/8000"})).choice.dtmf_events == "0-15");
    // Only what we handle (0-16) is answered.
    CHECK(answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15,16,32-36,66"})).choice.dtmf_events ==
          "0-16");
    CHECK(answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 1,3,5"})).choice.dtmf_events == "1,3,5");
    CHECK(!answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 32-36"})).choice.dtmf_payload);
    CHECK(!answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 nonsense"})).choice.dtmf_payload);
    // At another clock rate than the audio: not usable with it.
    CHECK(!answer(te({"a=rtpmap:101 telephone-event/16000"})).choice.dtmf_payload);
    // Disabled locally.
    auto l = local();
    l.enable_dtmf = false;
    auto const a = answer(te({"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"}), l);
    CHECK(!a.choice.dtmf_payload);
    CHECK(a.sdp.find("telephone-event") == std::string::npos);
    CHECK(a.sdp.find("m=audio 40000 RTP/AVP 0\r\n") != std::string::npos);
    // Not offered.
    CHECK(!answer(audio_offer("0")).choice.dtmf_payload);
}

TEST_CASE("no common codec") {
    session_description offer;
    sdp_answer a;
    REQUIRE(parse_sdp(audio_offer("18 3", {"a=rtpmap:18 G729/8000"}), offer) == sdp_error::ok);
    CHECK(make_answer(offer, local(), a) == sdp_error::no_common_codec);
    REQUIRE(parse_sdp(audio_offer("101", {"a=rtpmap:101 telephone-event/8000"}), offer) == sdp_error::ok);
    CHECK(make_answer(offer, local(), a) == sdp_error::no_common_codec);
    CHECK(make_answer(parsed(sipp_offer), local({"PCMA"}), a) == sdp_error::no_common_codec);
    CHECK(make_answer(parsed(sipp_offer), local({}), a) == sdp_error::no_common_codec);
    CHECK(make_answer(parsed(sipp_offer), local({"", "/8000", "PCMU/x"}), a) == sdp_error::no_common_codec);
    // Audio we would take, but rejected by the offerer (port 0), over SRTP, or with nowhere to send.
    auto const zero = std::string("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n");
    CHECK(make_answer(parsed(zero), local(), a) == sdp_error::no_common_codec);
    auto const srtp = std::string("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/SAVP 0\r\n");
    CHECK(make_answer(parsed(srtp), local(), a) == sdp_error::no_common_codec);
    auto const nowhere = std::string("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 5000 RTP/AVP 0\r\n");
    CHECK(make_answer(parsed(nowhere), local(), a) == sdp_error::no_common_codec);
    auto const video = std::string("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 31\r\n");
    CHECK(make_answer(parsed(video), local(), a) == sdp_error::no_common_codec);
    auto const none = std::string("v=0\r\no=- 1 1 IN IP4 h\r\n");
    CHECK(make_answer(parsed(none), local(), a) == sdp_error::no_common_codec);
    CHECK(to_string(sdp_error::no_common_codec) == "no common codec");
}

TEST_CASE("other streams are declined with port 0, in order") {
    auto const a = answer(sdp({
        "v=0",
        "o=- 1 1 IN IP4 198.51.100.7",
        "s=-",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=video 51372 RTP/AVP 31 32",
        "a=rtpmap:31 H261/90000",
        "m=audio 49170 RTP/AVP 18",
        "m=audio 49172 RTP/AVP 8 0",
        "m=audio 49174 RTP/AVP 0",
        "m=image 49176 udptl t38",
    }));
    CHECK(a.choice.media_index == 2);
    CHECK(a.choice.payload == 0);
    CHECK(a.choice.remote_port == 49172);
    auto const back = parsed(a.sdp);
    REQUIRE(back.media.size() == 5);
    CHECK(back.media[0].port == 0);
    CHECK(back.media[0].type == "video");
    CHECK(back.media[0].formats == std::vector<std::string>{"31", "32"});
    CHECK(back.media[1].port == 0);
    CHECK(back.media[2].port == 40000);
    CHECK(back.media[3].port == 0);  // one audio stream is all a tone server plays
    CHECK(back.media[4].port == 0);
    CHECK(back.media[4].proto == "udptl");
    CHECK(back.media[4].formats == std::vector<std::string>{"t38"});
}

TEST_CASE("hold and directions (RFC 3264 6.1, 8.4)") {
    auto const dir = [](std::string_view attribute, std::string_view connection = "c=IN IP4 198.51.100.7") {
        return answer(audio_offer("0", {attribute}, connection)).choice;
    };
    CHECK(dir("a=sendrecv").direction == sdp_direction::sendrecv);
    auto c = dir("a=sendonly");
    CHECK(c.direction == sdp_direction::recvonly);
    CHECK(!c.sends());
    CHECK(c.receives());
    c = dir("a=recvonly");
    CHECK(c.direction == sdp_direction::sendonly);
    CHECK(c.sends());
    CHECK(!c.receives());
    c = dir("a=inactive");
    CHECK(c.direction == sdp_direction::inactive);
    CHECK(!c.sends());
    CHECK(dir("a=x-nothing").direction == sdp_direction::sendrecv);

    // Old-style hold: nothing can be sent to 0.0.0.0.
    c = dir("a=x-nothing", "c=IN IP4 0.0.0.0");
    CHECK(c.direction == sdp_direction::recvonly);
    CHECK(!c.sends());
    CHECK(dir("a=recvonly", "c=IN IP4 0.0.0.0").direction == sdp_direction::inactive);
    CHECK(dir("a=sendonly", "c=IN IP4 0.0.0.0").direction == sdp_direction::recvonly);
    CHECK(dir("c=IN IP4 0.0.0.0", "c=IN IP4 198.51.100.7").direction == sdp_direction::recvonly);  // media level

    // The answer text says so.
    auto const a = answer(audio_offer("0 8", {"a=sendonly"}));
    CHECK(a.sdp.find("a=recvonly\r\n") != std::string::npos);
    CHECK(parsed(a.sdp).direction_of(parsed(a.sdp).media[0]) == sdp_direction::recvonly);

    // Session-level attribute inherited.
    auto const session_level = sdp({"v=0", "o=- 1 1 IN IP4 h", "s=-", "c=IN IP4 10.0.0.1", "a=inactive",
                                    "m=audio 5000 RTP/AVP 0"});
    CHECK(answer(session_level).choice.direction == sdp_direction::inactive);

    CHECK(reverse(sdp_direction::sendonly) == sdp_direction::recvonly);
    CHECK(reverse(sdp_direction::recvonly) == sdp_direction::sendonly);
    CHECK(reverse(sdp_direction::inactive) == sdp_direction::inactive);
    CHECK(reverse(sdp_direction::sendrecv) == sdp_direction::sendrecv);
}

TEST_CASE("IPv6 and odd local values") {
    auto l = local();
    l.address = "2001:db8::4";
    l.username = "my user\r\n";
    l.session_name = "tones\r\nm=evil";
    l.ptime = 0;
    auto const a = answer(sipp_offer, l);
    CHECK(a.sdp.find("o=myuser 1700000000 1700000000 IN IP6 2001:db8::4\r\n") != std::string::npos);
    CHECK(a.sdp.find("c=IN IP6 2001:db8::4\r\n") != std::string::npos);
    CHECK(a.sdp.find("ptime") == std::string::npos);
    auto const back = parsed(a.sdp);
    CHECK(back.media.size() == 1);
    CHECK(back.session_name == "tonesm=evil");
}

}  // TEST_SUITE

TEST_SUITE("sdp offer") {

TEST_CASE("delayed offer: we offer, they answer in the ACK") {
    auto const offer = make_offer(local());
    CHECK(offer == sdp({
                       "v=0",
                       "o=switchboard 1700000000 1700000000 IN IP4 192.0.2.4",
                       "s=-",
                       "c=IN IP4 192.0.2.4",
                       "t=0 0",
                       "m=audio 40000 RTP/AVP 0 8 101",
                       "a=rtpmap:0 PCMU/8000",
                       "a=rtpmap:8 PCMA/8000",
                       "a=rtpmap:101 telephone-event/8000",
                       "a=fmtp:101 0-16",
                       "a=ptime:20",
                       "a=sendrecv",
                   }));
    auto const o = parsed(offer);
    CHECK(o.media.at(0).formats == std::vector<std::string>{"0", "8", "101"});

    // The remote picks PCMA only.
    media_choice c;
    REQUIRE(read_answer(parsed(sdp({"v=0", "o=- 5 5 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
                                    "m=audio 30000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000",
                                    "a=fmtp:101 0-15"})),
                        local(), c) == sdp_error::ok);
    CHECK(c.payload == 8);
    CHECK(c.dtmf_payload == 101);
    CHECK(c.dtmf_events == "0-15");
    CHECK(c.remote_address == "198.51.100.7");
    CHECK(c.remote_port == 30000);
    CHECK(c.direction == sdp_direction::sendrecv);
    // An answer that rejected our stream.
    CHECK(read_answer(parsed("v=0\r\no=- 5 5 IN IP4 h\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"), local(),
                      c) == sdp_error::no_common_codec);

    // Our offer answered by ourselves: consistent.
    sdp_answer self;
    REQUIRE(make_answer(o, local({"PCMA", "PCMU"}), self) == sdp_error::ok);
    CHECK(self.choice.payload == 8);
    CHECK(self.choice.dtmf_payload == 101);
}

TEST_CASE("offer payload numbers") {
    auto l = local({"PCMA", "opus/48000/2", "PCMU", "L16/16000", "bad/x"});
    auto const o = parsed(make_offer(l));
    auto const& m = o.media.at(0);
    // Static where RFC 3551 has one at that rate, dynamic from 96 otherwise,
    // a telephone-event per clock rate.
    CHECK(m.formats == std::vector<std::string>{"8", "96", "0", "97", "101", "98", "99"});
    CHECK(m.rtpmap(96)->encoding == "opus");
    CHECK(m.rtpmap(96)->parameters == "2");
    CHECK(m.rtpmap(97)->clock_rate == 16000);
    CHECK(m.rtpmap(101)->clock_rate == 8000);
    CHECK(m.rtpmap(98)->encoding == "telephone-event");
    CHECK(m.rtpmap(98)->clock_rate == 48000);
    CHECK(m.rtpmap(99)->clock_rate == 16000);

    l.enable_dtmf = false;
    CHECK(parsed(make_offer(l)).media.at(0).formats == std::vector<std::string>{"8", "96", "0", "97"});
    l.codecs.clear();
    CHECK(parsed(make_offer(l)).media.at(0).formats == std::vector<std::string>{"0"});
}

TEST_CASE("re-INVITE: o= version bumped only when the description changed") {
    auto l = local();
    auto const first = answer(sipp_offer, l).sdp;
    // Same offer again (a session refresh): same description, same version.
    l.session_version = 42;  // whatever the builder was given
    auto again = answer(sipp_offer, l).sdp;
    CHECK(bump_version(first, again) == 1700000000u);
    CHECK(again == first);
    // Put on hold: the answer changes, the version goes up by one.
    auto held = answer(audio_offer("0", {"a=sendonly"}), l).sdp;
    CHECK(bump_version(first, held) == 1700000001u);
    CHECK(held.find("o=switchboard 1700000000 1700000001 IN IP4 192.0.2.4\r\n") != std::string::npos);
    CHECK(parsed(held).origin.session_version == "1700000001");
    // And off hold again: another change.
    auto resumed = answer(sipp_offer, l).sdp;
    CHECK(bump_version(held, resumed) == 1700000002u);

    std::string none = "v=0\r\n";
    CHECK(!bump_version(first, none));
    CHECK(!bump_version("v=0\r\n", again));
    std::string top = "v=0\r\no=- 1 18446744073709551615 IN IP4 h\r\n";
    std::string changed = "v=0\r\no=- 1 5 IN IP4 h2\r\n";
    CHECK(!bump_version(top, changed));
    std::string same = "v=0\r\no=- 1 5 IN IP4 h\r\n";
    CHECK(bump_version(top, same) == 18446744073709551615u);
}

}  // TEST_SUITE
