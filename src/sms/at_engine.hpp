#pragma once
// The AT command engine of a GSM/LTE modem in SMS PDU mode, sans-I/O: bytes
// from the serial port, submitted commands and timer ticks in; actions out
// (bytes to write, command results, unsolicited result codes, "the modem
// rebooted", "the modem is gone"). No port and no clock of its own: a thin
// coroutine writes what it is told, feeds what it reads, sleeps until
// deadline() and drains take_actions() after every call. Tests do the same
// with a fake clock.
//
// One command is in flight at a time; the next is written when the
// previous completes. Every line from the modem is, in this order:
//  1. the PDU line of a two-line URC (+CMT:, +CDS:) whose header came just
//     before, if it is hex;
//  2. the echo of the command in flight (or of its PDU), dropped: ATE0 is
//     in the init sequence, but the modem echoes until it has run it, and
//     again after a reboot;
//  3. a response of the command in flight when it starts with the
//     command's `expect` prefix: this is what tells "+CREG: 0,1" (answer to
//     AT+CREG?) from the URC "+CREG: 1", and "+CPIN: READY" (answer to
//     AT+CPIN?) from the same line after a reboot;
//  4. a final result code (OK, ERROR, +CME ERROR: n, +CMS ERROR: n,
//     NO CARRIER, BUSY, NO ANSWER, NO DIALTONE) completing it;
//  5. a reboot announcement (RDY, +CFUN: 1, ^SYSSTART, +CPIN: READY);
//  6. a known URC (+CMTI:, +CDSI:, +CMT:, +CDS:, RING, +CREG:, +CUSD:,
//     ^vendor...), reported apart even in the middle of a response;
//  7. otherwise a response line of the command in flight (ATI, AT+CGSN and
//     the PDU line after a +CMGL:/+CMGR: header have no prefix), or an
//     unknown URC when no command is in flight.
//
// Lines are compared and reported with surrounding blanks trimmed.
//
// Pairs: +CMGL:/+CMGR: header and PDU are just two response lines in
// order. A modem writes each URC whole, so a +CMTI: can fall between two
// +CMGL entries, in practice never inside one; if it does, rule 6 still
// reports it and the PDU that follows stays with its header. A +CMT: or
// +CDS: header arriving inside a response takes the next hex line for
// itself (rule 1): a modem writes a URC's two lines together.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sms/at_line.hpp"

namespace sb::sms {

using clock = std::chrono::steady_clock;

struct at_command {
    std::string text;  // without the CR, e.g. "AT+CSQ"
    // AT+CMGS / AT+CMGW: written after the "> " prompt, followed by Ctrl-Z.
    std::optional<std::string> pdu_hex;
    // From the write (of the PDU, for a two-phase command) to the final
    // result code. AT+CMGS waits for the network: up to a minute.
    clock::duration timeout = std::chrono::seconds(10);
    // Prefix of the command's own information lines, e.g. "+CSQ:". Lines
    // with this prefix are never taken for URCs while it is in flight, and
    // other "+XXX:" lines are (see rule 3 and 7 above). Empty: every line
    // that is not a known URC belongs to the command.
    std::string expect;

    bool operator==(const at_command&) const = default;
};

// AT+CMGS=<length>: tpdu_length counts the TPDU octets, without the SMSC
// address that starts pdu_hex (3GPP TS 27.005 3.5.1).
at_command sms_submit(std::size_t tpdu_length, std::string pdu_hex);

// What the plugin sends after opening the port and after modem_rebooted.
std::vector<at_command> init_sequence();

enum class at_status : std::uint8_t {
    ok,
    error,        // ERROR, or OK where a prompt was due (the PDU was not sent)
    cme_error,    // +CME ERROR: n (equipment, SIM)
    cms_error,    // +CMS ERROR: n (SMS service: 500 unknown, 330 SMSC unknown...)
    no_carrier,
    busy,
    no_answer,
    no_dialtone,
    timeout,      // no final result code (or prompt) in time
    aborted,      // the modem rebooted or stopped answering first
};
std::string_view to_string(at_status s);

struct at_result {
    at_status status = at_status::ok;
    int code = -1;  // n of +CME/+CMS ERROR; -1 if absent or verbose (CMEE=2)

    bool operator==(const at_result&) const = default;
};

enum class urc_kind : std::uint8_t {
    new_message_stored,   // +CMTI: "SM",3 (read it with AT+CMGR=3)
    status_report_stored, // +CDSI: "SM",4
    new_message,          // +CMT: header + PDU line (routed, not stored)
    status_report,        // +CDS: header + PDU line
    ring,                 // RING, +CRING:
    caller_id,            // +CLIP:
    registration,         // +CREG: / +CGREG: / +CEREG: (network registration changed)
    ussd,                 // +CUSD: arriving after its command's OK
    cell_broadcast,       // +CBM:
    vendor,               // ^RSSI:, ^MODE:, ^BOOT:... (Huawei/ZTE)
    startup,              // a reboot line within the hold-off after modem_rebooted
    unknown,              // anything else with no command in flight
};
std::string_view to_string(urc_kind k);

// Actions, in the order they happen.
struct at_write {
    std::string bytes;
    bool operator==(const at_write&) const = default;
};
struct at_completed {
    std::uint64_t id = 0;
    at_result result;
    std::vector<std::string> lines;  // information lines, in order, without echo and final code
    std::string final_line;          // e.g. "+CMS ERROR: 500"; empty for timeout/aborted
    bool truncated = false;          // lines beyond max_response_lines, or an overlong line, dropped
    // A two-phase command's PDU was written (its prompt came). Only then
    // can a timeout or abort have sent the message: before it, the modem
    // never had the PDU and sending again is safe.
    bool payload_written = false;
    bool operator==(const at_completed&) const = default;
};
struct at_urc {
    urc_kind kind = urc_kind::unknown;
    // One line; two for +CMT:/+CDS: (header, PDU), one if the PDU never came.
    std::vector<std::string> lines;
    bool operator==(const at_urc&) const = default;
};
// Commands in flight and queued have been aborted: run init_sequence() again.
struct at_rebooted {
    std::string line;
    bool operator==(const at_rebooted&) const = default;
};
// Probes went unanswered; queued commands have been aborted. Reopen the
// port, call reset() and run init_sequence() again.
struct at_unresponsive {
    bool operator==(const at_unresponsive&) const = default;
};
using at_action = std::variant<at_write, at_completed, at_urc, at_rebooted, at_unresponsive>;
std::string to_string(const at_action& a);  // one line, for logs and test failures

struct at_engine_config {
    std::size_t max_line = at_line_framer::default_max_line;
    std::size_t max_queued = 64;  // commands waiting behind the one in flight
    // A full SIM listed by AT+CMGL=4 is ~50 entries of 2 lines; phone
    // memory ("ME") can hold a few hundred.
    std::size_t max_response_lines = 2000;
    clock::duration prompt_timeout = std::chrono::seconds(5);    // AT+CMGS=n until "> "
    clock::duration urc_pdu_timeout = std::chrono::seconds(2);   // +CMT: header until its PDU
    // After a timeout: ESC, then this long dropping late answers of the
    // abandoned command before the probe, so that its OK is not taken for
    // the probe's (or the next command's).
    clock::duration settle = std::chrono::milliseconds(500);
    clock::duration probe_timeout = std::chrono::seconds(2);
    unsigned max_probes = 3;  // 0 is taken as 1
    // A reboot prints several of RDY, +CFUN: 1, +CPIN: READY, ^SYSSTART
    // over a few seconds: only the first aborts and reports; the others
    // would abort the init sequence run in answer to it.
    clock::duration reboot_holdoff = std::chrono::seconds(15);
};

struct at_stats {
    std::uint64_t submitted = 0;
    std::uint64_t rejected = 0;  // queue full
    std::uint64_t completed_ok = 0;
    std::uint64_t completed_error = 0;  // any final code but OK
    std::uint64_t timeouts = 0;
    std::uint64_t aborted = 0;
    std::uint64_t urcs = 0;
    std::uint64_t echoes = 0;        // echoed command lines dropped
    std::uint64_t stray = 0;         // lines and prompts nobody waited for, dropped
    std::uint64_t overlong = 0;
    std::uint64_t probes = 0;
    std::uint64_t unresponsive = 0;
    std::uint64_t reboots = 0;
};

class at_engine {
public:
    using time_point = clock::time_point;

    explicit at_engine(at_engine_config cfg = {});

    // Queues a command (written at once if nothing is in flight). nullopt:
    // max_queued commands are already waiting.
    std::optional<std::uint64_t> submit(at_command cmd, time_point now);
    void on_bytes(std::string_view data, time_point now);
    void on_timer(time_point now);
    // When on_timer must next be called; nullopt: no timer needed.
    std::optional<time_point> deadline() const;

    // The actions produced since the last call, oldest first. Call it after
    // every submit/on_bytes/on_timer/reset: the engine only appends.
    std::vector<at_action> take_actions();

    // The port was reopened: forget partial lines and any recovery, abort
    // every command (reported as actions).
    void reset();
    // Someone else had the port (a raw bridge client): the modem may sit at
    // a prompt, hold a half-typed line or still owe the answer of a slow
    // command. Runs the timeout recovery: ESC, late answers dropped for
    // `settle`, then "ATV1" probes (at_unresponsive if they fail). Commands
    // submitted meanwhile wait. No-op unless idle.
    void recover(time_point now);

    bool busy() const { return state_ != state::idle || !queue_.empty(); }
    std::size_t queued() const { return queue_.size(); }
    bool recovering() const { return state_ == state::settling || state_ == state::probing; }
    const at_stats& stats() const { return stats_; }
    const at_engine_config& config() const { return cfg_; }

private:
    enum class state : std::uint8_t {
        idle,
        awaiting_prompt,    // AT+CMGS=n written, "> " due
        awaiting_response,  // command (or PDU) written, final result code due
        settling,           // ESC written after a timeout, dropping late answers
        probing,            // "AT" written, any final result code will do
    };
    struct queued_command {
        std::uint64_t id;
        at_command cmd;
    };
    struct pending_urc {  // a +CMT:/+CDS: header waiting for its PDU line
        urc_kind kind;
        std::string header;
        time_point until;
    };

    void on_token(const at_token& t, time_point now);
    void on_line(std::string_view line, time_point now);
    void on_prompt(time_point now);
    bool in_flight() const { return state_ == state::awaiting_prompt || state_ == state::awaiting_response; }
    bool payload_written() const { return current_ && current_->cmd.pdu_hex && state_ == state::awaiting_response; }
    bool is_echo(std::string_view line) const;
    void add_response_line(std::string_view line);
    void complete(at_result r, std::string final_line, time_point now);
    void start_next(time_point now);
    void start_recovery(time_point now);
    void on_reboot(std::string_view line, time_point now);
    void abort_all();
    void flush_pending_urc();
    void emit(at_action a) { actions_.push_back(std::move(a)); }

    at_engine_config cfg_;
    at_line_framer framer_;
    std::vector<at_token> tokens_;  // reused between calls
    std::vector<at_action> actions_;
    std::deque<queued_command> queue_;
    std::uint64_t next_id_ = 1;

    state state_ = state::idle;
    std::optional<queued_command> current_;
    std::vector<std::string> lines_;  // of the command in flight
    bool truncated_ = false;
    time_point until_{};  // of the state: command timeout, prompt, settle, probe
    unsigned probes_failed_ = 0;

    std::optional<pending_urc> pending_urc_;
    std::optional<time_point> reboot_quiet_until_;
    at_stats stats_;
};

}  // namespace sb::sms
