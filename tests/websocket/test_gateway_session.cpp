// The session machine driven with no socket: what goes to the user, to the
// service, and which connections open and close.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "websocket/gateway_session.hpp"
#include "websocket/page_tree.hpp"
#include "websocket/videotex_server.hpp"

using namespace sb::ws;
using state = gateway_session::state;
using namespace std::chrono_literals;

namespace {

const char* yp = R"({"servers": [
  {"name": "3615 TEST", "address": "ws://127.0.0.1:9001/"},
  {"name": "3615 RAW", "address": "tcp://127.0.0.1:9002"}]})";

std::shared_ptr<const page_tree> tree() {
    static const std::map<std::string, std::string> files = {{"w.vdt", "WELCOME"}, {"m.vdt", "MENU"}};
    return std::make_shared<const page_tree>(parse_page_tree(
        "[service]\nstart = welcome\n[page welcome]\nfile = w.vdt\nsommaire = menu\n[page menu]\nfile = m.vdt\n",
        "t.ini", [](const std::string& path, std::string& error) -> std::optional<std::string> {
            auto it = files.find(path);
            if (it == files.end()) {
                error = "No such file";
                return std::nullopt;
            }
            return it->second;
        }));
}

struct fixture {
    directory dir = directory::parse(yp, "yp.json");
    clock::time_point t0{};

    gateway_session local(gateway_session::options o = {}) {
        return gateway_session(o, &dir, std::make_unique<videotex_server>(tree(), std::vector<directory_line>{}));
    }
    gateway_session remote(gateway_session::options o = {}) { return gateway_session(o, &dir, nullptr); }
};

session_actions user(gateway_session& g, std::string_view bytes, clock::time_point now = {}) {
    session_actions a;
    g.on_user(bytes, now, a);
    return a;
}

session_actions connected(gateway_session& g) {
    session_actions a;
    g.on_service_connected({}, a);
    return a;
}

// Types the bytes one at a time, as a slow emulator or a split frame would
// deliver them, collecting every action.
session_actions type_slowly(gateway_session& g, std::string_view bytes) {
    session_actions all;
    for (char c : bytes) {
        auto a = user(g, std::string_view(&c, 1));
        all.to_user += a.to_user;
        all.to_service += a.to_service;
        all.drop_service = all.drop_service || a.drop_service;
        if (a.connect) all.connect = a.connect;
        all.connect_default = all.connect_default || a.connect_default;
        all.close_user = all.close_user || a.close_user;
    }
    return all;
}

// Redirects a local session to 3615 TEST and completes the connection.
void redirect_to_test(gateway_session& g) {
    auto a = type_slowly(g, "3615 test\x13\x41");
    REQUIRE(a.connect);
    CHECK(a.connect->name == "3615 TEST");
    CHECK_FALSE(a.drop_service);  // nothing to drop: the local service has no connection
    CHECK(g.current() == state::redirect_connecting);
    connected(g);
    CHECK(g.current() == state::redirect_up);
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "the local service draws its start page at once") {
    auto g = local();
    session_actions a;
    g.start(t0, a);
    CHECK(a.to_user.rfind("\x0cWELCOME", 0) == 0);
    CHECK_FALSE(a.connect_default);
    CHECK(g.current() == state::local);
}

TEST_CASE_FIXTURE(fixture, "a directory code and Envoi bridge the user, typed text goes through after") {
    auto g = local();
    session_actions s;
    g.start(t0, s);
    auto a = type_slowly(g, "3615 test\x13\x41" "ab");
    REQUIRE(a.connect);
    CHECK(a.to_user.find("Connexion a 3615 TEST") != std::string::npos);
    CHECK(a.to_service.empty());
    // Typed while connecting: delivered once connected, nothing lost; the
    // "Connexion a" message leaves row 0 (a server's FF would not clear it).
    auto c = connected(g);
    CHECK(c.to_service == "ab");
    CHECK(c.to_user == "\x1f\x40\x41\x18\x0a");
    CHECK(user(g, "xyz\x13\x42").to_service == "xyz\x13\x42");
    session_actions in;
    g.on_service("PEER PAGE", t0, in);
    CHECK(in.to_user == "PEER PAGE");
}

TEST_CASE_FIXTURE(fixture, "Connexion/Fin, SEP 0x59 and *** Sommaire bring the user back, even split byte by byte") {
    for (std::string_view leave : {"\x13\x49", "\x13\x59", "***\x13\x46"}) {
        CAPTURE(leave);
        auto g = local();
        session_actions s;
        g.start(t0, s);
        redirect_to_test(g);
        auto a = type_slowly(g, leave);
        CHECK(a.drop_service);
        CHECK_FALSE(a.connect);
        CHECK_FALSE(a.close_user);
        // The key itself never reaches the server; the stars do, as typed.
        CHECK(a.to_service == (leave.size() > 2 ? "***" : ""));
        // Back on the page where the code was typed, redrawn.
        CHECK(a.to_user.find("\x0c") != std::string::npos);
        CHECK(a.to_user.find("WELCOME") != std::string::npos);
        CHECK(g.current() == state::local);
        CHECK(g.redirected_to() == nullptr);
    }
}

TEST_CASE_FIXTURE(fixture, "Sommaire alone goes to the server") {
    auto g = local();
    session_actions s;
    g.start(t0, s);
    redirect_to_test(g);
    auto a = user(g, "**\x13\x46");
    CHECK(a.to_service == "**\x13\x46");
    CHECK_FALSE(a.drop_service);
}

TEST_CASE_FIXTURE(fixture, "the server closing, or never answering, brings the user back") {
    auto g = local();
    session_actions s;
    g.start(t0, s);
    redirect_to_test(g);
    session_actions a;
    g.on_service_closed(false, t0, a);
    CHECK(g.current() == state::local);
    CHECK(a.to_user.find("WELCOME") != std::string::npos);
    CHECK_FALSE(a.close_user);

    type_slowly(g, "RAW\x13\x41");
    CHECK(g.current() == state::redirect_connecting);
    session_actions f;
    g.on_service_closed(true, t0, f);
    CHECK(g.current() == state::local);
    CHECK(f.to_user.find("Service indisponible") != std::string::npos);
    // The next page clears the message from row 0 before drawing.
    auto next = user(g, "\x13\x46");
    CHECK(next.to_user.rfind("\x0c\x1f\x40\x41\x18\x0a", 0) == 0);
}

TEST_CASE_FIXTURE(fixture, "unknown codes stay with the local service; Connexion/Fin there ends the session") {
    auto g = local();
    session_actions s;
    g.start(t0, s);
    auto a = type_slowly(g, "NOPE\x13\x41");
    CHECK_FALSE(a.connect);
    CHECK(g.current() == state::local);
    CHECK(a.to_user.find("Choix incorrect") != std::string::npos);
    auto e = user(g, "\x13\x49");
    CHECK(e.close_user);
}

TEST_CASE_FIXTURE(fixture, "a remote default service: codes typed there redirect, coming back reconnects it") {
    auto g = remote();
    session_actions s;
    g.start(t0, s);
    CHECK(s.connect_default);
    CHECK(g.current() == state::default_connecting);
    CHECK(user(g, "early").to_service.empty());
    CHECK(connected(g).to_service == "early");

    // Text and keys that are no code go through untouched.
    CHECK(user(g, "hello\x13\x41").to_service == "hello\x13\x41");
    // Correction edits what we track, as it edits the screen.
    auto typed = type_slowly(g, "TESX\x13\x47T");
    CHECK(typed.to_service == "TESX\x13\x47T");
    auto a = user(g, "\x13\x41");
    REQUIRE(a.connect);
    CHECK(a.connect->name == "3615 TEST");
    CHECK(a.drop_service);
    CHECK(a.to_service.empty());
    connected(g);
    auto back = user(g, "\x13\x49");
    CHECK(back.drop_service);
    CHECK(back.connect_default);
    CHECK(g.current() == state::default_connecting);

    // The default service hanging up ends the user's session.
    connected(g);
    session_actions c;
    g.on_service_closed(false, t0, c);
    CHECK(c.close_user);
}

TEST_CASE_FIXTURE(fixture, "ENQROM: answered for a terminal that stays silent, not for one that answers") {
    gateway_session::options o;
    o.enqrom_wait = 500ms;
    auto g = remote(o);
    session_actions s;
    g.start(t0, s);
    connected(g);
    session_actions a;
    g.on_service("\x1b\x39", t0, a);
    g.on_service("\x7b", t0, a);
    CHECK(a.to_user == "\x1b\x39\x7b");  // the terminal sees it too
    REQUIRE(g.deadline());
    CHECK(*g.deadline() == t0 + 500ms);
    session_actions early;
    g.on_timer(t0 + 499ms, early);
    CHECK(early.to_service.empty());
    session_actions late;
    g.on_timer(t0 + 500ms, late);
    CHECK(late.to_service == "\x01" "Cu;" "\x04");
    CHECK_FALSE(g.deadline());

    session_actions again;
    g.on_service("x\x1b\x1b\x39\x7b", t0, again);
    REQUIRE(g.deadline());
    user(g, "\x01" "Bu2" "\x04");
    CHECK_FALSE(g.deadline());

    o.enqrom = enqrom_mode::always;
    auto at_once = remote(o);
    at_once.start(t0, s);
    connected(at_once);
    session_actions b;
    at_once.on_service("\x1b\x39\x7b", t0, b);
    CHECK(b.to_service == "\x01" "Cu;" "\x04");

    o.enqrom = enqrom_mode::never;
    auto never = remote(o);
    never.start(t0, s);
    connected(never);
    session_actions n;
    never.on_service("\x1b\x39\x7b", t0, n);
    CHECK_FALSE(never.deadline());
}

TEST_CASE_FIXTURE(fixture, "bulk bytes handed over whole take the same road as borrowed ones") {
    auto g = remote();
    session_actions s;
    g.start(t0, s);
    connected(g);
    session_actions a;
    g.on_user_owned(std::string(10000, 'x'), t0, a);
    CHECK(a.to_service == std::string(10000, 'x'));
    // With a key inside, the scanner still sees it: TEST then Envoi redirects.
    session_actions k;
    g.on_user_owned(std::string("\nTEST\x13\x41"), t0, k);
    REQUIRE(k.connect);
    CHECK(k.to_service == "\nTEST");
    connected(g);
    session_actions in;
    g.on_service_owned(std::string("PAGE\x1b\x39\x7b"), t0, in);
    CHECK(in.to_user == "PAGE\x1b\x39\x7b");
    CHECK(g.deadline());
    // Nothing is taken while connecting: it waits for the server.
    auto back = user(g, "\x13\x49");
    CHECK(g.current() == state::default_connecting);
    session_actions early;
    g.on_user_owned(std::string("abc"), t0, early);
    CHECK(early.to_service.empty());
    CHECK(g.pending() == 3);
    CHECK(connected(g).to_service == "abc");
}
