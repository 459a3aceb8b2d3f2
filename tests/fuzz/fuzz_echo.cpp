// libFuzzer target for the echo framers (input layout: fuzz_driver.hpp).
#include "fuzz_driver.hpp"
#include "protocols/echo.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const sb::proto::echo_protocol protocol;
    sb::fuzz::run(protocol, data, size);
    return 0;
}
