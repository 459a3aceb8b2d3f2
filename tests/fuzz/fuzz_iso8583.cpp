// libFuzzer target for the iso8583 framers (input layout: fuzz_driver.hpp).
#include "fuzz_driver.hpp"
#include "protocols/length_prefixed.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const sb::proto::iso8583_protocol protocol;
    sb::fuzz::run(protocol, data, size);
    return 0;
}
