#include "core/log.hpp"

#include <boost/log/attributes/value_extraction.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_channel_logger.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <iostream>

namespace sb::core {

namespace bl = boost::log;

std::string_view to_string(severity s) noexcept {
    switch (s) {
    case severity::trace: return "trace";
    case severity::debug: return "debug";
    case severity::info: return "info";
    case severity::notice: return "notice";
    case severity::warning: return "warning";
    case severity::error: return "error";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, severity s) { return os << to_string(s); }

namespace {
using source_type = bl::sources::severity_channel_logger_mt<severity, std::string>;

source_type& source() {
    static source_type s;
    return s;
}
}  // namespace

void logger::write(severity s, std::string_view message) const {
    auto& src = source();
    bl::record rec = src.open_record((bl::keywords::severity = s, bl::keywords::channel = channel_));
    if (!rec) return;
    if (conn_ != 0) rec.attribute_values().insert("Conn", bl::attributes::make_attribute_value(conn_));
    bl::record_ostream strm(rec);
    strm << message;
    strm.flush();
    src.push_record(std::move(rec));
}

void init_console_logging() {
    bl::add_common_attributes();
    auto fmt = [](const bl::record_view& rec, bl::formatting_ostream& os) {
        if (auto ts = bl::extract<boost::posix_time::ptime>("TimeStamp", rec)) {
            auto t = *ts;
            char buf[96];  // room for any int the format could print
            auto d = t.date();
            auto tod = t.time_of_day();
            std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", int(d.year()), int(d.month()),
                          int(d.day()), int(tod.hours()), int(tod.minutes()), int(tod.seconds()),
                          int(tod.fractional_seconds() / 1000));
            os << buf << ' ';
        }
        if (auto sev = bl::extract<severity>("Severity", rec)) os << *sev << ' ';
        if (auto ch = bl::extract<std::string>("Channel", rec)) os << '[' << *ch << "] ";
        if (auto c = bl::extract<std::uint64_t>("Conn", rec)) os << '#' << *c << ' ';
        os << rec[bl::expressions::smessage];
    };
    auto sink = bl::add_console_log(std::clog);
    sink->set_formatter(fmt);
    sink->locked_backend()->auto_flush(true);
}

severity severity_from_verbosity(int verbose, bool debug) noexcept {
    if (verbose >= 3) return severity::trace;
    if (debug || verbose == 2) return severity::debug;
    if (verbose == 1) return severity::info;
    return severity::notice;
}

}  // namespace sb::core
