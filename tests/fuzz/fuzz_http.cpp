// libFuzzer target for the HTTP framers (input layout: fuzz_driver.hpp).
#include "fuzz_driver.hpp"
#include "protocols/http.hpp"

namespace {

void check_message(const sb::core::protocol& p, sb::core::bytes_view message, bool is_request) {
    (void)p.describe(message);
    if (is_request) sb::fuzz::check_error_reply(p, message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const sb::proto::http_protocol protocol;
    sb::fuzz::run(protocol, data, size, check_message);
    return 0;
}
