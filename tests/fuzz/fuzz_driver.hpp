#pragma once
// Shared libFuzzer driver: pushes the input through a protocol's request and
// response framers in pieces whose sizes come from the input itself, the way
// the multiplexer feeds them, and aborts when the framer contract is broken.
//
// Input layout: [control] [4 piece sizes] [payload...]
//   control bits 0-1: max_size: default, default, 1 + 4 * bits 2-7, default/2
//   control bits 2-7: also pick the request each response answers (HTTP)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/protocol.hpp"

#define SB_FUZZ_CHECK(cond)                                                          \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                            \
        }                                                                            \
    } while (0)

namespace sb::fuzz {

using core::bytes_view;

struct input {
    std::uint8_t control = 0;
    std::uint8_t pieces[4] = {1, 1, 1, 1};
    bytes_view payload;
};

inline input split_input(bytes_view data) {
    input in;
    if (data.empty()) return in;
    in.control = data[0];
    data = data.subspan(1);
    for (auto& p : in.pieces) {
        if (data.empty()) break;
        p = data[0];
        data = data.subspan(1);
    }
    in.payload = data;
    return in;
}

inline std::size_t pick_max(const core::protocol& p, std::uint8_t control) {
    switch (control & 3) {
    case 2: return 1 + (control >> 2) * 4;
    case 3: return p.default_max_message() / 2;
    default: return p.default_max_message();
    }
}

inline bytes_view as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// What a response answers, for framers that care (HTTP HEAD, 1xx).
inline bytes_view request_for(std::uint8_t control, std::size_t nth) {
    static constexpr std::string_view requests[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "HEAD / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "HEAD /x HTTP/1.0\r\n\r\n",
    };
    return as_bytes(requests[((control >> 2) + nth) % std::size(requests)]);
}

// Called with every complete message, to exercise what the protocol does with one.
using message_check = void (*)(const core::protocol&, bytes_view message, bool is_request);

inline bool is_framing_error(std::error_code ec) {
    return ec == core::errc::bad_frame || ec == core::errc::frame_too_large;
}

// One direction. Returns normally when the input is consumed or the framer
// failed (the caller would close the connection).
inline void drive(const core::protocol& p, bool is_request, const input& in, message_check check) {
    auto const max = pick_max(p, in.control);
    auto const framer = is_request ? p.make_request_framer(max) : p.make_response_framer(max);
    SB_FUZZ_CHECK(framer->max_size() == max);

    std::size_t responses = 0;
    bytes_view announced;
    auto announce = [&] {
        if (is_request) return;
        announced = request_for(in.control, responses++);
        framer->expect_response_to(announced);
    };

    // A fresh framer shown the same bytes at once must find the same message:
    // how the bytes were cut may not change where a message ends.
    auto agrees = [&](bytes_view buf, std::size_t size) {
        auto const fresh = is_request ? p.make_request_framer(max) : p.make_response_framer(max);
        if (!is_request) fresh->expect_response_to(announced);
        auto const r = fresh->scan(buf);
        return r.is_complete() && r.size == size;
    };

    std::vector<std::uint8_t> buf;
    buf.reserve(in.payload.size());
    // false once the framer failed
    auto drain = [&](bool eof) {
        for (;;) {
            auto const r = eof ? framer->at_eof(buf) : framer->scan(buf);
            if (r.is_need_more()) {
                // More than max_size bytes without a message is an oversized one.
                SB_FUZZ_CHECK(buf.size() <= max);
                SB_FUZZ_CHECK(!eof || buf.empty());
                return true;
            }
            if (r.is_error()) {
                SB_FUZZ_CHECK(is_framing_error(r.ec));
                return false;
            }
            SB_FUZZ_CHECK(r.size > 0);  // progress
            SB_FUZZ_CHECK(r.size <= buf.size());
            SB_FUZZ_CHECK(r.size <= max);
            if (!eof) SB_FUZZ_CHECK(agrees(buf, r.size));
            auto const message = bytes_view(buf).first(r.size);
            if (check) check(p, message, is_request);
            (void)framer->closes_connection();
            buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.size));
            framer->reset();
            announce();
        }
    };

    announce();
    auto rest = in.payload;
    std::size_t piece = 0;
    while (!rest.empty()) {
        auto const want = in.pieces[piece++ % 4];
        // A zero piece: scanning the same bytes again must change nothing.
        if (want == 0 && !drain(false)) return;
        auto const n = std::min<std::size_t>(rest.size(), std::max<std::uint8_t>(want, 1));
        buf.insert(buf.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n));
        rest = rest.subspan(n);
        if (!drain(false)) return;
    }
    drain(true);
}

inline void run(const core::protocol& p, const std::uint8_t* data, std::size_t size, message_check check = nullptr) {
    auto const in = split_input({data, size});
    drive(p, true, in, check);
    drive(p, false, in, check);

    // Whatever a client sent, the error reply must not break.
    for (auto e : {core::errc::request_timeout, core::errc::queue_full, core::errc::bad_frame,
                   core::errc::upstream_unavailable}) {
        auto const reply = p.error_response(in.payload, e);
        (void)reply;
    }
    (void)p.describe(in.payload);
}

// The protocol's error reply to a well-framed request must be a well-framed
// response that answers it.
inline void check_error_reply(const core::protocol& p, bytes_view request) {
    for (auto e : {core::errc::request_timeout, core::errc::queue_full, core::errc::shutting_down,
                   core::errc::upstream_failed, core::errc::upstream_unavailable, core::errc::bad_frame,
                   core::errc::frame_too_large, core::errc::response_mismatch}) {
        auto const reply = p.error_response(request, e);
        if (reply.empty()) continue;
        auto const f = p.make_response_framer(reply.size());
        f->expect_response_to(request);
        auto const r = f->scan(reply);
        SB_FUZZ_CHECK(r.is_complete() && r.size == reply.size());
        SB_FUZZ_CHECK(p.response_matches(request, reply));
    }
}

}  // namespace sb::fuzz
