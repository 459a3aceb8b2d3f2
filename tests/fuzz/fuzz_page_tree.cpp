// libFuzzer target for the Minitel page tree parser and the videotex engine.
//
// Input layout: [INI text] 0x00 [page file] 0x00 [page file] ... 0x00 [keys]
//   The page files answer the INI's file names in the order they are asked
//   for (missing ones: "No such file or directory"). With two or more
//   segments the last one drives the engine: bytes 0x01-0x0A are the ten
//   function keys, 0x0B a timeout, 0x0C a redraw, 0x0D and 0x0E reloads
//   (the same tree, a one-page tree), anything else typed text.
// The parser either builds a consistent tree or throws page_tree_error; the
// engine then only ever writes 7-bit videotex and keeps its bounds.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_driver.hpp"
#include "websocket/minitel_keys.hpp"
#include "websocket/page_tree.hpp"
#include "websocket/videotex_server.hpp"

using namespace sb::ws;

namespace {

constexpr std::array<key, 10> keys{key::envoi,      key::retour,     key::repetition, key::guide,
                                   key::annulation, key::sommaire,   key::correction, key::suite,
                                   key::connexion_fin, key::line_dropped};

void check_tree(const page_tree& t) {
    SB_FUZZ_CHECK(!t.pages.empty() && t.pages.size() <= max_pages);
    SB_FUZZ_CHECK(t.start < t.pages.size());
    SB_FUZZ_CHECK(t.index.size() == t.pages.size());
    std::size_t total = 0;
    for (auto const& c : t.contents) {
        SB_FUZZ_CHECK(c.size() <= max_page_file_size);
        for (char b : c) SB_FUZZ_CHECK(static_cast<unsigned char>(b) < 0x80);
        total += c.size();
    }
    SB_FUZZ_CHECK(total <= max_tree_bytes);
    for (auto const& p : t.pages) {
        SB_FUZZ_CHECK(t.find(p.name).has_value());
        SB_FUZZ_CHECK(p.type == page_type::directory || !p.files.empty());
        SB_FUZZ_CHECK(p.files.size() <= max_files_per_page);
        for (auto f : p.files) SB_FUZZ_CHECK(f < t.contents.size());
        for (auto const& l : p.links) SB_FUZZ_CHECK(!l || *l < t.pages.size());
        for (auto const& [word, to] : p.choices) SB_FUZZ_CHECK(!word.empty() && to < t.pages.size());
        SB_FUZZ_CHECK(p.timeout.has_value() == p.timeout_page.has_value());
        SB_FUZZ_CHECK(!p.timeout_page || *p.timeout_page < t.pages.size());
        SB_FUZZ_CHECK(p.input_row >= 1 && p.input_row <= 24 && p.input_col >= 1 && p.input_col <= 39);
        SB_FUZZ_CHECK(p.list_first >= 1 && p.list_first <= p.list_last && p.list_last <= 24);
    }
}

std::shared_ptr<const page_tree> one_page_tree() {
    static const auto tree = std::make_shared<const page_tree>(parse_page_tree(
        "[service]\nstart = x\n[page x]\nfile = x.vdt\nchoice.1 = x\n", "one.ini",
        [](const std::string&, std::string&) -> std::optional<std::string> { return std::string("X"); }));
    return tree;
}

void drive(std::shared_ptr<const page_tree> tree, std::string_view script) {
    videotex_server server(tree, {{"3615 TEST", "Test"}, {"ULLA", "Caf\xc3\xa9"}, {"", ""}});
    std::string out;
    server.start(out);
    for (char c : script) {
        auto const b = static_cast<unsigned char>(c);
        if (b >= 1 && b <= keys.size()) {
            auto const k = keys[b - 1];
            auto const r = server.on_key(k, out);
            bool const leaves = k == key::connexion_fin || k == key::line_dropped;
            SB_FUZZ_CHECK((r == videotex_server::outcome::hang_up) == leaves);
        } else if (b == 0x0b) {
            server.on_timeout(out);
        } else if (b == 0x0c) {
            server.redraw(out);
        } else if (b == 0x0d) {
            server.reload(tree);
        } else if (b == 0x0e) {
            server.reload(one_page_tree());
        } else {
            server.on_data(std::string_view(&c, 1), out);
        }
        SB_FUZZ_CHECK(server.typed().size() <= videotex_server::max_typed);
        SB_FUZZ_CHECK(!server.current_page().empty());
        if (auto t = server.timeout()) SB_FUZZ_CHECK(*t >= min_page_timeout && *t <= max_page_timeout);
        for (char o : out) SB_FUZZ_CHECK(static_cast<unsigned char>(o) < 0x80);
        out.clear();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> segments;
    for (;;) {
        auto const nul = in.find('\0');
        segments.push_back(in.substr(0, nul));
        if (nul == std::string_view::npos) break;
        in.remove_prefix(nul + 1);
    }
    std::string_view const script = segments.size() >= 2 ? segments.back() : std::string_view{};
    std::size_t next_file = 1;
    std::size_t const files_end = segments.size() >= 2 ? segments.size() - 1 : 1;
    page_file_reader reader = [&](const std::string&, std::string& error) -> std::optional<std::string> {
        if (next_file >= files_end) {
            error = "No such file or directory";
            return std::nullopt;
        }
        return std::string(segments[next_file++]);
    };

    std::shared_ptr<const page_tree> tree;
    std::string first_error;
    try {
        tree = std::make_shared<const page_tree>(parse_page_tree(segments[0], "fuzz.ini", reader));
        check_tree(*tree);
    } catch (const page_tree_error& e) {
        first_error = e.what();
        SB_FUZZ_CHECK(first_error.starts_with("fuzz.ini:"));
    }
    // The same input gives the same verdict.
    next_file = 1;
    try {
        auto const again = parse_page_tree(segments[0], "fuzz.ini", reader);
        SB_FUZZ_CHECK(tree && again.pages.size() == tree->pages.size());
    } catch (const page_tree_error& e) {
        SB_FUZZ_CHECK(!tree && e.what() == first_error);
    }
    if (tree) drive(tree, script);
    return 0;
}
