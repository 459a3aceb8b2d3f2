#include "core/telnet.hpp"

#include <cstring>

namespace sb::core {

using namespace telnet_byte;

namespace {

bool listed(std::string_view options, unsigned char opt) {
    return options.find(static_cast<char>(opt)) != std::string_view::npos;
}

// Option bytes as string literals: "\x00" needs the explicit length.
constexpr char binary_sga[] = {static_cast<char>(opt_binary), static_cast<char>(opt_sga)};
constexpr char binary_echo_sga[] = {static_cast<char>(opt_binary), static_cast<char>(opt_echo),
                                    static_cast<char>(opt_sga)};

void send(std::string& out, unsigned char verb, unsigned char opt) {
    out += static_cast<char>(iac);
    out += static_cast<char>(verb);
    out += static_cast<char>(opt);
}

}  // namespace

// The remote's echo is what a terminal line wants (the host echoes, the
// terminal does not); a Minitel shows only what the host sends back, so a
// gateway for it echoes and refuses DO ECHO's mirror image.
telnet_policy telnet_policy::client() {
    return {std::string_view(binary_sga, sizeof binary_sga), std::string_view(binary_echo_sga, sizeof binary_echo_sga)};
}

telnet_policy telnet_policy::echoing_server() {
    return {std::string_view(binary_echo_sga, sizeof binary_echo_sga), std::string_view(binary_sga, sizeof binary_sga)};
}

std::string telnet_session::start() {
    std::string out;
    // Option by option in the policy's order, WILL before DO; then the
    // options we only ask of the remote.
    for (char c : policy_.us) {
        const auto opt = static_cast<unsigned char>(c);
        ask_us(opt, true, out);
        if (listed(policy_.him, opt)) ask_him(opt, true, out);
    }
    for (char c : policy_.him)
        if (!listed(policy_.us, static_cast<unsigned char>(c))) ask_him(static_cast<unsigned char>(c), true, out);
    return out;
}

void telnet_session::decode(std::string_view in, std::string& data, std::string& reply) {
    std::size_t i = 0;
    while (i < in.size()) {
        const auto c = static_cast<unsigned char>(in[i]);
        switch (state_) {
        case st::data: {
            // Plain data comes in runs: copy up to the next IAC in one go.
            const void* hit = std::memchr(in.data() + i, iac, in.size() - i);
            const std::size_t end = hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - in.data()) : in.size();
            data.append(in.data() + i, end - i);
            if (end < in.size()) state_ = st::iac;
            i = end + 1;
            continue;
        }
        case st::iac:
            switch (c) {
            case iac: data += static_cast<char>(iac); state_ = st::data; break;
            case will: state_ = st::will; break;
            case wont: state_ = st::wont; break;
            case do_: state_ = st::do_; break;
            case dont: state_ = st::dont; break;
            case sb: sb_len_ = 0; state_ = st::sb; break;
            // NOP, GA, DM, BRK, IP, AO, AYT, EC, EL, a stray SE and bytes
            // RFC 854 does not define: none of them mean anything to a modem
            // line, so the two bytes are dropped.
            default: state_ = st::data; break;
            }
            break;
        case st::will: on_enable(him_[c], listed(policy_.him, c), c, do_, dont, reply); state_ = st::data; break;
        case st::wont: on_disable(him_[c], c, do_, dont, reply); state_ = st::data; break;
        case st::do_: on_enable(us_[c], listed(policy_.us, c), c, will, wont, reply); state_ = st::data; break;
        case st::dont: on_disable(us_[c], c, will, wont, reply); state_ = st::data; break;
        case st::sb:
            if (c == iac) state_ = st::sb_iac;
            else if (sb_len_ <= max_subnegotiation) ++sb_len_;
            break;
        case st::sb_iac:
            // Only IAC SE ends it. Anything else (IAC IAC, or a command a
            // broken peer put inside) stays part of the skipped block; the
            // count saturates past the bound, so a peer that never sends SE
            // costs us nothing but the data it hides.
            if (c == se) state_ = st::data;
            else {
                state_ = st::sb;
                if (sb_len_ <= max_subnegotiation) ++sb_len_;
            }
            break;
        }
        ++i;
    }
}

void telnet_session::encode(std::string_view in, std::string& out) {
    out.reserve(out.size() + in.size());
    for (char c : in) {
        out += c;
        if (static_cast<unsigned char>(c) == iac) out += c;
    }
}

bool telnet_session::looks_like_telnet(std::string_view first_bytes) {
    if (first_bytes.empty() || static_cast<unsigned char>(first_bytes[0]) != iac) return false;
    if (first_bytes.size() == 1) return true;
    const auto cmd = static_cast<unsigned char>(first_bytes[1]);
    return cmd >= se && cmd < iac;
}

// The four receivers follow RFC 1143 section 7 literally; "Error" rows there
// become silent state fixes, so a confused peer never gets a reply that it
// could answer in turn.

// The peer offers or asks to enable an option. For WILL the state is
// him_[opt] and we answer DO/DONT; for DO it is us_[opt] and we answer
// WILL/WONT: the same table (RFC 1143 section 7) with the verbs swapped.
void telnet_session::on_enable(q& s, bool allowed, unsigned char opt, unsigned char yes, unsigned char no,
                               std::string& reply) {
    switch (s) {
    case q::no:
        if (allowed) {
            s = q::yes;
            send(reply, yes, opt);
        } else {
            send(reply, no, opt);
        }
        break;
    case q::yes: break;
    case q::want_no: s = q::no; break;
    case q::want_no_opposite: s = q::yes; break;
    case q::want_yes: s = q::yes; break;
    case q::want_yes_opposite:
        s = q::want_no;
        send(reply, no, opt);
        break;
    }
}

// The peer refuses or disables an option (WONT: answer DONT/DO; DONT: WONT/WILL).
void telnet_session::on_disable(q& s, unsigned char opt, unsigned char yes, unsigned char no, std::string& reply) {
    switch (s) {
    case q::no: break;
    case q::yes:
        s = q::no;
        send(reply, no, opt);
        break;
    case q::want_no: s = q::no; break;
    case q::want_no_opposite:
        s = q::want_yes;
        send(reply, yes, opt);
        break;
    case q::want_yes: s = q::no; break;
    case q::want_yes_opposite: s = q::no; break;
    }
}

// A request while one is in flight is queued (the "opposite" states) rather
// than sent, which is what keeps two Q-method ends from racing each other.
// For him_ the verbs are DO/DONT, for us_ WILL/WONT.
void telnet_session::ask(q& s, bool enable, unsigned char opt, unsigned char yes, unsigned char no,
                         std::string& reply) {
    if (enable) {
        switch (s) {
        case q::no:
            s = q::want_yes;
            send(reply, yes, opt);
            break;
        case q::want_no: s = q::want_no_opposite; break;
        case q::want_yes_opposite: s = q::want_yes; break;
        case q::yes:
        case q::want_no_opposite:
        case q::want_yes: break;
        }
    } else {
        switch (s) {
        case q::yes:
            s = q::want_no;
            send(reply, no, opt);
            break;
        case q::want_yes: s = q::want_yes_opposite; break;
        case q::want_no_opposite: s = q::want_no; break;
        case q::no:
        case q::want_no:
        case q::want_yes_opposite: break;
        }
    }
}

void telnet_session::ask_him(unsigned char opt, bool enable, std::string& reply) {
    ask(him_[opt], enable, opt, do_, dont, reply);
}

void telnet_session::ask_us(unsigned char opt, bool enable, std::string& reply) {
    ask(us_[opt], enable, opt, will, wont, reply);
}

}  // namespace sb::core
