#pragma once
// Character classes the SIP and SDP parsers share (ASCII only: both
// grammars are defined on octets, whatever the locale).
#include <string_view>

namespace sb::sip::text {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// HT is allowed inside values; every other control character is not, so no
// stored value can carry a line break into something we send.
constexpr bool is_ctl(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

// A plain loop: std::any_of over a function pointer is not inlined, and
// this runs over every byte of every header.
inline bool has_ctl(std::string_view s) noexcept {
    for (char c : s)
        if (is_ctl(c)) return true;
    return false;
}

}  // namespace sb::sip::text
