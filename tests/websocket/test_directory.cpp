#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "websocket/directory.hpp"

using namespace sb::ws;

namespace {

const char* yp = R"({"servers": [
  {"name": "3615 ULLA", "address": "ws://127.0.0.1:9001/ulla", "ping": "true", "subprotocol": "[tty,binary]",
   "tarif": "T3", "cost": "0.12", "description": "Messagerie"},
  {"name": "3611", "address": "telnet://[::1]:2323", "ping": "false", "subprotocol": ""},
  {"name": "MIAOU", "address": "tcp://localhost:3615", "ping": false, "subprotocol": ["binary"], "frame": "binary",
   "max_frame_size": 1024},
  {"name": "ULLA2", "alias": "3615 ULLA"},
  {"name": "LOOP", "alias": "LOOP"},
  {"name": "SECURE", "address": "wss://example.invalid/"}
]})";

}  // namespace

TEST_CASE("a teletel yellow-pages file loads, string-typed values included") {
    auto d = directory::parse(yp, "yp.json");
    CHECK(d.size() == 3);
    REQUIRE(d.warnings().size() == 1);
    CHECK(d.warnings()[0].find("servers[5]") != std::string::npos);
    CHECK(d.warnings()[0].find("wss") != std::string::npos);

    auto* ulla = d.find("3615 ULLA");
    REQUIRE(ulla);
    CHECK(ulla->url.kind == service_url::scheme::ws);
    CHECK(ulla->url.host == "127.0.0.1");
    CHECK(ulla->url.port == "9001");
    CHECK(ulla->url.path == "/ulla");
    CHECK(ulla->ping);
    CHECK(ulla->subprotocols == std::vector<std::string>{"tty", "binary"});
    CHECK_FALSE(ulla->binary_frames);
    CHECK(ulla->description == "Messagerie");

    auto* m = d.find("miaou");
    REQUIRE(m);
    CHECK(m->url.kind == service_url::scheme::tcp);
    CHECK(m->binary_frames);
    CHECK(m->max_frame_size == 1024);
    CHECK(m->subprotocols == std::vector<std::string>{"binary"});
    auto* t = d.find("3611");
    REQUIRE(t);
    CHECK(t->url.host == "::1");
    CHECK_FALSE(t->ping);
}

TEST_CASE("codes match whatever the case and spacing, with or without the 3615 prefix") {
    auto d = directory::parse(yp, "yp.json");
    auto* ulla = d.find("3615 ULLA");
    CHECK(d.find("  3615   ulla ") == ulla);
    CHECK(d.find("ulla") == ulla);
    CHECK(d.find("Ulla2") == ulla);
    CHECK(d.find("3615 ULLA2") == ulla);
    CHECK(d.find("3614 ULLA") == nullptr);
    CHECK(d.find("ULL") == nullptr);
    CHECK(d.find("") == nullptr);
    // An alias that loops ends, without a match.
    CHECK(d.find("LOOP") == nullptr);
}

TEST_CASE("a file that is not a directory names the problem") {
    auto error_of = [](const char* text) {
        try {
            directory::parse(text, "d.json");
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("{") .find("d.json: not valid JSON") == 0);
    CHECK(error_of("[]") == "d.json: no \"servers\" array");
    CHECK(error_of(R"({"servers": [1]})") == "d.json: servers[0] is not an object");
    CHECK(error_of(R"({"servers": [{"address": "tcp://a:1"}]})") == "d.json: servers[0]: \"name\" missing or too long");
    // Deep nesting is refused by the parser, not by the stack.
    CHECK(error_of((std::string(100000, '[') + std::string(100000, ']')).c_str()).find("not valid JSON") !=
          std::string::npos);
}

TEST_CASE("service URLs") {
    std::string why;
    auto u = parse_service_url("ws://host", why);
    REQUIRE(u);
    CHECK(u->port == "80");
    CHECK(u->path == "/");
    CHECK(u->to_string() == "ws://host:80/");
    u = parse_service_url("telnet://[::1]", why);
    REQUIRE(u);
    CHECK(u->port == "23");
    CHECK(u->to_string() == "telnet://[::1]:23");
    CHECK(parse_service_url("local", why)->kind == service_url::scheme::local);
    CHECK_FALSE(parse_service_url("tcp://host", why));
    CHECK(why == "tcp:// needs a port");
    CHECK_FALSE(parse_service_url("tcp://host:99999", why));
    CHECK_FALSE(parse_service_url("tcp://host:1/path", why));
    CHECK_FALSE(parse_service_url("wss://host", why));
    CHECK(why.find("wss") != std::string::npos);
    CHECK_FALSE(parse_service_url("http://host", why));
    CHECK_FALSE(parse_service_url("ws://:80", why));
    CHECK_FALSE(parse_service_url("ws://[::1", why));
}
