#pragma once
// What the multiplexer needs to know about an application protocol: how to
// frame each direction, whether requests carry an id it can rewrite (which
// makes pipelining safe), and what to tell a client when its request fails.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/framer.hpp"

namespace sb::core {

class protocol {
public:
    virtual ~protocol() = default;

    virtual std::string_view name() const = 0;
    virtual std::string_view description() const = 0;

    // Largest message either direction may carry unless configured otherwise.
    virtual std::size_t default_max_message() const = 0;

    virtual std::unique_ptr<framer> make_request_framer(std::size_t max_size) const = 0;
    virtual std::unique_ptr<framer> make_response_framer(std::size_t max_size) const = 0;

    // Protocols whose messages carry a transaction id (Modbus/TCP) let the pool
    // replace it with its own tag on the way up, match replies by tag, and put
    // the client's id back on the way down. Several requests may then share one
    // upstream connection at once (--pipeline).
    virtual bool has_tags() const { return false; }
    virtual void set_tag(std::span<std::uint8_t> /*message*/, std::uint16_t /*tag*/) const {}
    virtual std::optional<std::uint16_t> tag(bytes_view /*message*/) const { return std::nullopt; }

    // A reply is delivered only when it answers the request (same unit and
    // function for Modbus); the check runs on the reply as received, tag included.
    virtual bool response_matches(bytes_view /*request*/, bytes_view /*response*/) const { return true; }

    // The reply to send the client when its request failed with ec (errc
    // values from core/error.hpp). Empty: the protocol has no way to say so and
    // the client connection is closed instead.
    virtual std::vector<std::uint8_t> error_response(bytes_view /*request*/, std::error_code /*ec*/) const {
        return {};
    }

    // One-line summary of a message for debug logs ("tid=7 unit=1 fc=3").
    virtual std::string describe(bytes_view /*message*/) const { return {}; }
};

}  // namespace sb::core
