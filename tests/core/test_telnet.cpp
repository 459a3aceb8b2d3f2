#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include "core/telnet.hpp"

using sb::core::telnet_session;
namespace tb = sb::core::telnet_byte;
using q = telnet_session::q;

namespace {

constexpr unsigned char iac = tb::iac, will = tb::will, wont = tb::wont, do_ = tb::do_, dont = tb::dont, sb_ = tb::sb,
                        se = tb::se, binary = tb::opt_binary, echo = tb::opt_echo, sga = tb::opt_sga;
constexpr unsigned char nop = 241, ga = 249, ayt = 246, ttype = 24, naws = 31, linemode = 34;

std::string bytes(std::initializer_list<unsigned char> b) { return std::string(b.begin(), b.end()); }

struct decoded {
    std::string data;
    std::string reply;
    bool operator==(const decoded&) const = default;
};

decoded decode(telnet_session& s, std::string_view in) {
    decoded out;
    s.decode(in, out.data, out.reply);
    return out;
}

decoded decode_copy(telnet_session s, std::string_view in) { return decode(s, in); }

// House rule for parsers: the same bytes cut anywhere decode the same. Cuts
// at one and two positions, and one byte at a time, from the given state.
void check_every_split(const telnet_session& start, std::string_view in, const decoded& expected) {
    CAPTURE(in.size());
    REQUIRE(decode_copy(start, in) == expected);
    for (std::size_t i = 0; i <= in.size(); ++i) {
        telnet_session s = start;
        decoded got;
        s.decode(in.substr(0, i), got.data, got.reply);
        s.decode(in.substr(i), got.data, got.reply);
        CAPTURE(i);
        CHECK(got == expected);
    }
    if (in.size() <= 96) {
        for (std::size_t i = 0; i <= in.size(); ++i)
            for (std::size_t j = i; j <= in.size(); ++j) {
                telnet_session s = start;
                decoded got;
                s.decode(in.substr(0, i), got.data, got.reply);
                s.decode(in.substr(i, j - i), got.data, got.reply);
                s.decode(in.substr(j), got.data, got.reply);
                if (!(got == expected)) {
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(got == expected);
                }
            }
    }
    telnet_session s = start;
    decoded got;
    for (char c : in) s.decode(std::string_view(&c, 1), got.data, got.reply);
    CHECK(got == expected);
}

void check_every_split(std::string_view in, const decoded& expected) { check_every_split(telnet_session{}, in, expected); }

telnet_session started() {
    telnet_session s;
    s.start();
    return s;
}

}  // namespace

TEST_CASE("start asks for binary, SGA and the remote's echo") {
    telnet_session s;
    CHECK(s.start() == bytes({iac, will, binary, iac, do_, binary, iac, will, sga, iac, do_, sga, iac, do_, echo}));
    CHECK(s.us(binary) == q::want_yes);
    CHECK(s.him(binary) == q::want_yes);
    CHECK(s.us(sga) == q::want_yes);
    CHECK(s.him(sga) == q::want_yes);
    CHECK(s.him(echo) == q::want_yes);
    CHECK(s.us(echo) == q::no);
    // Asking again while the answers are pending sends nothing.
    CHECK(s.start().empty());
}

TEST_CASE("answers to our requests are not answered again") {
    auto s = started();
    const auto in = bytes({iac, do_, binary, iac, will, binary, iac, do_, sga, iac, will, sga, iac, will, echo});
    check_every_split(s, in, {});
    CHECK(decode(s, in) == decoded{});
    CHECK(s.us(binary) == q::yes);
    CHECK(s.him(binary) == q::yes);
    CHECK(s.us(sga) == q::yes);
    CHECK(s.him(sga) == q::yes);
    CHECK(s.him(echo) == q::yes);
    // A peer repeating itself once the option is on gets silence.
    CHECK(decode(s, in) == decoded{});
    // Start after everything is agreed asks for nothing.
    CHECK(s.start().empty());
}

TEST_CASE("refusals of our requests end the negotiation") {
    auto s = started();
    const auto in = bytes({iac, dont, binary, iac, wont, binary, iac, dont, sga, iac, wont, sga, iac, wont, echo});
    check_every_split(s, in, {});
    CHECK(decode(s, in) == decoded{});
    CHECK(s.us(binary) == q::no);
    CHECK(s.him(binary) == q::no);
    CHECK(s.us(sga) == q::no);
    CHECK(s.him(sga) == q::no);
    CHECK(s.him(echo) == q::no);
    CHECK(decode(s, in) == decoded{});
}

TEST_CASE("unsolicited requests for the options we like are accepted") {
    telnet_session s;
    const auto in = bytes({iac, will, binary, iac, do_, binary, iac, will, sga, iac, do_, sga, iac, will, echo});
    const decoded expected{
        "", bytes({iac, do_, binary, iac, will, binary, iac, do_, sga, iac, will, sga, iac, do_, echo})};
    check_every_split(in, expected);
    CHECK(decode(s, in) == expected);
    CHECK(s.us(binary) == q::yes);
    CHECK(s.him(binary) == q::yes);
    CHECK(s.us(sga) == q::yes);
    CHECK(s.him(sga) == q::yes);
    CHECK(s.him(echo) == q::yes);
    // Repeated WILL/DO when already yes: no reply, so no loop.
    CHECK(decode(s, in) == decoded{});
    // start() now has nothing left to ask.
    CHECK(s.start().empty());
}

TEST_CASE("we do not echo: DO ECHO gets WONT once") {
    telnet_session s;
    CHECK(decode(s, bytes({iac, do_, echo})) == decoded{"", bytes({iac, wont, echo})});
    CHECK(s.us(echo) == q::no);
    // The peer accepting our refusal is not answered.
    CHECK(decode(s, bytes({iac, dont, echo})) == decoded{});
    CHECK(s.us(echo) == q::no);
    check_every_split(bytes({iac, do_, echo, iac, dont, echo}), {"", bytes({iac, wont, echo})});
}

TEST_CASE("unknown options are refused once and the refusal is not answered") {
    for (unsigned char opt : {ttype, naws, linemode, static_cast<unsigned char>(5), static_cast<unsigned char>(255),
                              static_cast<unsigned char>(200)}) {
        CAPTURE(int(opt));
        telnet_session s;
        CHECK(decode(s, bytes({iac, will, opt})) == decoded{"", bytes({iac, dont, opt})});
        CHECK(decode(s, bytes({iac, wont, opt})) == decoded{});
        CHECK(decode(s, bytes({iac, do_, opt})) == decoded{"", bytes({iac, wont, opt})});
        CHECK(decode(s, bytes({iac, dont, opt})) == decoded{});
        CHECK(s.us(opt) == q::no);
        CHECK(s.him(opt) == q::no);
        check_every_split(bytes({iac, will, opt, 'a', iac, wont, opt, iac, do_, opt, 'b', iac, dont, opt}),
                          {"ab", bytes({iac, dont, opt, iac, wont, opt})});
    }
    // Two Q-method ends refusing each other settle at once: feed each
    // side's output to the other until both are quiet. Round one carries
    // the requests, round two the refusals, and nobody answers those.
    telnet_session a, b;
    std::string to_b = bytes({iac, will, ttype, iac, do_, naws});
    std::string to_a;
    int rounds = 0;
    while ((!to_a.empty() || !to_b.empty()) && rounds < 10) {
        std::string data, next_to_a, next_to_b;
        b.decode(to_b, data, next_to_a);
        a.decode(to_a, data, next_to_b);
        CHECK(data.empty());
        to_a = next_to_a;
        to_b = next_to_b;
        ++rounds;
    }
    CHECK(rounds == 2);
}

TEST_CASE("two sessions starting at once agree without looping") {
    telnet_session a, b;
    std::string to_b = a.start();
    std::string to_a = b.start();
    int rounds = 0;
    while ((!to_a.empty() || !to_b.empty()) && rounds < 10) {
        std::string data, next_to_a, next_to_b;
        b.decode(to_b, data, next_to_a);
        a.decode(to_a, data, next_to_b);
        CHECK(data.empty());
        to_a = next_to_a;
        to_b = next_to_b;
        ++rounds;
    }
    // Requests cross, then the two WONT ECHO cross, then silence.
    CHECK(rounds == 2);
    for (auto* s : {&a, &b}) {
        CHECK(s->us(binary) == q::yes);
        CHECK(s->him(binary) == q::yes);
        CHECK(s->us(sga) == q::yes);
        CHECK(s->him(sga) == q::yes);
        // Both ask for the other's echo and both refuse to echo.
        CHECK(s->him(echo) == q::no);
        CHECK(s->us(echo) == q::no);
    }
}

TEST_CASE("the peer turning an option off is acknowledged once") {
    auto s = started();
    decode(s, bytes({iac, do_, binary, iac, will, binary}));
    REQUIRE(s.us(binary) == q::yes);
    REQUIRE(s.him(binary) == q::yes);
    check_every_split(s, bytes({iac, wont, binary, iac, dont, binary, iac, wont, binary, iac, dont, binary}),
                      {"", bytes({iac, dont, binary, iac, wont, binary})});
    CHECK(decode(s, bytes({iac, wont, binary, iac, dont, binary})) ==
          decoded{"", bytes({iac, dont, binary, iac, wont, binary})});
    CHECK(s.us(binary) == q::no);
    CHECK(s.him(binary) == q::no);
    // And back on again: accepted, as a fresh request.
    CHECK(decode(s, bytes({iac, will, binary})) == decoded{"", bytes({iac, do_, binary})});
}

TEST_CASE("IAC IAC is a data byte 0xFF") {
    check_every_split(bytes({'a', iac, iac, 'b'}), {bytes({'a', 0xFF, 'b'}), ""});
    check_every_split(bytes({iac, iac, iac, iac}), {bytes({0xFF, 0xFF}), ""});
    check_every_split(bytes({iac, iac, iac, will, binary, iac, iac}),
                      {bytes({0xFF, 0xFF}), bytes({iac, do_, binary})});
}

TEST_CASE("two-byte commands are dropped") {
    check_every_split(bytes({'a', iac, nop, 'b', iac, ga, 'c', iac, ayt, iac, se, iac, 244, iac, 0, 'd'}),
                      {"abcd", ""});
    check_every_split(bytes({iac, 'x', 'y'}), {"y", ""});
}

TEST_CASE("subnegotiations are skipped") {
    check_every_split(bytes({'a', iac, sb_, ttype, 1, iac, se, 'b'}), {"ab", ""});
    // IAC IAC and stray commands inside do not end it; only IAC SE does.
    check_every_split(bytes({'a', iac, sb_, naws, 0, 80, iac, iac, 0, 24, iac, will, binary, se, 'x', iac, se, 'b'}),
                      {"ab", ""});
    // An empty one.
    check_every_split(bytes({iac, sb_, iac, se, 'z'}), {"z", ""});
    // Negotiation right after still works.
    check_every_split(bytes({iac, sb_, ttype, 1, iac, se, iac, do_, echo, 'q'}), {"q", bytes({iac, wont, echo})});
}

TEST_CASE("oversized subnegotiations are skipped to IAC SE without limit") {
    std::string in = bytes({'<', iac, sb_, ttype});
    in += std::string(telnet_session::max_subnegotiation * 10, 'x');
    in += bytes({iac, iac, iac, nop});
    in += std::string(telnet_session::max_subnegotiation, 'y');
    in += bytes({iac, se, '>', iac, will, sga});
    const decoded expected{"<>", bytes({iac, do_, sga})};
    telnet_session s;
    CHECK(decode(s, in) == expected);
    // Every split of something this long is slow with two cuts; the
    // one-cut and byte-at-a-time walks still run.
    check_every_split(in, expected);
    // Just at and just past the bound.
    for (std::size_t n : {telnet_session::max_subnegotiation - 1, telnet_session::max_subnegotiation,
                          telnet_session::max_subnegotiation + 1}) {
        std::string at = bytes({iac, sb_});
        at += std::string(n, 'x');
        at += bytes({iac, se, 'k'});
        telnet_session t;
        CHECK(decode(t, at) == decoded{"k", ""});
    }
}

TEST_CASE("data without commands passes through, split anywhere") {
    check_every_split("", {});
    check_every_split("hello, world\r\n", {"hello, world\r\n", ""});
    std::string all;
    for (int i = 0; i < 255; ++i) all += static_cast<char>(i);
    check_every_split(all, {all, ""});
}

TEST_CASE("a truncated command waits for its last byte") {
    telnet_session s;
    CHECK(decode(s, bytes({'a', iac})) == decoded{"a", ""});
    CHECK(decode(s, bytes({will})) == decoded{});
    CHECK(decode(s, bytes({sga, 'b'})) == decoded{"b", bytes({iac, do_, sga})});
    CHECK(decode(s, bytes({iac, sb_, ttype, 0, 'v', 't'})) == decoded{});
    CHECK(decode(s, bytes({iac})) == decoded{});
    CHECK(decode(s, bytes({se, 'c'})) == decoded{"c", ""});
}

TEST_CASE("a mixed session split everywhere") {
    auto s = started();
    const auto in =
        bytes({'L', 'o', 'g', 'i', 'n', iac, do_, binary, iac, will, echo, iac, do_, echo, ':', iac, iac, iac, sb_, ttype,
               1, iac, se, iac, will, naws, ' ', iac, nop, iac, dont, sga, '\r', '\n'});
    const decoded expected{bytes({'L', 'o', 'g', 'i', 'n', ':', 0xFF, ' ', '\r', '\n'}),
                           bytes({iac, wont, echo, iac, dont, naws})};
    check_every_split(s, in, expected);
    // DONT SGA while we were still asking: plain refusal, nothing sent.
    decode(s, in);
    CHECK(s.us(sga) == q::no);
    CHECK(s.us(binary) == q::yes);
    CHECK(s.him(echo) == q::yes);
}

TEST_CASE("encode doubles every 0xFF") {
    std::string out = "pre";
    telnet_session::encode(bytes({'a', 0xFF, 'b', 0xFF, 0xFF}), out);
    CHECK(out == "pre" + bytes({'a', 0xFF, 0xFF, 'b', 0xFF, 0xFF, 0xFF, 0xFF}));
    out.clear();
    telnet_session::encode("", out);
    CHECK(out.empty());
    // What encode writes, decode reads back unchanged.
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    all += all;
    std::string wire;
    telnet_session::encode(all, wire);
    CHECK(wire.size() == all.size() + 2);
    check_every_split(wire, {all, ""});
}

TEST_CASE("looks_like_telnet") {
    CHECK_FALSE(telnet_session::looks_like_telnet(""));
    CHECK(telnet_session::looks_like_telnet(bytes({iac})));
    CHECK_FALSE(telnet_session::looks_like_telnet("A"));
    CHECK(telnet_session::looks_like_telnet(bytes({iac, do_, binary})));
    CHECK(telnet_session::looks_like_telnet(bytes({iac, will, echo})));
    CHECK(telnet_session::looks_like_telnet(bytes({iac, se})));
    CHECK(telnet_session::looks_like_telnet(bytes({iac, dont})));
    CHECK_FALSE(telnet_session::looks_like_telnet(bytes({iac, iac})));
    CHECK_FALSE(telnet_session::looks_like_telnet(bytes({iac, 239})));
    CHECK_FALSE(telnet_session::looks_like_telnet(bytes({iac, 'A'})));
    CHECK_FALSE(telnet_session::looks_like_telnet("CONNECT"));
}

TEST_CASE("an echoing server offers its echo and refuses the remote's") {
    telnet_session s(sb::core::telnet_policy::echoing_server());
    CHECK(s.start() == bytes({iac, will, binary, iac, do_, binary, iac, will, echo, iac, will, sga, iac, do_, sga}));
    CHECK(s.us(echo) == q::want_yes);
    CHECK(s.him(echo) == q::no);
    // A client agreeing to everything, and offering its own echo on top.
    const auto in = bytes({iac, do_, binary, iac, will, binary, iac, do_, echo, iac, do_, sga, iac, will, sga, iac,
                           will, echo});
    check_every_split(s, in, {"", bytes({iac, dont, echo})});
    CHECK(decode(s, in) == decoded{"", bytes({iac, dont, echo})});
    CHECK(s.us(echo) == q::yes);
    CHECK(s.him(echo) == q::no);
    CHECK(s.him(sga) == q::yes);
    // A client that later asks us to stop echoing is obeyed, once.
    CHECK(decode(s, bytes({iac, dont, echo, iac, dont, echo})) == decoded{"", bytes({iac, wont, echo})});
    CHECK(s.us(echo) == q::no);
}
