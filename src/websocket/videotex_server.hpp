#pragma once
// The embedded videotex service, sans-I/O: the user's keys and typed text go
// in, videotex bytes come out. No clock: the I/O side arms timeout() and
// calls on_timeout(); no files: the page tree is given (and swapped by
// reload() when it changes on disk).
//
// Screen conventions (STUM 1B): a page is drawn as FF, its file, then the
// cursor at the page's input position (US row col) and switched on (CON).
// Messages go to the status row 0 (US 0x40 0x41 text CAN LF): LF leaves row
// 0 for where the cursor was, so typing goes on undisturbed.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "websocket/minitel_keys.hpp"
#include "websocket/page_tree.hpp"

namespace sb::ws {

struct directory_line {
    std::string code;  // e.g. "3615 TEST"
    std::string name;  // e.g. "Test server"
};

class videotex_server {
public:
    // The most a user can type before Envoi (less when the input position is
    // further right: the echo never leaves its row).
    static constexpr std::size_t max_typed = 40;
    static constexpr std::string_view message_bad_choice = "Choix incorrect";
    static constexpr std::string_view message_inactive_key = "Touche inactive";
    static constexpr std::string_view message_empty_directory = "Aucun service disponible";

    // `listing` is what type = directory pages show. Codes typed before
    // Envoi are the gateway's business: it looks typed() up in its directory
    // before calling on_key, so here a word that is no choice is an error.
    videotex_server(std::shared_ptr<const page_tree> tree, std::vector<directory_line> listing);

    enum class outcome { stay, hang_up };  // hang_up: Connexion/Fin or the line dropped

    void start(std::string& out);   // clears the screen and draws the start page
    void redraw(std::string& out);  // after another server had the screen: clears row 0 too
    // Text typed by the user (function keys come to on_key): printable ASCII
    // is echoed and kept; control bytes, ESC sequences and SS2 accent prefixes
    // are dropped (the letter after an accent is kept). Split-independent.
    void on_data(std::string_view typed, std::string& out);
    outcome on_key(key k, std::string& out);
    // The current page's; the I/O side restarts it after each key or data.
    std::optional<std::chrono::milliseconds> timeout() const;
    // A message on row 0 (the status line) from the gateway, cleared by the
    // next page drawn like the server's own messages.
    void message(std::string_view text, std::string& out) { status(text, out); }
    void on_timeout(std::string& out);
    // Hot reload. The screen is left as it is: the current page (if it still
    // exists) shows its new content at its next draw; if it is gone, the next
    // navigation key or timeout draws the new start page.
    void reload(std::shared_ptr<const page_tree> tree);

    // The page on screen (after a reload that removed it: its old name).
    std::string_view current_page() const;
    std::size_t current_screen() const { return screen_; }  // in a `files =` sequence or directory listing
    std::string_view typed() const { return typed_; }

private:
    const page& here() const { return tree_->pages[page_]; }
    std::size_t screen_count(const page& p) const;
    std::size_t typed_capacity() const;
    void go(std::size_t page, std::string& out);
    void draw(std::string& out, bool clear_status);
    void draw_listing(const page& p, std::string& out) const;
    void status(std::string_view text, std::string& out);
    void erase_typed(std::string& out);
    outcome follow(page_link l, std::string& out);
    outcome envoi(std::string& out);

    std::shared_ptr<const page_tree> tree_;
    std::vector<std::string> rows_;  // the directory listing as drawn: 7-bit, at most 40 columns
    std::string shown_page_;               // the page on screen (may be gone after a reload)
    std::size_t page_ = 0;
    std::size_t screen_ = 0;
    bool page_gone_ = false;     // removed by reload(): the next navigation goes to start
    bool status_shown_ = false;  // row 0 holds a message
    // Where the echo goes, as last drawn (a reload does not move it).
    unsigned input_row_ = 24, input_col_ = 1;
    std::string typed_;
    enum class input_state { text, after_esc, in_csi, after_ss2 };
    input_state input_ = input_state::text;
};

}  // namespace sb::ws
