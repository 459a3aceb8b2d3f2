// The UAS engine driven with messages and a fake clock: what it would send,
// when, and what it asks of the media side. No socket.
#include <doctest/doctest.h>

#include <memory>
#include <set>

#include "sip/uas.hpp"

using namespace sb::sip;
using namespace std::chrono_literals;

namespace {

struct fake_ports final : port_allocator {
    std::set<std::uint16_t> used;
    std::uint16_t next = 20000;
    std::size_t limit = 1000;
    std::optional<std::uint16_t> allocate() override {
        if (used.size() >= limit) return std::nullopt;
        next += 2;
        used.insert(next);
        return next;
    }
    void release(std::uint16_t p) override { used.erase(p); }
};

const peer_address caller{transport::udp, "127.0.0.1", 5070, 0};

std::string sdp_offer(std::string_view formats = "0 8 101", std::string_view extra = "a=rtpmap:101 telephone-event/8000\r\n") {
    return "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 6000 RTP/AVP " + std::string(formats) + "\r\n" + std::string(extra);
}

std::string request(std::string_view method, std::string_view branch, std::string_view call_id, int cseq,
                    std::string_view to_tag = {}, std::string_view body = {}, std::string_view extra = {}) {
    std::string m = std::string(method) + " sip:service@127.0.0.1:5060 SIP/2.0\r\n";
    m += "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=" + std::string(branch) + "\r\n";
    m += "From: sipp <sip:sipp@127.0.0.1:5070>;tag=caller1\r\n";
    m += "To: <sip:service@127.0.0.1:5060>" + (to_tag.empty() ? "" : ";tag=" + std::string(to_tag)) + "\r\n";
    m += "Call-ID: " + std::string(call_id) + "\r\n";
    m += "CSeq: " + std::to_string(cseq) + " " + std::string(method == "ACK" ? "ACK" : method) + "\r\n";
    m += "Contact: <sip:sipp@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n";
    m += std::string(extra);
    if (!body.empty()) m += "Content-Type: application/sdp\r\n";
    m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    return m;
}

struct rig {
    fake_ports ports;
    uas_config cfg;
    std::unique_ptr<uas_engine> e;
    uas_output out;
    clock::time_point t0{};

    explicit rig(uas_config c = {}) : cfg(std::move(c)) { e = std::make_unique<uas_engine>(cfg, ports, 42); }
    void send(const std::string& text, clock::duration at = 0s) {
        out.clear();
        e->on_datagram(text, caller, t0 + at, out);
    }
    void tick(clock::duration at) {
        out.clear();
        e->on_timer(t0 + at, out);
    }
    sip_message sent(std::size_t i = 0) const {
        REQUIRE(i < out.sends.size());
        sip_message m;
        REQUIRE(parse_message(out.sends[i].data, m) == parse_error::ok);
        return m;
    }
    std::string local_tag() const {
        auto last = sent(out.sends.size() - 1);
        return std::string(parse_name_addr(*last.header("To"))->tag().value_or(""));
    }
};

}  // namespace

TEST_CASE("uas: a full call: 100, 180, 200 with SDP after the delay, ACK, tone, our BYE") {
    rig r;
    r.send(request("INVITE", "z9hG4bK-1", "call-1", 1, {}, sdp_offer()));
    REQUIRE(r.out.sends.size() == 2);
    CHECK(r.sent(0).status == 100);
    CHECK_FALSE(parse_name_addr(*r.sent(0).header("To"))->tag());
    CHECK(r.sent(1).status == 180);
    auto tag = r.local_tag();
    CHECK(tag.size() == 16);
    CHECK(r.e->deadline() == r.t0 + 1s);

    r.tick(999ms);
    CHECK(r.out.sends.empty());
    r.tick(1s);
    REQUIRE(r.out.sends.size() == 1);
    auto ok = r.sent(0);
    CHECK(ok.status == 200);
    CHECK(ok.header("Contact"));
    CHECK(r.local_tag() == tag);
    session_description answer;
    REQUIRE(parse_sdp(ok.body, answer) == sdp_error::ok);
    REQUIRE(answer.media.size() == 1);
    CHECK(answer.media[0].formats == std::vector<std::string>{"0", "101"});  // PCMU first, telephone-event kept
    CHECK(r.out.media.empty());  // RTP after the ACK

    r.send(request("ACK", "z9hG4bK-2", "call-1", 1, tag), 1100ms);
    REQUIRE(r.out.media.size() == 1);
    auto& m = r.out.media[0];
    CHECK(m.what == media_command::op::start);
    CHECK(m.remote_ip == "127.0.0.1");
    CHECK(m.remote_port == 6000);
    CHECK(m.payload == 0);
    CHECK(m.law == codec::pcmu);
    CHECK(m.dtmf_payload == 101);
    CHECK(m.send);
    CHECK(r.e->stats().active == 1);

    r.tick(1100ms + 30s);
    REQUIRE(r.out.sends.size() == 1);
    auto bye = r.sent(0);
    CHECK(bye.method == "BYE");
    CHECK(bye.uri == "sip:sipp@127.0.0.1:5070");
    CHECK(parse_name_addr(*bye.header("From"))->tag() == tag);
    CHECK(parse_name_addr(*bye.header("To"))->tag() == "caller1");
    CHECK(bye.cseq()->method == "BYE");
    REQUIRE(r.out.media.size() == 1);
    CHECK(r.out.media[0].what == media_command::op::stop);

    // Our BYE is resent over UDP until answered.
    r.tick(1100ms + 30s + 500ms);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).method == "BYE");

    std::string ok_bye = make_response(bye, 200, "OK");
    r.send(ok_bye, 32s);
    CHECK(r.e->stats().active == 0);
    CHECK(r.e->stats().completed == 1);
    CHECK(r.ports.used.empty());
}

TEST_CASE("uas: a retransmitted INVITE gets the last response again") {
    rig r;
    auto invite = request("INVITE", "z9hG4bK-r", "call-r", 1, {}, sdp_offer());
    r.send(invite);
    r.send(invite, 100ms);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 180);
    r.tick(1s);
    r.send(invite, 1200ms);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 200);
    CHECK(r.e->stats().total == 1);
}

TEST_CASE("uas: 2xx resent with T1 doubling to T2 until the ACK, BYE after 64*T1") {
    rig r;
    r.send(request("INVITE", "z9hG4bK-n", "call-n", 1, {}, sdp_offer()));
    r.tick(1s);  // 200 OK
    std::vector<clock::duration> resent;
    for (clock::duration t = 1s; t <= 1s + 40s; t += 10ms) {
        r.tick(t);
        for (std::size_t i = 0; i < r.out.sends.size(); ++i) {
            auto m = r.sent(i);
            if (m.status == 200) resent.push_back(t - 1s);
            if (m.method == "BYE") {
                CHECK(t - 1s == 32s);  // 64 * T1
                t = 1s + 41s;
            }
        }
    }
    REQUIRE(resent.size() >= 5);
    CHECK(resent[0] == 500ms);
    CHECK(resent[1] == 1500ms);
    CHECK(resent[2] == 3500ms);
    CHECK(resent[3] == 7500ms);
    CHECK(resent[4] == 11500ms);  // capped at T2 = 4 s
    CHECK(r.e->stats().failed == 1);
}

TEST_CASE("uas: CANCEL before the answer: 200 to CANCEL, 487 to INVITE resent until ACK") {
    rig r;
    auto invite = request("INVITE", "z9hG4bK-c", "call-c", 1, {}, sdp_offer());
    r.send(invite);
    auto tag = r.local_tag();
    r.send(request("CANCEL", "z9hG4bK-c", "call-c", 1), 200ms);
    REQUIRE(r.out.sends.size() == 2);
    CHECK(r.sent(0).status == 200);
    CHECK(r.sent(0).cseq()->method == "CANCEL");
    CHECK(r.sent(1).status == 487);
    CHECK(r.sent(1).cseq()->method == "INVITE");
    CHECK(parse_name_addr(*r.sent(1).header("To"))->tag() == tag);
    CHECK(r.e->stats().active == 0);
    CHECK(r.ports.used.empty());
    r.tick(1s);  // no answer for a cancelled call; the 487 is resent
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 487);
    r.send(request("ACK", "z9hG4bK-c", "call-c", 1, tag), 1100ms);
    r.tick(5s);
    CHECK(r.out.sends.empty());
    CHECK(r.e->pending_transactions() <= 2);  // the CANCEL's cached answer, the ACKed 487 absorbing copies
}

TEST_CASE("uas: the caller's BYE ends the call and stops its RTP at once") {
    rig r;
    r.send(request("INVITE", "z9hG4bK-b", "call-b", 1, {}, sdp_offer()));
    r.tick(1s);
    auto tag = r.local_tag();
    r.send(request("ACK", "z9hG4bK-b2", "call-b", 1, tag), 1100ms);
    r.send(request("BYE", "z9hG4bK-b3", "call-b", 2, tag), 5s);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 200);
    REQUIRE(r.out.media.size() == 1);
    CHECK(r.out.media[0].what == media_command::op::stop);
    CHECK(r.e->stats().active == 0);
    // A retransmitted BYE gets the same 200 again; a BYE for no call gets 481.
    r.send(request("BYE", "z9hG4bK-b3", "call-b", 2, tag), 5100ms);
    CHECK(r.sent(0).status == 200);
    r.send(request("BYE", "z9hG4bK-b4", "call-zz", 2, "nope"), 5200ms);
    CHECK(r.sent(0).status == 481);
}

TEST_CASE("uas: other methods and extensions") {
    rig r;
    r.send(request("OPTIONS", "z9hG4bK-o", "opt", 1));
    auto ok = r.sent(0);
    CHECK(ok.status == 200);
    CHECK(ok.headers("Allow") == std::vector<std::string_view>{"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"});
    CHECK(ok.header("Accept") == "application/sdp");
    r.send(request("REGISTER", "z9hG4bK-reg", "reg", 1));
    CHECK(r.sent(0).status == 405);
    CHECK(r.sent(0).header("Allow"));
    r.send(request("FROBNICATE", "z9hG4bK-f", "frob", 1));
    CHECK(r.sent(0).status == 501);
    r.send(request("INVITE", "z9hG4bK-req", "req", 1, {}, sdp_offer(), "Require: 100rel, foo\r\n"));
    CHECK(r.sent(0).status == 420);
    CHECK(r.sent(0).header("Unsupported") == "100rel");
    CHECK(r.sent(0).headers("Unsupported").size() == 2);
    r.send(request("CANCEL", "z9hG4bK-none", "none", 1));
    CHECK(r.sent(0).status == 481);
    // CSeq method that disagrees with the request line.
    std::string bad = request("OPTIONS", "z9hG4bK-x", "x", 1);
    bad.replace(bad.find("1 OPTIONS"), 9, "1 INVITE ");
    r.send(bad);
    CHECK(r.sent(0).status == 400);
}

TEST_CASE("uas: codec choice and 488") {
    SUBCASE("PCMA only") {
        rig r;
        r.send(request("INVITE", "z9hG4bK-a", "a", 1, {}, sdp_offer("8", "")));
        r.tick(1s);
        session_description ans;
        REQUIRE(parse_sdp(r.sent(0).body, ans) == sdp_error::ok);
        CHECK(ans.media[0].formats == std::vector<std::string>{"8"});
    }
    SUBCASE("no common codec") {
        rig r;
        r.send(request("INVITE", "z9hG4bK-g", "g", 1, {}, sdp_offer("18", "a=rtpmap:18 G729/8000\r\n")));
        REQUIRE(r.out.sends.size() == 1);
        CHECK(r.sent(0).status == 488);
        REQUIRE(r.sent(0).header("Warning"));
        CHECK(r.sent(0).header("Warning")->substr(0, 3) == "305");
        CHECK(r.ports.used.empty());
        CHECK(r.e->stats().rejected == 1);
    }
}

TEST_CASE("uas: delayed offer: our offer in the 200, the answer in the ACK") {
    rig r;
    r.send(request("INVITE", "z9hG4bK-d", "d", 1));
    r.tick(1s);
    auto ok = r.sent(0);
    session_description offer;
    REQUIRE(parse_sdp(ok.body, offer) == sdp_error::ok);
    CHECK(offer.media[0].formats == std::vector<std::string>{"0", "8", "101"});
    auto tag = r.local_tag();
    r.send(request("ACK", "z9hG4bK-d2", "d", 1, tag, sdp_offer("8", "")), 1100ms);
    REQUIRE(r.out.media.size() == 1);
    CHECK(r.out.media[0].law == codec::pcma);
    CHECK(r.out.media[0].remote_port == 6000);
}

TEST_CASE("uas: re-INVITE hold and resume") {
    rig r;
    r.send(request("INVITE", "z9hG4bK-h", "h", 1, {}, sdp_offer()));
    r.tick(1s);
    session_description first;
    REQUIRE(parse_sdp(r.sent(0).body, first) == sdp_error::ok);
    auto tag = r.local_tag();
    r.send(request("ACK", "z9hG4bK-h2", "h", 1, tag), 1100ms);

    auto hold = sdp_offer("0", "a=sendonly\r\n");
    r.send(request("INVITE", "z9hG4bK-h3", "h", 2, tag, hold), 2s);
    auto ok = r.sent(0);
    CHECK(ok.status == 200);
    session_description held;
    REQUIRE(parse_sdp(ok.body, held) == sdp_error::ok);
    CHECK(held.direction_of(held.media[0]) == sdp_direction::recvonly);
    CHECK(std::stoull(held.origin.session_version) == std::stoull(first.origin.session_version) + 1);
    r.send(request("ACK", "z9hG4bK-h4", "h", 2, tag), 2100ms);
    REQUIRE(r.out.media.size() == 1);
    CHECK(r.out.media[0].what == media_command::op::update);
    CHECK_FALSE(r.out.media[0].send);

    r.send(request("INVITE", "z9hG4bK-h5", "h", 3, tag, sdp_offer("0", "")), 3s);
    session_description resumed;
    REQUIRE(parse_sdp(r.sent(0).body, resumed) == sdp_error::ok);
    CHECK(resumed.direction_of(resumed.media[0]) == sdp_direction::sendrecv);
    r.send(request("ACK", "z9hG4bK-h6", "h", 3, tag), 3100ms);
    REQUIRE(r.out.media.size() == 1);
    CHECK(r.out.media[0].send);
    CHECK(r.e->stats().answered == 1);
}

TEST_CASE("uas: the call limit is answered with 486, or 503 with Retry-After") {
    uas_config c;
    c.max_calls = 1;
    rig r(c);
    r.send(request("INVITE", "z9hG4bK-1", "one", 1, {}, sdp_offer()));
    r.send(request("INVITE", "z9hG4bK-2", "two", 1, {}, sdp_offer()));
    CHECK(r.sent(0).status == 486);
    c.busy_as_503 = true;
    rig r2(c);
    r2.send(request("INVITE", "z9hG4bK-1", "one", 1, {}, sdp_offer()));
    r2.send(request("INVITE", "z9hG4bK-2", "two", 1, {}, sdp_offer()));
    CHECK(r2.sent(0).status == 503);
    CHECK(r2.sent(0).header("Retry-After"));
}

TEST_CASE("uas: malformed input: 400 when it can be answered, dropped when not") {
    rig r;
    std::string huge = request("OPTIONS", "z9hG4bK-h", "huge", 1);
    huge.replace(huge.find("Content-Length: 0"), 17, "Content-Length: 99999999");
    r.send(huge);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 400);
    r.send("garbage\r\n\r\n");
    CHECK(r.out.sends.empty());
    r.send("INVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n");  // no Via: nowhere to answer
    CHECK(r.out.sends.empty());
    CHECK(r.e->stats().bad_messages == 3);
    CHECK(r.e->stats().active == 0);
}

TEST_CASE("uas: the received parameter is added for a NATed source") {
    rig r;
    peer_address nat{transport::udp, "127.0.0.9", 40000, 0};
    uas_output out;
    r.e->on_datagram(request("OPTIONS", "z9hG4bK-n", "nat", 1), nat, r.t0, out);
    REQUIRE(out.sends.size() == 1);
    CHECK(out.sends[0].to.ip == "127.0.0.9");
    CHECK(out.sends[0].to.port == 40000);
    sip_message m;
    REQUIRE(parse_message(out.sends[0].data, m) == parse_error::ok);
    auto via = parse_via(*m.header("Via"));
    CHECK(via->received == "127.0.0.9");
}

TEST_CASE("uas: every final response carries a To tag; Require is checked on every request") {
    rig r;
    r.send(request("OPTIONS", "z9hG4bK-t", "t", 1));
    CHECK(parse_name_addr(*r.sent(0).header("To"))->tag());
    r.send(request("REGISTER", "z9hG4bK-t2", "t2", 1));
    CHECK(parse_name_addr(*r.sent(0).header("To"))->tag());
    r.send(request("OPTIONS", "z9hG4bK-t3", "t3", 1, {}, {}, "Require: x-none\r\n"));
    CHECK(r.sent(0).status == 420);
    CHECK(r.sent(0).header("Unsupported") == "x-none");
}

TEST_CASE("uas: a BYE on the early dialog ends the INVITE with 487, and a late copy starts no call") {
    rig r;
    auto invite = request("INVITE", "z9hG4bK-e", "early", 1, {}, sdp_offer());
    r.send(invite);
    auto tag = r.local_tag();
    r.send(request("BYE", "z9hG4bK-e2", "early", 2, tag), 100ms);
    REQUIRE(r.out.sends.size() == 2);
    CHECK(r.sent(0).status == 200);
    CHECK(r.sent(1).status == 487);
    r.send(request("ACK", "z9hG4bK-e", "early", 1, tag), 200ms);
    r.send(invite, 300ms);
    REQUIRE(r.out.sends.size() == 1);
    CHECK(r.sent(0).status == 487);
    r.tick(2s);
    CHECK(r.out.sends.empty());
    CHECK(r.e->stats().total == 1);
    CHECK(r.e->stats().answered == 0);
}
