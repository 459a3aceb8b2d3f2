#pragma once
// A pseudo-terminal that looks like a serial modem port to a terminal
// program: openpty, raw 8-bit mode, a symlink at a stable path. We keep only
// the master; the slave side is "open" while some program holds it, which
// is how a terminal program raising and dropping DTR looks to us.
#include <string>

namespace sb::modem {

class pty {
public:
    // Creates the pty and the symlink link_path -> /dev/pts/N, replacing a
    // stale symlink (never a regular file or directory) and creating the
    // link's directory. Throws std::system_error naming the path.
    explicit pty(std::string link_path);
    ~pty();  // closes the master, removes the symlink if it still points to our slave
    pty(const pty&) = delete;
    pty& operator=(const pty&) = delete;

    int master_fd() const { return master_; }  // non-blocking, close-on-exec
    const std::string& slave_name() const { return slave_name_; }
    const std::string& link_path() const { return link_; }

    // True while some program has the slave open (no POLLHUP on the master).
    bool slave_open() const;
    // After the slave was closed and reopened: drop stale bytes queued either
    // way, and put the line back in raw 8-bit mode.
    void reset_line();
    // The slave was closed: drop what is queued for it, nobody will read it.
    void discard_output();

private:
    int master_ = -1;
    std::string slave_name_;
    std::string link_;
};

}  // namespace sb::modem
