#pragma once
// Minitel function keys and the videotex control bytes the gateway and the
// embedded server both need. A function key reaches the host as SEP (0x13)
// followed by one byte (STUM 1B, "touches de fonction").
#include <cstdint>
#include <optional>
#include <string_view>

namespace sb::ws {

namespace vtx {
constexpr char sep = 0x13, esc = 0x1b, soh = 0x01, eot = 0x04;
constexpr char bs = 0x08, lf = 0x0a, ff = 0x0c, cr = 0x0d, us = 0x1f, can = 0x18;
constexpr char con = 0x11, coff = 0x14;
}  // namespace vtx

enum class key : std::uint8_t {
    envoi = 0x41,
    retour = 0x42,
    repetition = 0x43,
    guide = 0x44,
    annulation = 0x45,
    sommaire = 0x46,
    correction = 0x47,
    suite = 0x48,
    connexion_fin = 0x49,
    // Sent by the terminal's own module when its line drops (SEP 5/9):
    // some emulators send it for the Connexion/Fin key too.
    line_dropped = 0x59,
};

// The key a SEP-prefixed byte stands for, if it is one we know.
std::optional<key> key_from_byte(unsigned char second);
std::string_view key_name(key k);

}  // namespace sb::ws
