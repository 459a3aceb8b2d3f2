#pragma once
// Metrics for Prometheus text exposition. Everything runs on one io_context
// thread, so counters are plain integers: no lock, no atomic on the hot path.
// Gauges that mirror live state are callbacks read at scrape time.
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace sb::core {

struct counter {
    std::uint64_t value = 0;
    void inc(std::uint64_t n = 1) noexcept { value += n; }
};

// Latency histogram with fixed buckets in seconds (Prometheus "le" buckets).
class histogram {
public:
    static constexpr std::array<double, 14> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  2.5};
    void observe(std::chrono::nanoseconds d) noexcept;
    const std::array<std::uint64_t, bounds.size() + 1>& buckets() const noexcept { return buckets_; }
    std::uint64_t count() const noexcept { return count_; }
    double sum_seconds() const noexcept { return sum_; }

private:
    std::array<std::uint64_t, bounds.size() + 1> buckets_{};  // last: +Inf
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

class metrics_registry {
public:
    // labels are rendered as written, e.g. R"(mux="modbus",kind="timeout")".
    counter& add_counter(std::string name, std::string help, std::string labels = {});
    histogram& add_histogram(std::string name, std::string help, std::string labels = {});
    void add_gauge(std::string name, std::string help, std::string labels, std::function<double()> read);

    // Metrics of a service that stopped must not be read afterwards.
    void remove_labelled(const std::string& labels);

    std::string render() const;

private:
    enum class kind { counter, gauge, histogram };
    struct entry {
        std::string name, help, labels;
        kind type;
        counter* c = nullptr;
        histogram* h = nullptr;
        std::function<double()> gauge;
    };
    std::deque<entry> entries_;
    std::deque<counter> counters_;      // deque: stable addresses
    std::deque<histogram> histograms_;
};

}  // namespace sb::core
