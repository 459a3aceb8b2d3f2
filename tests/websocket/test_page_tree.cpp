#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

#include "../temp_dir.hpp"
#include "websocket/page_tree.hpp"

using namespace sb::ws;

namespace {

using file_map = std::map<std::string, std::string>;

// Page files from memory; counts the reads to show each path is read once.
struct memory_files {
    file_map files;
    std::map<std::string, int> reads;

    page_file_reader reader() {
        return [this](const std::string& path, std::string& error) -> std::optional<std::string> {
            ++reads[path];
            auto const it = files.find(path);
            if (it == files.end()) {
                error = "No such file or directory";
                return std::nullopt;
            }
            return it->second;
        };
    }
};

page_tree parse(std::string_view ini, file_map files = {}) {
    memory_files m{std::move(files), {}};
    return parse_page_tree(ini, "service.ini", m.reader());
}

// The message a bad tree is refused with ("" if it is accepted).
std::string error_of(std::string_view ini, file_map files = {{"a.vdt", "A"}}) {
    try {
        parse(ini, std::move(files));
    } catch (const page_tree_error& e) {
        return e.what();
    }
    return "";
}

const std::string head = "[service]\nstart = a\n[page a]\nfile = a.vdt\n";  // lines 1-4


}  // namespace

TEST_CASE("the demo tree loads") {
    auto const root = std::filesystem::path(SB_SOURCE_DIR) / "conf/minitel/service.ini";
    auto const tree = load_page_tree(root);
    auto const page_named = [&](std::string_view name) -> const page& {
        auto const i = tree.find(name);
        REQUIRE(i);
        return tree.pages[*i];
    };
    CHECK(tree.pages[tree.start].name == "welcome");
    CHECK(tree.pages.size() == 5);
    auto const& welcome = page_named("welcome");
    CHECK(welcome.input_row == 13);
    CHECK(welcome.input_col == 10);
    CHECK(welcome.link_to(page_link::guide) == tree.find("help"));
    auto const& menu = page_named("menu");
    REQUIRE(menu.choices.size() == 3);
    CHECK(menu.choices[0] == std::pair<std::string, std::size_t>{"1", *tree.find("news")});
    CHECK(menu.choices[1].second == *tree.find("codes"));
    CHECK(menu.timeout == std::chrono::minutes(3));
    CHECK(menu.timeout_page == tree.find("welcome"));
    CHECK(page_named("news").files.size() == 2);
    auto const& codes = page_named("codes");
    CHECK(codes.type == page_type::directory);
    CHECK(codes.list_first == 4);
    CHECK(codes.list_last == 21);
    // The INI, then the six page files, each once.
    REQUIRE(tree.sources.size() == 7);
    CHECK(tree.sources[0].path == root);
    CHECK(tree.contents.size() == 6);
    for (auto const& s : tree.sources) CHECK(s.mtime);
    CHECK_FALSE(tree.changed_on_disk());
    // What make_pages.py wrote is what the tree holds.
    std::ifstream f(root.parent_path() / "welcome.vdt", std::ios::binary);
    std::string const bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(tree.screen(welcome, 0) == bytes);
}

TEST_CASE("a tree from memory: links, choices, sequences, defaults") {
    auto const tree = parse(
        "; a comment\n"
        "# another\n"
        "[service]\n"
        "start = home   ; inline comment\n"
        "\n"
        "[page home]\n"
        "file = home.vdt\n"
        "suite = list\n"
        "sommaire = home    ; links may be cyclic\n"
        "choice.1 = list\n"
        "choice.Meteo = list\n"
        "timeout = 1500ms\n"
        "timeout_page = list\n"
        "[page list]\n"
        "files = p1.vdt , p2.vdt,p1.vdt\n"
        "retour = home\n"
        "input = 1,39\n"
        "[  page   dir  ]\n"
        "type = directory\n",
        {{"home.vdt", "HOME"}, {"p1.vdt", "P1"}, {"p2.vdt", "P2"}});
    REQUIRE(tree.pages.size() == 3);
    auto const& home = tree.pages[0];
    CHECK(tree.start == 0);
    CHECK(home.name == "home");
    CHECK(home.type == page_type::screens);
    CHECK(tree.screen(home, 0) == "HOME");
    CHECK(home.link_to(page_link::suite) == 1);
    CHECK(home.link_to(page_link::sommaire) == 0);
    CHECK_FALSE(home.link_to(page_link::envoi));
    CHECK(home.choices[1].first == "METEO");
    CHECK(home.timeout == std::chrono::milliseconds(1500));
    CHECK(home.timeout_page == 1);
    CHECK(home.input_row == 24);
    CHECK(home.input_col == 1);
    auto const& list = tree.pages[1];
    REQUIRE(list.files.size() == 3);
    CHECK(tree.screen(list, 1) == "P2");
    CHECK(list.files[0] == list.files[2]);  // read once, shared
    CHECK(list.input_row == 1);
    CHECK(list.input_col == 39);
    auto const& dir = tree.pages[2];
    CHECK(dir.type == page_type::directory);
    CHECK(dir.files.empty());
    CHECK(tree.contents.size() == 3);
    CHECK(tree.sources.empty());
}

TEST_CASE("timeouts in ms, s and min") {
    auto timeout_of = [](std::string_view v) {
        return parse(head + "timeout = " + std::string(v) + "\ntimeout_page = a\n", {{"a.vdt", "A"}}).pages[0].timeout;
    };
    CHECK(timeout_of("100ms") == std::chrono::milliseconds(100));
    CHECK(timeout_of("20s") == std::chrono::seconds(20));
    CHECK(timeout_of("20 s") == std::chrono::seconds(20));
    CHECK(timeout_of("5min") == std::chrono::minutes(5));
    CHECK(timeout_of("1440min") == std::chrono::hours(24));
}

TEST_CASE("each page file is read once") {
    memory_files m{{{"a.vdt", "A"}, {"b.vdt", "B"}}, {}};
    parse_page_tree("[service]\nstart = a\n[page a]\nfile = a.vdt\n[page b]\nfiles = a.vdt, b.vdt, a.vdt\n"
                    "[page c]\ntype = directory\nfile = b.vdt\n",
                    "service.ini", m.reader());
    CHECK(m.reads == std::map<std::string, int>{{"a.vdt", 1}, {"b.vdt", 1}});
}

TEST_CASE("CRLF line ends read as LF") {
    std::string ini = head + "suite = a\nchoice.x = a\n";
    std::string crlf;
    for (char c : ini) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    auto const a = parse(ini, {{"a.vdt", "A"}});
    auto const b = parse(crlf, {{"a.vdt", "A"}});
    CHECK(a.pages[0].links == b.pages[0].links);
    CHECK(a.pages[0].choices == b.pages[0].choices);
    CHECK(error_of("[service]\r\nstart = a\r\n[page a]\r\nfile = a.vdt\r\nsufite = a\r\n") ==
          "service.ini:5: unknown key 'sufite' in [page a]");
}

TEST_CASE("errors name the file and the line") {
    struct bad {
        std::string ini;
        std::string message;
    };
    const bad cases[] = {
        {"[service]\nstart = welcome\n[page welcome]\nfile = a.vdt\nsufite = welcome\n",
         "service.ini:5: unknown key 'sufite' in [page welcome]"},
        {"[service]\nstart = a\nstrat = b\n", "service.ini:3: unknown key 'strat' in [service]"},
        {head + "[page menu]\nfile = a.vdt\n\nguide = a\nchoice.1 = newz\n",
         "service.ini:9: page 'menu' links to unknown page 'newz'"},
        {head + "timeout = 1s\ntimeout_page = nowhere\n", "service.ini:6: page 'a' links to unknown page 'nowhere'"},
        {"[service]\nstart = a\n[page a]\nfile = welcome.vdt\n",
         "service.ini:4: cannot read 'welcome.vdt': No such file or directory"},
        {head + "[page b]\nfile = a.vdt\n[page a]\n", "service.ini:7: duplicate page 'a' (first at line 3)"},
        {"[page a]\nfile = a.vdt\n", "service.ini: no [service] section (it names the first page: start = PAGE)"},
        {"", "service.ini: no [service] section (it names the first page: start = PAGE)"},
        {"[page a]\nfile = a.vdt\n[service]\n\n[page b]\nfile = a.vdt\n", "service.ini:3: [service] has no start = PAGE"},
        {"[service]\nstart = b\n[page a]\nfile = a.vdt\n", "service.ini:2: start page 'b' does not exist"},
        {head + "[service]\n", "service.ini:5: second [service] section (first at line 1)"},
        {head + "timeout = 20\n", "service.ini:5: bad timeout '20' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout = 20x\n", "service.ini:5: bad timeout '20x' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout = 99ms\n", "service.ini:5: bad timeout '99ms' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout = 1441min\n",
         "service.ini:5: bad timeout '1441min' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout = 9999999999999s\n",
         "service.ini:5: bad timeout '9999999999999s' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout = -1s\n", "service.ini:5: bad timeout '-1s' (e.g. 500ms, 20s, 5min; from 100ms to 24 hours)"},
        {head + "timeout_page = a\n", "service.ini:5: timeout_page without timeout in [page a]"},
        {head + "timeout = 1s\n[page b]\nfile = a.vdt\n", "service.ini:5: timeout without timeout_page in [page a]"},
        {head + "input = 0,1\n", "service.ini:5: bad input position '0,1' (row,col with row 1..24, col 1..39)"},
        {head + "input = 25,1\n", "service.ini:5: bad input position '25,1' (row,col with row 1..24, col 1..39)"},
        {head + "input = 24,40\n", "service.ini:5: bad input position '24,40' (row,col with row 1..24, col 1..39)"},
        {head + "input = 24,0\n", "service.ini:5: bad input position '24,0' (row,col with row 1..24, col 1..39)"},
        {head + "input = 24\n", "service.ini:5: bad input position '24' (row,col with row 1..24, col 1..39)"},
        {head + "input = a,b\n", "service.ini:5: bad input position 'a,b' (row,col with row 1..24, col 1..39)"},
        {head + "input = 99999,1\n", "service.ini:5: bad input position '99999,1' (row,col with row 1..24, col 1..39)"},
        {head + "[page b]\nsuite = a\n", "service.ini:5: page 'b' has no file, files or type = directory"},
        {head + "files = a.vdt\n", "service.ini:5: both file and files in [page a]"},
        {"[service]\nstart = a\n[page a]\nfiles = a.vdt\nfile = a.vdt\n", "service.ini:5: both file and files in [page a]"},
        {head + "[page d]\ntype = directory\nfiles = a.vdt\n", "service.ini:7: directory page 'd' takes file =, not files ="},
        {head + "list = 4,20\n", "service.ini:5: list = is for type = directory pages"},
        {head + "[page d]\ntype = directory\nlist = 5,4\n",
         "service.ini:7: bad list rows '5,4' (first,last with 1 <= first <= last <= 24)"},
        {head + "[page d]\ntype = directory\nlist = 0,4\n",
         "service.ini:7: bad list rows '0,4' (first,last with 1 <= first <= last <= 24)"},
        {head + "type = menu\n", "service.ini:5: bad type 'menu' (page or directory)"},
        {head + "suite = a\nsuite = a\n", "service.ini:6: duplicate key 'suite' in [page a]"},
        {head + "choice.x = a\nchoice.X = a\n", "service.ini:6: duplicate key 'choice.X' in [page a]"},
        {head + "choice. = a\n", "service.ini:5: bad choice '' (letters, digits, '*', '_', '-', '.'; at most 16)"},
        {head + "choice.a/b = a\n", "service.ini:5: bad choice 'a/b' (letters, digits, '*', '_', '-', '.'; at most 16)"},
        {head + "choice.12345678901234567 = a\n",
         "service.ini:5: bad choice '12345678901234567' (letters, digits, '*', '_', '-', '.'; at most 16)"},
        {"start = a\n", "service.ini:1: key 'start' outside a section"},
        {head + "[pages b]\n", "service.ini:5: unknown section [pages b]: expected [service] or [page NAME]"},
        {head + "[page]\n", "service.ini:5: unknown section [page]: expected [service] or [page NAME]"},
        {head + "[page a b]\n", "service.ini:5: bad page name 'a b' (letters, digits, '_', '-', '.'; at most 32)"},
        {head + "[page " + std::string(33, 'x') + "]\n",
         "service.ini:5: bad page name '" + std::string(33, 'x') + "' (letters, digits, '_', '-', '.'; at most 32)"},
        {head + "[page b\n", "service.ini:5: section header without ']'"},
        {head + "suite\n", "service.ini:5: expected 'key = value' or a [section]: 'suite'"},
        {head + " = a\n", "service.ini:5: no key before '='"},
        {head + "suite =\n", "service.ini:5: empty value for 'suite' in [page a]"},
        {head + "suite = ; only a comment\n", "service.ini:5: empty value for 'suite' in [page a]"},
        {head + "suite = a\x01\n", "service.ini:5: control character 0x01"},
        {head + std::string("; nul \0 in a comment\n", 21), "service.ini:5: control character 0x00"},
        {head + "suite = caf\xc3\xa9\n", "service.ini:5: non-ASCII byte 0xC3 (only comments may hold other text)"},
        {head + "[page b]\nfile = /etc/passwd\n",
         "service.ini:6: page file '/etc/passwd' must be a relative path without '..' components"},
        {head + "[page b]\nfile = x/../../a.vdt\n",
         "service.ini:6: page file 'x/../../a.vdt' must be a relative path without '..' components"},
        {head + "[page b]\nfiles = a.vdt,,a.vdt\n", "service.ini:6: empty file name in files ="},
        {head + "[page b]\nfiles = a.vdt,\n", "service.ini:6: empty file name in files ="},
        {head + "suite = " + std::string(1020, 'a') + "\n", "service.ini:5: line longer than 1024 bytes"},
    };
    for (auto const& c : cases) {
        CAPTURE(c.ini);
        CHECK(error_of(c.ini) == c.message);
    }
}

TEST_CASE("page files: size and 7-bit bytes") {
    auto const ini = "[service]\nstart = a\n[page a]\nfile = a.vdt\n";
    CHECK(error_of(ini, {{"a.vdt", std::string(max_page_file_size, 'x')}}).empty());
    CHECK(error_of(ini, {{"a.vdt", std::string(max_page_file_size + 1, 'x')}}) ==
          "service.ini:4: 'a.vdt' is larger than 65536 bytes");
    CHECK(error_of(ini, {{"a.vdt", "ok\x80"}}) ==
          "service.ini:4: 'a.vdt': byte 0x80 at offset 2 (videotex is 7-bit: accents are SS2 sequences)");
    // Any 7-bit byte is videotex: NUL padding, SEP, ESC sequences.
    CHECK(error_of(ini, {{"a.vdt", std::string("\0\x13\x1b\x4d\x7f", 5)}}).empty());
    // UTF-8 in comments is fine.
    CHECK(error_of("; Page d'accueil \xe2\x80\x94 caf\xc3\xa9\n" + head).empty());
}

TEST_CASE("limits: INI size, page count, sequence length, total bytes") {
    std::string big = head + std::string(max_ini_size, '\n');
    CHECK(error_of(big) == "service.ini: larger than 1048576 bytes");

    std::string many = "[service]\nstart = p0\n";
    for (std::size_t i = 0; i <= max_pages; ++i) many += "[page p" + std::to_string(i) + "]\nfile = a.vdt\n";
    CHECK(error_of(many) == "service.ini:20003: more than 10000 pages");

    std::string files = head + "[page b]\nfiles = a.vdt";
    for (std::size_t i = 0; i < max_files_per_page; ++i) files += ",a.vdt";
    CHECK(error_of(files) == "service.ini:6: more than 100 files in one page");

    std::string choices = head;
    for (std::size_t i = 0; i <= max_choices_per_page; ++i) choices += "choice." + std::to_string(i) + " = a\n";
    CHECK(error_of(choices) == "service.ini:105: more than 100 choices in [page a]");

    // 300 distinct 64 KiB files are more than the 16 MiB a tree may hold.
    file_map m;
    std::string heavy = "[service]\nstart = p0\n";
    for (int i = 0; i < 300; ++i) {
        auto const name = std::string("f").append(std::to_string(i)).append(".vdt");
        m[name] = std::string(max_page_file_size, 'x');
        heavy.append("[page p").append(std::to_string(i)).append("]\nfile = ").append(name).append("\n");
    }
    CHECK(error_of(heavy, m) == "service.ini:516: page files larger than 16777216 bytes in all");
}

TEST_CASE("garbage never crashes: only page_tree_error") {
    std::uint32_t seed = 12345;
    auto next = [&] {
        seed = seed * 1664525u + 1013904223u;
        return seed >> 24;
    };
    // Bytes drawn mostly from INI syntax, so that some lines get far.
    static constexpr std::string_view alphabet = "[]=;#\n\r .,pageservicstartfilestype1a\x00\xff\t";
    for (int round = 0; round < 2000; ++round) {
        std::string junk;
        auto const size = next() % 200;
        for (unsigned i = 0; i < size; ++i) {
            junk += (round % 2) ? static_cast<char>(next()) : alphabet[next() % alphabet.size()];
        }
        CAPTURE(junk);
        try {
            auto const tree = parse(junk, {{"a", "A"}, {"file", "F"}});
            CHECK(tree.start < tree.pages.size());
        } catch (const page_tree_error&) {
        }
    }
    CHECK(error_of(std::string(5000, 'x')) == "service.ini:1: line longer than 1024 bytes");
    CHECK(error_of(std::string(5000, '\n')) ==
          "service.ini: no [service] section (it names the first page: start = PAGE)");
}

TEST_CASE("load_page_tree: real files, errors and change stamps") {
    sb::test::temp_dir dir("sb_page_tree");
    auto const root = dir / "service.ini";

    SUBCASE("a missing root") {
        try {
            load_page_tree(root);
            FAIL("loaded a missing file");
        } catch (const page_tree_load_error& e) {
            CHECK(std::string(e.what()) == root + ": cannot read: No such file or directory");
            REQUIRE(e.sources.size() == 1);
            CHECK_FALSE(e.sources[0].mtime);
            CHECK_FALSE(changed_on_disk(e.sources));
            dir.write("service.ini", "");
            CHECK(changed_on_disk(e.sources));
        }
    }

    SUBCASE("a missing page file, then created") {
        dir.write("service.ini", "[service]\nstart = a\n[page a]\nfile = pages/a.vdt\n");
        file_stamps seen;
        try {
            load_page_tree(root);
            FAIL("loaded a tree with a missing page file");
        } catch (const page_tree_load_error& e) {
            CHECK(std::string(e.what()) == root + ":4: cannot read 'pages/a.vdt': No such file or directory");
            seen = e.sources;
        }
        REQUIRE(seen.size() == 2);
        CHECK(seen[1].path == dir / "pages/a.vdt");
        CHECK_FALSE(seen[1].mtime);
        CHECK_FALSE(changed_on_disk(seen));
        std::filesystem::create_directory(dir / "pages");
        dir.write("pages/a.vdt", "A");
        CHECK(changed_on_disk(seen));

        auto const tree = load_page_tree(root);
        CHECK(tree.screen(tree.pages[0], 0) == "A");
        CHECK_FALSE(tree.changed_on_disk());
        // A touch is a change, even with the same bytes.
        auto const t = std::filesystem::last_write_time(dir / "pages/a.vdt");
        std::filesystem::last_write_time(dir / "pages/a.vdt", t + std::chrono::seconds(2));
        CHECK(tree.changed_on_disk());
    }

    SUBCASE("a page file that grew past the limit is read only that far") {
        dir.write("service.ini", "[service]\nstart = a\n[page a]\nfile = a.vdt\n");
        dir.write("a.vdt", std::string(max_page_file_size * 4, 'x'));
        CHECK_THROWS_WITH_AS(load_page_tree(root), (root + ":4: 'a.vdt' is larger than 65536 bytes").c_str(),
                             page_tree_load_error);
    }

    SUBCASE("a directory where a file should be") {
        dir.write("service.ini", "[service]\nstart = a\n[page a]\nfile = sub\n");
        std::filesystem::create_directory(dir / "sub");
        CHECK_THROWS_WITH_AS(load_page_tree(root), (root + ":4: cannot read 'sub': Is a directory").c_str(),
                             page_tree_error);
    }
}
