#include "websocket/directory.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <stdexcept>

namespace sb::ws {

namespace json = boost::json;

namespace {

std::string_view str(const json::object& o, std::string_view key) {
    if (auto* v = o.if_contains(key); v && v->is_string()) return v->get_string();
    return {};
}

// "true"/"false", "1"/"0", "yes"/"no", a JSON bool or number.
bool truthy(const json::value* v, bool fallback) {
    if (!v) return fallback;
    if (v->is_bool()) return v->get_bool();
    if (v->is_int64()) return v->get_int64() != 0;
    if (v->is_string()) {
        std::string s(v->get_string());
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (s == "true" || s == "1" || s == "yes" || s == "on" || s == "ping") return true;
        if (s == "false" || s == "0" || s == "no" || s == "off" || s == "noping") return false;
    }
    return fallback;
}

// "[tty,binary]", "tty", "" or ["tty", "binary"].
std::vector<std::string> subprotocols(const json::value* v) {
    std::vector<std::string> out;
    auto add = [&out](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '"' || s.front() == '\'')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\'')) s.remove_suffix(1);
        if (!s.empty() && s.size() <= 64) out.emplace_back(s);
    };
    if (!v) return out;
    if (v->is_array()) {
        for (auto& e : v->get_array())
            if (e.is_string()) add(e.get_string());
    } else if (v->is_string()) {
        std::string_view s = v->get_string();
        if (!s.empty() && s.front() == '[') s.remove_prefix(1);
        if (!s.empty() && s.back() == ']') s.remove_suffix(1);
        while (!s.empty()) {
            const auto comma = s.find(',');
            add(s.substr(0, comma));
            if (comma == std::string_view::npos) break;
            s.remove_prefix(comma + 1);
        }
    }
    return out;
}

// The digits-and-space prefix of a teletel code ("3615 ULLA" -> "ULLA").
std::string_view without_prefix(std::string_view code) {
    std::size_t i = 0;
    while (i < code.size() && std::isdigit(static_cast<unsigned char>(code[i]))) ++i;
    if (i == 4 && i < code.size() && code[i] == ' ') return code.substr(i + 1);
    return code;
}

}  // namespace

std::string directory::normalize(std::string_view code) {
    std::string out;
    for (char c : code) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isspace(u)) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += static_cast<char>(std::toupper(u));
        }
    }
    if (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

directory directory::parse(std::string_view text, std::string_view source_name) {
    const std::string where(source_name);
    if (text.size() > max_file_size) throw std::runtime_error(where + ": larger than 4 MiB");
    boost::system::error_code ec;
    json::parse_options opt;
    opt.max_depth = 16;
    auto doc = json::parse(text, ec, {}, opt);
    if (ec) throw std::runtime_error(where + ": not valid JSON: " + ec.message());
    auto* root = doc.if_object();
    auto* servers = root ? root->if_contains("servers") : nullptr;
    if (!servers || !servers->is_array()) throw std::runtime_error(where + ": no \"servers\" array");
    directory d;
    std::size_t index = 0;
    for (auto& v : servers->get_array()) {
        const std::string entry = where + ": servers[" + std::to_string(index++) + "]";
        if (d.servers_.size() + d.aliases_.size() >= max_entries)
            throw std::runtime_error(where + ": more than 10000 entries");
        auto* o = v.if_object();
        if (!o) throw std::runtime_error(entry + " is not an object");
        const auto name = str(*o, "name");
        if (name.empty() || name.size() > 64) throw std::runtime_error(entry + ": \"name\" missing or too long");
        if (auto alias = str(*o, "alias"); !alias.empty()) {
            d.aliases_.emplace_back(normalize(name), normalize(alias));
            continue;
        }
        std::string why;
        auto url = parse_service_url(str(*o, "address"), why);
        if (!url || url->kind == service_url::scheme::local) {
            d.warnings_.push_back(entry + " (" + std::string(name) + "): address '" + std::string(str(*o, "address")) +
                                  "' skipped: " + (url ? "local is not a server address" : why));
            continue;
        }
        server_profile p;
        p.name = std::string(name);
        p.description = std::string(str(*o, "description"));
        p.url = std::move(*url);
        p.ping = truthy(o->if_contains("ping"), false);
        p.subprotocols = subprotocols(o->if_contains("subprotocol"));
        p.binary_frames = str(*o, "frame") == "binary";
        if (auto* m = o->if_contains("max_frame_size"); m && m->is_int64() && m->get_int64() > 0)
            p.max_frame_size = static_cast<std::size_t>(std::min<std::int64_t>(m->get_int64(), 16 << 20));
        d.keys_.push_back(normalize(p.name));
        d.servers_.push_back(std::move(p));
    }
    return d;
}

const server_profile* directory::find(std::string_view typed) const {
    std::string code = normalize(typed);
    if (code.empty()) return nullptr;
    // Equal, or equal once the "3615 " is dropped from the side that has
    // one while the other has none ("ULLA" for "3615 ULLA", and the other
    // way round); "3614 ULLA" is not "3615 ULLA".
    auto same = [](std::string_view a, std::string_view b) {
        return a == b || (without_prefix(a) == a && without_prefix(b) == a) ||
               (without_prefix(b) == b && without_prefix(a) == b);
    };
    for (std::size_t hop = 0; hop <= max_alias_hops; ++hop) {
        for (std::size_t i = 0; i < servers_.size(); ++i)
            if (same(keys_[i], code)) return &servers_[i];
        auto a = std::find_if(aliases_.begin(), aliases_.end(), [&](auto& p) { return same(p.first, code); });
        if (a == aliases_.end()) return nullptr;
        code = a->second;
    }
    return nullptr;
}

std::vector<std::pair<std::string, std::string>> directory::listing() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& s : servers_) out.emplace_back(s.name, s.description.empty() ? s.url.host : s.description);
    return out;
}

}  // namespace sb::ws
