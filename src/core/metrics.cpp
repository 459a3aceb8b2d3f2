#include "core/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace sb::core {

void histogram::observe(std::chrono::nanoseconds d) noexcept {
    double s = std::chrono::duration<double>(d).count();
    auto it = std::lower_bound(bounds.begin(), bounds.end(), s);
    ++buckets_[static_cast<std::size_t>(it - bounds.begin())];
    ++count_;
    sum_ += s;
}

counter& metrics_registry::add_counter(std::string name, std::string help, std::string labels) {
    counter& c = counters_.emplace_back();
    entries_.push_back({std::move(name), std::move(help), std::move(labels), kind::counter, &c, nullptr, {}});
    return c;
}

histogram& metrics_registry::add_histogram(std::string name, std::string help, std::string labels) {
    histogram& h = histograms_.emplace_back();
    entries_.push_back({std::move(name), std::move(help), std::move(labels), kind::histogram, nullptr, &h, {}});
    return h;
}

void metrics_registry::add_gauge(std::string name, std::string help, std::string labels, std::function<double()> read) {
    entries_.push_back({std::move(name), std::move(help), std::move(labels), kind::gauge, nullptr, nullptr, std::move(read)});
}

void metrics_registry::remove_labelled(const std::string& labels) {
    // Counters stay allocated (cheap); only their exposition goes.
    std::erase_if(entries_, [&](const entry& e) { return e.labels == labels && e.type == kind::gauge; });
}

namespace {
std::string fmt_double(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}
std::string with_labels(const std::string& labels, const std::string& extra = {}) {
    if (labels.empty() && extra.empty()) return {};
    if (labels.empty()) return "{" + extra + "}";
    if (extra.empty()) return "{" + labels + "}";
    return "{" + labels + "," + extra + "}";
}
}  // namespace

std::string metrics_registry::render() const {
    // Group by metric name so HELP/TYPE appear once, in first-registration order.
    std::vector<std::string> order;
    std::map<std::string, std::vector<const entry*>> by_name;
    for (auto& e : entries_) {
        auto& v = by_name[e.name];
        if (v.empty()) order.push_back(e.name);
        v.push_back(&e);
    }
    std::string out;
    for (auto& name : order) {
        auto& list = by_name[name];
        const entry& first = *list.front();
        const char* type = first.type == kind::counter ? "counter" : first.type == kind::gauge ? "gauge" : "histogram";
        out += "# HELP " + name + " " + first.help + "\n# TYPE " + name + " " + type + "\n";
        for (const entry* e : list) {
            switch (e->type) {
            case kind::counter: out += name + with_labels(e->labels) + " " + std::to_string(e->c->value) + "\n"; break;
            case kind::gauge: out += name + with_labels(e->labels) + " " + fmt_double(e->gauge()) + "\n"; break;
            case kind::histogram: {
                std::uint64_t cum = 0;
                auto& b = e->h->buckets();
                for (std::size_t i = 0; i < histogram::bounds.size(); ++i) {
                    cum += b[i];
                    out += name + "_bucket" + with_labels(e->labels, "le=\"" + fmt_double(histogram::bounds[i]) + "\"") +
                           " " + std::to_string(cum) + "\n";
                }
                cum += b.back();
                out += name + "_bucket" + with_labels(e->labels, "le=\"+Inf\"") + " " + std::to_string(cum) + "\n";
                out += name + "_sum" + with_labels(e->labels) + " " + fmt_double(e->h->sum_seconds()) + "\n";
                out += name + "_count" + with_labels(e->labels) + " " + std::to_string(e->h->count()) + "\n";
                break;
            }
            }
        }
    }
    return out;
}

}  // namespace sb::core
