#include "sms/heartbeat_filter.hpp"

namespace sb::sms {

std::size_t heartbeat_filter::feed(std::string_view in, std::string& out) {
    if (pattern_.empty()) {
        out.append(in);
        return 0;
    }
    std::size_t beats = 0;
    for (char c : in) {
        held_.push_back(c);
        // Drop from the front until what is held is a prefix again: the
        // dropped bytes are data. The pattern is short (64 bytes at most),
        // so the rescan costs less than a failure table would save.
        while (!held_.empty() && pattern_.compare(0, held_.size(), held_) != 0) {
            out.push_back(held_.front());
            held_.erase(0, 1);
        }
        if (held_.size() == pattern_.size()) {
            ++beats;
            held_.clear();
        }
    }
    return beats;
}

std::string heartbeat_filter::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

}  // namespace sb::sms
