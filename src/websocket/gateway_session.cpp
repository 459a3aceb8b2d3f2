#include "websocket/gateway_session.hpp"

#include "websocket/page_tree.hpp"
#include "websocket/videotex_server.hpp"

namespace sb::ws {

namespace {

constexpr std::size_t max_typed = 64;
constexpr char enqrom_seq[] = {vtx::esc, 0x39, 0x7b};

bool printable(char c) { return c >= 0x20 && c < 0x7f; }

bool leaves_server(const input_event& ev) {
    return ev.k == key::connexion_fin || ev.k == key::line_dropped || (ev.k == key::sommaire && ev.after_stars);
}

}  // namespace

gateway_session::gateway_session(options opt, const directory* dir, std::unique_ptr<videotex_server> local)
    : opt_(std::move(opt)), dir_(dir), local_(std::move(local)) {}

gateway_session::~gateway_session() = default;
gateway_session::gateway_session(gateway_session&&) noexcept = default;

void gateway_session::start(clock::time_point now, session_actions& a) {
    page_since_ = now;
    if (local_) {
        state_ = state::local;
        local_->start(a.to_user);
    } else {
        state_ = state::default_connecting;
        a.connect_default = true;
    }
}

void gateway_session::on_user(std::string_view bytes, clock::time_point now, session_actions& a) {
    // Any SOH from the terminal is the start of its own ENQROM answer.
    if (enqrom_at_ && bytes.find(vtx::soh) != std::string_view::npos) enqrom_at_.reset();
    // Bulk without keys (the common case at speed) skips the event list.
    if (scanner_.plain(bytes)) {
        on_data(bytes, now, a);
        return;
    }
    std::vector<input_event> events;
    scanner_.feed(bytes, events);
    for (auto& ev : events) {
        if (a.close_user) return;
        if (ev.what == input_event::kind::key) on_key(ev, now, a);
        else on_data(ev.bytes, now, a);
    }
}

void gateway_session::on_data(std::string_view bytes, clock::time_point now, session_actions& a) {
    switch (state_) {
    case state::local:
        page_since_ = now;
        local_->on_data(bytes, a.to_user);
        break;
    case state::default_up:
        track_typed(bytes);
        a.to_service += bytes;
        break;
    case state::redirect_up: a.to_service += bytes; break;
    case state::default_connecting:
    case state::redirect_connecting:
        // Kept for the server: the I/O side stops reading the user while
        // pending() is large, so this stays bounded.
        pending_ += bytes;
        break;
    }
}

void gateway_session::on_key(const input_event& ev, clock::time_point now, session_actions& a) {
    switch (state_) {
    case state::local: {
        page_since_ = now;
        if (ev.k == key::envoi && dir_) {
            if (auto* p = dir_->find(local_->typed())) {
                redirect(*p, a);
                return;
            }
        }
        if (local_->on_key(ev.k, a.to_user) == videotex_server::outcome::hang_up) {
            a.close_user = true;
            a.log = "user pressed " + std::string(key_name(ev.k)) + " on the local service";
        }
        return;
    }
    case state::default_up:
        if (ev.k == key::envoi && dir_) {
            if (auto* p = dir_->find(typed_)) {
                redirect(*p, a);
                return;
            }
        }
        if (ev.k == key::correction) {
            if (!typed_.empty()) typed_.pop_back();
        } else {
            typed_.clear();
        }
        a.to_service += ev.bytes;
        return;
    case state::redirect_up:
    case state::redirect_connecting:
        if (leaves_server(ev)) {
            back_to_default(std::string(key_name(ev.k)) + (ev.after_stars ? " after ***" : ""), now, a);
            return;
        }
        if (state_ == state::redirect_up) a.to_service += ev.bytes;
        else pending_ += ev.bytes;
        return;
    case state::default_connecting: pending_ += ev.bytes; return;
    }
}

// Only the text after the last CR or LF counts, and only its first
// max_typed printable characters: bounded work however much is sent.
void gateway_session::track_typed(std::string_view bytes) {
    const auto line_end = bytes.find_last_of("\r\n");
    if (line_end != std::string_view::npos) {
        typed_.clear();
        bytes.remove_prefix(line_end + 1);
    }
    for (char c : bytes) {
        if (typed_.size() == max_typed) break;
        if (printable(c)) typed_ += c;
    }
}

void gateway_session::redirect(const server_profile& p, session_actions& a) {
    a.drop_service = state_ != state::local;
    a.connect = &p;
    a.connect_default = false;
    a.log = "redirect to " + p.name + " (" + p.url.to_string() + ")";
    target_ = &p;
    state_ = state::redirect_connecting;
    pending_.clear();
    typed_.clear();
    enqrom_at_.reset();
    enqrom_match_ = 0;
    status_line("Connexion a " + p.name + "...", a);
}

void gateway_session::back_to_default(std::string_view why, clock::time_point now, session_actions& a) {
    a.drop_service = true;
    a.connect = nullptr;
    a.log = "back from " + (target_ ? target_->name : std::string("?")) + " to the default service (" +
            std::string(why) + ")";
    target_ = nullptr;
    pending_.clear();
    typed_.clear();
    enqrom_at_.reset();
    enqrom_match_ = 0;
    page_since_ = now;
    if (local_) {
        state_ = state::local;
        local_->redraw(a.to_user);
    } else {
        state_ = state::default_connecting;
        a.connect_default = true;
    }
}

void gateway_session::on_service_connected(clock::time_point, session_actions& a) {
    if (state_ == state::default_connecting) {
        state_ = state::default_up;
    } else if (state_ == state::redirect_connecting) {
        state_ = state::redirect_up;
        // "Connexion a ..." goes: a server's FF does not clear row 0.
        status_line("", a);
    } else {
        return;
    }
    a.to_service += pending_;
    pending_.clear();
}

void gateway_session::on_service(std::string_view bytes, clock::time_point now, session_actions& a) {
    if (state_ != state::default_up && state_ != state::redirect_up) return;
    if (opt_.enqrom != enqrom_mode::never) scan_enqrom(bytes, now, a);
    a.to_user += bytes;
}

void gateway_session::on_service_owned(std::string&& bytes, clock::time_point now, session_actions& a) {
    if (!a.to_user.empty()) return on_service(std::string_view(bytes), now, a);
    if (state_ != state::default_up && state_ != state::redirect_up) return;
    if (opt_.enqrom != enqrom_mode::never) scan_enqrom(bytes, now, a);
    a.to_user.swap(bytes);
}

void gateway_session::on_user_owned(std::string&& bytes, clock::time_point now, session_actions& a) {
    const bool up = state_ == state::default_up || state_ == state::redirect_up;
    if (!up || !a.to_service.empty() || enqrom_at_ || !scanner_.plain(bytes))
        return on_user(std::string_view(bytes), now, a);
    if (state_ == state::default_up) track_typed(bytes);
    a.to_service.swap(bytes);
}

void gateway_session::scan_enqrom(std::string_view bytes, clock::time_point now, session_actions& a) {
    std::size_t i = 0;
    while (i < bytes.size()) {
        if (enqrom_match_ == 0) {
            // Jump to the next ESC: pages are long, ENQROMs rare.
            const auto esc = bytes.find(vtx::esc, i);
            if (esc == std::string_view::npos) return;
            i = esc;
        }
        const char c = bytes[i++];
        if (c == enqrom_seq[enqrom_match_]) {
            if (++enqrom_match_ < sizeof enqrom_seq) continue;
            enqrom_match_ = 0;
            if (opt_.enqrom == enqrom_mode::always) a.to_service += opt_.enqrom_answer;
            else enqrom_at_ = now + opt_.enqrom_wait;
        } else {
            enqrom_match_ = c == enqrom_seq[0] ? 1 : 0;
        }
    }
}

void gateway_session::on_service_closed(bool failed, clock::time_point now, session_actions& a) {
    switch (state_) {
    case state::local: return;
    case state::default_connecting:
    case state::default_up:
        a.close_user = true;
        a.log = failed ? "default service unreachable" : "default service closed the session";
        return;
    case state::redirect_connecting:
        back_to_default(failed ? "unreachable" : "closed while connecting", now, a);
        status_line("Service indisponible", a);
        return;
    case state::redirect_up: back_to_default("the server closed", now, a); return;
    }
}

std::optional<clock::time_point> gateway_session::deadline() const {
    std::optional<clock::time_point> d = enqrom_at_;
    if (state_ == state::local) {
        if (auto t = local_->timeout()) {
            auto at = page_since_ + *t;
            if (!d || at < *d) d = at;
        }
    }
    return d;
}

void gateway_session::on_timer(clock::time_point now, session_actions& a) {
    if (enqrom_at_ && now >= *enqrom_at_) {
        enqrom_at_.reset();
        if (state_ == state::default_up || state_ == state::redirect_up) a.to_service += opt_.enqrom_answer;
    }
    if (state_ == state::local) {
        if (auto t = local_->timeout(); t && now >= page_since_ + *t) {
            page_since_ = now;
            local_->on_timeout(a.to_user);
        }
    }
}

void gateway_session::reload(std::shared_ptr<const page_tree> tree) {
    if (local_) local_->reload(std::move(tree));
}

// Row 0 is the Minitel's status line: the message goes there and the
// cursor comes back where it was (US row 0 col 1, text, CAN clears the rest
// of the row, LF returns). On the local service the page server writes it,
// so that its next page clears it.
void gateway_session::status_line(std::string_view text, session_actions& a) {
    if (state_ == state::local) {
        local_->message(text.substr(0, 39), a.to_user);
        return;
    }
    a.to_user += vtx::us;
    a.to_user += '\x40';
    a.to_user += '\x41';
    a.to_user.append(text.substr(0, 39));
    a.to_user += vtx::can;
    a.to_user += vtx::lf;
}

}  // namespace sb::ws
