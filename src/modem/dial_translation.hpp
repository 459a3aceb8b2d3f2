#pragma once
// Turns what the user dialled (ATD...) into a TCP target. Pure functions:
// user rules first, then the phone book, then the built-in forms. No
// resolving here: the session resolves host names when it dials.
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace sb::modem {

struct dial_target {
    std::string host;  // name, IPv4 or IPv6 (without brackets)
    std::uint16_t port = 0;
    bool telnet = false;  // negotiate telnet from the start
    bool operator==(const dial_target&) const = default;
};

// "-T regexp->format": when the whole number matches (std::regex_match),
// the format (std::regex format syntax: $1, $2 ...) gives "host", "host:port"
// or "[v6]:port"; a "telnet://" prefix on the format turns telnet on, e.g.
//   "555(\d+)->bbs$1.example.org:23"   "^0(\d)$->telnet://127.0.0.1:202$1"
struct translate_rule {
    std::regex pattern;
    std::string format;
    std::string source;
};
// Throws std::invalid_argument naming the problem.
translate_rule parse_translate_rule(const std::string& rule);

// Phone book file: one entry per line, "NUMBER TARGET [telnet]", '#' comments,
// blank lines ignored; TARGET as for a rule's output. Numbers compare after
// removing spaces, '-', '(', ')' and '.'. Throws std::invalid_argument with
// "file:line: ..." on a bad line.
struct phone_book_entry {
    std::string number;
    dial_target target;
};
std::vector<phone_book_entry> parse_phone_book(std::string_view text, const std::string& file_name);

class dial_translator {
public:
    dial_translator(std::vector<translate_rule> rules, std::vector<phone_book_entry> book, std::uint16_t default_port)
        : rules_(std::move(rules)), book_(std::move(book)), default_port_(default_port) {}

    // Built-in forms after the rules and the phone book:
    //   *192*168*1*100*2020 -> 192.168.1.100:2020     *192*168*1*100 -> 192.168.1.100:default
    //   host:port   host   127.0.0.1   [::1]:2020   ::1 (bare IPv6: default port)
    // Digits only (a phone number nobody mapped) is not a host: nullopt,
    // so "5551234" never resolves as the IPv4 address 0.84.196.194.
    // Spaces are ignored; an empty, oversized (> 255) or malformed number is nullopt.
    std::optional<dial_target> translate(std::string_view number) const;

private:
    std::vector<translate_rule> rules_;
    std::vector<phone_book_entry> book_;
    std::uint16_t default_port_;
};

// "host", "host:port", "[v6]:port", "v6" with an optional "telnet://" prefix.
std::optional<dial_target> parse_target(std::string_view text, std::uint16_t default_port);

}  // namespace sb::modem
