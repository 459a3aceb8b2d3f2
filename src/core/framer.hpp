#pragma once
// Sans-I/O framing: a framer looks at buffered bytes and says where the first
// message ends. No sockets, clocks or allocation on the scanning path.
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

namespace sb::core {

using bytes_view = std::span<const std::uint8_t>;

struct frame_result {
    enum class kind : std::uint8_t { need_more, complete, error };

    kind status = kind::need_more;
    std::size_t size = 0;  // message length in bytes when complete
    std::error_code ec;    // why, when error

    static frame_result need_more() noexcept { return {}; }
    static frame_result complete(std::size_t n) noexcept { return {kind::complete, n, {}}; }
    static frame_result error(std::error_code e) noexcept { return {kind::error, 0, e}; }

    bool is_complete() const noexcept { return status == kind::complete; }
    bool is_need_more() const noexcept { return status == kind::need_more; }
    bool is_error() const noexcept { return status == kind::error; }
};

// One framer per direction per connection. Contract:
// - scan(buf): buf holds every unconsumed byte, starting at the first byte of
//   the current message. Between two calls buf only grows at the end (the
//   caller appends what it read), so stateful framers may remember how much
//   they already looked at. Once scan returns complete(n) or error, the caller
//   drops the first n bytes and calls reset() before scanning the next message.
// - A framer never returns complete(n) with n > max_size(); a message that
//   would be larger is error(errc::frame_too_large) as soon as that is known.
// - at_eof(buf): the peer closed; formats whose messages may end at EOF (an
//   HTTP response without length) return complete, the others error/need_more.
class framer {
public:
    virtual ~framer() = default;

    virtual frame_result scan(bytes_view buf) = 0;
    virtual void reset() {}
    virtual frame_result at_eof(bytes_view buf);

    // Response framers whose framing depends on the request (HTTP HEAD, 1xx)
    // are told which request they answer before scanning its response.
    virtual void expect_response_to(bytes_view /*request*/) {}

    // After a complete message: the connection must be closed once this
    // message has been delivered (HTTP "Connection: close", HTTP/1.0).
    virtual bool closes_connection() const { return false; }

    std::size_t max_size() const noexcept { return max_size_; }

protected:
    explicit framer(std::size_t max_size) noexcept : max_size_(max_size) {}

private:
    std::size_t max_size_;
};

}  // namespace sb::core
