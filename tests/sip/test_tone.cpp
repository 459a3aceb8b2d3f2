#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <vector>

#include "sip/g711.hpp"
#include "sip/goertzel.hpp"
#include "sip/tone.hpp"

using namespace sb::sip;

namespace {

constexpr double target_peak = 11626.0;  // 32767 * 10^(-9/20), rounded

// What a peer hears: frames from fill() at the running offset, decoded.
std::vector<std::int16_t> play(const tone& t, codec c, std::size_t frames, std::size_t offset = 0) {
    std::vector<std::int16_t> out;
    out.reserve(frames * tone::frame_samples);
    std::array<std::uint8_t, tone::frame_samples> frame{};
    std::array<std::int16_t, tone::frame_samples> pcm{};
    for (std::size_t i = 0; i < frames; ++i) {
        offset = t.fill(c, offset, frame);
        g711::decode(c, frame, pcm);
        out.insert(out.end(), pcm.begin(), pcm.end());
    }
    return out;
}

// A call, not a type: as a statement, `tone(x);` would declare x.
tone make_tone(double f, double level = tone::default_level_dbfs, unsigned rate = tone::default_rate_hz) {
    return tone(f, level, rate);
}

std::vector<std::int16_t> sine(double f, double peak, std::size_t n, double rate = 8000, double phase = 0) {
    std::vector<std::int16_t> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<std::int16_t>(
            std::lround(peak * std::sin(2 * std::numbers::pi * f * static_cast<double>(i) / rate + phase)));
    return out;
}

}  // namespace

TEST_CASE("tone: the table is one exact period") {
    CHECK(tone(440).period() == 200);  // 8000 / gcd(8000, 440)
    CHECK(tone(1000).period() == 8);
    CHECK(tone(350).period() == 160);
    CHECK(tone(350.5).period() == 16000);  // 80000 / gcd(80000, 3505)
    CHECK(tone(440.1).period() == 80000);  // coprime in tenths: the bound, 10 s
    CHECK(tone(3999.9).period() == 80000);
    CHECK(tone(480, -9, 16000).period() == 100);

    // Rounding to 0.1 Hz, reported back.
    CHECK(tone(440.04).frequency_hz() == doctest::Approx(440.0));
    CHECK(tone(440.04).period() == 200);
    CHECK(tone(350.46).frequency_hz() == doctest::Approx(350.5));

    tone const t;
    CHECK(t.frequency_hz() == 440.0);
    CHECK(t.rate_hz() == 8000);
    CHECK(t.level_dbfs() == -9.0);
    CHECK(t.linear().size() == t.period());
    CHECK(t.encoded(codec::pcmu).size() == t.period());
    CHECK(t.encoded(codec::pcma).size() == t.period());
}

TEST_CASE("tone: level is dBFS against a full-scale sine") {
    tone const t;
    CHECK(t.peak() == doctest::Approx(target_peak).epsilon(1e-4));
    auto const lin = t.linear();
    auto const [lo, hi] = std::minmax_element(lin.begin(), lin.end());
    // 200 samples of 11 cycles land within a hair of the crest.
    CHECK(*hi <= 11626);
    CHECK(*hi >= 11600);
    CHECK(*lo == -*hi);
    CHECK(level_dbfs(lin) == doctest::Approx(-9.0).epsilon(0.001));
    CHECK(tone(1000, 0).peak() == doctest::Approx(32767));
    CHECK(tone(1000, -20).peak() == doctest::Approx(3276.7));
}

TEST_CASE("tone: bad configuration is refused at construction") {
    CHECK_THROWS_AS(make_tone(0), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(0.04), std::invalid_argument);  // rounds to 0
    CHECK_THROWS_AS(make_tone(-440), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(4000), std::invalid_argument);  // Nyquist
    CHECK_THROWS_AS(make_tone(1e300), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(std::numeric_limits<double>::infinity()), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(440, 0.5), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(440, -91), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(440, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(440, -9, 7999), std::invalid_argument);
    CHECK_THROWS_AS(make_tone(440, -9, 48001), std::invalid_argument);
    CHECK_NOTHROW(make_tone(0.1));
    CHECK_NOTHROW(make_tone(3999.9));
    CHECK_NOTHROW(make_tone(440, -90));
    CHECK_NOTHROW(make_tone(23999.9, -9, 48000));
}

TEST_CASE("tone: the table is the ideal sine, and continues it across the wrap") {
    for (double f : {440.0, 1000.0, 350.0, 350.5}) {
        CAPTURE(f);
        tone const t(f);
        auto const lin = t.linear();
        auto const n = t.period();
        // Index past the end wraps to the start; compared with the ideal
        // sine at the unwrapped index, the error stays within rounding.
        double worst = 0;
        for (std::size_t i = 0; i < 3 * n; ++i) {
            double const ideal = t.peak() * std::sin(2 * std::numbers::pi * f * static_cast<double>(i) / 8000.0);
            worst = std::max(worst, std::abs(lin[i % n] - ideal));
        }
        CHECK(worst <= 0.5 + 1e-6);
        // The step over the wrap is no larger than the largest step inside.
        int max_step = 0;
        for (std::size_t i = 0; i + 1 < n; ++i) max_step = std::max(max_step, std::abs(lin[i + 1] - lin[i]));
        CHECK(std::abs(lin[0] - lin[n - 1]) <= max_step);
        // And the encoded tables are the linear one, encoded.
        for (std::size_t i = 0; i < n; ++i) {
            REQUIRE(t.encoded(codec::pcmu)[i] == g711::linear_to_ulaw(lin[i]));
            REQUIRE(t.encoded(codec::pcma)[i] == g711::linear_to_alaw(lin[i]));
        }
    }
}

TEST_CASE("tone: fill copies from the running offset and wraps") {
    tone const t;  // 200-sample period
    auto const table = t.encoded(codec::pcmu);
    std::array<std::uint8_t, tone::frame_samples> frame{};
    for (std::size_t offset : {std::size_t{0}, std::size_t{39}, std::size_t{40}, std::size_t{41}, std::size_t{190},
                               std::size_t{199}}) {
        CAPTURE(offset);
        auto const next = t.fill(codec::pcmu, offset, frame);
        CHECK(next == (offset + 160) % 200);
        for (std::size_t i = 0; i < frame.size(); ++i) REQUIRE(frame[i] == table[(offset + i) % 200]);
    }
    // An offset past the period is taken modulo the period.
    CHECK(t.fill(codec::pcmu, 1000 + 10, frame) == 170);
    CHECK(frame[0] == table[10]);

    // A period shorter than a frame wraps many times within it.
    tone const k(1000);
    auto const short_table = k.encoded(codec::pcma);
    CHECK(k.fill(codec::pcma, 3, frame) == (3 + 160) % 8);
    for (std::size_t i = 0; i < frame.size(); ++i) REQUIRE(frame[i] == short_table[(3 + i) % 8]);

    // Frames of any size, even empty.
    std::array<std::uint8_t, 7> odd{};
    CHECK(t.fill(codec::pcmu, 198, odd) == 5);
    CHECK(odd[2] == table[0]);
    CHECK(t.fill(codec::pcmu, 5, std::span<std::uint8_t>{}) == 5);
}

TEST_CASE("tone: 30 s of frames, decoded, is a pure tone at the configured level") {
    constexpr std::size_t frames = 30 * 50;  // 30 s of 20 ms
    for (double f : {440.0, 1000.0, 350.0, 350.5}) {
        tone const t(f);
        for (auto c : {codec::pcmu, codec::pcma}) {
            CAPTURE(f);
            CAPTURE(static_cast<int>(c));
            auto const heard = play(t, c, frames);
            REQUIRE(heard.size() == frames * 160);
            CHECK(purity(heard, f, 8000) >= 0.99);
            CHECK(std::abs(level_dbfs(heard) + 9.0) <= 0.5);
            // Frame by frame too: 160 samples is 8.8 cycles of 440 Hz, not a
            // whole number, which the least-squares purity does not mind.
            double worst = 1;
            for (std::size_t i = 0; i < frames; ++i)
                worst = std::min(worst, purity(std::span(heard).subspan(i * 160, 160), f, 8000));
            CHECK(worst >= 0.99);
            // Nothing of it at a frequency it is not.
            CHECK(purity(heard, f == 1000.0 ? 440.0 : 1000.0, 8000) < 0.001);
        }
    }
}

TEST_CASE("goertzel: power, purity and level on synthetic signals") {
    // A whole number of cycles on a bin: |X| = A N / 2.
    auto const s = sine(1000, 10000, 800);
    CHECK(goertzel_power(s, 1000, 8000) == doctest::Approx(std::pow(10000.0 * 800 / 2, 2)).epsilon(1e-4));
    CHECK(goertzel_power(s, 2000, 8000) < 1e-3 * goertzel_power(s, 1000, 8000));
    CHECK(goertzel_power({}, 1000, 8000) == 0);

    // Any phase, any block length.
    for (double phase : {0.0, 0.7, 1.5707963, 3.0}) {
        for (std::size_t n : {std::size_t{37}, std::size_t{160}, std::size_t{1001}}) {
            CAPTURE(phase);
            CAPTURE(n);
            CHECK(purity(sine(440, 12000, n, 8000, phase), 440, 8000) > 0.9999);
        }
    }

    // Two equal tones: half the energy each.
    auto a = sine(440, 8000, 8000);
    auto const b = sine(1000, 8000, 8000);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::int16_t>(a[i] + b[i]);
    CHECK(purity(a, 440, 8000) == doctest::Approx(0.5).epsilon(0.001));
    CHECK(purity(a, 1000, 8000) == doctest::Approx(0.5).epsilon(0.001));

    // Noise has no tone in it.
    std::vector<std::int16_t> noise(8000);
    std::uint32_t x = 12345;
    for (auto& v : noise) {
        x = x * 1664525u + 1013904223u;
        v = static_cast<std::int16_t>(x >> 16);
    }
    CHECK(purity(noise, 440, 8000) < 0.01);

    // Silence, empty blocks, nonsense frequencies: defined answers.
    std::vector<std::int16_t> const silence(160, 0);
    CHECK(purity(silence, 440, 8000) == 0);
    CHECK(purity({}, 440, 8000) == 0);
    CHECK(purity(s, 440, 0) == 0);
    CHECK(purity(s, std::numeric_limits<double>::quiet_NaN(), 8000) == 0);
    CHECK(purity(sine(0, 1, 10), 0, 8000) == 0);  // all zeros
    std::vector<std::int16_t> const dc(100, 500);
    CHECK(purity(dc, 0, 8000) == doctest::Approx(1.0));
    CHECK(purity(dc, 440, 8000) < 0.05);

    CHECK(level_dbfs(sine(1000, 32767, 800)) == doctest::Approx(0.0).epsilon(1e-4));
    CHECK(level_dbfs(sine(1000, 3276.7, 800)) == doctest::Approx(-20.0).epsilon(1e-3));
    CHECK(level_dbfs(silence) == -std::numeric_limits<double>::infinity());
    CHECK(level_dbfs({}) == -std::numeric_limits<double>::infinity());
}
