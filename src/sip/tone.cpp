#include "sip/tone.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>

namespace sb::sip {

namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("tone: " + what); }

}  // namespace

tone::tone(double frequency_hz, double level_dbfs, unsigned rate_hz) : rate_hz_(rate_hz), level_dbfs_(level_dbfs) {
    if (rate_hz < min_rate_hz || rate_hz > max_rate_hz)
        bad("sample rate " + std::to_string(rate_hz) + " Hz is outside " + std::to_string(min_rate_hz) + ".." +
            std::to_string(max_rate_hz));
    // Compare in doubles before converting: NaN and huge values must not
    // reach the integer conversion.
    double const deci = std::round(frequency_hz * 10.0);
    if (!(deci >= 1.0) || !(deci < 5.0 * rate_hz))
        bad("frequency " + std::to_string(frequency_hz) + " Hz must be above 0 and below " +
            std::to_string(rate_hz / 2) + " Hz");
    if (!(level_dbfs <= 0.0 && level_dbfs >= min_level_dbfs))
        bad("level " + std::to_string(level_dbfs) + " dBFS must be within " + std::to_string(min_level_dbfs) +
            "..0");
    decihertz_ = static_cast<std::uint32_t>(deci);

    // Working in tenths of a hertz makes the period an exact integer: n
    // samples hold k whole cycles, with k/n = f/rate in lowest terms.
    std::uint64_t const rate10 = std::uint64_t{rate_hz} * 10;
    std::uint64_t const g = std::gcd(rate10, std::uint64_t{decihertz_});
    std::uint64_t const n = rate10 / g;
    std::uint64_t const k = decihertz_ / g;

    peak_ = 32767.0 * std::pow(10.0, level_dbfs / 20.0);
    linear_.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) {
        // (k*i) mod n keeps the phase argument small and exact, so sample i
        // of every period is bit-identical and the loop point is invisible.
        double const phase = 2.0 * std::numbers::pi * static_cast<double>((k * i) % n) / static_cast<double>(n);
        linear_[i] = static_cast<std::int16_t>(std::lround(peak_ * std::sin(phase)));
    }
    ulaw_.resize(n);
    alaw_.resize(n);
    g711::encode(codec::pcmu, linear_, ulaw_);
    g711::encode(codec::pcma, linear_, alaw_);
}

std::size_t tone::fill(codec c, std::size_t offset, std::span<std::uint8_t> out) const noexcept {
    auto const table = encoded(c);
    offset %= table.size();
    while (!out.empty()) {
        auto const n = std::min(out.size(), table.size() - offset);
        std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(offset), n, out.begin());
        out = out.subspan(n);
        offset += n;
        if (offset == table.size()) offset = 0;
    }
    return offset;
}

}  // namespace sb::sip
