#include "sip/g711.hpp"

#include <algorithm>
#include <array>

namespace sb::sip::g711 {

namespace {

constexpr int ulaw_bias = 0x84;
// 32635 + 0x84 = 32767: the largest magnitude that still lands in segment 7,
// so the segment search cannot run off the end.
constexpr int ulaw_clip = 32635;

// First magnitude past each segment, for the (biased) mu-law magnitude and
// the 13-bit A-law magnitude.
constexpr std::array<int, 8> ulaw_segment_end = {0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF};
constexpr std::array<int, 8> alaw_segment_end = {0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF};

constexpr int segment_of(int magnitude, const std::array<int, 8>& ends) {
    int seg = 0;
    while (seg < 8 && magnitude > ends[static_cast<std::size_t>(seg)]) ++seg;
    return seg;
}

constexpr std::uint8_t ulaw_encode(int sample) {
    int mask = 0xFF;
    int magnitude = sample;
    if (sample < 0) {
        // One's complement, as the ITU reference: -x would move 127 inputs
        // that sit exactly on a decision level into the next code.
        magnitude = -sample - 1;
        mask = 0x7F;
    }
    magnitude = std::min(magnitude, ulaw_clip) + ulaw_bias;
    int const seg = segment_of(magnitude, ulaw_segment_end);
    int const code = (seg << 4) | ((magnitude >> (seg + 3)) & 0x0F);
    return static_cast<std::uint8_t>(code ^ mask);
}

constexpr std::int16_t ulaw_decode(std::uint8_t code) {
    int const u = ~code & 0xFF;
    int const t = (((u & 0x0F) << 3) + ulaw_bias) << ((u & 0x70) >> 4);
    return static_cast<std::int16_t>((u & 0x80) ? ulaw_bias - t : t - ulaw_bias);
}

constexpr std::uint8_t alaw_encode(int sample) {
    // Arithmetic shift first, then -x-1 for negatives: the A-law decision
    // levels are symmetric about -0.5 in the 13-bit domain.
    int magnitude = sample >> 3;
    int mask = 0xD5;
    if (magnitude < 0) {
        magnitude = -magnitude - 1;
        mask = 0x55;
    }
    int const seg = segment_of(magnitude, alaw_segment_end);
    if (seg >= 8) return static_cast<std::uint8_t>(0x7F ^ mask);
    int code = seg << 4;
    code |= (seg < 2 ? magnitude >> 1 : magnitude >> seg) & 0x0F;
    return static_cast<std::uint8_t>(code ^ mask);
}

constexpr std::int16_t alaw_decode(std::uint8_t code) {
    int const a = code ^ 0x55;
    int t = (a & 0x0F) << 4;
    int const seg = (a & 0x70) >> 4;
    if (seg == 0) {
        t += 8;
    } else {
        t += 0x108;
        t <<= seg - 1;
    }
    return static_cast<std::int16_t>((a & 0x80) ? t : -t);
}

template <std::int16_t (*f)(std::uint8_t)>
constexpr std::array<std::int16_t, 256> make_table() {
    std::array<std::int16_t, 256> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = f(static_cast<std::uint8_t>(i));
    return t;
}

constexpr auto ulaw_table = make_table<ulaw_decode>();
constexpr auto alaw_table = make_table<alaw_decode>();

// Anchors from the ITU reference code, checked at compile time so a slip
// in the arithmetic cannot reach a call.
static_assert(ulaw_encode(0) == 0xFF && ulaw_encode(-1) == 0x7F);
static_assert(ulaw_encode(32767) == 0x80 && ulaw_encode(-32768) == 0x00);
static_assert(ulaw_table[0x00] == -32124 && ulaw_table[0x80] == 32124 && ulaw_table[0xFF] == 0);
static_assert(alaw_encode(0) == 0xD5 && alaw_encode(-1) == 0x55);
static_assert(alaw_encode(32767) == 0xAA && alaw_encode(-32768) == 0x2A);
static_assert(alaw_table[0xD5] == 8 && alaw_table[0x55] == -8 && alaw_table[0xAA] == 32256);

}  // namespace

std::uint8_t linear_to_ulaw(std::int16_t sample) noexcept { return ulaw_encode(sample); }
std::uint8_t linear_to_alaw(std::int16_t sample) noexcept { return alaw_encode(sample); }
std::int16_t ulaw_to_linear(std::uint8_t code) noexcept { return ulaw_table[code]; }
std::int16_t alaw_to_linear(std::uint8_t code) noexcept { return alaw_table[code]; }

std::uint8_t encode(codec c, std::int16_t sample) noexcept {
    return c == codec::pcma ? alaw_encode(sample) : ulaw_encode(sample);
}

std::int16_t decode(codec c, std::uint8_t code) noexcept {
    return c == codec::pcma ? alaw_table[code] : ulaw_table[code];
}

std::size_t encode(codec c, std::span<const std::int16_t> in, std::span<std::uint8_t> out) noexcept {
    auto const n = std::min(in.size(), out.size());
    for (std::size_t i = 0; i < n; ++i) out[i] = encode(c, in[i]);
    return n;
}

std::size_t decode(codec c, std::span<const std::uint8_t> in, std::span<std::int16_t> out) noexcept {
    auto const n = std::min(in.size(), out.size());
    auto const& table = c == codec::pcma ? alaw_table : ulaw_table;
    for (std::size_t i = 0; i < n; ++i) out[i] = table[in[i]];
    return n;
}

}  // namespace sb::sip::g711
