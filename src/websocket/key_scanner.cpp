#include "websocket/key_scanner.hpp"

#include <array>
#include <cstring>

namespace sb::ws {

// Only the stars at the end of the run matter.
void key_scanner::count_stars(std::string_view run) {
    const auto last = run.find_last_not_of('*');
    stars_ = last == std::string_view::npos ? stars_ + run.size() : run.size() - last - 1;
}

bool key_scanner::plain(std::string_view in) {
    if (held_sep_ || std::memchr(in.data(), vtx::sep, in.size())) return false;
    count_stars(in);
    return true;
}

// Runs are views into the piece; one that continues the previous data run
// in memory (a SEP that was no key, then what follows) extends it, so bulk
// input with stray SEPs stays a few events and no copies.
void key_scanner::data(std::string_view run, std::vector<input_event>& out) {
    if (run.empty()) return;
    count_stars(run);
    if (!out.empty() && out.back().what == input_event::kind::data &&
        out.back().bytes.data() + out.back().bytes.size() == run.data())
        out.back().bytes = std::string_view(out.back().bytes.data(), out.back().bytes.size() + run.size());
    else
        out.push_back({input_event::kind::data, run, key::envoi, false});
}

namespace {

// SEP and a key byte, for a key whose two bytes came in different pieces.
std::string_view key_bytes(unsigned char second) {
    static const auto table = [] {
        std::array<char, 512> t{};
        for (unsigned b = 0; b < 256; ++b) {
            t[2 * b] = vtx::sep;
            t[2 * b + 1] = static_cast<char>(b);
        }
        return t;
    }();
    return {table.data() + 2 * second, 2};
}

}  // namespace

void key_scanner::feed(std::string_view in, std::vector<input_event>& out) {
    std::size_t i = 0;
    if (held_sep_ && !in.empty()) {
        held_sep_ = false;
        // Re-scan as if the SEP had come with this piece.
        const auto second = static_cast<unsigned char>(in[0]);
        if (auto k = key_from_byte(second)) {
            out.push_back({input_event::kind::key, key_bytes(second), *k, stars_ >= 3});
            stars_ = 0;
            i = 1;
        } else {
            data(std::string_view(&vtx::sep, 1), out);
        }
    }
    while (i < in.size()) {
        const void* hit = std::memchr(in.data() + i, vtx::sep, in.size() - i);
        const std::size_t at = hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - in.data()) : in.size();
        data(in.substr(i, at - i), out);
        if (at == in.size()) break;
        if (at + 1 == in.size()) {
            held_sep_ = true;
            break;
        }
        const auto second = static_cast<unsigned char>(in[at + 1]);
        if (auto k = key_from_byte(second)) {
            out.push_back({input_event::kind::key, in.substr(at, 2), *k, stars_ >= 3});
            stars_ = 0;
            i = at + 2;
        } else {
            // Not a key: the SEP is data, the next byte is scanned as usual
            // (it may itself be a SEP).
            data(in.substr(at, 1), out);
            i = at + 1;
        }
    }
}

}  // namespace sb::ws
