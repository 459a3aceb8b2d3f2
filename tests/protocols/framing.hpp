#pragma once
// Drives a framer the way the multiplexer does: bytes arrive in pieces, the
// buffer grows, complete messages are dropped from its front and the framer is
// reset. Tests compare what came out for every way of cutting the input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/error.hpp"
#include "core/protocol.hpp"

namespace sb::proto::test {

enum class side { request, response };

struct run_options {
    side dir = side::request;
    std::size_t max_size = 0;           // 0: the protocol's default
    bool eof = false;                   // the peer closes after the last byte
    std::vector<std::string> requests{};  // response side: announced in turn before each response
};

struct outcome {
    std::vector<std::size_t> sizes;      // complete messages in order
    std::vector<bool> closes;            // closes_connection() after each of them
    std::optional<std::error_code> error;
    std::size_t left = 0;                // unconsumed bytes at the end; 0 after an error

    bool operator==(const outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const outcome& o);

// Messages that keep the connection open, nothing left over.
outcome messages(std::vector<std::size_t> sizes, std::size_t left = 0);
outcome failed(std::vector<std::size_t> sizes, core::errc e);

core::bytes_view bytes(std::string_view s);

outcome run(const core::protocol& p, std::string_view input, std::span<const std::size_t> cuts,
            const run_options& o = {});

// All bytes at once, cut once at every position, cut twice at every pair of
// positions (short inputs), and one byte at a time: each must give `want`.
void check_every_split(const core::protocol& p, std::string_view input, const outcome& want,
                       const run_options& o = {});

// One scan of `input` with a fresh framer.
core::frame_result scan_once(const core::protocol& p, std::string_view input, const run_options& o = {});

}  // namespace sb::proto::test
