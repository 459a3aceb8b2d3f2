#pragma once
// The tone the server plays into every answered call, computed once at
// start-up and shared read-only by all calls: one exact period of the sine,
// kept linear and already G.711-encoded, so a call's 20 ms frame is a copy
// from the table at the call's running offset.
//
// Frequency: rounded to 0.1 Hz. The table then holds exactly
// rate*10 / gcd(rate*10, round(10*f)) samples (200 for 440 Hz at 8 kHz, 8 for
// 1000 Hz, 16000 for 350.5 Hz, at most 10*rate for something like 440.1 Hz),
// always a whole number of cycles, so playing it in a loop has no seam.
//
// Level: dBFS against a full-scale sine (AES17): 0 dBFS is a sine of peak
// 32767, so -9 dBFS is a peak of 32767 * 10^(-9/20) = 11626 and an RMS of
// 8221. level_dbfs() in goertzel.hpp measures on the same scale.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sip/g711.hpp"

namespace sb::sip {

class tone {
public:
    static constexpr double default_frequency_hz = 440.0;
    static constexpr double default_level_dbfs = -9.0;
    static constexpr unsigned default_rate_hz = 8000;
    // 20 ms at 8 kHz, the ptime every G.711 peer assumes without a=ptime.
    static constexpr std::size_t frame_samples = 160;

    // Bounds on the configuration, which keep the table under 10 * rate
    // samples (1.9 MB at 48 kHz) and the sine below Nyquist.
    static constexpr unsigned min_rate_hz = 8000;
    static constexpr unsigned max_rate_hz = 48000;
    static constexpr double min_level_dbfs = -90.0;

    // Throws std::invalid_argument naming the bad value: the tone comes
    // from configuration and is built once at start-up, never per call.
    // Frequency must round (to 0.1 Hz) to more than 0 and below rate / 2.
    explicit tone(double frequency_hz = default_frequency_hz, double level_dbfs = default_level_dbfs,
                  unsigned rate_hz = default_rate_hz);

    // The frequency actually played, after rounding to 0.1 Hz.
    double frequency_hz() const noexcept { return static_cast<double>(decihertz_) / 10.0; }
    unsigned rate_hz() const noexcept { return rate_hz_; }
    double peak() const noexcept { return peak_; }
    double level_dbfs() const noexcept { return level_dbfs_; }

    // Samples in the table: one exact period, a whole number of cycles.
    std::size_t period() const noexcept { return linear_.size(); }
    std::span<const std::int16_t> linear() const noexcept { return linear_; }
    std::span<const std::uint8_t> encoded(codec c) const noexcept { return c == codec::pcma ? alaw_ : ulaw_; }

    // Copies out.size() encoded samples (normally frame_samples) starting at
    // offset into the period, wrapping as often as needed, and returns the
    // offset of the next sample. A call keeps only that offset; an offset
    // past the period is taken modulo the period.
    std::size_t fill(codec c, std::size_t offset, std::span<std::uint8_t> out) const noexcept;

private:
    unsigned rate_hz_;
    std::uint32_t decihertz_;
    double level_dbfs_;
    double peak_;
    std::vector<std::int16_t> linear_;
    std::vector<std::uint8_t> ulaw_;
    std::vector<std::uint8_t> alaw_;
};

}  // namespace sb::sip
