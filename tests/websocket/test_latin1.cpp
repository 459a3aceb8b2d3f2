#include <doctest/doctest.h>

#include <string>

#include "websocket/latin1.hpp"

using namespace sb::ws;

TEST_CASE("every byte value survives the trip through text and back") {
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    std::string text;
    bytes_to_text(all, text);
    // 128 one-byte code points, 128 two-byte ones.
    CHECK(text.size() == 128 + 256);
    CHECK(text.substr(0, 128) == all.substr(0, 128));
    CHECK(text.substr(128, 2) == "\xC2\x80");
    CHECK(text.substr(text.size() - 2) == "\xC3\xBF");
    std::string back;
    CHECK(text_to_bytes(text, back) == 0);
    CHECK(back == all);
}

TEST_CASE("code points without a byte are dropped and counted") {
    std::string out;
    // e acute (U+00E9), euro sign (U+20AC, 3 bytes), a pile of poo (U+1F4A9, 4 bytes)
    CHECK(text_to_bytes("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x92\xA9" "d", out) == 2);
    CHECK(out == "a\xE9" "bcd");
}

TEST_CASE("broken UTF-8 never reads past the end") {
    std::string out;
    CHECK(text_to_bytes("\xC3", out) == 1);
    CHECK(out.empty());
    CHECK(text_to_bytes("\x80\x80x", out) == 1);
    CHECK(out == "x");
}
