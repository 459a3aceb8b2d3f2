#include "core/duration.hpp"

#include <charconv>
#include <stdexcept>

namespace sb::core {

duration parse_duration(std::string_view text) {
    auto bad = [&] {
        std::string msg(1, '\'');
        msg.append(text).append("' is not a duration (e.g. 500ms, 2s, 1m)");
        return std::invalid_argument(msg);
    };
    if (text.empty()) throw bad();
    double total_ns = 0;
    std::string_view s = text;
    bool bare = true;
    while (!s.empty()) {
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || v < 0) throw bad();
        s.remove_prefix(static_cast<std::size_t>(p - s.data()));
        std::size_t n = 0;
        while (n < s.size() && s[n] >= 'a' && s[n] <= 'z') ++n;
        auto unit = s.substr(0, n);
        s.remove_prefix(n);
        double scale;
        if (unit.empty()) {
            if (!bare || !s.empty()) throw bad();
            scale = 1e9;
        } else if (unit == "ns") scale = 1;
        else if (unit == "us") scale = 1e3;
        else if (unit == "ms") scale = 1e6;
        else if (unit == "s") scale = 1e9;
        else if (unit == "m" || unit == "min") scale = 60e9;
        else if (unit == "h") scale = 3600e9;
        else throw bad();
        bare = false;
        total_ns += v * scale;
    }
    if (total_ns > 1e18) throw bad();
    return duration(static_cast<long long>(total_ns));
}

std::string format_duration(duration d) {
    using namespace std::chrono;
    auto ns = d.count();
    if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
    if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

}  // namespace sb::core
