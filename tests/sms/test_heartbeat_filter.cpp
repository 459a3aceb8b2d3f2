// The bridge's heartbeat stripping: the heartbeat never reaches the modem,
// wherever the TCP segments cut it, and data that only looks like the start
// of one is delivered whole and in order. No socket.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sms/heartbeat_filter.hpp"

using sb::sms::heartbeat_filter;

namespace {

struct result {
    std::string data;
    std::size_t beats = 0;
    bool operator==(const result&) const = default;
};

result run(const std::vector<std::string_view>& segments, const std::string& pattern = "<heartbeat>") {
    heartbeat_filter f(pattern);
    result r;
    for (auto s : segments) r.beats += f.feed(s, r.data);
    r.data += f.flush();
    return r;
}

// Every cut into two and three segments gives the same result as one.
void check_splits(std::string_view in, const result& expected, const std::string& pattern = "<heartbeat>") {
    REQUIRE(run({in}, pattern) == expected);
    for (std::size_t i = 0; i <= in.size(); ++i)
        for (std::size_t j = i; j <= in.size(); ++j) {
            CAPTURE(i);
            CAPTURE(j);
            REQUIRE(run({in.substr(0, i), in.substr(i, j - i), in.substr(j)}, pattern) == expected);
        }
}

}  // namespace

TEST_CASE("heartbeats are stripped wherever they fall") {
    check_splits("<heartbeat>", {"", 1});
    check_splits("AT+C<heartbeat>SQ\r", {"AT+CSQ\r", 1});
    check_splits("<heartbeat><heartbeat>AT\r<heartbeat>", {"AT\r", 3});
    check_splits("AT\r", {"AT\r", 0});
}

TEST_CASE("near misses are data, in order") {
    check_splits("<heart", {"<heart", 0});             // flushed at the end
    check_splits("<heartbeat", {"<heartbeat", 0});
    check_splits("<<heartbeat>", {"<", 1});            // the match restarts inside
    check_splits("<heart<heartbeat>x", {"<heartx", 1});
    check_splits("<heartbeat<heartbeat>>", {"<heartbeat>", 1});
    check_splits("a<b<c>", {"a<b<c>", 0});
}

TEST_CASE("a pattern that overlaps itself") {
    // "abab" inside "ababab": one match, then "ab" is data.
    check_splits("ababab", {"ab", 1}, "abab");
    check_splits("aaab", {"", 1}, "aaab");
    check_splits("aaaab", {"a", 1}, "aaab");
}

TEST_CASE("partial match held across segments, released by flush") {
    heartbeat_filter f("<heartbeat>");
    std::string out;
    CHECK(f.feed("AT<hea", out) == 0);
    CHECK(out == "AT");
    CHECK(f.held() == 4);
    CHECK(f.feed("rtbeat>", out) == 1);
    CHECK(out == "AT");
    CHECK(f.held() == 0);
    CHECK(f.feed("<he", out) == 0);
    CHECK(f.flush() == "<he");
    CHECK(f.held() == 0);
}

TEST_CASE("an empty pattern strips nothing") {
    heartbeat_filter f("");
    std::string out;
    CHECK(f.feed("<heartbeat>", out) == 0);
    CHECK(out == "<heartbeat>");
}
