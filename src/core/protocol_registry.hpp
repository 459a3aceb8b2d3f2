#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "core/protocol.hpp"

namespace sb::core {

// Protocols by name; `tcpmux list` prints them sorted.
class protocol_registry {
public:
    void add(std::unique_ptr<protocol> p);
    const protocol* find(std::string_view name) const;
    std::vector<const protocol*> sorted() const;

private:
    std::vector<std::unique_ptr<protocol>> protocols_;
};

}  // namespace sb::core
