#include "sms/gsm7.hpp"

#include <array>
#include <utility>

namespace sb::sms {

namespace {

// 23.038 6.2.1. 0x1B is the escape to the extension table, not a character:
// it is mapped to U+00A0 here only to keep the table dense, and the lookup
// below never encodes it.
constexpr std::array<char32_t, 128> default_table = {
    U'@',    U'\u00A3', U'$',    U'\u00A5', U'\u00E8', U'\u00E9', U'\u00F9', U'\u00EC',
    U'\u00F2', U'\u00C7', U'\n', U'\u00D8', U'\u00F8', U'\r',   U'\u00C5', U'\u00E5',
    U'\u0394', U'_',    U'\u03A6', U'\u0393', U'\u039B', U'\u03A9', U'\u03A0', U'\u03A8',
    U'\u03A3', U'\u0398', U'\u039E', U'\u00A0', U'\u00C6', U'\u00E6', U'\u00DF', U'\u00C9',
    U' ',    U'!',    U'"',    U'#',    U'\u00A4', U'%',    U'&',    U'\'',
    U'(',    U')',    U'*',    U'+',    U',',    U'-',    U'.',    U'/',
    U'0',    U'1',    U'2',    U'3',    U'4',    U'5',    U'6',    U'7',
    U'8',    U'9',    U':',    U';',    U'<',    U'=',    U'>',    U'?',
    U'\u00A1', U'A',  U'B',    U'C',    U'D',    U'E',    U'F',    U'G',
    U'H',    U'I',    U'J',    U'K',    U'L',    U'M',    U'N',    U'O',
    U'P',    U'Q',    U'R',    U'S',    U'T',    U'U',    U'V',    U'W',
    U'X',    U'Y',    U'Z',    U'\u00C4', U'\u00D6', U'\u00D1', U'\u00DC', U'\u00A7',
    U'\u00BF', U'a',  U'b',    U'c',    U'd',    U'e',    U'f',    U'g',
    U'h',    U'i',    U'j',    U'k',    U'l',    U'm',    U'n',    U'o',
    U'p',    U'q',    U'r',    U's',    U't',    U'u',    U'v',    U'w',
    U'x',    U'y',    U'z',    U'\u00E4', U'\u00F6', U'\u00F1', U'\u00FC', U'\u00E0',
};

// 23.038 6.2.1.1. 0x0D (page break) has no Unicode counterpart; a receiver
// shows it as the default-table CR, which is what gsm7_to_utf8 does.
constexpr std::array<std::pair<std::uint8_t, char32_t>, 10> extension_table = {{
    {0x0A, U'\f'},
    {0x14, U'^'},
    {0x28, U'{'},
    {0x29, U'}'},
    {0x2F, U'\\'},
    {0x3C, U'['},
    {0x3D, U'~'},
    {0x3E, U']'},
    {0x40, U'|'},
    {0x65, U'\u20AC'},
}};

// Reverse of the default table for the first 256 code points (where all but
// the Greek capitals live): 0xFF = no code. Built at compile time so a lookup
// is one load instead of a 128-entry scan per character.
constexpr std::array<std::uint8_t, 256> make_latin_index() {
    std::array<std::uint8_t, 256> index{};
    for (auto& v : index) v = 0xFF;
    for (std::size_t i = 0; i < default_table.size(); ++i)
        if (i != gsm7_escape && default_table[i] < 256) index[default_table[i]] = static_cast<std::uint8_t>(i);
    return index;
}
constexpr auto latin_index = make_latin_index();

// One code point at `pos`: its length in bytes, 0 when invalid (RFC 3629:
// no overlong forms, no surrogates, nothing past U+10FFFF, no truncation).
std::size_t decode_one(std::string_view s, std::size_t pos, char32_t& c) noexcept {
    auto const b0 = static_cast<unsigned char>(s[pos]);
    if (b0 < 0x80) {
        c = b0;
        return 1;
    }
    std::size_t len;
    char32_t min;
    if (b0 >= 0xC2 && b0 <= 0xDF) { len = 2; c = b0 & 0x1Fu; min = 0x80; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { len = 3; c = b0 & 0x0Fu; min = 0x800; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { len = 4; c = b0 & 0x07u; min = 0x10000; }
    else return 0;  // a continuation byte, a C0/C1 overlong lead, or F5 and up
    if (s.size() - pos < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        auto const b = static_cast<unsigned char>(s[pos + k]);
        if ((b & 0xC0) != 0x80) return 0;
        c = (c << 6) | (b & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return len;
}

}  // namespace

std::optional<gsm7_code> gsm7_lookup(char32_t c) noexcept {
    if (c < 256) {
        if (latin_index[c] != 0xFF) return gsm7_code{latin_index[c], false};
    } else if (c >= 0x0393 && c <= 0x03A9) {
        for (std::uint8_t i = 0x10; i <= 0x1A; ++i)
            if (default_table[i] == c) return gsm7_code{i, false};
    }
    for (auto const& [septet, ch] : extension_table)
        if (ch == c) return gsm7_code{septet, true};
    return std::nullopt;
}

std::optional<std::size_t> gsm7_septet_count(std::u32string_view text) noexcept {
    std::size_t n = 0;
    for (char32_t c : text) {
        auto const code = gsm7_lookup(c);
        if (!code) return std::nullopt;
        n += code->size();
    }
    return n;
}

std::optional<std::size_t> gsm7_septet_count(std::string_view utf8) noexcept {
    std::size_t n = 0;
    std::size_t pos = 0;
    while (pos < utf8.size()) {
        char32_t c = 0;
        auto const len = decode_one(utf8, pos, c);
        if (len == 0) return std::nullopt;
        auto const code = gsm7_lookup(c);
        if (!code) return std::nullopt;
        n += code->size();
        pos += len;
    }
    return n;
}

bool gsm7_encodable(std::u32string_view text) noexcept { return gsm7_septet_count(text).has_value(); }
bool gsm7_encodable(std::string_view utf8) noexcept { return gsm7_septet_count(utf8).has_value(); }

bool utf8_to_gsm7(std::string_view utf8, std::vector<std::uint8_t>& out) {
    std::u32string text;
    if (!utf8_decode(utf8, text)) return false;
    for (char32_t c : text) {
        auto const code = gsm7_lookup(c);
        if (!code) return false;
        if (code->extended) out.push_back(gsm7_escape);
        out.push_back(code->septet);
    }
    return true;
}

std::string gsm7_to_utf8(std::span<const std::uint8_t> septets) {
    std::string out;
    out.reserve(septets.size());
    for (std::size_t i = 0; i < septets.size(); ++i) {
        auto const s = static_cast<std::uint8_t>(septets[i] & 0x7F);
        if (s != gsm7_escape) {
            utf8_append(out, default_table[s]);
            continue;
        }
        if (i + 1 == septets.size()) break;
        auto const e = static_cast<std::uint8_t>(septets[++i] & 0x7F);
        // 23.038 6.2.1.1: ESC ESC is reserved for a further table and shown
        // as a space; other unassigned codes fall back to the default table.
        if (e == gsm7_escape) {
            out += ' ';
            continue;
        }
        char32_t c = default_table[e];
        for (auto const& [septet, ch] : extension_table)
            if (septet == e) c = ch;
        utf8_append(out, c);
    }
    return out;
}

void pack_septets(std::span<const std::uint8_t> septets, unsigned fill_bits, std::vector<std::uint8_t>& out) {
    fill_bits %= 8;
    std::size_t const first = out.size();
    out.resize(first + packed_size(septets.size(), fill_bits), 0);
    std::size_t bit = fill_bits;
    for (auto s : septets) {
        unsigned const v = s & 0x7Fu;
        std::size_t const byte = first + bit / 8;
        unsigned const shift = bit % 8;
        out[byte] = static_cast<std::uint8_t>(out[byte] | (v << shift));
        if (shift > 1) out[byte + 1] = static_cast<std::uint8_t>(out[byte + 1] | (v >> (8 - shift)));
        bit += 7;
    }
}

bool unpack_septets(std::span<const std::uint8_t> octets, std::size_t count, unsigned fill_bits,
                    std::vector<std::uint8_t>& out) {
    if (fill_bits > 6 || count > octets.size() * 8 / 7 + 1) return false;
    if (packed_size(count, fill_bits) > octets.size()) return false;
    out.reserve(out.size() + count);
    std::size_t bit = fill_bits;
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t const byte = bit / 8;
        unsigned const shift = bit % 8;
        unsigned v = static_cast<unsigned>(octets[byte]) >> shift;
        if (shift > 1) v |= static_cast<unsigned>(octets[byte + 1]) << (8 - shift);
        out.push_back(static_cast<std::uint8_t>(v & 0x7F));
        bit += 7;
    }
    return true;
}

bool utf8_decode(std::string_view utf8, std::u32string& out) {
    std::size_t pos = 0;
    while (pos < utf8.size()) {
        char32_t c = 0;
        auto const len = decode_one(utf8, pos, c);
        if (len == 0) return false;
        out.push_back(c);
        pos += len;
    }
    return true;
}

void utf8_append(std::string& out, char32_t c) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

}  // namespace sb::sms
