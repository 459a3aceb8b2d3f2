#include "websocket/minitel_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/tcp_server.hpp"
#include "websocket/gateway_session.hpp"
#include "websocket/links.hpp"
#include "websocket/page_tree.hpp"
#include "websocket/videotex_server.hpp"

namespace sb::ws {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using core::live_guard;
using core::notifier;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

constexpr std::size_t max_frame_out = 64 * 1024;  // one WebSocket frame / write toward the user
const std::string metric_labels = "plugin=\"minitel\"";

struct leg {
    explicit leg(asio::io_context& io) : wake(io) {}
    std::uint64_t id = 0;
    std::string name;
    std::unique_ptr<service_link> link;
    std::string out, control;
    bool closed = false;
    std::optional<clock::time_point> write_since;  // a write is in progress since
    notifier wake;
};

struct service_state;

struct session {
    session(asio::io_context& io, gateway_session m) : machine(std::move(m)), user_wake(io), timer_wake(io), space(io) {}
    std::shared_ptr<service_state> svc;
    std::uint64_t id = 0;
    std::string ip;
    std::string transport;
    core::logger log;
    std::unique_ptr<user_link> user;
    std::shared_ptr<const directory> dir;  // the snapshot the machine points into
    gateway_session machine;
    std::string user_out;          // wire bytes toward the user, not yet taken by the writer
    std::size_t user_in_flight = 0;  // taken by the writer, not yet written
    notifier user_wake, timer_wake, space;
    std::shared_ptr<leg> current;
    std::uint64_t legs = 0;
    bool closing = false, going_away = false, ended = false;
    bool killed = false;  // its socket was closed under it (slow reader, or closing took too long)
    clock::time_point closing_since{};
    clock::time_point started{}, last_input{};
    std::optional<clock::time_point> armed;  // the machine deadline the watchdog waits for
    std::optional<clock::time_point> write_since;  // a write to the user is in progress since
};

// Writes are timed by one sweep over all sessions (write_sweep), not a
// timer each: re-arming a timer per write is a system call and a wake-up
// per keystroke.
void write_starts(std::optional<clock::time_point>& since) { since = clock::now(); }

struct service_state {
    service_state(asio::io_context& io_, minitel_config c, core::logger l)
        : io(io_), cfg(std::move(c)), log(std::move(l)), reload_timer(io_), stop_timer(io_), sweep_timer(io_) {}
    asio::io_context& io;
    minitel_config cfg;
    core::logger log;
    std::shared_ptr<const page_tree> tree;
    file_stamps watched;  // what the last load (good or bad) read
    std::shared_ptr<const directory> dir;
    server_profile default_profile;
    std::optional<tcp::acceptor> ws_acceptor, telnet_acceptor;
    std::unordered_map<std::uint64_t, std::shared_ptr<session>> sessions;
    // Every leg still running, current or being dropped: the write sweep and
    // stop() reach them even once their session has let go.
    std::unordered_set<std::shared_ptr<leg>> legs;
    std::unordered_map<std::string, std::size_t> per_ip;
    std::uint64_t next_id = 0;
    int live = 0;
    bool stopping = false;
    asio::steady_timer reload_timer, stop_timer, sweep_timer;
    core::counter* sessions_ws = nullptr;
    core::counter* sessions_telnet = nullptr;
    core::counter* rejected = nullptr;
    core::counter* bad_handshakes = nullptr;
    core::counter* redirects = nullptr;
    core::counter* slow_readers = nullptr;
    core::counter* bytes_in = nullptr;
    core::counter* bytes_out = nullptr;
};

using session_ptr = std::shared_ptr<session>;

// --- performing the machine's actions ---------------------------------------

void queue_user(session& s, std::string& raw) {
    s.svc->bytes_out->inc(raw.size());
    // Most of the time the queue is empty and the bytes need no escaping:
    // they move in without a copy.
    if (s.user_out.empty() && s.user->wire_is_raw()) s.user_out.swap(raw);
    else s.user->encode(raw, s.user_out);
    s.user_wake.notify();
}

// The leg's writer says goodbye (close frame or FIN) and the leg ends.
void close_leg(leg& l) {
    l.closed = true;
    l.wake.notify();
}

// The server side goes first (what the user typed still reaches it), so
// that no more output arrives and the user's queue can drain to the close.
void begin_close(session& s, bool going_away) {
    if (s.closing) return;
    s.closing = true;
    s.closing_since = clock::now();
    s.going_away = going_away;
    if (s.current) {
        close_leg(*s.current);
        s.current.reset();
    }
    s.user_wake.notify();
    s.timer_wake.notify();
}

awaitable<void> run_leg(session_ptr s, std::shared_ptr<leg> l);

void perform(const session_ptr& s, session_actions& a) {
    if (!a.log.empty()) SB_LOG(s->log, info) << a.log;
    if (!a.to_service.empty() && s->current && !s->current->closed) {
        if (s->current->out.empty()) s->current->out.swap(a.to_service);
        else s->current->out += a.to_service;
        s->current->wake.notify();
    }
    if (!a.to_user.empty()) queue_user(*s, a.to_user);
    if (a.drop_service && s->current) {
        close_leg(*s->current);
        s->current.reset();
    }
    if ((a.connect || a.connect_default) && !s->closing && !s->ended) {
        const server_profile& p = a.connect ? *a.connect : s->svc->default_profile;
        if (a.connect) s->svc->redirects->inc();
        auto l = std::make_shared<leg>(s->svc->io);
        l->id = ++s->legs;
        l->name = a.connect ? p.name : "default service";
        l->link = make_service_link(s->svc->io.get_executor(), p, s->svc->cfg.connect_timeout, s->svc->cfg.ping_interval);
        s->current = l;
        asio::co_spawn(s->svc->io, run_leg(s, l), asio::detached);
    }
    if (a.close_user) begin_close(*s, false);
    // The watchdog only needs waking when the machine's next deadline moved.
    if (s->machine.deadline() != s->armed) s->timer_wake.notify();
    s->space.notify();
}

template <class Event>
void drive(const session_ptr& s, Event&& event) {
    session_actions a;
    event(a);
    perform(s, a);
}

// --- the service side: one coroutine per connection to a videotex server ---

awaitable<void> leg_reader(session_ptr s, std::shared_ptr<leg> l) {
    for (;;) {
        // Backpressure: a user who reads slowly slows the server down
        // rather than growing our buffer; the writer's timeout deals with
        // one who does not read at all.
        while (s->user_out.size() + s->user_in_flight > s->svc->cfg.max_buffer && !l->closed && !s->ended)
            co_await s->space.wait();
        std::string data, control;
        auto ec = co_await l->link->read(data, control);
        if (ec) co_return;
        // A dropped leg reads on until its writer's goodbye is answered;
        // what comes meanwhile is no longer the user's business.
        if (l->closed || s->current != l) continue;
        if (!control.empty()) {
            l->control += control;
            l->wake.notify();
        }
        if (!data.empty()) drive(s, [&](session_actions& a) { s->machine.on_service_owned(std::move(data), clock::now(), a); });
    }
}

// Writes are bounded like the user's (by the watchdog): a server that stops
// reading for write_timeout is dropped.
awaitable<void> leg_writer(session_ptr s, std::shared_ptr<leg> l) {
    asio::steady_timer timer(s->svc->io);
    for (;;) {
        while (l->out.empty() && l->control.empty() && !l->closed) co_await l->wake.wait();
        // What the user typed before leaving still goes out, then goodbye.
        if (l->out.empty() && l->control.empty()) {
            // Then give the server a moment to close its side: closing a
            // socket with unread input resets it, and our last bytes with it.
            // The reader's end of stream ends the wait.
            timer.expires_after(std::chrono::seconds(1));
            co_await (l->link->close_gracefully() || timer.async_wait(tuple_awaitable));
            timer.expires_after(std::chrono::seconds(1));
            co_await timer.async_wait(tuple_awaitable);
            co_return;
        }
        // Negotiation answers first, one write at a time.
        const bool control = !l->control.empty();
        std::string bytes;
        if (control) bytes.swap(l->control);
        else bytes.swap(l->out);
        write_starts(l->write_since);
        error_code ec;
        if (control) ec = co_await l->link->write_control(bytes);
        else ec = co_await l->link->write(bytes);
        l->write_since.reset();
        if (ec) co_return;
        s->space.notify();
    }
}

// Keeps a running leg in service_state::legs.
class leg_registration {
public:
    leg_registration(service_state& st, std::shared_ptr<leg> l) : st_(st), l_(std::move(l)) { st_.legs.insert(l_); }
    ~leg_registration() { st_.legs.erase(l_); }
    leg_registration(const leg_registration&) = delete;
    leg_registration& operator=(const leg_registration&) = delete;

private:
    service_state& st_;
    std::shared_ptr<leg> l_;
};

awaitable<void> run_leg(session_ptr s, std::shared_ptr<leg> l) {
    live_guard guard(s->svc->live);
    leg_registration registered(*s->svc, l);
    auto ec = co_await l->link->connect();
    if (s->current != l || l->closed) {
        l->link->close_now();
        co_return;
    }
    if (ec) {
        SB_LOG(s->log, warning) << "cannot connect to " << l->name << ": " << ec.message();
        l->closed = true;
        s->current.reset();
        drive(s, [&](session_actions& a) { s->machine.on_service_closed(true, clock::now(), a); });
        co_return;
    }
    SB_LOG(s->log, debug) << "connected to " << l->name;
    drive(s, [&](session_actions& a) { s->machine.on_service_connected(clock::now(), a); });
    co_await (leg_reader(s, l) || leg_writer(s, l));
    const bool was_current = s->current == l && !l->closed;
    l->closed = true;
    l->link->close_now();
    if (was_current) {
        s->current.reset();
        SB_LOG(s->log, debug) << l->name << " closed the connection";
        drive(s, [&](session_actions& a) { s->machine.on_service_closed(false, clock::now(), a); });
    }
    s->space.notify();
}

// --- the user side ----------------------------------------------------------

awaitable<void> user_reader(session_ptr s) {
    for (;;) {
        // Backpressure toward the user: a server that does not read, or one
        // still being connected to, stops us reading the user.
        // And a user who sends keys but does not read what they produce
        // (a page per key on the local service) waits for the output first.
        while (((s->current && s->current->out.size() > s->svc->cfg.max_buffer) ||
                s->machine.pending() > s->svc->cfg.max_buffer ||
                s->user_out.size() + s->user_in_flight > s->svc->cfg.max_buffer) &&
               !s->ended)
            co_await s->space.wait();
        std::string data, control;
        auto ec = co_await s->user->read(data, control);
        if (ec) {
            SB_LOG(s->log, debug) << "user link: " << ec.message();
            co_return;
        }
        if (!control.empty()) {
            s->user_out += control;
            s->user_wake.notify();
        }
        if (data.empty() || s->closing) continue;
        s->svc->bytes_in->inc(data.size());
        const auto now = clock::now();
        s->last_input = now;
        if (s->machine.current() != gateway_session::state::local) {
            drive(s, [&](session_actions& a) { s->machine.on_user_owned(std::move(data), now, a); });
            continue;
        }
        // The local service answers a 2-byte key with a whole page: fed a
        // little at a time, and only while the user takes the output, so a
        // frame full of keys cannot queue megabytes of pages.
        constexpr std::size_t piece_size = 64;
        for (std::string_view rest(data); !rest.empty() && !s->ended && !s->closing;) {
            while (s->user_out.size() + s->user_in_flight > s->svc->cfg.max_buffer && !s->ended)
                co_await s->space.wait();
            const auto piece = rest.substr(0, piece_size);
            rest.remove_prefix(piece.size());
            drive(s, [&](session_actions& a) { s->machine.on_user(piece, clock::now(), a); });
        }
    }
}

awaitable<void> user_writer(session_ptr s) {
    auto& cfg = s->svc->cfg;
    asio::steady_timer timer(s->svc->io);
    // Pacing like a real line: 10 bits per character, sent in 20 ms slices
    // on a fixed schedule, so the average rate holds without drift.
    const std::size_t per_slice = cfg.baud ? std::max<std::size_t>(1, cfg.baud / 10 / 50) : max_frame_out;
    auto next_slice = clock::now();
    std::string sending;
    for (;;) {
        while (s->user_out.empty() && !s->closing) co_await s->user_wake.wait();
        if (s->user_out.empty()) {
            // Closing with nothing left to say: a WebSocket close frame
            // (bounded by Beast's own close timeout) or a FIN.
            timer.expires_after(std::chrono::seconds(2));
            co_await (s->user->close_gracefully(s->going_away) || timer.async_wait(tuple_awaitable));
            // As for a server: let the user close its side (the reader ends
            // the session then), so the last page is not lost to a reset.
            timer.expires_after(std::chrono::seconds(1));
            co_await timer.async_wait(tuple_awaitable);
            co_return;
        }
        // Take everything queued at once (no copy); readers append to a
        // fresh user_out meanwhile. Written in slices, each bounded in time.
        sending.clear();
        sending.swap(s->user_out);
        s->user_in_flight = sending.size();
        for (std::size_t at = 0; at < sending.size();) {
            const auto n = std::min(sending.size() - at, per_slice);
            write_starts(s->write_since);
            auto ec = co_await s->user->write(std::string_view(sending).substr(at, n));
            s->write_since.reset();
            if (ec) co_return;
            at += n;
            s->user_in_flight = sending.size() - at;
            s->space.notify();
            if (cfg.baud) {
                next_slice = std::max(next_slice + std::chrono::milliseconds(20), clock::now() - std::chrono::milliseconds(20));
                timer.expires_at(next_slice);
                co_await timer.async_wait(tuple_awaitable);
            }
        }
    }
}

// Idle and total session limits, and the machine's own timers (ENQROM
// answers, page timeouts of the local service).
awaitable<void> watchdog(session_ptr s) {
    auto& cfg = s->svc->cfg;
    asio::steady_timer timer(s->svc->io);
    for (;;) {
        const auto now = clock::now();
        if (!s->closing) {
            if (now >= s->started + cfg.session_timeout) {
                SB_LOG(s->log, info) << "session time limit reached";
                begin_close(*s, false);
            } else if (now >= s->last_input + cfg.idle_timeout) {
                SB_LOG(s->log, info) << "idle for " << cfg.idle_timeout.count() << " ms, closing";
                begin_close(*s, false);
            } else if (auto d = s->machine.deadline(); d && now >= *d) {
                drive(s, [&](session_actions& a) { s->machine.on_timer(now, a); });
                continue;
            }
        }
        auto next = std::min(s->started + cfg.session_timeout, s->last_input + cfg.idle_timeout);
        s->armed = s->machine.deadline();
        if (s->armed) next = std::min(next, *s->armed);
        // Closing is bounded too: a user who never takes the last output
        // loses the connection after write_timeout.
        if (s->closing) {
            const auto limit = s->closing_since + cfg.write_timeout + std::chrono::seconds(2);
            if (now >= limit && !s->killed) {
                SB_LOG(s->log, info) << "closing took too long, disconnecting";
                s->killed = true;
                s->user->close_now();
            }
            next = now >= limit ? now + std::chrono::hours(1) : limit;
        }
        timer.expires_at(next);
        co_await (timer.async_wait(tuple_awaitable) || s->timer_wake.wait());
    }
}

// Once in a while, every session's writes in progress: one stuck for
// write_timeout means the user (or the server) does not read. Closing the
// socket ends the write with an error, and the session with it.
awaitable<void> write_sweep(std::shared_ptr<service_state> st) {
    live_guard guard(st->live);
    auto& timer = st->sweep_timer;
    const auto period = std::clamp<clock::duration>(st->cfg.write_timeout / 4, std::chrono::milliseconds(50),
                                                    std::chrono::seconds(1));
    while (!st->stopping) {
        timer.expires_after(period);
        co_await timer.async_wait(tuple_awaitable);
        const auto now = clock::now();
        const auto limit = st->cfg.write_timeout;
        for (auto& [id, s] : st->sessions) {
            if (s->write_since && now - *s->write_since >= limit && !s->killed) {
                st->slow_readers->inc();
                SB_LOG(s->log, warning) << "slow reader: output not taken for " << limit.count() << " ms ("
                                        << s->user_out.size() + s->user_in_flight << " bytes waiting), disconnecting";
                s->closing = s->killed = true;
                s->user->close_now();
            }
        }
        // Legs too, the dropped ones included: one whose server stopped
        // reading would otherwise never finish its last write.
        for (auto& l : st->legs) {
            if (l->write_since && now - *l->write_since >= limit) {
                SB_LOG(st->log, warning) << l->name << " does not read: connection dropped";
                l->write_since.reset();
                l->link->close_now();
            }
        }
    }
}

bool admit(service_state& st, const std::string& ip) {
    auto& n = st.per_ip[ip];
    if (st.stopping || st.sessions.size() >= st.cfg.max_sessions || n >= st.cfg.max_sessions_per_ip) {
        if (n == 0) st.per_ip.erase(ip);
        st.rejected->inc();
        return false;
    }
    ++n;
    return true;
}

void release(service_state& st, const std::string& ip) {
    auto it = st.per_ip.find(ip);
    if (it != st.per_ip.end() && --it->second == 0) st.per_ip.erase(it);
}

std::vector<directory_line> listing_of(const directory* dir) {
    std::vector<directory_line> out;
    if (dir)
        for (auto& [code, name] : dir->listing()) out.push_back({code, name});
    return out;
}

// Runs one admitted user's session to its end.
awaitable<void> run_session(std::shared_ptr<service_state> st, std::unique_ptr<user_link> user, std::string ip,
                            std::string transport) {
    gateway_session::options o;
    o.enqrom = st->cfg.enqrom;
    o.enqrom_wait = st->cfg.enqrom_wait;
    o.enqrom_answer = st->cfg.enqrom_answer;
    auto dir = st->dir;
    std::unique_ptr<videotex_server> local;
    if (st->tree) local = std::make_unique<videotex_server>(st->tree, listing_of(dir.get()));
    auto s = std::make_shared<session>(st->io, gateway_session(o, dir.get(), std::move(local)));
    s->svc = st;
    s->id = ++st->next_id;
    s->ip = ip;
    s->transport = transport;
    s->log = st->log.with_connection(s->id);
    s->user = std::move(user);
    s->dir = std::move(dir);
    s->started = s->last_input = clock::now();
    st->sessions.emplace(s->id, s);
    (transport == "ws" ? st->sessions_ws : st->sessions_telnet)->inc();
    SB_LOG(s->log, info) << transport << " session from " << ip;

    drive(s, [&](session_actions& a) { s->machine.start(clock::now(), a); });
    co_await (user_reader(s) || user_writer(s) || watchdog(s));

    s->ended = true;
    if (s->current) {
        close_leg(*s->current);
        s->current.reset();
    }
    s->user->close_now();
    s->space.notify();
    st->sessions.erase(s->id);
    release(*st, ip);
    SB_LOG(s->log, info) << "session ended after "
                         << std::chrono::duration_cast<std::chrono::seconds>(clock::now() - s->started).count()
                         << " s";
}

awaitable<void> ws_handshake(std::shared_ptr<service_state> st, tcp::socket sock) {
    live_guard guard(st->live);
    boost::system::error_code ec;
    const auto ip = sock.remote_endpoint(ec).address().to_string();
    ws_accept_options opt;
    opt.max_frame_size = st->cfg.max_frame_size;
    opt.ping_interval = st->cfg.ping_interval;
    opt.handshake_timeout = st->cfg.connect_timeout;
    opt.allowed_origins = st->cfg.allowed_origins;
    auto r = co_await accept_websocket(std::move(sock), opt, [&] { return admit(*st, ip); });
    if (!r.link) {
        if (r.admitted) release(*st, ip);
        if (r.status != 503) st->bad_handshakes->inc();
        SB_LOG(st->log, info) << "WebSocket from " << ip << " refused"
                              << (r.status ? " with HTTP " + std::to_string(r.status) : std::string()) << ": " << r.why;
        co_return;
    }
    if (st->stopping) {
        // Admitted before stop(), accepted after: nobody would close it.
        r.link->close_now();
        release(*st, ip);
        co_return;
    }
    co_await run_session(st, std::move(r.link), ip, "ws");
}

awaitable<void> telnet_session_start(std::shared_ptr<service_state> st, tcp::socket sock) {
    live_guard guard(st->live);
    boost::system::error_code ec;
    const auto ip = sock.remote_endpoint(ec).address().to_string();
    if (!admit(*st, ip)) {
        SB_LOG(st->log, info) << "Telnet from " << ip << " refused: session limit reached";
        static constexpr std::string_view busy = "Trop de connexions, reessayez plus tard.\r\n";
        asio::steady_timer timer(st->io, std::chrono::seconds(2));
        co_await (asio::async_write(sock, asio::buffer(busy.data(), busy.size()), tuple_awaitable) ||
                  timer.async_wait(tuple_awaitable));
        co_return;
    }
    co_await run_session(st, make_telnet_user(std::move(sock), st->cfg.telnet_junk_time), ip, "telnet");
}

awaitable<void> accept_loop(std::shared_ptr<service_state> st, tcp::acceptor& acceptor, bool websocket) {
    live_guard guard(st->live);
    asio::steady_timer pause(st->io);
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
        if (st->stopping || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors, most likely: let sessions end before trying again.
            SB_LOG(st->log, warning) << "accept: " << ec.message();
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(tuple_awaitable);
            continue;
        }
        if (websocket) asio::co_spawn(st->io, ws_handshake(st, std::move(sock)), asio::detached);
        else asio::co_spawn(st->io, telnet_session_start(st, std::move(sock)), asio::detached);
    }
}

// Hot reload: page files are checked every reload_check; a tree that no
// longer loads keeps the old one serving, with the error in the log.
awaitable<void> reload_loop(std::shared_ptr<service_state> st) {
    live_guard guard(st->live);
    while (!st->stopping) {
        st->reload_timer.expires_after(st->cfg.reload_check);
        co_await st->reload_timer.async_wait(tuple_awaitable);
        if (st->stopping || !st->tree || !changed_on_disk(st->watched)) continue;
        try {
            st->tree = std::make_shared<const page_tree>(load_page_tree(st->cfg.pages));
            st->watched = st->tree->sources;
            for (auto& [id, s] : st->sessions) s->machine.reload(st->tree);
            SB_LOG(st->log, notice) << "pages reloaded from " << st->cfg.pages;
        } catch (const page_tree_load_error& e) {
            // Not again until one of those files changes once more.
            st->watched = e.sources;
            SB_LOG(st->log, error) << "pages not reloaded, the old ones stay: " << e.what();
        } catch (const std::exception& e) {
            st->watched = restat(st->watched);
            SB_LOG(st->log, error) << "pages not reloaded, the old ones stay: " << e.what();
        }
    }
}

std::string read_bounded(const std::string& path, std::size_t limit) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw core::config_error("[minitel] directory: cannot read '" + path + "'");
    std::string text(limit + 1, '\0');
    f.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(f.gcount()));
    if (text.size() > limit) throw core::config_error("[minitel] directory: '" + path + "' is too large");
    return text;
}

class minitel_service final : public core::service {
public:
    minitel_service(minitel_config cfg, core::host_context& ctx)
        : st_(std::make_shared<service_state>(ctx.io, std::move(cfg), ctx.log.with_channel("minitel"))),
          metrics_(ctx.metrics) {
        auto& st = *st_;
        if (st.cfg.default_service.kind == service_url::scheme::local) {
            try {
                st.tree = std::make_shared<const page_tree>(load_page_tree(st.cfg.pages));
                st.watched = st.tree->sources;
            } catch (const std::exception& e) {
                throw core::config_error(std::string("[minitel] pages: ") + e.what());
            }
        }
        if (!st.cfg.directory.empty()) {
            try {
                st.dir = std::make_shared<directory>(
                    directory::parse(read_bounded(st.cfg.directory, directory::max_file_size), st.cfg.directory));
            } catch (const core::config_error&) {
                throw;
            } catch (const std::exception& e) {
                throw core::config_error(std::string("[minitel] directory: ") + e.what());
            }
            for (auto& w : st.dir->warnings()) SB_LOG(st.log, warning) << w;
        }
        st.default_profile.name = "default";
        st.default_profile.url = st.cfg.default_service;
        st.default_profile.max_frame_size = st.cfg.max_frame_size;
        auto& m = ctx.metrics;
        st.sessions_ws = &m.add_counter("minitel_sessions_total", "Sessions accepted", metric_labels + ",transport=\"ws\"");
        st.sessions_telnet =
            &m.add_counter("minitel_sessions_total", "Sessions accepted", metric_labels + ",transport=\"telnet\"");
        st.rejected = &m.add_counter("minitel_rejected_total", "Sessions refused by the limits", metric_labels);
        st.bad_handshakes =
            &m.add_counter("minitel_bad_handshakes_total", "WebSocket upgrades refused or failed", metric_labels);
        st.redirects = &m.add_counter("minitel_redirects_total", "Users bridged to a directory server", metric_labels);
        st.slow_readers = &m.add_counter("minitel_slow_readers_total", "Users disconnected for not reading", metric_labels);
        st.bytes_in = &m.add_counter("minitel_user_bytes_total", "Videotex bytes", metric_labels + ",direction=\"in\"");
        st.bytes_out = &m.add_counter("minitel_user_bytes_total", "Videotex bytes", metric_labels + ",direction=\"out\"");
        m.add_gauge("minitel_sessions", "Sessions open", metric_labels,
                    [w = std::weak_ptr<service_state>(st_)] {
                        auto s = w.lock();
                        return s ? static_cast<double>(s->sessions.size()) : 0.0;
                    });
    }

    std::string name() const override { return "minitel"; }

    void start() override {
        auto& st = *st_;
        if (st.cfg.ws_listen) {
            st.ws_acceptor.emplace(st.io);
            core::open_listener(*st.ws_acceptor, *st.cfg.ws_listen);
            asio::co_spawn(st.io, accept_loop(st_, *st.ws_acceptor, true), asio::detached);
        }
        if (st.cfg.telnet_listen) {
            st.telnet_acceptor.emplace(st.io);
            core::open_listener(*st.telnet_acceptor, *st.cfg.telnet_listen);
            asio::co_spawn(st.io, accept_loop(st_, *st.telnet_acceptor, false), asio::detached);
        }
        if (st.tree) asio::co_spawn(st.io, reload_loop(st_), asio::detached);
        asio::co_spawn(st.io, write_sweep(st_), asio::detached);
        std::ostringstream where;
        if (st.ws_acceptor) where << "WebSocket on " << endpoint_of(*st.ws_acceptor);
        if (st.telnet_acceptor) where << (st.ws_acceptor ? ", " : "") << "Telnet on " << endpoint_of(*st.telnet_acceptor);
        SB_LOG(st.log, notice) << "Minitel gateway: " << where.str() << ", default service "
                               << st.cfg.default_service.to_string() << (st.tree ? " (" + st.cfg.pages + ")" : "")
                               << ", " << (st.dir ? st.dir->size() : 0) << " directory entries, up to "
                               << st.cfg.max_sessions << " sessions";
    }

    // Users are told the gateway goes away (WebSocket 1001), then anything
    // still open when the grace period ends is closed.
    void stop(std::chrono::steady_clock::duration grace) override {
        auto st = st_;
        st->stopping = true;
        boost::system::error_code ignored;
        if (st->ws_acceptor) st->ws_acceptor->close(ignored);
        if (st->telnet_acceptor) st->telnet_acceptor->close(ignored);
        st->reload_timer.cancel();
        st->sweep_timer.cancel();
        for (auto& [id, s] : st->sessions) begin_close(*s, true);
        metrics_.remove_labelled(metric_labels);
        st->stop_timer.expires_after(std::min<clock::duration>(grace, std::chrono::seconds(1)));
        st->stop_timer.async_wait([st](boost::system::error_code) {
            for (auto& [id, s] : st->sessions) s->user->close_now();
            for (auto& l : st->legs) l->link->close_now();
        });
    }

    bool stopped() const override { return st_->stopping && st_->live == 0; }

private:
    static std::string endpoint_of(const tcp::acceptor& a) {
        boost::system::error_code ec;
        auto ep = a.local_endpoint(ec);
        return core::endpoint{ep.address().to_string(), ep.port()}.to_string();
    }

    std::shared_ptr<service_state> st_;
    core::metrics_registry& metrics_;
};

class minitel_plugin final : public core::plugin {
public:
    std::string_view name() const override { return "minitel"; }
    std::vector<std::unique_ptr<core::service>> configure(const std::vector<core::ini_section>& sections,
                                                          core::host_context& ctx) override {
        std::vector<std::unique_ptr<core::service>> out;
        if (sections.empty()) return out;
        out.push_back(make_minitel_service(parse_minitel_config(sections), ctx));
        return out;
    }
};

}  // namespace

std::unique_ptr<core::service> make_minitel_service(minitel_config cfg, core::host_context& ctx) {
    return std::make_unique<minitel_service>(std::move(cfg), ctx);
}

std::unique_ptr<core::plugin> make_minitel_plugin() { return std::make_unique<minitel_plugin>(); }

}  // namespace sb::ws
