// The modem line framer: lines, the "> " prompt and overlong lines, with
// every input cut at every position. No port.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sms/at_line.hpp"

using namespace sb::sms;
using kind = at_token::kind;

namespace {

std::vector<at_token> whole(std::string_view in, std::size_t max = at_line_framer::default_max_line) {
    at_line_framer f(max);
    std::vector<at_token> out;
    f.feed(in, out);
    return out;
}

at_token line(std::string s) { return {kind::line, std::move(s)}; }
const at_token prompt{kind::prompt, {}};
const at_token overlong{kind::overlong, {}};

// Cut in two at every position, three at every pair of positions, and one
// byte at a time: the tokens may not change.
void check_splits(std::string_view in, std::size_t max = at_line_framer::default_max_line) {
    auto const expected = whole(in, max);
    for (std::size_t i = 0; i <= in.size(); ++i) {
        for (std::size_t j = i; j <= in.size(); ++j) {
            at_line_framer f(max);
            std::vector<at_token> out;
            f.feed(in.substr(0, i), out);
            f.feed(in.substr(i, j - i), out);
            f.feed(in.substr(j), out);
            CAPTURE(i);
            CAPTURE(j);
            REQUIRE(out == expected);
        }
    }
    at_line_framer f(max);
    std::vector<at_token> out;
    for (char c : in) f.feed(std::string_view(&c, 1), out);
    CHECK(out == expected);
}

}  // namespace

TEST_CASE("at_line: CR LF, lone CR and lone LF end lines; empty lines are skipped") {
    CHECK(whole("\r\nOK\r\n") == std::vector{line("OK")});
    CHECK(whole("AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n") ==
          std::vector{line("AT+CSQ"), line("+CSQ: 20,99"), line("OK")});
    CHECK(whole("one\rtwo\nthree\n\r\r\n\nfour\r") == std::vector{line("one"), line("two"), line("three"), line("four")});
    CHECK(whole("").empty());
    CHECK(whole("\r\n\r\n\n\r").empty());
}

TEST_CASE("at_line: a line is only reported once ended") {
    at_line_framer f;
    std::vector<at_token> out;
    f.feed("\r\n+CMTI: \"SM\",", out);
    CHECK(out.empty());
    CHECK(f.pending() == 12);
    f.feed("3\r", out);
    CHECK(out == std::vector{line("+CMTI: \"SM\",3")});
    CHECK(f.pending() == 0);
}

TEST_CASE("at_line: the prompt is reported when its space arrives, even split across reads") {
    at_line_framer f;
    std::vector<at_token> out;
    f.feed("\r\n>", out);
    CHECK(out.empty());
    f.feed(" ", out);
    CHECK(out == std::vector{prompt});
    // The echoed PDU after the prompt is a line of its own.
    out.clear();
    f.feed("0011FF\x1a\r\n\r\n+CMGS: 42\r\n", out);
    CHECK(out == std::vector{line("0011FF\x1a"), line("+CMGS: 42")});
}

TEST_CASE("at_line: '> ' is a prompt only at the start of a line") {
    CHECK(whole("a> b\r\n") == std::vector{line("a> b")});
    CHECK(whole(">x\r\n") == std::vector{line(">x")});
    CHECK(whole(">\r\n") == std::vector{line(">")});
    CHECK(whole("> \r\n") == std::vector{prompt});  // a firmware ending it with CR LF: no empty line
    CHECK(whole("> > ") == std::vector{prompt, prompt});
    CHECK(whole(">  x\r\n") == std::vector{prompt, line(" x")});
    CHECK(whole("AT+CMGS=23\r\r\n> ") == std::vector{line("AT+CMGS=23"), prompt});
}

TEST_CASE("at_line: an overlong line is reported once and skipped up to its end") {
    CHECK(whole("12345678\r\n", 8) == std::vector{line("12345678")});
    CHECK(whole("123456789\r\nOK\r\n", 8) == std::vector{overlong, line("OK")});
    CHECK(whole(std::string(100, 'x') + "\nOK\n", 8) == std::vector{overlong, line("OK")});
    // A "> " beyond the limit is part of the skipped line, not a prompt.
    CHECK(whole("123456789> x\r> ", 8) == std::vector{overlong, prompt});
    // Unended: reported as soon as the limit is passed, nothing held.
    at_line_framer f(8);
    std::vector<at_token> out;
    f.feed(std::string(20, 'y'), out);
    CHECK(out == std::vector{overlong});
    CHECK(f.pending() == 0);
    // A +CMGL PDU line of 360 characters fits the default.
    auto pdu = std::string(360, 'A');
    CHECK(whole(pdu + "\r\n") == std::vector{line(pdu)});
    CHECK(whole(std::string(4097, 'A') + "\r\n") == std::vector{overlong});
}

TEST_CASE("at_line: garbage bytes are kept in lines; max_line 0 is taken as 1") {
    std::string g("\x00\xff\x1b\x7f", 4);
    CHECK(whole(g + "\r\n") == std::vector{line(g)});
    CHECK(whole("ab\r\nc\r\n", 0) == std::vector{overlong, line("c")});
}

TEST_CASE("at_line: reset forgets a partial line and an overlong one") {
    at_line_framer f(4);
    std::vector<at_token> out;
    f.feed("+CMG", out);
    f.reset();
    f.feed("OK\r\n", out);
    CHECK(out == std::vector{line("OK")});
    out.clear();
    f.feed("123456", out);
    f.reset();
    f.feed("OK\r\n", out);
    CHECK(out == std::vector{overlong, line("OK")});
}

TEST_CASE("at_line: tokens do not depend on where the input is cut") {
    check_splits("\r\nOK\r\n");
    check_splits("AT+CMGS=23\r\r\n> 0011000B915121551532F40000AA0AE8329BFD4697D9EC37\x1a\r\n\r\n+CMGS: 42\r\n\r\nOK\r\n");
    check_splits("one\rtwo\nthree\n\r\r\n\nfour\r> > a> b\n");
    check_splits("\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r\n");
    check_splits("123456789\r\nOK\r\n1234\n12345678> \r\n\n> x", 8);
    check_splits(std::string("\x00\r\x00\n>\x00 > \r", 9), 2);
}
