#pragma once
// The embedded videotex service's pages, described in an INI file plus one
// videotex file per screen (format: the "Minitel pages" section of README.md).
// parse_page_tree is pure (files come from a callback), so tests and the fuzz
// target need no disk; load_page_tree reads real files and records their
// stamps, which the I/O side polls to reload the tree when it is edited.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::ws {

// Limits: a page tree is operator-written, but a typo (a page file pointing
// at a log, a generated INI gone wrong) must fail fast, not eat memory.
inline constexpr std::size_t max_ini_size = 1024 * 1024;
inline constexpr std::size_t max_ini_line = 1024;
inline constexpr std::size_t max_pages = 10'000;
inline constexpr std::size_t max_name_length = 32;        // page names
inline constexpr std::size_t max_choice_length = 16;      // the word after "choice."
inline constexpr std::size_t max_choices_per_page = 100;
inline constexpr std::size_t max_files_per_page = 100;    // a `files =` sequence
inline constexpr std::size_t max_page_file_size = 64 * 1024;  // a full Minitel screen is < 4 KiB
inline constexpr std::size_t max_tree_bytes = 16 * 1024 * 1024;  // all distinct page files together
inline constexpr std::chrono::milliseconds min_page_timeout{100};
inline constexpr std::chrono::milliseconds max_page_timeout = std::chrono::hours(24);

// Thrown for a tree that cannot be used: "FILE:LINE: what is wrong", or
// "FILE: what is wrong" for faults of the whole file (too large, no
// [service] section).
class page_tree_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A key that can lead to another page.
enum class page_link : std::uint8_t { envoi, suite, retour, sommaire, guide, repetition };
inline constexpr std::size_t link_count = 6;
std::string_view link_name(page_link l);  // "envoi", "suite", ... as written in the INI

enum class page_type : std::uint8_t {
    screens,    // `file =` (one screen) or `files =` (a sequence, Suite/Retour step through it)
    directory,  // optional `file =` header, then the engine's directory listing
};

struct page {
    std::string name;
    page_type type = page_type::screens;
    // Indices into page_tree::contents, one per screen. A directory has its
    // header here (or nothing).
    std::vector<std::size_t> files;
    // Page indices; a key without a link shows "Touche inactive".
    std::array<std::optional<std::size_t>, link_count> links{};
    // Word typed before Envoi (upper case, as compared) -> page index.
    std::vector<std::pair<std::string, std::size_t>> choices;
    // With no key for this long, the page at timeout_page (both or neither).
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<std::size_t> timeout_page;
    // Where typed text is echoed. Column 39 at most: a character written in
    // column 40 wraps the cursor to the next row (to row 1 from row 24).
    unsigned input_row = 24;
    unsigned input_col = 1;
    // Directory pages: the rows the listing fills, one code per row.
    unsigned list_first = 4;
    unsigned list_last = 22;

    std::optional<std::size_t> link_to(page_link l) const { return links[static_cast<std::size_t>(l)]; }
};

// A file the tree was read from, as it was then; no mtime: it could not be
// read (a page file the tree names but that is missing).
struct file_stamp {
    std::filesystem::path path;
    std::optional<std::filesystem::file_time_type> mtime;
    std::uintmax_t size = 0;
    bool operator==(const file_stamp&) const = default;
};
using file_stamps = std::vector<file_stamp>;

// The same paths stat'ed now.
file_stamps restat(const file_stamps& stamps);
// One stat per file: cheap enough to poll every few seconds.
inline bool changed_on_disk(const file_stamps& stamps) { return restat(stamps) != stamps; }

class page_tree {
public:
    std::vector<page> pages;
    std::size_t start = 0;
    // Distinct page files, each read once even when several pages share it.
    std::vector<std::string> contents;
    std::map<std::string, std::size_t, std::less<>> index;  // page name -> page index
    // Filled by load_page_tree (the INI first), empty from parse_page_tree.
    file_stamps sources;

    std::optional<std::size_t> find(std::string_view name) const;
    std::string_view screen(const page& p, std::size_t i) const { return contents[p.files[i]]; }
    // True when the INI or a page file changed since the tree was loaded.
    bool changed_on_disk() const { return ws::changed_on_disk(sources); }
};

// Returns the file's bytes, or nullopt with `error` set (e.g. "No such file
// or directory"). The path is the one written in the INI, relative to it.
using page_file_reader = std::function<std::optional<std::string>(const std::string& relative_path, std::string& error)>;

// Throws page_tree_error. `file_name` only prefixes the messages.
page_tree parse_page_tree(std::string_view ini_text, std::string_view file_name, const page_file_reader& read_file);

// Reads `root` and the page files next to it (bounded by the limits above).
// Messages name `root` as given. On failure the exception's `sources` says
// which files were looked at, so the caller can wait for one of them to
// change before trying again instead of failing on every poll.
class page_tree_load_error : public page_tree_error {
public:
    page_tree_load_error(const std::string& what, file_stamps sources)
        : page_tree_error(what), sources(std::move(sources)) {}
    file_stamps sources;
};
page_tree load_page_tree(const std::filesystem::path& root);

}  // namespace sb::ws
