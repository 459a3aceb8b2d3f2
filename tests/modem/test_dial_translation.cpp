#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "modem/dial_translation.hpp"

using sb::modem::dial_target;
using sb::modem::dial_translator;
using sb::modem::parse_phone_book;
using sb::modem::parse_target;
using sb::modem::parse_translate_rule;
using sb::modem::translate_rule;

namespace {

dial_target target(std::string host, std::uint16_t port, bool telnet = false) { return {std::move(host), port, telnet}; }

dial_translator plain(std::uint16_t default_port = 23) { return dial_translator({}, {}, default_port); }

std::vector<translate_rule> rules(std::initializer_list<const char*> texts) {
    std::vector<translate_rule> out;
    for (const char* t : texts) out.push_back(parse_translate_rule(t));
    return out;
}

std::string error_of(const std::string& rule) {
    try {
        parse_translate_rule(rule);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

std::string book_error_of(std::string_view text) {
    try {
        parse_phone_book(text, "book.txt");
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("star form gives an IPv4 address with or without a port") {
    const auto t = plain(2323);
    CHECK(t.translate("*192*168*1*100*2020") == target("192.168.1.100", 2020));
    CHECK(t.translate("*192*168*1*100") == target("192.168.1.100", 2323));
    CHECK(t.translate("*0*0*0*0*1") == target("0.0.0.0", 1));
    CHECK(t.translate("*255*255*255*255*65535") == target("255.255.255.255", 65535));
    // Leading zeros are decimal, not inet_aton's octal.
    CHECK(t.translate("*010*000*001*009") == target("10.0.1.9", 2323));
    CHECK(t.translate("telnet://*10*0*0*1*23") == target("10.0.0.1", 23, true));
}

TEST_CASE("star form rejects bad octets, ports and shapes") {
    const auto t = plain();
    CHECK_FALSE(t.translate("*256*0*0*1"));
    CHECK_FALSE(t.translate("*1*2*3*1000"));
    CHECK_FALSE(t.translate("*1*2*3*4*0"));
    CHECK_FALSE(t.translate("*1*2*3*4*65536"));
    CHECK_FALSE(t.translate("*1*2*3*4*99999999999"));
    CHECK_FALSE(t.translate("*1*2*3"));
    CHECK_FALSE(t.translate("*1*2*3*4*5*6"));
    CHECK_FALSE(t.translate("*1**3*4"));
    CHECK_FALSE(t.translate("*1*2*3*4*"));
    CHECK_FALSE(t.translate("*a*2*3*4"));
    CHECK_FALSE(t.translate("*"));
    CHECK_FALSE(t.translate("**"));
    CHECK_FALSE(t.translate("*-1*2*3*4"));
}

TEST_CASE("host, host:port and dotted quads") {
    const auto t = plain(23);
    CHECK(t.translate("bbs.example.org") == target("bbs.example.org", 23));
    CHECK(t.translate("bbs.example.org:6400") == target("bbs.example.org", 6400));
    CHECK(t.translate("localhost") == target("localhost", 23));
    CHECK(t.translate("my_host-1.example.org.") == target("my_host-1.example.org.", 23));
    CHECK(t.translate("127.0.0.1") == target("127.0.0.1", 23));
    CHECK(t.translate("127.0.0.1:2020") == target("127.0.0.1", 2020));
    CHECK(t.translate("192.168.001.010") == target("192.168.1.10", 23));
    CHECK(t.translate("BBS.Example.ORG:23") == target("BBS.Example.ORG", 23));
}

TEST_CASE("bad hosts and ports") {
    const auto t = plain(23);
    CHECK_FALSE(t.translate("256.0.0.1"));
    CHECK_FALSE(t.translate("1.2.3"));
    CHECK_FALSE(t.translate("1.2.3.4.5"));
    CHECK_FALSE(t.translate("1..3.4"));
    CHECK_FALSE(t.translate("1.2.3.4:0"));
    CHECK_FALSE(t.translate("1.2.3.4:65536"));
    CHECK_FALSE(t.translate("1.2.3.4:"));
    CHECK_FALSE(t.translate("1.2.3.4:x"));
    CHECK_FALSE(t.translate("host:-1"));
    CHECK_FALSE(t.translate("host:+23"));
    CHECK_FALSE(t.translate(":23"));
    CHECK_FALSE(t.translate("bad!host"));
    CHECK_FALSE(t.translate("bad/host"));
    CHECK_FALSE(t.translate(".example.org"));
    CHECK_FALSE(t.translate("a..example.org"));
    CHECK_FALSE(t.translate("-bbs.example.org"));
    CHECK_FALSE(t.translate("bbs-.example.org"));
    CHECK_FALSE(t.translate(std::string(64, 'a') + ".org"));
    CHECK(t.translate(std::string(63, 'a') + ".org"));
    // 253 characters is the longest name DNS carries.
    std::string name;
    while (name.size() < 250) name += "abcdefghi.";
    CHECK(name.size() == 250);
    CHECK(parse_target(name + "abc", 23));
    CHECK_FALSE(parse_target(name + "abcd", 23));
}

TEST_CASE("a number nobody mapped is not a host") {
    const auto t = plain();
    CHECK_FALSE(t.translate("5551234"));
    CHECK_FALSE(t.translate("0"));
    CHECK_FALSE(t.translate("5551234:23"));
    CHECK_FALSE(t.translate("555-1234"));
    CHECK_FALSE(t.translate("555.1234"));
    CHECK_FALSE(t.translate("1-800-555-1234"));
    CHECK_FALSE(t.translate("___"));
}

TEST_CASE("IPv6 with and without brackets") {
    const auto t = plain(23);
    CHECK(t.translate("[::1]:2020") == target("::1", 2020));
    CHECK(t.translate("[::1]") == target("::1", 23));
    CHECK(t.translate("::1") == target("::1", 23));
    CHECK(t.translate("::") == target("::", 23));
    CHECK(t.translate("fe80::1%eth0") == target("fe80::1%eth0", 23));
    CHECK(t.translate("2001:db8::8:800:200c:417a") == target("2001:db8::8:800:200c:417a", 23));
    CHECK(t.translate("2001:DB8:0:0:8:800:200C:417A") == target("2001:DB8:0:0:8:800:200C:417A", 23));
    CHECK(t.translate("[::ffff:192.0.2.1]:80") == target("::ffff:192.0.2.1", 80));
    CHECK(t.translate("1::") == target("1::", 23));
    CHECK(t.translate("telnet://[::1]:2323") == target("::1", 2323, true));
    // A bare address's last group is never a port.
    CHECK(t.translate("::1:2020") == target("::1:2020", 23));

    CHECK_FALSE(t.translate("[::1]:0"));
    CHECK_FALSE(t.translate("[::1]:70000"));
    CHECK_FALSE(t.translate("[::1]2020"));
    CHECK_FALSE(t.translate("[::1"));
    CHECK_FALSE(t.translate("[]:23"));
    CHECK_FALSE(t.translate("[host]:23"));
    CHECK_FALSE(t.translate("[1.2.3.4]:23"));
    CHECK_FALSE(t.translate(":::"));
    CHECK_FALSE(t.translate("1:::2"));
    CHECK_FALSE(t.translate("1::2::3"));
    CHECK_FALSE(t.translate(":1:2"));
    CHECK_FALSE(t.translate("1:2:"));
    CHECK_FALSE(t.translate("12345::1"));
    CHECK_FALSE(t.translate("g::1"));
    CHECK_FALSE(t.translate("1:2:3:4:5:6:7"));
    CHECK(t.translate("1:2:3:4:5:6:7:8"));
    CHECK_FALSE(t.translate("1:2:3:4:5:6:7:8:9"));
    CHECK_FALSE(t.translate("1:2:3:4::5:6:7:8"));
    CHECK_FALSE(t.translate("::ffff:1.2.3"));
    CHECK_FALSE(t.translate("::ffff:1.2.3.4:5"));
    CHECK_FALSE(t.translate("fe80::1%"));
    CHECK_FALSE(t.translate("fe80::1%et/h0"));
}

TEST_CASE("spaces are ignored, empty and oversized numbers are not") {
    const auto t = plain(23);
    CHECK(t.translate(" bbs.example.org : 23 ") == target("bbs.example.org", 23));
    CHECK(t.translate("* 192 * 168 * 1 * 100") == target("192.168.1.100", 23));
    CHECK_FALSE(t.translate(""));
    CHECK_FALSE(t.translate("   "));
    const std::string long_name = std::string(121, 'a') + "." + std::string(120, 'b') + ".example.org";
    CHECK(long_name.size() > 253);
    CHECK_FALSE(t.translate(long_name));
    CHECK_FALSE(t.translate(std::string(256, 'a')));
    CHECK_FALSE(t.translate(std::string(100000, 'a')));
    // Spaces do not count towards the limit.
    const auto rule_book = dial_translator(rules({"a+->host.example.org"}), {}, 23);
    CHECK(rule_book.translate(std::string(255, 'a')) == target("host.example.org", 23));
    CHECK(rule_book.translate(std::string(255, 'a') + "    ") == target("host.example.org", 23));
    CHECK_FALSE(rule_book.translate(std::string(256, 'a')));
}

TEST_CASE("telnet:// prefix turns telnet on") {
    const auto t = plain(23);
    CHECK(t.translate("telnet://bbs.example.org") == target("bbs.example.org", 23, true));
    CHECK(t.translate("TELNET://bbs.example.org:2323") == target("bbs.example.org", 2323, true));
    CHECK(t.translate("telnet://127.0.0.1") == target("127.0.0.1", 23, true));
    CHECK_FALSE(t.translate("telnet://"));
    CHECK_FALSE(t.translate("telnet://5551234"));
    CHECK_FALSE(t.translate("http://bbs.example.org"));
}

TEST_CASE("default port 0 means a port must be given") {
    const auto t = plain(0);
    CHECK_FALSE(t.translate("bbs.example.org"));
    CHECK_FALSE(t.translate("*1*2*3*4"));
    CHECK(t.translate("bbs.example.org:23") == target("bbs.example.org", 23));
    CHECK(t.translate("*1*2*3*4*5") == target("1.2.3.4", 5));
}

TEST_CASE("rules: whole-number match, $n substitution, case-blind") {
    const dial_translator t(rules({R"(555(\d+)->bbs$1.example.org:23)", R"(^0(\d)$->telnet://127.0.0.1:202$1)",
                                   R"(bbs->[::1]:2$&)", R"(b(b)s(\d)->[::1]:$2$2)", R"((\d)(\d)->$2$1.example.org)"}),
                            {}, 2323);
    CHECK(t.translate("55512") == target("bbs12.example.org", 23));
    CHECK(t.translate("555 12") == target("bbs12.example.org", 23));
    CHECK(t.translate("03") == target("127.0.0.1", 2023, true));
    // The port comes out as "2BBS": a rule that matched but made no
    // target fails the call.
    CHECK_FALSE(t.translate("BBS"));
    CHECK(t.translate("BBS7") == target("::1", 77));
    // regex_match needs the whole number: "x55512" is no match for rule 1
    // and is a plain host name.
    CHECK(t.translate("x55512") == target("x55512", 2323));
    CHECK(t.translate("12") == target("21.example.org", 2323));
    // "012" matches no rule and is digits only.
    CHECK_FALSE(t.translate("012"));
}

TEST_CASE("a matching rule with a bad output fails the call") {
    const dial_translator t(rules({R"((\d+)->$1)", R"(x(.*)->$1.example.org:99999)"}), {}, 23);
    CHECK_FALSE(t.translate("5551234"));
    CHECK_FALSE(t.translate("xabc"));
    const dial_translator ok(rules({R"(9(\d+)->10.0.0.$1)"}), {}, 23);
    CHECK(ok.translate("97") == target("10.0.0.7", 23));
    CHECK_FALSE(ok.translate("9256"));
}

TEST_CASE("precedence: rules, then the phone book, then built-ins") {
    const auto book = parse_phone_book(
        "5551234 book.example.org:23\n"
        "5559999 other.example.org\n"
        "localhost far.example.org:99\n",
        "book.txt");
    const dial_translator t(rules({"5551234->rule.example.org:23"}), book, 2323);
    CHECK(t.translate("5551234") == target("rule.example.org", 23));
    CHECK(t.translate("5559999") == target("other.example.org", 2323));
    CHECK(t.translate("555-9999") == target("other.example.org", 2323));
    CHECK(t.translate("(555) 999.9") == target("other.example.org", 2323));
    CHECK(t.translate("localhost") == target("far.example.org", 99));
    CHECK(t.translate("LocalHost") == target("far.example.org", 99));
    CHECK(t.translate("localhost:23") == target("localhost", 23));
    CHECK_FALSE(t.translate("5550000"));
}

TEST_CASE("phone book format") {
    const auto book = parse_phone_book(
        "# my BBS list\n"
        "\n"
        "   \t\n"
        "(555)123-4567 bbs.example.org:2323 telnet\r\n"
        "555.000.1111\t[::1]:23   # local\n"
        "  *70#  telnet://127.0.0.1:6400\n"
        "9 host.example.org TELNET",
        "book.txt");
    REQUIRE(book.size() == 4);
    CHECK(book[0].number == "5551234567");
    CHECK(book[0].target == target("bbs.example.org", 2323, true));
    CHECK(book[1].number == "5550001111");
    CHECK(book[1].target == target("::1", 23));
    CHECK(book[2].number == "*70#");
    CHECK(book[2].target == target("127.0.0.1", 6400, true));
    CHECK(book[3].number == "9");
    // No port: the translator's default is filled in when dialling.
    CHECK(book[3].target == target("host.example.org", 0, true));
    CHECK(parse_phone_book("", "x").empty());
    CHECK(parse_phone_book("\n\n# only a comment", "x").empty());
}

TEST_CASE("phone book errors name file and line") {
    CHECK(book_error_of("5551234\n") == "book.txt:1: '5551234' has no target (expected NUMBER TARGET [telnet])");
    CHECK(book_error_of("# c\n1 a.example.org\n2 bad!host\n") ==
          "book.txt:3: bad target 'bad!host' (expected HOST, HOST:PORT or [IPv6]:PORT)");
    CHECK(book_error_of("1 a.example.org binary\n") ==
          "book.txt:1: unknown flag 'binary' (only 'telnet' may follow the target)");
    CHECK(book_error_of("\n\n1 a.example.org telnet extra\n") ==
          "book.txt:3: unexpected 'extra' (expected NUMBER TARGET [telnet])");
    // Numbers are one word: spaces inside one would make "555 1234 host" ambiguous.
    CHECK(book_error_of("(555) 123-4567 bbs.example.org\n") ==
          "book.txt:1: bad target '123-4567' (expected HOST, HOST:PORT or [IPv6]:PORT)");
    CHECK(book_error_of("1 a.example.org\n555-1 b.example.org\n(1) c.example.org\n") ==
          "book.txt:3: number '(1)' is already listed on line 1");
    CHECK(book_error_of("--- a.example.org\n") == "book.txt:1: number '---' has no digits");
    CHECK(book_error_of("1 5551234\n") == "book.txt:1: bad target '5551234' (expected HOST, HOST:PORT or [IPv6]:PORT)");
    CHECK(book_error_of("1 a.example.org:0\n") ==
          "book.txt:1: bad target 'a.example.org:0' (expected HOST, HOST:PORT or [IPv6]:PORT)");
    CHECK(book_error_of("1 a.example.org\n" + std::string(2000, 'x')) ==
          "book.txt:2: line is longer than 1024 characters");
    CHECK(book_error_of(std::string(300, '1') + " a.example.org") ==
          "book.txt:1: number is longer than 255 characters");
}

TEST_CASE("parse_translate_rule splits on the first arrow") {
    const auto r = parse_translate_rule("a(.*)->b$1->c");
    CHECK(r.format == "b$1->c");
    CHECK(r.source == "a(.*)->b$1->c");
    CHECK(std::regex_match("A12", r.pattern));
}

TEST_CASE("bad rules say what is wrong and quote the rule") {
    CHECK(error_of("5551234") == "translate rule '5551234' has no '->' (expected REGEXP->FORMAT)");
    CHECK(error_of("->host") == "translate rule '->host' has an empty regular expression");
    CHECK(error_of("555->") == "translate rule '555->' has an empty format");
    const auto bad = error_of("555(\\d+->host");
    CHECK(bad.find("translate rule '555(\\d+->host': bad regular expression '555(\\d+'") == 0);
    CHECK(error_of("[z-a]->host").find("bad regular expression '[z-a]'") != std::string::npos);
    CHECK(error_of(std::string(5000, 'a') + "->b").find("at most 4096") != std::string::npos);
}

TEST_CASE("parse_target on its own") {
    CHECK(parse_target("host.example.org", 23) == target("host.example.org", 23));
    CHECK(parse_target("telnet://host.example.org:24", 23) == target("host.example.org", 24, true));
    CHECK(parse_target("::1", 23) == target("::1", 23));
    CHECK_FALSE(parse_target("", 23));
    CHECK_FALSE(parse_target("*1*2*3*4", 23));
    CHECK_FALSE(parse_target(std::string(600, 'a'), 23));
}
