#include "sms/sms_service.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <charconv>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "core/admin_http.hpp"
#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/tcp_server.hpp"
#include "sms/at_engine.hpp"
#include "sms/byte_log.hpp"
#include "sms/heartbeat_filter.hpp"
#include "sms/modem_status.hpp"
#include "sms/rest_json.hpp"
#include "sms/sms_config.hpp"
#include "sms/sms_store.hpp"

namespace sb::sms {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using time_point = clock::time_point;

namespace {

const std::string metric_labels = "plugin=\"sms\"";

// A raw client of the bridge. Bytes it sends wait in to_modem until it has
// the modem; bytes from the modem wait in to_client for its writer.
struct bridge_client {
    bridge_client(asio::io_context& io, tcp::socket s, std::string pattern)
        : socket(std::move(s)), filter(std::move(pattern)), out_ready(io), last_beat(clock::now()) {
        boost::system::error_code ec;
        auto ep = socket.remote_endpoint(ec);
        peer = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    tcp::socket socket;
    std::string peer;
    heartbeat_filter filter;
    std::string to_modem;
    std::string to_client;
    core::notifier out_ready;
    time_point last_beat;
    bool closing = false;
    std::string farewell;  // written before closing
    std::string reason;    // why it ended, for the log
};

struct command_wait {
    explicit command_wait(asio::io_context& io) : timer(io, time_point::max()) {}
    std::optional<at_completed> done;
    asio::steady_timer timer;
};

struct ussd_wait {
    explicit ussd_wait(asio::io_context& io) : timer(io, time_point::max()) {}
    std::optional<ussd_reply> reply;
    asio::steady_timer timer;
};

enum class modem_state : std::uint8_t { absent, initialising, ready, raw_client };

std::string_view to_string(modem_state s) {
    switch (s) {
    case modem_state::absent: return "absent";
    case modem_state::initialising: return "initialising";
    case modem_state::ready: return "ready";
    case modem_state::raw_client: return "raw_client";
    }
    return "absent";
}

struct state {
    state(asio::io_context& i, sms_config c, core::logger l)
        : io(i), cfg(std::move(c)), log(std::move(l)), port(i), port_out_ready(i),
          engine_timer(i), work(i), backoff_timer(i), stop_timer(i), rng(std::random_device{}()) {}

    asio::io_context& io;
    sms_config cfg;
    core::logger log;
    std::optional<sms_store> store;  // opened by start(): --check must not create it
    at_engine engine;

    asio::posix::stream_descriptor port;
    bool port_open = false;
    std::string port_out;
    core::notifier port_out_ready;
    std::string port_end;  // why the port session ended
    asio::steady_timer engine_timer;
    std::optional<time_point> armed;  // the deadline engine_timer waits for

    std::map<std::uint64_t, std::shared_ptr<command_wait>> waits;
    std::deque<at_urc> urcs;
    core::notifier work;  // wakes the controller
    bool rebooted = false;
    // The SIM was listed and reconciled in this session: until then a
    // pending deletion may name a slot reused by a message we have not read.
    bool sim_reconciled = false;
    modem_state mstate = modem_state::absent;
    modem_status status;

    std::optional<tcp::acceptor> bridge_acceptor;
    std::shared_ptr<bridge_client> client;
    bool raw_active = false;  // the client has the port; the engine is off
    std::set<std::shared_ptr<bridge_client>> clients;  // every session, for stop()

    std::unique_ptr<core::admin_http> api;
    std::shared_ptr<ussd_wait> ussd;

    asio::steady_timer backoff_timer;
    asio::steady_timer stop_timer;
    bool stopping = false;
    int live = 0;
    std::mt19937 rng;

    core::counter* sent = nullptr;
    core::counter* failed = nullptr;
    core::counter* unknown = nullptr;
    core::counter* received = nullptr;
    core::counter* reports = nullptr;
    core::counter* bridge_clients = nullptr;
    core::counter* bridge_refused = nullptr;
    core::counter* reopens = nullptr;
};

using state_ptr = std::shared_ptr<state>;

// Ends a bridge session: its reader and a write blocked on a client that
// does not read both return at once; the farewell is written after.
void close_client(bridge_client& c, std::string reason, std::string farewell) {
    if (c.closing) return;
    c.closing = true;
    c.reason = std::move(reason);
    c.farewell = std::move(farewell);
    boost::system::error_code ignored;
    c.socket.cancel(ignored);
    c.out_ready.notify();
}

void log_bytes(state& st, std::string_view direction, std::string_view bytes) {
    if (!st.cfg.byte_log) return;
    auto line = format_bytes(direction, bytes, std::chrono::system_clock::now());
    if (st.cfg.hex_dump) line += hex_dump(bytes);
    SB_LOG(st.log, notice) << line;
}

// ---------------------------------------------------------------------------
// The AT engine's actions

void fail_ussd(state& st) {
    if (st.ussd) st.ussd->timer.cancel();
}

void perform(state& st) {
    for (auto& a : st.engine.take_actions()) {
        if (auto* w = std::get_if<at_write>(&a)) {
            st.port_out += w->bytes;
            st.port_out_ready.notify();
        } else if (auto* c = std::get_if<at_completed>(&a)) {
            auto it = st.waits.find(c->id);
            if (it == st.waits.end()) continue;
            it->second->done = std::move(*c);
            it->second->timer.cancel();
            st.waits.erase(it);
        } else if (auto* u = std::get_if<at_urc>(&a)) {
            SB_LOG(st.log, debug) << "sms: " << to_string(a);
            if (u->kind == urc_kind::ussd) {
                if (st.ussd && !u->lines.empty()) {
                    st.ussd->reply = parse_cusd(u->lines.front());
                    st.ussd->timer.cancel();
                }
            } else if (u->kind == urc_kind::registration) {
                if (!u->lines.empty()) apply_creg(st.status, u->lines.front(), true);
                st.work.notify();  // sending may wait for registration
            } else if (u->kind == urc_kind::new_message_stored || u->kind == urc_kind::status_report_stored ||
                       u->kind == urc_kind::new_message || u->kind == urc_kind::status_report) {
                // At most one per SIM slot or routed message: the queue stays small.
                st.urcs.push_back(std::move(*u));
                st.work.notify();
            } else {
                SB_LOG(st.log, info) << "sms: " << to_string(a);
            }
        } else if (auto* r = std::get_if<at_rebooted>(&a)) {
            SB_LOG(st.log, warning) << "sms: the modem restarted (" << r->line << "); initialising it again";
            st.rebooted = true;
            st.work.notify();
        } else if (std::holds_alternative<at_unresponsive>(a)) {
            SB_LOG(st.log, warning) << "sms: the modem stopped answering; reopening " << st.cfg.device;
            st.port_end = "the modem stopped answering";
            boost::system::error_code ignored;
            st.port.close(ignored);
        }
    }
    if (st.engine.deadline() != st.armed) st.engine_timer.cancel();
}

at_completed aborted_result(std::string why) {
    at_completed c;
    c.result.status = at_status::aborted;
    c.final_line = std::move(why);
    return c;
}

// Runs one command through the engine and waits for its result.
asio::awaitable<at_completed> exec(state_ptr st, at_command cmd) {
    if (!st->port_open || st->raw_active) co_return aborted_result("modem not available");
    auto id = st->engine.submit(std::move(cmd), clock::now());
    if (!id) {
        perform(*st);
        co_return aborted_result("command queue full");
    }
    auto w = std::make_shared<command_wait>(st->io);
    st->waits[*id] = w;
    perform(*st);
    if (!w->done) co_await w->timer.async_wait(as_tuple(use_awaitable));
    if (!w->done) {
        // Cancelled: the port session is ending. The engine says what became
        // of the command (was its PDU written?) as it aborts it.
        st->engine.reset();
        perform(*st);
    }
    if (!w->done) {
        st->waits.erase(*id);
        co_return aborted_result("cancelled");
    }
    co_return std::move(*w->done);
}

at_command command(std::string text, std::string expect = {},
                   clock::duration timeout = std::chrono::seconds(10)) {
    return at_command{std::move(text), std::nullopt, timeout, std::move(expect)};
}

std::optional<int> trailing_number(std::string_view line) {
    auto comma = line.find_last_of(",:");
    if (comma == std::string_view::npos) return std::nullopt;
    line.remove_prefix(comma + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    int v = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || end != line.data() + line.size()) return std::nullopt;
    return v;
}

// ---------------------------------------------------------------------------
// The controller: initialisation, the SIM, the outbox

// One PDU read from the SIM (index) or routed by the modem (nullopt).
// Returns true when the SIM slot may be deleted right away (a status
// report: the store keeps no copy of it); messages are deleted through
// the store's pending deletions, after their commit.
bool take_pdu(state& st, std::optional<int> index, std::string_view hex) {
    std::string error;
    auto pdu = decode_deliver(hex, error);
    if (!pdu) {
        SB_LOG(st.log, warning) << "sms: " << (index ? "SIM slot " + std::to_string(*index) : std::string("routed PDU"))
                                << ": cannot decode (" << error << "); left on the SIM";
        return false;
    }
    if (pdu->kind == pdu_kind::status_report) {
        st.reports->inc();
        auto id = st.store->mark_delivered_by_reference(pdu->message_reference, pdu->recipient.value, pdu->status);
        SB_LOG(st.log, info) << "sms: status report for reference " << int(pdu->message_reference) << " to "
                             << pdu->recipient.value << ": status " << int(pdu->status)
                             << (id ? " (message " + *id + ")" : std::string(" (no sent part matches)"));
        return true;
    }
    auto r = st.store->store_incoming(index, hex, *pdu, std::chrono::system_clock::now());
    if (r.is_new) st.received->inc();
    if (r.completed_message_id)
        SB_LOG(st.log, notice) << "sms: received message " << *r.completed_message_id << " from " << pdu->sender.value;
    else if (r.is_new && pdu->concat)
        SB_LOG(st.log, info) << "sms: received part " << int(pdu->concat->part) << "/" << int(pdu->concat->total)
                             << " from " << pdu->sender.value;
    return false;
}

asio::awaitable<void> delete_slot(state_ptr st, int index) {
    auto r = co_await exec(st, command("AT+CMGD=" + std::to_string(index)));
    if (r.result.status != at_status::ok)
        SB_LOG(st->log, warning) << "sms: AT+CMGD=" << index << ": " << to_string(r.result.status) << " " << r.final_line;
}

// The slots of stored messages, all of them once the SIM was reconciled in
// this session, else only the one just read.
asio::awaitable<void> delete_stored(state_ptr st, std::optional<int> just_read = std::nullopt) {
    for (auto& slot : st->store->pending_sim_deletions()) {
        if (!st->sim_reconciled && slot.index != just_read) continue;
        auto r = co_await exec(st, command("AT+CMGD=" + std::to_string(slot.index)));
        if (r.result.status == at_status::ok)
            st->store->mark_sim_deleted(slot);
        else if (r.result.status == at_status::aborted)
            co_return;
    }
}

// AT+CMGL=4: everything on the SIM, stored, then deleted.
asio::awaitable<void> sync_sim(state_ptr st) {
    auto r = co_await exec(st, command("AT+CMGL=4", "+CMGL:", std::chrono::seconds(30)));
    if (r.result.status != at_status::ok) {
        SB_LOG(st->log, warning) << "sms: AT+CMGL=4: " << to_string(r.result.status) << " " << r.final_line;
        co_return;
    }
    std::vector<int> listed, reports;
    for (std::size_t i = 0; i < r.lines.size(); ++i) {
        if (r.lines[i].rfind("+CMGL:", 0) != 0) continue;
        int index = 0;
        std::string_view h(r.lines[i]);
        h.remove_prefix(6);
        while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
        auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), index);
        if (ec != std::errc() || i + 1 >= r.lines.size()) continue;
        listed.push_back(index);
        if (take_pdu(*st, index, r.lines[++i])) reports.push_back(index);
    }
    if (r.truncated) {
        SB_LOG(st->log, warning) << "sms: AT+CMGL=4 listing truncated; the rest is read next time";
    } else {
        st->store->reconcile_sim(listed);
        st->sim_reconciled = true;
    }
    for (int index : reports) co_await delete_slot(st, index);
    co_await delete_stored(st);
}

// AT+CMGR=<index> after +CMTI / +CDSI.
asio::awaitable<void> read_slot(state_ptr st, int index) {
    auto r = co_await exec(st, command("AT+CMGR=" + std::to_string(index), "+CMGR:"));
    if (r.result.status != at_status::ok || r.lines.size() < 2) {
        SB_LOG(st->log, warning) << "sms: AT+CMGR=" << index << ": " << to_string(r.result.status) << " "
                                 << r.final_line;
        co_return;
    }
    if (take_pdu(*st, index, r.lines[1])) co_await delete_slot(st, index);
    co_await delete_stored(st, index);
}

asio::awaitable<void> handle_urc(state_ptr st, at_urc u) {
    switch (u.kind) {
    case urc_kind::new_message_stored:
    case urc_kind::status_report_stored:
        if (auto index = u.lines.empty() ? std::nullopt : trailing_number(u.lines.front()))
            co_await read_slot(st, *index);
        break;
    case urc_kind::new_message:
    case urc_kind::status_report:
        if (u.lines.size() >= 2) take_pdu(*st, std::nullopt, u.lines[1]);
        break;
    default: SB_LOG(st->log, info) << "sms: " << to_string(at_action(u)); break;
    }
}

asio::awaitable<void> poll_status(state_ptr st) {
    auto r = co_await exec(st, command("AT+CPIN?", "+CPIN:"));
    if (r.result.status == at_status::ok && !r.lines.empty())
        apply_cpin(st->status, r.lines.front());
    else if (r.result.status == at_status::cme_error)
        apply_cpin_error(st->status, r.result.code);
    r = co_await exec(st, command("AT+CSQ", "+CSQ:"));
    if (r.result.status == at_status::ok && !r.lines.empty()) apply_csq(st->status, r.lines.front());
    r = co_await exec(st, command("AT+CREG?", "+CREG:"));
    if (r.result.status == at_status::ok && !r.lines.empty()) apply_creg(st->status, r.lines.front(), false);
    r = co_await exec(st, command("AT+COPS?", "+COPS:", std::chrono::seconds(30)));
    if (r.result.status == at_status::ok && !r.lines.empty()) apply_cops(st->status, r.lines.front());
}

asio::awaitable<std::string> first_line(state_ptr st, std::string text) {
    auto r = co_await exec(st, command(std::move(text)));
    co_return r.result.status == at_status::ok && !r.lines.empty() ? r.lines.front() : std::string();
}

// The init sequence, the modem's identity and status. False when the modem
// refused something the plugin cannot work without.
asio::awaitable<bool> initialise(state_ptr st) {
    st->mstate = modem_state::initialising;
    st->rebooted = false;
    for (auto& cmd : init_sequence()) {
        const std::string text = cmd.text;
        auto r = co_await exec(st, std::move(cmd));
        if (r.result.status == at_status::ok) continue;
        SB_LOG(st->log, warning) << "sms: init: " << text << ": " << to_string(r.result.status) << " " << r.final_line;
        // Echo and PDU mode are needed; CMEE, CNMI and CPMS are not (the SIM
        // is still listed every status_interval).
        if (text == "ATE0V1" || text == "AT+CMGF=0") co_return false;
    }
    // +CREG: URCs: a modem that registers later wakes the outbox at once
    // instead of at the next status poll. Not every modem takes it.
    (void)co_await exec(st, command("AT+CREG=1"));
    st->status.manufacturer = co_await first_line(st, "AT+CGMI");
    st->status.model = co_await first_line(st, "AT+CGMM");
    st->status.imei = co_await first_line(st, "AT+CGSN");
    co_await poll_status(st);
    co_return true;
}

bool may_send(const state& st) {
    // Sending while searching or denied only burns the attempts with
    // +CMS ERROR: 331; "unknown" is a modem that does not say.
    const auto& r = st.status.registration;
    return r == "home" || r == "roaming" || r == "unknown";
}

asio::awaitable<void> send_part(state_ptr st, outbox_part part) {
    if (!st->store->mark_sending(part.id)) co_return;
    auto cmd = sms_submit(part.tpdu_length, part.pdu_hex);
    cmd.timeout = st->cfg.send_timeout;
    auto r = co_await exec(st, std::move(cmd));
    const std::string what = "message " + part.message_id + " part " + std::to_string(part.part) + "/" +
                             std::to_string(part.total) + " to " + part.recipient;
    switch (r.result.status) {
    case at_status::ok: {
        std::optional<int> mr;
        for (auto& l : r.lines)
            if (l.rfind("+CMGS:", 0) == 0) mr = trailing_number(l);
        st->store->mark_sent(part.id, static_cast<std::uint8_t>(mr.value_or(0)));
        st->sent->inc();
        SB_LOG(st->log, info) << "sms: sent " << what << " (reference " << mr.value_or(-1) << ")";
        break;
    }
    case at_status::timeout:
    case at_status::aborted:
        if (!r.payload_written) {
            // No prompt, so the modem never had the PDU: safe to send again,
            // unless the modem keeps refusing to prompt (a port lost is no
            // attempt of the modem's).
            if (r.result.status == at_status::timeout && part.attempts + 1 >= st->cfg.send_attempts) {
                st->store->mark_failed(part.id, "no prompt after AT+CMGS");
                st->failed->inc();
                SB_LOG(st->log, warning) << "sms: " << what << ": no prompt after " << part.attempts + 1
                                         << " attempts; failed";
                break;
            }
            st->store->requeue(part.id, "no prompt: " + std::string(to_string(r.result.status)));
            SB_LOG(st->log, warning) << "sms: " << what << ": " << to_string(r.result.status)
                                     << " before the PDU was written; will try again";
            break;
        }
        // The PDU may have gone out: sending it again could deliver it twice.
        st->store->mark_unknown(part.id, std::string(to_string(r.result.status)) + " " + r.final_line);
        st->unknown->inc();
        SB_LOG(st->log, warning) << "sms: " << what << ": no answer (" << to_string(r.result.status)
                                 << "); marked unknown, not sent again";
        break;
    default:
        if (r.payload_written) {
            // Refused after the PDU: by the network (failed), unless the code
            // leaves open whether the SMSC took it (27.005 3.2.5: 332 network
            // timeout, 500 unknown, or no code at all).
            const int code = r.result.status == at_status::cms_error ? r.result.code : -1;
            if (code == 332 || code == 500 || code < 0) {
                st->store->mark_unknown(part.id, r.final_line);
                st->unknown->inc();
                SB_LOG(st->log, warning) << "sms: " << what << ": " << r.final_line
                                         << " after the PDU; marked unknown, not sent again";
            } else {
                st->store->mark_failed(part.id, r.final_line);
                st->failed->inc();
                SB_LOG(st->log, warning) << "sms: " << what << ": " << r.final_line << "; failed";
            }
            break;
        }
        // The modem refused the command before taking the PDU: nothing went out.
        if (part.attempts + 1 < st->cfg.send_attempts) {
            st->store->requeue(part.id, r.final_line);
            SB_LOG(st->log, warning) << "sms: " << what << ": " << r.final_line << "; will try again";
        } else {
            st->store->mark_failed(part.id, r.final_line);
            st->failed->inc();
            SB_LOG(st->log, warning) << "sms: " << what << ": " << r.final_line << "; failed after "
                                     << part.attempts + 1 << " attempts";
        }
        break;
    }
}

asio::awaitable<void> sleep_or_work(state_ptr st, time_point until) {
    asio::steady_timer t(st->io, until);
    co_await (st->work.wait() || t.async_wait(as_tuple(use_awaitable)));
}

// A bridge client has the port until it leaves (or another replaces it).
asio::awaitable<void> raw_session(state_ptr st) {
    // The engine finishes what it has in flight (e.g. a USSD from the API).
    while (st->engine.busy() && st->client) co_await sleep_or_work(st, clock::now() + std::chrono::milliseconds(100));
    if (!st->client) co_return;
    st->raw_active = true;
    st->mstate = modem_state::raw_client;
    SB_LOG(st->log, notice) << "sms: bridge client " << st->client->peer << " has the modem";
    while (st->client && !st->stopping) {
        if (!st->client->to_modem.empty()) {
            st->port_out += st->client->to_modem;
            st->client->to_modem.clear();
            st->port_out_ready.notify();
        }
        co_await st->work.wait();
    }
    st->raw_active = false;
    st->sim_reconciled = false;
    // What the client left half-said is not the engine's, nor the late
    // answer of its last command, nor a "> " prompt it left open: the
    // engine's recovery (ESC, CR, late answers dropped, an ATV1 probe) runs
    // before the init sequence, which waits behind it.
    st->engine.reset();
    st->engine.recover(clock::now());
    perform(*st);
    SB_LOG(st->log, notice) << "sms: the bridge client left; initialising the modem again";
}

asio::awaitable<void> controller_loop(state_ptr st) {
    const auto housekeeping_every = std::chrono::minutes(10);
    while (!st->stopping) {
        if (st->client) {
            co_await raw_session(st);
            continue;
        }
        if (!co_await initialise(st)) {
            co_await sleep_or_work(st, clock::now() + std::chrono::seconds(5));
            continue;
        }
        st->mstate = modem_state::ready;
        SB_LOG(st->log, notice) << "sms: modem ready (" << st->status.manufacturer << " " << st->status.model
                                << ", SIM " << st->status.sim << ", " << st->status.registration << ", signal "
                                << (st->status.signal_dbm() ? std::to_string(*st->status.signal_dbm()) + " dBm"
                                                             : std::string("unknown"))
                                << ")";
        co_await sync_sim(st);
        auto status_due = clock::now() + st->cfg.status_interval;
        auto housekeeping_due = clock::now();
        while (!st->stopping && !st->client && !st->rebooted) {
            if (!st->urcs.empty()) {
                auto u = std::move(st->urcs.front());
                st->urcs.pop_front();
                co_await handle_urc(st, std::move(u));
                continue;
            }
            const auto now = clock::now();
            if (now >= status_due) {
                co_await poll_status(st);
                // A +CMTI lost to a raw client or a modem without CNMI.
                co_await sync_sim(st);
                status_due = clock::now() + st->cfg.status_interval;
                continue;
            }
            if (now >= housekeeping_due) {
                const auto wall = std::chrono::system_clock::now();
                for (auto& id : st->store->expire_incomplete(wall - st->cfg.inbox_expiry))
                    SB_LOG(st->log, notice) << "sms: received message " << id << " incomplete (parts missing)";
                st->store->prune_outbox(wall - st->cfg.outbox_retention);
                housekeeping_due = now + housekeeping_every;
                continue;
            }
            if (may_send(*st)) {
                if (auto part = st->store->next_part_to_send()) {
                    co_await send_part(st, std::move(*part));
                    continue;
                }
            }
            co_await sleep_or_work(st, std::min(status_due, housekeeping_due));
        }
    }
}

// A store failure (disk full, I/O error) ends the port session: returning
// ends the reader, writer and clock with it (a throw would not: operator||
// waits for a success), and port_loop starts over on a fresh session.
// Nothing is marked that did not happen: a part whose mark_sent failed stays
// `sending` and is `unknown` after the next open().
asio::awaitable<void> controller(state_ptr st) {
    try {
        co_await controller_loop(st);
    } catch (const store_error& e) {
        SB_LOG(st->log, error) << "sms: store: " << e.what() << "; starting over";
        st->port_end = std::string("store: ") + e.what();
    }
}

// ---------------------------------------------------------------------------
// The port

asio::awaitable<void> port_reader(state_ptr st) {
    std::array<char, 4096> buf;
    for (;;) {
        auto [ec, n] = co_await st->port.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
        if (ec) {
            if (st->port_end.empty()) st->port_end = ec == asio::error::eof ? "end of file" : ec.message();
            co_return;
        }
        std::string_view data(buf.data(), n);
        log_bytes(*st, "SER_R", data);
        if (st->raw_active) {
            if (auto c = st->client; c && !c->closing) {
                c->to_client.append(data);
                if (c->to_client.size() > st->cfg.bridge_buffer) close_client(*c, "not reading what the modem sends", {});
                c->out_ready.notify();
            }
            continue;
        }
        st->engine.on_bytes(data, clock::now());
        perform(*st);
    }
}

asio::awaitable<void> port_writer(state_ptr st) {
    for (;;) {
        if (st->port_out.empty()) {
            co_await st->port_out_ready.wait();
            continue;
        }
        std::string chunk;
        chunk.swap(st->port_out);
        log_bytes(*st, "SER_W", chunk);
        auto [ec, n] = co_await asio::async_write(st->port, asio::buffer(chunk), as_tuple(use_awaitable));
        if (ec) {
            if (st->port_end.empty()) st->port_end = "write: " + ec.message();
            co_return;
        }
    }
}

asio::awaitable<void> engine_clock(state_ptr st) {
    for (;;) {
        st->armed = st->engine.deadline();
        st->engine_timer.expires_at(st->armed ? *st->armed : time_point::max());
        co_await st->engine_timer.async_wait(as_tuple(use_awaitable));
        if (st->armed && clock::now() >= *st->armed) {
            st->engine.on_timer(clock::now());
            perform(*st);
        }
    }
}

// Opens the port, runs a modem session on it, and reopens it with backoff
// when it goes (unplugged, or the modem stopped answering).
asio::awaitable<void> port_loop(state_ptr st) {
    core::live_guard guard(st->live);
    auto backoff = st->cfg.reopen_backoff;
    std::string last_error;
    while (!st->stopping) {
        int fd = ::open(st->cfg.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        int err = fd < 0 ? errno : core::apply_line_settings(fd, st->cfg.line);
        // Exclusive: ModemManager and friends probe serial ports with AT
        // commands of their own, which would answer our commands for us.
        if (err == 0) (void)::ioctl(fd, TIOCEXCL);
        if (err == 0) {
            boost::system::error_code ec;
            st->port.assign(fd, ec);
            if (ec) err = ec.value();
        }
        if (err != 0) {
            if (fd >= 0) ::close(fd);
            std::string why = std::strerror(err);
            // A modem that stays unplugged is one warning, not one a second.
            if (why != last_error)
                SB_LOG(st->log, warning) << "sms: cannot open " << st->cfg.device << ": " << why << "; retrying";
            last_error = why;
            st->backoff_timer.expires_after(backoff);
            co_await st->backoff_timer.async_wait(as_tuple(use_awaitable));
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, st->cfg.reopen_backoff_max);
            continue;
        }
        last_error.clear();
        backoff = st->cfg.reopen_backoff;
        st->port_open = true;
        st->sim_reconciled = false;
        st->port_end.clear();
        st->port_out.clear();
        st->engine.reset();
        perform(*st);
        st->reopens->inc();
        SB_LOG(st->log, notice) << "sms: opened " << st->cfg.device << " at " << st->cfg.line.speed << " "
                                << st->cfg.line.data_bits << st->cfg.line.parity << st->cfg.line.stop_bits;
        try {
            co_await (port_reader(st) || port_writer(st) || engine_clock(st) || controller(st));
        } catch (const std::exception& e) {
            // The store failed (disk full, I/O error): nothing is marked
            // that did not happen; start over on a fresh port session.
            SB_LOG(st->log, error) << "sms: " << e.what();
            if (st->port_end.empty()) st->port_end = e.what();
        }
        boost::system::error_code ignored;
        st->port.close(ignored);
        st->port_open = false;
        st->raw_active = false;
        st->mstate = modem_state::absent;
        st->status = {};
        st->engine.reset();
        perform(*st);
        fail_ussd(*st);
        if (st->stopping) break;
        SB_LOG(st->log, warning) << "sms: lost " << st->cfg.device << " ("
                                 << (st->port_end.empty() ? "closed" : st->port_end) << "); reopening";
        st->backoff_timer.expires_after(backoff);
        co_await st->backoff_timer.async_wait(as_tuple(use_awaitable));
    }
}

// ---------------------------------------------------------------------------
// The bridge

asio::awaitable<void> refuse(state_ptr st, tcp::socket socket, std::string message) {
    core::live_guard guard(st->live);
    asio::steady_timer t(st->io, std::chrono::seconds(2));
    co_await (asio::async_write(socket, asio::buffer(message), as_tuple(use_awaitable)) ||
              t.async_wait(as_tuple(use_awaitable)));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

asio::awaitable<void> client_reader(state_ptr st, std::shared_ptr<bridge_client> c) {
    std::array<char, 4096> buf;
    std::string data;
    for (;;) {
        auto [ec, n] = co_await c->socket.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
        if (ec) {
            if (c->reason.empty()) c->reason = ec == asio::error::eof ? "closed by the client" : ec.message();
            co_return;
        }
        data.clear();
        if (c->filter.feed(std::string_view(buf.data(), n), data) > 0) c->last_beat = clock::now();
        if (data.empty()) continue;
        if (st->raw_active && st->client == c) {
            st->port_out += data;
            st->port_out_ready.notify();
        } else {
            c->to_modem += data;
            if (c->to_modem.size() > st->cfg.bridge_buffer) {
                close_client(*c, "sent more than bridge_buffer while waiting for the modem",
                             "ERROR: too much data while waiting for the modem\r\n");
                co_return;
            }
            st->work.notify();
        }
    }
}

asio::awaitable<void> client_writer(state_ptr st, std::shared_ptr<bridge_client> c) {
    (void)st;
    for (;;) {
        if (!c->to_client.empty() && !c->closing) {
            std::string chunk;
            chunk.swap(c->to_client);
            auto [ec, n] = co_await asio::async_write(c->socket, asio::buffer(chunk), as_tuple(use_awaitable));
            if (ec) {
                if (c->reason.empty()) c->reason = ec.message();
                co_return;
            }
        } else if (c->closing) {
            co_return;
        } else {
            co_await c->out_ready.wait();
        }
    }
}

asio::awaitable<void> heartbeat_watch(state_ptr st, std::shared_ptr<bridge_client> c) {
    asio::steady_timer t(st->io);
    for (;;) {
        if (st->cfg.heartbeat_timeout.count() == 0) {
            t.expires_at(time_point::max());
        } else {
            const auto due = c->last_beat + st->cfg.heartbeat_timeout;
            if (clock::now() >= due) {
                c->reason = "no heartbeat in " + std::to_string(st->cfg.heartbeat_timeout.count()) + " ms";
                co_return;
            }
            t.expires_at(due);
        }
        co_await t.async_wait(as_tuple(use_awaitable));
    }
}

asio::awaitable<void> bridge_session(state_ptr st, std::shared_ptr<bridge_client> c) {
    core::live_guard guard(st->live);
    st->bridge_clients->inc();
    SB_LOG(st->log, notice) << "sms: bridge client " << c->peer << " connected";
    st->clients.insert(c);
    st->client = c;
    st->work.notify();
    co_await (client_reader(st, c) || client_writer(st, c) || heartbeat_watch(st, c));
    if (!c->farewell.empty()) {
        asio::steady_timer t(st->io, std::chrono::seconds(1));
        co_await (asio::async_write(c->socket, asio::buffer(c->farewell), as_tuple(use_awaitable)) ||
                  t.async_wait(as_tuple(use_awaitable)));
    }
    boost::system::error_code ignored;
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    c->socket.close(ignored);
    st->clients.erase(c);
    if (st->client == c) {
        st->client.reset();
        st->work.notify();
    }
    SB_LOG(st->log, notice) << "sms: bridge client " << c->peer << " disconnected ("
                            << (c->reason.empty() ? "closed" : c->reason) << ")";
}

asio::awaitable<void> bridge_accept(state_ptr st) {
    core::live_guard guard(st->live);
    for (;;) {
        auto [ec, socket] = co_await st->bridge_acceptor->async_accept(as_tuple(use_awaitable));
        if (st->stopping) break;  // an accept that completed just before stop()
        if (ec) {
            if (ec == asio::error::operation_aborted) break;
            SB_LOG(st->log, warning) << "sms: bridge accept: " << ec.message();
            continue;
        }
        if (st->client && !st->cfg.kick_old_client) {
            st->bridge_refused->inc();
            SB_LOG(st->log, notice) << "sms: bridge client refused: " << st->client->peer << " is in control";
            asio::co_spawn(st->io,
                           refuse(st, std::move(socket),
                                  "ERROR: the modem is in use by another client (" + st->client->peer + ")\r\n"),
                           asio::detached);
            continue;
        }
        auto c = std::make_shared<bridge_client>(st->io, std::move(socket), st->cfg.heartbeat);
        if (auto old = st->client)
            close_client(*old, "replaced by " + c->peer, "ERROR: replaced by a new client (" + c->peer + ")\r\n");
        asio::co_spawn(st->io, bridge_session(st, std::move(c)), asio::detached);
    }
}

// ---------------------------------------------------------------------------
// The REST API

core::http_reply json_reply(unsigned status, std::string body) {
    return {status, "application/json", std::move(body)};
}

core::http_reply error_reply(unsigned status, std::string message, std::string field = {}) {
    return json_reply(status, error_json({status, std::move(message), std::move(field), {}}));
}

bool authorised(const std::string& token, const core::http_request& req) {
    auto h = req.header("Authorization");
    // RFC 7235 2.1: the scheme is case-insensitive.
    const std::string_view scheme = "bearer ";
    if (h.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(h[i])) != scheme[i]) return false;
    auto given = h.substr(scheme.size());
    // Time independent of where a guess goes wrong, and of its length: every
    // byte of the token is compared whatever was sent.
    unsigned diff = given.size() != token.size();
    for (std::size_t i = 0; i < token.size(); ++i) {
        const char g = i < given.size() ? given[i] : '\0';
        diff |= static_cast<unsigned char>(g ^ token[i]);
    }
    return diff == 0;
}

std::optional<core::http_reply> check_token(const std::string& token, const core::http_request& req) {
    if (authorised(token, req)) return std::nullopt;
    auto r = error_reply(401, "missing or wrong bearer token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

std::optional<std::int64_t> query_int(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        if (pair.substr(0, key.size()) == key && pair.size() > key.size() && pair[key.size()] == '=') {
            pair.remove_prefix(key.size() + 1);
            std::int64_t v = 0;
            auto [end, ec] = std::from_chars(pair.data(), pair.data() + pair.size(), v);
            if (ec != std::errc() || end != pair.data() + pair.size() || v < 0) return std::int64_t{-1};
            return v;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

asio::awaitable<void> ussd_request(state_ptr st, std::string code, core::http_responder respond) {
    core::live_guard guard(st->live);
    auto w = std::make_shared<ussd_wait>(st->io);
    st->ussd = w;
    auto r = co_await exec(st, command("AT+CUSD=1,\"" + code + "\",15"));
    if (r.result.status != at_status::ok) {
        if (st->ussd == w) st->ussd.reset();
        if (r.result.status == at_status::aborted)
            respond(error_reply(503, "modem not available: " + r.final_line));
        else if (r.result.status == at_status::timeout)
            respond(error_reply(504, "the modem did not answer AT+CUSD"));
        else
            respond(error_reply(502, "the modem refused the USSD request: " + r.final_line));
        co_return;
    }
    if (!w->reply && !st->stopping) {
        w->timer.expires_after(st->cfg.ussd_timeout);
        co_await w->timer.async_wait(as_tuple(use_awaitable));
    }
    if (st->ussd == w) st->ussd.reset();
    if (w->reply)
        respond(json_reply(200, ussd_json(*w->reply)));
    else if (!st->port_open)
        respond(error_reply(503, "modem absent"));
    else
        respond(error_reply(504, "no USSD answer from the network in " +
                                     std::to_string(st->cfg.ussd_timeout.count()) + " ms"));
}

core::http_reply handle_sync(state& st, const core::http_request& req, std::string_view path, std::string_view query) {
    const std::string_view sms_prefix = "/v1/sms/", inbox_prefix = "/v1/inbox/";
    if (path == "/v1/sms") {
        if (req.method != "POST") return error_reply(405, "use POST");
        if (!st.port_open && !st.cfg.accept_when_absent) return error_reply(503, "modem absent");
        send_defaults d;
        d.status_report = st.cfg.status_reports;
        d.concat_ref = static_cast<std::uint8_t>(st.rng());
        auto parsed = parse_send_request(req.body, req.header("Idempotency-Key"), d);
        if (auto* e = std::get_if<api_error>(&parsed)) return json_reply(e->status, error_json(*e));
        auto& request = std::get<outbox_request>(parsed);
        std::size_t parts = 0;
        for (auto& p : request.pdus) parts += p.size();
        auto a = st.store->accept(request);
        switch (a.status) {
        case accept_status::accepted:
            SB_LOG(st.log, info) << "sms: accepted message " << a.id << " (" << parts << " parts)";
            st.work.notify();
            return json_reply(202, accepted_json(a.id, parts));
        case accept_status::duplicate:
            return json_reply(409, error_json({409, "idempotency_key already used", "idempotency_key", a.id}));
        case accept_status::rejected: return error_reply(400, a.error);
        }
    }
    if (path.substr(0, sms_prefix.size()) == sms_prefix) {
        if (req.method != "GET") return error_reply(405, "use GET");
        auto m = st.store->message(path.substr(sms_prefix.size()));
        if (!m) return error_reply(404, "no such message");
        return json_reply(200, message_json(*m));
    }
    if (path == "/v1/inbox") {
        if (req.method != "GET") return error_reply(405, "use GET");
        page_request p;
        if (auto limit = query_int(query, "limit")) {
            if (*limit < 1) return error_reply(400, "limit must be a positive number", "limit");
            p.limit = static_cast<std::size_t>(*limit);
        }
        if (auto after = query_int(query, "after")) {
            if (*after < 0) return error_reply(400, "after must be a cursor from \"next\"", "after");
            p.after = *after;
        }
        return json_reply(200, inbox_json(st.store->list_inbox(p)));
    }
    if (path.substr(0, inbox_prefix.size()) == inbox_prefix) {
        auto id = path.substr(inbox_prefix.size());
        if (req.method == "GET") {
            auto m = st.store->inbox_message_by_id(id);
            if (!m) return error_reply(404, "no such message");
            return json_reply(200, inbox_message_json(*m));
        }
        if (req.method != "DELETE") return error_reply(405, "use GET or DELETE");
        if (!st.store->delete_inbox(id)) return error_reply(404, "no such message");
        return {204, "application/json", {}};
    }
    if (path == "/v1/modem") {
        if (req.method != "GET") return error_reply(405, "use GET");
        if (!st.port_open) return json_reply(503, "{\"error\":\"modem absent\",\"state\":\"absent\"}\n");
        return json_reply(200, modem_json(st.status, to_string(st.mstate), st.cfg.device, st.store->counts().queued));
    }
    return error_reply(404, "no such resource");
}

void handle_api(const std::weak_ptr<state>& weak, core::http_request req, core::http_responder respond) {
    auto st = weak.lock();
    if (!st || st->stopping) return respond(error_reply(503, "shutting down"));
    // Checked on the header already (check_header); again here, so that a
    // server without that hook would not skip it.
    if (auto refusal = check_token(st->cfg.api_token, req)) return respond(std::move(*refusal));
    std::string_view target(req.target);
    auto q = target.find('?');
    auto path = target.substr(0, q);
    auto query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    if (path == "/v1/ussd") {
        if (req.method != "POST") return respond(error_reply(405, "use POST"));
        auto parsed = parse_ussd_request(req.body);
        if (auto* e = std::get_if<api_error>(&parsed)) return respond(json_reply(e->status, error_json(*e)));
        if (!st->port_open) return respond(error_reply(503, "modem absent"));
        if (st->raw_active) return respond(error_reply(503, "a bridge client is in control of the modem"));
        if (st->ussd) return respond(error_reply(409, "a USSD request is already in progress"));
        asio::co_spawn(st->io, ussd_request(st, std::get<std::string>(parsed), std::move(respond)), asio::detached);
        return;
    }
    try {
        respond(handle_sync(*st, req, path, query));
    } catch (const std::exception& e) {
        SB_LOG(st->log, error) << "sms: api " << req.method << " " << path << ": " << e.what();
        respond(error_reply(500, "store error"));
    }
}

// ---------------------------------------------------------------------------

class sms_service final : public core::service {
public:
    sms_service(sms_config cfg, core::host_context& ctx)
        : st_(std::make_shared<state>(ctx.io, std::move(cfg), ctx.log.with_channel("sms"))), metrics_(ctx.metrics) {
        auto& m = ctx.metrics;
        auto& st = *st_;
        st.sent = &m.add_counter("sms_sent_total", "Parts the network accepted", metric_labels);
        st.failed = &m.add_counter("sms_failed_total", "Parts given up", metric_labels);
        st.unknown = &m.add_counter("sms_unknown_total", "Parts with no answer (maybe sent)", metric_labels);
        st.received = &m.add_counter("sms_received_parts_total", "Parts read from the modem", metric_labels);
        st.reports = &m.add_counter("sms_status_reports_total", "Delivery reports", metric_labels);
        st.bridge_clients = &m.add_counter("sms_bridge_clients_total", "Bridge clients accepted", metric_labels);
        st.bridge_refused = &m.add_counter("sms_bridge_refused_total", "Bridge clients refused", metric_labels);
        st.reopens = &m.add_counter("sms_port_opens_total", "Serial port opens", metric_labels);
        std::weak_ptr<state> w = st_;
        m.add_gauge("sms_modem_up", "1 when the serial port is open", metric_labels, [w] {
            auto s = w.lock();
            return s && s->port_open ? 1.0 : 0.0;
        });
        m.add_gauge("sms_outbox_queued", "Parts waiting to be sent", metric_labels, [w] {
            auto s = w.lock();
            try {
                return s && s->store ? static_cast<double>(s->store->counts().queued) : 0.0;
            } catch (const std::exception&) {
                return -1.0;
            }
        });
    }

    std::string name() const override { return "sms " + st_->cfg.device; }

    void start() override {
        auto& st = *st_;
        try {
            auto dir = std::filesystem::path(st.cfg.store).parent_path();
            if (!dir.empty()) std::filesystem::create_directories(dir);
            st.store.emplace(sms_store::open(st.cfg.store));
        } catch (const std::exception& e) {
            throw core::config_error("[sms] store: " + st.cfg.store + ": " + e.what());
        }
        if (st.store->recovered_unknown())
            SB_LOG(st.log, warning) << "sms: " << st.store->recovered_unknown()
                                    << " part(s) were being sent when the process ended: marked unknown, not sent again";
        if (st.cfg.bridge_listen) {
            st.bridge_acceptor.emplace(st.io);
            core::open_listener(*st.bridge_acceptor, *st.cfg.bridge_listen);
            SB_LOG(st.log, notice) << "sms: bridge listening on " << st.cfg.bridge_listen->to_string();
        }
        if (st.cfg.api_listen) {
            core::http_options o;
            o.read_only = false;
            o.body_limit = st.cfg.max_body;
            o.max_sessions = st.cfg.api_max_connections;
            o.check_header = [token = st.cfg.api_token](const core::http_request& req) { return check_token(token, req); };
            // A USSD request may wait behind an AT+CMGS in the engine's queue.
            o.reply_timeout = std::chrono::duration_cast<std::chrono::seconds>(st.cfg.send_timeout + st.cfg.ussd_timeout) +
                              std::chrono::seconds(30);
            st.api = std::make_unique<core::admin_http>(st.io, *st.cfg.api_listen, st.log, o);
            std::weak_ptr<state> w = st_;
            st.api->fallback([w](core::http_request req, core::http_responder respond) {
                handle_api(w, std::move(req), std::move(respond));
            });
            st.api->start();
        }
        if (st.bridge_acceptor) asio::co_spawn(st.io, bridge_accept(st_), asio::detached);
        asio::co_spawn(st.io, port_loop(st_), asio::detached);
    }

    void stop(std::chrono::steady_clock::duration grace) override {
        auto st = st_;
        st->stopping = true;
        boost::system::error_code ignored;
        if (st->bridge_acceptor) st->bridge_acceptor->close(ignored);
        if (st->api) st->api->stop();
        for (auto& c : st->clients) close_client(*c, "shutting down", {});
        st->backoff_timer.cancel();
        fail_ussd(*st);
        st->work.notify();
        metrics_.remove_labelled(metric_labels);
        // A send in flight gets the grace period to be answered (else it
        // would be `unknown` after the restart); then the port closes.
        st->stop_timer.expires_after(std::min<clock::duration>(grace, std::chrono::seconds(10)));
        st->stop_timer.async_wait([st](boost::system::error_code) {
            boost::system::error_code ignored;
            st->port.close(ignored);
            for (auto& c : st->clients) c->socket.close(ignored);
        });
    }

    bool stopped() const override {
        if (st_->stopping && st_->live == 0) {
            st_->stop_timer.cancel();
            return true;
        }
        return false;
    }

private:
    std::shared_ptr<state> st_;
    core::metrics_registry& metrics_;
};

class sms_plugin final : public core::plugin {
public:
    std::string_view name() const override { return "sms"; }
    std::vector<std::unique_ptr<core::service>> configure(const std::vector<core::ini_section>& sections,
                                                          core::host_context& ctx) override {
        std::vector<std::unique_ptr<core::service>> out;
        if (sections.empty()) return out;
        out.push_back(std::make_unique<sms_service>(parse_sms_config(sections), ctx));
        return out;
    }
};

}  // namespace

std::unique_ptr<core::plugin> make_sms_plugin() { return std::make_unique<sms_plugin>(); }

}  // namespace sb::sms
