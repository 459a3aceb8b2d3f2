#include <doctest/doctest.h>

#include "framing.hpp"
#include "protocols/length_prefixed.hpp"

using namespace sb;
using namespace sb::proto::test;
using namespace std::string_view_literals;
using core::errc;

namespace {
const proto::iso8583_protocol iso;
const proto::mpu_protocol mpu;

std::string iso_message(std::size_t body) {
    std::string m;
    m += static_cast<char>(body >> 8);
    m += static_cast<char>(body & 0xff);
    m.append(body, 'b');
    return m;
}
}  // namespace

TEST_CASE("iso8583: one message") {
    check_every_split(iso, "\x00\x05hello"sv, messages({7}));
    check_every_split(iso, "\x00\x01\x00"sv, messages({3}));
    check_every_split(iso, "\x00\x05hello"sv, messages({7}), {.dir = side::response});
}

TEST_CASE("iso8583: several messages in one buffer") {
    check_every_split(iso, "\x00\x02hi\x00\x05hello\x00\x01!"sv, messages({4, 7, 3}));
}

TEST_CASE("iso8583: the length is big-endian") {
    auto const m = iso_message(0x0102);
    check_every_split(iso, m + m, messages({0x0104, 0x0104}));
}

TEST_CASE("iso8583: empty and truncated input") {
    CHECK(scan_once(iso, "").is_need_more());
    CHECK(scan_once(iso, "\x00"sv).is_need_more());
    CHECK(scan_once(iso, "\x00\x05hell"sv).is_need_more());
    check_every_split(iso, "\x00\x05hell"sv, messages({}, 6));
    check_every_split(iso, "\x00\x05hell"sv, failed({}, errc::bad_frame), {.eof = true});
    check_every_split(iso, "\x00\x01!"sv, messages({3}), {.eof = true});
}

TEST_CASE("iso8583: a zero length is invalid") {
    check_every_split(iso, "\x00\x00"sv, failed({}, errc::bad_frame));
    check_every_split(iso, "\x00\x01!\x00\x00rest"sv, failed({3}, errc::bad_frame));
}

TEST_CASE("iso8583: every 16-bit length fits the default") {
    CHECK(iso.default_max_message() == 65537);
    auto const m = iso_message(0xffff);
    auto const r = scan_once(iso, m);
    REQUIRE(r.is_complete());
    CHECK(r.size == 65537);
    // Too big to cut at every position; whole and byte by byte suffice.
    CHECK(run(iso, m, {}) == messages({65537}));
    std::vector<std::size_t> every(m.size());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i + 1;
    CHECK(run(iso, m, every) == messages({65537}));
}

TEST_CASE("iso8583: a smaller configured limit") {
    run_options const small{.max_size = 10};
    check_every_split(iso, iso_message(8), messages({10}), small);
    check_every_split(iso, iso_message(9), failed({}, errc::frame_too_large), small);
    // Known from the header alone.
    CHECK(scan_once(iso, "\x00\x09"sv, small).ec == errc::frame_too_large);
    CHECK(scan_once(iso, "\xff\xff"sv, small).ec == errc::frame_too_large);
    // A limit smaller than the header: nothing can fit, and that is known early.
    CHECK(scan_once(iso, "\x00"sv, {.max_size = 1}).ec == errc::frame_too_large);
    CHECK(scan_once(iso, "", {.max_size = 1}).is_need_more());
}

TEST_CASE("mpu: one message") {
    check_every_split(mpu, "0005hello", messages({9}));
    check_every_split(mpu, "0012abcdefghijkl", messages({16}));
    check_every_split(mpu, "0001!", messages({5}), {.dir = side::response});
}

TEST_CASE("mpu: several messages in one buffer") {
    check_every_split(mpu, "0002hi0005hello0001!", messages({6, 9, 5}));
}

TEST_CASE("mpu: empty and truncated input") {
    CHECK(scan_once(mpu, "").is_need_more());
    CHECK(scan_once(mpu, "001").is_need_more());
    check_every_split(mpu, "0005hel", messages({}, 7));
    check_every_split(mpu, "0005hel", failed({}, errc::bad_frame), {.eof = true});
}

TEST_CASE("mpu: anything but four digits is a bad frame") {
    for (auto bad : {"-001x", " 12x", "+012x", "12a4x", "0x10", "00 1x", "abcd", "\x01\x02\x03\x04x", "001:x",
                     "/001x"}) {
        CAPTURE(bad);
        check_every_split(mpu, bad, failed({}, errc::bad_frame));
    }
    check_every_split(mpu, "0001!-001x", failed({5}, errc::bad_frame));
}

TEST_CASE("mpu: a bad byte fails at once, without waiting for four") {
    for (auto bad : {"-", " ", "+", "1a", "12a", "x", "99."}) {
        CAPTURE(bad);
        auto const r = scan_once(mpu, bad);
        REQUIRE(r.is_error());
        CHECK(r.ec == errc::bad_frame);
    }
}

TEST_CASE("mpu: a zero length is invalid") {
    check_every_split(mpu, "0000", failed({}, errc::bad_frame));
    check_every_split(mpu, "0000abc", failed({}, errc::bad_frame));
}

TEST_CASE("mpu: limits") {
    CHECK(mpu.default_max_message() == 4 + 9999);
    std::string const biggest = "9999" + std::string(9999, 'x');
    auto const r = scan_once(mpu, biggest);
    REQUIRE(r.is_complete());
    CHECK(r.size == biggest.size());

    run_options const small{.max_size = 8};
    check_every_split(mpu, "0004abcd", messages({8}), small);
    check_every_split(mpu, "0005hello", failed({}, errc::frame_too_large), small);
    CHECK(scan_once(mpu, "9999", small).ec == errc::frame_too_large);
    CHECK(scan_once(mpu, "001", {.max_size = 3}).ec == errc::frame_too_large);
    CHECK(scan_once(mpu, "00", {.max_size = 3}).is_need_more());
    CHECK(scan_once(mpu, "0-", {.max_size = 1}).ec == errc::bad_frame);
}

TEST_CASE("length-prefixed: no error reply, the client is closed") {
    CHECK(iso.error_response(bytes("\x00\x01!"sv), errc::request_timeout).empty());
    CHECK(mpu.error_response(bytes("0001!"), errc::queue_full).empty());
    CHECK_FALSE(iso.has_tags());
    CHECK_FALSE(mpu.has_tags());
}
