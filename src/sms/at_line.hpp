#pragma once
// Cuts the byte stream from a GSM/LTE modem into lines and "> " prompts,
// sans-I/O: bytes in, tokens out, no clock and no port. The AT engine
// (at_engine.hpp) decides what the lines mean.
//
// Modems end lines with CR LF, but some firmwares (and echoed commands,
// "AT+CSQ\r") use a lone CR or LF: any CR or LF ends a line, and the empty
// lines this makes between CR and LF are skipped. The SMS text prompt
// "> " (3E 20) never ends in CR LF, so it is reported as soon as its
// space arrives at the start of a line, however the bytes were cut.
// Tokens depend only on the bytes, never on how they were split.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sms {

struct at_token {
    enum class kind : std::uint8_t {
        line,     // a complete line, without its CR/LF
        prompt,   // "> ": the modem waits for the PDU of AT+CMGS
        overlong, // a line longer than max_line: dropped up to its end
    };
    kind what = kind::line;
    std::string text;  // empty for prompt and overlong

    bool operator==(const at_token&) const = default;
};

class at_line_framer {
public:
    // 4096: a +CMGL PDU line is about 360 characters, the longest
    // legitimate ones (a +CUSD answer in UCS2 hex) under 1000.
    static constexpr std::size_t default_max_line = 4096;

    explicit at_line_framer(std::size_t max_line = default_max_line);

    // Appends the tokens completed by data to out.
    void feed(std::string_view data, std::vector<at_token>& out);
    // Forgets a partial line (the port was reopened).
    void reset();

    std::size_t max_line() const { return max_line_; }
    // Bytes held for a line not yet ended (never more than max_line).
    std::size_t pending() const { return line_.size(); }

private:
    std::size_t max_line_;
    std::string line_;
    bool discarding_ = false;  // inside an overlong line, until its end
};

}  // namespace sb::sms
