#include "protocols/builtin.hpp"

#include <memory>

#include "protocols/echo.hpp"
#include "protocols/http.hpp"
#include "protocols/length_prefixed.hpp"
#include "protocols/modbus.hpp"

namespace sb::proto {

void register_builtin(core::protocol_registry& registry) {
    registry.add(std::make_unique<echo_protocol>());
    registry.add(std::make_unique<http_protocol>());
    registry.add(std::make_unique<iso8583_protocol>());
    registry.add(std::make_unique<modbus_protocol>());
    registry.add(std::make_unique<mpu_protocol>());
}

}  // namespace sb::proto
