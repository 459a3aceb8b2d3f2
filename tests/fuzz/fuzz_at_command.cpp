// libFuzzer target for the Hayes command interpreter.
//
// Input layout: [flags] [piece size] [typed bytes...]
//   flags bit 0: dial() accepts numbers of even length (else odd)
//   flags bit 1: answer() accepts;  bit 2: online() accepts
//   flags bit 3: back in command mode through reset() (else clear_line())
//   flags bit 4: with custom command hooks
//   flags bits 5-6: max_line 255, 16, 1 or 0
//
// The bytes are typed twice: all at once and in pieces of the given size.
// Both must give the same output, calls and settings: how a terminal's
// bytes are cut into reads may not change what the modem does.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_driver.hpp"
#include "modem/command_interpreter.hpp"

namespace {

using namespace sb::modem;

class fake_control final : public modem_control {
public:
    explicit fake_control(std::uint8_t flags) : flags_(flags) {}

    bool dial(const std::string& number) override {
        SB_FUZZ_CHECK(!number.empty());
        log += "D" + number + "\n";
        return leave(((number.size() & 1) == 0) == ((flags_ & 1) != 0));
    }
    bool answer() override {
        log += "A\n";
        return leave((flags_ & 2) != 0);
    }
    bool online() override {
        log += "O\n";
        return leave((flags_ & 4) != 0);
    }
    void hangup() override { log += "H\n"; }
    std::string status() const override { return "fuzz modem"; }

    std::string log;
    bool left = false;

private:
    bool leave(bool ok) {
        left = left || ok;
        return ok;
    }
    std::uint8_t flags_;
};

const std::vector<command_hook>& hooks() {
    static const std::vector<command_hook> h = {
        parse_command_hook("\\+GMI->Switchboard->OK"),
        parse_command_hook("&K3->->BUSY"),
        parse_command_hook("\\+FOO=[0-9]*->foo->7"),
        parse_command_hook("X.*Y->->connect"),
    };
    return h;
}

struct run_result {
    std::string out;
    std::string log;
    registers regs;
    std::string last_number;
};

// piece == 0: everything at once.
run_result type(std::uint8_t flags, std::size_t piece, std::string_view typed) {
    interpreter_options opt;
    if (flags & 16) opt.hooks = hooks();
    static constexpr std::size_t max_lines[] = {255, 16, 1, 0};
    opt.max_line = max_lines[(flags >> 5) & 3];
    fake_control control(flags);
    command_interpreter ci(opt, control);

    run_result r;
    std::size_t pos = 0;
    while (pos < typed.size()) {
        auto const n = piece == 0 ? typed.size() - pos : std::min(piece, typed.size() - pos);
        auto const chunk = typed.substr(pos, n);
        auto const used = ci.feed(chunk, r.out);
        SB_FUZZ_CHECK(used <= chunk.size());
        // Stopping early is only for leaving command mode.
        SB_FUZZ_CHECK(used == chunk.size() || control.left);
        SB_FUZZ_CHECK(!control.left || used > 0);
        pos += used;
        if (control.left) {
            // The call ended; the modem is back in command mode.
            control.left = false;
            control.log += "--\n";
            if (flags & 8) {
                ci.reset();
                SB_FUZZ_CHECK(ci.regs().s == registers().s);
            } else {
                ci.clear_line();
            }
        }
    }
    r.log = std::move(control.log);
    r.regs = ci.regs();
    r.last_number = ci.last_number();
    SB_FUZZ_CHECK(r.last_number.size() <= opt.max_line);
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    auto const flags = data[0];
    auto const piece = std::max<std::size_t>(data[1], 1);
    std::string_view const typed(reinterpret_cast<const char*>(data + 2), size - 2);

    auto const whole = type(flags, 0, typed);
    auto const pieces = type(flags, piece, typed);
    SB_FUZZ_CHECK(whole.out == pieces.out);
    SB_FUZZ_CHECK(whole.log == pieces.log);
    SB_FUZZ_CHECK(whole.regs.s == pieces.regs.s);
    SB_FUZZ_CHECK(whole.regs.echo == pieces.regs.echo && whole.regs.quiet == pieces.regs.quiet &&
                  whole.regs.verbose == pieces.regs.verbose && whole.regs.x_level == pieces.regs.x_level);
    SB_FUZZ_CHECK(whole.last_number == pieces.last_number);
    return 0;
}
