#include "websocket/key_scanner.hpp"

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

void key_scanner::data(std::string_view run, std::vector<input_event>& out) {
    if (run.empty()) return;
    count_stars(run);
    if (!out.empty() && out.back().what == input_event::kind::data) out.back().bytes.append(run);
    else out.push_back({input_event::kind::data, std::string(run), key::envoi, false});
}

void key_scanner::feed(std::string_view in, std::vector<input_event>& out) {
    std::size_t i = 0;
    if (held_sep_ && !in.empty()) {
        held_sep_ = false;
        // Re-scan as if the SEP had come with this piece.
        const auto second = static_cast<unsigned char>(in[0]);
        if (auto k = key_from_byte(second)) {
            out.push_back({input_event::kind::key, std::string{vtx::sep, in[0]}, *k, stars_ >= 3});
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
            out.push_back({input_event::kind::key, std::string(in.substr(at, 2)), *k, stars_ >= 3});
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
