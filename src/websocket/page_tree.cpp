#include "websocket/page_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <set>

namespace sb::ws {

namespace {

constexpr std::array<std::string_view, link_count> link_names{"envoi", "suite", "retour", "sommaire", "guide",
                                                               "repetition"};

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string in_quotes(std::string_view s) {
    // Appended rather than "'" + ...: GCC 12 at -O3 warns (-Wrestrict) about
    // its own inlined insert-at-front.
    std::string r(1, '\'');
    r += s;
    r += '\'';
    return r;
}

std::string hex_byte(unsigned char c) {
    static constexpr char digits[] = "0123456789ABCDEF";
    return std::string("0x") + digits[c >> 4] + digits[c & 15];
}

// Page names end up in log lines and error messages: keep them plain.
bool valid_name(std::string_view s, std::size_t max) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s) {
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.') return false;
    }
    return true;
}

// Choice words are compared with what the user types on a Minitel keyboard.
bool valid_choice(std::string_view s) {
    if (s.empty() || s.size() > max_choice_length) return false;
    for (char c : s) {
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.' && c != '*') return false;
    }
    return true;
}

// "12" -> 12; nullopt for anything else, including overflow.
std::optional<unsigned> small_number(std::string_view s) {
    s = trim(s);
    if (s.empty() || s.size() > 4) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

std::optional<std::pair<unsigned, unsigned>> number_pair(std::string_view s) {
    auto const comma = s.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    auto const a = small_number(s.substr(0, comma));
    auto const b = small_number(s.substr(comma + 1));
    if (!a || !b) return std::nullopt;
    return std::pair{*a, *b};
}

// "500ms", "20s", "5min" (a space before the unit is allowed).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    std::size_t i = 0;
    std::uint64_t v = 0;
    while (i < s.size() && is_digit(s[i])) {
        if (i >= 9) return std::nullopt;  // keeps the multiplication below far from overflow
        v = v * 10 + static_cast<unsigned>(s[i] - '0');
        ++i;
    }
    if (i == 0) return std::nullopt;
    auto const unit = trim(s.substr(i));
    std::uint64_t ms = 0;
    if (unit == "ms") ms = v;
    else if (unit == "s") ms = v * 1000;
    else if (unit == "min") ms = v * 60'000;
    else return std::nullopt;
    auto const d = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
    if (d < min_page_timeout || d > max_page_timeout) return std::nullopt;
    return d;
}

// Page files live under the INI's folder: a tree is then self-contained,
// and watching the files it lists sees every change to it.
bool valid_relative_path(std::string_view p) {
    if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos) return false;
    std::size_t at = 0;
    while (at <= p.size()) {
        auto end = p.find('/', at);
        if (end == std::string_view::npos) end = p.size();
        if (p.substr(at, end - at) == "..") return false;
        at = end + 1;
    }
    return true;
}

class parser {
public:
    parser(std::string_view file_name, const page_file_reader& read) : file_(file_name), read_(read) {}

    page_tree run(std::string_view text) {
        if (text.size() > max_ini_size) {
            fail_file("larger than " + std::to_string(max_ini_size) + " bytes");
        }
        std::size_t number = 0;
        while (!text.empty()) {
            auto const nl = text.find('\n');
            auto line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            ++number;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            one_line(number, line);
        }
        end_section();
        resolve();
        return std::move(tree_);
    }

private:
    enum class section { none, service, page };
    enum class target_kind { link, choice, timeout_page };
    // A page name met before all pages are known: resolved at the end.
    struct pending {
        std::size_t line;
        std::size_t page;
        target_kind kind;
        std::size_t slot;  // link index or choice index
        std::string target;
    };
    // What a [page] section said, checked when the section ends.
    struct page_lines {
        std::size_t header = 0, file = 0, files = 0, list = 0, timeout = 0, timeout_page = 0;
    };

    [[noreturn]] void fail(std::size_t line, const std::string& what) const {
        throw page_tree_error(std::string(file_) + ":" + std::to_string(line) + ": " + what);
    }
    [[noreturn]] void fail_file(const std::string& what) const {
        throw page_tree_error(std::string(file_) + ": " + what);
    }

    std::string where() const {
        return section_ == section::service ? "[service]" : "[page " + tree_.pages.back().name + "]";
    }

    void one_line(std::size_t number, std::string_view line) {
        if (line.size() > max_ini_line) fail(number, "line longer than " + std::to_string(max_ini_line) + " bytes");
        for (char c : line) {
            auto const u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) fail(number, "control character " + hex_byte(u));
        }
        // Comments may hold any text (UTF-8 included); the rest is ASCII.
        if (auto const comment = line.find_first_of(";#"); comment != std::string_view::npos) {
            line = line.substr(0, comment);
        }
        for (char c : line) {
            auto const u = static_cast<unsigned char>(c);
            if (u >= 0x80) fail(number, "non-ASCII byte " + hex_byte(u) + " (only comments may hold other text)");
        }
        line = trim(line);
        if (line.empty()) return;
        if (line.front() == '[') return header(number, line);
        auto const eq = line.find('=');
        if (eq == std::string_view::npos) fail(number, "expected 'key = value' or a [section]: " + in_quotes(line));
        auto const k = trim(line.substr(0, eq));
        auto const v = trim(line.substr(eq + 1));
        if (k.empty()) fail(number, "no key before '='");
        if (section_ == section::none) fail(number, "key " + in_quotes(k) + " outside a section");
        if (v.empty()) fail(number, "empty value for " + in_quotes(k) + " in " + where());
        // choice.a and choice.A are the same choice: typed text is compared in upper case.
        std::string seen(k);
        if (k.starts_with("choice.")) {
            for (auto& c : seen) c = upper(c);
        }
        if (!seen_keys_.insert(seen).second) fail(number, "duplicate key " + in_quotes(k) + " in " + where());
        if (section_ == section::service) return service_key(number, k, v);
        page_key(number, k, v);
    }

    void header(std::size_t number, std::string_view line) {
        if (line.back() != ']') fail(number, "section header without ']'");
        auto const inner = trim(line.substr(1, line.size() - 2));
        end_section();
        seen_keys_.clear();
        if (inner == "service") {
            if (service_line_ != 0) {
                fail(number, "second [service] section (first at line " + std::to_string(service_line_) + ")");
            }
            service_line_ = number;
            section_ = section::service;
            return;
        }
        if (!inner.starts_with("page") || inner.size() < 5 || !is_space(inner[4])) {
            fail(number, "unknown section [" + std::string(inner) + "]: expected [service] or [page NAME]");
        }
        auto const name = trim(inner.substr(4));
        if (!valid_name(name, max_name_length)) {
            fail(number, "bad page name " + in_quotes(name) + " (letters, digits, '_', '-', '.'; at most " +
                             std::to_string(max_name_length) + ")");
        }
        if (auto const it = page_header_.find(name); it != page_header_.end()) {
            fail(number, "duplicate page " + in_quotes(name) + " (first at line " + std::to_string(it->second) + ")");
        }
        if (tree_.pages.size() >= max_pages) fail(number, "more than " + std::to_string(max_pages) + " pages");
        page_header_.emplace(std::string(name), number);
        tree_.index.emplace(std::string(name), tree_.pages.size());
        tree_.pages.emplace_back().name = name;
        lines_ = page_lines{};
        lines_.header = number;
        section_ = section::page;
    }

    void service_key(std::size_t number, std::string_view k, std::string_view v) {
        if (k != "start") fail(number, "unknown key " + in_quotes(k) + " in [service]");
        start_ = v;
        start_line_ = number;
    }

    void page_key(std::size_t number, std::string_view k, std::string_view v) {
        auto& p = tree_.pages.back();
        auto const index = tree_.pages.size() - 1;
        for (std::size_t l = 0; l < link_count; ++l) {
            if (k == link_names[l]) {
                links_.push_back({number, index, target_kind::link, l, std::string(v)});
                return;
            }
        }
        if (k.starts_with("choice.")) {
            auto const word = k.substr(7);
            if (!valid_choice(word)) {
                fail(number, "bad choice " + in_quotes(word) + " (letters, digits, '*', '_', '-', '.'; at most " +
                                 std::to_string(max_choice_length) + ")");
            }
            if (p.choices.size() >= max_choices_per_page) {
                fail(number, "more than " + std::to_string(max_choices_per_page) + " choices in " + where());
            }
            std::string upper_word(word);
            for (auto& c : upper_word) c = upper(c);
            links_.push_back({number, index, target_kind::choice, p.choices.size(), std::string(v)});
            p.choices.emplace_back(std::move(upper_word), 0);
        } else if (k == "type") {
            if (v == "directory") p.type = page_type::directory;
            else if (v != "page") fail(number, "bad type " + in_quotes(v) + " (page or directory)");
        } else if (k == "file") {
            if (lines_.files != 0) fail(number, "both file and files in " + where());
            lines_.file = number;
            p.files.push_back(read_page_file(number, v));
        } else if (k == "files") {
            if (lines_.file != 0) fail(number, "both file and files in " + where());
            lines_.files = number;
            std::size_t at = 0;
            for (;;) {
                auto const comma = v.find(',', at);
                auto const one = trim(v.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at));
                if (one.empty()) fail(number, "empty file name in files =");
                if (p.files.size() >= max_files_per_page) {
                    fail(number, "more than " + std::to_string(max_files_per_page) + " files in one page");
                }
                p.files.push_back(read_page_file(number, one));
                if (comma == std::string_view::npos) break;
                at = comma + 1;
            }
        } else if (k == "timeout") {
            p.timeout = parse_duration(v);
            if (!p.timeout) {
                fail(number, "bad timeout " + in_quotes(v) + " (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)");
            }
            lines_.timeout = number;
        } else if (k == "timeout_page") {
            lines_.timeout_page = number;
            links_.push_back({number, index, target_kind::timeout_page, 0, std::string(v)});
        } else if (k == "input") {
            auto const rc = number_pair(v);
            if (!rc || rc->first < 1 || rc->first > 24 || rc->second < 1 || rc->second > 39) {
                fail(number, "bad input position " + in_quotes(v) + " (row,col with row 1..24, col 1..39)");
            }
            p.input_row = rc->first;
            p.input_col = rc->second;
        } else if (k == "list") {
            auto const rows = number_pair(v);
            if (!rows || rows->first < 1 || rows->second > 24 || rows->first > rows->second) {
                fail(number, "bad list rows " + in_quotes(v) + " (first,last with 1 <= first <= last <= 24)");
            }
            p.list_first = rows->first;
            p.list_last = rows->second;
            lines_.list = number;
        } else {
            fail(number, "unknown key " + in_quotes(k) + " in " + where());
        }
    }

    std::size_t read_page_file(std::size_t number, std::string_view path) {
        if (!valid_relative_path(path)) {
            fail(number, "page file " + in_quotes(path) + " must be a relative path without '..' components");
        }
        std::string name(path);
        if (auto const it = files_.find(name); it != files_.end()) return it->second;
        std::string error;
        auto content = read_(name, error);
        if (!content) fail(number, "cannot read " + in_quotes(name) + ": " + error);
        if (content->size() > max_page_file_size) {
            fail(number, in_quotes(name) + " is larger than " + std::to_string(max_page_file_size) + " bytes");
        }
        for (std::size_t i = 0; i < content->size(); ++i) {
            auto const u = static_cast<unsigned char>((*content)[i]);
            if (u >= 0x80) {
                fail(number, in_quotes(name) + ": byte " + hex_byte(u) + " at offset " + std::to_string(i) +
                                 " (videotex is 7-bit: accents are SS2 sequences)");
            }
        }
        total_bytes_ += content->size();
        if (total_bytes_ > max_tree_bytes) {
            fail(number, "page files larger than " + std::to_string(max_tree_bytes) + " bytes in all");
        }
        tree_.contents.push_back(std::move(*content));
        files_.emplace(std::move(name), tree_.contents.size() - 1);
        return tree_.contents.size() - 1;
    }

    void end_section() {
        if (section_ == section::service && start_line_ == 0) fail(service_line_, "[service] has no start = PAGE");
        if (section_ != section::page) return;
        auto const& p = tree_.pages.back();
        if (p.type == page_type::directory) {
            if (lines_.files != 0) fail(lines_.files, "directory page " + in_quotes(p.name) + " takes file =, not files =");
        } else {
            if (p.files.empty()) {
                fail(lines_.header, "page " + in_quotes(p.name) + " has no file, files or type = directory");
            }
            if (lines_.list != 0) fail(lines_.list, "list = is for type = directory pages");
        }
        if (lines_.timeout_page != 0 && lines_.timeout == 0) {
            fail(lines_.timeout_page, "timeout_page without timeout in " + where());
        }
        if (lines_.timeout != 0 && lines_.timeout_page == 0) {
            fail(lines_.timeout, "timeout without timeout_page in " + where());
        }
    }

    void resolve() {
        if (service_line_ == 0) fail_file("no [service] section (it names the first page: start = PAGE)");
        for (auto const& l : links_) {
            auto const target = tree_.find(l.target);
            auto& p = tree_.pages[l.page];
            if (!target) fail(l.line, "page " + in_quotes(p.name) + " links to unknown page " + in_quotes(l.target));
            switch (l.kind) {
            case target_kind::link: p.links[l.slot] = *target; break;
            case target_kind::choice: p.choices[l.slot].second = *target; break;
            case target_kind::timeout_page: p.timeout_page = *target; break;
            }
        }
        auto const start = tree_.find(start_);
        if (!start) fail(start_line_, "start page " + in_quotes(start_) + " does not exist");
        tree_.start = *start;
    }

    std::string_view file_;
    const page_file_reader& read_;
    page_tree tree_;
    section section_ = section::none;
    std::set<std::string> seen_keys_;  // in the current section
    std::map<std::string, std::size_t, std::less<>> page_header_;  // name -> line
    std::map<std::string, std::size_t> files_;                  // path -> contents index
    std::vector<pending> links_;
    page_lines lines_;
    std::size_t service_line_ = 0, start_line_ = 0;
    std::string start_;
    std::size_t total_bytes_ = 0;
};

file_stamp stamp(const std::filesystem::path& p) {
    file_stamp s;
    s.path = p;
    std::error_code ec;
    auto const mtime = std::filesystem::last_write_time(p, ec);
    if (ec) return s;
    auto const size = std::filesystem::file_size(p, ec);
    if (ec) return s;
    s.mtime = mtime;
    s.size = size;
    return s;
}

// At most `limit` + 1 bytes: enough for the parser to tell the file is too
// large without reading a runaway one to the end.
std::optional<std::string> read_bounded(const std::filesystem::path& p, std::size_t limit, std::string& error) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(p.c_str(), "rb"), &std::fclose);
    if (!f) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    std::string data;
    char buf[16 * 1024];
    while (data.size() <= limit) {
        auto const n = std::fread(buf, 1, std::min(sizeof buf, limit + 1 - data.size()), f.get());
        if (n == 0) break;
        data.append(buf, n);
    }
    if (std::ferror(f.get())) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    return data;
}

}  // namespace

std::string_view link_name(page_link l) { return link_names[static_cast<std::size_t>(l)]; }

std::optional<std::size_t> page_tree::find(std::string_view name) const {
    auto const it = index.find(name);
    if (it == index.end()) return std::nullopt;
    return it->second;
}

file_stamps restat(const file_stamps& stamps) {
    file_stamps now;
    now.reserve(stamps.size());
    for (auto const& s : stamps) now.push_back(stamp(s.path));
    return now;
}

page_tree parse_page_tree(std::string_view ini_text, std::string_view file_name, const page_file_reader& read_file) {
    return parser(file_name, read_file).run(ini_text);
}

page_tree load_page_tree(const std::filesystem::path& root) {
    file_stamps sources;
    // Stamped before reading: a change during the read then shows on the next poll.
    sources.push_back(stamp(root));
    std::string error;
    auto const text = read_bounded(root, max_ini_size, error);
    if (!text) throw page_tree_load_error(root.string() + ": cannot read: " + error, std::move(sources));
    auto const folder = root.parent_path();
    page_file_reader reader = [&](const std::string& relative, std::string& why) {
        auto const path = folder / relative;
        sources.push_back(stamp(path));
        return read_bounded(path, max_page_file_size, why);
    };
    try {
        auto tree = parse_page_tree(*text, root.string(), reader);
        tree.sources = std::move(sources);
        return tree;
    } catch (const page_tree_error& e) {
        throw page_tree_load_error(e.what(), std::move(sources));
    }
}

}  // namespace sb::ws
