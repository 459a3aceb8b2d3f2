#pragma once
// ITU-T G.711 companding, bit-exact with the ITU-T G.191 reference code
// (STL g711.c, ulaw_compress/alaw_compress and the expanders) for all 65536
// inputs and 256 codes. In the familiar Sun g711.c shape:
//   mu-law: bias 0x84, magnitude clipped to 32635, 8 segments, the code
//           inverted (silence is 0xFF; 0x7F is "negative zero");
//   A-law:  13-bit magnitude (sample >> 3), even bits inverted with 0x55
//           (silence is 0xD5 / 0x55).
// Both take a negative sample's magnitude as -x-1 (one's complement), as
// the ITU code does. The 16-bit Sun/Campbell mu-law encoder uses -x
// instead and so differs from the reference on 127 negative inputs that sit
// exactly on a decision level; decoding is identical either way.
// Decoding is a table lookup; encoding is a few shifts, cheap enough that
// nobody needs a 64 KiB table on a tone server whose tone is pre-encoded.
#include <cstddef>
#include <cstdint>
#include <span>

namespace sb::sip {

// The two laws, valued as their static RTP payload types (RFC 3551 table 4)
// so an SDP answer and an RTP header can use the enum directly.
enum class codec : std::uint8_t { pcmu = 0, pcma = 8 };

namespace g711 {

std::uint8_t linear_to_ulaw(std::int16_t sample) noexcept;
std::uint8_t linear_to_alaw(std::int16_t sample) noexcept;
std::int16_t ulaw_to_linear(std::uint8_t code) noexcept;
std::int16_t alaw_to_linear(std::uint8_t code) noexcept;

std::uint8_t encode(codec c, std::int16_t sample) noexcept;
std::int16_t decode(codec c, std::uint8_t code) noexcept;

// Bulk forms: converts min(in.size(), out.size()) samples and returns that
// count, so a short output buffer truncates instead of overrunning.
std::size_t encode(codec c, std::span<const std::int16_t> in, std::span<std::uint8_t> out) noexcept;
std::size_t decode(codec c, std::span<const std::uint8_t> in, std::span<std::int16_t> out) noexcept;

}  // namespace g711
}  // namespace sb::sip
