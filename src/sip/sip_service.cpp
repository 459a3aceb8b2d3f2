#include "sip/sip_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <queue>
#include <random>
#include <unordered_map>

#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/tcp_server.hpp"
#include "sip/rtp.hpp"
#include "sip/tone.hpp"

namespace sb::sip {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

using core::notifier;

constexpr auto frame = std::chrono::milliseconds(20);
constexpr std::uint32_t frame_samples = 160;
constexpr std::uint32_t rtcp_every = 250;  // packets: an SR every 5 s
// Packets due this soon are sent in the same wake-up: one timer wait per
// half millisecond at most, whatever the number of calls.
constexpr auto pacing_slack = std::chrono::microseconds(500);
constexpr std::size_t max_batch = 256;

struct rtp_stream {
    rtp_stream(udp::socket r, udp::socket c) : rtp(std::move(r)), rtcp(std::move(c)) {}
    std::uint64_t call = 0;
    std::uint16_t port = 0;
    udp::socket rtp, rtcp;
    udp::endpoint remote;
    codec law = codec::pcmu;
    int payload = 0;
    std::optional<int> dtmf_payload;
    bool send = true;
    bool stopped = false;
    bool latched = false;
    std::uint32_t ssrc = 0, timestamp = 0, packets = 0, octets = 0;
    std::uint16_t sequence = 0;
    std::size_t tone_offset = 0;
    bool first = true;
    clock::time_point next_due, started;
    dtmf_detector dtmf;
    jitter_estimator jitter;
    clock::time_point rx_start;
    bool rx_started = false;
    std::uint64_t rx_packets = 0;
    std::string digits;
};

struct sip_metrics {
    core::counter* rtp_sent = nullptr;
    core::counter* rtp_received = nullptr;
    core::counter* rtp_send_errors = nullptr;
    core::counter* dtmf = nullptr;
    core::counter* late_frames = nullptr;
    core::histogram* jitter = nullptr;  // per call at its end
};

struct state;

class ports final : public port_allocator {
public:
    ports(asio::io_context& io, std::string address, std::uint16_t first, std::uint16_t last)
        : io_(io), address_(std::move(address)), first_(static_cast<std::uint16_t>(first + (first & 1))), last_(last),
          cursor_(first_) {}

    std::optional<std::uint16_t> allocate() override {
        // Even ports, RTCP on the next odd one (RFC 3550 11); skip ports in
        // use by someone else.
        const std::size_t slots = (last_ - first_) / 2;
        for (std::size_t tried = 0; tried < slots; ++tried) {
            std::uint16_t p = cursor_;
            cursor_ = static_cast<std::uint16_t>(cursor_ + 2 > last_ - 1 ? first_ : cursor_ + 2);
            if (taken_.count(p)) continue;
            boost::system::error_code ec;
            auto addr = asio::ip::make_address(address_, ec);
            if (ec) return std::nullopt;
            udp::socket r(io_), c(io_);
            r.open(addr.is_v6() ? udp::v6() : udp::v4(), ec);
            if (!ec) r.bind({addr, p}, ec);
            if (!ec) c.open(addr.is_v6() ? udp::v6() : udp::v4(), ec);
            if (!ec) c.bind({addr, static_cast<std::uint16_t>(p + 1)}, ec);
            if (ec) continue;
            r.non_blocking(true, ec);
            c.non_blocking(true, ec);
            taken_.emplace(p, std::make_pair(std::move(r), std::move(c)));
            return p;
        }
        return std::nullopt;
    }
    void release(std::uint16_t port) override { taken_.erase(port); }
    // The bound sockets of an allocated port, for its stream.
    std::optional<std::pair<udp::socket, udp::socket>> take(std::uint16_t port) {
        auto it = taken_.find(port);
        if (it == taken_.end() || !it->second.first.is_open()) return std::nullopt;
        auto s = std::move(it->second);
        it->second.first = udp::socket(io_);  // still counted as taken until released
        return s;
    }
    std::size_t in_use() const { return taken_.size(); }

private:
    asio::io_context& io_;
    std::string address_;
    std::uint16_t first_, last_, cursor_;
    std::unordered_map<std::uint16_t, std::pair<udp::socket, udp::socket>> taken_;
};

struct tcp_conn {
    tcp_conn(tcp::socket s, asio::io_context& io) : sock(std::move(s)), ready(io) {}
    tcp::socket sock;
    std::string out, writing;
    notifier ready;
    bool closed = false;
};

struct state {
    state(asio::io_context& io, sip_config c, core::logger lg)
        : io(io),
          cfg(std::move(c)),
          log(std::move(lg)),
          tone_table(cfg.tone_frequency, cfg.tone_level_dbfs, cfg.sample_rate),
          port_pool(io, cfg.bind_address, cfg.rtp_port_start, cfg.rtp_port_end),
          engine(cfg.uas, port_pool, std::random_device{}()),
          udp_sock(io),
          engine_timer(io, asio::steady_timer::time_point::max()),
          pacer_timer(io, asio::steady_timer::time_point::max()),
          stats_timer(io),
          rng(std::random_device{}()) {}

    asio::io_context& io;
    sip_config cfg;
    core::logger log;
    tone tone_table;
    ports port_pool;
    uas_engine engine;
    udp::socket udp_sock;
    std::optional<tcp::acceptor> acceptor;
    std::unordered_map<std::uint64_t, std::shared_ptr<tcp_conn>> conns;
    std::uint64_t next_conn = 1;
    asio::steady_timer engine_timer;
    clock::time_point engine_armed = clock::time_point::max();
    std::unordered_map<std::uint64_t, std::shared_ptr<rtp_stream>> streams;  // by call
    struct due {
        clock::time_point when;
        std::uint64_t call;
        bool operator>(const due& o) const { return when > o.when; }
    };
    std::priority_queue<due, std::vector<due>, std::greater<>> pacing;
    asio::steady_timer pacer_timer;
    clock::time_point pacer_armed = clock::time_point::max();
    asio::steady_timer stats_timer;
    std::mt19937 rng;
    sip_metrics m;
    uas_output out;
    bool stopping = false;
    int live = 0;
};

udp::endpoint make_endpoint(const std::string& ip, std::uint16_t port) {
    boost::system::error_code ec;
    auto a = asio::ip::make_address(ip, ec);
    return ec ? udp::endpoint{} : udp::endpoint{a, port};
}

void send_rtcp(state& st, rtp_stream& s, bool bye) {
    std::array<std::uint8_t, max_rtcp_size> buf{};
    sender_report sr{s.ssrc, ntp_timestamp(std::chrono::system_clock::now()), s.timestamp, s.packets, s.octets};
    std::size_t n = bye ? write_rtcp_bye(sr, "tone@switchboard", "call ended", buf)
                        : write_rtcp_report(sr, "tone@switchboard", buf);
    if (n == 0 || s.remote.port() == 0) return;
    boost::system::error_code ec;
    udp::endpoint to(s.remote.address(), static_cast<std::uint16_t>(s.remote.port() + 1));
    s.rtcp.send_to(asio::buffer(buf.data(), n), to, 0, ec);
    (void)st;
}

// One 20 ms frame of the tone.
void send_frame(state& st, rtp_stream& s) {
    std::array<std::uint8_t, rtp_header_size + frame_samples> pkt{};
    rtp_header h{s.first, static_cast<std::uint8_t>(s.payload), s.sequence, s.timestamp, s.ssrc};
    write_rtp_header(h, pkt);
    s.tone_offset = st.tone_table.fill(s.law, s.tone_offset, std::span(pkt).subspan(rtp_header_size));
    boost::system::error_code ec;
    s.rtp.send_to(asio::buffer(pkt), s.remote, 0, ec);
    if (ec) {
        st.m.rtp_send_errors->inc();
    } else {
        st.m.rtp_sent->inc();
        ++s.packets;
        s.octets += frame_samples;
        s.first = false;
    }
    ++s.sequence;
    s.timestamp += frame_samples;
    if (s.packets % rtcp_every == 0 && s.packets) send_rtcp(st, s, false);
}

// Every stream keeps its own 20 ms grid from its start: a packet is sent
// when due (never early by more than the slack), the next is due exactly
// 20 ms after the previous due time, so there is no drift; after a stall
// the missed frames are skipped (timestamps jump) rather than sent in a burst.
awaitable<void> pacer(std::shared_ptr<state> st) {
    core::live_guard lg(st->live);
    while (!st->stopping) {
        if (st->pacing.empty()) {
            st->pacer_armed = clock::time_point::max();
            st->pacer_timer.expires_at(st->pacer_armed);
        } else {
            st->pacer_armed = st->pacing.top().when;
            st->pacer_timer.expires_at(st->pacer_armed);
        }
        (void)co_await st->pacer_timer.async_wait(use_tuple);
        if (st->stopping) break;
        auto now = clock::now();
        std::size_t batch = 0;
        while (!st->pacing.empty() && st->pacing.top().when <= now + pacing_slack && ++batch <= max_batch) {
            auto d = st->pacing.top();
            st->pacing.pop();
            auto it = st->streams.find(d.call);
            if (it == st->streams.end() || it->second->stopped || it->second->next_due != d.when) continue;
            auto& s = *it->second;
            if (now - s.next_due >= frame) {
                auto missed = static_cast<std::uint32_t>((now - s.next_due) / frame);
                st->m.late_frames->inc(missed);
                s.timestamp += missed * frame_samples;
                s.tone_offset = (s.tone_offset + std::size_t{missed} * frame_samples) % st->tone_table.period();
                s.next_due += missed * frame;
            }
            if (s.send) {
                send_frame(*st, s);
            } else {
                // On hold the clock goes on: the first packet after resuming
                // carries the timestamp of its real time (RFC 3550 5.1).
                s.timestamp += frame_samples;
                s.tone_offset = (s.tone_offset + frame_samples) % st->tone_table.period();
            }
            s.next_due += frame;
            st->pacing.push({s.next_due, s.call});
        }
        if (batch > max_batch) {
            // Let SIP and the receivers run between batches; the rest of
            // the due frames follow at once.
            co_await asio::post(st->io, asio::use_awaitable);
        }
    }
}

void schedule_stream(state& st, rtp_stream& s) {
    st.pacing.push({s.next_due, s.call});
    if (s.next_due < st.pacer_armed) st.pacer_timer.cancel();
}

// Received RTP: RFC 4733 digits, jitter, and the caller's real address
// (symmetric RTP: we answer where its packets come from).
awaitable<void> rtp_receiver(std::shared_ptr<state> st, std::shared_ptr<rtp_stream> s) {
    core::live_guard lg(st->live);
    std::array<std::uint8_t, 2048> buf{};
    udp::endpoint from;
    while (!st->stopping && !s->stopped) {
        auto [ec, n] = co_await s->rtp.async_receive_from(asio::buffer(buf), from, use_tuple);
        if (ec || s->stopped) break;
        rtp_packet p;
        if (parse_rtp(std::span(buf.data(), n), p) != rtp_status::ok) continue;
        st->m.rtp_received->inc();
        ++s->rx_packets;
        if (!s->latched && from != s->remote) {
            SB_LOG(st->log, debug) << "call " << s->call << ": RTP from " << from << ", sending there";
            s->remote = from;
        }
        s->latched = true;
        if (s->dtmf_payload && p.header.payload_type == *s->dtmf_payload) {
            for (auto& e : s->dtmf.on_packet(p)) {
                char digit = dtmf_digit(e.event);
                s->digits += digit;
                st->m.dtmf->inc();
                SB_LOG(st->log, info) << "call " << s->call << ": DTMF '" << digit << "'";
            }
            continue;
        }
        auto now = clock::now();
        if (!s->rx_started) {
            s->rx_started = true;
            s->rx_start = now;
        }
        auto units = static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - s->rx_start).count() * 8 / 1000);
        s->jitter.update(units, p.header.timestamp);
    }
}

void stop_stream(state& st, std::uint64_t call) {
    auto it = st.streams.find(call);
    if (it == st.streams.end()) return;
    auto s = it->second;
    st.streams.erase(it);
    s->stopped = true;
    send_rtcp(st, *s, true);
    auto secs = std::chrono::duration<double>(clock::now() - s->started).count();
    st.m.jitter->observe(std::chrono::microseconds(s->jitter.jitter() * 1000 / 8));
    SB_LOG(st.log, info) << "call " << call << ": media ended after " << secs << " s, " << s->packets << " packets sent, "
                         << s->rx_packets << " received" << (s->digits.empty() ? "" : ", DTMF " + s->digits);
    boost::system::error_code ignored;
    s->rtp.close(ignored);
    s->rtcp.close(ignored);
}

void send_sip(state& st, const outgoing& o);

void perform(const std::shared_ptr<state>& st) {
    uas_output out = std::move(st->out);
    st->out.clear();
    for (auto& note : out.notes) SB_LOG(st->log, info) << note;
    for (auto& o : out.sends) send_sip(*st, o);
    for (auto& mc : out.media) {
        switch (mc.what) {
            case media_command::op::start: {
                auto socks = st->port_pool.take(mc.local_port);
                if (!socks) {
                    SB_LOG(st->log, warning) << "call " << mc.call << ": RTP port " << mc.local_port << " not bound";
                    break;
                }
                auto s = std::make_shared<rtp_stream>(std::move(socks->first), std::move(socks->second));
                s->call = mc.call;
                s->port = mc.local_port;
                s->remote = make_endpoint(mc.remote_ip, mc.remote_port);
                s->law = mc.law;
                s->payload = mc.payload;
                s->dtmf_payload = mc.dtmf_payload;
                s->send = mc.send && s->remote.port() != 0;
                s->ssrc = st->rng();
                s->sequence = static_cast<std::uint16_t>(st->rng());
                s->timestamp = st->rng();
                s->started = s->next_due = clock::now();
                st->streams[mc.call] = s;
                schedule_stream(*st, *s);
                asio::co_spawn(st->io, rtp_receiver(st, s), asio::detached);
                SB_LOG(st->log, info) << "call " << mc.call << ": tone to " << s->remote << " from port " << mc.local_port
                                      << (mc.law == codec::pcma ? " PCMA" : " PCMU");
                break;
            }
            case media_command::op::update: {
                auto it = st->streams.find(mc.call);
                if (it == st->streams.end()) break;
                auto& s = *it->second;
                if (!s.latched) s.remote = make_endpoint(mc.remote_ip, mc.remote_port);
                bool was = s.send;
                s.send = mc.send && s.remote.port() != 0;
                if (s.send && !was) s.first = true;  // marker after a pause (RFC 3551 4.1)
                SB_LOG(st->log, info) << "call " << mc.call << (s.send ? ": tone resumed" : ": on hold, tone paused");
                break;
            }
            case media_command::op::stop: stop_stream(*st, mc.call); break;
        }
    }
    if (auto d = st->engine.deadline(); d && *d < st->engine_armed) st->engine_timer.cancel();
}

void send_sip(state& st, const outgoing& o) {
    SB_LOG(st.log, trace) << "send to " << o.to.ip << ":" << o.to.port << "\n" << o.data;
    if (o.to.proto == transport::udp) {
        boost::system::error_code ec;
        st.udp_sock.send_to(asio::buffer(o.data), make_endpoint(o.to.ip, o.to.port), 0, ec);
        if (ec) SB_LOG(st.log, debug) << "send to " << o.to.ip << ":" << o.to.port << ": " << ec.message();
        return;
    }
    auto it = st.conns.find(o.to.connection);
    if (it == st.conns.end() || it->second->closed) return;
    it->second->out += o.data;
    it->second->ready.notify();
}

awaitable<void> engine_timer_loop(std::shared_ptr<state> st) {
    core::live_guard lg(st->live);
    while (!st->stopping) {
        auto d = st->engine.deadline();
        st->engine_armed = d ? *d : clock::time_point::max();
        st->engine_timer.expires_at(st->engine_armed);
        (void)co_await st->engine_timer.async_wait(use_tuple);
        if (st->stopping) break;
        st->engine.on_timer(clock::now(), st->out);
        perform(st);
    }
}

awaitable<void> udp_receiver(std::shared_ptr<state> st) {
    core::live_guard lg(st->live);
    std::vector<char> buf(65536);
    udp::endpoint from;
    while (!st->stopping) {
        auto [ec, n] = co_await st->udp_sock.async_receive_from(asio::buffer(buf), from, use_tuple);
        if (st->stopping || ec == asio::error::operation_aborted) break;
        if (ec) continue;  // ICMP errors surface here on Linux: not ours to act on
        // Drain what else is queued (bounded): under load signalling must not
        // wait one datagram per turn behind thousands of RTP sends.
        for (int more = 0; more < 64; ++more) {
            peer_address peer{transport::udp, from.address().to_string(), from.port(), 0};
            SB_LOG(st->log, trace) << "from " << from << "\n" << std::string_view(buf.data(), n);
            st->engine.on_datagram(std::string_view(buf.data(), n), peer, clock::now(), st->out);
            perform(st);
            boost::system::error_code again;
            n = st->udp_sock.receive_from(asio::buffer(buf), from, 0, again);
            if (again) break;
        }
    }
}

awaitable<void> tcp_writer(std::shared_ptr<state> st, std::shared_ptr<tcp_conn> c) {
    core::live_guard lg(st->live);
    while (!st->stopping && !c->closed) {
        if (c->out.empty()) {
            co_await c->ready.wait();
            continue;
        }
        std::swap(c->out, c->writing);
        auto [ec, n] = co_await asio::async_write(c->sock, asio::buffer(c->writing), use_tuple);
        c->writing.clear();
        if (ec) break;
    }
}

awaitable<void> tcp_session(std::shared_ptr<state> st, std::shared_ptr<tcp_conn> c, std::uint64_t id) {
    core::live_guard lg(st->live);
    boost::system::error_code ignored;
    auto remote = c->sock.remote_endpoint(ignored);
    peer_address peer{transport::tcp, remote.address().to_string(), remote.port(), id};
    stream_framer framer(st->cfg.uas.limits);
    std::vector<char> buf(16384);
    asio::co_spawn(st->io, tcp_writer(st, c), asio::detached);
    while (!st->stopping) {
        auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), use_tuple);
        if (ec) break;
        framer.feed(std::string_view(buf.data(), n));
        bool fatal = false;
        for (;;) {
            sip_message m;
            auto status = framer.next(m);
            if (status == stream_framer::status::need_more) break;
            if (status == stream_framer::status::message) {
                st->engine.on_message(m, peer, clock::now(), st->out);
                perform(st);
            } else if (status == stream_framer::status::keepalive) {
                c->out += "\r\n";  // RFC 5626 pong
                c->ready.notify();
            } else {
                SB_LOG(st->log, notice) << "TCP " << remote << ": " << to_string(framer.error())
                                        << (status == stream_framer::status::error ? ": closing" : ": message dropped");
                if (status == stream_framer::status::error) {
                    fatal = true;
                    break;
                }
            }
        }
        if (fatal) break;
    }
    c->closed = true;
    c->ready.notify();
    c->sock.close(ignored);
    st->conns.erase(id);
}

awaitable<void> tcp_acceptor(std::shared_ptr<state> st) {
    core::live_guard lg(st->live);
    while (!st->stopping && st->acceptor) {
        auto [ec, s] = co_await st->acceptor->async_accept(use_tuple);
        if (st->stopping || ec == asio::error::operation_aborted) break;
        if (ec) continue;
        if (st->conns.size() >= st->cfg.max_tcp_connections) {
            SB_LOG(st->log, notice) << "TCP connection refused: " << st->conns.size() << " open (max_tcp_connections)";
            continue;
        }
        auto id = st->next_conn++;
        auto c = std::make_shared<tcp_conn>(std::move(s), st->io);
        st->conns[id] = c;
        asio::co_spawn(st->io, tcp_session(st, c, id), asio::detached);
    }
}

awaitable<void> stats_logger(std::shared_ptr<state> st) {
    core::live_guard lg(st->live);
    if (st->cfg.stats_interval <= clock::duration::zero()) co_return;
    auto& t = st->stats_timer;
    while (!st->stopping) {
        t.expires_after(st->cfg.stats_interval);
        (void)co_await t.async_wait(use_tuple);
        if (st->stopping) break;
        auto& s = st->engine.stats();
        SB_LOG(st->log, notice) << "calls: " << s.total << " total, " << s.active << " active, " << s.answered
                                << " answered, " << s.completed << " completed, " << s.failed << " failed, "
                                << s.rejected << " rejected, " << s.cancelled << " cancelled";
    }
}

class sip_service final : public core::service {
public:
    sip_service(sip_config cfg, core::host_context& host)
        : st_(std::make_shared<state>(host.io, std::move(cfg), host.log.with_channel("sip"))),
          metrics_(host.metrics),
          stop_timer_(host.io) {
        auto& m = host.metrics;
        const std::string l = "plugin=\"sip\"";
        st_->m.rtp_sent = &m.add_counter("sb_sip_rtp_packets_sent_total", "RTP packets sent", l);
        st_->m.rtp_received = &m.add_counter("sb_sip_rtp_packets_received_total", "RTP packets received", l);
        st_->m.rtp_send_errors = &m.add_counter("sb_sip_rtp_send_errors_total", "RTP packets the kernel refused", l);
        st_->m.dtmf = &m.add_counter("sb_sip_dtmf_events_total", "RFC 4733 events received", l);
        st_->m.late_frames = &m.add_counter("sb_sip_rtp_late_frames_total", "Frames skipped after a stall", l);
        st_->m.jitter = &m.add_histogram("sb_sip_rtp_jitter_seconds", "Interarrival jitter of each call's received RTP", l);
        auto w = std::weak_ptr<state>(st_);
        auto stat = [w](auto field) {
            return [w, field] {
                auto s = w.lock();
                return s ? double(field(s->engine.stats())) : 0.0;
            };
        };
        m.add_gauge("sb_sip_calls_total", "Call attempts", l, stat([](const uas_stats& s) { return s.total; }));
        m.add_gauge("sb_sip_calls_active", "Calls in progress", l, stat([](const uas_stats& s) { return s.active; }));
        m.add_gauge("sb_sip_calls_answered_total", "Calls answered", l, stat([](const uas_stats& s) { return s.answered; }));
        m.add_gauge("sb_sip_calls_completed_total", "Calls ended by a BYE", l, stat([](const uas_stats& s) { return s.completed; }));
        m.add_gauge("sb_sip_calls_failed_total", "Calls lost (no ACK, no BYE answer, no port)", l,
                    stat([](const uas_stats& s) { return s.failed; }));
        m.add_gauge("sb_sip_calls_rejected_total", "INVITEs answered 4xx/5xx", l, stat([](const uas_stats& s) { return s.rejected; }));
        m.add_gauge("sb_sip_calls_cancelled_total", "Calls cancelled before the answer", l,
                    stat([](const uas_stats& s) { return s.cancelled; }));
        m.add_gauge("sb_sip_bad_messages_total", "Messages that did not parse", l,
                    stat([](const uas_stats& s) { return s.bad_messages; }));
    }

    std::string name() const override { return "sip"; }

    void start() override {
        auto& st = *st_;
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(st.cfg.bind_address, ec);
        if (ec) throw std::system_error(ec, "[sip] bind_address '" + st.cfg.bind_address + "'");
        if (st.cfg.udp) {
            st.udp_sock.open(addr.is_v6() ? udp::v6() : udp::v4());
            st.udp_sock.bind({addr, st.cfg.port}, ec);
            if (ec)
                throw std::system_error(ec, "SIP UDP " + st.cfg.bind_address + ":" + std::to_string(st.cfg.port));
            // Thousands of calls' worth of INVITEs, ACKs and BYEs arrive in bursts.
            st.udp_sock.set_option(udp::socket::receive_buffer_size(4 << 20), ec);
            st.udp_sock.non_blocking(true, ec);
        }
        if (st.cfg.tcp) {
            st.acceptor.emplace(st.io);
            core::open_listener(*st.acceptor, core::endpoint{st.cfg.bind_address, st.cfg.port});
        }
        asio::co_spawn(st.io, engine_timer_loop(st_), asio::detached);
        asio::co_spawn(st.io, pacer(st_), asio::detached);
        asio::co_spawn(st.io, stats_logger(st_), asio::detached);
        if (st.cfg.udp) asio::co_spawn(st.io, udp_receiver(st_), asio::detached);
        if (st.acceptor) asio::co_spawn(st.io, tcp_acceptor(st_), asio::detached);
        SB_LOG(st.log, notice) << "SIP on " << st.cfg.bind_address << ":" << st.cfg.port << " ("
                               << (st.cfg.udp && st.cfg.tcp ? "udp+tcp" : st.cfg.udp ? "udp" : "tcp") << "), tone "
                               << st.tone_table.frequency_hz() << " Hz for "
                               << std::chrono::duration<double>(st.cfg.uas.tone_duration).count() << " s, RTP ports "
                               << st.cfg.rtp_port_start << "-" << st.cfg.rtp_port_end << ", up to "
                               << st.cfg.uas.max_calls << " calls";
    }

    // Answered calls get our BYE and unanswered ones a 503; the sockets stay
    // open a moment so those reach the callers, then everything closes.
    void stop(std::chrono::steady_clock::duration grace) override {
        auto st = st_;
        boost::system::error_code ignored;
        if (st->acceptor) st->acceptor->close(ignored);
        st->engine.hang_up_all(clock::now(), st->out);
        perform(st);
        metrics_.remove_labelled("plugin=\"sip\"");
        stop_timer_.expires_after(std::min<clock::duration>(grace, std::chrono::milliseconds(500)));
        stop_timer_.async_wait([st](boost::system::error_code) {
            st->stopping = true;
            boost::system::error_code ignored;
            st->udp_sock.close(ignored);
            for (auto& [id, c] : st->conns) {
                c->closed = true;
                c->sock.close(ignored);
                c->ready.notify();
            }
            for (auto& [id, s] : st->streams) {
                s->stopped = true;
                s->rtp.close(ignored);
                s->rtcp.close(ignored);
            }
            st->engine_timer.cancel();
            st->pacer_timer.cancel();
            st->stats_timer.cancel();
        });
    }

    bool stopped() const override { return st_->stopping && st_->live == 0; }

private:
    std::shared_ptr<state> st_;
    core::metrics_registry& metrics_;
    asio::steady_timer stop_timer_;
};

class sip_plugin final : public core::plugin {
public:
    std::string_view name() const override { return "sip"; }
    std::vector<std::unique_ptr<core::service>> configure(const std::vector<core::ini_section>& sections,
                                                          core::host_context& ctx) override {
        std::vector<std::unique_ptr<core::service>> out;
        if (sections.empty()) return out;
        auto cfg = sip_config_from(sections);
        try {
            out.push_back(make_sip_service(std::move(cfg), ctx));
        } catch (const std::invalid_argument& e) {
            throw core::config_error(std::string("[sip.behavior] tone: ") + e.what());
        }
        return out;
    }
};

}  // namespace

std::unique_ptr<core::service> make_sip_service(sip_config cfg, core::host_context& ctx) {
    return std::make_unique<sip_service>(std::move(cfg), ctx);
}

std::unique_ptr<core::plugin> make_sip_plugin() { return std::make_unique<sip_plugin>(); }

}  // namespace sb::sip
