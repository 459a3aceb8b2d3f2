#include "websocket/minitel_keys.hpp"

namespace sb::ws {

std::optional<key> key_from_byte(unsigned char second) {
    if ((second >= 0x41 && second <= 0x49) || second == 0x59) return static_cast<key>(second);
    return std::nullopt;
}

std::string_view key_name(key k) {
    switch (k) {
    case key::envoi: return "Envoi";
    case key::retour: return "Retour";
    case key::repetition: return "Repetition";
    case key::guide: return "Guide";
    case key::annulation: return "Annulation";
    case key::sommaire: return "Sommaire";
    case key::correction: return "Correction";
    case key::suite: return "Suite";
    case key::connexion_fin: return "Connexion/Fin";
    case key::line_dropped: return "line dropped";
    }
    // Only reachable through a cast of a byte that is not a key.
    return "unknown";
}

}  // namespace sb::ws
