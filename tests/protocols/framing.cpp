#include "framing.hpp"

#include <doctest/doctest.h>

#include <numeric>

namespace sb::proto::test {

std::ostream& operator<<(std::ostream& os, const outcome& o) {
    os << "{sizes:";
    for (auto s : o.sizes) os << ' ' << s;
    os << ", closes:";
    for (bool c : o.closes) os << ' ' << c;
    if (o.error) os << ", error: " << o.error->message();
    return os << ", left: " << o.left << '}';
}

outcome messages(std::vector<std::size_t> sizes, std::size_t left) {
    outcome o;
    o.closes.assign(sizes.size(), false);
    o.sizes = std::move(sizes);
    o.left = left;
    return o;
}

outcome failed(std::vector<std::size_t> sizes, core::errc e) {
    auto o = messages(std::move(sizes));
    o.error = make_error_code(e);
    return o;
}

core::bytes_view bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

outcome run(const core::protocol& p, std::string_view input, std::span<const std::size_t> cuts,
            const run_options& o) {
    auto const max = o.max_size ? o.max_size : p.default_max_message();
    auto const framer = o.dir == side::request ? p.make_request_framer(max) : p.make_response_framer(max);
    REQUIRE(framer->max_size() == max);

    std::vector<std::uint8_t> buf;
    outcome out;
    std::size_t announced = 0;
    auto announce = [&] {
        if (o.dir == side::response && announced < o.requests.size())
            framer->expect_response_to(bytes(o.requests[announced++]));
    };
    // false once the framer failed: the caller would close the connection.
    auto drain = [&](bool eof) {
        for (;;) {
            auto const r = eof ? framer->at_eof(buf) : framer->scan(buf);
            if (r.is_need_more()) return true;
            if (r.is_error()) {
                REQUIRE(r.ec);
                out.error = r.ec;
                return false;
            }
            REQUIRE(r.size > 0);
            REQUIRE(r.size <= buf.size());
            REQUIRE(r.size <= max);
            out.sizes.push_back(r.size);
            out.closes.push_back(framer->closes_connection());
            buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.size));
            framer->reset();
            announce();
        }
    };

    announce();
    std::size_t at = 0;
    auto feed_to = [&](std::size_t end) {
        auto const piece = bytes(input.substr(at, end - at));
        buf.insert(buf.end(), piece.begin(), piece.end());
        at = end;
        return drain(false);
    };
    bool ok = true;
    for (auto cut : cuts)
        if (!(ok = feed_to(cut))) break;
    if (ok) ok = feed_to(input.size());
    if (ok && o.eof) ok = drain(true);
    out.left = ok ? buf.size() : 0;
    return out;
}

void check_every_split(const core::protocol& p, std::string_view input, const outcome& want,
                       const run_options& o) {
    CHECK(run(p, input, {}, o) == want);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        CAPTURE(cut);
        std::size_t const cuts[] = {cut};
        CHECK(run(p, input, cuts, o) == want);
    }
    if (input.size() <= 160) {
        for (std::size_t a = 1; a < input.size(); ++a)
            for (std::size_t b = a + 1; b < input.size(); ++b) {
                CAPTURE(a);
                CAPTURE(b);
                std::size_t const cuts[] = {a, b};
                // REQUIRE-free fast path: report only the first mismatch per pair.
                if (auto got = run(p, input, cuts, o); got != want) CHECK(got == want);
            }
    }
    std::vector<std::size_t> every(input.size());
    std::iota(every.begin(), every.end(), std::size_t{1});
    INFO("one byte at a time");
    CHECK(run(p, input, every, o) == want);
}

core::frame_result scan_once(const core::protocol& p, std::string_view input, const run_options& o) {
    auto const max = o.max_size ? o.max_size : p.default_max_message();
    auto const framer = o.dir == side::request ? p.make_request_framer(max) : p.make_response_framer(max);
    if (o.dir == side::response && !o.requests.empty()) framer->expect_response_to(bytes(o.requests.front()));
    return framer->scan(bytes(input));
}

}  // namespace sb::proto::test
