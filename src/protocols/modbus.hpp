#pragma once
// Modbus/TCP: MBAP header (transaction id, protocol id 0, length) + unit + PDU.
// The transaction id is the tag that lets several requests share one upstream.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/protocol.hpp"

namespace sb::proto {

class mbap_framer final : public core::framer {
public:
    static constexpr std::size_t header_size = 6;  // tid, pid, len
    static constexpr std::size_t min_length = 2;   // unit + function code
    static constexpr std::size_t max_length = 254; // unit + 253-byte PDU

    explicit mbap_framer(std::size_t max_size) noexcept : framer(max_size) {}
    core::frame_result scan(core::bytes_view buf) override;
};

class modbus_protocol final : public core::protocol {
public:
    // Gateway exception codes (Modbus application protocol v1.1b3, 7).
    static constexpr std::uint8_t gateway_path_unavailable = 0x0a;
    static constexpr std::uint8_t gateway_target_failed = 0x0b;

    std::string_view name() const override { return "modbus"; }
    std::string_view description() const override { return "Modbus/TCP (MBAP), transaction ids rewritten"; }
    std::size_t default_max_message() const override { return mbap_framer::header_size + mbap_framer::max_length; }

    std::unique_ptr<core::framer> make_request_framer(std::size_t max_size) const override;
    std::unique_ptr<core::framer> make_response_framer(std::size_t max_size) const override;

    bool has_tags() const override { return true; }
    void set_tag(std::span<std::uint8_t> message, std::uint16_t tag) const override;
    std::optional<std::uint16_t> tag(core::bytes_view message) const override;

    bool response_matches(core::bytes_view request, core::bytes_view response) const override;
    std::vector<std::uint8_t> error_response(core::bytes_view request, std::error_code ec) const override;
    std::string describe(core::bytes_view message) const override;
};

}  // namespace sb::proto
