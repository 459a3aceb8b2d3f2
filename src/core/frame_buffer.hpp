#pragma once
// The bytes read from one connection and not yet framed: a framer scans
// pending(), the caller consume()s whole messages and reads into prepare().
// Growth stops at max_message + 1 bytes, so a framer always sees enough to
// tell that a message is too large, and memory never grows past the limit.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/framer.hpp"

namespace sb::core {

class frame_buffer {
public:
    frame_buffer() = default;
    frame_buffer(std::size_t max_message, std::size_t initial)
        : limit_(max_message + 1), buf_(std::min(initial, limit_)) {}

    bytes_view pending() const noexcept { return {buf_.data() + begin_, end_ - begin_}; }
    void consume(std::size_t n) noexcept { begin_ += n; }
    void commit(std::size_t n) noexcept { end_ += n; }

    // Room to read into, after moving pending bytes to the front and growing
    // if needed. Empty when the buffer is full at the limit.
    std::span<std::uint8_t> prepare() {
        if (begin_ > 0) {
            std::copy(buf_.begin() + static_cast<long>(begin_), buf_.begin() + static_cast<long>(end_), buf_.begin());
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == buf_.size() && buf_.size() < limit_) buf_.resize(std::min(limit_, std::max<std::size_t>(buf_.size() * 2, 1024)));
        return {buf_.data() + end_, buf_.size() - end_};
    }

private:
    std::size_t limit_ = 1;
    std::vector<std::uint8_t> buf_;
    std::size_t begin_ = 0, end_ = 0;
};

}  // namespace sb::core
