#pragma once
#include "core/protocol_registry.hpp"

namespace sb::proto {

// Adds echo, http, iso8583, modbus and mpu.
void register_builtin(core::protocol_registry& registry);

}  // namespace sb::proto
