#include "sms/at_line.hpp"

namespace sb::sms {

at_line_framer::at_line_framer(std::size_t max_line) : max_line_(max_line == 0 ? 1 : max_line) {}

void at_line_framer::reset() {
    line_.clear();
    discarding_ = false;
}

void at_line_framer::feed(std::string_view data, std::vector<at_token>& out) {
    for (char c : data) {
        if (c == '\r' || c == '\n') {
            if (!discarding_ && !line_.empty()) out.push_back({at_token::kind::line, line_});
            line_.clear();
            discarding_ = false;
            continue;
        }
        if (discarding_) continue;
        // Only at the start of a line: "> " inside a response is just text.
        if (c == ' ' && line_ == ">") {
            out.push_back({at_token::kind::prompt, {}});
            line_.clear();
            continue;
        }
        if (line_.size() >= max_line_) {
            // Reported once; what is left of the line is not a line of its
            // own (it would be a fragment read as a response or a URC).
            out.push_back({at_token::kind::overlong, {}});
            line_.clear();
            discarding_ = true;
            continue;
        }
        line_ += c;
    }
}

}  // namespace sb::sms
