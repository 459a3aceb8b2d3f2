#include <doctest/doctest.h>

#include "core/config.hpp"
#include "core/duration.hpp"
#include "core/endpoint.hpp"
#include "core/plugin_host.hpp"

using namespace sb::core;
using namespace std::chrono_literals;

TEST_CASE("durations") {
    CHECK(parse_duration("250ms") == 250ms);
    CHECK(parse_duration("2s") == 2s);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("1h") == 3600s);
    CHECK(parse_duration("500us") == 500us);
    CHECK(parse_duration("0.5s") == 500ms);
    CHECK(parse_duration("3") == 3s);  // bare number: seconds
    CHECK(parse_duration("0") == 0s);
    for (auto bad : {"", "abc", "5x", "-1s", "1s2", "s", "1.2.3s", "ms"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
    }
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(3s) == "3s");
}

TEST_CASE("endpoints") {
    CHECK(parse_endpoint("127.0.0.1:5020") == endpoint{"127.0.0.1", 5020});
    CHECK(parse_endpoint("5020", "0.0.0.0") == endpoint{"0.0.0.0", 5020});
    CHECK(parse_endpoint(":5020", "0.0.0.0") == endpoint{"0.0.0.0", 5020});
    CHECK(parse_endpoint("[::1]:80") == endpoint{"::1", 80});
    CHECK(parse_endpoint("plc.local:502") == endpoint{"plc.local", 502});
    CHECK(endpoint{"::1", 80}.to_string() == "[::1]:80");
    for (auto bad : {"", "host", "host:", "host:99999", "host:abc", "::1:80", "[::1]80", "[::1"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_endpoint(bad), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_endpoint("5020"), std::invalid_argument);  // no default host
}

TEST_CASE("ini files") {
    auto s = parse_ini("# comment\n[mux.a]\nlisten = 127.0.0.1:1 # trailing\n; other\n"
                       "timeout=2s\n\n[sip]\nname = \"quoted # kept\"\nempty =\n",
                       "t.ini");
    REQUIRE(s.size() == 2);
    CHECK(s[0].name == "mux.a");
    REQUIRE(s[0].entries.size() == 2);
    CHECK(s[0].entries[0].key == "listen");
    CHECK(s[0].entries[0].value == "127.0.0.1:1");
    CHECK(s[0].entries[0].line == 3);
    CHECK(s[0].entries[1].value == "2s");
    CHECK(s[1].entries[0].value == "quoted # kept");
    CHECK(s[1].entries[1].value == "");

    auto msg = [](const char* text) {
        try {
            parse_ini(text, "f.ini");
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(msg("key = 1\n").find("f.ini:1") != std::string::npos);
    CHECK(msg("[a]\nnovalue\n").find("f.ini:2") != std::string::npos);
    CHECK(msg("[a\n").find("']'") != std::string::npos);
    CHECK(msg("[a]\n[a]\n").find("twice") != std::string::npos);
}

TEST_CASE("flat files, when allowed") {
    auto s = parse_ini("listen = 1\n[tcpmux]\ntimeout = 2s\n", "flat.ini", true);
    REQUIRE(s.size() == 2);
    CHECK(s[0].name == "");
    CHECK(s[0].entries[0].key == "listen");
    CHECK(s[1].name == "tcpmux");
    CHECK_THROWS_AS(parse_ini("listen = 1\n", "flat.ini"), config_error);
}

TEST_CASE("sections are checked against their options") {
    po::options_description d;
    d.add_options()("listen", po::value<std::string>())("count", po::value<int>());
    auto sections = parse_ini("[x]\nlisten = a\ncount = 3\n[y]\nlisten = b\nbogus = 1\n[z]\ncount = many\n", "f.ini");
    po::variables_map vm;
    store_section(sections[0], d, vm);
    CHECK(vm["listen"].as<std::string>() == "a");
    CHECK(vm["count"].as<int>() == 3);

    po::variables_map vm2;
    try {
        store_section(sections[1], d, vm2);
        FAIL("unknown key accepted");
    } catch (const config_error& e) {
        std::string m = e.what();
        CHECK(m.find("bogus") != std::string::npos);
        CHECK(m.find("[y]") != std::string::npos);
        CHECK(m.find("f.ini:6") != std::string::npos);
    }
    po::variables_map vm3;
    try {
        store_section(sections[2], d, vm3);
        FAIL("bad value accepted");
    } catch (const config_error& e) {
        std::string m = e.what();
        CHECK(m.find("count") != std::string::npos);
        CHECK(m.find("many") != std::string::npos);
    }
}

TEST_CASE("host section") {
    auto cfg = host_config_from(parse_ini("[host]\nhttp = 9100\ngrace = 1s\nlog_level = debug\n", "h.ini"), {});
    REQUIRE(cfg.http);
    CHECK(*cfg.http == endpoint{"127.0.0.1", 9100});  // loopback unless configured
    CHECK(cfg.grace == 1s);
    CHECK(cfg.log_level == severity::debug);
    CHECK_THROWS_AS(host_config_from(parse_ini("[host]\nhttpx = 1\n", "h.ini"), {}), config_error);
    CHECK_THROWS_AS(host_config_from(parse_ini("[host]\nlog_level = loud\n", "h.ini"), {}), config_error);
}
