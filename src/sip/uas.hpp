#pragma once
// The auto-answering user agent server, sans-I/O: SIP messages and timer
// ticks in, messages to send and media commands out. It holds the INVITE
// and non-INVITE server transactions (RFC 3261 17.2, RFC 6026), the dialogs
// and the BYE client transactions it starts itself. No sockets and no clock
// of its own: tests drive it with a fake time and read what it would send.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sip/g711.hpp"
#include "sip/sdp.hpp"
#include "sip/sip_message.hpp"

namespace sb::sip {

using clock = std::chrono::steady_clock;

enum class transport : std::uint8_t { udp, tcp };

struct peer_address {
    transport proto = transport::udp;
    std::string ip;
    std::uint16_t port = 0;
    std::uint64_t connection = 0;  // TCP: which connection (replies go back on it)
};

struct uas_config {
    std::string local_ip = "127.0.0.1";  // in Via, Contact, o= and c=
    std::uint16_t local_port = 5060;
    std::string domain;                  // informational (Contact user part host)
    bool auto_answer = true;
    clock::duration answer_delay = std::chrono::milliseconds(1000);
    clock::duration tone_duration = std::chrono::seconds(30);
    std::size_t max_calls = 100;
    bool busy_as_503 = false;  // over the limit: 503 + Retry-After instead of 486
    std::vector<std::string> codecs{"PCMU", "PCMA"};
    bool enable_dtmf = true;
    clock::duration t1 = std::chrono::milliseconds(500);
    clock::duration t2 = std::chrono::seconds(4);
    std::string user_agent = "Switchboard tone server";
    message_limits limits;
};

// What the media side must do for a call.
struct media_command {
    enum class op : std::uint8_t { start, update, stop };
    op what = op::start;
    std::uint64_t call = 0;
    std::uint16_t local_port = 0;
    std::string remote_ip;
    std::uint16_t remote_port = 0;
    int payload = 0;
    codec law = codec::pcmu;
    std::optional<int> dtmf_payload;
    bool send = true;  // false while the caller holds the call
};

struct outgoing {
    peer_address to;
    std::string data;
};

struct uas_output {
    std::vector<outgoing> sends;
    std::vector<media_command> media;
    std::vector<std::string> notes;  // one line per noteworthy event, for the log
    void clear() {
        sends.clear();
        media.clear();
        notes.clear();
    }
};

// RTP ports come from the media side, which binds them.
class port_allocator {
public:
    virtual ~port_allocator() = default;
    virtual std::optional<std::uint16_t> allocate() = 0;
    virtual void release(std::uint16_t port) = 0;
};

struct uas_stats {
    std::uint64_t total = 0;     // INVITEs that started a call attempt
    std::uint64_t answered = 0;  // 200 OK sent
    std::uint64_t completed = 0; // ended by a BYE after being answered
    std::uint64_t failed = 0;    // no ACK, BYE timed out, no port
    std::uint64_t rejected = 0;  // 4xx/5xx to an INVITE (busy, 488, 420, ...)
    std::uint64_t cancelled = 0;
    std::uint64_t bad_messages = 0;
    std::size_t active = 0;
};

class uas_engine {
public:
    uas_engine(uas_config cfg, port_allocator& ports, std::uint64_t seed);

    // A UDP datagram (or one framed TCP message's text).
    void on_datagram(std::string_view data, const peer_address& from, clock::time_point now, uas_output& out);
    void on_message(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);
    void on_timer(clock::time_point now, uas_output& out);
    std::optional<clock::time_point> deadline() const;

    // Shutdown: BYE to every answered call, 503 to calls not yet answered.
    void hang_up_all(clock::time_point now, uas_output& out);

    const uas_stats& stats() const { return stats_; }
    std::size_t pending_transactions() const { return cache_.size() + rejects_.size(); }
    const uas_config& config() const { return cfg_; }

private:
    enum class call_state : std::uint8_t { ringing, answered, confirmed, ending };
    struct call {
        std::uint64_t id = 0;
        call_state state = call_state::ringing;
        sip_message invite;  // the INVITE (or re-INVITE) being answered
        std::string invite_branch;
        std::vector<std::string> branches;  // every INVITE branch of the call, to forget at the end
        peer_address peer;
        std::string local_tag;
        std::string last_response;  // for a retransmitted INVITE
        std::string remote_target;  // Contact of the INVITE
        std::vector<std::string> route_set;
        std::string their_from, our_to;  // header values for our BYE
        std::uint32_t local_cseq = 0;
        std::uint16_t rtp_port = 0;
        bool offer_in_invite = true;
        media_choice media;
        std::string local_sdp;
        local_media local;
        bool media_running = false;
        clock::time_point answer_at{}, hangup_at{};
        // 2xx retransmission until ACK
        clock::time_point retransmit_at{}, give_up_at{};
        clock::duration retransmit_interval{};
        // our BYE
        std::string bye_branch, bye_text;
        peer_address bye_to;
        clock::time_point bye_at{}, bye_give_up{};
        clock::duration bye_interval{};
    };
    struct cached_response {  // non-INVITE server transactions (Timer J)
        std::string text;
        peer_address to;
        clock::time_point expires;
    };
    struct rejected_invite {  // non-2xx final to an INVITE, resent until ACK (Timer G/H)
        std::string text;
        peer_address to;
        clock::time_point next, give_up;
        clock::duration interval;
        bool acked = false;  // Confirmed: stop resending, still absorb retransmissions
    };
    enum class timer_kind : std::uint8_t { call, reject, cache };
    struct timer_entry {
        clock::time_point when;
        timer_kind kind;
        std::uint64_t call = 0;
        std::string key;
    };

    void on_request(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);
    void on_response(const sip_message& m, clock::time_point now, uas_output& out);
    void on_invite(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);
    void on_reinvite(call& c, sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);
    void on_ack(const sip_message& m, clock::time_point now, uas_output& out);
    void on_bye(const sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);
    void on_cancel(const sip_message& m, const peer_address& from, clock::time_point now, uas_output& out);

    void answer(call& c, clock::time_point now, uas_output& out);
    void start_media(call& c, uas_output& out);
    void send_bye(call& c, clock::time_point now, uas_output& out);
    void end_call(call& c, uas_output& out);
    void run_call_timers(call& c, clock::time_point now, uas_output& out);

    // Responds to a non-INVITE request and remembers the answer for its retransmissions.
    void reply(const sip_message& req, const peer_address& to, int status, std::string_view reason,
               const response_options& opt, clock::time_point now, uas_output& out);
    // A final non-2xx answer to an INVITE: resent over UDP until the ACK.
    void reject_invite(const sip_message& req, const peer_address& to, int status, std::string_view reason,
                       const response_options& opt, clock::time_point now, uas_output& out);
    response_options tagged(const response_options& opt, std::string& tag);
    call* find_dialog(const sip_message& m);
    void schedule(clock::time_point when, timer_kind kind, std::uint64_t call, std::string key = {});
    std::string random_hex(int digits);
    std::string contact() const;
    std::string via_sent_by() const;
    local_media local_for(std::uint16_t port);

    uas_config cfg_;
    port_allocator& ports_;
    std::mt19937_64 rng_;
    std::uint64_t next_call_ = 1;
    std::unordered_map<std::uint64_t, call> calls_;
    std::unordered_map<std::string, std::uint64_t> by_call_id_;
    std::unordered_map<std::string, std::uint64_t> by_invite_branch_;
    std::unordered_map<std::string, cached_response> cache_;  // key: branch + method
    std::unordered_map<std::string, rejected_invite> rejects_;  // key: INVITE branch
    std::multimap<clock::time_point, timer_entry> timers_;
    uas_stats stats_;
};

}  // namespace sb::sip
