#pragma once
// One Minitel user's session, sans-I/O: which videotex service the user is
// talking to, and what the keys mean on the way. Events in (bytes from the
// user, bytes from the service, connected, closed, timer), actions out;
// minitel_service performs them. No sockets, no clock: time comes in.
//
// The user starts on the default service: the embedded videotex server or
// a remote one. A code typed there and sent with Envoi that the directory
// knows bridges the user to that server; Connexion/Fin, SEP 0x59 or ***
// then Sommaire bring the user back, as does the server closing its side.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "websocket/directory.hpp"
#include "websocket/key_scanner.hpp"
#include "websocket/minitel_config.hpp"

namespace sb::ws {

class videotex_server;
class page_tree;

using clock = std::chrono::steady_clock;

struct session_actions {
    std::string to_service;                   // for the current service, before any drop below
    std::string to_user;
    bool drop_service = false;                // close the current service connection
    const server_profile* connect = nullptr;  // then connect to this directory server...
    bool connect_default = false;             // ...or to the remote default service
    bool close_user = false;                  // end the session (WebSocket close 1000)
    std::string log;                          // a line worth logging, if any
};

class gateway_session {
public:
    struct options {
        enqrom_mode enqrom = enqrom_mode::auto_;
        std::chrono::milliseconds enqrom_wait{500};
        std::string enqrom_answer = "\x01" "Cu;" "\x04";
    };

    // local: the embedded server as default service, or null for a remote
    // one. dir may be null (no redirections).
    gateway_session(options opt, const directory* dir, std::unique_ptr<videotex_server> local);
    ~gateway_session();
    gateway_session(gateway_session&&) noexcept;

    void start(clock::time_point now, session_actions& a);
    void on_user(std::string_view bytes, clock::time_point now, session_actions& a);
    // The same, free to take the bytes over (no copy on the bulk path).
    void on_user_owned(std::string&& bytes, clock::time_point now, session_actions& a);
    void on_service_connected(clock::time_point now, session_actions& a);
    void on_service(std::string_view bytes, clock::time_point now, session_actions& a);
    void on_service_owned(std::string&& bytes, clock::time_point now, session_actions& a);
    // The service connection ended or could not be made.
    void on_service_closed(bool failed, clock::time_point now, session_actions& a);

    // When on_timer wants calling next, if at all.
    std::optional<clock::time_point> deadline() const;
    void on_timer(clock::time_point now, session_actions& a);

    // A new page tree (hot reload): used from the next page drawn.
    void reload(std::shared_ptr<const page_tree> tree);

    enum class state : unsigned char { local, default_connecting, default_up, redirect_connecting, redirect_up };
    state current() const { return state_; }
    // The directory server the user is bridged to, if any.
    const server_profile* redirected_to() const { return target_; }
    // Bytes typed while a server is being connected, kept for it: the I/O
    // side stops reading the user while this is large.
    std::size_t pending() const { return pending_.size(); }

private:
    void on_key(const input_event& ev, clock::time_point now, session_actions& a);
    void on_data(std::string_view bytes, clock::time_point now, session_actions& a);
    void redirect(const server_profile& p, session_actions& a);
    void back_to_default(std::string_view why, clock::time_point now, session_actions& a);
    void status_line(std::string_view text, session_actions& a);
    void track_typed(std::string_view bytes);
    void scan_enqrom(std::string_view bytes, clock::time_point now, session_actions& a);

    options opt_;
    const directory* dir_;
    std::unique_ptr<videotex_server> local_;
    state state_ = state::local;
    const server_profile* target_ = nullptr;
    key_scanner scanner_;
    std::string typed_;    // on a remote default service: the code being typed
    std::string pending_;  // typed while connecting
    std::size_t enqrom_match_ = 0;               // bytes of ESC 0x39 0x7B seen so far
    std::optional<clock::time_point> enqrom_at_;  // auto: answer then, unless the terminal does
    clock::time_point page_since_{};
};

}  // namespace sb::ws
