#include "core/config.hpp"

#include <sys/resource.h>

#include <boost/program_options/parsers.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sb::core {

namespace {
std::string trim(std::string s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}
}  // namespace

std::vector<ini_section> parse_ini(const std::string& text, const std::string& file, bool keys_outside_sections) {
    std::vector<ini_section> out;
    std::istringstream in(text);
    std::string raw;
    int line = 0;
    while (std::getline(in, raw)) {
        ++line;
        std::string s = trim(raw);
        if (s.empty() || s[0] == '#' || s[0] == ';') continue;
        if (s[0] == '[') {
            if (s.back() != ']') throw config_error(file + ":" + std::to_string(line) + ": section header without ']': " + s);
            std::string name = trim(s.substr(1, s.size() - 2));
            if (name.empty()) throw config_error(file + ":" + std::to_string(line) + ": empty section name");
            for (auto& sec : out)
                if (sec.name == name)
                    throw config_error(file + ":" + std::to_string(line) + ": section [" + name +
                                       "] appears twice (first at line " + std::to_string(sec.line) + ")");
            out.push_back({name, file, line, {}});
            continue;
        }
        auto eq = s.find('=');
        if (eq == std::string::npos)
            throw config_error(file + ":" + std::to_string(line) + ": expected 'key = value', got: " + s);
        if (out.empty() && keys_outside_sections) out.push_back({"", file, line, {}});
        if (out.empty())
            throw config_error(file + ":" + std::to_string(line) + ": key outside of any [section]: " + s);
        std::string key = trim(s.substr(0, eq));
        std::string value = trim(s.substr(eq + 1));
        if (!value.empty() && value.front() == '"') {
            auto close = value.find('"', 1);
            if (close == std::string::npos)
                throw config_error(file + ":" + std::to_string(line) + ": unterminated quote in value of '" + key + "'");
            value = value.substr(1, close - 1);
        } else {
            // An inline comment needs a space before it so that values like "#abc" survive.
            for (const char* mark : {" #", " ;", "\t#", "\t;"}) {
                auto c = value.find(mark);
                if (c != std::string::npos) value = trim(value.substr(0, c));
            }
        }
        if (key.empty()) throw config_error(file + ":" + std::to_string(line) + ": empty key");
        out.back().entries.push_back({key, value, line});
    }
    return out;
}

std::vector<ini_section> read_ini(const std::string& path, bool keys_outside_sections) {
    std::ifstream f(path);
    if (!f) throw config_error("cannot read config file '" + path + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_ini(ss.str(), path, keys_outside_sections);
}

void store_section(const ini_section& section, const po::options_description& desc, po::variables_map& vm) {
    po::parsed_options parsed(&desc);
    const std::string label = section.name.empty() ? "the top level" : "[" + section.name + "]";
    for (auto& e : section.entries) {
        if (!desc.find_nothrow(e.key, false))
            throw config_error(section.where(e.line) + ": unknown key '" + e.key + "' in " + label);
        po::option opt;
        opt.string_key = e.key;
        opt.value.push_back(e.value);
        opt.original_tokens.push_back(e.key);
        opt.original_tokens.push_back(e.value);
        parsed.options.push_back(std::move(opt));
    }
    try {
        po::store(parsed, vm);
    } catch (const po::error& ex) {
        throw config_error(section.file + ": " + label + ": " + ex.what());
    }
}

void store_command_line(int argc, const char* const* argv, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* positional) {
    try {
        po::command_line_parser p(argc, argv);
        p.options(desc);
        if (positional) p.positional(*positional);
        po::store(p.run(), vm);
    } catch (const po::error& ex) {
        throw config_error(ex.what());
    }
}

duration get_duration(const po::variables_map& vm, const std::string& option) {
    const auto& text = vm[option].as<std::string>();
    try {
        return parse_duration(text);
    } catch (const std::invalid_argument& ex) {
        throw config_error("option '--" + option + "': " + ex.what());
    }
}

long long get_in_range(const po::variables_map& vm, const std::string& option, long long min, long long max,
                       const std::string& where) {
    const long long v = vm[option].as<long long>();
    if (v < min || v > max)
        throw config_error((where.empty() ? "option '--" + option + "'" : where) + ": " + std::to_string(v) +
                           " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    return v;
}

endpoint get_endpoint(const po::variables_map& vm, const std::string& option, std::string_view default_host) {
    const auto& text = vm[option].as<std::string>();
    try {
        return parse_endpoint(text, default_host);
    } catch (const std::invalid_argument& ex) {
        throw config_error("option '--" + option + "': " + ex.what());
    }
}

std::optional<endpoint> get_optional_endpoint(const po::variables_map& vm, const std::string& option,
                                              std::string_view default_host) {
    if (vm[option].as<std::string>().empty()) return std::nullopt;
    return get_endpoint(vm, option, default_host);
}

std::string path_beside(const std::string& ini_file, const std::string& path) {
    if (path.empty() || ini_file.empty() || std::filesystem::path(path).is_absolute()) return path;
    return (std::filesystem::path(ini_file).parent_path() / path).lexically_normal().string();
}

bool parse_bool(const std::string& option, const std::string& text) {
    std::string t;
    for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
    if (t == "false" || t == "no" || t == "off" || t == "0") return false;
    throw config_error("option '" + option + "': '" + text + "' is not a boolean (true/false)");
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace sb::core
