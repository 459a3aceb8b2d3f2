#include "websocket/latin1.hpp"

#include <cstdint>
#include <cstring>

namespace sb::ws {

namespace {

// Videotex is 7-bit: almost everything is ASCII, which is the same in both
// forms. The length of the ASCII run at the start, eight bytes at a time.
std::size_t ascii_run(std::string_view s) {
    std::size_t i = 0;
    // 32 bytes per step, OR-ed together: the compiler vectorises this.
    for (; i + 32 <= s.size(); i += 32) {
        std::uint64_t w[4];
        std::memcpy(w, s.data() + i, 32);
        if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull) break;
    }
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if (w & 0x8080808080808080ull) break;
    }
    while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
    return i;
}

}  // namespace

bool is_ascii(std::string_view bytes) { return ascii_run(bytes) == bytes.size(); }

void bytes_to_text(std::string_view bytes, std::string& utf8) {
    utf8.reserve(utf8.size() + bytes.size() + bytes.size() / 8);
    for (std::size_t i = 0; i < bytes.size();) {
        const auto run = ascii_run(bytes.substr(i));
        utf8.append(bytes.data() + i, run);
        i += run;
        if (i == bytes.size()) break;
        const auto b = static_cast<unsigned char>(bytes[i++]);
        utf8 += static_cast<char>(0xC0 | (b >> 6));
        utf8 += static_cast<char>(0x80 | (b & 0x3F));
    }
}

std::size_t text_to_bytes(std::string_view utf8, std::string& bytes) {
    std::size_t dropped = 0;
    bytes.reserve(bytes.size() + utf8.size());
    for (std::size_t i = 0; i < utf8.size();) {
        const auto b = static_cast<unsigned char>(utf8[i]);
        if (b < 0x80) {
            const auto run = ascii_run(utf8.substr(i));
            bytes.append(utf8.data() + i, run);
            i += run;
        } else if ((b & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
            const unsigned cp = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
            if (cp <= 0xFF) bytes += static_cast<char>(cp);
            else ++dropped;
            i += 2;
        } else {
            // A longer sequence (or a stray byte, if the input was not
            // validated after all): skip the lead and its continuations.
            ++dropped;
            ++i;
            while (i < utf8.size() && (static_cast<unsigned char>(utf8[i]) & 0xC0) == 0x80) ++i;
        }
    }
    return dropped;
}

}  // namespace sb::ws
