#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "core/protocol_registry.hpp"
#include "protocols/builtin.hpp"

using namespace sb;

TEST_CASE("builtin: all five protocols are registered") {
    core::protocol_registry registry;
    proto::register_builtin(registry);
    std::vector<std::string_view> names;
    for (auto p : registry.sorted()) names.push_back(p->name());
    CHECK(names == std::vector<std::string_view>{"echo", "http", "iso8583", "modbus", "mpu"});

    for (auto name : names) {
        CAPTURE(name);
        auto const p = registry.find(name);
        REQUIRE(p);
        CHECK_FALSE(p->description().empty());
        CHECK(p->make_request_framer(p->default_max_message())->max_size() == p->default_max_message());
        CHECK(p->make_response_framer(100)->max_size() == 100);
    }
    CHECK(registry.find("modbus")->has_tags());
    CHECK_FALSE(registry.find("http")->has_tags());
}
