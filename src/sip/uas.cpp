#include "sip/uas.hpp"

#include <algorithm>
#include <cctype>

namespace sb::sip {

namespace {

constexpr std::string_view allow = "INVITE, ACK, CANCEL, BYE, OPTIONS";
// Methods we know and refuse (405) rather than not implement (501).
constexpr std::string_view known_methods[] = {"REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE",
                                              "INFO",     "REFER",     "UPDATE", "PRACK"};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string top_branch(const sip_message& m) {
    auto v = m.header("Via");
    if (!v) return {};
    auto via = parse_via(*v);
    return via ? std::string(via->branch) : std::string{};
}

std::optional<std::string_view> tag_of(const sip_message& m, std::string_view header) {
    auto v = m.header(header);
    if (!v) return std::nullopt;
    auto na = parse_name_addr(*v);
    if (!na) return std::nullopt;
    return na->tag();
}

bool has_sdp(const sip_message& m) {
    if (m.body.empty()) return false;
    auto ct = m.header("Content-Type");
    return !ct || iequals(ct->substr(0, std::min<std::size_t>(ct->size(), 15)), "application/sdp");
}

bool is_ip_literal(std::string_view host) {
    if (host.empty()) return false;
    if (host.front() == '[') return true;
    return std::all_of(host.begin(), host.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
}

media_command stop_command(std::uint64_t call, std::uint16_t port) {
    media_command mc;
    mc.what = media_command::op::stop;
    mc.call = call;
    mc.local_port = port;
    return mc;
}

codec law_of(const media_choice& m) { return iequals(m.codec, "PCMA") ? codec::pcma : codec::pcmu; }

}  // namespace

uas_engine::uas_engine(uas_config cfg, port_allocator& ports, std::uint64_t seed)
    : cfg_(std::move(cfg)), ports_(ports), rng_(seed) {}

std::string uas_engine::random_hex(int digits) {
    static const char hex[] = "0123456789abcdef";
    std::string s;
    s.reserve(static_cast<std::size_t>(digits));
    std::uint64_t r = 0;
    for (int i = 0; i < digits; ++i) {
        if (i % 16 == 0) r = rng_();
        s += hex[r & 15];
        r >>= 4;
    }
    return s;
}

std::string uas_engine::via_sent_by() const {
    bool v6 = cfg_.local_ip.find(':') != std::string::npos;
    return (v6 ? "[" + cfg_.local_ip + "]" : cfg_.local_ip) + ":" + std::to_string(cfg_.local_port);
}

std::string uas_engine::contact() const { return "<sip:tone@" + via_sent_by() + ">"; }

local_media uas_engine::local_for(std::uint16_t port) {
    local_media l;
    l.address = cfg_.local_ip;
    l.rtp_port = port;
    l.codecs = cfg_.codecs;
    l.enable_dtmf = cfg_.enable_dtmf;
    l.session_id = rng_() >> 12;
    l.session_version = l.session_id;
    l.username = "switchboard";
    l.session_name = "tone";
    return l;
}

void uas_engine::schedule(clock::time_point when, timer_kind kind, std::uint64_t call, std::string key) {
    timers_.emplace(when, timer_entry{when, kind, call, std::move(key)});
}

std::optional<clock::time_point> uas_engine::deadline() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first;
}

void uas_engine::on_datagram(std::string_view data, const peer_address& from, clock::time_point now,
                             uas_output& out) {
    if (is_keepalive(data)) return;
    sip_message m;
    auto err = parse_message(data, m, cfg_.limits);
    if (err == parse_error::ok) {
        on_message(m, from, now, out);
        return;
    }
    ++stats_.bad_messages;
    out.notes.push_back("bad message from " + from.ip + ":" + std::to_string(from.port) + ": " +
                        std::string(to_string(err)));
    // Answer what can be answered: a request whose routing headers are all
    // there gets a 400 (or 505); anything else is dropped, as 18.3 allows.
    if (!m.is_request || m.method == "ACK" || err == parse_error::missing_mandatory ||
        err == parse_error::malformed_start_line)
        return;
    if (!m.header("Via") || !m.header("From") || !m.header("To") || !m.header("Call-ID") || !m.cseq()) return;
    std::string reason = err == parse_error::unsupported_version ? "Version Not Supported" : "Bad Request";
    int status = err == parse_error::unsupported_version ? 505 : 400;
    std::string tag;
    out.sends.push_back({from, make_response(m, status, reason, tagged({}, tag))});
}

void uas_engine::on_message(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out) {
    if (m.is_request)
        on_request(m, from, now, out);
    else
        on_response(m, now, out);
}

void uas_engine::on_request(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out) {
    if (from.proto == transport::udp) stamp_via(m, from.ip, from.port);
    const std::string& method = m.method;
    if (method == "ACK") return on_ack(m, now, out);

    auto cseq = m.cseq();
    if (!cseq || cseq->method != method) {
        ++stats_.bad_messages;
        std::string tag;
        out.sends.push_back({from, make_response(m, 400, "CSeq Method Mismatch", tagged({}, tag))});
        return;
    }
    // A retransmitted non-INVITE request gets the same answer again.
    if (auto branch = top_branch(m); method != "INVITE" && !branch.empty()) {
        if (auto it = cache_.find(branch + method); it != cache_.end()) {
            out.sends.push_back({from, it->second.text});
            return;
        }
    }
    // We support no extension: anything required is unsupported (RFC 3261
    // 8.2.2.3); CANCEL and ACK are never refused for it.
    if (auto req = m.headers("Require"); !req.empty() && method != "CANCEL") {
        std::string list;
        for (auto r : req) list += (list.empty() ? "" : ", ") + std::string(r);
        const header_field extra[] = {{"Unsupported", list}};
        if (method != "INVITE") return reply(m, from, 420, "Bad Extension", {.extra = extra}, now, out);
        if (!tag_of(m, "To")) ++stats_.rejected;
        return reject_invite(m, from, 420, "Bad Extension", {.extra = extra}, now, out);
    }
    if (method == "INVITE") return on_invite(m, from, now, out);
    if (method == "BYE") return on_bye(m, from, now, out);
    if (method == "CANCEL") return on_cancel(m, from, now, out);
    if (method == "OPTIONS") {
        const header_field extra[] = {{"Allow", std::string(allow)},
                                      {"Accept", "application/sdp"},
                                      {"Supported", ""},
                                      {"User-Agent", cfg_.user_agent}};
        return reply(m, from, 200, "OK", {.extra = extra}, now, out);
    }
    const header_field allow_hdr[] = {{"Allow", std::string(allow)}};
    for (auto k : known_methods)
        if (method == k) return reply(m, from, 405, "Method Not Allowed", {.extra = allow_hdr}, now, out);
    reply(m, from, 501, "Not Implemented", {.extra = allow_hdr}, now, out);
}

// RFC 3261 8.2.6.2: every response but 100 carries a To tag; a request
// outside any dialog gets a fresh one.
response_options uas_engine::tagged(const response_options& opt, std::string& tag) {
    if (!opt.to_tag.empty()) return opt;
    tag = random_hex(16);
    response_options o = opt;
    o.to_tag = tag;
    return o;
}

void uas_engine::reply(const sip_message& req, const peer_address& to, int status, std::string_view reason,
                       const response_options& opt, clock::time_point now, uas_output& out) {
    std::string tag;
    std::string text = make_response(req, status, reason, tagged(opt, tag));
    auto branch = top_branch(req);
    if (!branch.empty() && to.proto == transport::udp) {
        auto key = branch + req.method;
        cache_[key] = {text, to, now + 64 * cfg_.t1};
        schedule(now + 64 * cfg_.t1, timer_kind::cache, 0, key);
    }
    out.sends.push_back({to, std::move(text)});
}

void uas_engine::reject_invite(const sip_message& req, const peer_address& to, int status, std::string_view reason,
                               const response_options& opt, clock::time_point now, uas_output& out) {
    std::string tag;
    std::string text = make_response(req, status, reason, tagged(opt, tag));
    auto branch = top_branch(req);
    if (!branch.empty() && to.proto == transport::udp) {
        rejects_[branch] = {text, to, now + cfg_.t1, now + 64 * cfg_.t1, cfg_.t1};
        schedule(now + cfg_.t1, timer_kind::reject, 0, branch);
    }
    out.sends.push_back({to, std::move(text)});
}

uas_engine::call* uas_engine::find_dialog(const sip_message& m) {
    auto id = m.header("Call-ID");
    if (!id) return nullptr;
    auto it = by_call_id_.find(std::string(*id));
    if (it == by_call_id_.end()) return nullptr;
    auto c = calls_.find(it->second);
    if (c == calls_.end()) return nullptr;
    auto tag = tag_of(m, "To");
    if (!tag || *tag != c->second.local_tag) return nullptr;
    return &c->second;
}

void uas_engine::on_invite(sip_message& m, const peer_address& from, clock::time_point now, uas_output& out) {
    const std::string branch = top_branch(m);
    // Retransmission: the last response again (RFC 3261 17.2.1).
    if (auto it = by_invite_branch_.find(branch); !branch.empty() && it != by_invite_branch_.end()) {
        if (auto c = calls_.find(it->second); c != calls_.end() && !c->second.last_response.empty())
            out.sends.push_back({from, c->second.last_response});
        return;
    }
    if (auto r = rejects_.find(branch); !branch.empty() && r != rejects_.end()) {
        out.sends.push_back({from, r->second.text});
        return;
    }
    if (tag_of(m, "To")) {
        if (call* c = find_dialog(m)) return on_reinvite(*c, m, from, now, out);
        return reply(m, from, 481, "Call/Transaction Does Not Exist", {}, now, out);
    }
    auto call_id = m.header("Call-ID");
    if (call_id && by_call_id_.count(std::string(*call_id))) {
        // Same Call-ID, new branch, no To tag: a second INVITE we would confuse with the first.
        ++stats_.rejected;
        return reject_invite(m, from, 482, "Loop Detected", {}, now, out);
    }
    ++stats_.total;
    if (stats_.active >= cfg_.max_calls) {
        ++stats_.rejected;
        out.notes.push_back("call limit " + std::to_string(cfg_.max_calls) + " reached: rejecting");
        if (cfg_.busy_as_503) {
            const header_field extra[] = {{"Retry-After", "5"}};
            return reject_invite(m, from, 503, "Service Unavailable", {.extra = extra}, now, out);
        }
        return reject_invite(m, from, 486, "Busy Here", {}, now, out);
    }
    session_description offer;
    const bool with_offer = has_sdp(m);
    if (with_offer) {
        if (auto e = parse_sdp(m.body, offer); e != sdp_error::ok) {
            ++stats_.rejected;
            out.notes.push_back("INVITE with unreadable SDP: " + std::string(to_string(e)));
            return reject_invite(m, from, 400, "Bad SDP", {}, now, out);
        }
    }
    auto port = ports_.allocate();
    if (!port) {
        ++stats_.failed;
        const header_field extra[] = {{"Retry-After", "5"}};
        out.notes.push_back("no free RTP port: rejecting");
        return reject_invite(m, from, 503, "No Media Ports", {.extra = extra}, now, out);
    }
    call c;
    c.id = next_call_++;
    c.local = local_for(*port);
    c.rtp_port = *port;
    c.offer_in_invite = with_offer;
    if (with_offer) {
        sdp_answer ans;
        if (make_answer(offer, c.local, ans) != sdp_error::ok) {
            ports_.release(*port);
            ++stats_.rejected;
            const header_field extra[] = {{"Warning", "305 " + via_sent_by() + " \"Incompatible media format\""}};
            return reject_invite(m, from, 488, "Not Acceptable Here", {.extra = extra}, now, out);
        }
        c.media = ans.choice;
        c.local_sdp = std::move(ans.sdp);
    } else {
        c.local_sdp = make_offer(c.local);
    }
    c.invite = m;
    c.invite_branch = branch;
    c.peer = from;
    c.local_tag = random_hex(16);
    if (auto ct = m.header("Contact"))
        if (auto na = parse_name_addr(*ct)) c.remote_target = std::string(na->uri);
    for (auto rr : m.headers("Record-Route")) c.route_set.emplace_back(rr);
    if (auto f = m.header("From")) c.their_from = std::string(*f);
    if (auto t = m.header("To")) c.our_to = std::string(*t) + ";tag=" + c.local_tag;
    c.local_cseq = static_cast<std::uint32_t>(rng_() % 10000) + 1;

    out.sends.push_back({from, make_response(m, 100, "Trying")});
    const header_field extra[] = {{"Contact", contact()}};
    c.last_response = make_response(m, 180, "Ringing", {.to_tag = c.local_tag, .copy_record_route = true, .extra = extra});
    out.sends.push_back({from, c.last_response});
    if (cfg_.auto_answer) {
        c.answer_at = now + cfg_.answer_delay;
        schedule(c.answer_at, timer_kind::call, c.id);
    }
    ++stats_.active;
    by_call_id_[std::string(*call_id)] = c.id;
    if (!branch.empty()) {
        by_invite_branch_[branch] = c.id;
        c.branches.push_back(branch);
    }
    calls_.emplace(c.id, std::move(c));
}

void uas_engine::answer(call& c, clock::time_point now, uas_output& out) {
    const header_field extra[] = {{"Contact", contact()},
                                  {"Allow", std::string(allow)},
                                  {"Content-Type", "application/sdp"},
                                  {"User-Agent", cfg_.user_agent}};
    c.last_response = make_response(c.invite, 200, "OK",
                                    {.to_tag = c.local_tag, .copy_record_route = true, .extra = extra, .body = c.local_sdp});
    out.sends.push_back({c.peer, c.last_response});
    c.state = call_state::answered;
    c.retransmit_interval = cfg_.t1;
    c.retransmit_at = now + cfg_.t1;
    c.give_up_at = now + 64 * cfg_.t1;
    schedule(c.retransmit_at, timer_kind::call, c.id);
    ++stats_.answered;
}

void uas_engine::start_media(call& c, uas_output& out) {
    media_command mc;
    mc.what = c.media_running ? media_command::op::update : media_command::op::start;
    mc.call = c.id;
    mc.local_port = c.rtp_port;
    mc.remote_ip = c.media.remote_address;
    mc.remote_port = c.media.remote_port;
    mc.payload = c.media.payload;
    mc.law = law_of(c.media);
    mc.dtmf_payload = c.media.dtmf_payload;
    mc.send = c.media.sends() && c.media.remote_port != 0;
    c.media_running = true;
    out.media.push_back(std::move(mc));
}

void uas_engine::on_ack(const sip_message& m, clock::time_point now, uas_output& out) {
    // ACK to a non-2xx final: same branch as the INVITE (17.2.1): stop resending.
    if (auto r = rejects_.find(top_branch(m)); r != rejects_.end()) {
        r->second.acked = true;  // kept until 64*T1 so a late INVITE copy starts no new call
        return;
    }
    call* c = find_dialog(m);
    if (!c || c->state != call_state::answered) return;  // an ACK is never answered
    c->state = call_state::confirmed;
    if (!c->offer_in_invite && has_sdp(m)) {
        // Delayed offer: the caller's answer comes in the ACK.
        session_description answer;
        media_choice choice;
        if (parse_sdp(m.body, answer) != sdp_error::ok || read_answer(answer, c->local, choice) != sdp_error::ok) {
            out.notes.push_back("call " + std::to_string(c->id) + ": unusable SDP answer in ACK: hanging up");
            return send_bye(*c, now, out);
        }
        c->media = choice;
        c->offer_in_invite = true;
    }
    if (!c->media_running) {
        start_media(*c, out);
        c->hangup_at = now + cfg_.tone_duration;
        schedule(c->hangup_at, timer_kind::call, c->id);
    } else {
        start_media(*c, out);  // a re-INVITE's ACK: new direction takes effect
    }
}

void uas_engine::on_reinvite(call& c, sip_message& m, const peer_address& from, clock::time_point now,
                             uas_output& out) {
    if (c.state != call_state::confirmed) {
        // RFC 3261 14.2: a re-INVITE while one is pending gets 491 (or 500 before our 2xx is ACKed).
        const header_field extra[] = {{"Retry-After", "1"}};
        return reject_invite(m, from, 500, "Server Internal Error", {.extra = extra}, now, out);
    }
    std::string sdp = c.local_sdp;
    if (has_sdp(m)) {
        session_description offer;
        sdp_answer ans;
        if (parse_sdp(m.body, offer) != sdp_error::ok) return reject_invite(m, from, 400, "Bad SDP", {}, now, out);
        if (make_answer(offer, c.local, ans) != sdp_error::ok) {
            const header_field extra[] = {{"Warning", "305 " + via_sent_by() + " \"Incompatible media format\""}};
            return reject_invite(m, from, 488, "Not Acceptable Here", {.extra = extra}, now, out);
        }
        c.media = ans.choice;
        sdp = std::move(ans.sdp);
    }
    if (auto v = bump_version(c.local_sdp, sdp)) c.local.session_version = *v;
    c.local_sdp = sdp;
    c.invite = m;
    c.invite_branch = top_branch(m);
    c.peer = from;
    if (!c.invite_branch.empty()) {
        by_invite_branch_[c.invite_branch] = c.id;
        c.branches.push_back(c.invite_branch);
    }
    out.notes.push_back("call " + std::to_string(c.id) + ": re-INVITE, we " + std::string(to_string(c.media.direction)));
    answer(c, now, out);
    --stats_.answered;  // the same call
}

void uas_engine::on_bye(const sip_message& m, const peer_address& from, clock::time_point now, uas_output& out) {
    call* c = find_dialog(m);
    if (!c) return reply(m, from, 481, "Call/Transaction Does Not Exist", {}, now, out);
    reply(m, from, 200, "OK", {}, now, out);
    out.notes.push_back("call " + std::to_string(c->id) + ": caller hung up");
    if (c->state == call_state::ringing) {
        // BYE on the early dialog: the INVITE still needs its final answer (RFC 3261 15.1.2).
        ++stats_.cancelled;
        reject_invite(c->invite, c->peer, 487, "Request Terminated", {.to_tag = c->local_tag}, now, out);
    } else {
        ++stats_.completed;
    }
    end_call(*c, out);
}

void uas_engine::on_cancel(const sip_message& m, const peer_address& from, clock::time_point now, uas_output& out) {
    auto it = by_invite_branch_.find(top_branch(m));
    if (it == by_invite_branch_.end()) return reply(m, from, 481, "Call/Transaction Does Not Exist", {}, now, out);
    auto c = calls_.find(it->second);
    if (c == calls_.end()) return reply(m, from, 481, "Call/Transaction Does Not Exist", {}, now, out);
    reply(m, from, 200, "OK", {.to_tag = c->second.local_tag}, now, out);
    if (c->second.state != call_state::ringing) return;  // already answered: the CANCEL changes nothing
    ++stats_.cancelled;
    out.notes.push_back("call " + std::to_string(c->second.id) + ": cancelled before answer");
    reject_invite(c->second.invite, c->second.peer, 487, "Request Terminated", {.to_tag = c->second.local_tag}, now, out);
    end_call(c->second, out);
}

void uas_engine::send_bye(call& c, clock::time_point now, uas_output& out) {
    if (c.media_running) {
        out.media.push_back(stop_command(c.id, c.rtp_port));
        c.media_running = false;
    }
    c.state = call_state::ending;
    c.bye_branch = "z9hG4bK" + random_hex(16);
    std::vector<header_field> h;
    h.push_back({"Via", "SIP/2.0/" + std::string(c.peer.proto == transport::tcp ? "TCP " : "UDP ") + via_sent_by() +
                            ";branch=" + c.bye_branch + ";rport"});
    h.push_back({"Max-Forwards", "70"});
    for (auto& r : c.route_set) h.push_back({"Route", r});
    h.push_back({"From", c.our_to});
    h.push_back({"To", c.their_from});
    if (auto id = c.invite.header("Call-ID")) h.push_back({"Call-ID", std::string(*id)});
    h.push_back({"CSeq", std::to_string(++c.local_cseq) + " BYE"});
    h.push_back({"User-Agent", cfg_.user_agent});
    std::string target = c.remote_target.empty() ? "sip:" + c.peer.ip : c.remote_target;
    c.bye_text = make_request("BYE", target, h);
    // Loopback test peers and direct UAs: the Contact when it names an
    // address, else where the INVITE came from (no DNS here).
    c.bye_to = c.peer;
    if (auto u = parse_uri(c.remote_target); u && c.route_set.empty() && is_ip_literal(u->host) &&
                                             c.peer.proto == transport::udp) {
        std::string host(u->host);
        if (host.front() == '[') host = host.substr(1, host.size() - 2);
        c.bye_to.ip = host;
        c.bye_to.port = u->port.value_or(5060);
    }
    out.sends.push_back({c.bye_to, c.bye_text});
    c.bye_interval = cfg_.t1;
    c.bye_at = now + cfg_.t1;
    c.bye_give_up = now + 64 * cfg_.t1;
    schedule(c.bye_at, timer_kind::call, c.id);
}

void uas_engine::on_response(const sip_message& m, clock::time_point, uas_output& out) {
    auto cseq = m.cseq();
    if (!cseq || cseq->method != "BYE" || m.status < 200) return;
    auto id = m.header("Call-ID");
    if (!id) return;
    auto it = by_call_id_.find(std::string(*id));
    if (it == by_call_id_.end()) return;
    auto c = calls_.find(it->second);
    if (c == calls_.end() || c->second.state != call_state::ending || top_branch(m) != c->second.bye_branch) return;
    ++stats_.completed;
    end_call(c->second, out);
}

void uas_engine::end_call(call& c, uas_output& out) {
    if (c.media_running) out.media.push_back(stop_command(c.id, c.rtp_port));
    ports_.release(c.rtp_port);
    if (auto id = c.invite.header("Call-ID")) by_call_id_.erase(std::string(*id));
    // The INVITE branch stays known through the cache of the BYE/CANCEL
    // answers; retransmitted INVITEs after the end are dropped.
    for (auto& b : c.branches) by_invite_branch_.erase(b);
    --stats_.active;
    calls_.erase(c.id);
}

void uas_engine::run_call_timers(call& c, clock::time_point now, uas_output& out) {
    switch (c.state) {
        case call_state::ringing:
            if (cfg_.auto_answer && now >= c.answer_at) answer(c, now, out);
            break;
        case call_state::answered:
            if (now >= c.give_up_at) {
                ++stats_.failed;
                out.notes.push_back("call " + std::to_string(c.id) + ": no ACK after 64*T1: hanging up");
                return send_bye(c, now, out);
            }
            if (now >= c.retransmit_at) {
                out.sends.push_back({c.peer, c.last_response});
                c.retransmit_interval = std::min(2 * c.retransmit_interval, cfg_.t2);
                c.retransmit_at = now + c.retransmit_interval;
                schedule(std::min(c.retransmit_at, c.give_up_at), timer_kind::call, c.id);
            }
            break;
        case call_state::confirmed:
            if (now >= c.hangup_at) {
                out.notes.push_back("call " + std::to_string(c.id) + ": tone played: hanging up");
                send_bye(c, now, out);
            }
            break;
        case call_state::ending:
            if (now >= c.bye_give_up) {
                ++stats_.failed;
                out.notes.push_back("call " + std::to_string(c.id) + ": no answer to our BYE");
                return end_call(c, out);
            }
            if (now >= c.bye_at && c.bye_to.proto == transport::udp) {
                out.sends.push_back({c.bye_to, c.bye_text});
                c.bye_interval = std::min(2 * c.bye_interval, cfg_.t2);
                c.bye_at = now + c.bye_interval;
                schedule(std::min(c.bye_at, c.bye_give_up), timer_kind::call, c.id);
            } else if (c.bye_to.proto == transport::tcp) {
                schedule(c.bye_give_up, timer_kind::call, c.id);
            }
            break;
    }
}

void uas_engine::on_timer(clock::time_point now, uas_output& out) {
    while (!timers_.empty() && timers_.begin()->first <= now) {
        timer_entry t = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        switch (t.kind) {
            case timer_kind::call:
                if (auto c = calls_.find(t.call); c != calls_.end()) run_call_timers(c->second, now, out);
                break;
            case timer_kind::cache:
                if (auto it = cache_.find(t.key); it != cache_.end() && it->second.expires <= now) cache_.erase(it);
                break;
            case timer_kind::reject: {
                auto it = rejects_.find(t.key);
                if (it == rejects_.end()) break;
                auto& r = it->second;
                if (now >= r.give_up) {
                    rejects_.erase(it);
                    break;
                }
                if (r.acked) {
                    schedule(r.give_up, timer_kind::reject, 0, t.key);
                    break;
                }
                if (now >= r.next) {
                    out.sends.push_back({r.to, r.text});
                    r.interval = std::min(2 * r.interval, cfg_.t2);
                    r.next = now + r.interval;
                }
                schedule(std::min(r.next, r.give_up), timer_kind::reject, 0, t.key);
                break;
            }
        }
    }
}

void uas_engine::hang_up_all(clock::time_point now, uas_output& out) {
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : calls_) ids.push_back(id);
    for (auto id : ids) {
        auto it = calls_.find(id);
        if (it == calls_.end()) continue;
        auto& c = it->second;
        if (c.state == call_state::ringing) {
            reject_invite(c.invite, c.peer, 503, "Service Unavailable", {.to_tag = c.local_tag}, now, out);
            end_call(c, out);
        } else if (c.state != call_state::ending) {
            send_bye(c, now, out);
        }
    }
}

}  // namespace sb::sip
