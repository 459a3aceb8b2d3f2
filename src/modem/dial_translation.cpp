#include "modem/dial_translation.hpp"

#include <array>
#include <stdexcept>
#include <unordered_map>

namespace sb::modem {

namespace {

constexpr std::size_t max_number = 255;
// Longest sensible target: "telnet://" + a 253-character name + ":65535".
constexpr std::size_t max_target = 512;
constexpr std::size_t max_host = 253;
constexpr std::size_t max_label = 63;
constexpr std::size_t max_ipv6 = 45;  // INET6_ADDRSTRLEN - 1
constexpr std::size_t max_zone = 32;
constexpr std::size_t max_rule = 4096;
constexpr std::size_t max_book_line = 1024;
constexpr std::string_view telnet_prefix = "telnet://";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

// AT command lines are often upper-cased by the terminal, so
// "TELNET://" must count too.
bool strip_telnet_prefix(std::string_view& s) {
    if (s.size() < telnet_prefix.size() || !iequals(s.substr(0, telnet_prefix.size()), telnet_prefix)) return false;
    s.remove_prefix(telnet_prefix.size());
    return true;
}

std::optional<unsigned> parse_decimal(std::string_view s, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
    auto v = parse_decimal(s, 5);
    if (!v || *v == 0 || *v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

// Octets are read as decimal and written back canonically: the resolver
// (inet_aton) would read "010" as octal 8, which no one dialling means.
bool append_octet(std::string_view s, std::string& out) {
    auto v = parse_decimal(s, 3);
    if (!v || *v > 255) return false;
    if (!out.empty()) out += '.';
    out += std::to_string(*v);
    return true;
}

std::optional<std::string> canonical_ipv4(std::string_view s) {
    std::string out;
    for (int i = 0; i < 3; ++i) {
        auto dot = s.find('.');
        if (dot == std::string_view::npos || !append_octet(s.substr(0, dot), out)) return std::nullopt;
        s.remove_prefix(dot + 1);
    }
    if (!append_octet(s, out)) return std::nullopt;
    return out;
}

bool valid_ipv6(std::string_view s) {
    if (auto pct = s.find('%'); pct != std::string_view::npos) {
        auto zone = s.substr(pct + 1);
        if (zone.empty() || zone.size() > max_zone) return false;
        for (char c : zone)
            if (!is_digit(c) && !is_alpha(c) && c != '_' && c != '-' && c != '.') return false;
        s = s.substr(0, pct);
    }
    if (s.size() < 2 || s.size() > max_ipv6) return false;
    std::size_t groups = 0;
    bool compressed = false;
    std::size_t i = 0;
    if (s.substr(0, 2) == "::") {
        compressed = true;
        i = 2;
    } else if (s[0] == ':') {
        return false;
    }
    while (i < s.size()) {
        auto colon = s.find(':', i);
        auto group = s.substr(i, colon == std::string_view::npos ? std::string_view::npos : colon - i);
        if (group.find('.') != std::string_view::npos) {
            // An embedded IPv4 address (::ffff:1.2.3.4) ends the address.
            if (colon != std::string_view::npos || !canonical_ipv4(group)) return false;
            groups += 2;
            break;
        }
        if (group.empty() || group.size() > 4) return false;
        for (char c : group)
            if (!is_hex(c)) return false;
        ++groups;
        if (colon == std::string_view::npos) break;
        if (colon + 1 < s.size() && s[colon + 1] == ':') {
            if (compressed) return false;
            compressed = true;
            i = colon + 2;
        } else {
            i = colon + 1;
            if (i == s.size()) return false;  // a single trailing ':'
        }
    }
    return compressed ? groups < 8 : groups == 8;
}

// A name needs a letter: an unmapped phone number such as 555-1234 is
// otherwise a syntactically fine host name and would go to DNS.
bool valid_host_name(std::string_view s) {
    if (s.empty() || s.size() > max_host) return false;
    bool letter = false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        if (!is_digit(c) && !is_alpha(c) && c != '-' && c != '_') return false;
        if (c == '-' && label == 0) return false;
        letter = letter || is_alpha(c);
        if (++label > max_label) return false;
    }
    return letter && s.back() != '-';
}

// Digits and dots are an IPv4 address or nothing: "5551234" and "1.2"
// would otherwise reach inet_aton, which accepts them as addresses.
std::optional<std::string> checked_host(std::string_view s) {
    bool numeric = true;
    for (char c : s) numeric = numeric && (is_digit(c) || c == '.');
    if (numeric) return canonical_ipv4(s);
    if (valid_host_name(s)) return std::string(s);
    return std::nullopt;
}

// Port 0 in the result means "none given": the phone book is parsed before
// anyone knows the default port, so the translator fills it in later.
std::optional<dial_target> parse_target_any_port(std::string_view text) {
    if (text.size() > max_target) return std::nullopt;
    dial_target t;
    t.telnet = strip_telnet_prefix(text);
    std::string_view port_text;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        auto host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port_text = rest.substr(1);
            has_port = true;
        }
        if (!valid_ipv6(host)) return std::nullopt;
        t.host = host;
    } else {
        auto first = text.find(':');
        if (first != std::string_view::npos && text.find(':', first + 1) != std::string_view::npos) {
            // More than one ':' without brackets can only be a bare IPv6
            // address; its last group is never read as a port.
            if (!valid_ipv6(text)) return std::nullopt;
            t.host = text;
        } else {
            auto host = text.substr(0, first);
            if (first != std::string_view::npos) {
                port_text = text.substr(first + 1);
                has_port = true;
            }
            auto checked = checked_host(host);
            if (!checked) return std::nullopt;
            t.host = std::move(*checked);
        }
    }
    if (has_port) {
        auto port = parse_port(port_text);
        if (!port) return std::nullopt;
        t.port = *port;
    }
    return t;
}

std::optional<dial_target> with_default_port(std::optional<dial_target> t, std::uint16_t default_port) {
    if (t && t->port == 0) {
        if (default_port == 0) return std::nullopt;
        t->port = default_port;
    }
    return t;
}

// "*192*168*1*100*2020": keypads of the era had no '.' or ':'.
std::optional<dial_target> parse_star_form(std::string_view s, bool telnet, std::uint16_t default_port) {
    std::array<std::string_view, 5> field;
    std::size_t n = 0;
    s.remove_prefix(1);
    for (;;) {
        if (n == field.size()) return std::nullopt;
        auto star = s.find('*');
        field[n++] = s.substr(0, star);
        if (star == std::string_view::npos) break;
        s.remove_prefix(star + 1);
    }
    if (n < 4) return std::nullopt;
    dial_target t;
    t.telnet = telnet;
    for (std::size_t i = 0; i < 4; ++i)
        if (!append_octet(field[i], t.host)) return std::nullopt;
    if (n == 5) {
        auto port = parse_port(field[4]);
        if (!port) return std::nullopt;
        t.port = *port;
    }
    return with_default_port(std::move(t), default_port);
}

std::optional<dial_target> builtin_target(std::string_view s, std::uint16_t default_port) {
    auto rest = s;
    const bool telnet = strip_telnet_prefix(rest);
    if (!rest.empty() && rest.front() == '*') return parse_star_form(rest, telnet, default_port);
    return parse_target(s, default_port);
}

// Letters compare case-blind because terminals upper-case AT lines.
std::string normalise_number(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') out += to_lower(c);
    return out;
}

[[noreturn]] void book_error(const std::string& file_name, std::size_t line, const std::string& what) {
    throw std::invalid_argument(file_name + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

translate_rule parse_translate_rule(const std::string& rule) {
    if (rule.size() > max_rule)
        throw std::invalid_argument("translate rule is " + std::to_string(rule.size()) + " characters long, at most " +
                                    std::to_string(max_rule) + " allowed");
    const auto arrow = rule.find("->");
    if (arrow == std::string::npos)
        throw std::invalid_argument("translate rule '" + rule + "' has no '->' (expected REGEXP->FORMAT)");
    auto pattern = rule.substr(0, arrow);
    auto format = rule.substr(arrow + 2);
    if (pattern.empty()) throw std::invalid_argument("translate rule '" + rule + "' has an empty regular expression");
    if (format.empty()) throw std::invalid_argument("translate rule '" + rule + "' has an empty format");
    try {
        return {std::regex(pattern, std::regex::ECMAScript | std::regex::icase), std::move(format), rule};
    } catch (const std::regex_error& e) {
        throw std::invalid_argument("translate rule '" + rule + "': bad regular expression '" + pattern + "': " +
                                    e.what());
    }
}

std::vector<phone_book_entry> parse_phone_book(std::string_view text, const std::string& file_name) {
    std::vector<phone_book_entry> book;
    std::unordered_map<std::string, std::size_t> defined_on;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        ++line_no;
        const auto nl = text.find('\n', pos);
        const auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (line.size() > max_book_line)
            book_error(file_name, line_no, "line is longer than " + std::to_string(max_book_line) + " characters");

        std::array<std::string_view, 3> word;
        std::size_t n = 0;
        for (std::size_t i = 0; i < line.size();) {
            if (is_blank(line[i])) {
                ++i;
                continue;
            }
            if (line[i] == '#') break;
            auto end = i;
            while (end < line.size() && !is_blank(line[end])) ++end;
            const auto w = line.substr(i, end - i);
            if (n == word.size())
                book_error(file_name, line_no, "unexpected '" + std::string(w) + "' (expected NUMBER TARGET [telnet])");
            word[n++] = w;
            i = end;
        }
        if (n == 0) continue;
        if (n == 1)
            book_error(file_name, line_no,
                       "'" + std::string(word[0]) + "' has no target (expected NUMBER TARGET [telnet])");

        auto number = normalise_number(word[0]);
        if (number.empty()) book_error(file_name, line_no, "number '" + std::string(word[0]) + "' has no digits");
        if (number.size() > max_number)
            book_error(file_name, line_no, "number is longer than " + std::to_string(max_number) + " characters");
        auto target = parse_target_any_port(word[1]);
        if (!target)
            book_error(file_name, line_no,
                       "bad target '" + std::string(word[1]) + "' (expected HOST, HOST:PORT or [IPv6]:PORT)");
        if (n == 3) {
            if (!iequals(word[2], "telnet"))
                book_error(file_name, line_no,
                           "unknown flag '" + std::string(word[2]) + "' (only 'telnet' may follow the target)");
            target->telnet = true;
        }
        if (auto [it, fresh] = defined_on.emplace(number, line_no); !fresh)
            book_error(file_name, line_no,
                       "number '" + std::string(word[0]) + "' is already listed on line " + std::to_string(it->second));
        book.push_back({std::move(number), std::move(*target)});
    }
    return book;
}

std::optional<dial_target> parse_target(std::string_view text, std::uint16_t default_port) {
    return with_default_port(parse_target_any_port(text), default_port);
}

std::optional<dial_target> dial_translator::translate(std::string_view number) const {
    std::string s;
    for (char c : number) {
        if (c == ' ' || c == '\t') continue;
        if (s.size() == max_number) return std::nullopt;
        s += c;
    }
    if (s.empty()) return std::nullopt;

    // The first matching rule owns the number: if its output is not a
    // target the call fails rather than falling through to a guess.
    for (const auto& rule : rules_) {
        std::smatch m;
        try {
            if (!std::regex_match(s, m, rule.pattern)) continue;
        } catch (const std::regex_error&) {
            // A pathological pattern can exhaust the matcher; that is a
            // failed call, not a reason to take the session down.
            return std::nullopt;
        }
        return parse_target(m.format(rule.format), default_port_);
    }

    const auto key = normalise_number(s);
    for (const auto& entry : book_)
        if (entry.number == key) return with_default_port(entry.target, default_port_);

    return builtin_target(s, default_port_);
}

}  // namespace sb::modem
