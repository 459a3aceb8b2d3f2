// The serial byte log's line format, which users grep for.
#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "sms/byte_log.hpp"

using namespace sb::sms;

namespace {

std::chrono::system_clock::time_point local(int y, int mo, int d, int h, int mi, int s) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    return std::chrono::system_clock::from_time_t(std::mktime(&tm));
}

}  // namespace

TEST_CASE("the familiar form, control characters escaped") {
    auto t = local(2023, 10, 15, 14, 59, 40);
    CHECK(format_bytes("SER_W", "AT+CMGF=1\r\n", t) == "[15.10.2023 14:59:40] SER_W ->AT+CMGF=1\\r\\n<-");
    CHECK(format_bytes("SER_R", "\r\n> ", t) == "[15.10.2023 14:59:40] SER_R ->\\r\\n> <-");
    CHECK(format_bytes("SER_W", std::string("\x1a\x1b\t\\\x00\xff", 6), t) ==
          "[15.10.2023 14:59:40] SER_W ->\\x1A\\x1B\\t\\\\\\x00\\xFF<-");
    CHECK(format_bytes("SER_R", "", t) == "[15.10.2023 14:59:40] SER_R -><-");
}

TEST_CASE("no byte can start a new log line") {
    std::string all;
    for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
    auto line = format_bytes("SER_R", all, std::chrono::system_clock::now());
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    for (char c : line) CHECK((static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) <= 0x7E));
}

TEST_CASE("hex dump") {
    CHECK(hex_dump("AT\r") == " 41 54 0D");
    CHECK(hex_dump("") == "");
}
