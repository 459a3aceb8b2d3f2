#include "core/protocol_registry.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sb::core {

void protocol_registry::add(std::unique_ptr<protocol> p) {
    if (find(p->name()))
        throw std::logic_error("protocol registered twice: " + std::string(p->name()));
    protocols_.push_back(std::move(p));
}

const protocol* protocol_registry::find(std::string_view name) const {
    for (auto& p : protocols_)
        if (p->name() == name) return p.get();
    return nullptr;
}

std::vector<const protocol*> protocol_registry::sorted() const {
    std::vector<const protocol*> out;
    for (auto& p : protocols_) out.push_back(p.get());
    std::sort(out.begin(), out.end(), [](auto a, auto b) { return a->name() < b->name(); });
    return out;
}

}  // namespace sb::core
