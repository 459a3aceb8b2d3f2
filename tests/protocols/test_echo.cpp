#include <doctest/doctest.h>

#include "framing.hpp"
#include "protocols/echo.hpp"

using namespace sb;
using namespace sb::proto::test;
using core::errc;

namespace {
const proto::echo_protocol echo;
}

TEST_CASE("echo: one line") {
    check_every_split(echo, "hello\n", messages({6}));
    check_every_split(echo, "\n", messages({1}));
}

TEST_CASE("echo: a carriage return belongs to the line") {
    check_every_split(echo, "hello\r\n", messages({7}));
    check_every_split(echo, "a\rb\n", messages({4}));
}

TEST_CASE("echo: several lines in one buffer") {
    check_every_split(echo, "one\ntwo\r\n\nthree\n", messages({4, 5, 1, 6}));
    auto const r = scan_once(echo, "one\ntwo\n");
    REQUIRE(r.is_complete());
    CHECK(r.size == 4);
}

TEST_CASE("echo: empty input needs more") {
    CHECK(scan_once(echo, "").is_need_more());
    check_every_split(echo, "", messages({}));
    check_every_split(echo, "", messages({}), {.eof = true});
}

TEST_CASE("echo: truncated line") {
    check_every_split(echo, "no newline", messages({}, 10));
    check_every_split(echo, "done\npartial", messages({5}, 7));
    check_every_split(echo, "done\npartial", failed({5}, errc::bad_frame), {.eof = true});
}

TEST_CASE("echo: line longer than max_size") {
    run_options const small{.max_size = 8};
    check_every_split(echo, "1234567\n", messages({8}), small);
    check_every_split(echo, "12345678\n", failed({}, errc::frame_too_large), small);
    check_every_split(echo, "ok\n123456789", failed({3}, errc::frame_too_large), small);
    // Known as soon as max_size bytes hold no newline, not when the line ends.
    auto const r = scan_once(echo, "12345678", small);
    REQUIRE(r.is_error());
    CHECK(r.ec == errc::frame_too_large);
    CHECK(scan_once(echo, "1234567", small).is_need_more());
}

TEST_CASE("echo: default limit is 64 KiB") {
    CHECK(echo.default_max_message() == 64 * 1024);
    std::string line(64 * 1024 - 1, 'x');
    line += '\n';
    auto const r = scan_once(echo, line);
    REQUIRE(r.is_complete());
    CHECK(r.size == line.size());
    line.insert(line.begin(), 'x');
    CHECK(scan_once(echo, line).ec == errc::frame_too_large);
}

TEST_CASE("echo: binary garbage is just bytes") {
    using namespace std::string_view_literals;
    check_every_split(echo, "\x00\xff\x01\n\x80\n"sv, messages({4, 2}));
}

TEST_CASE("echo: responses frame like requests") {
    check_every_split(echo, "pong\nsecond\n", messages({5, 7}), {.dir = side::response});
}

TEST_CASE("echo: no error reply, the client is closed") {
    CHECK(echo.error_response(bytes("hi\n"), errc::request_timeout).empty());
    CHECK_FALSE(echo.has_tags());
}
