#include "sms/sms_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

namespace sb::sms {

namespace {

// ----- a thin RAII layer over the C API -----

[[noreturn]] void fail(sqlite3* db, std::string_view context) {
    std::string what = "sms store: ";
    what += context;
    what += ": ";
    what += db ? sqlite3_errmsg(db) : "out of memory";
    throw store_error(what, db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM);
}

// A prepared statement borrowed from the cache for one use: bound, stepped,
// then reset on scope exit so that no SELECT keeps a read snapshot open
// (which would stop WAL checkpoints).
class query {
public:
    query(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
    query(const query&) = delete;
    query& operator=(const query&) = delete;
    ~query() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }

    query& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
    query& bind(int i, std::string_view v) {
        return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    query& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    query& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    query& bind_blob(int i, const std::vector<std::uint8_t>& v) {
        return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    query& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }
    template <typename T>
    query& bind(int i, const std::optional<T>& v) {
        return v ? bind(i, static_cast<std::int64_t>(*v)) : bind_null(i);
    }

    // True: a row is ready. False: done.
    bool step() {
        int const rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, sqlite3_sql(s_));
    }
    void run() {
        while (step()) {
        }
    }
    int changes() const { return sqlite3_changes(db_); }

    bool null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
    std::int64_t i64(int i) const { return sqlite3_column_int64(s_, i); }
    std::string text(int i) const {
        auto const* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string();
    }
    std::vector<std::uint8_t> blob(int i) const {
        auto const* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, i));
        return p ? std::vector<std::uint8_t>(p, p + sqlite3_column_bytes(s_, i)) : std::vector<std::uint8_t>();
    }
    std::optional<std::int64_t> opt(int i) const {
        return null(i) ? std::nullopt : std::optional<std::int64_t>(i64(i));
    }

private:
    query& check(int rc) {
        if (rc != SQLITE_OK) fail(db_, "bind");
        return *this;
    }
    sqlite3* db_;
    sqlite3_stmt* s_;
};

class database {
public:
    database() = default;
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database() {
        for (auto& [sql, s] : cache_) sqlite3_finalize(s);
        if (db_) sqlite3_close_v2(db_);
    }

    void open(const std::string& path) {
        int const rc = sqlite3_open_v2(path.c_str(), &db_,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) fail(db_, "open " + path);
        sqlite3_extended_result_codes(db_, 1);
    }
    sqlite3* get() const { return db_; }

    void exec(const char* sql) {
        if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, sql);
    }
    // Statements are prepared once and kept: the hot path (mark_*) is one
    // bind + step of an already compiled statement.
    query operator()(const char* sql) {
        auto it = cache_.find(sql);
        if (it == cache_.end()) {
            sqlite3_stmt* s = nullptr;
            if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) fail(db_, sql);
            it = cache_.emplace(sql, s).first;
        }
        return query(db_, it->second);
    }

private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// BEGIN IMMEDIATE: the write lock is taken up front, so a transaction never
// fails half-way with SQLITE_BUSY on its first write.
class transaction {
public:
    explicit transaction(database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction() {
        if (!done_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        db_.exec("COMMIT");
        done_ = true;
    }

private:
    database& db_;
    bool done_ = false;
};

// ----- schema -----

constexpr int schema_version = 1;

// Outbox: one row per part per recipient; states as words so that the file
// reads well in the sqlite3 shell. Partial indexes keep "oldest queued" and
// the crash recovery O(log n) however long the history.
// Inbox: parts keyed by content; a part is open (message_seq NULL), joined
// (message_seq set) or a tombstone (deleted = 1: its message was deleted
// through the API while the SIM still holds it, so that re-listing the SIM
// does not bring it back; dropped once the SIM slot is freed).
constexpr const char* schema_v1 = R"sql(
CREATE TABLE outbox_messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT UNIQUE,
    text TEXT NOT NULL,
    validity_minutes INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE outbox_parts (
    id INTEGER PRIMARY KEY,
    message_seq INTEGER NOT NULL REFERENCES outbox_messages(seq) ON DELETE CASCADE,
    recipient_index INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    recipient_key TEXT NOT NULL,
    part INTEGER NOT NULL,
    total INTEGER NOT NULL,
    pdu_hex TEXT NOT NULL,
    tpdu_length INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'unknown')),
    mr INTEGER,
    delivery_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    sending_at INTEGER,
    sent_at INTEGER,
    done_at INTEGER
);
CREATE INDEX outbox_parts_message ON outbox_parts(message_seq, recipient_index, part);
CREATE INDEX outbox_parts_queued ON outbox_parts(id) WHERE state = 'queued';
CREATE INDEX outbox_parts_sending ON outbox_parts(id) WHERE state = 'sending';
CREATE INDEX outbox_parts_mr ON outbox_parts(mr, recipient_key, sent_at) WHERE mr IS NOT NULL;

CREATE TABLE inbox_messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    sender_type INTEGER NOT NULL,
    smsc TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    coding INTEGER NOT NULL,
    text TEXT NOT NULL,
    payload BLOB,
    message_class INTEGER,
    parts INTEGER NOT NULL,
    total INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE inbox_parts (
    id INTEGER PRIMARY KEY,
    content_key TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    concat_ref INTEGER,
    concat_total INTEGER,
    concat_part INTEGER,
    ref16 INTEGER NOT NULL DEFAULT 0,
    pdu_hex TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    sim_index INTEGER,
    message_seq INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbox_parts_open ON inbox_parts(sender, concat_ref, concat_total, ref16)
    WHERE message_seq IS NULL AND deleted = 0;
CREATE INDEX inbox_parts_sim ON inbox_parts(sim_index) WHERE sim_index IS NOT NULL;
CREATE INDEX inbox_parts_message ON inbox_parts(message_seq);
)sql";

// ----- helpers -----

std::int64_t to_ms(sys_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
sys_time from_ms(std::int64_t ms) {
    return sys_time(std::chrono::duration_cast<sys_time::duration>(std::chrono::milliseconds(ms)));
}
std::optional<sys_time> from_ms(std::optional<std::int64_t> ms) {
    return ms ? std::optional<sys_time>(from_ms(*ms)) : std::nullopt;
}

constexpr std::string_view state_names[] = {"queued", "sending", "sent", "delivered", "failed", "unknown"};

part_state parse_state(std::string_view s) {
    for (std::size_t i = 0; i < std::size(state_names); ++i)
        if (state_names[i] == s) return static_cast<part_state>(i);
    throw store_error("sms store: unknown part state '" + std::string(s) + "' in the file", 0);
}

// Networks report the recipient of a status report in whatever form they
// like (+43660..., 0660..., 660...): the last 8 digits decide.
std::string recipient_key(std::string_view number) {
    std::string digits;
    for (char c : number)
        if (c >= '0' && c <= '9') digits += c;
    if (digits.empty()) return std::string(number);  // alphanumeric or odd: exact
    return digits.size() > 8 ? digits.substr(digits.size() - 8) : digits;
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    });
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

// What identifies a received part: its TPDU, which holds the sender, the
// SMSC timestamp and the user data. The SMSC address in front is left out:
// some modems print it for +CMT: and not for +CMGL:, or print it otherwise.
// Two messages with the same TPDU (same sender, same second, same text)
// are one message; the network's own retransmissions look exactly so.
std::string content_key(std::string_view hex) {
    std::vector<std::uint8_t> first;
    std::size_t skip = 0;
    if (hex.size() >= 2 && from_hex(hex.substr(0, 2), first)) skip = 2 + 2 * std::size_t{first[0]};
    return upper(skip < hex.size() ? hex.substr(skip) : hex);
}

std::string hex64(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 15];
    return out;
}

std::string reject_reason(const outbox_request& r, const store_limits& lim) {
    if (r.to.empty()) return "to: no recipient";
    if (r.to.size() > lim.max_recipients) return "to: more than " + std::to_string(lim.max_recipients) + " recipients";
    if (r.pdus.size() != r.to.size()) return "pdus: not one list per recipient";
    if (r.text.size() > lim.max_text_bytes) return "text: longer than " + std::to_string(lim.max_text_bytes) + " bytes";
    if (r.idempotency_key) {
        if (r.idempotency_key->empty()) return "idempotency_key: empty";
        if (r.idempotency_key->size() > lim.max_idempotency_key)
            return "idempotency_key: longer than " + std::to_string(lim.max_idempotency_key) + " bytes";
    }
    if (r.validity && r.validity->count() <= 0) return "validity_minutes: not positive";
    std::size_t parts = 0;
    for (std::size_t i = 0; i < r.to.size(); ++i) {
        auto const& to = r.to[i];
        if (to.empty() || to.size() > 32) return "to[" + std::to_string(i) + "]: not a number";
        auto const& pdus = r.pdus[i];
        if (pdus.empty() || pdus.size() > 255) return "pdus[" + std::to_string(i) + "]: 1-255 parts expected";
        parts += pdus.size();
        for (std::size_t j = 0; j < pdus.size(); ++j) {
            auto const& p = pdus[j];
            if (p.part != j + 1 || p.total != pdus.size())
                return "pdus[" + std::to_string(i) + "]: parts out of order";
            if (p.hex.empty() || p.hex.size() % 2 != 0 || p.hex.size() > max_hex_chars || !is_hex(p.hex) ||
                p.tpdu_length == 0 || p.tpdu_length > p.hex.size() / 2)
                return "pdus[" + std::to_string(i) + "]: malformed PDU";
        }
    }
    if (parts > lim.max_parts_per_request)
        return "text: " + std::to_string(parts) + " parts over all recipients, more than " +
               std::to_string(lim.max_parts_per_request);
    return {};
}

}  // namespace

std::string_view to_string(part_state s) { return state_names[static_cast<std::size_t>(s)]; }

message_state aggregate_state(const std::vector<part_state>& parts) {
    auto any = [&](part_state s) { return std::find(parts.begin(), parts.end(), s) != parts.end(); };
    auto all = [&](auto pred) { return std::all_of(parts.begin(), parts.end(), pred); };
    if (any(part_state::failed)) return part_state::failed;
    if (all([](part_state s) { return s == part_state::queued; })) return part_state::queued;
    if (any(part_state::queued) || any(part_state::sending)) return part_state::sending;
    if (any(part_state::unknown)) return part_state::unknown;
    if (all([](part_state s) { return s == part_state::delivered; })) return part_state::delivered;
    return part_state::sent;
}

// ----- the store -----

struct sms_store::impl {
    store_options options;
    database db;
    int lock_fd = -1;
    std::size_t recovered = 0;
    std::random_device random;

    ~impl() {
        if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
    }

    std::int64_t now() { return to_ms(options.clock()); }

    std::string random_id() {
        std::uint64_t v = (std::uint64_t{random()} << 32) | random();
        return hex64(v);
    }

    void lock(const std::string& path) {
        auto const lock_path = path + ".lock";
        lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0) throw store_error("sms store: open " + lock_path + ": " + std::strerror(errno), 0);
        if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
            int const e = errno;
            throw store_error("sms store: " + path +
                                  (e == EWOULDBLOCK ? std::string(" is in use by another process")
                                                    : std::string(": flock: ") + std::strerror(e)),
                              0);
        }
    }

    void configure() {
        sqlite3_busy_timeout(db.get(), static_cast<int>(options.busy_timeout.count()));
        {
            auto q = db("PRAGMA journal_mode = WAL");
            if (!q.step() || q.text(0) != "wal")
                throw store_error("sms store: the file system does not support WAL mode", 0);
        }
        // FULL: in WAL mode NORMAL may lose the last commits on power loss,
        // and losing a committed mark_sending after AT+CMGS went out would
        // send the part twice. One fsync per transition is nothing at the
        // rate a modem sends (a part every few seconds).
        db.exec("PRAGMA synchronous = FULL");
        db.exec("PRAGMA foreign_keys = ON");
    }

    void migrate() {
        transaction t(db);
        db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        int version = 0;
        {
            auto q = db("SELECT version FROM schema_version");
            if (q.step()) version = static_cast<int>(q.i64(0));
        }
        if (version > schema_version)
            throw store_error("sms store: the file has schema version " + std::to_string(version) +
                                  ", newer than this program's " + std::to_string(schema_version),
                              0);
        if (version == schema_version) return;  // rolled back: nothing written
        if (version < 1) db.exec(schema_v1);
        // Later versions: if (version < 2) db.exec(schema_v2); ...
        db.exec("DELETE FROM schema_version");
        db("INSERT INTO schema_version (version) VALUES (?)").bind(1, std::int64_t{schema_version}).run();
        t.commit();
    }

    void recover() {
        auto q = db(
            "UPDATE outbox_parts SET state = 'unknown', done_at = ?, "
            "error = 'interrupted between AT+CMGS and its answer (restart)' WHERE state = 'sending'");
        q.bind(1, now()).run();
        recovered = static_cast<std::size_t>(q.changes());
    }

    // ----- outbox -----

    std::optional<std::int64_t> outbox_seq(std::string_view id) {
        auto q = db("SELECT seq FROM outbox_messages WHERE id = ?");
        q.bind(1, id);
        if (!q.step()) return std::nullopt;
        return q.i64(0);
    }

    bool update_part(const char* sql, std::int64_t part, std::int64_t t, std::optional<std::string_view> text,
                     std::optional<std::int64_t> number = std::nullopt) {
        auto q = db(sql);
        int i = 1;
        q.bind(i++, t);
        if (text) q.bind(i++, *text);
        if (number) q.bind(i++, *number);
        q.bind(i, part).run();
        return q.changes() == 1;
    }

    // ----- inbox -----

    std::optional<std::int64_t> inbox_seq(std::string_view id) {
        auto q = db("SELECT seq FROM inbox_messages WHERE id = ?");
        q.bind(1, id);
        if (!q.step()) return std::nullopt;
        return q.i64(0);
    }

    // A slot holds one message: whatever the store thought was there before
    // is gone from the SIM (tombstones with it).
    void release_slot(int index, std::int64_t keep_part) {
        db("UPDATE inbox_parts SET sim_index = NULL WHERE sim_index = ? AND id <> ?")
            .bind(1, std::int64_t{index})
            .bind(2, keep_part)
            .run();
        drop_freed_tombstones();
    }
    void drop_freed_tombstones() { db("DELETE FROM inbox_parts WHERE deleted = 1 AND sim_index IS NULL").run(); }

    std::string insert_message(const complete_message& m, std::int64_t received_at) {
        std::string id = random_id();
        while (inbox_seq(id)) id = random_id();
        auto q = db(
            "INSERT INTO inbox_messages (id, sender, sender_type, smsc, timestamp, coding, text, payload, "
            "message_class, parts, total, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, id)
            .bind(2, m.sender.value)
            .bind(3, std::int64_t{m.sender.type})
            .bind(4, m.smsc.value)
            .bind(5, m.timestamp)
            .bind(6, static_cast<std::int64_t>(m.coding))
            .bind(7, m.text);
        if (m.coding == text_coding::eight_bit) q.bind_blob(8, m.payload);
        else q.bind_null(8);
        q.bind(9, m.message_class)
            .bind(10, std::int64_t{m.parts})
            .bind(11, std::int64_t{m.total})
            .bind(12, received_at)
            .run();
        return id;
    }

    struct group_key {
        std::string sender;
        std::int64_t ref, total, ref16;
    };

    // Joins the open parts of one concatenated message (all of them, or what
    // arrived of it when `force`). Returns the message id, nullopt when
    // incomplete and not forced.
    std::optional<std::string> join_group(const group_key& g, bool force) {
        std::vector<std::int64_t> ids;
        std::int64_t received_at = 0;
        reassembler r;
        using rclock = reassembler::clock;
        std::optional<complete_message> done;
        {
            auto q = db(
                "SELECT id, pdu_hex, received_at FROM inbox_parts WHERE message_seq IS NULL AND deleted = 0 "
                "AND sender = ? AND concat_ref = ? AND concat_total = ? AND ref16 = ? ORDER BY concat_part");
            q.bind(1, g.sender).bind(2, g.ref).bind(3, g.total).bind(4, g.ref16);
            while (q.step()) {
                std::string error;
                auto const pdu = decode_deliver(q.text(1), error);
                ids.push_back(q.i64(0));
                received_at = std::max(received_at, q.i64(2));
                if (!pdu) continue;  // stored decodable; skipped rather than lost with the rest
                if (auto m = r.add(*pdu, rclock::time_point{})) done = std::move(m);
            }
        }
        if (!done && !force) return std::nullopt;
        if (!done) {
            auto expired = r.expire(rclock::time_point{} + reassembler_limits{}.timeout + std::chrono::hours(1));
            if (expired.empty()) {  // nothing decodable: drop the parts rather than keep them open forever
                for (auto id : ids)
                    db("UPDATE inbox_parts SET deleted = 1, pdu_hex = '' WHERE id = ?").bind(1, id).run();
                drop_freed_tombstones();
                return std::nullopt;
            }
            done = std::move(expired.front());
        }
        auto const id = insert_message(*done, received_at);
        auto const seq = *inbox_seq(id);
        for (auto part : ids)
            db("UPDATE inbox_parts SET message_seq = ? WHERE id = ?").bind(1, seq).bind(2, part).run();
        return id;
    }

    static inbox_message read_inbox(const query& q) {
        inbox_message m;
        m.id = q.text(0);
        m.sender = q.text(1);
        m.sender_type = static_cast<std::uint8_t>(q.i64(2));
        m.smsc = q.text(3);
        m.timestamp = q.text(4);
        m.coding = static_cast<text_coding>(q.i64(5));
        m.text = q.text(6);
        m.payload = q.blob(7);
        if (!q.null(8)) m.message_class = static_cast<std::uint8_t>(q.i64(8));
        m.parts = static_cast<std::uint8_t>(q.i64(9));
        m.total = static_cast<std::uint8_t>(q.i64(10));
        m.received_at = from_ms(q.i64(11));
        return m;
    }
};

sms_store::sms_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
sms_store::sms_store(sms_store&&) noexcept = default;
sms_store& sms_store::operator=(sms_store&&) noexcept = default;
sms_store::~sms_store() = default;

sms_store sms_store::open(const std::string& path, store_options options) {
    auto p = std::make_unique<impl>();
    p->options = std::move(options);
    p->lock(path);
    p->db.open(path);
    p->configure();
    p->migrate();
    p->recover();
    return sms_store(std::move(p));
}

std::size_t sms_store::recovered_unknown() const noexcept { return impl_->recovered; }

// ----- outbox -----

accept_result sms_store::accept(const outbox_request& request) {
    auto& s = *impl_;
    if (auto reason = reject_reason(request, s.options.limits); !reason.empty())
        return {accept_status::rejected, {}, std::move(reason)};
    transaction t(s.db);
    if (request.idempotency_key) {
        auto q = s.db("SELECT id FROM outbox_messages WHERE idempotency_key = ?");
        q.bind(1, *request.idempotency_key);
        if (q.step()) return {accept_status::duplicate, q.text(0), {}};
    }
    std::string id = s.random_id();
    while (s.outbox_seq(id)) id = s.random_id();
    auto const now = s.now();
    {
        auto q = s.db(
            "INSERT INTO outbox_messages (id, idempotency_key, text, validity_minutes, created_at) "
            "VALUES (?, ?, ?, ?, ?)");
        q.bind(1, id);
        if (request.idempotency_key) q.bind(2, *request.idempotency_key);
        else q.bind_null(2);
        q.bind(3, request.text);
        if (request.validity) q.bind(4, static_cast<std::int64_t>(request.validity->count()));
        else q.bind_null(4);
        q.bind(5, now).run();
    }
    auto const seq = sqlite3_last_insert_rowid(s.db.get());
    for (std::size_t i = 0; i < request.to.size(); ++i) {
        auto const key = recipient_key(request.to[i]);
        for (auto const& p : request.pdus[i]) {
            s.db("INSERT INTO outbox_parts (message_seq, recipient_index, recipient, recipient_key, part, total, "
                 "pdu_hex, tpdu_length, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)")
                .bind(1, seq)
                .bind(2, static_cast<std::int64_t>(i))
                .bind(3, request.to[i])
                .bind(4, key)
                .bind(5, std::int64_t{p.part})
                .bind(6, std::int64_t{p.total})
                .bind(7, upper(p.hex))
                .bind(8, static_cast<std::int64_t>(p.tpdu_length))
                .bind(9, now)
                .run();
        }
    }
    t.commit();
    return {accept_status::accepted, std::move(id), {}};
}

std::optional<outbox_part> sms_store::next_part_to_send() {
    auto q = impl_->db(
        "SELECT p.id, m.id, p.recipient, p.part, p.total, p.pdu_hex, p.tpdu_length, p.attempts "
        "FROM outbox_parts p JOIN outbox_messages m ON m.seq = p.message_seq "
        "WHERE p.state = 'queued' ORDER BY p.id LIMIT 1");
    if (!q.step()) return std::nullopt;
    outbox_part p;
    p.id = q.i64(0);
    p.message_id = q.text(1);
    p.recipient = q.text(2);
    p.part = static_cast<std::uint8_t>(q.i64(3));
    p.total = static_cast<std::uint8_t>(q.i64(4));
    p.pdu_hex = q.text(5);
    p.tpdu_length = static_cast<std::size_t>(q.i64(6));
    p.attempts = static_cast<unsigned>(q.i64(7));
    return p;
}

bool sms_store::mark_sending(std::int64_t part) {
    return impl_->update_part(
        "UPDATE outbox_parts SET state = 'sending', attempts = attempts + 1, sending_at = ? "
        "WHERE id = ? AND state = 'queued'",
        part, impl_->now(), std::nullopt);
}

bool sms_store::mark_sent(std::int64_t part, std::uint8_t message_reference) {
    return impl_->update_part(
        "UPDATE outbox_parts SET state = 'sent', sent_at = ?, mr = ?, error = '' "
        "WHERE id = ? AND state = 'sending'",
        part, impl_->now(), std::nullopt, std::int64_t{message_reference});
}

bool sms_store::mark_failed(std::int64_t part, std::string_view reason) {
    auto& s = *impl_;
    transaction t(s.db);
    auto const now = s.now();
    if (!s.update_part("UPDATE outbox_parts SET state = 'failed', done_at = ?, error = ? "
                       "WHERE id = ? AND state IN ('queued', 'sending')",
                       part, now, reason))
        return false;
    s.db("UPDATE outbox_parts SET state = 'failed', done_at = ?1, "
         "error = 'part ' || (SELECT part FROM outbox_parts WHERE id = ?2) || ' failed' "
         "WHERE state = 'queued' "
         "AND message_seq = (SELECT message_seq FROM outbox_parts WHERE id = ?2) "
         "AND recipient_index = (SELECT recipient_index FROM outbox_parts WHERE id = ?2)")
        .bind(1, now)
        .bind(2, part)
        .run();
    t.commit();
    return true;
}

bool sms_store::mark_unknown(std::int64_t part, std::string_view reason) {
    return impl_->update_part(
        "UPDATE outbox_parts SET state = 'unknown', done_at = ?, error = ? WHERE id = ? AND state = 'sending'",
        part, impl_->now(), reason);
}

bool sms_store::requeue(std::int64_t part, std::string_view reason) {
    auto q = impl_->db("UPDATE outbox_parts SET state = 'queued', error = ? WHERE id = ? AND state = 'sending'");
    q.bind(1, reason).bind(2, part).run();
    return q.changes() == 1;
}

std::optional<std::string> sms_store::mark_delivered_by_reference(std::uint8_t message_reference,
                                                                  std::string_view recipient, std::uint8_t tp_st) {
    auto& s = *impl_;
    transaction t(s.db);
    std::int64_t part = 0;
    std::string message_id;
    {
        auto q = s.db(
            "SELECT p.id, p.state, m.id FROM outbox_parts p JOIN outbox_messages m ON m.seq = p.message_seq "
            "WHERE p.mr = ? AND p.recipient_key = ? AND p.sent_at IS NOT NULL "
            "ORDER BY p.sent_at DESC, p.id DESC LIMIT 1");
        q.bind(1, std::int64_t{message_reference}).bind(2, recipient_key(recipient));
        if (!q.step() || q.text(1) != "sent") return std::nullopt;
        part = q.i64(0);
        message_id = q.text(2);
    }
    auto const now = s.now();
    switch (classify_status(tp_st)) {
    case delivery_state::delivered:
        s.db("UPDATE outbox_parts SET state = 'delivered', delivery_status = ?, done_at = ? WHERE id = ?")
            .bind(1, std::int64_t{tp_st})
            .bind(2, now)
            .bind(3, part)
            .run();
        break;
    case delivery_state::failed: {
        char buf[48];
        std::snprintf(buf, sizeof buf, "status report: TP-ST 0x%02X", tp_st);
        s.db("UPDATE outbox_parts SET state = 'failed', delivery_status = ?, done_at = ?, error = ? WHERE id = ?")
            .bind(1, std::int64_t{tp_st})
            .bind(2, now)
            .bind(3, std::string_view(buf))
            .bind(4, part)
            .run();
        break;
    }
    case delivery_state::pending:
        s.db("UPDATE outbox_parts SET delivery_status = ? WHERE id = ?")
            .bind(1, std::int64_t{tp_st})
            .bind(2, part)
            .run();
        break;
    }
    t.commit();
    return message_id;
}

std::optional<outbox_message> sms_store::message(std::string_view id) {
    auto& s = *impl_;
    outbox_message m;
    std::int64_t seq = 0;
    {
        auto q = s.db(
            "SELECT seq, id, text, validity_minutes, idempotency_key, created_at FROM outbox_messages WHERE id = ?");
        q.bind(1, id);
        if (!q.step()) return std::nullopt;
        seq = q.i64(0);
        m.id = q.text(1);
        m.text = q.text(2);
        if (!q.null(3)) m.validity = std::chrono::minutes(q.i64(3));
        if (!q.null(4)) m.idempotency_key = q.text(4);
        m.created_at = from_ms(q.i64(5));
    }
    auto q = s.db(
        "SELECT id, recipient_index, recipient, part, total, state, mr, delivery_status, error, attempts, "
        "created_at, sending_at, sent_at, done_at FROM outbox_parts WHERE message_seq = ? "
        "ORDER BY recipient_index, part");
    q.bind(1, seq);
    std::vector<part_state> states;
    std::int64_t last_recipient = -1;
    while (q.step()) {
        part_info p;
        p.id = q.i64(0);
        p.recipient = q.text(2);
        if (q.i64(1) != last_recipient) {
            m.to.push_back(p.recipient);
            last_recipient = q.i64(1);
        }
        p.part = static_cast<std::uint8_t>(q.i64(3));
        p.total = static_cast<std::uint8_t>(q.i64(4));
        p.state = parse_state(q.text(5));
        if (!q.null(6)) p.message_reference = static_cast<std::uint8_t>(q.i64(6));
        if (!q.null(7)) p.delivery_status = static_cast<std::uint8_t>(q.i64(7));
        p.error = q.text(8);
        p.attempts = static_cast<unsigned>(q.i64(9));
        p.created_at = from_ms(q.i64(10));
        p.sending_at = from_ms(q.opt(11));
        p.sent_at = from_ms(q.opt(12));
        p.done_at = from_ms(q.opt(13));
        states.push_back(p.state);
        m.parts.push_back(std::move(p));
    }
    m.state = aggregate_state(states);
    return m;
}

outbox_counts sms_store::counts() {
    outbox_counts c;
    auto q = impl_->db("SELECT state, count(*) FROM outbox_parts GROUP BY state");
    while (q.step()) {
        auto const n = static_cast<std::uint64_t>(q.i64(1));
        switch (parse_state(q.text(0))) {
        case part_state::queued: c.queued = n; break;
        case part_state::sending: c.sending = n; break;
        case part_state::sent: c.sent = n; break;
        case part_state::delivered: c.delivered = n; break;
        case part_state::failed: c.failed = n; break;
        case part_state::unknown: c.unknown = n; break;
        }
    }
    return c;
}

std::size_t sms_store::prune_outbox(sys_time cutoff) {
    auto q = impl_->db(
        "DELETE FROM outbox_messages WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM outbox_parts p "
        "WHERE p.message_seq = outbox_messages.seq AND p.state IN ('queued', 'sending'))");
    q.bind(1, to_ms(cutoff)).run();
    return static_cast<std::size_t>(q.changes());
}

// ----- inbox -----

incoming_result sms_store::store_incoming(std::optional<int> sim_index, std::string_view pdu_hex,
                                          const deliver_pdu& decoded, sys_time received_at) {
    auto& s = *impl_;
    incoming_result result;
    if (decoded.kind != pdu_kind::deliver || pdu_hex.empty() || pdu_hex.size() > max_hex_chars) return result;
    auto const hex = upper(pdu_hex);
    auto const key = content_key(hex);
    transaction t(s.db);
    {
        auto q = s.db("SELECT id FROM inbox_parts WHERE content_key = ?");
        q.bind(1, key);
        if (q.step()) result.part_id = q.i64(0);
    }
    if (result.part_id != 0) {
        if (sim_index) {
            s.release_slot(*sim_index, result.part_id);
            s.db("UPDATE inbox_parts SET sim_index = ? WHERE id = ?")
                .bind(1, std::int64_t{*sim_index})
                .bind(2, result.part_id)
                .run();
        }
        t.commit();
        return result;
    }
    result.is_new = true;
    bool const concatenated = decoded.concat && decoded.concat->total >= 2;
    std::optional<std::int64_t> seq;
    if (!concatenated) {
        complete_message m;
        m.sender = decoded.sender;
        m.smsc = decoded.smsc;
        m.timestamp = decoded.timestamp;
        m.coding = decoded.coding;
        m.text = decoded.text;
        if (decoded.coding == text_coding::eight_bit) m.payload = decoded.payload;
        m.message_class = decoded.message_class;
        result.completed_message_id = s.insert_message(m, to_ms(received_at));
        seq = s.inbox_seq(*result.completed_message_id);
    }
    impl::group_key g;
    if (concatenated) {
        auto const& c = *decoded.concat;
        g = {decoded.sender.value, c.ref, c.total, c.ref16 ? 1 : 0};
        // The same part number already open with other content: the sender
        // reused the reference before the old message completed. Close the
        // old one with what it has rather than mixing the two.
        bool clash = false;
        {
            auto q = s.db(
                "SELECT 1 FROM inbox_parts WHERE message_seq IS NULL AND deleted = 0 AND sender = ? "
                "AND concat_ref = ? AND concat_total = ? AND ref16 = ? AND concat_part = ?");
            q.bind(1, g.sender).bind(2, g.ref).bind(3, g.total).bind(4, g.ref16).bind(5, std::int64_t{c.part});
            clash = q.step();
        }
        if (clash) s.join_group(g, true);
    }
    {
        auto q = s.db(
            "INSERT INTO inbox_parts (content_key, sender, concat_ref, concat_total, concat_part, ref16, pdu_hex, "
            "received_at, message_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, key).bind(2, decoded.sender.value);
        if (concatenated) {
            q.bind(3, g.ref).bind(4, g.total).bind(5, std::int64_t{decoded.concat->part}).bind(6, g.ref16);
        } else {
            q.bind_null(3).bind_null(4).bind_null(5).bind(6, std::int64_t{0});
        }
        q.bind(7, hex).bind(8, to_ms(received_at)).bind(9, seq).run();
    }
    result.part_id = sqlite3_last_insert_rowid(s.db.get());
    if (sim_index) {
        s.release_slot(*sim_index, result.part_id);
        s.db("UPDATE inbox_parts SET sim_index = ? WHERE id = ?")
            .bind(1, std::int64_t{*sim_index})
            .bind(2, result.part_id)
            .run();
    }
    if (concatenated) result.completed_message_id = s.join_group(g, false);
    t.commit();
    return result;
}

page<inbox_message> sms_store::list_inbox(page_request request) {
    auto& s = *impl_;
    auto const limit = std::clamp<std::size_t>(request.limit, 1, s.options.limits.max_page);
    page<inbox_message> out;
    auto q = s.db(
        "SELECT id, sender, sender_type, smsc, timestamp, coding, text, payload, message_class, parts, total, "
        "received_at, seq FROM inbox_messages WHERE seq > ? ORDER BY seq LIMIT ?");
    q.bind(1, request.after).bind(2, static_cast<std::int64_t>(limit));
    std::int64_t last = 0;
    while (q.step()) {
        out.items.push_back(impl::read_inbox(q));
        last = q.i64(12);
    }
    if (out.items.size() == limit) out.next = last;
    return out;
}

std::optional<inbox_message> sms_store::inbox_message_by_id(std::string_view id) {
    auto q = impl_->db(
        "SELECT id, sender, sender_type, smsc, timestamp, coding, text, payload, message_class, parts, total, "
        "received_at FROM inbox_messages WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return impl::read_inbox(q);
}

bool sms_store::delete_inbox(std::string_view id) {
    auto& s = *impl_;
    transaction t(s.db);
    auto const seq = s.inbox_seq(id);
    if (!seq) return false;
    s.db("DELETE FROM inbox_parts WHERE message_seq = ? AND sim_index IS NULL").bind(1, *seq).run();
    s.db("UPDATE inbox_parts SET message_seq = NULL, deleted = 1, pdu_hex = '' WHERE message_seq = ?")
        .bind(1, *seq)
        .run();
    s.db("DELETE FROM inbox_messages WHERE seq = ?").bind(1, *seq).run();
    t.commit();
    return true;
}

std::vector<std::string> sms_store::expire_incomplete(sys_time cutoff) {
    auto& s = *impl_;
    transaction t(s.db);
    std::vector<impl::group_key> groups;
    {
        auto q = s.db(
            "SELECT sender, concat_ref, concat_total, ref16 FROM inbox_parts "
            "WHERE message_seq IS NULL AND deleted = 0 AND concat_ref IS NOT NULL "
            "GROUP BY sender, concat_ref, concat_total, ref16 HAVING min(received_at) < ?");
        q.bind(1, to_ms(cutoff));
        while (q.step()) groups.push_back({q.text(0), q.i64(1), q.i64(2), q.i64(3)});
    }
    std::vector<std::string> ids;
    for (auto const& g : groups)
        if (auto id = s.join_group(g, true)) ids.push_back(std::move(*id));
    t.commit();
    return ids;
}

std::vector<sim_slot> sms_store::pending_sim_deletions() {
    std::vector<sim_slot> out;
    auto q = impl_->db("SELECT sim_index, id FROM inbox_parts WHERE sim_index IS NOT NULL ORDER BY sim_index LIMIT ?");
    q.bind(1, static_cast<std::int64_t>(impl_->options.limits.max_page));
    while (q.step()) out.push_back({static_cast<int>(q.i64(0)), q.i64(1)});
    return out;
}

bool sms_store::mark_sim_deleted(const sim_slot& slot) {
    auto& s = *impl_;
    transaction t(s.db);
    auto q = s.db("UPDATE inbox_parts SET sim_index = NULL WHERE id = ? AND sim_index = ?");
    q.bind(1, slot.part_id).bind(2, std::int64_t{slot.index}).run();
    bool const changed = q.changes() == 1;
    s.drop_freed_tombstones();
    t.commit();
    return changed;
}

void sms_store::reconcile_sim(const std::vector<int>& listed_indexes) {
    auto& s = *impl_;
    std::set<int> const listed(listed_indexes.begin(), listed_indexes.end());
    transaction t(s.db);
    std::vector<sim_slot> stale;
    {
        auto q = s.db("SELECT sim_index, id FROM inbox_parts WHERE sim_index IS NOT NULL");
        while (q.step())
            if (!listed.contains(static_cast<int>(q.i64(0)))) stale.push_back({static_cast<int>(q.i64(0)), q.i64(1)});
    }
    for (auto const& slot : stale)
        s.db("UPDATE inbox_parts SET sim_index = NULL WHERE id = ?").bind(1, slot.part_id).run();
    s.drop_freed_tombstones();
    t.commit();
}

}  // namespace sb::sms
