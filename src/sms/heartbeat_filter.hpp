#pragma once
// Strips a bridge client's heartbeat (e.g. "<heartbeat>") from its byte
// stream, wherever it falls: inside a command, or split across TCP
// segments. Sans-I/O: bytes in, bytes for the modem out, heartbeats counted.
//
// Bytes that could be the start of a heartbeat are held back until the
// next byte tells; a line typed to the modem ends with CR, which releases
// them. What a client that leaves was still holding back is dropped with
// it; flush() hands it over to a caller that wants it.
#include <cstddef>
#include <string>
#include <string_view>

namespace sb::sms {

class heartbeat_filter {
public:
    explicit heartbeat_filter(std::string pattern) : pattern_(std::move(pattern)) {}

    // Appends the bytes that are not heartbeats to `out`; returns how many
    // complete heartbeats the segment finished.
    std::size_t feed(std::string_view in, std::string& out);
    // The held-back partial match, as data.
    std::string flush();
    std::size_t held() const noexcept { return held_.size(); }

private:
    std::string pattern_;
    std::string held_;  // always a proper prefix of pattern_
};

}  // namespace sb::sms
