#pragma once
// The GSM 7-bit default alphabet (3GPP TS 23.038 6.2.1) with its extension
// table (6.2.1.1: ESC 0x1B + a septet for ^ { } \ [ ~ ] | € and form feed),
// septet packing (6.1.2.1.1) with a fill-bit offset so user data can start
// after a User Data Header, and the strict UTF-8 both sides of it need.
//
// Everything here runs on text from HTTP clients and on septets from the air:
// no exceptions, no reads past a span, invalid input is a false / nullopt.
// National language shift tables (23.038 6.2.1.2.4) are not supported: text
// that needs them goes out as UCS2 instead.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sms {

inline constexpr std::uint8_t gsm7_escape = 0x1B;

// How one character is sent: a septet of the default table, or ESC + a septet
// of the extension table (two septets on the air).
struct gsm7_code {
    std::uint8_t septet = 0;
    bool extended = false;
    std::size_t size() const noexcept { return extended ? 2 : 1; }
};

std::optional<gsm7_code> gsm7_lookup(char32_t c) noexcept;

// True when every character has a GSM7 code. Invalid UTF-8 is not encodable.
bool gsm7_encodable(std::u32string_view text) noexcept;
bool gsm7_encodable(std::string_view utf8) noexcept;

// Septets the text takes (extension characters count 2), or nullopt when a
// character is not encodable (or the UTF-8 is invalid).
std::optional<std::size_t> gsm7_septet_count(std::u32string_view text) noexcept;
std::optional<std::size_t> gsm7_septet_count(std::string_view utf8) noexcept;

// UTF-8 to unpacked septets (one per byte, ESC sequences included); false
// and `out` unspecified when the text is not encodable. Appends to `out`.
bool utf8_to_gsm7(std::string_view utf8, std::vector<std::uint8_t>& out);

// Unpacked septets to UTF-8. Never fails: what 23.038 says a receiver shows
// stands in for codes without a character (ESC + an unassigned septet is the
// default-table character, ESC ESC a space), a trailing lone ESC is dropped
// and bit 7 of each byte is ignored.
std::string gsm7_to_utf8(std::span<const std::uint8_t> septets);

// Packs septets LSB first (23.038 6.1.2.1.1) after `fill_bits` (0-6) zero
// bits, the padding that puts the first septet on a septet boundary after a
// UDH. Appends ceil((fill_bits + 7 * n) / 8) octets to `out`.
void pack_septets(std::span<const std::uint8_t> septets, unsigned fill_bits, std::vector<std::uint8_t>& out);

// Octets needed to hold `count` septets after `fill_bits` bits.
constexpr std::size_t packed_size(std::size_t count, unsigned fill_bits) noexcept {
    return (fill_bits + 7 * count + 7) / 8;
}

// The inverse: `count` septets starting `fill_bits` into `octets`. False
// (and nothing appended) when `octets` is too short or fill_bits > 6.
bool unpack_septets(std::span<const std::uint8_t> octets, std::size_t count, unsigned fill_bits,
                    std::vector<std::uint8_t>& out);

// ----- UTF-8 -----

// Strict RFC 3629 decoding: overlong forms, surrogates, code points past
// U+10FFFF and truncated sequences are errors. Appends to `out`.
bool utf8_decode(std::string_view utf8, std::u32string& out);
// Appends one code point; surrogates and values past U+10FFFF become U+FFFD.
void utf8_append(std::string& out, char32_t c);

}  // namespace sb::sms
