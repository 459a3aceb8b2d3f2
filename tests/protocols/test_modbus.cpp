#include <doctest/doctest.h>

#include <vector>

#include "framing.hpp"
#include "protocols/modbus.hpp"

using namespace sb;
using namespace sb::proto::test;
using namespace std::literals;
using core::errc;

namespace {
const proto::modbus_protocol modbus;

// tid 7, unit 1, read holding registers (fc 3) from 0, 10 registers.
constexpr auto read_request = "\x00\x07\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a"sv;
// tid 7, unit 1, fc 3, 2 bytes: 0x002a.
constexpr auto read_reply = "\x00\x07\x00\x00\x00\x05\x01\x03\x02\x00\x2a"sv;
// tid 0x0102, unit 0x11, read exception status (fc 7): the shortest frame.
constexpr auto shortest = "\x01\x02\x00\x00\x00\x02\x11\x07"sv;

std::string frame(std::size_t len) {
    std::string m = "\x00\x01\x00\x00"s;
    m += static_cast<char>(len >> 8);
    m += static_cast<char>(len & 0xff);
    m.append(len, '\x05');
    return m;
}

std::vector<std::uint8_t> vec(std::string_view s) {
    auto const b = bytes(s);
    return {b.begin(), b.end()};
}
}  // namespace

TEST_CASE("modbus: one request, one reply") {
    check_every_split(modbus, read_request, messages({12}));
    check_every_split(modbus, read_reply, messages({11}), {.dir = side::response});
    check_every_split(modbus, shortest, messages({8}));
}

TEST_CASE("modbus: several frames in one buffer") {
    std::string input{read_request};
    input += shortest;
    input += read_request;
    check_every_split(modbus, input, messages({12, 8, 12}));
}

TEST_CASE("modbus: empty and truncated input") {
    CHECK(scan_once(modbus, "").is_need_more());
    CHECK(scan_once(modbus, read_request.substr(0, 6)).is_need_more());
    CHECK(scan_once(modbus, read_request.substr(0, 11)).is_need_more());
    check_every_split(modbus, read_request.substr(0, 9), messages({}, 9));
    check_every_split(modbus, read_request.substr(0, 9), failed({}, errc::bad_frame), {.eof = true});
}

TEST_CASE("modbus: a protocol id other than 0 is a bad frame") {
    check_every_split(modbus, "\x00\x07\x00\x01\x00\x06\x01\x03\x00\x00\x00\x0a"sv, failed({}, errc::bad_frame));
    check_every_split(modbus, "\x00\x07\x01\x00\x00\x06\x01\x03\x00\x00\x00\x0a"sv, failed({}, errc::bad_frame));
    // As soon as the offending byte is there.
    CHECK(scan_once(modbus, "\x00\x07\x00\x01"sv).ec == errc::bad_frame);
    CHECK(scan_once(modbus, "\x00\x07\x01"sv).ec == errc::bad_frame);
    CHECK(scan_once(modbus, "GET / HTTP/1.1\r\n"sv).ec == errc::bad_frame);
}

TEST_CASE("modbus: lengths outside 2..254 are bad frames") {
    check_every_split(modbus, frame(0), failed({}, errc::bad_frame));
    check_every_split(modbus, frame(1), failed({}, errc::bad_frame));
    check_every_split(modbus, frame(255), failed({}, errc::bad_frame));
    check_every_split(modbus, frame(256), failed({}, errc::bad_frame));
    CHECK(scan_once(modbus, "\x00\x01\x00\x00\x00\x01"sv).ec == errc::bad_frame);
    CHECK(scan_once(modbus, "\x00\x01\x00\x00\x00\xff"sv).ec == errc::bad_frame);
    // A high length byte is already too much.
    CHECK(scan_once(modbus, "\x00\x01\x00\x00\x01"sv).ec == errc::bad_frame);
    std::string input{read_request};
    input += frame(1);
    check_every_split(modbus, input, failed({12}, errc::bad_frame));
}

TEST_CASE("modbus: the largest frame") {
    CHECK(modbus.default_max_message() == 260);
    check_every_split(modbus, frame(254), messages({260}));
    check_every_split(modbus, frame(2), messages({8}));
}

TEST_CASE("modbus: a smaller configured limit") {
    run_options const small{.max_size = 11};
    check_every_split(modbus, read_reply, messages({11}), small);
    check_every_split(modbus, read_request, failed({}, errc::frame_too_large), small);
    CHECK(scan_once(modbus, read_request.substr(0, 6), small).ec == errc::frame_too_large);
    CHECK(scan_once(modbus, read_request.substr(0, 5), {.max_size = 5}).ec == errc::frame_too_large);
    CHECK(scan_once(modbus, read_request.substr(0, 4), {.max_size = 5}).is_need_more());
}

TEST_CASE("modbus: tags are the transaction id") {
    CHECK(modbus.has_tags());
    CHECK(modbus.tag(bytes(read_request)) == 7);
    CHECK(modbus.tag(bytes(shortest)) == 0x0102);
    CHECK_FALSE(modbus.tag(bytes("\x01"sv)).has_value());
    CHECK_FALSE(modbus.tag({}).has_value());

    auto m = vec(read_request);
    modbus.set_tag(m, 0xbeef);
    CHECK(modbus.tag(m) == 0xbeef);
    CHECK(m == vec("\xbe\xef\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a"sv));
    modbus.set_tag(m, 7);
    CHECK(m == vec(read_request));

    std::vector<std::uint8_t> tiny{0x42};
    modbus.set_tag(tiny, 0xffff);  // too short to carry one: untouched
    CHECK(tiny == std::vector<std::uint8_t>{0x42});
}

TEST_CASE("modbus: responses match by unit and function") {
    auto const req = bytes(read_request);
    CHECK(modbus.response_matches(req, bytes(read_reply)));
    // Tags are the caller's business.
    CHECK(modbus.response_matches(req, bytes("\x12\x34\x00\x00\x00\x05\x01\x03\x02\x00\x2a"sv)));
    // Exception reply to the same function.
    CHECK(modbus.response_matches(req, bytes("\x00\x07\x00\x00\x00\x03\x01\x83\x02"sv)));
    // Another unit, another function, another function's exception.
    CHECK_FALSE(modbus.response_matches(req, bytes("\x00\x07\x00\x00\x00\x05\x02\x03\x02\x00\x2a"sv)));
    CHECK_FALSE(modbus.response_matches(req, bytes("\x00\x07\x00\x00\x00\x05\x01\x04\x02\x00\x2a"sv)));
    CHECK_FALSE(modbus.response_matches(req, bytes("\x00\x07\x00\x00\x00\x03\x01\x84\x02"sv)));
    // Too short to tell.
    CHECK_FALSE(modbus.response_matches(req, bytes("\x00\x07\x00\x00\x00\x02\x01"sv)));
    CHECK_FALSE(modbus.response_matches(bytes("\x00\x07"sv), bytes(read_reply)));
}

TEST_CASE("modbus: error replies are gateway exceptions") {
    auto const req = bytes(read_request);
    CHECK(modbus.error_response(req, errc::upstream_unavailable) ==
          vec("\x00\x07\x00\x00\x00\x03\x01\x83\x0a"sv));
    for (auto e : {errc::request_timeout, errc::upstream_failed, errc::queue_full, errc::shutting_down}) {
        CAPTURE(static_cast<int>(e));
        CHECK(modbus.error_response(req, e) == vec("\x00\x07\x00\x00\x00\x03\x01\x83\x0b"sv));
    }
    CHECK(modbus.error_response(bytes(shortest), errc::request_timeout) ==
          vec("\x01\x02\x00\x00\x00\x03\x11\x87\x0b"sv));
    // The exception reply is itself a valid frame that answers the request.
    auto const reply = modbus.error_response(req, errc::queue_full);
    CHECK(scan_once(modbus, {reinterpret_cast<const char*>(reply.data()), reply.size()}, {.dir = side::response})
              .size == reply.size());
    CHECK(modbus.response_matches(req, reply));
}

TEST_CASE("modbus: no error reply without unit and function") {
    CHECK(modbus.error_response({}, errc::request_timeout).empty());
    CHECK(modbus.error_response(bytes("\x00\x07\x00\x00\x00\x06\x01"sv), errc::request_timeout).empty());
}

TEST_CASE("modbus: describe") {
    CHECK(modbus.describe(bytes(read_request)) == "tid=7 unit=1 fc=3");
    CHECK(modbus.describe(bytes(shortest)) == "tid=258 unit=17 fc=7");
    CHECK(modbus.describe(bytes("\x00\x07\x00\x00\x00\x03\x01\x83\x0b"sv)) == "tid=7 unit=1 fc=131");
    CHECK(modbus.describe(bytes("\x00\x07\x00"sv)) == "tid=7");
}
