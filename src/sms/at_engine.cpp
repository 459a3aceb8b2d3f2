#include "sms/at_engine.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace sb::sms {

namespace {

constexpr char esc = '\x1b';
constexpr char ctrl_z = '\x1a';

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_hex(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

int parse_code(std::string_view s) {
    s = trim(s);
    if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
    int n = 0;
    for (char c : s) n = n * 10 + (c - '0');
    return n;
}

std::optional<at_result> final_code(std::string_view line) {
    struct plain {
        std::string_view text;
        at_status status;
    };
    static constexpr plain plains[] = {
        {"OK", at_status::ok},
        {"ERROR", at_status::error},
        {"NO CARRIER", at_status::no_carrier},
        {"BUSY", at_status::busy},
        {"NO ANSWER", at_status::no_answer},
        {"NO DIALTONE", at_status::no_dialtone},
        // Huawei and ZTE firmwares answer unknown commands with these
        // instead of ERROR: without them such a command would time out.
        {"COMMAND NOT SUPPORT", at_status::error},
        {"TOO MANY PARAMETERS", at_status::error},
    };
    for (auto const& p : plains)
        if (line == p.text) return at_result{p.status, -1};
    if (line.starts_with("+CME ERROR:")) return at_result{at_status::cme_error, parse_code(line.substr(11))};
    if (line.starts_with("+CMS ERROR:")) return at_result{at_status::cms_error, parse_code(line.substr(11))};
    return std::nullopt;
}

bool is_reboot(std::string_view line) {
    return line == "RDY" || line == "+CFUN: 1" || line == "+CFUN:1" || line.starts_with("^SYSSTART") ||
           line == "+CPIN: READY" || line == "+CPIN:READY";
}

struct urc_prefix {
    std::string_view prefix;
    urc_kind kind;
    bool two_lines;  // a PDU line follows (PDU mode)
};
constexpr urc_prefix urc_prefixes[] = {
    {"+CMTI:", urc_kind::new_message_stored, false},
    {"+CDSI:", urc_kind::status_report_stored, false},
    {"+CMT:", urc_kind::new_message, true},
    {"+CDS:", urc_kind::status_report, true},
    {"+CBM:", urc_kind::cell_broadcast, true},
    {"+CRING:", urc_kind::ring, false},
    {"+CLIP:", urc_kind::caller_id, false},
    {"+CREG:", urc_kind::registration, false},
    {"+CGREG:", urc_kind::registration, false},
    {"+CEREG:", urc_kind::registration, false},
    {"+CUSD:", urc_kind::ussd, false},
    {"^", urc_kind::vendor, false},
};

const urc_prefix* known_urc(std::string_view line) {
    static constexpr urc_prefix ring{"RING", urc_kind::ring, false};
    if (line == "RING") return &ring;
    for (auto const& u : urc_prefixes)
        if (line.starts_with(u.prefix)) return &u;
    return nullptr;
}

// "+XYZ: ..." : the shape of an information line of some command.
bool looks_prefixed(std::string_view line) {
    auto colon = line.find(':');
    return line.size() > 1 && line.front() == '+' && colon != std::string_view::npos && colon > 1;
}

std::string escaped(std::string_view s, std::size_t max = 80) {
    static const char hex[] = "0123456789abcdef";
    std::string r;
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        if (c == '\r') r += "\\r";
        else if (c == '\n') r += "\\n";
        else if (c == '"' || c == '\\') (r += '\\') += c;
        else if (u < 0x20 || u >= 0x7f) (r += "\\x") += std::string{hex[u >> 4], hex[u & 15]};
        else r += c;
    }
    if (s.size() > max) r += "...";
    return r;
}

}  // namespace

std::string_view to_string(at_status s) {
    switch (s) {
    case at_status::ok: return "ok";
    case at_status::error: return "error";
    case at_status::cme_error: return "cme_error";
    case at_status::cms_error: return "cms_error";
    case at_status::no_carrier: return "no_carrier";
    case at_status::busy: return "busy";
    case at_status::no_answer: return "no_answer";
    case at_status::no_dialtone: return "no_dialtone";
    case at_status::timeout: return "timeout";
    case at_status::aborted: return "aborted";
    }
    return "?";
}

std::string_view to_string(urc_kind k) {
    switch (k) {
    case urc_kind::new_message_stored: return "new_message_stored";
    case urc_kind::status_report_stored: return "status_report_stored";
    case urc_kind::new_message: return "new_message";
    case urc_kind::status_report: return "status_report";
    case urc_kind::ring: return "ring";
    case urc_kind::caller_id: return "caller_id";
    case urc_kind::registration: return "registration";
    case urc_kind::ussd: return "ussd";
    case urc_kind::cell_broadcast: return "cell_broadcast";
    case urc_kind::vendor: return "vendor";
    case urc_kind::startup: return "startup";
    case urc_kind::unknown: return "unknown";
    }
    return "?";
}

std::string to_string(const at_action& a) {
    struct visitor {
        // Appends rather than "literal" + std::string: g++ 12 -O3 warns
        // (-Wrestrict, a false positive) on the latter.
        std::string operator()(const at_write& w) const {
            std::string s = "write \"";
            s += escaped(w.bytes);
            s += '"';
            return s;
        }
        std::string operator()(const at_completed& c) const {
            std::string s = "completed #";
            s += std::to_string(c.id);
            s += ' ';
            s += to_string(c.result.status);
            if (c.result.code >= 0) {
                s += ' ';
                s += std::to_string(c.result.code);
            }
            for (auto const& l : c.lines) {
                s += " [";
                s += escaped(l);
                s += ']';
            }
            if (c.truncated) s += " (truncated)";
            return s;
        }
        std::string operator()(const at_urc& u) const {
            std::string s = "urc ";
            s += to_string(u.kind);
            for (auto const& l : u.lines) {
                s += " [";
                s += escaped(l);
                s += ']';
            }
            return s;
        }
        std::string operator()(const at_rebooted& r) const { return "rebooted [" + escaped(r.line) + "]"; }
        std::string operator()(const at_unresponsive&) const { return "unresponsive"; }
    };
    return std::visit(visitor{}, a);
}

at_command sms_submit(std::size_t tpdu_length, std::string pdu_hex) {
    at_command c;
    c.text = "AT+CMGS=" + std::to_string(tpdu_length);
    c.pdu_hex = std::move(pdu_hex);
    // The final code waits for the SMSC's acknowledgement over the air.
    c.timeout = std::chrono::seconds(60);
    c.expect = "+CMGS:";
    return c;
}

std::vector<at_command> init_sequence() {
    using std::chrono::seconds;
    return {
        // Echo off: echoed commands are tolerated, but they cost serial
        // bytes, and an echoed PDU line could be taken for data. Verbose
        // result codes: a raw bridge client may have left the modem in ATV0,
        // whose "0\r" is no OK to the engine (modems give the command's own
        // result in the new format).
        {"ATE0V1", std::nullopt, seconds(5), {}},
        // Numeric +CME ERROR: n instead of a bare ERROR, so the plugin can
        // tell "SIM PIN required" (11) from "SIM busy" (14, retry later).
        {"AT+CMEE=1", std::nullopt, seconds(5), {}},
        // PDU mode: text mode cannot carry UCS2 or concatenated messages,
        // and status reports are PDUs anyway.
        {"AT+CMGF=0", std::nullopt, seconds(5), {}},
        // mode 2: URCs buffered while a response is being written, then
        // flushed (fewer URCs inside responses); mt 1: new messages stored
        // on the SIM and announced with +CMTI (nothing is lost if we are
        // down when one arrives, and +CMT would need +CNMA acks); bm 0:
        // no cell broadcasts; ds 2: status reports stored and announced
        // with +CDSI, like messages; bfr 0: flush the buffer on this
        // command.
        {"AT+CNMI=2,1,0,2,0", std::nullopt, seconds(5), {}},
        // SIM storage for reading/deleting, writing and receiving, so the
        // +CMTI indexes and AT+CMGL both refer to the SIM. Slow right
        // after boot, while the SIM is read.
        {"AT+CPMS=\"SM\",\"SM\",\"SM\"", std::nullopt, seconds(15), "+CPMS:"},
    };
}

at_engine::at_engine(at_engine_config cfg) : cfg_(std::move(cfg)), framer_(cfg_.max_line) {}

std::vector<at_action> at_engine::take_actions() {
    std::vector<at_action> out;
    out.swap(actions_);
    return out;
}

std::optional<std::uint64_t> at_engine::submit(at_command cmd, time_point now) {
    // A CR, Ctrl-Z or ESC inside would end the command (or the PDU) early
    // and desynchronise every answer after it: a bug in the caller.
    auto bad = [](char c) { return c == '\r' || c == '\n' || c == ctrl_z || c == esc; };
    if (cmd.text.empty() || std::any_of(cmd.text.begin(), cmd.text.end(), bad))
        throw std::invalid_argument("AT command text empty or with control characters");
    if (cmd.pdu_hex && !is_hex(*cmd.pdu_hex)) throw std::invalid_argument("AT command PDU is not hex");

    ++stats_.submitted;
    // An idle engine writes the command at once: it never waits in the queue.
    if (state_ != state::idle && queue_.size() >= cfg_.max_queued) {
        ++stats_.rejected;
        return std::nullopt;
    }
    auto id = next_id_++;
    queue_.push_back({id, std::move(cmd)});
    start_next(now);
    return id;
}

void at_engine::start_next(time_point now) {
    if (state_ != state::idle || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    lines_.clear();
    truncated_ = false;
    auto const& cmd = current_->cmd;
    emit(at_write{cmd.text + "\r"});
    if (cmd.pdu_hex) {
        state_ = state::awaiting_prompt;
        until_ = now + cfg_.prompt_timeout;
    } else {
        state_ = state::awaiting_response;
        until_ = now + cmd.timeout;
    }
}

void at_engine::complete(at_result r, std::string final_line, time_point now) {
    switch (r.status) {
    case at_status::ok: ++stats_.completed_ok; break;
    case at_status::timeout: ++stats_.timeouts; break;
    case at_status::aborted: ++stats_.aborted; break;
    default: ++stats_.completed_error; break;
    }
    emit(at_completed{current_->id, r, std::move(lines_), std::move(final_line), truncated_, payload_written()});
    current_.reset();
    lines_.clear();
    truncated_ = false;
    state_ = state::idle;
    if (r.status == at_status::timeout) {
        probes_failed_ = 0;
        start_recovery(now);
    } else {
        start_next(now);
    }
}

// The modem may sit at a "> " prompt we missed (ESC leaves it without
// sending), or be busy, or gone: ESC, let late answers pass, then "AT".
void at_engine::start_recovery(time_point now) {
    emit(at_write{std::string(1, esc)});
    state_ = state::settling;
    until_ = now + cfg_.settle;
}

void at_engine::abort_all() {
    if (current_) {
        ++stats_.aborted;
        emit(at_completed{current_->id, {at_status::aborted, -1}, std::move(lines_), {}, truncated_, payload_written()});
        current_.reset();
    }
    for (auto& q : queue_) {
        ++stats_.aborted;
        emit(at_completed{q.id, {at_status::aborted, -1}, {}, {}, false, false});
    }
    queue_.clear();
    lines_.clear();
    truncated_ = false;
    state_ = state::idle;
    probes_failed_ = 0;
}

void at_engine::recover(time_point now) {
    if (state_ != state::idle) return;
    probes_failed_ = 0;
    start_recovery(now);
    // Ends a line the other party left half-typed; its answer falls in the
    // settle time and is dropped.
    emit(at_write{"\r"});
}

void at_engine::reset() {
    framer_.reset();
    flush_pending_urc();
    abort_all();
}

void at_engine::flush_pending_urc() {
    if (!pending_urc_) return;
    ++stats_.urcs;
    emit(at_urc{pending_urc_->kind, {std::move(pending_urc_->header)}});
    pending_urc_.reset();
}

void at_engine::on_reboot(std::string_view line, time_point now) {
    if (reboot_quiet_until_ && now < *reboot_quiet_until_) {
        ++stats_.urcs;
        emit(at_urc{urc_kind::startup, {std::string(line)}});
        return;
    }
    reboot_quiet_until_ = now + cfg_.reboot_holdoff;
    ++stats_.reboots;
    // First, so that the plugin queues its init sequence before it sees
    // (and maybe retries) the aborted commands.
    emit(at_rebooted{std::string(line)});
    // The modem forgot the command in flight and its settings (PDU mode,
    // storage): nothing queued may run before the init sequence again.
    abort_all();
}

std::optional<clock::time_point> at_engine::deadline() const {
    std::optional<time_point> d;
    if (state_ != state::idle) d = until_;
    if (pending_urc_ && (!d || pending_urc_->until < *d)) d = pending_urc_->until;
    return d;
}

void at_engine::on_timer(time_point now) {
    if (pending_urc_ && now >= pending_urc_->until) flush_pending_urc();
    if (state_ == state::idle || now < until_) return;
    switch (state_) {
    case state::awaiting_prompt:
    case state::awaiting_response:
        complete({at_status::timeout, -1}, {}, now);
        break;
    case state::settling:
        ++stats_.probes;
        // ATV1, not just AT: a modem another party left in ATV0 answers
        // "0\r", which is no final result code to us; V1 makes the probe's
        // own answer "OK" (modems answer in the format the line set).
        emit(at_write{"ATV1\r"});
        state_ = state::probing;
        until_ = now + cfg_.probe_timeout;
        break;
    case state::probing:
        if (++probes_failed_ >= std::max(1u, cfg_.max_probes)) {
            ++stats_.unresponsive;
            emit(at_unresponsive{});
            abort_all();
        } else {
            start_recovery(now);
        }
        break;
    case state::idle: break;
    }
}

void at_engine::on_bytes(std::string_view data, time_point now) {
    tokens_.clear();
    framer_.feed(data, tokens_);
    for (auto const& t : tokens_) on_token(t, now);
    tokens_.clear();
}

void at_engine::on_token(const at_token& t, time_point now) {
    switch (t.what) {
    case at_token::kind::line: on_line(trim(t.text), now); break;
    case at_token::kind::prompt: on_prompt(now); break;
    case at_token::kind::overlong:
        ++stats_.overlong;
        // The lost line may have been the PDU a header waits for, or a
        // line of the response: say so rather than pass on half of it.
        flush_pending_urc();
        if (in_flight()) truncated_ = true;
        break;
    }
}

void at_engine::on_prompt(time_point now) {
    if (state_ == state::awaiting_prompt) {
        emit(at_write{*current_->cmd.pdu_hex + ctrl_z});
        state_ = state::awaiting_response;
        until_ = now + current_->cmd.timeout;
        return;
    }
    // The modem waits for text nobody will send (the prompt of an
    // abandoned AT+CMGS): it would swallow the next command as message
    // text. ESC leaves the prompt without sending.
    ++stats_.stray;
    emit(at_write{std::string(1, esc)});
}

bool at_engine::is_echo(std::string_view line) const {
    if (in_flight()) {
        auto const& cmd = current_->cmd;
        if (line == cmd.text) return true;
        if (cmd.pdu_hex && state_ == state::awaiting_response) {
            std::string_view pdu = *cmd.pdu_hex;
            if (line == pdu || (line.size() == pdu.size() + 1 && line.starts_with(pdu) && line.back() == ctrl_z))
                return true;
        }
        return false;
    }
    return (state_ == state::settling || state_ == state::probing) && line == "ATV1";
}

void at_engine::add_response_line(std::string_view line) {
    if (lines_.size() >= cfg_.max_response_lines) {
        truncated_ = true;
        return;
    }
    lines_.emplace_back(line);
}

void at_engine::on_line(std::string_view line, time_point now) {
    if (line.empty()) return;
    if (pending_urc_) {
        if (is_hex(line)) {
            ++stats_.urcs;
            emit(at_urc{pending_urc_->kind, {std::move(pending_urc_->header), std::string(line)}});
            pending_urc_.reset();
            return;
        }
        flush_pending_urc();
    }
    if (is_echo(line)) {
        ++stats_.echoes;
        return;
    }
    if (in_flight() && !current_->cmd.expect.empty() && line.starts_with(current_->cmd.expect)) {
        add_response_line(line);
        return;
    }
    if (auto r = final_code(line)) {
        if (in_flight()) {
            // OK where the prompt was due: the modem took the command but
            // will not take the PDU; the message was not sent.
            if (state_ == state::awaiting_prompt && r->status == at_status::ok) r->status = at_status::error;
            complete(*r, std::string(line), now);
        } else if (state_ == state::probing) {
            // Any answer, even ERROR, shows the modem is listening again.
            state_ = state::idle;
            probes_failed_ = 0;
            start_next(now);
        } else {
            ++stats_.stray;  // late answer of an abandoned command
        }
        return;
    }
    if (is_reboot(line)) {
        on_reboot(line, now);
        return;
    }
    if (auto u = known_urc(line)) {
        if (u->two_lines) {
            pending_urc_ = pending_urc{u->kind, std::string(line), now + cfg_.urc_pdu_timeout};
        } else {
            ++stats_.urcs;
            emit(at_urc{u->kind, {std::string(line)}});
        }
        return;
    }
    if (in_flight()) {
        // Another command's prefix while this one has its own: a URC we
        // do not know, not an answer.
        if (!current_->cmd.expect.empty() && looks_prefixed(line)) {
            ++stats_.urcs;
            emit(at_urc{urc_kind::unknown, {std::string(line)}});
        } else {
            add_response_line(line);
        }
        return;
    }
    if (state_ != state::idle) {
        ++stats_.stray;  // recovering: late lines of the abandoned command
        return;
    }
    ++stats_.urcs;
    emit(at_urc{urc_kind::unknown, {std::string(line)}});
}

}  // namespace sb::sms
