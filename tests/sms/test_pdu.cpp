#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sms/gsm7.hpp"
#include "sms/pdu.hpp"

using namespace sb::sms;
using namespace std::chrono_literals;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes unhex(std::string_view hex) {
    bytes out;
    REQUIRE(from_hex(hex, out));
    return out;
}

deliver_pdu decoded(std::string_view hex) {
    std::string error;
    auto const p = decode_deliver(hex, error);
    INFO(hex, " -> ", error);
    REQUIRE(p);
    CHECK(error.empty());
    return *p;
}

std::string decode_error(std::string_view hex) {
    std::string error;
    auto const p = decode_deliver(hex, error);
    CHECK_FALSE(p);
    CHECK_FALSE(error.empty());
    return error;
}

// ----- a test-only SMS-SUBMIT reader, checked against published SUBMITs below -----

struct submit_fields {
    std::string smsc_hex;  // the SMSC part as given ("00" for none)
    std::uint8_t fo = 0;
    std::uint8_t mr = 0;
    std::string da;        // "+digits" or digits
    std::uint8_t da_type = 0;
    bytes da_field;        // length, TOA, BCD: what a DELIVER's TP-OA would be
    std::uint8_t pid = 0;
    std::uint8_t dcs = 0;
    std::optional<std::uint8_t> vp;  // relative only
    std::uint8_t udl = 0;
    bytes ud;
};

submit_fields read_submit(std::string_view hex) {
    auto const b = unhex(hex);
    submit_fields f;
    REQUIRE(!b.empty());
    std::size_t i = 1 + b[0];
    f.smsc_hex = std::string(hex.substr(0, 2 * i));
    REQUIRE(b.size() > i + 4);
    f.fo = b[i++];
    REQUIRE((f.fo & 3) == 1);
    f.mr = b[i++];
    std::size_t const digits = b[i];
    std::size_t const da_octets = (digits + 1) / 2;
    REQUIRE(b.size() >= i + 2 + da_octets);
    f.da_field.assign(b.begin() + static_cast<std::ptrdiff_t>(i), b.begin() + static_cast<std::ptrdiff_t>(i + 2 + da_octets));
    f.da_type = b[i + 1];
    if (f.da_type == 0x91) f.da = "+";
    for (std::size_t d = 0; d < digits; ++d) {
        unsigned const nib = d % 2 ? b[i + 2 + d / 2] >> 4 : b[i + 2 + d / 2] & 0x0F;
        f.da += static_cast<char>('0' + nib);
    }
    i += 2 + da_octets;
    REQUIRE(b.size() >= i + 3);
    f.pid = b[i++];
    f.dcs = b[i++];
    switch ((f.fo >> 3) & 3) {
    case 2: f.vp = b[i++]; break;
    case 1: case 3: i += 7; break;
    default: break;
    }
    REQUIRE(b.size() > i);
    f.udl = b[i++];
    f.ud.assign(b.begin() + static_cast<std::ptrdiff_t>(i), b.end());
    return f;
}

// What the recipient's modem would show for our SUBMIT: the same address,
// PID, DCS, UDHI and user data in an SMS-DELIVER, with an SMSC and a fixed
// timestamp (2023-01-19 18:30:00 +01:00).
std::string as_deliver(const submit_pdu& p) {
    auto const f = read_submit(p.hex);
    bytes d = {0x07, 0x91, 0x34, 0x06, 0x00, 0x11, 0x00, 0xF0};  // SMSC +436000110000
    d.push_back(static_cast<std::uint8_t>(0x04 | (f.fo & 0x40)));
    d.insert(d.end(), f.da_field.begin(), f.da_field.end());
    d.push_back(f.pid);
    d.push_back(f.dcs);
    for (std::uint8_t t : {0x32, 0x10, 0x91, 0x81, 0x03, 0x00, 0x40}) d.push_back(t);
    d.push_back(f.udl);
    d.insert(d.end(), f.ud.begin(), f.ud.end());
    return to_hex(d);
}

// Sends `text` through encode -> deliver -> decode -> reassemble.
std::string round_trip(const submit_request& req, std::vector<submit_pdu>* parts_out = nullptr) {
    std::string error;
    auto const parts = encode_submit(req, error);
    INFO(error);
    REQUIRE_FALSE(parts.empty());
    reassembler r;
    std::optional<complete_message> done;
    // In reverse, as a network may deliver them.
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        CHECK(it->hex.size() == 2 + 2 * it->tpdu_length);
        CHECK(it->hex.starts_with("00"));
        CHECK(it->tpdu_length <= 164);
        CHECK(it->total == parts.size());
        auto const d = decoded(as_deliver(*it));
        CHECK(d.sender.value == req.to);
        CHECK_FALSE(done);
        done = r.add(d, reassembler::clock::time_point{});
    }
    REQUIRE(done);
    CHECK(done->parts == parts.size());
    CHECK(r.open() == 0);
    if (parts_out) *parts_out = parts;
    return done->text;
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

// Published PDUs (sources in the test names) that decode to a message.
const std::vector<std::string> deliver_samples = {
    "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
    "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    "06917228195339040B917228214365F700003130805120618005D4F29C2E03",
    "07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885EC6D341EDF27C1E3E97E7"
    "207B3A0C0A5241E377BB1D7693E72E",
    "06917228195339040B917228214365F70000313062315352800A800D8A5E98D337A910",
    "0591721891F1400781721881F800003160526104848059050003C30101916536FB1DCABEEB2074D85E064941B19CAB060319A5C52228"
    "9C96D3D3ED32286C0FA7D96131BBEC024941B19CAB0603DDD36C36A88C87A7E565D0DB0D82C55EB0DB4B068BCD5C20",
    "0006000B910221815716F2709021510121807090215101718000",
    "0006D60B911326880736F4111011719551401110117195714000",
    "0297F1061C0F910B487228297020F5317062419272803170624192138000",
    // Composed from published fields (see the alphanumeric and UCS2 cases).
    "00040ED04669D0397C26A700003130805120618005D4F29C2E03",
    "0004" "0B917228214365F7" "0008" "31308051206180" "06304253F68449",
};

}  // namespace

// ===== SMS-SUBMIT =====

TEST_CASE("submit reader agrees with python-gsmmodem's published SUBMITs") {
    auto const a = read_submit("07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701");
    CHECK(a.smsc_hex == "07911326040000F0");
    CHECK(a.mr == 0x0D);
    CHECK(a.da == "+31628870634");
    CHECK(a.vp == 0xA9);  // 3 days
    CHECK(a.udl == 15);
    bytes s;
    REQUIRE(unpack_septets(a.ud, a.udl, 0, s));
    CHECK(gsm7_to_utf8(s) == "www.diafaan.com");
    auto const b = read_submit("07914346466554F601000B914316565811F9000806304253F68449");
    CHECK(b.da == "+34616585119");
    CHECK(b.dcs == 0x08);
    CHECK(b.ud == bytes{0x30, 0x42, 0x53, 0xF6, 0x84, 0x49});
}

TEST_CASE("submit: hellohello with 4 days validity is the dreamfabric example byte for byte") {
    auto const p = encode_submit({"+46708251358", "hellohello", std::chrono::minutes(4 * 24 * 60), false, 0});
    REQUIRE(p.size() == 1);
    CHECK(p[0].hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37");
    CHECK(p[0].tpdu_length == 23);
    CHECK(p[0].part == 1);
    CHECK(p[0].total == 1);
}

TEST_CASE("submit: python-gsmmodem's published single SUBMITs") {
    // No validity: TP-VPF 00.
    auto const a = encode_submit({"+27820001111", "Hello World!", std::nullopt, false, 0});
    REQUIRE(a.size() == 1);
    CHECK(a[0].hex == "0001000B917228001011F100000CC8329BFD065DDF72363904");
    // UCS2 with 52 weeks (TP-VP F4); the published PDU names an SMSC, ours leaves it to the SIM.
    auto const b = encode_submit({"+123456789", "\u4E16\u754C\u60A8\u597D\uFF01", std::chrono::weeks(52), false, 0});
    REQUIRE(b.size() == 1);
    CHECK(b[0].hex == "00" "1100099121436587F90008F40A4E16754C60A8597DFF01");
    CHECK(b[0].tpdu_length == 23);
}

TEST_CASE("submit: python-gsmmodem's published concatenated SUBMIT") {
    // The published PDUs set TP-RD (first octet 45); everything after it must match.
    const std::string text =
        "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor incididunt ut labore et "
        "dolore magna aliqua.Ut enim ad minim veniam, quinostrud exercitation ullamco laboris nisi ut aliquip ex ea "
        "commodo consequat.Duis aute irure dolor in reprehenderit in voluptate velit esse cillum doloe eu fugiat "
        "nulla pariatur.Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit "
        "anim id est laborum";
    const std::vector<std::string> published = {
        "0045000B915121551532F40000A0050003000301986F79B90D4AC3E7F53688FC66BFE5A0799A0E0AB7CB741668FC76CFCB637A995E"
        "9783C2E4343C3D4F8FD3EE33A8CC4ED359A079990C22BF41E5747DDE7E9341F4721BFE9683D2EE719A9C26D7DD74509D0E6287C56F79"
        "1954A683C86FF65B5E06B5C36777181466A7E3F5B0AB4A0795DDE936284C06B5D3EE741B642FBBD3E1360B14AFA7DD",
        "0045000B915121551532F40000A0050003000302DE73BABC4E0695F165F9384D0FD3D36F37A8CE6687DBE337881D16BFE5E939C89D9E"
        "A741753A28CC4EC7EB6938A88C0795C3A0F1BBDD7E93DFA0F1DB3D2FC7EB61BA8B584FCF41E13ABD0C4ACBEBF23288FC66BFE5A0B41B"
        "242FC3E56574D94D2ECBD37450DA0DB2BFD975383D4C2F83EC65769A0E2ACFE765D038CD66D7DB20F29BFD2E83CA",
        "0045000B915121551532F400008C050003000303EA2073FD9C0ED341EE3A9B1D06C1C3F274985E97BB8AF871194E2FD7E5A079DA4D07"
        "BDC7E370791CA683C675789A1CA687E920F7DB0D82CBDF6972D94D6781E675371D947683C675363C0C8AD7D3A0B7D99C1EA7C3207279"
        "5E96D7DD7450FBCD66A7E9A0B03BDD06A5C9A0F29C0E6287C56F79BD0D",
    };
    auto const p = encode_submit({"+15125551234", text, std::nullopt, false, 0});
    REQUIRE(p.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(p[i].hex.substr(0, 2) == "00");
        CHECK(p[i].hex.substr(2, 2) == "41");
        CHECK(p[i].hex.substr(4) == published[i].substr(4));
        CHECK(p[i].part == i + 1);
        CHECK(p[i].total == 3);
    }
    CHECK(round_trip({"+15125551234", text, std::nullopt, false, 0}) == text);
}

TEST_CASE("submit: first octet, status report request, concat ref, national numbers") {
    auto const f = read_submit(encode_submit({"06601112233", "x", 30min, true, 0})[0].hex);
    CHECK(f.fo == (0x01 | 0x10 | 0x20));
    CHECK(f.mr == 0);
    CHECK(f.da == "06601112233");
    CHECK(f.da_type == 0x81);
    CHECK(f.vp == 5);
    CHECK(f.pid == 0);
    CHECK(f.dcs == 0);

    auto const parts = encode_submit({"+436601112233", repeat("a", 200), std::nullopt, false, 0xA7});
    REQUIRE(parts.size() == 2);
    for (auto const& p : parts) {
        auto const g = read_submit(p.hex);
        CHECK(g.fo == 0x41);
        CHECK(g.da == "+436601112233");
        REQUIRE(g.ud.size() >= 6);
        CHECK(bytes(g.ud.begin(), g.ud.begin() + 6) == bytes{0x05, 0x00, 0x03, 0xA7, 0x02, p.part});
    }
}

TEST_CASE("submit: relative validity period rounding") {
    // python-gsmmodem's published values.
    CHECK(relative_validity(30min) == 5);
    CHECK(relative_validity(16h) == 151);
    CHECK(relative_validity(std::chrono::days(3)) == 169);
    CHECK(relative_validity(std::chrono::weeks(5)) == 197);
    CHECK(relative_validity(std::chrono::days(4)) == 0xAA);
    // The edges of each range, and rounding up inside them.
    CHECK(relative_validity(-5min) == 0);
    CHECK(relative_validity(0min) == 0);
    CHECK(relative_validity(5min) == 0);
    CHECK(relative_validity(6min) == 1);
    CHECK(relative_validity(10min) == 1);
    CHECK(relative_validity(12h) == 143);
    CHECK(relative_validity(12h + 1min) == 144);
    CHECK(relative_validity(24h) == 167);
    CHECK(relative_validity(24h + 1min) == 168);
    CHECK(relative_validity(std::chrono::days(30)) == 196);
    CHECK(relative_validity(std::chrono::days(30) + 1min) == 197);
    CHECK(relative_validity(std::chrono::weeks(63)) == 255);
    CHECK(relative_validity(std::chrono::weeks(1000)) == 255);
}

TEST_CASE("submit: GSM7 split boundaries") {
    struct row {
        std::size_t chars;
        std::size_t parts;
    };
    for (auto [chars, parts] : {row{0, 1}, row{1, 1}, row{160, 1}, row{161, 2}, row{306, 2}, row{307, 3},
                                row{459, 3}, row{460, 4}}) {
        CAPTURE(chars);
        auto const text = repeat("a", chars);
        std::vector<submit_pdu> p;
        CHECK(round_trip({"+436601112233", text, std::nullopt, false, 9}, &p) == text);
        CHECK(p.size() == parts);
        auto const plan = plan_split(text);
        REQUIRE(plan);
        CHECK(plan->gsm7);
        CHECK(plan->parts == parts);
        CHECK(plan->units == chars);
        if (parts > 1) {
            // Full parts: 153 septets + 7 for the header = TP-UDL 160, 140 octets.
            auto const f = read_submit(p[0].hex);
            CHECK(f.udl == 160);
            CHECK(f.ud.size() == 140);
        } else {
            CHECK(read_submit(p[0].hex).udl == chars);
        }
    }
}

TEST_CASE("submit: an escape sequence is never split across parts") {
    // 152 septets then the 2-septet euro: 154 does not fit in 153.
    auto const text = repeat("a", 152) + "\u20AC" + repeat("b", 10);
    std::vector<submit_pdu> p;
    CHECK(round_trip({"+436601112233", text, std::nullopt, false, 1}, &p) == text);
    REQUIRE(p.size() == 2);
    CHECK(read_submit(p[0].hex).udl == 7 + 152);
    CHECK(read_submit(p[1].hex).udl == 7 + 12);
    // 151 + 2 = 153 fits exactly.
    auto const exact = repeat("a", 151) + "[" + repeat("b", 10);
    CHECK(round_trip({"+436601112233", exact, std::nullopt, false, 1}, &p) == exact);
    REQUIRE(p.size() == 2);
    CHECK(read_submit(p[0].hex).udl == 160);
    // 160 septets with escapes stay one part; 161 do not.
    auto const single = repeat("{", 80);
    CHECK(round_trip({"1234", single, std::nullopt, false, 1}, &p) == single);
    CHECK(p.size() == 1);
    auto const two = repeat("{", 80) + "a";
    CHECK(round_trip({"1234", two, std::nullopt, false, 1}, &p) == two);
    CHECK(p.size() == 2);
}

TEST_CASE("submit: UCS2 split boundaries and surrogate pairs") {
    std::string const zhe = "\u0436";  // Cyrillic: forces UCS2, 1 unit
    for (auto [chars, parts] : {std::pair<std::size_t, std::size_t>{1, 1}, {70, 1}, {71, 2}, {134, 2}, {135, 3}}) {
        CAPTURE(chars);
        auto const text = repeat(zhe, chars);
        std::vector<submit_pdu> p;
        CHECK(round_trip({"+436601112233", text, std::nullopt, false, 3}, &p) == text);
        CHECK(p.size() == parts);
        auto const f = read_submit(p[0].hex);
        CHECK(f.dcs == 0x08);
        if (parts > 1) CHECK(f.udl == 140);
    }
    // 66 units then an emoji (2 units): the pair moves to part 2 whole.
    auto const text = repeat(zhe, 66) + "\U0001F600" + repeat(zhe, 5);
    std::vector<submit_pdu> p;
    CHECK(round_trip({"+436601112233", text, std::nullopt, false, 3}, &p) == text);
    REQUIRE(p.size() == 2);
    auto const first = read_submit(p[0].hex);
    CHECK(first.udl == 6 + 66 * 2);
    CHECK(first.ud.back() == 0x36);  // ends with U+0436, not a high surrogate
    auto const second = read_submit(p[1].hex);
    CHECK(bytes(second.ud.begin() + 6, second.ud.begin() + 10) == bytes{0xD8, 0x3D, 0xDE, 0x00});
    // 65 + 2 = 67 fits exactly.
    auto const exact = repeat(zhe, 65) + "\U0001F600" + zhe + repeat("x", 10);
    CHECK(round_trip({"+436601112233", exact, std::nullopt, false, 3}, &p) == exact);
    CHECK(read_submit(p[0].hex).udl == 140);
    // Emoji only: 35 fit in one SMS (70 units), 36 do not.
    CHECK(plan_split(repeat("\U0001F600", 35))->parts == 1);
    CHECK(plan_split(repeat("\U0001F600", 36))->parts == 2);
    CHECK(round_trip({"1", repeat("\U0001F600", 200), std::nullopt, false, 3}) == repeat("\U0001F600", 200));
}

TEST_CASE("submit: one non-GSM character turns the whole text into UCS2") {
    auto const text = repeat("a", 100) + "\u00E7";
    auto const plan = plan_split(text);
    REQUIRE(plan);
    CHECK_FALSE(plan->gsm7);
    CHECK(plan->units == 101);
    CHECK(plan->parts == 2);
    CHECK(round_trip({"+43", text, std::nullopt, false, 0}) == text);
}

TEST_CASE("submit: errors") {
    std::string error;
    for (std::string_view to : {"", "+", "+43 660", "43-660", "12a", "++43", "123456789012345678901", " 43"}) {
        CAPTURE(to);
        error.clear();
        CHECK(encode_submit({std::string(to), "hi", std::nullopt, false, 0}, error).empty());
        CHECK_FALSE(error.empty());
    }
    CHECK(encode_submit({"12345678901234567890", "hi", std::nullopt, false, 0}, error).size() == 1);
    CHECK(encode_submit({"+12345678901234567890", "hi", std::nullopt, false, 0}, error).size() == 1);
    error.clear();
    CHECK(encode_submit({"+43", "a\xC3", std::nullopt, false, 0}, error).empty());
    CHECK(error == "text is not valid UTF-8");
    CHECK_FALSE(plan_split("a\xC3"));
    // 255 parts are the most the 8-bit concatenation IE can number.
    CHECK(encode_submit({"+43", repeat("a", 255 * 153), std::nullopt, false, 0}, error).size() == 255);
    error.clear();
    CHECK(encode_submit({"+43", repeat("a", 255 * 153 + 1), std::nullopt, false, 0}, error).empty());
    CHECK(error == "text longer than 255 parts");
    CHECK(encode_submit({"+43", std::string(1 << 20, 'a'), std::nullopt, false, 0}).empty());
    CHECK_FALSE(plan_split(std::string(1 << 20, 'a')));
}

// ===== SMS-DELIVER =====

TEST_CASE("deliver: the classic 'How are you?' (3GPP-style example, +31 SMSC)") {
    auto const d = decoded("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07");
    CHECK(d.kind == pdu_kind::deliver);
    CHECK(d.smsc.value == "+31624000000");
    CHECK(d.smsc.type == 0x91);
    CHECK(d.sender.value == "+31641600986");
    CHECK(d.sender.type == 0x91);
    CHECK_FALSE(d.sender.alphanumeric());
    CHECK(d.pid == 0);
    CHECK(d.dcs == 0);
    CHECK(d.coding == text_coding::gsm7);
    // TZ octet 08: sign bit set, 0 quarters (decoders that swap the wrong
    // way print +02:00 here; the 1999 example below has the real +2, octet 80).
    CHECK(d.timestamp == "2002-08-26T19:37:41+00:00");
    CHECK(d.text == "How are you?");
    CHECK_FALSE(d.concat);
    CHECK(d.udh.empty());
    CHECK_FALSE(d.message_class);
    CHECK(d.more_messages == false);  // TP-MMS set in 0x04: no more
}

TEST_CASE("deliver: dreamfabric's hellohello (subscriber-number sender, 1999)") {
    auto const d = decoded("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37");
    CHECK(d.smsc.value == "+27381000015");
    CHECK(d.sender.value == "27838890001");
    CHECK(d.sender.type == 0xC8);
    CHECK(d.timestamp == "1999-03-29T15:16:59+02:00");
    CHECK(d.text == "hellohello");
    CHECK(d.payload.size() == 10);
}

TEST_CASE("deliver: python-gsmmodem's published DELIVERs") {
    auto const a = decoded("06917228195339040B917228214365F700003130805120618005D4F29C2E03");
    CHECK(a.smsc.value == "+2782913593");
    CHECK(a.sender.value == "+27821234567");
    CHECK(a.timestamp == "2013-03-08T15:02:16+02:00");
    CHECK(a.text == "Test2");

    auto const b = decoded(deliver_samples[3]);
    CHECK(b.smsc.value == "+85290000000");
    CHECK(b.sender.value == "+85291234567");
    CHECK(b.timestamp == "2007-04-12T23:25:42+08:00");
    CHECK(b.text == "It is easy to read text messages via AT commands.");

    auto const c = decoded("06917228195339040B917228214365F70000313062315352800A800D8A5E98D337A910");
    CHECK(c.text == "@{t\u00E9st}!");

    // A single-part message with a concatenation IE (ref C3, 1 of 1), numeric short-code sender.
    auto const e = decoded(deliver_samples[5]);
    CHECK(e.smsc.value == "+2781191");
    CHECK(e.sender.value == "2781188");
    CHECK(e.sender.type == 0x81);
    CHECK(e.timestamp == "2013-06-25T16:40:48+02:00");
    REQUIRE(e.concat);
    CHECK(e.concat->ref == 0xC3);
    CHECK(e.concat->total == 1);
    CHECK(e.concat->part == 1);
    CHECK_FALSE(e.concat->ref16);
    CHECK(e.udh == bytes{0x00, 0x03, 0xC3, 0x01, 0x01});
    CHECK(e.text == "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. ");
}

TEST_CASE("deliver: alphanumeric sender") {
    // TP-OA 0E D0 4669D0397C26A7 is python-gsmmodem's published encoding of
    // "FRANCOIS" (14 semi-octets, TON 5), here in front of the "Test2" body.
    auto const d = decoded("00040ED04669D0397C26A700003130805120618005D4F29C2E03");
    CHECK(d.smsc.value.empty());
    CHECK(d.sender.value == "FRANCOIS");
    CHECK(d.sender.alphanumeric());
    CHECK(d.text == "Test2");
    // Their "abc" (06 D0 61F118) and "a[]{}€" (14 D0 E10D6FE3DBA036A94D19).
    CHECK(decoded("000406D061F11800003130805120618005D4F29C2E03").sender.value == "abc");
    CHECK(decoded("000414D0E10D6FE3DBA036A94D1900003130805120618005D4F29C2E03").sender.value == "a[]{}\u20AC");
}

TEST_CASE("deliver: UCS2, surrogate pairs, 8-bit data, message class") {
    // User data of python-gsmmodem's published UCS2 SUBMIT ("あ叶葉").
    auto const a = decoded(deliver_samples[10]);
    CHECK(a.coding == text_coding::ucs2);
    CHECK(a.dcs == 0x08);
    CHECK(a.text == "\u3042\u53F6\u8449");
    CHECK(a.payload == bytes{0x30, 0x42, 0x53, 0xF6, 0x84, 0x49});

    auto const emoji = decoded("0004" "0B917228214365F7" "0008" "31308051206180" "06D83DDE000041");
    CHECK(emoji.text == "\U0001F600A");
    // A lone surrogate and an odd trailing byte become U+FFFD.
    CHECK(decoded("0004" "0B917228214365F7" "0008" "31308051206180" "03D83D41").text == "\uFFFD\uFFFD");

    // 8-bit: python-gsmmodem's "Hello world!" data, DCS 04.
    auto const b = decoded("0004" "0B917228214365F7" "0004" "31308051206180" "0C48656C6C6F20776F726C6421");
    CHECK(b.coding == text_coding::eight_bit);
    CHECK(b.text.empty());
    CHECK(to_hex(b.payload) == "48656C6C6F20776F726C6421");

    // Class 0 (flash) in both DCS groups; class 1 8-bit in group F.
    auto const flash = decoded("0004" "0B917228214365F7" "0010" "31308051206180" "05D4F29C2E03");
    CHECK(flash.message_class == 0);
    CHECK(flash.text == "Test2");
    CHECK(decoded("0004" "0B917228214365F7" "00F0" "31308051206180" "05D4F29C2E03").message_class == 0);
    auto const f5 = decoded("0004" "0B917228214365F7" "00F5" "31308051206180" "0148");
    CHECK(f5.coding == text_coding::eight_bit);
    CHECK(f5.message_class == 1);
    // Group E: message waiting with UCS2. Compressed: passed on as data.
    CHECK(decoded("0004" "0B917228214365F7" "00E0" "31308051206180" "020041").text == "A");
    CHECK(decoded("0004" "0B917228214365F7" "0020" "31308051206180" "0148").coding == text_coding::eight_bit);
}

TEST_CASE("deliver: UDH with 16-bit concatenation and GSM7 fill bits") {
    // IE 08 04 0180 04 02 is python-gsmmodem's published "ref 384, part 2 of 4".
    auto const u = decoded("0044" "0B917228214365F7" "0008" "31308051206180" "0B" "0608040180040200410042");
    REQUIRE(u.concat);
    CHECK(u.concat->ref == 384);
    CHECK(u.concat->total == 4);
    CHECK(u.concat->part == 2);
    CHECK(u.concat->ref16);
    CHECK(u.text == "AB");

    // GSM7 with a 7-octet UDH (UDHL 6): 56 bits, no fill, header = 8 septets.
    std::vector<std::uint8_t> ud = {0x06, 0x08, 0x04, 0x01, 0x80, 0x04, 0x02};
    bytes s;
    REQUIRE(utf8_to_gsm7("Hi", s));
    pack_septets(s, 0, ud);
    auto const g = decoded("0044" "0B917228214365F7" "0000" "31308051206180" "0A" + to_hex(ud));
    CHECK(g.text == "Hi");
    CHECK(g.concat->ref == 384);

    // Invalid concatenation IEs are ignored (23.040 9.2.3.24.1), the text kept.
    CHECK_FALSE(decoded("0044" "0B917228214365F7" "0008" "31308051206180" "08" "050003070000" "0041").concat);
    CHECK_FALSE(decoded("0044" "0B917228214365F7" "0008" "31308051206180" "08" "050003070203" "0041").concat);
    // A malformed IE list ends the IE scan, not the message.
    auto const m = decoded("0044" "0B917228214365F7" "0008" "31308051206180" "06" "0300090041" "00");
    CHECK_FALSE(m.concat);
    // Unknown IEs are skipped and kept raw.
    // Port addressing (IEI 05) is skipped and kept raw; a concatenation IE after it still counts.
    auto const k = decoded("0044" "0B917228214365F7" "0008" "31308051206180" "0E" "0B" "05040B840000" "00030A0201" "0041");
    REQUIRE(k.concat);
    CHECK(k.concat->ref == 0x0A);
    CHECK(k.concat->total == 2);
    CHECK(k.udh.size() == 11);
    // An IE whose length runs past the header ends the scan.
    auto const k2 = decoded("0044" "0B917228214365F7" "0008" "31308051206180" "0E" "0B" "05050B840000" "00030A0201" "0041");
    CHECK_FALSE(k2.concat);
    CHECK(k2.text == "A");
}

TEST_CASE("deliver: timestamps") {
    std::uint8_t const a[7] = {0x51, 0x11, 0x72, 0x00, 0x00, 0x00, 0x80};
    CHECK(decode_timestamp(a) == "2015-11-27T00:00:00+02:00");
    std::uint8_t const b[7] = {0x70, 0x40, 0x21, 0x32, 0x52, 0x24, 0x2B};  // published GMT-8
    CHECK(decode_timestamp(b) == "2007-04-12T23:25:42-08:00");
    std::uint8_t const c[7] = {0x70, 0x40, 0x21, 0x32, 0x52, 0x24, 0x08};  // -0 is +00:00
    CHECK(decode_timestamp(c) == "2007-04-12T23:25:42+00:00");
    std::uint8_t const d[7] = {0x70, 0x40, 0x21, 0x32, 0x52, 0x24, 0x94};  // 49 quarters
    CHECK(decode_timestamp(d) == "2007-04-12T23:25:42+12:15");
    for (auto bad : {std::array<std::uint8_t, 7>{0x70, 0x31, 0x21, 0, 0, 0, 0},   // month 13
                     std::array<std::uint8_t, 7>{0x70, 0x00, 0x21, 0, 0, 0, 0},   // month 0
                     std::array<std::uint8_t, 7>{0x70, 0x10, 0x23, 0, 0, 0, 0},   // day 32
                     std::array<std::uint8_t, 7>{0x70, 0x10, 0x10, 0x42, 0, 0, 0},  // hour 24
                     std::array<std::uint8_t, 7>{0x7A, 0x10, 0x10, 0, 0, 0, 0},   // not BCD
                     std::array<std::uint8_t, 7>{0x70, 0x10, 0x10, 0, 0, 0, 0xA0}}) {
        CHECK_FALSE(decode_timestamp(bad));
    }
    // A bad timestamp empties the field, the message survives.
    auto const m = decoded("0004" "0B917228214365F7" "0000" "FFFFFFFFFFFFFF" "05D4F29C2E03");
    CHECK(m.timestamp.empty());
    CHECK(m.text == "Test2");
}

// ===== SMS-STATUS-REPORT =====

TEST_CASE("status report: amro.blogspot +CDS example (SMSC octet added)") {
    auto const r = decoded("0006000B910221815716F2709021510121807090215101718000");
    CHECK(r.kind == pdu_kind::status_report);
    CHECK(r.smsc.value.empty());
    CHECK(r.message_reference == 0);
    CHECK(r.recipient.value == "+20121875612");
    CHECK(r.timestamp == "2007-09-12T15:10:12+02:00");
    CHECK(r.discharge_time == "2007-09-12T15:10:17+02:00");
    CHECK(r.status == 0);
    CHECK(r.state == delivery_state::delivered);
}

TEST_CASE("status report: python-gsmmodem's published reports") {
    auto const a = decoded("0006D60B911326880736F4111011719551401110117195714000");
    CHECK(a.message_reference == 214);
    CHECK(a.recipient.value == "+31628870634");
    CHECK(a.timestamp == "2011-01-11T17:59:15+01:00");
    CHECK(a.discharge_time == "2011-01-11T17:59:17+01:00");
    CHECK(a.state == delivery_state::delivered);
    // Captured from a ZTE modem, "semi-invalid": decodes, the odd number shows its '#'.
    auto const z = decoded("0297F1061C0F910B487228297020F5317062419272803170624192138000");
    CHECK(z.smsc.value == "+1");
    CHECK(z.message_reference == 28);
    CHECK(z.recipient.value == "+#08427829207025");
    CHECK(z.timestamp == "2013-07-26T14:29:27+02:00");
    CHECK(z.discharge_time == "2013-07-26T14:29:31+02:00");
}

TEST_CASE("status report: TP-ST classes and optional parameters") {
    std::string const head = "0006D60B911326880736F41110117195514011101171957140";
    CHECK(decoded(head + "20").state == delivery_state::pending);
    CHECK(decoded(head + "30").state == delivery_state::pending);
    CHECK(decoded(head + "41").state == delivery_state::failed);
    CHECK(decoded(head + "65").state == delivery_state::failed);
    CHECK(decoded(head + "1F").state == delivery_state::delivered);
    CHECK(decoded(head + "02").state == delivery_state::delivered);
    CHECK(decoded(head + "80").state == delivery_state::failed);
    CHECK(classify_status(0x3F) == delivery_state::pending);
    CHECK(classify_status(0x40) == delivery_state::failed);
    // TP-PI 00 and 07 (PID, DCS, UD).
    CHECK(decoded(head + "0000").status == 0);
    auto const ud = decoded(head + "00" "07" "00" "00" "05D4F29C2E03");
    CHECK(ud.text == "Test2");
    CHECK(decoded(head + "00" "80" "00").status == 0);  // an extended PI
    decode_error(head + "00" "07" "00");                // PI announces more than is there
    decode_error(head + "00" "80");
}

// ===== invalid input =====

TEST_CASE("decode errors") {
    decode_error("");
    decode_error("0");
    decode_error("00");  // no TPDU
    decode_error("0G");
    decode_error(" 07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07");
    decode_error("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r");
    decode_error(std::string(354, '0'));
    CHECK(decode_error("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD0700") ==
          "bytes after the user data");
    CHECK(decode_error("07914346466554F601000B914316565811F9000806304253F68449").starts_with("SMS-SUBMIT"));
    decode_error("0003");                                                   // reserved MTI
    decode_error("0C91" + std::string(22, '1') + "04");                     // SMSC longer than 11 octets
    decode_error("00" "04" "15917228214365F7");                             // 21 digits
    decode_error("0004" "0B917228214365F7" "0000" "31308051206180" "A1");   // UDL 161 septets
    decode_error("0004" "0B917228214365F7" "0008" "31308051206180" "8D");   // UDL 141 octets
    decode_error("0044" "0B917228214365F7" "0008" "31308051206180" "02" "0500");   // UDHL past UD
    decode_error("0044" "0B917228214365F7" "0000" "31308051206180" "01" "05");     // GSM7 header > UDL
    decode_error("0044" "0B917228214365F7" "0000" "31308051206180" "00");          // UDHI, no UD
    // 176 octets is the most; one more is refused before decoding.
    std::string error;
    CHECK_FALSE(decode_deliver_octets(bytes(177, 0), error));
    CHECK(error == "PDU longer than 176 octets");
    // The longest valid DELIVER: 12-octet SMSC, 20-digit sender, 140 octets of UD.
    std::string longest = "0B91" + std::string(20, '1') + "04" + "1491" + std::string(20, '2') + "0004" +
                          "31308051206180" + "8C" + std::string(280, 'A');
    CHECK(longest.size() / 2 == 12 + 1 + 12 + 2 + 7 + 1 + 140);
    CHECK(decoded(longest).payload.size() == 140);
}

TEST_CASE("decode: every prefix of every sample fails cleanly, in hex and in octets") {
    for (auto const& hex : deliver_samples) {
        CAPTURE(hex);
        decoded(hex);
        auto const octets = unhex(hex);
        for (std::size_t n = 0; n < hex.size(); ++n) {
            std::string error;
            CHECK_FALSE(decode_deliver(std::string_view(hex).substr(0, n), error));
            CHECK_FALSE(error.empty());
        }
        for (std::size_t n = 0; n < octets.size(); ++n) {
            std::string error;
            CHECK_FALSE(decode_deliver_octets(std::span(octets).first(n), error));
        }
    }
}

TEST_CASE("decode: mutated and random input never crashes") {
    std::uint32_t seed = 12345;
    auto rnd = [&] {
        seed = seed * 1103515245u + 12345u;
        return seed >> 16;
    };
    std::size_t decoded_ok = 0;
    for (auto const& hex : deliver_samples) {
        auto const octets = unhex(hex);
        // Every octet set to every interesting value.
        for (std::size_t i = 0; i < octets.size(); ++i) {
            for (unsigned v : {0x00u, 0x01u, 0x07u, 0x0Bu, 0x40u, 0x7Fu, 0x80u, 0x8Cu, 0xA0u, 0xFFu}) {
                auto m = octets;
                m[i] = static_cast<std::uint8_t>(v);
                std::string error;
                auto const p = decode_deliver_octets(m, error);
                decoded_ok += p.has_value();
                CHECK(p.has_value() == error.empty());
            }
        }
    }
    for (int round = 0; round < 20000; ++round) {
        bytes b(rnd() % 180);
        for (auto& x : b) x = static_cast<std::uint8_t>(rnd());
        if (!b.empty() && round % 2) b[0] = static_cast<std::uint8_t>(b[0] % 12);
        if (b.size() > 1 && round % 4 < 2) b[1 + (b[0] < b.size() - 1 ? b[0] : 0)] &= 0xC6;
        std::string error;
        auto const p = decode_deliver_octets(b, error);
        decoded_ok += p.has_value();
        (void)decode_deliver(to_hex(b), error);
    }
    CHECK(decoded_ok > 0);
}

// ===== reassembly =====

namespace {

deliver_pdu part_of(std::string_view sender, std::uint8_t ref, std::uint8_t total, std::uint8_t part,
                    std::string_view text) {
    deliver_pdu d;
    d.sender.value = std::string(sender);
    d.sender.type = 0x91;
    d.timestamp = "2023-01-19T18:30:0" + std::to_string(part) + "+01:00";
    d.coding = text_coding::gsm7;
    REQUIRE(utf8_to_gsm7(text, d.payload));
    d.text = gsm7_to_utf8(d.payload);
    d.concat = concat_info{ref, total, part, false};
    return d;
}

const reassembler::clock::time_point t0{};

}  // namespace

TEST_CASE("reassembler: any order, duplicates ignored, senders kept apart") {
    reassembler r;
    CHECK_FALSE(r.add(part_of("+43", 7, 3, 3, "c"), t0));
    CHECK_FALSE(r.add(part_of("+44", 7, 3, 1, "X"), t0));  // same ref, other sender
    CHECK_FALSE(r.add(part_of("+43", 7, 3, 2, "b"), t0));
    CHECK_FALSE(r.add(part_of("+43", 7, 3, 2, "b"), t0));  // duplicate
    CHECK(r.duplicates() == 1);
    CHECK(r.open() == 2);
    auto const m = r.add(part_of("+43", 7, 3, 1, "a"), t0);
    REQUIRE(m);
    CHECK(m->text == "abc");
    CHECK(m->parts == 3);
    CHECK(m->total == 3);
    CHECK(m->sender.value == "+43");
    CHECK(m->timestamp == "2023-01-19T18:30:01+01:00");  // the first part's
    CHECK(r.open() == 1);
    // Same sender and ref but another total is another message.
    CHECK_FALSE(r.add(part_of("+43", 7, 2, 1, "p"), t0));
    CHECK(r.open() == 2);
}

TEST_CASE("reassembler: single messages and status reports") {
    reassembler r;
    deliver_pdu d = part_of("+43", 1, 1, 1, "only");
    auto const m = r.add(d, t0);  // 1 of 1
    REQUIRE(m);
    CHECK(m->text == "only");
    d.concat.reset();
    CHECK(r.add(d, t0)->text == "only");
    d.kind = pdu_kind::status_report;
    CHECK_FALSE(r.add(d, t0));
    CHECK(r.open() == 0);
}

TEST_CASE("reassembler: an escape sequence split by the sender is joined before decoding") {
    reassembler r;
    auto a = part_of("+43", 1, 2, 1, "x");
    a.payload.push_back(gsm7_escape);
    a.text = gsm7_to_utf8(a.payload);
    auto b = part_of("+43", 1, 2, 2, "");
    b.payload = {0x65, 0x41};
    b.text = gsm7_to_utf8(b.payload);
    CHECK_FALSE(r.add(b, t0));
    CHECK(r.add(a, t0)->text == "x\u20ACA");

    // Likewise a surrogate pair in UCS2.
    deliver_pdu h;
    h.coding = text_coding::ucs2;
    h.sender.value = "S";
    h.payload = {0x00, 0x41, 0xD8, 0x3D};
    h.concat = concat_info{300, 2, 1, true};
    deliver_pdu l = h;
    l.payload = {0xDE, 0x00};
    l.concat->part = 2;
    CHECK_FALSE(r.add(l, t0));
    CHECK(r.add(h, t0)->text == "A\U0001F600");
}

TEST_CASE("reassembler: 255 parts in reverse order") {
    reassembler r;
    std::string expected;
    for (int p = 1; p <= 255; ++p) expected += static_cast<char>('a' + p % 26);
    for (int p = 255; p >= 1; --p) {
        auto const m = r.add(part_of("+43", 9, 255, static_cast<std::uint8_t>(p), std::string(1, static_cast<char>('a' + p % 26))), t0);
        CHECK(m.has_value() == (p == 1));
        if (m) CHECK(m->text == expected);
    }
}

TEST_CASE("reassembler: bounded open messages, oldest dropped") {
    reassembler r({.max_open = 3, .timeout = std::chrono::hours(1)});
    for (std::uint8_t ref = 0; ref < 5; ++ref) CHECK_FALSE(r.add(part_of("+43", ref, 2, 1, "a"), t0));
    CHECK(r.open() == 3);
    CHECK(r.dropped() == 2);
    // refs 0 and 1 are gone: their second parts open new messages (dropping 2 and 3).
    CHECK_FALSE(r.add(part_of("+43", 0, 2, 2, "b"), t0));
    CHECK(r.add(part_of("+43", 4, 2, 2, "b"), t0)->text == "ab");
}

TEST_CASE("reassembler: timeouts") {
    reassembler r({.max_open = 8, .timeout = std::chrono::minutes(10)});
    CHECK_FALSE(r.add(part_of("+43", 1, 3, 1, "a"), t0));
    CHECK_FALSE(r.add(part_of("+43", 1, 3, 3, "c"), t0 + std::chrono::minutes(5)));
    CHECK_FALSE(r.add(part_of("+43", 2, 2, 2, "z"), t0 + std::chrono::minutes(9)));
    CHECK(r.expire(t0 + std::chrono::minutes(10)).empty());  // not older than the timeout yet
    auto const gone = r.expire(t0 + std::chrono::minutes(11));
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].text == "ac");  // what arrived, in order, the gap left out
    CHECK(gone[0].parts == 2);
    CHECK(gone[0].total == 3);
    CHECK(r.open() == 1);
    // add() drops what expired before looking: a late part 2 starts afresh.
    CHECK_FALSE(r.add(part_of("+43", 2, 2, 1, "y"), t0 + std::chrono::minutes(30)));
    CHECK(r.dropped() == 1);
    CHECK(r.open() == 1);
}
