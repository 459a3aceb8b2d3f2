#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sip/g711.hpp"

using namespace sb::sip;

namespace {

// An independent transcription of the ITU-T G.191 STL reference
// (ulaw_compress, alaw_compress and the expanders), kept in the STL's own
// shape so it shares no arithmetic with the code under test.
std::uint8_t stl_ulaw_compress(std::int16_t x) {
    int absno = x < 0 ? ((~x) >> 2) + 33 : (x >> 2) + 33;
    if (absno > 0x1FFF) absno = 0x1FFF;
    int i = absno >> 6;
    int segno = 1;
    while (i != 0) {
        ++segno;
        i >>= 1;
    }
    int const high = 8 - segno;
    int const low = 0xF - ((absno >> segno) & 0xF);
    int y = (high << 4) | low;
    if (x >= 0) y |= 0x80;
    return static_cast<std::uint8_t>(y);
}

std::uint8_t stl_alaw_compress(std::int16_t x) {
    int ix = x < 0 ? (~x) >> 4 : x >> 4;
    if (ix > 15) {
        int iexp = 1;
        while (ix > 16 + 15) {
            ix >>= 1;
            ++iexp;
        }
        ix -= 16;
        ix += iexp << 4;
    }
    if (x >= 0) ix |= 0x80;
    return static_cast<std::uint8_t>(ix ^ 0x55);
}

std::int16_t stl_ulaw_expand(std::uint8_t c) {
    int const sign = c < 0x80 ? -1 : 1;
    int mantissa = ~c;
    int const exponent = (mantissa >> 4) & 7;
    int const segment = exponent + 1;
    mantissa &= 0xF;
    int const step = 4 << segment;
    return static_cast<std::int16_t>(sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33));
}

std::int16_t stl_alaw_expand(std::uint8_t c) {
    int ix = (c ^ 0x55) & 0x7F;
    int const iexp = ix >> 4;
    int mant = ix & 0xF;
    if (iexp > 0) mant += 16;
    mant = (mant << 4) + 8;
    if (iexp > 1) mant <<= iexp - 1;
    return static_cast<std::int16_t>(c > 127 ? mant : -mant);
}

}  // namespace

TEST_CASE("g711: codec values are the RFC 3551 static payload types") {
    CHECK(static_cast<int>(codec::pcmu) == 0);
    CHECK(static_cast<int>(codec::pcma) == 8);
}

TEST_CASE("g711: mu-law reference pairs") {
    // Silence, the smallest magnitudes, the clip points and both ends.
    CHECK(g711::linear_to_ulaw(0) == 0xFF);
    CHECK(g711::linear_to_ulaw(-1) == 0x7F);
    CHECK(g711::linear_to_ulaw(1) == 0xFF);
    CHECK(g711::linear_to_ulaw(32767) == 0x80);
    CHECK(g711::linear_to_ulaw(-32768) == 0x00);
    CHECK(g711::linear_to_ulaw(32124) == 0x80);
    CHECK(g711::linear_to_ulaw(-32124) == 0x00);
    CHECK(g711::linear_to_ulaw(1000) == 0xCE);
    CHECK(g711::linear_to_ulaw(-1000) == 0x4E);
    // The first decision level above zero: 0..3 stay silent, 4 moves up;
    // negatives are taken as -x-1, so -4 is still negative zero.
    CHECK(g711::linear_to_ulaw(3) == 0xFF);
    CHECK(g711::linear_to_ulaw(4) == 0xFE);
    CHECK(g711::linear_to_ulaw(-4) == 0x7F);
    CHECK(g711::linear_to_ulaw(-5) == 0x7E);

    // Decoder table anchors (the classic 256-entry table).
    CHECK(g711::ulaw_to_linear(0x00) == -32124);
    CHECK(g711::ulaw_to_linear(0x01) == -31100);
    CHECK(g711::ulaw_to_linear(0x02) == -30076);
    CHECK(g711::ulaw_to_linear(0x10) == -15996);
    CHECK(g711::ulaw_to_linear(0x20) == -7932);
    CHECK(g711::ulaw_to_linear(0x30) == -3900);
    CHECK(g711::ulaw_to_linear(0x7E) == -8);
    CHECK(g711::ulaw_to_linear(0x7F) == 0);
    CHECK(g711::ulaw_to_linear(0x80) == 32124);
    CHECK(g711::ulaw_to_linear(0xCE) == 988);
    CHECK(g711::ulaw_to_linear(0xFE) == 8);
    CHECK(g711::ulaw_to_linear(0xFF) == 0);
}

TEST_CASE("g711: A-law reference pairs") {
    CHECK(g711::linear_to_alaw(0) == 0xD5);
    CHECK(g711::linear_to_alaw(-1) == 0x55);
    CHECK(g711::linear_to_alaw(15) == 0xD5);
    CHECK(g711::linear_to_alaw(16) == 0xD4);
    CHECK(g711::linear_to_alaw(-16) == 0x55);
    CHECK(g711::linear_to_alaw(-17) == 0x54);
    CHECK(g711::linear_to_alaw(32767) == 0xAA);
    CHECK(g711::linear_to_alaw(-32768) == 0x2A);
    CHECK(g711::linear_to_alaw(1000) == 0xFA);
    CHECK(g711::linear_to_alaw(-1000) == 0x7A);

    CHECK(g711::alaw_to_linear(0xD5) == 8);
    CHECK(g711::alaw_to_linear(0x55) == -8);
    CHECK(g711::alaw_to_linear(0xD4) == 24);
    CHECK(g711::alaw_to_linear(0x00) == -5504);
    CHECK(g711::alaw_to_linear(0x80) == 5504);
    CHECK(g711::alaw_to_linear(0x01) == -5248);
    CHECK(g711::alaw_to_linear(0x02) == -6016);
    CHECK(g711::alaw_to_linear(0xFA) == 1008);
    CHECK(g711::alaw_to_linear(0xAA) == 32256);
    CHECK(g711::alaw_to_linear(0x2A) == -32256);
}

TEST_CASE("g711: bit-exact with the ITU-T G.191 reference for every input and code") {
    int ulaw_mismatch = 0, alaw_mismatch = 0;
    for (int x = -32768; x <= 32767; ++x) {
        auto const s = static_cast<std::int16_t>(x);
        if (g711::linear_to_ulaw(s) != stl_ulaw_compress(s)) ++ulaw_mismatch;
        if (g711::linear_to_alaw(s) != stl_alaw_compress(s)) ++alaw_mismatch;
    }
    CHECK(ulaw_mismatch == 0);
    CHECK(alaw_mismatch == 0);
    for (int c = 0; c < 256; ++c) {
        auto const code = static_cast<std::uint8_t>(c);
        CAPTURE(c);
        CHECK(g711::ulaw_to_linear(code) == stl_ulaw_expand(code));
        CHECK(g711::alaw_to_linear(code) == stl_alaw_expand(code));
    }
}

TEST_CASE("g711: encode(decode(c)) == c for all 256 codes") {
    for (int c = 0; c < 256; ++c) {
        auto const code = static_cast<std::uint8_t>(c);
        CAPTURE(c);
        // 0x7F is mu-law's negative zero: it decodes to 0, which encodes as
        // the positive zero 0xFF. A-law has no such pair (0x55 is -8).
        auto const expected_ulaw = code == 0x7F ? std::uint8_t{0xFF} : code;
        CHECK(g711::linear_to_ulaw(g711::ulaw_to_linear(code)) == expected_ulaw);
        CHECK(g711::linear_to_alaw(g711::alaw_to_linear(code)) == code);
    }
}

TEST_CASE("g711: decoding is monotonic in the code's magnitude and symmetric in sign") {
    // mu-law: 0x00..0x7F climb from -32124 to 0, 0xFF..0x80 from 0 to 32124.
    for (int c = 0; c < 0x7F; ++c) {
        CAPTURE(c);
        CHECK(g711::ulaw_to_linear(static_cast<std::uint8_t>(c)) <
              g711::ulaw_to_linear(static_cast<std::uint8_t>(c + 1)));
        CHECK(g711::ulaw_to_linear(static_cast<std::uint8_t>(0x80 + c)) >
              g711::ulaw_to_linear(static_cast<std::uint8_t>(0x80 + c + 1)));
    }
    // A-law: the magnitude is the code with its even bits restored.
    for (int m = 0; m < 0x7F; ++m) {
        CAPTURE(m);
        auto const pos = [](int mag) { return static_cast<std::uint8_t>((0x80 | mag) ^ 0x55); };
        CHECK(g711::alaw_to_linear(pos(m)) < g711::alaw_to_linear(pos(m + 1)));
    }
    for (int c = 0; c < 128; ++c) {
        CAPTURE(c);
        CHECK(g711::ulaw_to_linear(static_cast<std::uint8_t>(c)) ==
              -g711::ulaw_to_linear(static_cast<std::uint8_t>(c | 0x80)));
        CHECK(g711::alaw_to_linear(static_cast<std::uint8_t>(c)) ==
              -g711::alaw_to_linear(static_cast<std::uint8_t>(c | 0x80)));
    }
}

TEST_CASE("g711: encoding is monotonic and within one step of the input") {
    for (auto c : {codec::pcmu, codec::pcma}) {
        CAPTURE(static_cast<int>(c));
        int previous = -32768;
        int worst = 0;
        bool monotonic = true;
        for (int x = -32768; x <= 32767; ++x) {
            int const y = g711::decode(c, g711::encode(c, static_cast<std::int16_t>(x)));
            if (y < previous) monotonic = false;
            previous = y;
            // Relative to the segment step: 1/16 of the magnitude, at least
            // the smallest step, plus the clipping at the top.
            int const err = std::abs(y - x);
            int const allowed = std::max(16, std::abs(x) / 16) + (std::abs(x) > 32124 ? 644 : 0);
            if (err > allowed) ++worst;
        }
        CHECK(monotonic);
        CHECK(worst == 0);
    }
}

TEST_CASE("g711: bulk conversion follows the shorter span") {
    std::array<std::int16_t, 4> const in = {0, -1, 1000, -32768};
    std::array<std::uint8_t, 3> out{};
    CHECK(g711::encode(codec::pcmu, in, out) == 3);
    CHECK(out == std::array<std::uint8_t, 3>{0xFF, 0x7F, 0xCE});
    std::array<std::uint8_t, 4> wide{};
    CHECK(g711::encode(codec::pcma, in, wide) == 4);
    CHECK(wide == std::array<std::uint8_t, 4>{0xD5, 0x55, 0xFA, 0x2A});

    std::array<std::int16_t, 2> back{};
    CHECK(g711::decode(codec::pcma, wide, back) == 2);
    CHECK(back == std::array<std::int16_t, 2>{8, -8});
    CHECK(g711::decode(codec::pcmu, std::span<const std::uint8_t>{}, back) == 0);
    CHECK(g711::encode(codec::pcmu, in, std::span<std::uint8_t>{}) == 0);
}
