#pragma once
// Measuring a received or generated tone: how much of a block is one
// sinusoid, and how loud the block is. For tests and call diagnostics, not
// for the per-packet path.
#include <cstdint>
#include <span>

namespace sb::sip {

// |X(f)|^2: the squared magnitude of the block's DFT evaluated at exactly
// frequency_hz (any frequency, not only a bin centre), by Goertzel's
// recurrence. Unnormalised; 0 for an empty block.
double goertzel_power(std::span<const std::int16_t> samples, double frequency_hz, double rate_hz) noexcept;

// The share of the block's energy that is a sinusoid at frequency_hz, 0..1.
// The sinusoid (any phase) is fitted by least squares, using the Goertzel
// result and the exact cos/sin Gram matrix of the block, so a clean sine
// scores ~1 over any block length, not only a whole number of periods, and
// the result can never exceed 1. 0 for silence or an empty block.
double purity(std::span<const std::int16_t> samples, double frequency_hz, double rate_hz) noexcept;

// RMS level in dBFS against a full-scale sine (peak 32767 = 0 dBFS), the
// scale tone.hpp sets its level on. -infinity for silence or an empty block.
double level_dbfs(std::span<const std::int16_t> samples) noexcept;

}  // namespace sb::sip
