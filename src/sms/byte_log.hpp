#pragma once
// The serial byte log in the form users of the tool we replace grep for:
//   [15.10.2023 14:59:40] SER_W ->AT+CMGF=0\r\n<-
// Control characters and bytes above 0x7E are escaped (\r \n \t \xNN), the
// backslash as \\, so one log line is one chunk and nothing in it can fake
// another line.
#include <chrono>
#include <string>
#include <string_view>

namespace sb::sms {

// "SER_W" or "SER_R" (the direction), local time of `when`.
std::string format_bytes(std::string_view direction, std::string_view bytes,
                         std::chrono::system_clock::time_point when);
// " 41 54 0D" style hex of the chunk, for hex_dump = true.
std::string hex_dump(std::string_view bytes);

}  // namespace sb::sms
