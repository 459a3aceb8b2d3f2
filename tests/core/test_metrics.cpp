#include <doctest/doctest.h>

#include "core/metrics.hpp"

using namespace sb::core;
using namespace std::chrono_literals;

TEST_CASE("prometheus text") {
    metrics_registry m;
    auto& a = m.add_counter("sb_requests_total", "Requests", "mux=\"a\"");
    auto& b = m.add_counter("sb_requests_total", "Requests", "mux=\"b\"");
    auto& h = m.add_histogram("sb_latency_seconds", "Latency", "mux=\"a\"");
    int depth = 3;
    m.add_gauge("sb_queue_depth", "Queue", "", [&] { return double(depth); });
    a.inc();
    a.inc();
    b.inc(5);
    h.observe(200us);
    h.observe(3ms);
    h.observe(10s);
    auto text = m.render();
    CHECK(text.find("# TYPE sb_requests_total counter\n") != std::string::npos);
    CHECK(text.find("sb_requests_total{mux=\"a\"} 2\n") != std::string::npos);
    CHECK(text.find("sb_requests_total{mux=\"b\"} 5\n") != std::string::npos);
    // HELP/TYPE once per name, even with two label sets.
    auto first = text.find("# HELP sb_requests_total");
    CHECK(text.find("# HELP sb_requests_total", first + 1) == std::string::npos);
    CHECK(text.find("sb_latency_seconds_bucket{mux=\"a\",le=\"0.0001\"} 0\n") != std::string::npos);
    CHECK(text.find("sb_latency_seconds_bucket{mux=\"a\",le=\"0.00025\"} 1\n") != std::string::npos);
    CHECK(text.find("sb_latency_seconds_bucket{mux=\"a\",le=\"0.005\"} 2\n") != std::string::npos);
    CHECK(text.find("sb_latency_seconds_bucket{mux=\"a\",le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(text.find("sb_latency_seconds_count{mux=\"a\"} 3\n") != std::string::npos);
    CHECK(text.find("sb_queue_depth 3\n") != std::string::npos);
    depth = 7;
    CHECK(m.render().find("sb_queue_depth 7\n") != std::string::npos);
}
