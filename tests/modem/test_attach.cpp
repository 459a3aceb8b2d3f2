#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/core/null_deleter.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "modem/attach.hpp"
#include "modem/pty.hpp"
#include "../temp_dir.hpp"

using namespace std::chrono_literals;
using sb::modem::apply_line_settings;
using sb::modem::attach_bridge;
using sb::modem::line_settings;
using sb::modem::parse_attach;
using sb::modem::pty;

namespace {

using sb::test::temp_dir;


// Records what the bridge logs (the logger feeds Boost.Log's core).
class log_capture {
public:
    log_capture() {
        namespace sinks = boost::log::sinks;
        auto backend = boost::make_shared<sinks::text_ostream_backend>();
        backend->add_stream(boost::shared_ptr<std::ostream>(&stream_, boost::null_deleter()));
        sink_ = boost::make_shared<sink_type>(backend);
        sink_->set_formatter(boost::log::expressions::stream << boost::log::expressions::smessage);
        boost::log::core::get()->add_sink(sink_);
    }
    ~log_capture() { boost::log::core::get()->remove_sink(sink_); }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    std::string text() {
        auto backend = sink_->locked_backend();  // the sink writes under this lock
        return stream_.str();
    }
    std::size_t lines() {
        auto t = text();
        return static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
    }

private:
    using sink_type = boost::log::sinks::synchronous_sink<boost::log::sinks::text_ostream_backend>;
    std::ostringstream stream_;
    boost::shared_ptr<sink_type> sink_;
};

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::string all_bytes(std::size_t n = 256) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>((i * 7 + i / 256) & 0xff));
    return s;
}

struct exchanged {
    std::string out_a, out_b;  // what came out at a and at b
};

// Writes into_a into a and into_b into b at the same time (both are
// non-blocking pty masters) and collects what arrives on each until the
// other side's bytes are all there or nothing more comes.
exchanged exchange(int a, int b, const std::string& into_a, const std::string& into_b) {
    exchanged got;
    std::size_t sent_a = 0, sent_b = 0;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((got.out_a.size() < into_b.size() || got.out_b.size() < into_a.size()) &&
           std::chrono::steady_clock::now() < deadline) {
        pollfd p[2] = {{a, static_cast<short>(POLLIN | (sent_a < into_a.size() ? POLLOUT : 0)), 0},
                       {b, static_cast<short>(POLLIN | (sent_b < into_b.size() ? POLLOUT : 0)), 0}};
        if (::poll(p, 2, 200) <= 0) continue;
        char buf[8192];
        if (p[0].revents & POLLIN) {
            ssize_t n = ::read(a, buf, sizeof buf);
            if (n > 0) got.out_a.append(buf, static_cast<std::size_t>(n));
        }
        if (p[1].revents & POLLIN) {
            ssize_t n = ::read(b, buf, sizeof buf);
            if (n > 0) got.out_b.append(buf, static_cast<std::size_t>(n));
        }
        if (p[0].revents & POLLOUT) {
            ssize_t n = ::write(a, into_a.data() + sent_a, std::min<std::size_t>(4096, into_a.size() - sent_a));
            if (n > 0) sent_a += static_cast<std::size_t>(n);
        }
        if (p[1].revents & POLLOUT) {
            ssize_t n = ::write(b, into_b.data() + sent_b, std::min<std::size_t>(4096, into_b.size() - sent_b));
            if (n > 0) sent_b += static_cast<std::size_t>(n);
        }
    }
    return got;
}

bool quiet(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 0;
}

sb::core::logger test_logger() { return sb::core::logger("attach.test", sb::core::severity::warning); }

}  // namespace

TEST_CASE("parse_attach: good forms") {
    auto s = parse_attach("/dev/ttyUSB0:/tmp/vmodem/tty0:9600,8,N,1");
    CHECK(s.first == "/dev/ttyUSB0");
    CHECK(s.second == "/tmp/vmodem/tty0");
    CHECK(s.line.speed == 9600);
    CHECK(s.line.data_bits == 8);
    CHECK(s.line.parity == 'N');
    CHECK(s.line.stop_bits == 1);
    CHECK(s.source == "/dev/ttyUSB0:/tmp/vmodem/tty0:9600,8,N,1");

    s = parse_attach("/a:/b");
    CHECK(s.line.speed == 115200);
    CHECK(s.line.data_bits == 8);
    CHECK(s.line.parity == 'N');
    CHECK(s.line.stop_bits == 1);

    s = parse_attach("/a:/b:300,7,e,2");
    CHECK(s.line.speed == 300);
    CHECK(s.line.data_bits == 7);
    CHECK(s.line.parity == 'E');
    CHECK(s.line.stop_bits == 2);

    s = parse_attach("/a:/b:4000000,5,o,1");
    CHECK(s.line.speed == 4000000);
    CHECK(s.line.data_bits == 5);
    CHECK(s.line.parity == 'O');

    // Trailing settings may be left out.
    s = parse_attach("/a:/b:1200");
    CHECK(s.line.speed == 1200);
    CHECK(s.line.data_bits == 8);
    s = parse_attach("/a:/b:50,6");
    CHECK(s.line.speed == 50);
    CHECK(s.line.data_bits == 6);
    CHECK(s.line.parity == 'N');
}

TEST_CASE("parse_attach: bad forms name the bad part") {
    struct bad_case {
        const char* text;
        const char* names;
    };
    const bad_case cases[] = {
        {"", "expected first:second"},
        {"/dev/ttyS0", "expected first:second"},
        {"/a:/b:9600:x", "too many ':'"},
        {":/b", "first path is empty"},
        {"/a:", "second path is empty"},
        {"ttyS0:/b", "first path 'ttyS0' is not absolute"},
        {"/a:tmp/b", "second path 'tmp/b' is not absolute"},
        {"/a:/a", "same path"},
        {"/a:/b:", "speed '' is not a standard"},
        {"/a:/b:9601", "speed '9601'"},
        {"/a:/b:fast", "speed 'fast'"},
        {"/a:/b:-9600", "speed '-9600'"},
        {"/a:/b:9600 ", "speed '9600 '"},
        {"/a:/b:4000001", "speed '4000001'"},
        {"/a:/b:99999999999999999999", "speed '99999999999999999999'"},
        {"/a:/b:9600,9", "data bits '9'"},
        {"/a:/b:9600,4", "data bits '4'"},
        {"/a:/b:9600,,N,1", "data bits ''"},
        {"/a:/b:9600,8,X", "parity 'X'"},
        {"/a:/b:9600,8,NN", "parity 'NN'"},
        {"/a:/b:9600,8,", "parity ''"},
        {"/a:/b:9600,8,N,0", "stop bits '0'"},
        {"/a:/b:9600,8,N,3", "stop bits '3'"},
        {"/a:/b:9600,8,N,1.5", "stop bits '1.5'"},
        {"/a:/b:9600,8,N,1,1", "too many line settings"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        CHECK_THROWS_WITH_AS(parse_attach(c.text), doctest::Contains(c.names), std::invalid_argument);
    }
}

TEST_CASE("apply_line_settings: raw mode on a pty, bad settings refused") {
    temp_dir dir;
    pty p(dir / "tty0");
    int fd = ::open(p.link_path().c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    REQUIRE(fd >= 0);
    // A terminal program's cooked leftovers, which the settings must undo.
    termios t{};
    REQUIRE(::tcgetattr(fd, &t) == 0);
    t.c_lflag |= ICANON | ECHO;
    t.c_oflag |= OPOST;
    t.c_iflag |= ICRNL | IXON;
    REQUIRE(::tcsetattr(fd, TCSANOW, &t) == 0);

    // The Linux pty driver forces CS8 without parity, so only the raw mode
    // and the speed can be seen here; what matters is that it does not fail.
    CHECK(apply_line_settings(fd, line_settings{2400, 7, 'E', 2}) == 0);
    REQUIRE(::tcgetattr(fd, &t) == 0);
    CHECK(::cfgetospeed(&t) == B2400);
    CHECK((t.c_cflag & (CLOCAL | CREAD)) == (CLOCAL | CREAD));
    CHECK((t.c_lflag & (ICANON | ECHO | ISIG)) == 0);
    CHECK((t.c_oflag & OPOST) == 0);
    CHECK((t.c_iflag & (ICRNL | IXON)) == 0);
    CHECK(t.c_cc[VMIN] == 1);
    CHECK(t.c_cc[VTIME] == 0);

    CHECK(apply_line_settings(fd, line_settings{4000000, 5, 'o', 1}) == 0);
    CHECK(apply_line_settings(fd, line_settings{115200, 8, 'N', 1}) == 0);
    REQUIRE(::tcgetattr(fd, &t) == 0);
    CHECK(::cfgetospeed(&t) == B115200);
    CHECK((t.c_cflag & (CSIZE | PARENB | CSTOPB)) == CS8);

    CHECK(apply_line_settings(fd, line_settings{9601, 8, 'N', 1}) == EINVAL);
    CHECK(apply_line_settings(fd, line_settings{9600, 9, 'N', 1}) == EINVAL);
    CHECK(apply_line_settings(fd, line_settings{9600, 8, 'M', 1}) == EINVAL);
    CHECK(apply_line_settings(fd, line_settings{9600, 8, 'N', 3}) == EINVAL);
    ::close(fd);

    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    CHECK(apply_line_settings(pipe_fds[0], line_settings{}) == ENOTTY);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST_CASE("attach_bridge: two ptys, every byte both ways, a lost end and a reconnect") {
    temp_dir dir;
    pty a(dir / "ttyA");
    auto b = std::make_unique<pty>(dir / "ttyB");
    log_capture logs;
    boost::asio::io_context io;
    attach_bridge bridge(io, parse_attach(a.link_path() + ":" + b->link_path() + ":9600,8,N,1"), test_logger());
    CHECK(bridge.stopped());
    bridge.start();
    CHECK_FALSE(bridge.stopped());
    std::thread runner([&io] { io.run_for(60s); });  // the bound only guards against a hang

    // The bridge opens both links as a terminal program would.
    REQUIRE(wait_for([&] { return a.slave_open() && b->slave_open(); }));

    const std::string every = all_bytes();
    auto got = exchange(a.master_fd(), b->master_fd(), every, "");
    CHECK(got.out_b == every);
    CHECK(got.out_a.empty());
    got = exchange(a.master_fd(), b->master_fd(), "", every);
    CHECK(got.out_a == every);
    CHECK(got.out_b.empty());
    CHECK(quiet(a.master_fd(), 50));
    CHECK(quiet(b->master_fd(), 50));

    // Far more than the tty and bridge buffers hold, both ways at once.
    const std::string bulk_ab = all_bytes(300 * 1024), bulk_ba = all_bytes(200 * 1024 + 17);
    got = exchange(a.master_fd(), b->master_fd(), bulk_ab, bulk_ba);
    CHECK(got.out_b.size() == bulk_ab.size());
    CHECK(got.out_b == bulk_ab);
    CHECK(got.out_a.size() == bulk_ba.size());
    CHECK(got.out_a == bulk_ba);

    CHECK(logs.lines() == 0);

    // The modem behind B goes away: the bridge drops A too (DTR down).
    b.reset();
    CHECK(wait_for([&] { return !a.slave_open(); }));
    std::this_thread::sleep_for(2500ms);  // at least two retries
    CHECK_FALSE(a.slave_open());         // the missing end is tried first
    // One warning for the lost end, one for the missing link; the retries
    // that fail the same way again stay quiet.
    CHECK(logs.lines() == 2);
    CHECK(logs.text().find(dir / "ttyB") != std::string::npos);
    CHECK(logs.text().find("No such file") != std::string::npos);

    b = std::make_unique<pty>(dir / "ttyB");
    REQUIRE(wait_for([&] { return a.slave_open() && b->slave_open(); }));
    got = exchange(a.master_fd(), b->master_fd(), every, every);
    CHECK(got.out_a == every);
    CHECK(got.out_b == every);

    boost::asio::post(io, [&bridge] { bridge.stop(); });
    runner.join();
    CHECK(bridge.stopped());
    CHECK_FALSE(a.slave_open());
    CHECK_FALSE(b->slave_open());
    CHECK(logs.lines() == 2);
}

TEST_CASE("attach_bridge: stop() during the retry wait ends it at once") {
    temp_dir dir;
    boost::asio::io_context io;
    attach_bridge bridge(io, parse_attach((dir / "missing1") + ":" + (dir / "missing2")),
                         sb::core::logger("attach.test", sb::core::severity::error));
    bridge.start();
    io.run_for(100ms);
    CHECK_FALSE(bridge.stopped());
    bridge.stop();
    auto t0 = std::chrono::steady_clock::now();
    io.run();  // returns once the coroutine has ended: nothing else is queued
    CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
    CHECK(bridge.stopped());
}

TEST_CASE("attach_bridge: stop() before start() never runs it") {
    boost::asio::io_context io;
    attach_bridge bridge(io, parse_attach("/nonexistent/a:/nonexistent/b"), test_logger());
    bridge.stop();
    bridge.start();
    CHECK(bridge.stopped());
    CHECK(io.run() == 0);
}
