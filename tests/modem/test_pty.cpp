#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "modem/pty.hpp"
#include "../temp_dir.hpp"

using sb::modem::pty;

namespace {

using sb::test::temp_dir;


std::string read_link(const std::string& path) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

bool exists_no_follow(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Opens the link the way minicom or picocom do.
int open_terminal(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    REQUIRE_MESSAGE(fd >= 0, "open " << path << ": " << std::strerror(errno));
    return fd;
}

std::string read_exactly(int fd, std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
        if (r <= 0) break;
        out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
}

bool quiet(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 0;
}

void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t w = ::write(fd, data.data() + done, data.size() - done);
        if (w < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 1000);
            continue;
        }
        REQUIRE_MESSAGE(w > 0, "write: " << std::strerror(errno));
        done += static_cast<std::size_t>(w);
    }
}

std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
}

}  // namespace

TEST_CASE("pty: the link points to the slave and its directory is created") {
    temp_dir dir;
    std::string link = dir / "a/b/tty0";
    pty p(link);
    CHECK(p.link_path() == link);
    CHECK(p.slave_name().rfind("/dev/pts/", 0) == 0);
    CHECK(read_link(link) == p.slave_name());
    REQUIRE(p.master_fd() >= 0);
    CHECK((::fcntl(p.master_fd(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(p.master_fd(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("pty: a stale symlink is replaced") {
    temp_dir dir;
    std::string link = dir / "tty0";
    REQUIRE(::symlink("/dev/pts/99999", link.c_str()) == 0);
    pty p(link);
    CHECK(read_link(link) == p.slave_name());
}

TEST_CASE("pty: a regular file or a directory at the link path is refused") {
    temp_dir dir;
    std::string file = dir / "tty0";
    std::ofstream(file) << "keep me";
    CHECK_THROWS_AS(pty{file}, std::system_error);
    std::string content;
    std::ifstream(file) >> content;
    CHECK(content == "keep");

    std::string sub = dir / "ttydir";
    REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    CHECK_THROWS_AS(pty{sub}, std::system_error);
    struct stat st {};
    CHECK((::lstat(sub.c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
}

TEST_CASE("pty: slave_open follows a terminal program opening and closing the link") {
    temp_dir dir;
    pty p(dir / "tty0");
    CHECK_FALSE(p.slave_open());
    int fd = open_terminal(p.link_path());
    CHECK(p.slave_open());
    ::close(fd);
    CHECK_FALSE(p.slave_open());
    fd = open_terminal(p.link_path());
    CHECK(p.slave_open());
    ::close(fd);
    CHECK_FALSE(p.slave_open());
}

TEST_CASE("pty: raw 8-bit both ways, no translation, no echo") {
    temp_dir dir;
    pty p(dir / "tty0");
    int slave = open_terminal(p.link_path());
    const std::string bytes = all_bytes();

    write_all(slave, bytes);
    CHECK(read_exactly(p.master_fd(), bytes.size()) == bytes);
    CHECK(quiet(p.master_fd(), 100));

    write_all(p.master_fd(), bytes);
    CHECK(read_exactly(slave, bytes.size()) == bytes);
    CHECK(quiet(slave, 100));
    CHECK(quiet(p.master_fd(), 100));  // no echo back to the modem side

    write_all(slave, "AT\r\n");
    CHECK(read_exactly(p.master_fd(), 4) == "AT\r\n");
    ::close(slave);
}

TEST_CASE("pty: discard_output drops stale bytes, reset_line restores raw mode and keeps typed bytes") {
    temp_dir dir;
    pty p(dir / "tty0");
    int slave = open_terminal(p.link_path());
    // A terminal program that leaves the line cooked behind it.
    termios t{};
    REQUIRE(::tcgetattr(slave, &t) == 0);
    t.c_lflag |= ICANON | ECHO;
    t.c_oflag |= OPOST | ONLCR;
    REQUIRE(::tcsetattr(slave, TCSANOW, &t) == 0);
    ::close(slave);
    write_all(p.master_fd(), "RING\r\n");  // queued for the next opener ...
    p.discard_output();                    // ... until the modem notices the close

    slave = open_terminal(p.link_path());
    write_all(slave, "AT\r");  // the new program typing at once
    p.reset_line();
    CHECK(p.slave_open());
    CHECK(quiet(slave, 100));
    CHECK(read_exactly(p.master_fd(), 3) == "AT\r");  // kept: only output was stale
    REQUIRE(::tcgetattr(slave, &t) == 0);
    CHECK((t.c_lflag & (ICANON | ECHO)) == 0);
    CHECK((t.c_oflag & OPOST) == 0);
    CHECK((t.c_cflag & CSIZE) == CS8);
    CHECK((t.c_cflag & (CLOCAL | CREAD)) == (CLOCAL | CREAD));

    write_all(slave, "x\n");
    CHECK(read_exactly(p.master_fd(), 2) == "x\n");
    CHECK(quiet(slave, 50));
    ::close(slave);
}

TEST_CASE("pty: reset_line with no program on the slave leaves it closed") {
    temp_dir dir;
    pty p(dir / "tty0");
    p.reset_line();
    CHECK_FALSE(p.slave_open());
    int slave = open_terminal(p.link_path());
    CHECK(p.slave_open());
    ::close(slave);
}

TEST_CASE("pty: the destructor removes the link, unless another pty took it over") {
    temp_dir dir;
    std::string link = dir / "tty0";
    {
        pty p(link);
        CHECK(exists_no_follow(link));
    }
    CHECK_FALSE(exists_no_follow(link));

    auto first = std::make_unique<pty>(link);
    pty second(link);
    CHECK(read_link(link) == second.slave_name());
    first.reset();
    CHECK(read_link(link) == second.slave_name());
}
