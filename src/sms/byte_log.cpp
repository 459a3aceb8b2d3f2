#include "sms/byte_log.hpp"

#include <ctime>

namespace sb::sms {

namespace {

constexpr char digits[] = "0123456789ABCDEF";

}  // namespace

std::string format_bytes(std::string_view direction, std::string_view bytes,
                         std::chrono::system_clock::time_point when) {
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "[%d.%m.%Y %H:%M:%S] ", &tm);
    std::string out = stamp;
    out.reserve(out.size() + direction.size() + bytes.size() + 8);
    out.append(direction);
    out.append(" ->");
    for (char ch : bytes) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '\r': out.append("\\r"); break;
        case '\n': out.append("\\n"); break;
        case '\t': out.append("\\t"); break;
        case '\\': out.append("\\\\"); break;
        default:
            if (c < 0x20 || c > 0x7E) {
                out.append("\\x");
                out.push_back(digits[c >> 4]);
                out.push_back(digits[c & 15]);
            } else {
                out.push_back(ch);
            }
        }
    }
    out.append("<-");
    return out;
}

std::string hex_dump(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 3);
    for (char ch : bytes) {
        auto c = static_cast<unsigned char>(ch);
        out.push_back(' ');
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

}  // namespace sb::sms
