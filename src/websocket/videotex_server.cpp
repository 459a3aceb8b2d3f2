#include "websocket/videotex_server.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sb::ws {

namespace {

constexpr char ss2 = 0x19;
constexpr std::size_t screen_width = 40;
constexpr std::size_t max_code_width = 16;

void cursor_to(unsigned row, unsigned col, std::string& out) {
    out += vtx::us;
    out += static_cast<char>(0x40 + row);
    out += static_cast<char>(0x40 + col);
}

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Upper case, trimmed, inner runs of spaces as one: how typed text is
// compared with choices.
std::string normalize(std::string_view s) {
    std::string r;
    bool space = false;
    for (char c : s) {
        if (c == ' ' || c == '\t') {
            space = !r.empty();
            continue;
        }
        if (space) r += ' ';
        space = false;
        r += upper(c);
    }
    return r;
}

// Listings come from the gateway's configuration, maybe in UTF-8: the
// Minitel shows 7-bit text, so Latin-1 letters lose their accents and
// anything else becomes '?'.
std::string printable(std::string_view s) {
    static constexpr std::string_view latin1_folded =
        "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTsaaaaaaaceeeeiiiidnooooo/ouuuuyty";
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto const u = static_cast<unsigned char>(s[i]);
        if (u >= 0x20 && u < 0x7f) {
            r += s[i];
        } else if (u == 0xc3 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xc0) == 0x80) {
            r += latin1_folded[(static_cast<unsigned char>(s[i + 1]) & 0x3f)];
            ++i;
        } else if (u >= 0xc0) {
            r += '?';  // the lead byte of another character; its continuation bytes are dropped
        }
    }
    return r;
}

}  // namespace

videotex_server::videotex_server(std::shared_ptr<const page_tree> tree, std::vector<directory_line> listing)
    : tree_(std::move(tree)) {
    if (!tree_ || tree_->pages.empty()) throw std::invalid_argument("videotex_server: empty page tree");
    page_ = tree_->start;
    std::size_t width = 0;
    for (auto const& l : listing) width = std::max(width, std::min(printable(l.code).size(), max_code_width));
    // One row per listed server: the code, a space, as much of the name as fits.
    for (auto const& l : listing) {
        auto row = printable(l.code).substr(0, width);
        row.resize(width + 1, ' ');
        row += printable(l.name);
        row.resize(std::min(row.size(), screen_width));
        while (!row.empty() && row.back() == ' ') row.pop_back();
        rows_.push_back(std::move(row));
    }
}

std::string_view videotex_server::current_page() const { return shown_page_; }

std::size_t videotex_server::screen_count(const page& p) const {
    if (p.type == page_type::directory) {
        auto const per_screen = std::size_t{p.list_last - p.list_first + 1};
        return std::max<std::size_t>(1, (rows_.size() + per_screen - 1) / per_screen);
    }
    return std::max<std::size_t>(1, p.files.size());
}

std::size_t videotex_server::typed_capacity() const {
    return std::min(max_typed, input_col_ < screen_width ? screen_width - input_col_ : 0);
}

void videotex_server::start(std::string& out) { go(tree_->start, out); }

void videotex_server::redraw(std::string& out) {
    if (page_gone_) {
        page_ = tree_->start;
        screen_ = 0;
        page_gone_ = false;
    }
    draw(out, true);
}

void videotex_server::go(std::size_t page, std::string& out) {
    page_ = page;
    screen_ = 0;
    page_gone_ = false;
    draw(out, false);
}

void videotex_server::draw(std::string& out, bool clear_status) {
    auto const& p = here();
    out += vtx::ff;
    // FF leaves row 0 alone: a message shown there would outlive its page.
    if (clear_status || status_shown_) {
        cursor_to(0, 1, out);
        out += vtx::can;
        out += vtx::lf;
        status_shown_ = false;
    }
    if (p.type == page_type::directory) {
        if (!p.files.empty()) out += tree_->screen(p, 0);
        draw_listing(p, out);
    } else if (screen_ < p.files.size()) {
        out += tree_->screen(p, screen_);
    }
    input_row_ = p.input_row;
    input_col_ = p.input_col;
    cursor_to(input_row_, input_col_, out);
    out += vtx::con;
    typed_.clear();
    shown_page_ = p.name;
}

void videotex_server::draw_listing(const page& p, std::string& out) const {
    // US starts a fresh sub-article: whatever colour or size the header
    // ended with does not leak into the rows.
    if (rows_.empty()) {
        cursor_to(p.list_first, 1, out);
        out += message_empty_directory;
        return;
    }
    auto const per_screen = std::size_t{p.list_last - p.list_first + 1};
    auto const first = screen_ * per_screen;
    for (std::size_t i = first; i < rows_.size() && i < first + per_screen; ++i) {
        cursor_to(p.list_first + static_cast<unsigned>(i - first), 1, out);
        out += rows_[i];
    }
}

void videotex_server::status(std::string_view text, std::string& out) {
    cursor_to(0, 1, out);
    out += text;
    out += vtx::can;
    out += vtx::lf;
    status_shown_ = true;
}

void videotex_server::erase_typed(std::string& out) {
    if (typed_.empty()) return;
    cursor_to(input_row_, input_col_, out);
    out.append(typed_.size(), ' ');
    cursor_to(input_row_, input_col_, out);
    typed_.clear();
}

void videotex_server::on_data(std::string_view typed, std::string& out) {
    auto const capacity = typed_capacity();
    for (char c : typed) {
        auto const u = static_cast<unsigned char>(c);
        switch (input_) {
        case input_state::after_esc:
            input_ = c == '[' ? input_state::in_csi : input_state::text;
            continue;
        case input_state::in_csi:
            // Parameters and intermediates are 0x20..0x3F; anything else ends it.
            if (u < 0x20 || u > 0x3f) input_ = input_state::text;
            continue;
        case input_state::after_ss2:
            // An accent (the letter follows and is kept) or a special character.
            input_ = input_state::text;
            continue;
        case input_state::text:
            break;
        }
        if (c == vtx::esc) {
            input_ = input_state::after_esc;
        } else if (c == ss2) {
            input_ = input_state::after_ss2;
        } else if (u >= 0x20 && u < 0x7f && typed_.size() < capacity) {
            typed_ += c;
            out += c;
        }
    }
}

videotex_server::outcome videotex_server::on_key(key k, std::string& out) {
    switch (k) {
    case key::connexion_fin:
    case key::line_dropped:
        return outcome::hang_up;
    case key::correction:
        if (!typed_.empty()) {
            typed_.pop_back();
            out += vtx::bs;
            out += ' ';
            out += vtx::bs;
        }
        return outcome::stay;
    case key::annulation:
        erase_typed(out);
        return outcome::stay;
    case key::envoi:
        return envoi(out);
    case key::suite:
        if (!page_gone_ && screen_ + 1 < screen_count(here())) {
            ++screen_;
            draw(out, false);
            return outcome::stay;
        }
        return follow(page_link::suite, out);
    case key::retour:
        if (!page_gone_ && screen_ > 0) {
            --screen_;
            draw(out, false);
            return outcome::stay;
        }
        return follow(page_link::retour, out);
    case key::repetition:
        if (!page_gone_ && !here().link_to(page_link::repetition)) {
            draw(out, false);
            return outcome::stay;
        }
        return follow(page_link::repetition, out);
    case key::sommaire:
        return follow(page_link::sommaire, out);
    case key::guide:
        return follow(page_link::guide, out);
    }
    return outcome::stay;
}

videotex_server::outcome videotex_server::follow(page_link l, std::string& out) {
    if (page_gone_) {
        go(tree_->start, out);
    } else if (auto const to = here().link_to(l)) {
        go(*to, out);
    } else {
        status(message_inactive_key, out);
    }
    return outcome::stay;
}

videotex_server::outcome videotex_server::envoi(std::string& out) {
    auto const text = normalize(typed_);
    if (page_gone_ || text.empty()) return follow(page_link::envoi, out);
    for (auto const& [word, to] : here().choices) {
        if (word == text) {
            go(to, out);
            return outcome::stay;
        }
    }
    status(message_bad_choice, out);
    erase_typed(out);
    return outcome::stay;
}

std::optional<std::chrono::milliseconds> videotex_server::timeout() const {
    if (page_gone_) return std::nullopt;
    return here().timeout;
}

void videotex_server::on_timeout(std::string& out) {
    if (page_gone_) return go(tree_->start, out);
    if (auto const to = here().timeout_page) go(*to, out);
}

void videotex_server::reload(std::shared_ptr<const page_tree> tree) {
    if (!tree || tree->pages.empty()) throw std::invalid_argument("videotex_server: empty page tree");
    tree_ = std::move(tree);
    if (auto const i = tree_->find(shown_page_)) {
        page_ = *i;
        page_gone_ = false;
        screen_ = std::min(screen_, screen_count(here()) - 1);
    } else {
        page_ = tree_->start;
        screen_ = 0;
        page_gone_ = true;
    }
}

}  // namespace sb::ws
