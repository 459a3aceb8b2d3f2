#pragma once
// Finds the Minitel function keys in what a user types, sans-I/O. A key is
// SEP (0x13) and one byte; the two may arrive in different WebSocket frames
// or TCP segments, so a SEP at the end of a piece is held back until the
// next byte decides. `***` typed just before Sommaire is the traditional
// "leave this service" gesture, so the scanner remembers trailing stars.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "websocket/minitel_keys.hpp"

namespace sb::ws {

struct input_event {
    enum class kind : unsigned char { data, key } what = kind::data;
    // data: the bytes; key: SEP and its byte, as typed. A view into the
    // piece given to feed() (or static storage): valid until the next feed.
    std::string_view bytes;
    key k = key::envoi;            // for kind::key
    bool after_stars = false;      // key came right after at least three '*'
};

class key_scanner {
public:
    // Appends the events found in this piece (views into it). Data runs
    // between keys are one event each; SEP followed by a byte that is not a known key stays
    // data (protocol acknowledgements such as SEP 0x54 pass through).
    void feed(std::string_view in, std::vector<input_event>& out);

    // For a piece with no SEP in it while none is held: notes it (for the
    // stars) and returns true; the piece is then plain data, no event
    // needed. Otherwise returns false and changes nothing.
    bool plain(std::string_view in);

    // True while a SEP is held back waiting for its second byte.
    bool holding() const { return held_sep_; }

private:
    void data(std::string_view run, std::vector<input_event>& out);
    void count_stars(std::string_view run);

    bool held_sep_ = false;
    std::size_t stars_ = 0;
};

}  // namespace sb::ws
