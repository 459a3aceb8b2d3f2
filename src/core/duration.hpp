#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace sb::core {

using duration = std::chrono::nanoseconds;

// "250ms", "2s", "1m30s", "1h", "500us"; a bare number is seconds (as the
// tools we replace take it). Throws std::invalid_argument naming the text.
duration parse_duration(std::string_view text);
std::string format_duration(duration d);

}  // namespace sb::core
