// libFuzzer target for the Modbus/TCP framers (input layout: fuzz_driver.hpp).
#include "fuzz_driver.hpp"
#include "protocols/modbus.hpp"

namespace {

void check_message(const sb::core::protocol& p, sb::core::bytes_view message, bool is_request) {
    // Retagging a frame changes its tag and nothing the framer looks at.
    std::vector<std::uint8_t> copy(message.begin(), message.end());
    auto const before = p.tag(copy);
    SB_FUZZ_CHECK(before.has_value());
    p.set_tag(copy, 0xa55a);
    SB_FUZZ_CHECK(p.tag(copy) == 0xa55a);
    SB_FUZZ_CHECK(std::equal(copy.begin() + 2, copy.end(), message.begin() + 2));
    auto const f = p.make_request_framer(message.size());
    auto const r = f->scan(copy);
    SB_FUZZ_CHECK(r.is_complete() && r.size == copy.size());

    SB_FUZZ_CHECK(p.response_matches(message, message));
    (void)p.describe(message);
    if (is_request) sb::fuzz::check_error_reply(p, message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const sb::proto::modbus_protocol protocol;
    sb::fuzz::run(protocol, data, size, check_message);
    return 0;
}
