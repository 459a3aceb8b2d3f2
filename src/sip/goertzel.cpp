#include "sip/goertzel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace sb::sip {

namespace {

struct dft_value {
    double re = 0;  // sum x[k] cos(wk)
    double im = 0;  // -sum x[k] sin(wk)
};

// X(f) = sum x[k] e^{-jwk}, with its phase: the least-squares fit needs the
// cos and sin projections apart, not only |X|.
dft_value goertzel(std::span<const std::int16_t> samples, double w) {
    double const coeff = 2.0 * std::cos(w);
    double s1 = 0, s2 = 0;
    for (auto x : samples) {
        double const s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    // s1 - e^{-jw} s2 is X rotated by w(N-1); undo the rotation.
    double const yr = s1 - std::cos(w) * s2;
    double const yi = std::sin(w) * s2;
    double const phi = w * static_cast<double>(samples.size() - 1);
    double const c = std::cos(phi), s = std::sin(phi);
    return {yr * c + yi * s, yi * c - yr * s};
}

double energy(std::span<const std::int16_t> samples) {
    double e = 0;
    for (auto x : samples) e += static_cast<double>(x) * x;
    return e;
}

}  // namespace

double goertzel_power(std::span<const std::int16_t> samples, double frequency_hz, double rate_hz) noexcept {
    if (samples.empty() || !(rate_hz > 0)) return 0;
    auto const x = goertzel(samples, 2.0 * std::numbers::pi * frequency_hz / rate_hz);
    return x.re * x.re + x.im * x.im;
}

double purity(std::span<const std::int16_t> samples, double frequency_hz, double rate_hz) noexcept {
    if (samples.empty() || !(rate_hz > 0)) return 0;
    double const total = energy(samples);
    if (total <= 0) return 0;
    double const w = 2.0 * std::numbers::pi * frequency_hz / rate_hz;
    auto const x = goertzel(samples, w);
    double const p = x.re;   // <x, cos>
    double const q = -x.im;  // <x, sin>

    // Gram matrix of cos(wk), sin(wk) over the block, from the closed form
    // of sum e^{j2wk}; over whole periods it is N/2 * I and the fit reduces
    // to the textbook 2|X|^2/N.
    double const n = static_cast<double>(samples.size());
    double re2 = n, im2 = 0;  // sum cos(2wk), sum sin(2wk)
    double const sw = std::sin(w);
    if (std::abs(sw) > 1e-12) {
        double const d = std::sin(n * w) / sw;
        re2 = std::cos(w * (n - 1)) * d;
        im2 = std::sin(w * (n - 1)) * d;
    }
    double const cc = (n + re2) / 2, ss = (n - re2) / 2, cs = im2 / 2;
    double const det = cc * ss - cs * cs;
    double fitted = 0;
    if (det > 1e-9 * n * n) {
        fitted = (ss * p * p - 2 * cs * p * q + cc * q * q) / det;
    } else if (cc > 1e-9 * n) {
        // At DC or Nyquist, or a block too short to tell cos from sin:
        // only the cosine is there to fit.
        fitted = p * p / cc;
    }
    double const ratio = fitted / total;
    // A NaN frequency must not come back as a plausible-looking NaN purity.
    return std::isfinite(ratio) ? std::clamp(ratio, 0.0, 1.0) : 0.0;
}

double level_dbfs(std::span<const std::int16_t> samples) noexcept {
    double const e = samples.empty() ? 0 : energy(samples);
    if (e <= 0) return -std::numeric_limits<double>::infinity();
    double const rms = std::sqrt(e / static_cast<double>(samples.size()));
    return 20.0 * std::log10(rms / (32767.0 / std::numbers::sqrt2));
}

}  // namespace sb::sip
