#pragma once
// Hayes command mode, sans-I/O: line editing (echo, S5 backspace and DEL,
// "A/" repeat, "AT" prefix in either case), parsing a command line into
// chained commands and running them. Settings commands are handled here;
// call-related ones (D, A, H, O, Z's hang-up) are asked of a modem_control,
// implemented by the modem state machine. Bytes in, text out: no clock, no
// sockets, so tests type a line and read the answer.
#include <cstddef>
#include <optional>
#include <regex>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "modem/registers.hpp"

namespace sb::modem {

// What the command interpreter needs from the rest of the modem.
class modem_control {
public:
    virtual ~modem_control() = default;
    // ATD<number> (T/P modifiers already stripped, "L" resolved to the last
    // number by the interpreter). Returns false if dialling is impossible now
    // (then the interpreter prints ERROR); true means the modem will print
    // the outcome itself later (CONNECT, BUSY, NO ANSWER, ...).
    virtual bool dial(const std::string& number) = 0;
    // ATA: true if a call is being answered (outcome printed later);
    // false: the interpreter prints NO CARRIER.
    virtual bool answer() = 0;
    // ATO: true to go back online (the modem prints CONNECT); false: NO CARRIER.
    virtual bool online() = 0;
    // ATH / ATH0 / ATZ / AT&F hang up any call (no output).
    virtual void hangup() = 0;
    // ATI5 and AT&V show this (e.g. "modem 0, idle, tty /tmp/vmodem/tty0").
    virtual std::string status() const = 0;
};

// A custom command: when the whole line after "AT" matches `pattern`
// (std::regex_match, case-insensitive), print `response` (may be empty) then
// `result`. Parsed from "regexp->response->result", e.g.
//   "\+GMI->Switchboard->OK"   "&K3->->OK"   "X99->->ERROR"
struct command_hook {
    std::regex pattern;
    std::string response;
    result_code result = result_code::ok;
    std::string source;  // the text it was parsed from, for AT&V and logs
};
// Throws std::invalid_argument naming the problem for a malformed rule or regex.
command_hook parse_command_hook(const std::string& rule);

struct interpreter_options {
    std::vector<command_hook> hooks;
    std::string identity = "Switchboard vmodem";  // ATI3 / ATI4 text (ATI0 is the product code)
    std::string version = "0.1.0";                // ATI1/ATI2 info
    unsigned connect_speed = 115200;              // for CONNECT <speed>
    std::size_t max_line = 255;                   // longer lines: ERROR, no overflow
    // This modem's "factory" values on top of Hayes' (e.g. S12 from
    // --guard-time): power-on, ATZ and AT&F restore them.
    std::vector<std::pair<std::uint8_t, std::uint8_t>> register_defaults;
};

class command_interpreter {
public:
    command_interpreter(interpreter_options opt, modem_control& control);

    registers& regs() { return regs_; }
    const registers& regs() const { return regs_; }
    const interpreter_options& options() const { return opt_; }

    // Feeds bytes typed in command mode. Echo and results are appended to
    // out. Stops early, right after the line that started a dial, an answer
    // or an online (the modem leaves command mode then): returns how many
    // bytes were consumed; the caller hands the rest to the data path or
    // back here later.
    std::size_t feed(std::string_view bytes, std::string& out);

    // ATZ / power-on: factory registers and an empty line buffer.
    void reset();
    // The line being typed is dropped (e.g. a call came in and was answered).
    void clear_line() { line_.clear(); state_ = line_state::idle; }
    // Last number dialled (for ATDL and the status page).
    const std::string& last_number() const { return last_number_; }

private:
    registers factory() const;
    enum class line_state { idle, got_a, in_line };
    // Runs one complete line (text after "AT"); true if the modem left command mode.
    bool execute(const std::string& line, std::string& out);

    interpreter_options opt_;
    modem_control& control_;
    registers regs_;
    line_state state_ = line_state::idle;
    std::string line_;       // after "AT"
    std::string last_line_;  // for "A/"
    std::string last_number_;
    bool line_overflow_ = false;
    int selected_register_ = 0;  // "ATS7" then "?" or "=v"
};

}  // namespace sb::modem
