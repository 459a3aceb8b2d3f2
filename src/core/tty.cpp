#include "core/tty.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include <cctype>
#include <cerrno>
#include <optional>

namespace sb::core {

namespace {

struct speed_entry {
    unsigned baud;
    speed_t code;
};

constexpr speed_entry standard_speeds[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},         {150, B150},
    {200, B200},         {300, B300},         {600, B600},         {1200, B1200},       {1800, B1800},
    {2400, B2400},       {4800, B4800},       {9600, B9600},       {19200, B19200},     {38400, B38400},
    {57600, B57600},     {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
    {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000}, {1500000, B1500000},
    {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000}, {3500000, B3500000}, {4000000, B4000000},
};

std::optional<speed_t> speed_code(unsigned baud) {
    for (const auto& s : standard_speeds)
        if (s.baud == baud) return s.code;
    return std::nullopt;
}

// Unix98 pty slaves (/dev/pts/N) have majors 136..143. Speed and framing
// mean nothing on them, so whatever of those they do not take is no error.
bool is_pty_slave(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) return false;
    auto m = major(st.st_rdev);
    return m >= 136 && m <= 143;
}

tcflag_t char_size(int data_bits) {
    switch (data_bits) {
    case 5: return CS5;
    case 6: return CS6;
    case 7: return CS7;
    default: return CS8;
    }
}

}  // namespace

bool is_standard_speed(unsigned baud) { return speed_code(baud).has_value(); }

int apply_line_settings(int fd, const line_settings& line) {
    auto speed = speed_code(line.speed);
    char parity = static_cast<char>(std::toupper(static_cast<unsigned char>(line.parity)));
    if (!speed || line.data_bits < 5 || line.data_bits > 8 || (parity != 'N' && parity != 'E' && parity != 'O') ||
        line.stop_bits < 1 || line.stop_bits > 2)
        return EINVAL;

    termios t{};
    if (::tcgetattr(fd, &t) != 0) return errno;
    const speed_t old_speed = ::cfgetospeed(&t);
    ::cfmakeraw(&t);
    const tcflag_t frame_bits = CSIZE | PARENB | PARODD | CSTOPB;
    t.c_cflag &= ~(frame_bits | CRTSCTS);
    tcflag_t frame = char_size(line.data_bits);
    if (parity != 'N') frame |= PARENB;
    if (parity == 'O') frame |= PARODD;
    if (line.stop_bits == 2) frame |= CSTOPB;
    // CLOCAL: a bridge must not block on, or be hung up by, modem-control lines.
    t.c_cflag |= frame | CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    ::cfsetispeed(&t, *speed);
    ::cfsetospeed(&t, *speed);

    const bool pty = is_pty_slave(fd);
    if (::tcsetattr(fd, TCSANOW, &t) != 0) {
        if (!pty || errno != EINVAL) return errno;
        ::cfsetispeed(&t, old_speed);
        ::cfsetospeed(&t, old_speed);
        if (::tcsetattr(fd, TCSANOW, &t) != 0) return errno;
    }
    // A pty has no line to frame: Linux forces CS8 without parity on it.
    if (pty) return 0;
    // tcsetattr succeeds when any one change was made: read back what the
    // driver took, as a UART may refuse a speed or a character size.
    termios got{};
    if (::tcgetattr(fd, &got) != 0) return errno;
    if ((got.c_cflag & frame_bits) != frame || ::cfgetospeed(&got) != *speed) return EINVAL;
    return 0;
}

}  // namespace sb::core
