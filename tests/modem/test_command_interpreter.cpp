#include <doctest/doctest.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "modem/command_interpreter.hpp"
#include "modem/registers.hpp"

using namespace sb::modem;

namespace {

const std::string ok = "\r\nOK\r\n";
const std::string error = "\r\nERROR\r\n";
const std::string no_carrier = "\r\nNO CARRIER\r\n";

std::string info(const std::string& text) { return "\r\n" + text + "\r\n"; }

class fake_control final : public modem_control {
public:
    bool dial_ok = true;
    bool answer_ok = true;
    bool online_ok = true;
    std::string status_text = "modem 0, idle, tty /tmp/vmodem/tty0";
    std::vector<std::string> calls;
    // What the modem machine would know: a call (or data mode) has begun.
    bool left_command_mode = false;

    bool dial(const std::string& number) override {
        calls.push_back("dial " + number);
        return leave(dial_ok);
    }
    bool answer() override {
        calls.push_back("answer");
        return leave(answer_ok);
    }
    bool online() override {
        calls.push_back("online");
        return leave(online_ok);
    }
    void hangup() override { calls.push_back("hangup"); }
    std::string status() const override { return status_text; }

private:
    bool leave(bool ok) {
        left_command_mode = left_command_mode || ok;
        return ok;
    }
};

struct setup {
    interpreter_options opt;
    bool dial_ok = true;
    bool answer_ok = true;
    bool online_ok = true;
    std::string before;  // typed first; its output and calls are dropped
};

struct outcome {
    std::string out;
    std::size_t consumed = 0;
    std::vector<std::string> calls;
    registers regs;
    std::string last_number;
};

bool same_registers(const registers& a, const registers& b) {
    return a.s == b.s && a.echo == b.echo && a.quiet == b.quiet && a.verbose == b.verbose && a.x_level == b.x_level;
}

// split == npos: the whole input at once. Otherwise two feeds, the second
// only if the first did not end command mode (as the modem would do: feed()
// returning the whole piece cannot tell it apart, the control calls can).
outcome run_once(const setup& s, std::string_view input, std::size_t split) {
    fake_control control;
    control.dial_ok = s.dial_ok;
    control.answer_ok = s.answer_ok;
    control.online_ok = s.online_ok;
    command_interpreter ci(s.opt, control);
    std::string scratch;
    for (std::string_view rest = s.before; !rest.empty();) rest.remove_prefix(ci.feed(rest, scratch));
    control.calls.clear();
    control.left_command_mode = false;

    outcome r;
    if (split == std::string_view::npos) {
        r.consumed = ci.feed(input, r.out);
    } else {
        auto const first = ci.feed(input.substr(0, split), r.out);
        r.consumed = control.left_command_mode ? first : split + ci.feed(input.substr(split), r.out);
    }
    r.calls = control.calls;
    r.regs = ci.regs();
    r.last_number = ci.last_number();
    return r;
}

// House rule: every input also goes in two pieces, split at every position,
// and must give exactly what the whole input gives.
outcome type(std::string_view input, const setup& s = {}) {
    auto const whole = run_once(s, input, std::string_view::npos);
    for (std::size_t split = 0; split <= input.size(); ++split) {
        auto const r = run_once(s, input, split);
        INFO("split at " << split << " of \"" << std::string(input) << "\"");
        CHECK(r.out == whole.out);
        CHECK(r.consumed == whole.consumed);
        CHECK(r.calls == whole.calls);
        CHECK(same_registers(r.regs, whole.regs));
        CHECK(r.last_number == whole.last_number);
    }
    return whole;
}

setup echo_off() {
    setup s;
    s.before = "ATE0\r";
    return s;
}

using calls = std::vector<std::string>;

}  // namespace

TEST_CASE("registers: factory defaults") {
    registers const r;
    CHECK(r.echo);
    CHECK_FALSE(r.quiet);
    CHECK(r.verbose);
    CHECK(r.x_level == 4);
    std::array<int, 256> want{};
    want[2] = 43, want[3] = 13, want[4] = 10, want[5] = 8, want[6] = 2, want[7] = 50;
    want[8] = 2, want[9] = 6, want[10] = 14, want[11] = 95, want[12] = 50;
    for (int i = 0; i < 256; ++i) {
        CAPTURE(i);
        CHECK(r.s[static_cast<std::size_t>(i)] == want[static_cast<std::size_t>(i)]);
    }
    CHECK(r.cr() == '\r');
    CHECK(r.lf() == '\n');
    CHECK(r.bs() == '\b');
    CHECK(r.escape_char() == '+');
    CHECK(r.dial_timeout() == std::chrono::seconds(50));
    CHECK(r.carrier_loss_delay() == std::chrono::milliseconds(1400));
    CHECK(r.guard_time() == std::chrono::milliseconds(1000));
    CHECK(r.inactivity() == std::chrono::seconds(0));
}

TEST_CASE("format_result: every code at every X level, V1 and V0") {
    struct code_row {
        result_code code;
        const char* text[5];  // X0..X4
        int number[5];
    };
    const code_row rows[] = {
        {result_code::ok, {"OK", "OK", "OK", "OK", "OK"}, {0, 0, 0, 0, 0}},
        {result_code::connect, {"CONNECT", "CONNECT", "CONNECT", "CONNECT", "CONNECT"}, {1, 1, 1, 1, 1}},
        {result_code::ring, {"RING", "RING", "RING", "RING", "RING"}, {2, 2, 2, 2, 2}},
        {result_code::no_carrier,
         {"NO CARRIER", "NO CARRIER", "NO CARRIER", "NO CARRIER", "NO CARRIER"},
         {3, 3, 3, 3, 3}},
        {result_code::error, {"ERROR", "ERROR", "ERROR", "ERROR", "ERROR"}, {4, 4, 4, 4, 4}},
        {result_code::no_dialtone,
         {"NO CARRIER", "NO CARRIER", "NO DIALTONE", "NO CARRIER", "NO DIALTONE"},
         {3, 3, 6, 3, 6}},
        {result_code::busy, {"NO CARRIER", "NO CARRIER", "NO CARRIER", "BUSY", "BUSY"}, {3, 3, 3, 7, 7}},
        {result_code::no_answer,
         {"NO CARRIER", "NO ANSWER", "NO ANSWER", "NO ANSWER", "NO ANSWER"},
         {3, 8, 8, 8, 8}},
    };
    for (auto const& row : rows) {
        for (int x = 0; x <= 4; ++x) {
            CAPTURE(result_text(row.code));
            CAPTURE(x);
            registers r;
            r.x_level = x;
            CHECK(format_result(row.code, r) == std::string("\r\n") + row.text[x] + "\r\n");
            r.verbose = false;
            CHECK(format_result(row.code, r) == std::to_string(row.number[x]) + "\r");
            r.quiet = true;
            CHECK(format_result(row.code, r).empty());
            r.verbose = true;
            CHECK(format_result(row.code, r).empty());
        }
    }
}

TEST_CASE("format_result: CONNECT with a speed") {
    registers r;
    CHECK(format_result(result_code::connect, r, 115200) == "\r\nCONNECT 115200\r\n");
    CHECK(format_result(result_code::connect, r, 0) == "\r\nCONNECT\r\n");
    // The speed belongs to CONNECT only.
    CHECK(format_result(result_code::ok, r, 115200) == "\r\nOK\r\n");
    r.x_level = 1;
    CHECK(format_result(result_code::connect, r, 2400) == "\r\nCONNECT 2400\r\n");
    r.x_level = 0;
    CHECK(format_result(result_code::connect, r, 2400) == "\r\nCONNECT\r\n");
    CHECK(format_result(result_code::connect, r, 115200) == "\r\nCONNECT\r\n");

    r.verbose = false;
    CHECK(format_result(result_code::connect, r, 115200) == "1\r");
    r.x_level = 4;
    const std::pair<unsigned, int> table[] = {{300, 1},    {1200, 5},   {2400, 10},  {4800, 11},  {9600, 12},
                                              {19200, 14}, {38400, 28}, {57600, 18}, {115200, 87}, {0, 1},
                                              {14400, 1},  {33600, 1}};
    // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
    for (auto const& row : table) {
        CAPTURE(row.first);
        CHECK(format_result(result_code::connect, r, row.first) == std::to_string(row.second) + "\r");
    }
    CHECK(format_result(result_code::busy, r, 9600) == "7\r");
}

TEST_CASE("format_result and format_info use S3 and S4") {
    registers r;
    r.s[3] = '#';
    r.s[4] = '@';
    CHECK(format_result(result_code::ok, r) == "#@OK#@");
    CHECK(format_info("hi", r) == "#@hi#@");
    r.verbose = false;
    CHECK(format_result(result_code::ok, r) == "0#");
    CHECK(format_info("hi", r) == "hi#@");
}

TEST_CASE("format_result: out-of-range X levels act as the nearest one") {
    registers r;
    r.x_level = 9;
    CHECK(format_result(result_code::busy, r) == "\r\nBUSY\r\n");
    r.x_level = -3;
    CHECK(format_result(result_code::busy, r) == "\r\nNO CARRIER\r\n");
    CHECK(format_result(result_code::connect, r, 9600) == "\r\nCONNECT\r\n");
}

TEST_CASE("result_text names") {
    CHECK(std::string(result_text(result_code::ok)) == "OK");
    CHECK(std::string(result_text(result_code::connect)) == "CONNECT");
    CHECK(std::string(result_text(result_code::ring)) == "RING");
    CHECK(std::string(result_text(result_code::no_carrier)) == "NO CARRIER");
    CHECK(std::string(result_text(result_code::error)) == "ERROR");
    CHECK(std::string(result_text(result_code::no_dialtone)) == "NO DIALTONE");
    CHECK(std::string(result_text(result_code::busy)) == "BUSY");
    CHECK(std::string(result_text(result_code::no_answer)) == "NO ANSWER");
}

TEST_CASE("format_info frames text for V1 and V0") {
    registers r;
    CHECK(format_info("050", r) == "\r\n050\r\n");
    CHECK(format_info("", r) == "\r\n\r\n");
    r.verbose = false;
    CHECK(format_info("050", r) == "050\r\n");
}

TEST_CASE("AT alone answers OK, with echo") {
    auto const r = type("AT\r");
    CHECK(r.out == "AT\r" + ok);
    CHECK(r.consumed == 3);
    CHECK(r.calls.empty());
    CHECK(type("at\r").out == "at\r" + ok);
    CHECK(type("aT\r").out == "aT\r" + ok);
    CHECK(type("At\r").out == "At\r" + ok);
    CHECK(type("AT  \r").out == "AT  \r" + ok);
}

TEST_CASE("nothing happens without a CR, and LF is ignored") {
    auto const r = type("ATE0");
    CHECK(r.out == "ATE0");
    CHECK(r.regs.echo);
    CHECK(type("").out.empty());
    CHECK(type("AT\n\r\n").out == "AT\r" + ok);
    CHECK(type("A\nT\r").out == "AT\r" + ok);
}

TEST_CASE("echo: ATE0 and ATE1") {
    auto r = type("ATE0\r");
    CHECK(r.out == "ATE0\r" + ok);  // the line itself is still echoed
    CHECK_FALSE(r.regs.echo);

    r = type("ATI4\r", echo_off());
    CHECK(r.out == info("Switchboard vmodem") + ok);

    r = type("ATE1\rAT\r", echo_off());
    CHECK(r.out == ok + "AT\r" + ok);
    CHECK(r.regs.echo);

    CHECK(type("ATE2\r").out == "ATE2\r" + error);
}

TEST_CASE("text before AT is echoed but ignored; control bytes are not echoed") {
    CHECK(type("hello AT\r").out == "hello AT\r" + ok);
    CHECK(type("\x01\x1b" "AT\r").out == "AT\r" + ok);
    CHECK(type("AAT\r").out == "AAT\r" + ok);
    CHECK(type("A\r").out == "A\r");
    CHECK(type("\r\r").out == "\r\r");
    CHECK(type("xyz\rAT\r", echo_off()).out == ok);
    // "A" then something else starts over
    CHECK(type("ABAT\r").out == "ABAT\r" + ok);
}

TEST_CASE("backspace (S5) and DEL edit the line") {
    auto r = type("ATQ9\b0\r");
    CHECK(r.out == "ATQ9\b \b0\r" + ok);
    r = type("ATQ9\x7f" "0\r");
    CHECK(r.out == "ATQ9\b \b0\r" + ok);
    r = type("ATE0\b\b\b\bAT\r");
    CHECK(r.out == "ATE0\b \b\b \b\b \b\b \bAT\r" + ok);
    CHECK(r.regs.echo);

    // Backspacing over "AT" returns to idle: a lone T does nothing.
    r = type("AT\b\b\bT\r");
    CHECK(r.out == "AT\b \b\b \bT\r");
    CHECK(r.calls.empty());
    // ... and "A" + "T" again starts a fresh line.
    r = type("ATX\b\bTE0\r");
    CHECK(r.out == "ATX\b \b\b \bTE0\r" + ok);
    CHECK_FALSE(r.regs.echo);

    // Without echo, nothing is written back.
    CHECK(type("ATQ9\b0\r", echo_off()).out == ok);

    // A different S5: 0x14 edits, 0x08 is then just an ignored control byte.
    setup s;
    s.before = "ATS5=20\r";
    r = type("ATQ9\x14" "0\r", s);
    CHECK(r.out == "ATQ9\b \b0\r" + ok);
    r = type("ATQ\b1\r", s);
    CHECK(r.out == "ATQ1\r");
    CHECK(r.regs.quiet);
}

TEST_CASE("non-printable bytes inside a line are ignored") {
    std::string line = "ATE";
    for (int c = 0; c < 32; ++c) {
        if (c != '\r' && c != '\b') line += static_cast<char>(c);
    }
    for (int c = 128; c < 256; ++c) line += static_cast<char>(c);
    line += "0\r";
    auto const r = type(line);
    CHECK(r.out == "ATE0\r" + ok);
    CHECK_FALSE(r.regs.echo);
}

TEST_CASE("a changed S3 ends lines") {
    setup s;
    s.before = "ATS3=35\r";  // '#'
    // CR is then just an ignored control byte.
    CHECK(type("AT\rI4#", s).out == "ATI4#" "#\nSwitchboard vmodem#\n" "#\nOK#\n");
}

TEST_CASE("chained commands") {
    auto const r = type("ATE0V0Q0X1S0=2S7?\r");
    CHECK(r.out == "ATE0V0Q0X1S0=2S7?\r" "050\r\n" "0\r");
    CHECK_FALSE(r.regs.echo);
    CHECK_FALSE(r.regs.verbose);
    CHECK_FALSE(r.regs.quiet);
    CHECK(r.regs.x_level == 1);
    CHECK(r.regs.s[0] == 2);

    auto const spaced = type("at e0 v 0 x 3 s 0 = 2 s7 ?\r");
    CHECK(spaced.out == "at e0 v 0 x 3 s 0 = 2 s7 ?\r" "050\r\n" "0\r");
    CHECK(spaced.regs.x_level == 3);
    CHECK(spaced.regs.s[0] == 2);
}

TEST_CASE("a command with no number means 0") {
    auto const r = type("ATE0\rATE1V\r", echo_off());
    CHECK(r.out == ok + "0\r");  // typed with echo off
    CHECK_FALSE(r.regs.verbose);
    CHECK(type("ATX\r").regs.x_level == 0);
    CHECK(type("ATQ\r").out == "ATQ\r" + ok);
}

TEST_CASE("every S-register can be written and read back") {
    for (int n = 0; n < 256; ++n) {
        auto const v = (n * 7 + 3) % 256;
        auto const w = type("ATS" + std::to_string(n) + "=" + std::to_string(v) + "\r", echo_off());
        CAPTURE(n);
        CHECK(w.regs.s[static_cast<std::size_t>(n)] == v);
        if (n == 3 || n == 4) continue;  // they frame the answer itself
        CHECK(w.out == ok);
        setup s = echo_off();
        s.before += "ATS" + std::to_string(n) + "=" + std::to_string(v) + "\r";
        auto const digits = std::to_string(v);
        auto const r = type("ATS" + std::to_string(n) + "?\r", s);
        CHECK(r.out == info(std::string(3 - digits.size(), '0') + digits) + ok);
    }
}

TEST_CASE("S-register limits") {
    auto r = type("ATS256=1\r");
    CHECK(r.out == "ATS256=1\r" + error);
    r = type("ATS1=256\r");
    CHECK(r.out == "ATS1=256\r" + error);
    CHECK(r.regs.s[1] == 0);
    CHECK(type("ATS1=255\r").regs.s[1] == 255);
    CHECK(type("ATS999?\r").out == "ATS999?\r" + error);
    CHECK(type("ATS1=99999999999999999999999\r").out == "ATS1=99999999999999999999999\r" + error);
    CHECK(type("ATS99999999999999999999999=1\r").out == "ATS99999999999999999999999=1\r" + error);
    // Leading zeros are just digits.
    CHECK(type("ATS0007=000255\r").regs.s[7] == 255);
    CHECK(type("ATS7=\r").regs.s[7] == 0);
    CHECK(type("ATS=9\r").regs.s[0] == 9);
    CHECK(type("ATS255?\r", echo_off()).out == info("000") + ok);
}

TEST_CASE("ATSn selects a register for = and ?") {
    auto r = type("ATS7\r");
    CHECK(r.out == "ATS7\r" + ok);

    setup s = echo_off();
    s.before = "ATE0S7\r";
    r = type("AT=30\rAT?\r", s);
    CHECK(r.out == ok + info("030") + ok);
    CHECK(r.regs.s[7] == 30);

    r = type("ATS9=12?\r", echo_off());
    CHECK(r.out == info("012") + ok);
    r = type("ATS9?=40?\r", echo_off());
    CHECK(r.out == info("006") + info("040") + ok);

    // Nothing selected yet means S0.
    r = type("AT=5\r");
    CHECK(r.regs.s[0] == 5);
    CHECK(type("AT=256\r").out == "AT=256\r" + error);
    CHECK(type("AT?\r", echo_off()).out == info("000") + ok);
}

TEST_CASE("V0 and V1") {
    auto r = type("ATV0\r");
    CHECK(r.out == "ATV0\r0\r");
    CHECK_FALSE(r.regs.verbose);
    setup s;
    s.before = "ATV0\r";
    CHECK(type("ATK\r", s).out == "ATK\r4\r");
    CHECK(type("ATI4\r", s).out == "ATI4\rSwitchboard vmodem\r\n0\r");
    r = type("ATV1\r", s);
    CHECK(r.out == "ATV1\r" + ok);
    CHECK(r.regs.verbose);
    CHECK(type("ATV2\r").out == "ATV2\r" + error);
}

TEST_CASE("Q1 silences results but not information") {
    auto r = type("ATQ1\r");
    CHECK(r.out == "ATQ1\r");
    CHECK(r.regs.quiet);
    setup s;
    s.before = "ATQ1\r";
    CHECK(type("ATK\r", s).out == "ATK\r");
    CHECK(type("ATI4\r", s).out == "ATI4\r" + info("Switchboard vmodem"));
    s.answer_ok = false;
    CHECK(type("ATA\r", s).out == "ATA\r");
    CHECK(type("ATQ0\r", s).out == "ATQ0\r" + ok);
    CHECK(type("ATQ2\r").out == "ATQ2\r" + error);
}

TEST_CASE("X levels") {
    for (int x = 0; x <= 4; ++x) {
        auto const r = type("ATX" + std::to_string(x) + "\r");
        CHECK(r.regs.x_level == x);
    }
    CHECK(type("ATX5\r").out == "ATX5\r" + error);
    CHECK(type("ATX5\r").regs.x_level == 4);
}

TEST_CASE("ATZ and AT&F restore the factory settings and hang up") {
    setup s;
    s.before = "ATE0V0Q0X2S7=99S0=1S200=7\r";
    for (auto cmd : {"ATZ\r", "ATZ0\r", "ATz1\r", "AT&F\r", "at&f0\r"}) {
        CAPTURE(cmd);
        auto const r = type(cmd, s);
        // The line is typed with echo off; the answer comes with V1 back on.
        CHECK(r.out == ok);
        CHECK(r.calls == calls{"hangup"});
        CHECK(same_registers(r.regs, registers()));
    }
    // Commands after Z run on the fresh settings.
    auto const r = type("ATZE0\r", s);
    CHECK(r.out == ok);
    CHECK_FALSE(r.regs.echo);
    CHECK(r.regs.verbose);
    CHECK(type("ATZ2\r").out == "ATZ2\r" + error);
}

TEST_CASE("reset() and clear_line()") {
    fake_control control;
    command_interpreter ci({}, control);
    std::string out;
    ci.feed("ATE0S7=9\rATX", out);
    ci.reset();
    CHECK(same_registers(ci.regs(), registers()));
    out.clear();
    ci.feed("3\r", out);  // the half-typed line is gone
    CHECK(out == "3\r");
    CHECK(ci.regs().x_level == 4);

    ci.feed("ATX", out);
    ci.clear_line();
    out.clear();
    ci.feed("1\rATX2\r", out);
    CHECK(out == "1\rATX2\r" + ok);
    CHECK(ci.regs().x_level == 2);
    CHECK(control.calls.empty());
}

TEST_CASE("AT&V shows the settings, registers, status and hooks") {
    setup s;
    s.opt.hooks.push_back(parse_command_hook("\\+GMI->Switchboard->OK"));
    s.before = "ATS0=2S30=6X3\r";
    auto const r = type("AT&V\r", s);
    std::string const page =
        "E1 Q0 V1 X3\r\n"
        "S00:002 S01:000 S02:043 S03:013 S04:010 S05:008 S06:002\r\n"
        "S07:050 S08:002 S09:006 S10:014 S11:095 S12:050 S30:006\r\n"
        "modem 0, idle, tty /tmp/vmodem/tty0\r\n"
        "hook \\+GMI->Switchboard->OK";
    CHECK(r.out == "AT&V\r" + info(page) + ok);
    CHECK(type("AT&V0\r", s).out == "AT&V0\r" + info(page) + ok);

    auto const plain = type("AT&V\r", echo_off());
    CHECK(plain.out.find("E0 Q0 V1 X4\r\n") != std::string::npos);
    CHECK(plain.out.find("hook") == std::string::npos);
    CHECK(plain.out.find("S13") == std::string::npos);
}

TEST_CASE("ATI0 to ATI7") {
    auto const s = echo_off();
    CHECK(type("ATI\r", s).out == info("56000") + ok);
    CHECK(type("ATI0\r", s).out == info("56000") + ok);
    CHECK(type("ATI1\r", s).out == info("0.1.0") + ok);
    CHECK(type("ATI3\r", s).out == info("Switchboard vmodem 0.1.0") + ok);
    CHECK(type("ATI4\r", s).out == info("Switchboard vmodem") + ok);
    CHECK(type("ATI5\r", s).out == info("modem 0, idle, tty /tmp/vmodem/tty0") + ok);
    for (int i = 0; i <= 7; ++i) {
        CAPTURE(i);
        auto const r = type("ATI" + std::to_string(i) + "\r", s);
        CHECK(r.out.size() > ok.size() + 4);
        CHECK(r.out.substr(r.out.size() - ok.size()) == ok);
        CHECK(r.out.find("ERROR") == std::string::npos);
    }
    CHECK(type("ATI8\r", s).out == error);

    setup custom = echo_off();
    custom.opt.identity = "Retro";
    custom.opt.version = "9";
    CHECK(type("ATI3I4\r", custom).out == info("Retro 9") + info("Retro") + ok);
}

TEST_CASE("ATD forms") {
    auto r = type("ATDT5551234\r");
    CHECK(r.out == "ATDT5551234\r");
    CHECK(r.calls == calls{"dial 5551234"});
    CHECK(r.last_number == "5551234");

    CHECK(type("ATDP 555-1234\r").calls == calls{"dial 555-1234"});
    CHECK(type("atdt555,1234\r").calls == calls{"dial 555,1234"});
    CHECK(type("ATD host.example:23\r").calls == calls{"dial host.example:23"});
    CHECK(type("ATD Host.Example:23\r").calls == calls{"dial Host.Example:23"});
    CHECK(type("ATDT bbs.example.org:6400;\r").calls == calls{"dial bbs.example.org:6400"});
    CHECK(type("ATD (555) 123-4567\r").calls == calls{"dial (555)123-4567"});
    // Settings before D run; everything after D is the number.
    r = type("ATE0DT123E1\r");
    CHECK(r.out == "ATE0DT123E1\r");
    CHECK(r.calls == calls{"dial 123E1"});
    CHECK_FALSE(r.regs.echo);
}

TEST_CASE("ATD with nothing to dial is an ERROR") {
    for (auto line : {"ATD\r", "ATDT\r", "ATDP\r", "ATD;\r", "ATDT ;\r", "ATD   \r"}) {
        CAPTURE(line);
        auto const r = type(line, echo_off());
        CHECK(r.out == error);
        CHECK(r.calls.empty());
        CHECK(r.last_number.empty());
    }
}

TEST_CASE("ATDL redials the last number") {
    auto r = type("ATDL\r", echo_off());
    CHECK(r.out == error);
    CHECK(r.calls.empty());

    setup s;
    s.before = "ATDT 555 1234\rATH\r";
    r = type("ATDL\r", s);
    CHECK(r.out == "ATDL\r");
    CHECK(r.calls == calls{"dial 5551234"});
    CHECK(type("atdtl;\r", s).calls == calls{"dial 5551234"});
    // A number that merely starts with L is a number.
    CHECK(type("ATDLOCALHOST:23\r", s).calls == calls{"dial LOCALHOST:23"});
}

TEST_CASE("a refused dial prints ERROR but remembers the number") {
    setup s;
    s.dial_ok = false;
    auto const r = type("ATDT123\rAT\r", s);
    CHECK(r.out == "ATDT123\r" + error + "AT\r" + ok);
    CHECK(r.calls == calls{"dial 123"});
    CHECK(r.last_number == "123");
    CHECK(r.consumed == 11);
}

TEST_CASE("feed() stops right after the line that leaves command mode") {
    std::string const input = "ATE0\rATDT123\r+++ATH\r";
    auto const r = type(input);
    CHECK(r.consumed == input.find('+'));
    CHECK(r.out == "ATE0\r" + ok);
    CHECK(r.calls == calls{"dial 123"});

    // The rest can be fed again later (back in command mode).
    fake_control control;
    command_interpreter ci({}, control);
    std::string out;
    auto const n = ci.feed(input, out);
    REQUIRE(n == r.consumed);
    out.clear();
    CHECK(ci.feed(std::string_view(input).substr(n), out) == input.size() - n);
    CHECK(out == ok);  // typed with echo off
    CHECK(control.calls == calls{"dial 123", "hangup"});
}

TEST_CASE("ATA and ATO") {
    auto r = type("ATA\rATI\r");
    CHECK(r.out == "ATA\r");
    CHECK(r.consumed == 4);
    CHECK(r.calls == calls{"answer"});

    // The line ends at A: what follows is not run.
    r = type("ATAE0\r");
    CHECK(r.calls == calls{"answer"});
    CHECK(r.regs.echo);

    setup refuse;
    refuse.answer_ok = false;
    refuse.online_ok = false;
    r = type("ATA\rAT\r", refuse);
    CHECK(r.out == "ATA\r" + no_carrier + "AT\r" + ok);
    CHECK(r.consumed == 7);
    CHECK(r.calls == calls{"answer"});

    r = type("ATO\rATI\r");
    CHECK(r.out == "ATO\r");
    CHECK(r.consumed == 4);
    CHECK(r.calls == calls{"online"});
    CHECK(type("ATO0\r").calls == calls{"online"});
    CHECK(type("ATE0O\r").calls == calls{"online"});
    CHECK(type("ATO2\r").out == "ATO2\r" + error);

    r = type("ATO\r", refuse);
    CHECK(r.out == "ATO\r" + no_carrier);
    CHECK(r.calls == calls{"online"});
}

TEST_CASE("ATH") {
    CHECK(type("ATH\r").calls == calls{"hangup"});
    CHECK(type("ATH0\r").calls == calls{"hangup"});
    auto const r = type("ATH1\r");
    CHECK(r.out == "ATH1\r" + ok);
    CHECK(r.calls.empty());
    CHECK(type("ATH2\r").out == "ATH2\r" + error);
}

TEST_CASE("A/ repeats the last line at once") {
    setup s;
    s.before = "ATI4\r";
    auto r = type("A/", s);
    CHECK(r.out == "A/" + info("Switchboard vmodem") + ok);
    CHECK(type("a/", s).out == "a/" + info("Switchboard vmodem") + ok);

    // Nothing typed yet: the empty line, which is OK.
    CHECK(type("A/").out == "A/" + ok);

    // Lines that failed are repeated too; overflowed ones are not lines.
    s.before = "ATE0\rATK\r";
    CHECK(type("A/", s).out == error);

    // Repeating a dial leaves command mode again.
    s.before = "ATDT42\r";
    r = type("A/AT\r", s);
    CHECK(r.consumed == 2);
    CHECK(r.calls == calls{"dial 42"});
    CHECK(r.out == "A/");

    // "A" then backspace then "/" is not A/.
    s.before = "ATI4\r";
    CHECK(type("A\b/", s).out == "A\b \b/");
}

TEST_CASE("an overlong line is an ERROR, without overflow") {
    setup s = echo_off();
    s.opt.max_line = 10;
    auto r = type("ATE1E1E1E1E1\r", s);  // 10 characters after AT: fits
    CHECK(r.out == ok);
    CHECK(r.regs.echo);
    r = type("ATE1E1E1E1E1E\r", s);
    CHECK(r.out == error);
    CHECK_FALSE(r.regs.echo);
    // Backspacing does not rescue it, and the next line is fine.
    r = type("ATE1E1E1E1E1E1\b\b\rATE1\r", s);
    CHECK(r.out == error + ok);
    CHECK(r.regs.echo);
    // An overflowed line is not remembered for A/.
    s.before += "ATI4\r";
    CHECK(type("AT" + std::string(50, 'X') + "\rA/", s).out == error + info("Switchboard vmodem") + ok);

    // The default limit, with echo still showing everything typed.
    std::string const longline = "AT" + std::string(1000, 'E') + "\r";
    auto const big = run_once({}, longline, std::string_view::npos);
    CHECK(big.out == longline + error);
    CHECK(big.consumed == longline.size());
}

TEST_CASE("unknown commands are an ERROR and stop the line") {
    auto r = type("ATE0K1E1\r");
    CHECK(r.out == "ATE0K1E1\r" + error);
    CHECK_FALSE(r.regs.echo);  // E0 ran, E1 did not
    for (auto line : {"ATK\r", "AT+GMI\r", "AT&\r", "AT&Z\r", "AT&F9999\r", "AT\\\r", "AT%\r", "AT\\1\r",
                      "AT!\r", "AT0\r", "ATM256\r", "AT&K256\r", "AT*\r"}) {
        CAPTURE(line);
        CHECK(type(line, echo_off()).out == error);
    }
}

TEST_CASE("commands accepted and ignored") {
    for (auto line : {"AT&C1&D2&K3&S0&W\r", "ATM0L3B0N1W2\r", "AT\\N3%C0\r", "AT\\q3%e1\r", "ATC1P T Y0\r",
                      "at&c1&d0\r", "AT&A3&B1&H1&I0&M4&N0&R1&U0&G0&J0&L0&P0&Q5&T0&X0&Y0\r"}) {
        CAPTURE(line);
        auto const r = type(line, echo_off());
        CHECK(r.out == ok);
        CHECK(r.calls.empty());
        CHECK(same_registers(r.regs, run_once(echo_off(), "", std::string_view::npos).regs));
    }
}

TEST_CASE("hooks: parsing") {
    auto h = parse_command_hook("\\+GMI->Switchboard->OK");
    CHECK(h.response == "Switchboard");
    CHECK(h.result == result_code::ok);
    CHECK(h.source == "\\+GMI->Switchboard->OK");
    CHECK(std::regex_match("+gmi", h.pattern));

    h = parse_command_hook("&K3->->OK");
    CHECK(h.response.empty());
    CHECK(parse_command_hook("X99->->ERROR").result == result_code::error);
    CHECK(parse_command_hook("Y->->no carrier").result == result_code::no_carrier);
    CHECK(parse_command_hook("Y->->No Dialtone").result == result_code::no_dialtone);
    CHECK(parse_command_hook("Y->-> BUSY ").result == result_code::busy);
    CHECK(parse_command_hook("Y->->no answer").result == result_code::no_answer);
    CHECK(parse_command_hook("Y->->ring").result == result_code::ring);
    CHECK(parse_command_hook("Y->->Connect").result == result_code::connect);
    for (int n : {0, 1, 2, 3, 4, 6, 7, 8}) {
        CAPTURE(n);
        CHECK(static_cast<int>(parse_command_hook("Y->->" + std::to_string(n)).result) == n);
    }
    // The response may hold an arrow; the regexp ends at the first one.
    h = parse_command_hook("Q->a->b->OK");
    CHECK(h.response == "a->b");

    CHECK_THROWS_AS(parse_command_hook("([->x->OK"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X->OK"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook(""), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X->->5"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X->->9"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X->->FINE"), std::invalid_argument);
    CHECK_THROWS_AS(parse_command_hook("X->->"), std::invalid_argument);
    try {
        parse_command_hook("([->x->OK");
        FAIL("no throw");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("([->x->OK") != std::string::npos);
    }
}

TEST_CASE("hooks: a whole matching line runs the hook") {
    setup s = echo_off();
    s.opt.hooks = {parse_command_hook("\\+GMI->Switchboard->OK"), parse_command_hook("&K3->->BUSY"),
                   parse_command_hook("\\+FOO=.*->foo set->7"), parse_command_hook("V0->->no carrier"),
                   parse_command_hook("\\+CON->->CONNECT")};
    CHECK(type("AT+GMI\r", s).out == info("Switchboard") + ok);
    CHECK(type("at+gmi\r", s).out == info("Switchboard") + ok);
    CHECK(type("AT&K3\r", s).out == "\r\nBUSY\r\n");
    CHECK(type("AT+FOO=1,2\r", s).out == info("foo set") + "\r\nBUSY\r\n");
    CHECK(type("AT+CON\r", s).out == "\r\nCONNECT 115200\r\n");
    // Hooks come before the built-in commands.
    auto r = type("ATV0\r", s);
    CHECK(r.out == no_carrier);
    CHECK(r.regs.verbose);
    // Only whole lines match.
    CHECK(type("AT+GMIX\r", s).out == error);
    CHECK(type("ATE1+GMI\r", s).out == error);
    CHECK(type("AT&K3&K3\r", s).out == ok);

    setup quiet = s;
    quiet.before += "ATQ1\r";
    CHECK(type("AT+GMI\r", quiet).out == info("Switchboard"));
}
