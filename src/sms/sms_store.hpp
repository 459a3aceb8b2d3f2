#pragma once
// The SMS plugin's durable store: the outbox (messages accepted by
// POST /v1/sms, one row per part and recipient) and the inbox (SMS-DELIVERs
// read from the SIM, joined into messages). One SQLite file in WAL mode,
// one connection, used from the io thread only; every call is a few
// milliseconds at most (one fsync per committed transition).
//
// Exactly-once sending rests on one ordering the plugin must keep:
//   next_part_to_send() -> mark_sending() (committed, fsynced)
//     -> write AT+CMGS -> mark_sent() / mark_failed() / requeue() / mark_unknown().
// A crash before mark_sending() commits leaves the part queued: it is sent
// after the restart, and was never written to the modem. A crash after it
// leaves the part `sending`, which open() turns into `unknown` and never
// sends again: the modem may or may not have sent it, and sending it again
// could deliver it twice. So every accepted part is sent at most once, and
// exactly once unless a crash (or a lost answer, mark_unknown) fell inside
// that window.
//
// Receiving rests on the reverse ordering: store_incoming() commits before
// AT+CMGD deletes the SIM slot. Parts are keyed by their content, so a
// crash between the two only means the next AT+CMGL lists a part the store
// already holds, which store_incoming() recognises.
//
// Errors: SQLite failures (disk full, I/O error, a corrupt or newer file)
// throw store_error with SQLite's message; expected outcomes (a duplicate
// idempotency key, a stale part handle, an unknown id) are return values.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sms/pdu.hpp"

namespace sb::sms {

class store_error : public std::runtime_error {
public:
    store_error(const std::string& what, int sqlite_code) : std::runtime_error(what), code_(sqlite_code) {}
    int sqlite_code() const noexcept { return code_; }  // extended result code; 0 when not from SQLite

private:
    int code_;
};

using sys_time = std::chrono::system_clock::time_point;

// Parts move queued -> sending -> sent -> delivered, or to failed/unknown:
//   queued  -> sending  mark_sending (committed before AT+CMGS is written)
//   queued  -> failed   mark_failed (given up before sending, e.g. expired)
//   sending -> queued   requeue (AT+CMGS answered before the PDU was written:
//                       no prompt, ERROR instead of "> ")
//   sending -> sent     mark_sent (+CMGS: <mr>)
//   sending -> failed   mark_failed (+CMS ERROR after the PDU)
//   sending -> unknown  mark_unknown (no answer after the PDU), or open()
//                       after a crash
//   sent    -> delivered / failed   mark_delivered_by_reference (status report)
// A failed part also fails the queued parts of the same text to the same
// recipient: a concatenated message with a hole is not worth sending.
enum class part_state : std::uint8_t { queued, sending, sent, delivered, failed, unknown };
std::string_view to_string(part_state s);

// A message's state over all its parts (every recipient), first match wins:
//   failed     any part failed (final: it can never become all delivered)
//   queued     every part queued
//   sending    some part queued or sending (in progress)
//   unknown    any part unknown (and nothing left to send)
//   delivered  every part delivered
//   sent       every part sent or delivered
// "In progress" comes before unknown so that a client polling until a final
// state does not stop while parts are still going out; every state after it
// is final except sent (-> delivered/failed by a status report).
using message_state = part_state;
message_state aggregate_state(const std::vector<part_state>& parts);

struct store_limits {
    // 255 parts of 153 GSM7 septets, 2 UTF-8 bytes each at most for a
    // 1-septet character: the longest text encode_submit can accept.
    std::size_t max_text_bytes = 255 * 153 * 2;
    std::size_t max_recipients = 100;
    std::size_t max_parts_per_request = 1000;  // over all recipients
    std::size_t max_idempotency_key = 200;     // bytes
    std::size_t max_page = 500;                // rows a listing returns at most
};

struct store_options {
    store_limits limits;
    std::chrono::milliseconds busy_timeout{5000};
    // Timestamps of transitions; tests pass a fake one.
    std::function<sys_time()> clock = [] { return std::chrono::system_clock::now(); };
};

// ----- outbox -----

struct outbox_request {
    std::vector<std::string> to;  // recipients, as given to encode_submit
    std::string text;             // kept for GET, not re-encoded
    std::optional<std::chrono::minutes> validity;
    std::optional<std::string> idempotency_key;
    // pdus[i] is encode_submit's result for to[i]: 1-255 parts, numbered in order.
    std::vector<std::vector<submit_pdu>> pdus;
};

enum class accept_status : std::uint8_t {
    accepted,   // id is new
    duplicate,  // the idempotency key was seen: id is the existing message (409)
    rejected,   // a limit or a malformed request: error names the field (400)
};

struct accept_result {
    accept_status status = accept_status::accepted;
    std::string id;
    std::string error;
};

// A part handle plus what the sender needs to send it.
struct outbox_part {
    std::int64_t id = 0;  // the part's handle
    std::string message_id;
    std::string recipient;
    std::uint8_t part = 1;
    std::uint8_t total = 1;
    std::string pdu_hex;
    std::size_t tpdu_length = 0;
    unsigned attempts = 0;  // mark_sending calls so far
};

struct part_info {
    std::int64_t id = 0;
    std::string recipient;
    std::uint8_t part = 1;
    std::uint8_t total = 1;
    part_state state = part_state::queued;
    std::optional<std::uint8_t> message_reference;  // TP-MR from +CMGS
    std::optional<std::uint8_t> delivery_status;    // TP-ST of the last status report
    std::string error;                              // why failed/unknown/requeued
    unsigned attempts = 0;
    sys_time created_at{};
    std::optional<sys_time> sending_at;  // last mark_sending
    std::optional<sys_time> sent_at;
    std::optional<sys_time> done_at;     // delivered, failed or unknown
};

struct outbox_message {
    std::string id;
    message_state state = message_state::queued;
    std::vector<std::string> to;
    std::string text;
    std::optional<std::chrono::minutes> validity;
    std::optional<std::string> idempotency_key;
    sys_time created_at{};
    std::vector<part_info> parts;  // by recipient, then part number
};

struct outbox_counts {
    std::uint64_t queued = 0, sending = 0, sent = 0, delivered = 0, failed = 0, unknown = 0;
};

// ----- inbox -----

struct inbox_message {
    std::string id;
    std::string sender;
    std::uint8_t sender_type = 0;  // TOA octet
    std::string smsc;
    std::string timestamp;  // SCTS of the first part, ISO 8601
    text_coding coding = text_coding::gsm7;
    std::string text;
    std::vector<std::uint8_t> payload;  // eight_bit: the data
    std::optional<std::uint8_t> message_class;
    std::uint8_t parts = 1;  // parts received
    std::uint8_t total = 1;  // parts announced (> parts: expired incomplete)
    sys_time received_at{};  // of the part that completed it
};

struct incoming_result {
    bool is_new = false;  // false: already stored (a re-listing after a crash)
    std::int64_t part_id = 0;
    // Set when this part completed a message (or was a single-part one).
    std::optional<std::string> completed_message_id;
};

struct sim_slot {
    int index = 0;
    std::int64_t part_id = 0;  // the stored part the slot holds
    bool operator==(const sim_slot&) const = default;
};

struct page_request {
    std::int64_t after = 0;  // cursor: 0 for the first page, then page.next
    std::size_t limit = 100; // clamped to store_limits::max_page
};

template <typename T>
struct page {
    std::vector<T> items;
    std::optional<std::int64_t> next;  // set when there may be more
};

class sms_store {
public:
    // Creates or migrates the schema, takes an exclusive lock on
    // "<path>.lock" (two processes sending from one outbox would break
    // exactly-once), and turns parts left `sending` by a crash into
    // `unknown`. Throws store_error.
    static sms_store open(const std::string& path, store_options options = {});

    sms_store(sms_store&&) noexcept;
    sms_store& operator=(sms_store&&) noexcept;
    ~sms_store();

    // Parts open() found `sending` and marked unknown (for the log).
    std::size_t recovered_unknown() const noexcept;

    // ----- outbox -----
    // One transaction: the message, its idempotency key and every part.
    accept_result accept(const outbox_request& request);
    std::optional<outbox_part> next_part_to_send();  // oldest queued part
    // Each returns false when the part is not in the state the transition
    // starts from (a stale handle, or a transition already made).
    bool mark_sending(std::int64_t part);
    bool mark_sent(std::int64_t part, std::uint8_t message_reference);
    bool mark_failed(std::int64_t part, std::string_view reason);
    bool mark_unknown(std::int64_t part, std::string_view reason);
    bool requeue(std::int64_t part, std::string_view reason);
    // A status report: the most recently sent part with this TP-MR to this
    // recipient (compared on their last 8 digits, as networks report
    // national and international forms). Pending TP-ST values only record
    // the status. Returns the message id updated; nullopt when no sent
    // part matches (a report for a part already final is a no-op).
    std::optional<std::string> mark_delivered_by_reference(std::uint8_t message_reference,
                                                           std::string_view recipient, std::uint8_t tp_st);
    std::optional<outbox_message> message(std::string_view id);
    outbox_counts counts();
    // Deletes messages created before `cutoff` with no part queued or
    // sending (their idempotency keys go with them). Returns how many.
    std::size_t prune_outbox(sys_time cutoff);

    // ----- inbox -----
    // An SMS-DELIVER (anything else is ignored and returns is_new = false,
    // part_id = 0). sim_index: the slot it was read from, nullopt for a
    // routed +CMT. Idempotent by content: the TPDU, which holds the sender,
    // the SCTS and the text (the SMSC address in front is not compared).
    incoming_result store_incoming(std::optional<int> sim_index, std::string_view pdu_hex,
                                   const deliver_pdu& decoded, sys_time received_at);
    // Complete messages (and expired incomplete ones), oldest first.
    page<inbox_message> list_inbox(page_request request = {});
    std::optional<inbox_message> inbox_message_by_id(std::string_view id);
    bool delete_inbox(std::string_view id);
    // Joins what arrived of concatenated messages whose first part was
    // received before `cutoff`. Returns the new message ids.
    std::vector<std::string> expire_incomplete(sys_time cutoff);

    // SIM slots holding a stored part, to delete with AT+CMGD.
    std::vector<sim_slot> pending_sim_deletions();
    // After AT+CMGD=<index> answered OK. False when the slot no longer
    // holds that part (already marked, or reused).
    bool mark_sim_deleted(const sim_slot& slot);
    // After an AT+CMGL and store_incoming() of every entry: slots not
    // listed no longer hold what the store thought (deleted before a
    // crash let us record it), so they are forgotten before any AT+CMGD
    // can hit a slot that was reused meanwhile.
    void reconcile_sim(const std::vector<int>& listed_indexes);

private:
    struct impl;
    explicit sms_store(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace sb::sms
