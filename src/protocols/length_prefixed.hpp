#pragma once
// Messages preceded by their length: ISO 8583 over TCP (2-byte binary length)
// and MPU (4 ASCII decimal digits). Neither length counts its own header.
#include <cstddef>
#include <memory>
#include <string_view>

#include "core/protocol.hpp"

namespace sb::proto {

class iso8583_framer final : public core::framer {
public:
    static constexpr std::size_t header_size = 2;

    explicit iso8583_framer(std::size_t max_size) noexcept : framer(max_size) {}
    core::frame_result scan(core::bytes_view buf) override;
};

class mpu_framer final : public core::framer {
public:
    static constexpr std::size_t header_size = 4;

    explicit mpu_framer(std::size_t max_size) noexcept : framer(max_size) {}
    core::frame_result scan(core::bytes_view buf) override;
};

class iso8583_protocol final : public core::protocol {
public:
    std::string_view name() const override { return "iso8583"; }
    std::string_view description() const override { return "ISO 8583, 2-byte big-endian length header"; }
    // Any 16-bit length plus its header.
    std::size_t default_max_message() const override { return iso8583_framer::header_size + 0xffff; }

    std::unique_ptr<core::framer> make_request_framer(std::size_t max_size) const override;
    std::unique_ptr<core::framer> make_response_framer(std::size_t max_size) const override;
};

class mpu_protocol final : public core::protocol {
public:
    std::string_view name() const override { return "mpu"; }
    std::string_view description() const override { return "MPU, 4 ASCII decimal digits length header"; }
    std::size_t default_max_message() const override { return mpu_framer::header_size + 9999; }

    std::unique_ptr<core::framer> make_request_framer(std::size_t max_size) const override;
    std::unique_ptr<core::framer> make_response_framer(std::size_t max_size) const override;
};

}  // namespace sb::proto
