#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "websocket/key_scanner.hpp"

using namespace sb::ws;

namespace {

// Events flattened to text: data as is, keys as <Name> (<*Name> after ***).
std::string render(const std::vector<input_event>& evs) {
    std::string out;
    for (auto& e : evs) {
        if (e.what == input_event::kind::data) out += e.bytes;
        else out += std::string("<") + (e.after_stars ? "*" : "") + std::string(key_name(e.k)) + ">";
    }
    return out;
}

std::string scan_whole(std::string_view in) {
    key_scanner s;
    std::vector<input_event> evs;
    s.feed(in, evs);
    return render(evs);
}

// The same input cut once at every position, and byte by byte.
void check_every_split(std::string_view in, const std::string& expected) {
    CHECK(scan_whole(in) == expected);
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        key_scanner s;
        std::vector<input_event> evs;
        s.feed(in.substr(0, cut), evs);
        s.feed(in.substr(cut), evs);
        CAPTURE(cut);
        CHECK(render(evs) == expected);
    }
    // Byte by byte, each piece a view into the input (events are views).
    key_scanner s;
    std::vector<input_event> evs;
    for (std::size_t i = 0; i < in.size(); ++i) s.feed(in.substr(i, 1), evs);
    CHECK(render(evs) == expected);
}

}  // namespace

TEST_CASE("all nine function keys and the line drop are recognised") {
    check_every_split("\x13\x41\x13\x42\x13\x43\x13\x44\x13\x45\x13\x46\x13\x47\x13\x48\x13\x49\x13\x59",
                      "<Envoi><Retour><Repetition><Guide><Annulation><Sommaire><Correction><Suite>"
                      "<Connexion/Fin><line dropped>");
}

TEST_CASE("keys between typed text keep the text around them") {
    check_every_split("3615 ULLA\x13\x41" "abc", "3615 ULLA<Envoi>abc");
}

TEST_CASE("*** then Sommaire is marked, fewer stars or other bytes between are not") {
    check_every_split("***\x13\x46", "***<*Sommaire>");
    check_every_split("abc****\x13\x46", "abc****<*Sommaire>");
    check_every_split("**\x13\x46", "**<Sommaire>");
    check_every_split("***x\x13\x46", "***x<Sommaire>");
    // A key in between resets the count.
    check_every_split("***\x13\x41\x13\x46", "***<*Envoi><Sommaire>");
}

TEST_CASE("SEP with an unknown second byte, and SEP SEP, stay data") {
    check_every_split("\x13\x54", "\x13\x54");
    check_every_split("\x13\x13\x41", "\x13<Envoi>");
    check_every_split("\x13\x13\x13\x49", "\x13\x13<Connexion/Fin>");
}

TEST_CASE("a SEP at the end of a piece waits for the next byte") {
    key_scanner s;
    std::vector<input_event> evs;
    s.feed("ab\x13", evs);
    CHECK(render(evs) == "ab");
    CHECK(s.holding());
    s.feed("", evs);
    CHECK(s.holding());
    s.feed("\x49", evs);
    CHECK(render(evs) == "ab<Connexion/Fin>");
    CHECK_FALSE(s.holding());
}

TEST_CASE("text around SEPs that are no keys is one event, a view into the piece") {
    key_scanner s;
    std::vector<input_event> evs;
    const std::string piece = "hel\x13\x54lo";
    s.feed(piece, evs);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].bytes == piece);
    CHECK(evs[0].bytes.data() == piece.data());
    // A new piece is a new event (views cannot span two pieces).
    s.feed(" world", evs);
    REQUIRE(evs.size() == 2);
    CHECK(evs[1].bytes == " world");
}
