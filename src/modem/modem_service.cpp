#include "modem/modem_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <poll.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "core/admin_http.hpp"
#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/tcp_server.hpp"
#include "modem/attach.hpp"
#include "modem/dial_translation.hpp"
#include "modem/modem_machine.hpp"
#include "modem/pty.hpp"
#include "core/telnet.hpp"

namespace sb::modem {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(use_awaitable);

namespace {

using core::notifier;
using core::telnet_session;

constexpr std::size_t io_chunk = 64 * 1024;
// Remote bytes waiting for a slow terminal: past this the remote is not read
// (TCP flow control holds the sender) instead of buffering without bound.
constexpr std::size_t tty_high_water = 256 * 1024;
constexpr auto dtr_poll = std::chrono::milliseconds(50);

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hex_dump(std::string_view data) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < data.size() && i < 256; ++i) {
        auto b = static_cast<unsigned char>(data[i]);
        s += digits[b >> 4];
        s += digits[b & 15];
        s += ' ';
    }
    if (data.size() > 256) s += "...";
    return s;
}

struct modem_stats {
    std::uint64_t tty_rx = 0, tty_tx = 0, conn_rx = 0, conn_tx = 0;
    std::uint64_t cons = 0, in_cons = 0, out_cons = 0;
    std::int64_t last_tty_rx_ms = 0, last_tty_tx_ms = 0, last_at_cmd_ms = 0, last_conn_ms = 0;
};

struct shared_state;

// One modem: its pty, its state machine and whatever call it holds.
struct modem_unit {
    modem_unit(asio::io_context& io, unsigned index, std::string link, machine_options mo, core::logger lg)
        : index(index),
          tty(std::move(link)),
          tty_stream(io, ::dup(tty.master_fd())),
          machine(std::move(mo), clock::now()),
          log(std::move(lg)),
          tty_out_ready(io),
          tty_drained(io),
          net_out_ready(io),
          state_changed(io),
          dtr_up(io),
          deadline_timer(io, asio::steady_timer::time_point::max()),
          nagle_timer(io),
          resolver(io) {}

    unsigned index;
    pty tty;
    asio::posix::stream_descriptor tty_stream;
    modem_machine machine;
    core::logger log;
    modem_stats stats;

    // The call: an id that changes whenever a call starts or ends, so a
    // coroutine of an old call never touches a new one.
    std::uint64_t call = 0;
    std::optional<tcp::socket> conn;
    std::optional<tcp::socket> pending;  // ringing caller
    std::optional<tcp::socket> dialing;
    bool telnet_on = false;
    bool telnet_checked = false;
    telnet_session telnet;

    std::string tty_out, tty_writing;
    bool tty_writer_busy = false;
    std::string net_out, net_writing;
    clock::time_point net_first_byte;
    std::size_t nagle_size_hint = 1024;

    notifier tty_out_ready, tty_drained, net_out_ready, state_changed, dtr_up;
    asio::steady_timer deadline_timer;
    clock::time_point armed = clock::time_point::max();
    asio::steady_timer nagle_timer;
    tcp::resolver resolver;
    machine_actions actions;
};

struct shared_state {
    shared_state(asio::io_context& io, modem_config cfg, std::string name, core::logger log)
        : io(io), cfg(std::move(cfg)), name(std::move(name)), log(std::move(log)) {}
    asio::io_context& io;
    modem_config cfg;
    std::string name;
    core::logger log;
    dial_translator translator{{}, {}, 23};
    std::vector<std::shared_ptr<modem_unit>> units;
    std::optional<tcp::acceptor> acceptor;
    std::unique_ptr<core::admin_http> http;
    std::vector<std::unique_ptr<attach_bridge>> bridges;
    int live = 0;  // coroutines running
    bool stopping = false;
    std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
    std::uint64_t busy_rejects = 0;
    std::size_t rejecting = 0;  // callers being told BUSY right now
};

void close_socket(std::optional<tcp::socket>& s) {
    if (!s) return;
    boost::system::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
    s.reset();
}

awaitable<void> net_reader(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call);
awaitable<void> net_writer(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call);
awaitable<void> dialer(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::string number,
                       std::uint64_t call);
awaitable<void> tell_and_close(std::shared_ptr<shared_state> st, tcp::socket s, std::string text);
awaitable<void> watch_caller(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call);

void start_call_io(const std::shared_ptr<shared_state>& st, const std::shared_ptr<modem_unit>& u) {
    asio::co_spawn(st->io, net_reader(st, u, u->call), asio::detached);
    asio::co_spawn(st->io, net_writer(st, u, u->call), asio::detached);
}

void send_remote(modem_unit& u, std::string& data) {
    if (data.empty() || !u.conn) return;
    if (u.net_out.empty()) u.net_first_byte = clock::now();
    if (u.telnet_on)
        telnet_session::encode(data, u.net_out);
    else if (u.net_out.empty())
        std::swap(u.net_out, data);  // bulk data: no second copy
    else
        u.net_out.append(data);
    u.net_out_ready.notify();
    if (u.net_out.size() >= u.nagle_size_hint) u.nagle_timer.cancel();
}

void end_call(modem_unit& u) {
    ++u.call;
    close_socket(u.conn);
    u.net_out.clear();
    u.telnet_on = false;
    u.telnet_checked = false;
    u.telnet = telnet_session{};
    u.net_out_ready.notify();
    u.state_changed.notify();
}

// Performs what the machine asked for after an event.
void perform(const std::shared_ptr<shared_state>& st, const std::shared_ptr<modem_unit>& u) {
    // Taken out first: a coroutine spawned below may run at once and come
    // back here with new actions of its own (a dial failing immediately).
    machine_actions a = std::move(u->actions);
    u->actions.clear();
    auto& log = u->log;
    if (!a.to_tty.empty()) {
        if (u->machine.dtr()) {
            // Nobody reads a closed tty: what was for it would greet the next program.
            if (u->tty_out.empty())
                std::swap(u->tty_out, a.to_tty);
            else
                u->tty_out += a.to_tty;
            u->tty_out_ready.notify();
        }
    }
    if (a.cancel_dial) {
        SB_LOG(log, info) << "dial abandoned";
        ++u->call;
        u->resolver.cancel();
        close_socket(u->dialing);
    }
    if (a.hangup) {
        SB_LOG(log, info) << "hang up";
        end_call(*u);
    }
    if (a.reject) {
        if (u->pending) {
            SB_LOG(log, info) << "caller not answered" << (a.reject->empty() ? "" : ": " + a.reject->substr(0, a.reject->size() - 2));
            asio::co_spawn(st->io, tell_and_close(st, std::move(*u->pending), *a.reject), asio::detached);
            u->pending.reset();
        }
    }
    if (a.answer && u->pending) {
        ++u->call;
        u->conn = std::move(u->pending);
        u->pending.reset();
        ++u->stats.cons;
        ++u->stats.in_cons;
        u->stats.last_conn_ms = wall_ms();
        SB_LOG(log, notice) << "answered a call";
        if (st->cfg.telnet) {
            u->telnet_on = u->telnet_checked = true;
            u->net_out += u->telnet.start();
        }
        start_call_io(st, u);
        std::string greeting = st->cfg.answer_chars;
        send_remote(*u, greeting);
    }
    if (a.answer && !u->conn) {
        // The caller was gone by the time the modem answered.
        u->machine.on_remote_closed(clock::now(), u->actions);
        perform(st, u);
    }
    if (!a.to_remote.empty()) send_remote(*u, a.to_remote);
    if (a.dial) {
        ++u->call;
        asio::co_spawn(st->io, dialer(st, u, *a.dial, u->call), asio::detached);
    }
    a.clear();
    // Wake the timer loop if the machine now wants an earlier wake-up.
    auto d = u->machine.deadline();
    if (d && *d < u->armed) u->deadline_timer.cancel();
    u->state_changed.notify();
}

awaitable<void> tell_and_close(std::shared_ptr<shared_state> st, tcp::socket s, std::string text) {
    core::live_guard lg(st->live);
    ++st->rejecting;
    if (!text.empty()) {
        asio::steady_timer t(st->io, std::chrono::seconds(2));
        (void)co_await (asio::async_write(s, asio::buffer(text), use_tuple) || t.async_wait(use_tuple));
    }
    boost::system::error_code ignored;
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
    --st->rejecting;
}

// Terminal -> machine. A read failing (EIO) with the slave closed is DTR
// dropping; then the buffer is given back and the reader sleeps until the
// service's DTR watcher sees the tty opened again.
awaitable<void> tty_reader(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u) {
    core::live_guard lg(st->live);
    std::vector<char> buf;
    asio::steady_timer pause(st->io);
    boost::system::error_code ignored;
    // Reads after the first are tried synchronously and must not block.
    u->tty_stream.non_blocking(true, ignored);
    while (!st->stopping) {
        if (!u->machine.dtr()) {
            std::vector<char>().swap(buf);  // 64 KiB per closed modem adds up with hundreds of them
            co_await u->dtr_up.wait();
            if (st->stopping) break;
            if (!u->tty.slave_open()) continue;
            SB_LOG(u->log, info) << "tty opened (DTR raised)";
            u->tty.reset_line();
            u->machine.on_dtr(true, clock::now(), u->actions);
            perform(st, u);
            buf.resize(io_chunk);
        }
        auto [ec, n] = co_await u->tty_stream.async_read_some(asio::buffer(buf), use_tuple);
        if (st->stopping) break;
        if (ec) {
            if (ec == asio::error::operation_aborted) break;
            if (!u->tty.slave_open()) {
                SB_LOG(u->log, info) << "tty closed (DTR drop)";
                u->machine.on_dtr(false, clock::now(), u->actions);
                // Stop a write blocked on the full pty too: the rest of it
                // would greet the next program that opens the tty.
                u->tty_out.clear();
                u->tty_stream.cancel(ignored);
                u->tty.discard_output();
                perform(st, u);
            } else if (ec.value() != EIO && ec != asio::error::eof) {
                SB_LOG(u->log, warning) << "tty read: " << ec.message();
                pause.expires_after(dtr_poll);
                (void)co_await pause.async_wait(use_tuple);
            }
            continue;
        }
        // A pty read returns at most about 4 KiB: take what else is already
        // there, so bulk data leaves in large TCP segments, not 4 KiB ones.
        while (n < buf.size()) {
            boost::system::error_code more_ec;
            std::size_t more = u->tty_stream.read_some(asio::buffer(buf.data() + n, buf.size() - n), more_ec);
            if (more_ec || more == 0) break;
            n += more;
        }
        std::string_view data(buf.data(), n);
        u->stats.tty_rx += n;
        u->stats.last_tty_rx_ms = wall_ms();
        SB_LOG(u->log, trace) << "tty> " << hex_dump(data);
        bool commands = !u->machine.accepts_remote();
        u->machine.on_tty(data, clock::now(), u->actions);
        if (commands) u->stats.last_at_cmd_ms = u->stats.last_tty_rx_ms;
        perform(st, u);
    }
}

// One poll() over every closed tty, for all modems at once: hundreds of
// idle modems cost one system call per tick, not one each.
awaitable<void> dtr_watcher(std::shared_ptr<shared_state> st) {
    core::live_guard lg(st->live);
    asio::steady_timer tick(st->io);
    std::vector<pollfd> fds;
    std::vector<modem_unit*> closed;
    while (!st->stopping) {
        fds.clear();
        closed.clear();
        for (auto& u : st->units)
            if (!u->machine.dtr()) {
                fds.push_back({u->tty.master_fd(), POLLIN, 0});
                closed.push_back(u.get());
            }
        if (!fds.empty() && ::poll(fds.data(), fds.size(), 0) >= 0)
            for (std::size_t i = 0; i < fds.size(); ++i)
                if (!(fds[i].revents & POLLHUP)) closed[i]->dtr_up.notify();
        tick.expires_after(dtr_poll);
        (void)co_await tick.async_wait(use_tuple);
    }
}

// machine -> terminal, one write at a time.
awaitable<void> tty_writer(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u) {
    core::live_guard lg(st->live);
    while (!st->stopping) {
        if (u->tty_out.empty()) {
            co_await u->tty_out_ready.wait();
            continue;
        }
        std::swap(u->tty_out, u->tty_writing);
        auto [ec, n] = co_await asio::async_write(u->tty_stream, asio::buffer(u->tty_writing), use_tuple);
        if (st->stopping) break;
        if (ec) {
            // The terminal went away mid-write; the reader notices the DTR drop.
            u->tty_writing.clear();
            u->tty_out.clear();
        } else {
            u->stats.tty_tx += n;
            u->stats.last_tty_tx_ms = wall_ms();
        }
        u->tty_writing.clear();
        u->tty_drained.notify();
    }
}

// Sleeps until the machine's next deadline (+++ guard, rings, dial timeout, watchdog).
awaitable<void> timer_loop(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u) {
    core::live_guard lg(st->live);
    while (!st->stopping) {
        auto d = u->machine.deadline();
        u->armed = d ? *d : clock::time_point::max();
        u->deadline_timer.expires_at(u->armed);
        (void)co_await u->deadline_timer.async_wait(use_tuple);
        if (st->stopping) break;
        auto now = clock::now();
        if (auto due = u->machine.deadline(); due && *due <= now) {
            u->machine.on_timer(now, u->actions);
            perform(st, u);
        }
    }
}

awaitable<void> net_reader(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call) {
    core::live_guard lg(st->live);
    std::vector<char> buf(io_chunk);
    std::string data, reply;
    while (!st->stopping && u->call == call && u->conn) {
        if (!u->machine.accepts_remote()) {
            // Escaped to command mode: leave bytes in the socket until ATO,
            // but notice a remote hang-up (readable with nothing to read).
            auto r = co_await (u->conn->async_wait(tcp::socket::wait_read, use_tuple) || u->state_changed.wait());
            if (u->call != call || !u->conn) break;
            if (r.index() == 0) {
                char c;
                boost::system::error_code ec;
                std::size_t got = u->conn->receive(asio::buffer(&c, 1), tcp::socket::message_peek, ec);
                if ((!ec && got == 0) || (ec && ec != asio::error::would_block)) {
                    u->machine.on_remote_closed(clock::now(), u->actions);
                    perform(st, u);
                    break;
                }
                // Data is waiting for ATO: wait for the state to change.
                if (!u->machine.accepts_remote()) co_await u->state_changed.wait();
            }
            continue;
        }
        if (u->tty_out.size() >= tty_high_water) {
            co_await u->tty_drained.wait();
            continue;
        }
        auto [ec, n] = co_await u->conn->async_read_some(asio::buffer(buf), use_tuple);
        if (u->call != call) break;
        if (ec) {
            SB_LOG(u->log, info) << "remote closed: " << ec.message();
            u->machine.on_remote_closed(clock::now(), u->actions);
            perform(st, u);
            break;
        }
        std::string_view in(buf.data(), n);
        u->stats.conn_rx += n;
        SB_LOG(u->log, trace) << "net> " << hex_dump(in);
        if (!u->telnet_checked) {
            u->telnet_checked = true;
            if (telnet_session::looks_like_telnet(in)) {
                SB_LOG(u->log, info) << "remote speaks telnet: negotiating";
                u->telnet_on = true;
            }
        }
        if (u->telnet_on) {
            data.clear();
            reply.clear();
            u->telnet.decode(in, data, reply);
            if (!reply.empty()) {
                if (u->net_out.empty()) u->net_first_byte = clock::now();
                u->net_out += reply;  // negotiation answers are not data: no escaping
                u->net_out_ready.notify();
                u->nagle_timer.cancel();
            }
            in = data;
        }
        if (!in.empty()) {
            u->machine.on_remote(in, clock::now(), u->actions);
            perform(st, u);
        }
    }
}

// Typed data -> remote: sent when nagle-size bytes wait or nagle-timeout
// after the first of them, whichever comes first (never pushed back by
// later bytes, so a steady typist still sees bounded latency).
awaitable<void> net_writer(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call) {
    core::live_guard lg(st->live);
    const auto timeout = st->cfg.nagle_timeout;
    while (!st->stopping && u->call == call && u->conn) {
        if (u->net_out.empty()) {
            co_await u->net_out_ready.wait();
            continue;
        }
        if (timeout > clock::duration::zero() && u->net_out.size() < st->cfg.nagle_size) {
            auto due = u->net_first_byte + timeout;
            if (clock::now() < due) {
                u->nagle_timer.expires_at(due);
                (void)co_await u->nagle_timer.async_wait(use_tuple);
                continue;  // re-check: size reached, deadline passed, or call over
            }
        }
        std::swap(u->net_out, u->net_writing);
        auto [ec, n] = co_await asio::async_write(*u->conn, asio::buffer(u->net_writing), use_tuple);
        u->net_writing.clear();
        if (u->call != call) break;
        if (ec) {
            SB_LOG(u->log, info) << "send failed: " << ec.message();
            u->machine.on_remote_closed(clock::now(), u->actions);
            perform(st, u);
            break;
        }
        u->stats.conn_tx += n;
    }
}

awaitable<void> dialer(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::string number,
                       std::uint64_t call) {
    core::live_guard lg(st->live);
    auto fail = [&](dial_failure why) {
        if (u->call != call) return;
        u->machine.on_dial_failed(why, clock::now(), u->actions);
        perform(st, u);
    };
    auto target = st->translator.translate(number);
    if (!target) {
        SB_LOG(u->log, notice) << "dial " << number << ": no rule, phone-book entry or host form matches";
        fail(dial_failure::unreachable);
        co_return;
    }
    SB_LOG(u->log, info) << "dial " << number << " -> " << target->host << ":" << target->port
                         << (target->telnet ? " (telnet)" : "");
    std::vector<tcp::endpoint> endpoints;
    boost::system::error_code numeric_ec;
    auto address = asio::ip::make_address(target->host, numeric_ec);
    if (!numeric_ec) {
        endpoints.emplace_back(address, target->port);  // no resolver thread for an address
    } else {
        auto [rec, results] = co_await u->resolver.async_resolve(target->host, std::to_string(target->port), use_tuple);
        if (u->call != call) co_return;
        if (rec) {
            SB_LOG(u->log, notice) << "dial " << number << ": cannot resolve " << target->host << ": " << rec.message();
            fail(dial_failure::unreachable);
            co_return;
        }
        for (auto& r : results) endpoints.push_back(r.endpoint());
    }
    u->dialing.emplace(st->io);
    auto [cec, ep] = co_await asio::async_connect(*u->dialing, endpoints, use_tuple);
    if (u->call != call) co_return;
    if (cec) {
        SB_LOG(u->log, notice) << "dial " << number << ": " << cec.message();
        close_socket(u->dialing);
        fail(cec == asio::error::connection_refused ? dial_failure::refused : dial_failure::unreachable);
        co_return;
    }
    boost::system::error_code ignored;
    u->dialing->set_option(tcp::no_delay(true), ignored);
    u->conn = std::move(u->dialing);
    u->dialing.reset();
    ++u->stats.cons;
    ++u->stats.out_cons;
    u->stats.last_conn_ms = wall_ms();
    if (target->telnet || st->cfg.telnet) {
        u->telnet_on = u->telnet_checked = true;
        u->net_out += u->telnet.start();
    }
    u->machine.on_connected(clock::now(), u->actions);
    if (u->conn) start_call_io(st, u);
    perform(st, u);
}

// A caller who gives up while the modem rings stops the ringing, rather
// than being "answered" into NO CARRIER. Bytes the caller sends meanwhile
// stay in the socket for after the answer.
awaitable<void> watch_caller(std::shared_ptr<shared_state> st, std::shared_ptr<modem_unit> u, std::uint64_t call) {
    core::live_guard lg(st->live);
    if (!u->pending) co_return;
    auto [ec] = co_await u->pending->async_wait(tcp::socket::wait_read, use_tuple);
    if (st->stopping || u->call != call || !u->pending || u->machine.state() != modem_state::ringing) co_return;
    char c;
    boost::system::error_code peek_ec;
    std::size_t got = u->pending->receive(asio::buffer(&c, 1), tcp::socket::message_peek, peek_ec);
    if (ec || peek_ec || got == 0) {
        SB_LOG(u->log, info) << "caller hung up while ringing";
        close_socket(u->pending);
        u->machine.on_remote_closed(clock::now(), u->actions);
        perform(st, u);
    }
}

// Incoming calls go to the first modem whose terminal is open and idle.
awaitable<void> listener(std::shared_ptr<shared_state> st) {
    core::live_guard lg(st->live);
    while (!st->stopping && st->acceptor) {
        auto [ec, s] = co_await st->acceptor->async_accept(use_tuple);
        if (st->stopping) break;
        if (ec) {
            if (ec == asio::error::operation_aborted) break;
            SB_LOG(st->log, warning) << "accept: " << ec.message();
            asio::steady_timer t(st->io, std::chrono::milliseconds(100));  // EMFILE: don't spin
            (void)co_await t.async_wait(use_tuple);
            continue;
        }
        boost::system::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        auto peer = s.remote_endpoint(ignored);
        std::shared_ptr<modem_unit> free;
        for (auto& u : st->units)
            if (u->machine.can_take_call()) {
                free = u;
                break;
            }
        if (!free) {
            ++st->busy_rejects;
            SB_LOG(st->log, notice) << "call from " << peer << ": all modems busy";
            if (st->rejecting < 64)
                asio::co_spawn(st->io, tell_and_close(st, std::move(s), "BUSY\r\n"), asio::detached);
            continue;
        }
        SB_LOG(free->log, notice) << "call from " << peer << ": ringing";
        free->pending = std::move(s);
        ++free->call;
        asio::co_spawn(st->io, watch_caller(st, free, free->call), asio::detached);
        free->machine.on_incoming(clock::now(), free->actions);
        perform(st, free);
    }
}

std::string json_escape(std::string_view s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        o += c;
    }
    return o;
}

std::string metrics_json(const shared_state& st) {
    std::ostringstream o;
    o << "[";
    bool first = true;
    for (auto& u : st.units) {
        const auto& s = u->stats;
        o << (first ? "" : ",") << "\n  {\"modemId\":" << u->index << ",\"tty\":\"" << json_escape(u->tty.link_path())
          << "\",\"status\":\"" << state_name(u->machine.state()) << "\",\"ttyOpen\":" << (u->machine.dtr() ? "true" : "false")
          << ",\"ttyRxBytes\":" << s.tty_rx << ",\"ttyTxBytes\":" << s.tty_tx << ",\"connRxBytes\":" << s.conn_rx
          << ",\"connTxBytes\":" << s.conn_tx << ",\"numCons\":" << s.cons << ",\"numInCons\":" << s.in_cons
          << ",\"numOutCons\":" << s.out_cons << ",\"lastTtyRxMs\":" << s.last_tty_rx_ms
          << ",\"lastTtyTxMs\":" << s.last_tty_tx_ms << ",\"lastAtCmdMs\":" << s.last_at_cmd_ms
          << ",\"lastConnMs\":" << s.last_conn_ms << "}";
        first = false;
    }
    o << "\n]\n";
    return o.str();
}

std::string proc_json(const shared_state& st) {
    auto up = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - st.started);
    auto start_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(st.started.time_since_epoch()).count();
    std::ostringstream o;
    o << "{\"uptime\":" << up.count() / 1000 << ",\"uptimeMs\":" << up.count() << ",\"startTimeMs\":" << start_ms
      << ",\"pid\":" << ::getpid() << ",\"modems\":" << st.units.size() << ",\"busyRejects\":" << st.busy_rejects
      << "}\n";
    return o.str();
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw core::config_error("option '--phone-book': cannot read '" + path + "'");
    std::ostringstream s;
    s << f.rdbuf();
    if (s.str().size() > (1 << 20)) throw core::config_error("option '--phone-book': '" + path + "' is over 1 MiB");
    return s.str();
}

dial_translator make_translator(const modem_config& cfg) {
    std::vector<translate_rule> rules;
    for (auto& r : cfg.translate) rules.push_back(parse_translate_rule(r));
    std::vector<phone_book_entry> book;
    if (!cfg.phone_book.empty()) try {
            book = parse_phone_book(read_file(cfg.phone_book), cfg.phone_book);
        } catch (const std::invalid_argument& e) {
            throw core::config_error(std::string("option '--phone-book': ") + e.what());
        }
    return dial_translator(std::move(rules), std::move(book), cfg.default_port);
}

class modem_service final : public core::service {
public:
    modem_service(modem_config cfg, std::string name, core::host_context& host)
        : st_(std::make_shared<shared_state>(host.io, std::move(cfg), name, host.log.with_channel(name))),
          metrics_(host.metrics) {
        st_->translator = make_translator(st_->cfg);
        for (auto& h : st_->cfg.commands) opt_.interpreter.hooks.push_back(parse_command_hook(h));
        opt_.interpreter.connect_speed = st_->cfg.connect_speed;
        opt_.guard_time = st_->cfg.guard_time;
        opt_.pre_guard = st_->cfg.pre_guard;
        opt_.post_guard = st_->cfg.post_guard;
        opt_.max_rings = st_->cfg.max_rings;
        opt_.ring_interval = st_->cfg.ring_interval;
        opt_.watchdog = st_->cfg.watchdog;
        opt_.dial_timeout = st_->cfg.dial_timeout;
    }

    std::string name() const override { return st_->name; }

    void start() override {
        auto& cfg = st_->cfg;
        for (unsigned i = 0; i < cfg.count; ++i) {
            unsigned n = cfg.first_index + i;
            std::string tty = "tty" + std::to_string(n);
            machine_options mo = opt_;
            mo.name = "modem " + std::to_string(n) + " (" + cfg.tty_dir + "/" + tty + ")";
            auto u = std::make_shared<modem_unit>(st_->io, n, cfg.tty_dir + "/" + tty, std::move(mo),
                                                  st_->log.with_channel(st_->name + "." + tty));
            u->nagle_size_hint = cfg.nagle_size;
            st_->units.push_back(u);
            add_metrics(*u, tty);
        }
        if (cfg.listen) {
            st_->acceptor.emplace(st_->io);
            core::open_listener(*st_->acceptor, *cfg.listen);
        }
        if (cfg.metrics) {
            st_->http = std::make_unique<core::admin_http>(st_->io, *cfg.metrics, st_->log);
            std::weak_ptr<shared_state> w = st_;
            st_->http->route("/", [w](const std::string&) {
                auto s = w.lock();
                return core::http_reply{200, "application/json", s ? metrics_json(*s) : "[]\n"};
            });
            st_->http->route("/proc", [w](const std::string&) {
                auto s = w.lock();
                return core::http_reply{200, "application/json", s ? proc_json(*s) : "{}\n"};
            });
            auto* m = &metrics_;
            st_->http->route("/metrics", [m](const std::string&) {
                return core::http_reply{200, "text/plain; version=0.0.4; charset=utf-8", m->render()};
            });
            st_->http->start();
        }
        for (auto& a : cfg.attach) {
            st_->bridges.push_back(std::make_unique<attach_bridge>(st_->io, parse_attach(a), st_->log));
            st_->bridges.back()->start();
        }
        for (auto& u : st_->units) {
            asio::co_spawn(st_->io, tty_reader(st_, u), asio::detached);
            asio::co_spawn(st_->io, tty_writer(st_, u), asio::detached);
            asio::co_spawn(st_->io, timer_loop(st_, u), asio::detached);
        }
        asio::co_spawn(st_->io, dtr_watcher(st_), asio::detached);
        if (st_->acceptor) asio::co_spawn(st_->io, listener(st_), asio::detached);
        SB_LOG(st_->log, notice) << cfg.count << " modem(s) at " << cfg.tty_dir << "/tty" << cfg.first_index
                                 << (cfg.count > 1 ? ".." + std::to_string(cfg.first_index + cfg.count - 1) : "")
                                 << (cfg.listen ? ", calls on " + cfg.listen->to_string() : ", no listener")
                                 << (cfg.metrics ? ", metrics on " + cfg.metrics->to_string() : "");
    }

    // Calls are hung up at once: a modem call has no request to finish.
    void stop(std::chrono::steady_clock::duration) override {
        auto& s = *st_;
        s.stopping = true;
        boost::system::error_code ignored;
        if (s.acceptor) s.acceptor->close(ignored);
        if (s.http) s.http->stop();
        for (auto& b : s.bridges) b->stop();
        for (auto& u : s.units) {
            ++u->call;
            close_socket(u->conn);
            close_socket(u->pending);
            close_socket(u->dialing);
            u->resolver.cancel();
            u->tty_stream.cancel(ignored);
            u->deadline_timer.cancel();
            u->nagle_timer.cancel();
            u->tty_out_ready.notify();
            u->tty_drained.notify();
            u->net_out_ready.notify();
            u->state_changed.notify();
            u->dtr_up.notify();
        }
        metrics_.remove_labelled(labels_prefix());
    }

    bool stopped() const override {
        for (auto& b : st_->bridges)
            if (!b->stopped()) return false;
        return st_->live == 0;
    }

    ~modem_service() override {
        // ptys and links go with the units; coroutines hold the units alive
        // only until they finish, which stop() made happen.
        st_->units.clear();
    }

private:
    std::string labels_prefix() const { return "bank=\"" + st_->name + "\""; }

    void add_metrics(modem_unit& u, const std::string& tty) {
        const std::string l = labels_prefix() + ",modem=\"" + tty + "\"";
        auto* s = &u.stats;
        auto* unit = &u;
        metrics_.add_gauge("sb_modem_tty_rx_bytes_total", "Bytes typed on the terminal", l, [s] { return double(s->tty_rx); });
        metrics_.add_gauge("sb_modem_tty_tx_bytes_total", "Bytes shown on the terminal", l, [s] { return double(s->tty_tx); });
        metrics_.add_gauge("sb_modem_conn_rx_bytes_total", "Bytes received from calls", l, [s] { return double(s->conn_rx); });
        metrics_.add_gauge("sb_modem_conn_tx_bytes_total", "Bytes sent to calls", l, [s] { return double(s->conn_tx); });
        metrics_.add_gauge("sb_modem_calls_in_total", "Incoming calls answered", l, [s] { return double(s->in_cons); });
        metrics_.add_gauge("sb_modem_calls_out_total", "Outgoing calls connected", l, [s] { return double(s->out_cons); });
        metrics_.add_gauge("sb_modem_in_call", "1 while the modem holds a call", l,
                           [unit] { return unit->machine.in_call() ? 1.0 : 0.0; });
        metrics_.add_gauge("sb_modem_tty_open", "1 while a program has the tty open (DTR)", l,
                           [unit] { return unit->machine.dtr() ? 1.0 : 0.0; });
    }

    std::shared_ptr<shared_state> st_;
    core::metrics_registry& metrics_;
    machine_options opt_;
};

class modem_plugin final : public core::plugin {
public:
    explicit modem_plugin(core::po::variables_map cli) : cli_(std::move(cli)) {}
    std::string_view name() const override { return "modem"; }
    std::vector<std::unique_ptr<core::service>> configure(const std::vector<core::ini_section>& sections,
                                                          core::host_context& ctx) override {
        std::vector<std::unique_ptr<core::service>> out;
        auto desc = modem_options();
        for (auto& sec : sections) {
            core::po::variables_map vm;
            core::store_section(sec, desc, vm);
            // What the command line says wins, lists included (a -C there
            // replaces the file's commands rather than adding to them).
            for (auto& [k, v] : cli_)
                if (!v.defaulted() && desc.find_nothrow(k, false)) {
                    vm.erase(k);
                    vm.insert({k, v});
                }
            core::po::notify(vm);
            out.push_back(make_modem_service(modem_config_from(vm), sec.name, ctx));
        }
        return out;
    }

private:
    core::po::variables_map cli_;
};

}  // namespace

std::unique_ptr<core::service> make_modem_service(modem_config cfg, std::string name, core::host_context& ctx) {
    return std::make_unique<modem_service>(std::move(cfg), std::move(name), ctx);
}

std::unique_ptr<core::plugin> make_modem_plugin(core::po::variables_map cli) {
    return std::make_unique<modem_plugin>(std::move(cli));
}

}  // namespace sb::modem
