#pragma once
// Serial lines: raw mode and line settings (speed, data bits, parity, stop
// bits) for a tty fd, shared by the modem's attach bridges and the SMS
// plugin's modem port.

namespace sb::core {

struct line_settings {
    unsigned speed = 115200;  // a standard termios speed (50 .. 4000000)
    int data_bits = 8;        // 5..8
    char parity = 'N';        // N, E, O
    int stop_bits = 1;        // 1, 2
};

bool is_standard_speed(unsigned baud);

// Applies raw mode and the line settings to an open tty fd; returns 0 or
// errno. A pty takes what it can (it has no speed or framing).
int apply_line_settings(int fd, const line_settings& line);

}  // namespace sb::core
