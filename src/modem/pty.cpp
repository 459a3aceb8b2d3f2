#include "modem/pty.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

// What Linux does with a pty whose slave nobody holds (checked on 6.x):
// - A master whose slave was never opened (bare posix_openpt) polls quiet, so
//   nobody could tell "not yet opened" from "open and idle". openpty opens
//   the slave; closing it puts the master in POLLHUP (reads fail with EIO)
//   until some program opens the slave again, which clears the HUP at once.
// - Writes to the master succeed while no slave is open: the bytes queue in
//   the slave's input (about 12 KiB, then EAGAIN) and the next opener reads
//   them, hence reset_line(). So there is no reason to keep a slave fd open
//   for an early writer. Bytes a program writes just before closing the slave
//   stay readable on the master (POLLIN|POLLHUP) until drained, then EIO.
// - Termios live as long as the master: a reopened slave is still raw, and
//   tcsetattr on the master sets the slave's modes. tcflush on the master
//   drops bytes queued for a closed slave, but once a program has reopened
//   it they sit in the slave's line discipline: see reset_line().
// - A master in POLLHUP is always "ready" for epoll, so a read loop on it
//   must wait for slave_open() rather than spin on EIO.

namespace sb::modem {

namespace {

std::system_error errno_error(int err, const std::string& what) {
    return std::system_error(err, std::generic_category(), what);
}

// Raw 8-bit, no echo, no CR/LF translation; CLOCAL so that no modem-control
// line ever blocks an open or a read on the slave.
int set_raw(int fd) {
    termios t{};
    if (::tcgetattr(fd, &t) != 0) return errno;
    ::cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (::tcsetattr(fd, TCSANOW, &t) != 0) return errno;
    return 0;
}

class unique_fd {
public:
    explicit unique_fd(int fd) : fd_(fd) {}
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Only ever replaces a symlink, and does so with a rename so that a terminal
// program opening the path never finds it missing.
void place_link(const std::string& link, const std::string& target) {
    namespace fs = std::filesystem;
    fs::path parent = fs::path(link).parent_path();
    if (!parent.empty()) {
        std::error_code ec;
        fs::create_directories(parent, ec);
        if (ec) throw std::system_error(ec, "cannot create directory " + parent.string() + " for " + link);
    }
    struct stat st {};
    if (::lstat(link.c_str(), &st) == 0) {
        if (!S_ISLNK(st.st_mode)) throw errno_error(EEXIST, link + " exists and is not a symlink");
    } else if (errno != ENOENT) {
        throw errno_error(errno, "cannot stat " + link);
    }
    std::string tmp = link + ".tmp" + std::to_string(::getpid());
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0) throw errno_error(errno, "cannot create symlink " + link);
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw errno_error(err, "cannot create symlink " + link);
    }
}

}  // namespace

pty::pty(std::string link_path) : link_(std::move(link_path)) {
    if (link_.empty()) throw errno_error(ENOENT, "empty pty link path");
    int m = -1, s = -1;
    if (::openpty(&m, &s, nullptr, nullptr, nullptr) != 0) throw errno_error(errno, "openpty for " + link_);
    unique_fd master(m);
    unique_fd slave(s);
    // openpty knows no O_CLOEXEC: set it before anything else can fork.
    ::fcntl(m, F_SETFD, FD_CLOEXEC);
    ::fcntl(s, F_SETFD, FD_CLOEXEC);

    char name[PATH_MAX];
    if (int err = ::ptsname_r(m, name, sizeof name); err != 0) throw errno_error(err, "ptsname for " + link_);
    slave_name_ = name;

    if (int err = set_raw(s); err != 0) throw errno_error(err, "cannot set raw mode on " + slave_name_);
    int flags = ::fcntl(m, F_GETFL);
    if (flags < 0 || ::fcntl(m, F_SETFL, flags | O_NONBLOCK) != 0)
        throw errno_error(errno, "cannot make pty master non-blocking for " + link_);

    place_link(link_, slave_name_);
    // Closing our slave is what makes the master report POLLHUP until a
    // terminal program opens the link (see the notes at the top).
    ::close(slave.release());
    master_ = master.release();
}

pty::~pty() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(link_.c_str(), buf, sizeof buf);
    // Another instance may have taken the path over since: leave its link.
    if (n > 0 && std::string(buf, static_cast<std::size_t>(n)) == slave_name_) ::unlink(link_.c_str());
    if (master_ >= 0) ::close(master_);
}

bool pty::slave_open() const {
    pollfd p{master_, POLLIN, 0};
    int r = ::poll(&p, 1, 0);
    return r >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

void pty::reset_line() {
    // By the time we see the program, the kernel has already moved what we
    // wrote meanwhile into the slave's line discipline, where a flush on the
    // master no longer reaches: flush through a slave fd of our own (closing
    // it is harmless while the program holds the slave).
    int slave = ::ioctl(master_, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (slave < 0) slave = ::open(slave_name_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    // The last program may have left the line cooked (minicom does); the
    // next one must again find it raw. Errors mean a bad fd, which the next
    // read on the master reports anyway.
    int fd = slave >= 0 ? slave : master_;
    set_raw(fd);
    // Only what was on its way to the terminal is stale: bytes the new
    // program has already typed ("AT\r" right after open) must survive.
    if (slave >= 0) ::tcflush(slave, TCIFLUSH);
    ::tcflush(master_, TCOFLUSH);
    if (slave >= 0) ::close(slave);
}

void pty::discard_output() {
    // Up to 4 KiB already sit in the closed slave's line discipline and
    // survive the close: only a flush from the slave side reaches them. Raw
    // first, so a line left cooked does not echo them back to us; then
    // whatever the departed program typed last goes too: its call is over.
    int slave = ::ioctl(master_, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (slave >= 0) {
        set_raw(slave);
        ::tcflush(slave, TCIFLUSH);
        ::close(slave);
    }
    ::tcflush(master_, TCIOFLUSH);
}

}  // namespace sb::modem
