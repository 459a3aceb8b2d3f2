#pragma once
// Line protocol: a message is everything up to and including "\n".
#include <cstddef>
#include <memory>
#include <string_view>

#include "core/protocol.hpp"

namespace sb::proto {

// Remembers how far it already searched, so a long line arriving in small
// pieces is scanned once, not once per piece.
class line_framer final : public core::framer {
public:
    explicit line_framer(std::size_t max_size) noexcept : framer(max_size) {}

    core::frame_result scan(core::bytes_view buf) override;
    void reset() override { searched_ = 0; }

private:
    std::size_t searched_ = 0;
};

class echo_protocol final : public core::protocol {
public:
    std::string_view name() const override { return "echo"; }
    std::string_view description() const override { return "newline-terminated lines"; }
    std::size_t default_max_message() const override { return 64 * 1024; }

    std::unique_ptr<core::framer> make_request_framer(std::size_t max_size) const override;
    std::unique_ptr<core::framer> make_response_framer(std::size_t max_size) const override;
};

}  // namespace sb::proto
