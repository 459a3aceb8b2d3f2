#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sms/gsm7.hpp"

using namespace sb::sms;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes septets_of(std::string_view utf8) {
    bytes out;
    REQUIRE(utf8_to_gsm7(utf8, out));
    return out;
}

bytes packed(const bytes& septets, unsigned fill = 0) {
    bytes out;
    pack_septets(septets, fill, out);
    return out;
}

// Published by python-gsmmodem's test suite (test/test_pdu.py, TestGsm7):
// text, unpacked septets, packed octets.
struct gsm7_vector {
    const char* text;
    bytes septets;
    bytes octets;
};

const std::vector<gsm7_vector> gsmmodem_vectors = {
    {"123", {49, 50, 51}, {49, 217, 12}},
    {"12345678", {49, 50, 51, 52, 53, 54, 55, 56}, {49, 217, 140, 86, 179, 221, 112}},
    {"123456789", {49, 50, 51, 52, 53, 54, 55, 56, 57}, {49, 217, 140, 86, 179, 221, 112, 57}},
    {"Hello World!",
     {0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x57, 0x6F, 0x72, 0x6C, 0x64, 0x21},
     {200, 50, 155, 253, 6, 93, 223, 114, 54, 57, 4}},
    {"[{abc}]~",
     {0x1B, 0x3C, 0x1B, 0x28, 0x61, 0x62, 0x63, 0x1B, 0x29, 0x1B, 0x3E, 0x1B, 0x3D},
     {27, 222, 6, 21, 22, 143, 55, 169, 141, 111, 211, 3}},
    {"123456789012345678901234567890",
     {49, 50, 51, 52, 53, 54, 55, 56, 57, 48, 49, 50, 51, 52, 53,
      54, 55, 56, 57, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 48},
     {49, 217, 140, 86, 179, 221, 112, 57, 88, 76, 54, 163, 213, 108,
      55, 92, 14, 22, 147, 205, 104, 53, 219, 13, 151, 131, 1}},
    {"{\u00E5\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u20AC}",
     {27, 40, 15, 18, 19, 20, 21, 22, 23, 24, 25, 27, 101, 27, 41},
     {27, 212, 67, 50, 161, 84, 44, 23, 76, 102, 83, 222, 164, 0}},
    {"a[]{}\u20AC", {97, 27, 60, 27, 62, 27, 40, 27, 41, 27, 101}, {225, 13, 111, 227, 219, 160, 54, 169, 77, 25}},
};

}  // namespace

TEST_CASE("gsm7: published vectors encode, pack, unpack and decode") {
    for (auto const& v : gsmmodem_vectors) {
        CAPTURE(v.text);
        CHECK(septets_of(v.text) == v.septets);
        CHECK(packed(v.septets) == v.octets);
        bytes back;
        REQUIRE(unpack_septets(v.octets, v.septets.size(), 0, back));
        CHECK(back == v.septets);
        CHECK(gsm7_to_utf8(v.septets) == v.text);
        CHECK(gsm7_septet_count(std::string_view(v.text)) == v.septets.size());
        CHECK(gsm7_encodable(std::string_view(v.text)));
    }
}

TEST_CASE("gsm7: hellohello is E8329BFD4697D9EC37 (the classic dreamfabric example)") {
    auto const s = septets_of("hellohello");
    CHECK(packed(s) == bytes{0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37});
}

TEST_CASE("gsm7: every default-table code round-trips") {
    for (unsigned s = 0; s < 128; ++s) {
        if (s == gsm7_escape) continue;
        CAPTURE(s);
        auto const text = gsm7_to_utf8(bytes{static_cast<std::uint8_t>(s)});
        bytes back;
        REQUIRE(utf8_to_gsm7(text, back));
        CHECK(back == bytes{static_cast<std::uint8_t>(s)});
    }
}

TEST_CASE("gsm7: the extension table and its count of two septets") {
    const std::string_view ext = "^{}\\[~]|\u20AC\f";
    CHECK(gsm7_septet_count(ext) == 20);
    auto const s = septets_of(ext);
    REQUIRE(s.size() == 20);
    for (std::size_t i = 0; i < s.size(); i += 2) CHECK(s[i] == gsm7_escape);
    CHECK(gsm7_to_utf8(s) == ext);
    CHECK(gsm7_lookup(U'\u20AC')->septet == 0x65);
    CHECK(gsm7_lookup(U'\u20AC')->extended);
    CHECK_FALSE(gsm7_lookup(U'@')->extended);
    CHECK(gsm7_lookup(U'@')->septet == 0);
}

TEST_CASE("gsm7: what is not encodable") {
    CHECK(gsm7_encodable(std::string_view("Hello, World! 0123 @$_")));
    CHECK(gsm7_encodable(std::string_view("\u00C4\u00D6\u00DC\u00E4\u00F6\u00FC\u00DF \u00E9\u00E8")));
    CHECK(gsm7_encodable(std::string_view("")));
    CHECK_FALSE(gsm7_encodable(std::string_view("\u4E16\u754C")));     // CJK
    CHECK_FALSE(gsm7_encodable(std::string_view("\u00E7")));           // c-cedilla: only the capital is in the table
    CHECK_FALSE(gsm7_encodable(std::string_view("\xF0\x9F\x98\x80")));  // emoji
    CHECK_FALSE(gsm7_encodable(std::string_view("`")));
    CHECK_FALSE(gsm7_encodable(std::string_view("\x1B")));  // ESC is not a character
    CHECK_FALSE(gsm7_encodable(std::string_view("\xC3")));  // truncated UTF-8
    CHECK_FALSE(gsm7_encodable(std::u32string_view(U"a\u00E7")));
    CHECK(gsm7_encodable(std::u32string_view(U"a\u20AC")));
    CHECK(gsm7_septet_count(std::u32string_view(U"a\u20AC")) == 3);
    CHECK_FALSE(gsm7_septet_count(std::string_view("\u00E7")));
    bytes out;
    CHECK_FALSE(utf8_to_gsm7("a\u4E16", out));
}

TEST_CASE("gsm7: decoding odd escape sequences") {
    CHECK(gsm7_to_utf8(bytes{0x1B, 0x1B, 0x41}) == " A");  // ESC ESC: reserved, shown as a space
    CHECK(gsm7_to_utf8(bytes{0x41, 0x1B}) == "A");         // a lone trailing ESC is dropped
    CHECK(gsm7_to_utf8(bytes{0x1B, 0x41}) == "A");         // unassigned: the default-table character
    CHECK(gsm7_to_utf8(bytes{0xC1}) == "A");               // bit 7 ignored
    CHECK(gsm7_to_utf8(bytes{}).empty());
}

TEST_CASE("gsm7: packing with fill bits round-trips for every offset and length") {
    for (unsigned fill = 0; fill <= 6; ++fill) {
        for (std::size_t n = 0; n <= 24; ++n) {
            CAPTURE(fill);
            CAPTURE(n);
            bytes s;
            for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<std::uint8_t>((i * 37 + 11) & 0x7F));
            auto const p = packed(s, fill);
            CHECK(p.size() == packed_size(n, fill));
            if (fill > 0 && !p.empty()) CHECK((p[0] & ((1u << fill) - 1)) == 0);  // fill bits are zero
            bytes back;
            REQUIRE(unpack_septets(p, n, fill, back));
            CHECK(back == s);
            if (!p.empty()) {
                bytes short_back;
                CHECK_FALSE(unpack_septets(std::span(p).first(p.size() - 1), n, fill, short_back));
                CHECK(short_back.empty());
            }
        }
    }
    bytes out;
    CHECK_FALSE(unpack_septets(bytes{0, 0}, 1, 7, out));
    CHECK_FALSE(unpack_septets(bytes{}, static_cast<std::size_t>(-1), 0, out));
}

TEST_CASE("gsm7: packing after a 6-octet UDH puts the text on septet 7") {
    // Fill 1 after 48 header bits: the published concatenated SUBMIT of
    // python-gsmmodem starts its text "Lorem" with octets 98 6F 79 B9 0D.
    auto const p = packed(septets_of("Lorem"), 1);
    CHECK(p == bytes{0x98, 0x6F, 0x79, 0xB9, 0x0D});
}

TEST_CASE("utf8: strict decoding") {
    std::u32string out;
    CHECK(utf8_decode("a\u00E9\u20AC\U0001F600", out));
    CHECK(out == U"a\u00E9\u20AC\U0001F600");
    for (std::string_view bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                 "\xF5\x80\x80\x80", "\x80", "\xE2\x82", "\xE2\x28\xA1", "\xF0\x9F\x98"}) {
        std::u32string o;
        CHECK_FALSE(utf8_decode(bad, o));
    }
    std::string s;
    utf8_append(s, 0xD800);
    utf8_append(s, 0x110000);
    CHECK(s == "\uFFFD\uFFFD");
}
