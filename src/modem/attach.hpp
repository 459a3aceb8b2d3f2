#pragma once
// "-A tty1:tty2:speed,data,parity,stop": bridge two ttys or real serial ports
// (e.g. a retro machine on /dev/ttyUSB0 to a virtual modem's tty), each set
// raw with the given termios line settings. Reopens both after an error.
#include <memory>
#include <string>

#include "core/log.hpp"
#include "core/tty.hpp"

namespace boost::asio {
class io_context;
}

namespace sb::modem {

using core::apply_line_settings;
using core::line_settings;

struct attach_spec {
    std::string first, second;
    line_settings line;
    std::string source;
};

// "/dev/ttyUSB0:/tmp/vmodem/tty0:9600,8,N,1"; the settings part is optional
// ("a:b" = 115200,8,N,1). Throws std::invalid_argument naming the problem.
attach_spec parse_attach(const std::string& text);

// One bridge between two ttys. start() spawns its coroutine; stop() closes
// both ends and cancels it; stopped() once it has finished.
class attach_bridge {
public:
    attach_bridge(boost::asio::io_context& io, attach_spec spec, core::logger log);
    ~attach_bridge();
    void start();
    void stop();
    bool stopped() const;

    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace sb::modem
