#pragma once
// Logging front end. Records go to Boost.Log with Severity, Channel and Conn
// attributes; Boost.Log itself stays out of this header (compile time), and
// the enabled() check in SB_LOG keeps disabled levels off the hot path.
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace sb::core {

enum class severity : std::uint8_t { trace, debug, info, notice, warning, error };

std::string_view to_string(severity s) noexcept;

class logger {
public:
    logger() = default;
    logger(std::string channel, severity threshold) : channel_(std::move(channel)), threshold_(threshold) {}

    // The same logger, tagging every record with a connection id.
    logger with_connection(std::uint64_t id) const {
        logger l = *this;
        l.conn_ = id;
        return l;
    }
    logger with_channel(std::string channel) const {
        logger l = *this;
        l.channel_ = std::move(channel);
        return l;
    }

    bool enabled(severity s) const noexcept { return s >= threshold_; }
    severity threshold() const noexcept { return threshold_; }
    const std::string& channel() const noexcept { return channel_; }
    void write(severity s, std::string_view message) const;

private:
    std::string channel_ = "main";
    severity threshold_ = severity::notice;
    std::uint64_t conn_ = 0;  // 0: not about one connection
};

class log_line {
public:
    log_line(const logger& l, severity s) : logger_(l), severity_(s) {}
    ~log_line() { logger_.write(severity_, stream_.view()); }
    log_line(const log_line&) = delete;
    log_line& operator=(const log_line&) = delete;
    std::ostringstream& stream() { return stream_; }

private:
    const logger& logger_;
    severity severity_;
    std::ostringstream stream_;
};

// Console sink on stderr: "2026-11-23 09:40:01.123 info  [mux.demo] #12 text".
void init_console_logging();

// -v -> info, -d/-vv -> debug, -vvv -> trace; default notice.
severity severity_from_verbosity(int verbose, bool debug) noexcept;

}  // namespace sb::core

#define SB_LOG(lg, sev)                                                                    \
    for (bool sb_log_once_ = (lg).enabled(::sb::core::severity::sev); sb_log_once_; sb_log_once_ = false) \
    ::sb::core::log_line((lg), ::sb::core::severity::sev).stream()
