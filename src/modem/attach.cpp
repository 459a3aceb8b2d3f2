#include "modem/attach.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sb::modem {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

std::optional<unsigned> to_unsigned(std::string_view s) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (;;) {
        auto pos = s.find(sep);
        out.push_back(s.substr(0, pos));
        if (pos == std::string_view::npos) return out;
        s.remove_prefix(pos + 1);
    }
}

[[noreturn]] void bad_attach(const std::string& text, const std::string& why) {
    throw std::invalid_argument("attach '" + text + "': " + why);
}

void check_path(const std::string& text, const char* which, std::string_view path) {
    if (path.empty()) bad_attach(text, std::string(which) + " path is empty");
    if (path.front() != '/') bad_attach(text, std::string(which) + " path '" + std::string(path) + "' is not absolute");
}

}  // namespace

attach_spec parse_attach(const std::string& text) {
    attach_spec spec;
    spec.source = text;
    auto parts = split(text, ':');
    if (parts.size() < 2) bad_attach(text, "expected first:second[:speed,data,parity,stop]");
    if (parts.size() > 3) bad_attach(text, "too many ':' (expected first:second[:speed,data,parity,stop])");
    check_path(text, "first", parts[0]);
    check_path(text, "second", parts[1]);
    spec.first = parts[0];
    spec.second = parts[1];
    if (spec.first == spec.second) bad_attach(text, "first and second are the same path");
    if (parts.size() == 2) return spec;

    // Trailing fields may be left out: "a:b:9600" is 9600,8,N,1.
    auto fields = split(parts[2], ',');
    if (fields.size() > 4) bad_attach(text, "too many line settings in '" + std::string(parts[2]) +
                                                "' (expected speed,data,parity,stop)");
    auto speed = to_unsigned(fields[0]);
    if (!speed || !core::is_standard_speed(*speed))
        bad_attach(text, "speed '" + std::string(fields[0]) + "' is not a standard serial speed");
    spec.line.speed = *speed;
    if (fields.size() > 1) {
        auto data = to_unsigned(fields[1]);
        if (!data || *data < 5 || *data > 8)
            bad_attach(text, "data bits '" + std::string(fields[1]) + "' must be 5 to 8");
        spec.line.data_bits = static_cast<int>(*data);
    }
    if (fields.size() > 2) {
        std::string_view p = fields[2];
        char c = p.size() == 1 ? static_cast<char>(std::toupper(static_cast<unsigned char>(p[0]))) : '?';
        if (c != 'N' && c != 'E' && c != 'O') bad_attach(text, "parity '" + std::string(p) + "' must be N, E or O");
        spec.line.parity = c;
    }
    if (fields.size() > 3) {
        auto stop = to_unsigned(fields[3]);
        if (!stop || *stop < 1 || *stop > 2)
            bad_attach(text, "stop bits '" + std::string(fields[3]) + "' must be 1 or 2");
        spec.line.stop_bits = static_cast<int>(*stop);
    }
    return spec;
}

struct attach_bridge::state {
    state(asio::io_context& i, attach_spec s, core::logger l)
        : io(i), spec(std::move(s)), log(std::move(l)), first(i), second(i), backoff(i) {}
    asio::io_context& io;
    attach_spec spec;
    core::logger log;
    asio::posix::stream_descriptor first;
    asio::posix::stream_descriptor second;
    asio::steady_timer backoff;
    bool stopping = false;
    bool running = false;
    bool second_first = false;  // open the end that failed last time first
    std::string last_warning;  // a failure repeating every retry is logged once
};

namespace {

constexpr auto retry_delay = std::chrono::seconds(1);
constexpr std::size_t buffer_size = 16 * 1024;

struct failure {
    std::string path;
    boost::system::error_code ec;
};

boost::system::error_code open_tty(const std::string& path, const line_settings& line,
                                   asio::posix::stream_descriptor& d) {
    // O_NONBLOCK: opening a real serial port must not wait for carrier.
    int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return {errno, boost::system::system_category()};
    if (int err = apply_line_settings(fd, line); err != 0) {
        ::close(fd);
        return {err, boost::system::system_category()};
    }
    boost::system::error_code ec;
    d.assign(fd, ec);
    if (ec) ::close(fd);
    return ec;
}

// While one end is missing, opening the other first would make it blink
// every retry: to a virtual modem that is a terminal raising and dropping
// DTR once a second. So the end that failed last is tried first.
failure open_both(attach_bridge::state& st) {
    const std::string* paths[] = {&st.spec.first, &st.spec.second};
    asio::posix::stream_descriptor* ends[] = {&st.first, &st.second};
    if (st.second_first) {
        std::swap(paths[0], paths[1]);
        std::swap(ends[0], ends[1]);
    }
    for (int i = 0; i < 2; ++i)
        if (auto ec = open_tty(*paths[i], st.spec.line, *ends[i])) return {*paths[i], ec};
    return {};
}

void close_both(attach_bridge::state& st) {
    boost::system::error_code ignored;
    st.first.close(ignored);
    st.second.close(ignored);
}

// One direction. The full write before the next read is the backpressure: a
// slow 1200 baud port holds the faster side back through its tty buffers.
asio::awaitable<failure> pump(asio::posix::stream_descriptor& from, const std::string& from_path,
                              asio::posix::stream_descriptor& to, const std::string& to_path) {
    std::vector<char> buf(buffer_size);
    for (;;) {
        auto [rec, n] = co_await from.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
        if (rec) co_return failure{from_path, rec};
        auto [wec, written] = co_await asio::async_write(to, asio::buffer(buf.data(), n), as_tuple(use_awaitable));
        if (wec) co_return failure{to_path, wec};
    }
}

void report(attach_bridge::state& st, const failure& f) {
    std::string key = f.path + '\n' + f.ec.message();
    if (key == st.last_warning) {
        SB_LOG(st.log, debug) << "attach " << st.spec.source << ": " << f.path << ": " << f.ec.message();
        return;
    }
    st.last_warning = std::move(key);
    SB_LOG(st.log, warning) << "attach " << st.spec.source << ": " << f.path << ": " << f.ec.message()
                            << "; retrying every " << retry_delay.count() << " s";
}

asio::awaitable<void> run_bridge(std::shared_ptr<attach_bridge::state> st) {
    const attach_spec& spec = st->spec;
    while (!st->stopping) {
        failure f = open_both(*st);
        if (!f.ec) {
            SB_LOG(st->log, notice) << "attached " << spec.first << " <-> " << spec.second;
            st->last_warning.clear();
            auto ended = co_await (pump(st->first, spec.first, st->second, spec.second) ||
                                   pump(st->second, spec.second, st->first, spec.first));
            f = std::visit([](failure& x) { return std::move(x); }, ended);
        }
        // Both ends go down together: to a virtual modem, losing the other
        // side must look like the terminal dropping DTR.
        close_both(*st);
        if (st->stopping) break;
        st->second_first = f.path == spec.second;
        report(*st, f);
        st->backoff.expires_after(retry_delay);
        co_await st->backoff.async_wait(as_tuple(use_awaitable));
    }
}

}  // namespace

attach_bridge::attach_bridge(asio::io_context& io, attach_spec spec, core::logger log)
    : state_(std::make_shared<state>(io, std::move(spec), std::move(log))) {}

attach_bridge::~attach_bridge() { stop(); }

void attach_bridge::start() {
    auto& st = *state_;
    if (st.running || st.stopping) return;
    st.running = true;
    asio::co_spawn(st.io, run_bridge(state_), [st = state_](std::exception_ptr e) {
        st->running = false;
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            SB_LOG(st->log, error) << "attach " << st->spec.source << " ended: " << ex.what();
        } catch (...) {
            SB_LOG(st->log, error) << "attach " << st->spec.source << " ended by an unknown exception";
        }
    });
}

// Like every Asio object, call it on the io_context's thread. Closing the
// descriptors aborts the pending reads and writes; the coroutine sees
// `stopping` when it resumes and ends on the next run of the io_context.
void attach_bridge::stop() {
    auto& st = *state_;
    st.stopping = true;
    st.backoff.cancel();
    close_both(st);
}

bool attach_bridge::stopped() const { return !state_->running; }

}  // namespace sb::modem
