#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "websocket/minitel_keys.hpp"
#include "websocket/page_tree.hpp"
#include "websocket/videotex_server.hpp"

using namespace sb::ws;
using outcome = videotex_server::outcome;

namespace {

// US row col: cursor to row, col (row 0 is the status row).
std::string at(int row, int col) { return {'\x1f', static_cast<char>(0x40 + row), static_cast<char>(0x40 + col)}; }
// How a page is drawn: FF, its bytes, the cursor at the input, cursor on.
std::string drawn(std::string_view bytes, int row = 24, int col = 1) {
    std::string r(1, '\x0c');
    return r.append(bytes).append(at(row, col)).append(1, '\x11');
}
// After a message on row 0 the next draw clears it first.
std::string drawn_clearing(std::string_view bytes, int row = 24, int col = 1) {
    std::string r(1, '\x0c');
    return r.append(at(0, 1)).append("\x18\x0a").append(drawn(bytes, row, col).substr(1));
}
std::string status(std::string_view text) { return at(0, 1) + std::string(text) + "\x18\x0a"; }

const std::string ini =
    "[service]\n"
    "start = welcome\n"
    "[page welcome]\n"
    "file = w.vdt\n"
    "suite = menu\n"
    "sommaire = menu\n"
    "[page menu]\n"
    "file = m.vdt\n"
    "input = 20,10\n"
    "choice.1 = news\n"
    "choice.meteo = dir\n"
    "guide = help\n"
    "retour = welcome\n"
    "timeout = 20s\n"
    "timeout_page = welcome\n"
    "[page news]\n"
    "files = n1.vdt, n2.vdt, n3.vdt\n"
    "suite = menu\n"
    "[page help]\n"
    "file = h.vdt\n"
    "envoi = menu\n"
    "repetition = welcome\n"
    "[page dir]\n"
    "type = directory\n"
    "file = d.vdt\n"
    "list = 3,4\n"
    "sommaire = menu\n";

const std::map<std::string, std::string> files{
    {"w.vdt", "WELCOME"}, {"m.vdt", "MENU"}, {"n1.vdt", "N1"}, {"n2.vdt", "N2"},
    {"n3.vdt", "N3"},     {"h.vdt", "HELP"}, {"d.vdt", "DIR"},
};

std::shared_ptr<const page_tree> tree_of(const std::string& text, std::map<std::string, std::string> contents) {
    return std::make_shared<const page_tree>(parse_page_tree(
        text, "test.ini", [&](const std::string& path, std::string& error) -> std::optional<std::string> {
            auto const it = contents.find(path);
            if (it == contents.end()) {
                error = "No such file or directory";
                return std::nullopt;
            }
            return it->second;
        }));
}

const std::vector<directory_line> listing{
    {"3615 TEST", "Test server"},
    {"3615 ULLA", "Messagerie"},
    {"METEO", "La meteo"},
};

// A server on the test tree, started, its start output dropped.
struct fixture {
    videotex_server server{tree_of(ini, files), listing};
    std::string out;
    fixture() { server.start(out); out.clear(); }
    std::string key(key k) {
        out.clear();
        auto const r = server.on_key(k, out);
        CHECK(r == outcome::stay);
        return out;
    }
    std::string type(std::string_view text) {
        out.clear();
        server.on_data(text, out);
        return out;
    }
    // Types a choice then Envoi: the output of the Envoi.
    std::string choose(std::string_view text) {
        type(text);
        return key(key::envoi);
    }
};

}  // namespace

TEST_CASE("SEP keys and their names") {
    CHECK(key_from_byte(0x41) == key::envoi);
    CHECK(key_from_byte(0x49) == key::connexion_fin);
    CHECK(key_from_byte(0x59) == key::line_dropped);
    CHECK_FALSE(key_from_byte(0x40));
    CHECK_FALSE(key_from_byte(0x4a));
    CHECK_FALSE(key_from_byte(0x58));
    CHECK_FALSE(key_from_byte(0xc1));
    int known = 0;
    for (int b = 0; b < 256; ++b) known += key_from_byte(static_cast<unsigned char>(b)) ? 1 : 0;
    CHECK(known == 10);
    CHECK(key_name(key::envoi) == "Envoi");
    CHECK(key_name(key::retour) == "Retour");
    CHECK(key_name(key::repetition) == "Repetition");
    CHECK(key_name(key::guide) == "Guide");
    CHECK(key_name(key::annulation) == "Annulation");
    CHECK(key_name(key::sommaire) == "Sommaire");
    CHECK(key_name(key::correction) == "Correction");
    CHECK(key_name(key::suite) == "Suite");
    CHECK(key_name(key::connexion_fin) == "Connexion/Fin");
    CHECK(key_name(key::line_dropped) == "line dropped");
}

TEST_CASE("start draws the start page, byte for byte") {
    videotex_server s(tree_of(ini, files), {});
    std::string out;
    s.start(out);
    CHECK(out == "\x0c" "WELCOME" "\x1f\x58\x41" "\x11");
    CHECK(s.current_page() == "welcome");
    CHECK(s.typed().empty());
    CHECK_FALSE(s.timeout());
}

TEST_CASE("the demo tree: welcome page with its input field") {
    auto const root = std::filesystem::path(SB_SOURCE_DIR) / "conf/minitel/service.ini";
    videotex_server s(std::make_shared<const page_tree>(load_page_tree(root)), listing);
    std::ifstream f(root.parent_path() / "welcome.vdt", std::ios::binary);
    std::string const welcome((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string out;
    s.start(out);
    CHECK(out == drawn(welcome, 13, 10));
    out.clear();
    CHECK(s.on_key(key::envoi, out) == outcome::stay);
    CHECK(s.current_page() == "menu");
    out.clear();
    s.on_data("2", out);
    CHECK(s.on_key(key::envoi, out) == outcome::stay);
    CHECK(s.current_page() == "codes");
    CHECK(out.find("3615 TEST Test server") != std::string::npos);
}

TEST_CASE("typed text: echo, bounds, control bytes") {
    fixture f;
    CHECK(f.type("ab1") == "ab1");
    CHECK(f.server.typed() == "ab1");
    CHECK(f.type("\x01\x07\x0d\x0a\x7f\xe9 c") == " c");
    CHECK(f.server.typed() == "ab1 c");

    SUBCASE("39 characters at column 1: the echo never wraps") {
        f.type(std::string(100, 'x'));
        CHECK(f.server.typed().size() == 39);
        CHECK(f.type("y").empty());
    }
    SUBCASE("fewer further right") {
        f.key(key::suite);  // menu, input at 20,10
        CHECK(f.server.typed().empty());
        CHECK(f.type(std::string(100, 'x')) == std::string(30, 'x'));
    }
    SUBCASE("ESC sequences and SS2 accents") {
        // ESC 0x3A..., cursor keys (ESC [ A), an accented e (SS2 0x42 e).
        CHECK(f.type("\x1b\x61" "d\x1b[12;4Ae\x19\x42" "e\x19\x23" "f") == "deef");
        CHECK(f.server.typed() == "ab1 cdeef");
    }
}

TEST_CASE("typed text is split-independent") {
    std::string const input = "1\x1b[2Ab\x19\x41" "a\x1b" "xyz\x03q";
    fixture whole;
    auto const expected = whole.type(input);
    CHECK(expected == "1bayzq");
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        fixture f;
        auto got = f.type(input.substr(0, cut));
        got += f.type(input.substr(cut));
        CHECK(got == expected);
        CHECK(f.server.typed() == whole.server.typed());
    }
}

TEST_CASE("choices: Envoi after a word") {
    fixture f;
    CHECK(f.key(key::sommaire) == drawn("MENU", 20, 10));
    CHECK(f.server.current_page() == "menu");
    CHECK(f.server.timeout() == std::chrono::seconds(20));

    SUBCASE("a number") {
        CHECK(f.choose("1") == drawn("N1"));
        CHECK(f.server.current_page() == "news");
        CHECK(f.server.typed().empty());
    }
    SUBCASE("a word, any case, spaces around") {
        CHECK(f.choose("  Meteo ") == drawn("DIR" + at(3, 1) + "3615 TEST Test server" + at(4, 1) + "3615 ULLA Messagerie", 24, 1));
        CHECK(f.server.current_page() == "dir");
    }
    SUBCASE("a wrong choice: message on row 0, the typed text erased") {
        CHECK(f.choose("9x") == status("Choix incorrect") + at(20, 10) + "  " + at(20, 10));
        CHECK(f.server.current_page() == "menu");
        CHECK(f.server.typed().empty());
        // Typing goes on at the input; the next page clears the message.
        CHECK(f.type("1") == "1");
        CHECK(f.key(key::envoi) == drawn_clearing("N1"));
        // Once.
        CHECK(f.key(key::suite) == drawn("N2"));
    }
    SUBCASE("Envoi with nothing typed and no envoi link") {
        CHECK(f.key(key::envoi) == status("Touche inactive"));
        CHECK(f.choose("   ") == status("Touche inactive"));
    }
    SUBCASE("Envoi with nothing typed follows envoi =") {
        f.key(key::guide);
        CHECK(f.key(key::envoi) == drawn("MENU", 20, 10));
    }
}

TEST_CASE("Correction and Annulation") {
    fixture f;
    f.type("abc");
    CHECK(f.key(key::correction) == "\x08 \x08");
    CHECK(f.server.typed() == "ab");
    CHECK(f.key(key::annulation) == at(24, 1) + "  " + at(24, 1));
    CHECK(f.server.typed().empty());
    CHECK(f.key(key::correction).empty());
    CHECK(f.key(key::annulation).empty());
    // Full again after erasing: the bound counts what is kept.
    f.type(std::string(39, 'x'));
    f.key(key::correction);
    CHECK(f.type("yz") == "y");
}

TEST_CASE("a files sequence: Suite and Retour step, then follow the links") {
    fixture f;
    f.key(key::sommaire);
    CHECK(f.choose("1") == drawn("N1"));
    CHECK(f.key(key::retour) == status("Touche inactive"));  // first screen, no retour link
    CHECK(f.key(key::suite) == drawn_clearing("N2"));
    CHECK(f.server.current_screen() == 1);
    CHECK(f.key(key::repetition) == drawn("N2"));
    CHECK(f.key(key::suite) == drawn("N3"));
    CHECK(f.key(key::retour) == drawn("N2"));
    f.key(key::suite);
    CHECK(f.key(key::suite) == drawn("MENU", 20, 10));  // the last screen follows suite =
    CHECK(f.server.current_page() == "menu");
    CHECK(f.server.current_screen() == 0);
}

TEST_CASE("links and inactive keys") {
    fixture f;
    CHECK(f.key(key::guide) == status("Touche inactive"));
    CHECK(f.key(key::repetition) == drawn_clearing("WELCOME"));
    CHECK(f.key(key::suite) == drawn("MENU", 20, 10));
    CHECK(f.key(key::retour) == drawn("WELCOME"));
    f.key(key::sommaire);
    CHECK(f.key(key::guide) == drawn("HELP"));
    CHECK(f.key(key::repetition) == drawn("WELCOME"));  // repetition = welcome
    // Typed text survives an inactive key.
    f.type("ab");
    CHECK(f.key(key::guide) == status("Touche inactive"));
    CHECK(f.server.typed() == "ab");
}

TEST_CASE("Connexion/Fin and a dropped line hang up") {
    fixture f;
    std::string out;
    CHECK(f.server.on_key(key::connexion_fin, out) == outcome::hang_up);
    CHECK(f.server.on_key(key::line_dropped, out) == outcome::hang_up);
    CHECK(out.empty());
}

TEST_CASE("timeouts") {
    fixture f;
    CHECK_FALSE(f.server.timeout());
    f.out.clear();
    f.server.on_timeout(f.out);  // none on this page: nothing happens
    CHECK(f.out.empty());
    f.key(key::sommaire);
    CHECK(f.server.timeout() == std::chrono::seconds(20));
    f.type("1");
    f.out.clear();
    f.server.on_timeout(f.out);
    CHECK(f.out == drawn("WELCOME"));
    CHECK(f.server.current_page() == "welcome");
    CHECK(f.server.typed().empty());
}

TEST_CASE("redraw: after another server had the screen") {
    fixture f;
    f.key(key::sommaire);
    f.type("1");
    f.out.clear();
    f.server.redraw(f.out);
    CHECK(f.out == drawn_clearing("MENU", 20, 10));
    CHECK(f.server.typed().empty());
}

TEST_CASE("hot reload") {
    fixture f;
    f.key(key::sommaire);

    SUBCASE("the page still exists: new content at the next draw") {
        auto changed = files;
        changed["m.vdt"] = "MENU2";
        f.server.reload(tree_of(ini, changed));
        CHECK(f.server.current_page() == "menu");
        CHECK(f.type("1") == "1");
        CHECK(f.key(key::repetition) == drawn("MENU2", 20, 10));
    }
    SUBCASE("the page moved and its input with it") {
        std::string moved = ini;
        moved.replace(moved.find("input = 20,10"), 13, "input = 21,5");
        f.type("ab");
        f.server.reload(tree_of(moved, files));
        // The screen still shows the old page: its input until the next draw.
        CHECK(f.key(key::annulation) == at(20, 10) + "  " + at(20, 10));
        CHECK(f.key(key::repetition) == drawn("MENU", 21, 5));
    }
    SUBCASE("a shorter sequence: the screen is clamped") {
        f.choose("1");
        f.key(key::suite);
        f.key(key::suite);
        CHECK(f.server.current_screen() == 2);
        std::string shorter = ini;
        shorter.replace(shorter.find("files = n1.vdt, n2.vdt, n3.vdt"), 30, "files = n1.vdt, n2.vdt");
        f.server.reload(tree_of(shorter, files));
        CHECK(f.server.current_screen() == 1);
        CHECK(f.key(key::repetition) == drawn("N2"));
    }
    SUBCASE("the page is gone: the next navigation goes to the start page") {
        auto const small = tree_of("[service]\nstart = home\n[page home]\nfile = h.vdt\n", {{"h.vdt", "HOME"}});
        f.type("1");
        f.server.reload(small);
        CHECK(f.server.current_page() == "menu");
        CHECK_FALSE(f.server.timeout());
        // Editing still works where the old page's input is.
        CHECK(f.type("2") == "2");
        CHECK(f.key(key::annulation) == at(20, 10) + "  " + at(20, 10));
        f.type("1");
        CHECK(f.key(key::envoi) == drawn("HOME"));
        CHECK(f.server.current_page() == "home");
        CHECK(f.key(key::guide) == status("Touche inactive"));
    }
    SUBCASE("gone, then Suite, Retour, Repetition, a timeout or redraw: all go to start") {
        auto const small = tree_of("[service]\nstart = home\n[page home]\nfile = h.vdt\n", {{"h.vdt", "HOME"}});
        for (auto k : {key::suite, key::retour, key::repetition, key::sommaire, key::guide}) {
            CAPTURE(key_name(k));
            fixture g;
            g.key(key::sommaire);
            g.server.reload(small);
            CHECK(g.key(k) == drawn("HOME"));
        }
        f.server.reload(small);
        f.out.clear();
        f.server.on_timeout(f.out);
        CHECK(f.out == drawn("HOME"));
        fixture g;
        g.key(key::sommaire);
        g.server.reload(small);
        g.out.clear();
        g.server.redraw(g.out);
        CHECK(g.out == drawn_clearing("HOME"));
    }
    SUBCASE("back again in a later reload: the page is kept") {
        f.server.reload(tree_of("[service]\nstart = home\n[page home]\nfile = h.vdt\n", {{"h.vdt", "HOME"}}));
        f.server.reload(tree_of(ini, files));
        CHECK(f.server.timeout() == std::chrono::seconds(20));
        CHECK(f.key(key::repetition) == drawn("MENU", 20, 10));
    }
}

TEST_CASE("directory pages list the codes, a screen at a time") {
    std::vector<directory_line> long_listing{
        {"3615 TEST", "Test server"},
        {"3615 A-VERY-LONG-CODE-NAME", "cut to sixteen"},
        {"X", "A name much too long for the forty columns of a Minitel"},
        {"3615 M\xc3\xa9t\xc3\xa9o", "Caf\xc3\xa9 \xe2\x82\xac\x01!"},
        {"LAST", "one"},
    };
    videotex_server s(tree_of(ini, files), long_listing);
    std::string out;
    s.start(out);
    s.on_key(key::suite, out);
    s.on_data("meteo", out);
    out.clear();
    s.on_key(key::envoi, out);
    // Codes padded to the longest (at most 16), names cut at column 40,
    // UTF-8 folded to ASCII, control bytes dropped.
    CHECK(out == drawn("DIR" + at(3, 1) + "3615 TEST        Test server" + at(4, 1) +
                       "3615 A-VERY-LONG cut to sixteen"));
    out.clear();
    s.on_key(key::suite, out);
    CHECK(out == drawn("DIR" + at(3, 1) + "X                A name much too long fo" + at(4, 1) +
                       "3615 Meteo       Cafe ?!"));
    out.clear();
    s.on_key(key::suite, out);
    CHECK(out == drawn("DIR" + at(3, 1) + "LAST             one"));
    CHECK(s.current_screen() == 2);
    out.clear();
    s.on_key(key::suite, out);
    CHECK(out == status("Touche inactive"));
    out.clear();
    s.on_key(key::retour, out);
    CHECK(s.current_screen() == 1);
    out.clear();
    s.on_key(key::sommaire, out);
    CHECK(s.current_page() == "menu");
}

TEST_CASE("an empty directory says so") {
    videotex_server s(tree_of(ini, files), {});
    std::string out;
    s.start(out);
    s.on_key(key::suite, out);
    s.on_data("METEO", out);
    out.clear();
    s.on_key(key::envoi, out);
    CHECK(out == drawn("DIR" + at(3, 1) + "Aucun service disponible"));
    out.clear();
    s.on_key(key::suite, out);
    CHECK(out == status("Touche inactive"));
}

TEST_CASE("an empty tree is refused") {
    CHECK_THROWS_AS(videotex_server(nullptr, {}), std::invalid_argument);
    CHECK_THROWS_AS(videotex_server(std::make_shared<const page_tree>(), {}), std::invalid_argument);
}
