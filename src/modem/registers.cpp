#include "modem/registers.hpp"

#include <algorithm>

namespace sb::modem {

namespace {

// The X level decides which call-progress results the terminal is told
// about; anything it does not know is reported as NO CARRIER, which every
// Hayes-era dialer script understands.
result_code filter_by_x(result_code c, int x_level) {
    switch (c) {
    case result_code::busy:
        return x_level >= 3 ? c : result_code::no_carrier;
    case result_code::no_dialtone:
        return (x_level == 2 || x_level >= 4) ? c : result_code::no_carrier;
    case result_code::no_answer:
        return x_level >= 1 ? c : result_code::no_carrier;
    default:
        return c;
    }
}

// USR-style extended numeric codes: V0 scripts tell speeds apart by them.
int connect_code(unsigned speed) {
    switch (speed) {
    case 300: return 1;
    case 1200: return 5;
    case 2400: return 10;
    case 4800: return 11;
    case 9600: return 12;
    case 19200: return 14;
    case 38400: return 28;
    case 57600: return 18;
    case 115200: return 87;
    default: return 1;
    }
}

}  // namespace

const char* result_text(result_code c) {
    switch (c) {
    case result_code::ok: return "OK";
    case result_code::connect: return "CONNECT";
    case result_code::ring: return "RING";
    case result_code::no_carrier: return "NO CARRIER";
    case result_code::error: return "ERROR";
    case result_code::no_dialtone: return "NO DIALTONE";
    case result_code::busy: return "BUSY";
    case result_code::no_answer: return "NO ANSWER";
    }
    // Only reachable through a cast from a bad int.
    return "ERROR";
}

registers::registers() {
    s[2] = 43;
    s[3] = 13;
    s[4] = 10;
    s[5] = 8;
    s[6] = 2;
    s[7] = 50;
    s[8] = 2;
    s[9] = 6;
    s[10] = 14;
    s[11] = 95;
    s[12] = 50;
}

std::string format_result(result_code c, const registers& r, unsigned speed) {
    if (r.quiet) return {};
    // x_level is a plain int anyone may set: out-of-range values act as the nearest level.
    auto const x = std::clamp(r.x_level, 0, 4);
    c = filter_by_x(c, x);
    // X0 is the original Hayes set: a bare CONNECT whatever the speed.
    bool const with_speed = c == result_code::connect && x >= 1 && speed != 0;

    std::string out;
    if (!r.verbose) {
        int const code = with_speed ? connect_code(speed) : static_cast<int>(c);
        out = std::to_string(code);
        out += r.cr();
        return out;
    }
    out += r.cr();
    out += r.lf();
    out += result_text(c);
    if (with_speed) {
        out += ' ';
        out += std::to_string(speed);
    }
    out += r.cr();
    out += r.lf();
    return out;
}

std::string format_info(const std::string& text, const registers& r) {
    std::string out;
    out.reserve(text.size() + 4);
    if (r.verbose) {
        out += r.cr();
        out += r.lf();
    }
    out += text;
    out += r.cr();
    out += r.lf();
    return out;
}

}  // namespace sb::modem
