#pragma once
// Minitel emulators in browsers (MiEdit and its descendants) exchange
// videotex as WebSocket *text*: one character per byte, so bytes 0x80-0xFF
// travel as U+0080-U+00FF (two bytes of UTF-8 each). These convert between
// that form and raw bytes.
#include <cstddef>
#include <string>
#include <string_view>

namespace sb::ws {

// True when every byte is below 0x80: the text form is the bytes as they are.
bool is_ascii(std::string_view bytes);

// Raw bytes to the UTF-8 of the code points U+0000-U+00FF, appended.
void bytes_to_text(std::string_view bytes, std::string& utf8);

// UTF-8 (already validated: Beast checks text frames) back to bytes,
// appended. A code point above U+00FF has no byte: it is dropped and
// counted in the return value.
std::size_t text_to_bytes(std::string_view utf8, std::string& bytes);

}  // namespace sb::ws
