// GCC 12 with sanitizers flags libstdc++'s regex compiler for reading an
// uninitialised std::function (a known false positive in the library, not
// our code). The header is included here first so the silencing covers it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#endif

#include "modem/command_interpreter.hpp"

#include <array>
#include <stdexcept>
#include <utility>

namespace sb::modem {

namespace {

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return upper(c) >= 'A' && upper(c) <= 'Z'; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (upper(a[i]) != upper(b[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

constexpr std::array<std::pair<std::string_view, result_code>, 8> result_names{{
    {"OK", result_code::ok},
    {"CONNECT", result_code::connect},
    {"RING", result_code::ring},
    {"NO CARRIER", result_code::no_carrier},
    {"ERROR", result_code::error},
    {"NO DIALTONE", result_code::no_dialtone},
    {"BUSY", result_code::busy},
    {"NO ANSWER", result_code::no_answer},
}};

std::optional<result_code> parse_result(std::string_view s) {
    for (auto const& [name, code] : result_names) {
        if (iequals(s, name)) return code;
        // Short digit strings only: the numbers that exist are all one digit.
        if (s.size() == 1 && is_digit(s[0]) && s[0] - '0' == static_cast<int>(code)) return code;
    }
    return std::nullopt;
}

// Reads the commands of one line (spaces already removed). Numbers saturate
// instead of overflowing: every argument we accept is <= 255, so a huge one
// only has to stay huge.
class cursor {
public:
    explicit cursor(std::string_view text) : text_(text) {}
    bool done() const { return pos_ >= text_.size(); }
    char peek() const { return done() ? '\0' : text_[pos_]; }
    char take() { return done() ? '\0' : text_[pos_++]; }
    std::string_view rest() {
        auto const r = text_.substr(pos_);
        pos_ = text_.size();
        return r;
    }
    // A command given no number means 0.
    unsigned number() {
        unsigned v = 0;
        while (!done() && is_digit(text_[pos_])) {
            if (v <= 99999) v = v * 10 + static_cast<unsigned>(text_[pos_] - '0');
            ++pos_;
        }
        return v;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

std::string three_digits(unsigned v) {
    std::string s(3, '0');
    for (int i = 2; i >= 0; --i) {
        s[static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    return s;
}

std::string newline(const registers& r) { return {r.cr(), r.lf()}; }

// Commands real modems take that mean nothing for a virtual line (speaker,
// flow control, DTR/DCD handling, protocol selection): accepted so that old
// init strings work, ignored.
bool is_ignored_command(char c) {
    switch (c) {
    case 'B': case 'C': case 'L': case 'M': case 'N': case 'P': case 'T': case 'W': case 'Y':
        return true;
    default:
        return false;
    }
}
bool is_ignored_ampersand(char c) {
    switch (c) {
    case 'A': case 'B': case 'C': case 'D': case 'G': case 'H': case 'I': case 'J': case 'K':
    case 'L': case 'M': case 'N': case 'P': case 'Q': case 'R': case 'S': case 'T': case 'U':
    case 'W': case 'X': case 'Y':
        return true;
    default:
        return false;
    }
}

// AT&V: the flags, the registers that mean something here, the line state
// and the custom commands, so a user can see why a command behaves as it does.
std::string settings_page(const registers& regs, const std::string& status, const std::vector<command_hook>& hooks) {
    auto const nl = newline(regs);
    std::string page;
    page += regs.echo ? "E1" : "E0";
    page += regs.quiet ? " Q1" : " Q0";
    page += regs.verbose ? " V1" : " V0";
    page += " X" + std::to_string(regs.x_level);
    page += nl;
    static constexpr std::array<int, 14> shown{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 30};
    for (std::size_t i = 0; i < shown.size(); ++i) {
        auto const n = static_cast<unsigned>(shown[i]);
        page += 'S';
        page += static_cast<char>('0' + n / 10);
        page += static_cast<char>('0' + n % 10);
        page += ':';
        page += three_digits(regs.s[n]);
        page += (i == 6 || i + 1 == shown.size()) ? nl : std::string(" ");
    }
    page += status;
    for (auto const& hook : hooks) {
        page += nl;
        page += "hook ";
        page += hook.source;
    }
    return page;
}

}  // namespace

command_hook parse_command_hook(const std::string& rule) {
    static constexpr std::string_view arrow = "->";
    auto const first = rule.find(arrow);
    auto const last = rule.rfind(arrow);
    if (first == std::string::npos || first == last) {
        throw std::invalid_argument("command hook \"" + rule + "\": expected regexp->response->result");
    }
    // The regexp ends at the first arrow and the result starts after the
    // last: the response is the part most likely to hold an arrow of its own.
    command_hook hook;
    hook.source = rule;
    hook.response = rule.substr(first + arrow.size(), last - first - arrow.size());
    auto const result_text_part = trim(std::string_view(rule).substr(last + arrow.size()));
    auto const code = parse_result(result_text_part);
    if (!code) {
        throw std::invalid_argument("command hook \"" + rule + "\": unknown result \"" +
                                    std::string(result_text_part) + "\"");
    }
    hook.result = *code;
    try {
        hook.pattern = std::regex(rule.substr(0, first), std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
        throw std::invalid_argument("command hook \"" + rule + "\": bad regexp: " + e.what());
    }
    return hook;
}

command_interpreter::command_interpreter(interpreter_options opt, modem_control& control)
    : opt_(std::move(opt)), control_(control), regs_(factory()) {}

registers command_interpreter::factory() const {
    registers r;
    for (auto [reg, value] : opt_.register_defaults) r.s[reg] = value;
    return r;
}

void command_interpreter::reset() {
    regs_ = factory();
    clear_line();
    line_overflow_ = false;
    selected_register_ = 0;
}

std::size_t command_interpreter::feed(std::string_view bytes, std::string& out) {
    auto echo = [&](std::string_view s) {
        if (regs_.echo) out += s;
    };
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        char const c = bytes[i];
        auto const u = static_cast<unsigned char>(c);
        bool const printable = u >= 0x20 && u < 0x7f;
        bool const is_cr = c == regs_.cr();
        bool const is_erase = c == regs_.bs() || u == 127;
        std::string_view const typed(&bytes[i], 1);

        switch (state_) {
        case line_state::idle:
            if (c == 'A' || c == 'a') state_ = line_state::got_a;
            // Real modems echo what is typed before AT too; control bytes
            // other than CR would only garble the terminal.
            if (printable || is_cr) echo(typed);
            break;

        case line_state::got_a:
            if (c == 'T' || c == 't') {
                echo(typed);
                state_ = line_state::in_line;
                line_.clear();
                line_overflow_ = false;
            } else if (c == '/') {
                echo(typed);
                state_ = line_state::idle;
                // A copy: the control may clear or reset us while we run it.
                std::string const line = last_line_;
                if (execute(line, out)) return i + 1;
            } else if (is_cr) {
                echo(typed);
                state_ = line_state::idle;
            } else if (is_erase) {
                echo("\b \b");
                state_ = line_state::idle;
            } else if (c == 'A' || c == 'a') {
                echo(typed);
            } else if (printable) {
                echo(typed);
                state_ = line_state::idle;
            }
            break;

        case line_state::in_line:
            if (is_cr) {
                echo(typed);
                std::string line = std::move(line_);
                line_.clear();
                state_ = line_state::idle;
                if (std::exchange(line_overflow_, false)) {
                    // The line was cut short: running what fitted could do
                    // something the user never asked for.
                    out += format_result(result_code::error, regs_);
                } else {
                    last_line_ = line;
                    if (execute(line, out)) return i + 1;
                }
            } else if (is_erase) {
                echo("\b \b");
                // An overflowed line stays doomed: we no longer know what the
                // user sees, so ERROR is the honest answer at CR.
                if (!line_.empty()) {
                    line_.pop_back();
                } else {
                    state_ = line_state::got_a;
                }
            } else if (printable) {
                echo(typed);
                if (line_.size() < opt_.max_line) {
                    line_ += c;
                } else {
                    line_overflow_ = true;
                }
            }
            break;
        }
    }
    return bytes.size();
}

bool command_interpreter::execute(const std::string& line, std::string& out) {
    for (auto const& hook : opt_.hooks) {
        bool matched = false;
        try {
            matched = std::regex_match(line, hook.pattern);
        } catch (const std::regex_error&) {
            // Too complex for this line: a hook must not take the modem down.
        }
        if (matched) {
            if (!hook.response.empty()) out += format_info(hook.response, regs_);
            out += format_result(hook.result, regs_, opt_.connect_speed);
            return false;
        }
    }

    std::string compact;
    compact.reserve(line.size());
    for (char c : line) {
        if (c != ' ') compact += c;
    }

    auto fail = [&] {
        out += format_result(result_code::error, regs_);
        return false;
    };
    auto no_carrier = [&] {
        out += format_result(result_code::no_carrier, regs_);
        return false;
    };
    auto info = [&](const std::string& text) { out += format_info(text, regs_); };
    auto flag = [&](cursor& cur, bool& f) {
        auto const n = cur.number();
        if (n > 1) return false;
        f = n == 1;
        return true;
    };

    cursor cur(compact);
    while (!cur.done()) {
        char const cmd = upper(cur.take());
        switch (cmd) {
        case 'E':
            if (!flag(cur, regs_.echo)) return fail();
            break;
        case 'V':
            if (!flag(cur, regs_.verbose)) return fail();
            break;
        case 'Q':
            if (!flag(cur, regs_.quiet)) return fail();
            break;
        case 'X': {
            auto const n = cur.number();
            if (n > 4) return fail();
            regs_.x_level = static_cast<int>(n);
            break;
        }
        case 'Z': {
            if (cur.number() > 1) return fail();
            regs_ = factory();
            selected_register_ = 0;
            control_.hangup();
            break;
        }
        case 'H': {
            auto const n = cur.number();
            if (n > 1) return fail();
            // H1 (off hook) has no line to take here.
            if (n == 0) control_.hangup();
            break;
        }
        case 'A':
            // The line ends here whatever follows: the modem is busy answering.
            return control_.answer() ? true : no_carrier();
        case 'O':
            if (cur.number() > 1) return fail();
            return control_.online() ? true : no_carrier();
        case 'D': {
            auto number = std::string(cur.rest());
            if (!number.empty() && (upper(number.front()) == 'T' || upper(number.front()) == 'P')) {
                number.erase(0, 1);
            }
            // ';' asks real modems to stay in command mode after dialling;
            // a virtual call has no dial tone to linger on.
            if (!number.empty() && number.back() == ';') number.pop_back();
            if (number.empty()) return fail();
            if (iequals(number, "L")) {
                if (last_number_.empty()) return fail();
                number = last_number_;
            }
            last_number_ = number;
            return control_.dial(number) ? true : fail();
        }
        case 'I': {
            auto const n = cur.number();
            switch (n) {
            case 0: info("56000"); break;
            case 1: info(opt_.version); break;
            case 2: info("ROM test passed"); break;
            case 3: info(opt_.identity + " " + opt_.version); break;
            case 4: info(opt_.identity); break;
            case 5: info(control_.status()); break;
            case 6: info("no link diagnostics"); break;
            case 7: info("virtual modem, no options installed"); break;
            default: return fail();
            }
            break;
        }
        case 'S': {
            auto const n = cur.number();
            if (n > 255) return fail();
            selected_register_ = static_cast<int>(n);
            if (cur.peek() == '=') {
                cur.take();
                auto const v = cur.number();
                if (v > 255) return fail();
                regs_.s[n] = static_cast<std::uint8_t>(v);
            } else if (cur.peek() == '?') {
                cur.take();
                info(three_digits(regs_.s[n]));
            }
            break;
        }
        case '=': {
            auto const v = cur.number();
            if (v > 255) return fail();
            regs_.s[static_cast<std::size_t>(selected_register_)] = static_cast<std::uint8_t>(v);
            break;
        }
        case '?':
            info(three_digits(regs_.s[static_cast<std::size_t>(selected_register_)]));
            break;
        case '&': {
            char const sub = upper(cur.take());
            if (sub == 'F') {
                if (cur.number() > 255) return fail();
                regs_ = factory();
                selected_register_ = 0;
                control_.hangup();
            } else if (sub == 'V') {
                if (cur.number() > 255) return fail();
                info(settings_page(regs_, control_.status(), opt_.hooks));
            } else if (is_ignored_ampersand(sub)) {
                if (cur.number() > 255) return fail();
            } else {
                return fail();
            }
            break;
        }
        case '\\':
        case '%':
            // Vendor extensions differ from one modem to the next: any letter goes.
            if (!is_letter(cur.take())) return fail();
            if (cur.number() > 255) return fail();
            break;
        default:
            if (!is_ignored_command(cmd)) return fail();
            if (cur.number() > 255) return fail();
            break;
        }
    }
    out += format_result(result_code::ok, regs_);
    return false;
}

}  // namespace sb::modem
