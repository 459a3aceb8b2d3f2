#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../temp_dir.hpp"
#include "sms/pdu.hpp"
#include "sms/sms_store.hpp"

using namespace sb::sms;
using namespace std::chrono_literals;
using sb::test::temp_dir;

namespace {

// A clock tests can move.
struct fake_clock {
    sys_time now = sys_time(std::chrono::milliseconds(1'700'000'000'000));
};

store_options options_with(fake_clock& c) {
    store_options o;
    o.clock = [&c] { return c.now; };
    return o;
}

outbox_request request(std::vector<std::string> to, std::string text, std::optional<std::string> key = std::nullopt) {
    outbox_request r;
    r.to = std::move(to);
    r.text = std::move(text);
    r.validity = 60min;
    r.idempotency_key = std::move(key);
    for (auto const& number : r.to) {
        std::string error;
        auto pdus = encode_submit({number, r.text, r.validity, true, 42}, error);
        REQUIRE_MESSAGE(!pdus.empty(), error);
        r.pdus.push_back(std::move(pdus));
    }
    return r;
}

std::string accept_ok(sms_store& s, const outbox_request& r) {
    auto const res = s.accept(r);
    REQUIRE_MESSAGE(res.status == accept_status::accepted, res.error);
    return res.id;
}

// ----- SMS-DELIVER PDUs for the inbox -----

std::string hex_of(std::string_view bytes) {
    return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string ucs2_hex(std::string_view ascii) {
    std::string out;
    for (char c : ascii) {
        char b[5];
        std::snprintf(b, sizeof b, "00%02X", static_cast<unsigned char>(c));
        out += b;
    }
    return out;
}

std::string byte_hex(unsigned v) {
    char b[3];
    std::snprintf(b, sizeof b, "%02X", v & 0xFF);
    return b;
}

// TP-SCTS 2013-03-08 15:02:<second> +02:00, in swapped BCD.
std::string scts(unsigned second = 16) {
    return "3130805120" + std::string{static_cast<char>('0' + second % 10), static_cast<char>('0' + second / 10)} +
           "80";
}

constexpr std::string_view default_sender = "0B917228214365F7";  // +27821234567
constexpr std::string_view other_sender = "0B917228214365F8";    // +27821234568

// A UCS2 SMS-DELIVER (no SMSC); with a concatenation IE when total > 1.
std::string deliver_hex(std::string_view text, unsigned ref = 0, unsigned part = 1, unsigned total = 1,
                        const std::string& timestamp = scts(), std::string_view sender = default_sender) {
    std::string const ud = ucs2_hex(text);
    std::string out = total > 1 ? "0044" : "0004";
    out += sender;
    out += "0008";
    out += timestamp;
    if (total > 1) {
        out += byte_hex(static_cast<unsigned>(ud.size() / 2 + 6));
        out += "050003" + byte_hex(ref) + byte_hex(total) + byte_hex(part);
    } else {
        out += byte_hex(static_cast<unsigned>(ud.size() / 2));
    }
    return out + ud;
}

deliver_pdu decode(const std::string& hex) {
    std::string error;
    auto d = decode_deliver(hex, error);
    INFO(hex, " -> ", error);
    REQUIRE(d);
    return *d;
}

incoming_result store(sms_store& s, std::optional<int> index, const std::string& hex, sys_time at = {}) {
    return s.store_incoming(index, hex, decode(hex), at);
}

std::vector<int> slot_indexes(sms_store& s) {
    std::vector<int> out;
    for (auto const& slot : s.pending_sim_deletions()) out.push_back(slot.index);
    return out;
}

}  // namespace

// ===== opening =====

TEST_CASE("store: open creates the schema in WAL mode; reopen keeps the data") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    std::string id;
    {
        auto s = sms_store::open(path);
        CHECK(s.recovered_unknown() == 0);
        id = accept_ok(s, request({"+436601112233"}, "hello"));
        CHECK(id.size() == 16);
        CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
    CHECK(std::filesystem::exists(path + "-wal") == false);  // checkpointed and removed on a clean close
    auto s = sms_store::open(path);
    auto const m = s.message(id);
    REQUIRE(m);
    CHECK(m->text == "hello");
    CHECK(m->state == part_state::queued);
}

TEST_CASE("store: a second open of the same file is refused while the first is open") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    auto s = sms_store::open(path);
    CHECK_THROWS_WITH_AS(sms_store::open(path), doctest::Contains("in use by another process"), store_error);
}

TEST_CASE("store: I/O errors throw store_error with SQLite's message") {
    temp_dir dir;
    CHECK_THROWS_AS(sms_store::open(dir / "missing/dir/sms.db"), store_error);
    dir.write("garbage.db", std::string(8192, 'x'));
    try {
        sms_store::open(dir / "garbage.db");
        FAIL("opened garbage");
    } catch (const store_error& e) {
        CHECK(std::string(e.what()).find("not a database") != std::string::npos);
        CHECK(e.sqlite_code() != 0);
    }
}

TEST_CASE("store: a file from a newer version is refused, not downgraded") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    { auto s = sms_store::open(path); }
    {
        // A newer program wrote version 99: pretend with the C API's twin, the shell.
        auto const cmd = "sqlite3 '" + path + "' 'UPDATE schema_version SET version = 99' 2>/dev/null";
        if (std::system(cmd.c_str()) != 0) return;  // no sqlite3 shell: nothing to check
    }
    CHECK_THROWS_WITH_AS(sms_store::open(path), doctest::Contains("newer"), store_error);
}

// ===== aggregation =====

TEST_CASE("store: a message's state over its parts") {
    using enum part_state;
    CHECK(aggregate_state({queued}) == queued);
    CHECK(aggregate_state({queued, queued}) == queued);
    CHECK(aggregate_state({sending, queued}) == sending);
    CHECK(aggregate_state({sent, queued}) == sending);
    CHECK(aggregate_state({sent, sending}) == sending);
    CHECK(aggregate_state({sent, sent}) == sent);
    CHECK(aggregate_state({delivered, sent}) == sent);
    CHECK(aggregate_state({delivered, delivered}) == delivered);
    CHECK(aggregate_state({unknown, sent}) == unknown);
    CHECK(aggregate_state({unknown, delivered}) == unknown);
    CHECK(aggregate_state({unknown, queued}) == sending);  // still in progress
    CHECK(aggregate_state({failed, queued}) == failed);    // final at once
    CHECK(aggregate_state({failed, unknown, delivered}) == failed);
    CHECK(aggregate_state({delivered, failed}) == failed);
    for (auto s : {queued, sending, sent, delivered, failed, unknown}) CHECK(aggregate_state({s}) == s);
    CHECK(to_string(unknown) == "unknown");
    CHECK(to_string(delivered) == "delivered");
}

// ===== outbox =====

TEST_CASE("store: accept stores every part of every recipient, in order") {
    temp_dir dir;
    fake_clock clock;
    auto s = sms_store::open(dir / "sms.db", options_with(clock));
    std::string const long_text(200, 'x');  // 2 parts
    auto const id = accept_ok(s, request({"+436601112233", "06601112244"}, long_text, "key-1"));
    auto const m = s.message(id);
    REQUIRE(m);
    CHECK(m->id == id);
    CHECK(m->state == part_state::queued);
    CHECK(m->to == std::vector<std::string>{"+436601112233", "06601112244"});
    CHECK(m->text == long_text);
    CHECK(m->validity == 60min);
    CHECK(m->idempotency_key == "key-1");
    CHECK(m->created_at == clock.now);
    REQUIRE(m->parts.size() == 4);
    CHECK(m->parts[0].recipient == "+436601112233");
    CHECK(m->parts[0].part == 1);
    CHECK(m->parts[1].part == 2);
    CHECK(m->parts[1].total == 2);
    CHECK(m->parts[2].recipient == "06601112244");
    for (auto const& p : m->parts) {
        CHECK(p.state == part_state::queued);
        CHECK_FALSE(p.message_reference);
        CHECK(p.attempts == 0);
        CHECK_FALSE(p.sending_at);
    }
    CHECK_FALSE(s.message("0000000000000000"));
    CHECK_FALSE(s.message(""));
    auto const c = s.counts();
    CHECK(c.queued == 4);
    CHECK(c.sent == 0);
}

TEST_CASE("store: a duplicate idempotency key returns the existing id, also after a reopen") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    std::string id;
    {
        auto s = sms_store::open(path);
        id = accept_ok(s, request({"+436601112233"}, "once", "k"));
        auto const again = s.accept(request({"+436601112233"}, "once", "k"));
        CHECK(again.status == accept_status::duplicate);
        CHECK(again.id == id);
        // Another body under the same key is still the same request to us.
        auto const other = s.accept(request({"+436601112299"}, "other", "k"));
        CHECK(other.status == accept_status::duplicate);
        CHECK(other.id == id);
        CHECK(accept_ok(s, request({"+436601112233"}, "once", "k2")) != id);
        // No key: every request is new.
        auto const a = accept_ok(s, request({"+436601112233"}, "x"));
        auto const b = accept_ok(s, request({"+436601112233"}, "x"));
        CHECK(a != b);
        CHECK(s.counts().queued == 4);  // the duplicates added nothing
    }
    auto s = sms_store::open(path);
    auto const again = s.accept(request({"+436601112233"}, "once", "k"));
    CHECK(again.status == accept_status::duplicate);
    CHECK(again.id == id);
}

TEST_CASE("store: malformed or oversized requests are rejected with the field named") {
    temp_dir dir;
    store_options o;
    o.limits.max_recipients = 3;
    o.limits.max_text_bytes = 1000;
    o.limits.max_idempotency_key = 10;
    o.limits.max_parts_per_request = 5;
    auto s = sms_store::open(dir / "sms.db", o);
    auto rejected = [&](const outbox_request& r) {
        auto const res = s.accept(r);
        CHECK(res.status == accept_status::rejected);
        CHECK(res.id.empty());
        return res.error;
    };
    auto good = request({"+436601112233"}, "hi");

    auto r = good;
    r.to.clear();
    r.pdus.clear();
    CHECK(rejected(r) == "to: no recipient");
    CHECK(rejected(request({"+431", "+432", "+433", "+434"}, "hi")).starts_with("to: more than 3"));
    r = good;
    r.pdus.clear();
    CHECK(rejected(r) == "pdus: not one list per recipient");
    r = good;
    r.text = std::string(1001, 'a');
    CHECK(rejected(r).starts_with("text: longer than 1000"));
    r = good;
    r.idempotency_key = "";
    CHECK(rejected(r) == "idempotency_key: empty");
    r.idempotency_key = std::string(11, 'k');
    CHECK(rejected(r).starts_with("idempotency_key: longer"));
    r = good;
    r.validity = 0min;
    CHECK(rejected(r) == "validity_minutes: not positive");
    r = good;
    r.to[0] = "";
    CHECK(rejected(r) == "to[0]: not a number");
    r = good;
    r.pdus[0].clear();
    CHECK(rejected(r) == "pdus[0]: 1-255 parts expected");
    r = good;
    r.pdus[0][0].hex = "0G";
    CHECK(rejected(r) == "pdus[0]: malformed PDU");
    r = good;
    r.pdus[0][0].hex += "0";
    CHECK(rejected(r) == "pdus[0]: malformed PDU");
    r = good;
    r.pdus[0][0].tpdu_length = 500;
    CHECK(rejected(r) == "pdus[0]: malformed PDU");
    r = good;
    r.pdus[0][0].part = 2;
    CHECK(rejected(r) == "pdus[0]: parts out of order");
    CHECK(rejected(request({"+431", "+432"}, std::string(400, 'a'))).find("6 parts") != std::string::npos);
    CHECK(s.counts().queued == 0);
    accept_ok(s, good);
}

TEST_CASE("store: the sending path, queued -> sending -> sent -> delivered") {
    temp_dir dir;
    fake_clock clock;
    auto s = sms_store::open(dir / "sms.db", options_with(clock));
    CHECK_FALSE(s.next_part_to_send());
    auto const first = accept_ok(s, request({"+436601112233"}, std::string(200, 'a')));
    auto const second = accept_ok(s, request({"+436601112244"}, "b"));

    auto p = s.next_part_to_send();
    REQUIRE(p);
    CHECK(p->message_id == first);
    CHECK(p->part == 1);
    CHECK(p->total == 2);
    CHECK(p->recipient == "+436601112233");
    CHECK(p->attempts == 0);
    CHECK(p->tpdu_length * 2 + 2 == p->pdu_hex.size());  // "00" SMSC + TPDU

    CHECK_FALSE(s.mark_sent(p->id, 1));  // not sending yet
    clock.now += 1s;
    CHECK(s.mark_sending(p->id));
    CHECK_FALSE(s.mark_sending(p->id));  // twice: refused
    CHECK(s.message(first)->state == part_state::sending);
    // While one part is sending, the next queued one is offered: the caller
    // sends one at a time (the AT engine has one command in flight).
    auto const p2 = s.next_part_to_send();
    REQUIRE(p2);
    CHECK(p2->part == 2);
    clock.now += 1s;
    CHECK(s.mark_sent(p->id, 7));
    CHECK_FALSE(s.mark_sent(p->id, 7));
    CHECK(s.message(first)->state == part_state::sending);  // part 2 still queued

    CHECK(s.mark_sending(p2->id));
    CHECK(s.mark_sent(p2->id, 8));
    auto m = s.message(first);
    CHECK(m->state == part_state::sent);
    CHECK(m->parts[0].message_reference == 7);
    CHECK(m->parts[0].attempts == 1);
    CHECK(m->parts[0].sending_at == clock.now - 1s);
    CHECK(m->parts[0].sent_at == clock.now);
    CHECK_FALSE(m->parts[0].done_at);

    auto const p3 = s.next_part_to_send();
    REQUIRE(p3);
    CHECK(p3->message_id == second);

    // Status reports: pending keeps it sent, delivered completes it.
    clock.now += 1s;
    CHECK(s.mark_delivered_by_reference(7, "+436601112233", 0x20) == first);
    m = s.message(first);
    CHECK(m->parts[0].state == part_state::sent);
    CHECK(m->parts[0].delivery_status == 0x20);
    CHECK(s.mark_delivered_by_reference(7, "+436601112233", 0x00) == first);
    CHECK(s.message(first)->parts[0].state == part_state::delivered);
    CHECK(s.message(first)->parts[0].done_at == clock.now);
    CHECK(s.message(first)->state == part_state::sent);  // part 2 not yet
    // The network's national form of the same number matches too.
    CHECK(s.mark_delivered_by_reference(8, "06601112233", 0x00) == first);
    CHECK(s.message(first)->state == part_state::delivered);
    // A repeated report is a no-op, an unknown MR or recipient matches nothing.
    CHECK_FALSE(s.mark_delivered_by_reference(8, "+436601112233", 0x00));
    CHECK_FALSE(s.mark_delivered_by_reference(9, "+436601112233", 0x00));
    CHECK_FALSE(s.mark_delivered_by_reference(7, "+436601119999", 0x00));
    auto const c = s.counts();
    CHECK(c.delivered == 2);
    CHECK(c.queued == 1);
}

TEST_CASE("store: status reports match the most recently sent part with that MR") {
    temp_dir dir;
    fake_clock clock;
    auto s = sms_store::open(dir / "sms.db", options_with(clock));
    auto const old_id = accept_ok(s, request({"+436601112233"}, "old"));
    auto const new_id = accept_ok(s, request({"+436601112233"}, "new"));
    for (int i = 0; i < 2; ++i) {
        auto const p = s.next_part_to_send();
        REQUIRE(p);
        clock.now += 1s;
        REQUIRE(s.mark_sending(p->id));
        REQUIRE(s.mark_sent(p->id, 200));  // the MR wrapped round
    }
    CHECK(s.mark_delivered_by_reference(200, "+436601112233", 0x41) == new_id);
    auto const m = s.message(new_id);
    CHECK(m->state == part_state::failed);
    CHECK(m->parts[0].error == "status report: TP-ST 0x41");
    CHECK(m->parts[0].delivery_status == 0x41);
    CHECK(s.message(old_id)->state == part_state::sent);
    // The newest is final now: a report for it again does not fall through
    // to the older one.
    CHECK_FALSE(s.mark_delivered_by_reference(200, "+436601112233", 0x00));
    CHECK(s.message(old_id)->state == part_state::sent);
}

TEST_CASE("store: requeue, unknown and failed transitions") {
    temp_dir dir;
    auto s = sms_store::open(dir / "sms.db");
    auto const id = accept_ok(s, request({"+436601112233", "+436601112244"}, std::string(400, 'a')));  // 3 parts each
    REQUIRE(s.message(id)->parts.size() == 6);

    SUBCASE("requeue: the PDU was never written, the part goes out again first") {
        auto const p = s.next_part_to_send();
        REQUIRE(s.mark_sending(p->id));
        CHECK(s.requeue(p->id, "no prompt"));
        CHECK_FALSE(s.requeue(p->id, "again"));
        auto const again = s.next_part_to_send();
        CHECK(again->id == p->id);
        CHECK(again->attempts == 1);
        CHECK(s.message(id)->parts[0].error == "no prompt");
        CHECK(s.message(id)->state == part_state::queued);
        REQUIRE(s.mark_sending(p->id));
        REQUIRE(s.mark_sent(p->id, 1));
        CHECK(s.message(id)->parts[0].attempts == 2);
        CHECK(s.message(id)->parts[0].error.empty());
    }
    SUBCASE("unknown: no answer after the PDU; never offered again") {
        auto const p = s.next_part_to_send();
        CHECK_FALSE(s.mark_unknown(p->id, "queued parts cannot be unknown"));
        REQUIRE(s.mark_sending(p->id));
        CHECK(s.mark_unknown(p->id, "timeout after PDU"));
        CHECK_FALSE(s.mark_sent(p->id, 1));
        CHECK(s.next_part_to_send()->id != p->id);
        auto const m = s.message(id);
        CHECK(m->parts[0].state == part_state::unknown);
        CHECK(m->parts[0].error == "timeout after PDU");
        CHECK(m->state == part_state::sending);  // the others are still queued
        // The rest goes out: the receiver may still get a complete text.
        while (auto q = s.next_part_to_send()) {
            REQUIRE(s.mark_sending(q->id));
            REQUIRE(s.mark_sent(q->id, 2));
        }
        CHECK(s.message(id)->state == part_state::unknown);
    }
    SUBCASE("failed: the rest of that recipient's text is failed, the other recipient's is not") {
        auto const p = s.next_part_to_send();
        REQUIRE(s.mark_sending(p->id));
        REQUIRE(s.mark_sent(p->id, 1));
        auto const p2 = s.next_part_to_send();
        REQUIRE(s.mark_sending(p2->id));
        CHECK(s.mark_failed(p2->id, "+CMS ERROR: 500"));
        CHECK_FALSE(s.mark_failed(p2->id, "again"));
        auto m = s.message(id);
        CHECK(m->state == part_state::failed);
        CHECK(m->parts[0].state == part_state::sent);
        CHECK(m->parts[1].state == part_state::failed);
        CHECK(m->parts[1].error == "+CMS ERROR: 500");
        CHECK(m->parts[2].state == part_state::failed);
        CHECK(m->parts[2].error == "part 2 failed");
        CHECK(m->parts[3].state == part_state::queued);
        auto const next = s.next_part_to_send();
        CHECK(next->recipient == "+436601112244");
        CHECK(next->part == 1);
        CHECK(s.counts().failed == 2);
    }
    SUBCASE("failed from queued: given up before sending") {
        auto const p = s.next_part_to_send();
        CHECK(s.mark_failed(p->id, "validity expired in the queue"));
        CHECK(s.message(id)->parts[0].state == part_state::failed);
        CHECK(s.message(id)->parts[2].state == part_state::failed);
        CHECK(s.message(id)->parts[3].state == part_state::queued);
    }
    SUBCASE("stale handles") {
        CHECK_FALSE(s.mark_sending(999999));
        CHECK_FALSE(s.mark_sent(999999, 1));
        CHECK_FALSE(s.mark_failed(999999, "x"));
        CHECK_FALSE(s.mark_unknown(999999, "x"));
        CHECK_FALSE(s.requeue(999999, "x"));
    }
}

TEST_CASE("store: after a crash, a part left sending is unknown and never sent again; queued parts stay") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    std::string sent_id, crashed_id, queued_id;
    std::int64_t crashed_part = 0;
    {
        auto s = sms_store::open(path);
        sent_id = accept_ok(s, request({"+436601112233"}, "a"));
        crashed_id = accept_ok(s, request({"+436601112233"}, "b"));
        queued_id = accept_ok(s, request({"+436601112233"}, "c"));
        auto p = s.next_part_to_send();
        REQUIRE(s.mark_sending(p->id));
        REQUIRE(s.mark_sent(p->id, 5));
        p = s.next_part_to_send();
        REQUIRE(s.mark_sending(p->id));
        crashed_part = p->id;
        // AT+CMGS written, then the process dies: every transition is
        // already committed, so dropping the store here is the crash.
    }
    auto s = sms_store::open(path);
    CHECK(s.recovered_unknown() == 1);
    CHECK(s.message(sent_id)->state == part_state::sent);
    auto const m = s.message(crashed_id);
    CHECK(m->state == part_state::unknown);
    CHECK(m->parts[0].error.find("interrupted") != std::string::npos);
    CHECK(m->parts[0].done_at);
    CHECK(s.message(queued_id)->state == part_state::queued);
    auto const next = s.next_part_to_send();
    REQUIRE(next);
    CHECK(next->message_id == queued_id);
    CHECK_FALSE(s.mark_sent(crashed_part, 6));
    CHECK(s.counts().sending == 0);
    // Recovery happens once.
    s = sms_store::open(dir / "other.db");
    CHECK(sms_store::open(path).recovered_unknown() == 0);
}

TEST_CASE("store: prune_outbox drops finished messages only") {
    temp_dir dir;
    fake_clock clock;
    auto s = sms_store::open(dir / "sms.db", options_with(clock));
    auto const done = accept_ok(s, request({"+436601112233"}, "a", "k"));
    auto const waiting = accept_ok(s, request({"+436601112233"}, "b"));
    auto const p = s.next_part_to_send();
    REQUIRE(s.mark_sending(p->id));
    REQUIRE(s.mark_sent(p->id, 1));
    clock.now += 48h;
    auto const fresh = accept_ok(s, request({"+436601112233"}, "c"));
    auto const q = s.next_part_to_send();  // "b"
    REQUIRE(s.mark_sending(q->id));
    REQUIRE(s.mark_sent(q->id, 2));
    CHECK(s.prune_outbox(clock.now - 24h) == 2);
    CHECK_FALSE(s.message(done));
    CHECK_FALSE(s.message(waiting));
    CHECK(s.message(fresh));
    CHECK(s.counts().sent == 0);
    CHECK(s.counts().queued == 1);
    // The key went with it.
    CHECK(s.accept(request({"+436601112233"}, "a", "k")).status == accept_status::accepted);
}

// ===== the real thing: kill -9 during a burst =====

namespace {

// The child: the API accepting 200 messages while the sender drains the
// queue. Lines on `fd`: "A <key> <id>" once accept() returned (the 202),
// "T <part>" once mark_sending committed, i.e. where AT+CMGS is written.
[[noreturn]] void burst_child(const std::string& path, int fd) {
    auto say = [fd](const std::string& line) {
        if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
    };
    try {
        auto s = sms_store::open(path);
        auto send_one = [&] {
            auto p = s.next_part_to_send();
            if (!p) return false;
            if (!s.mark_sending(p->id)) ::_exit(5);
            say("T " + std::to_string(p->id) + "\n");
            if (!s.mark_sent(p->id, static_cast<std::uint8_t>(p->id))) ::_exit(6);
            return true;
        };
        for (int i = 0; i < 200; ++i) {
            auto const text = i % 3 == 0 ? std::string(200, 'm') : "message " + std::to_string(i);
            auto const res = s.accept(request({"+436601112233"}, text, "key" + std::to_string(i)));
            if (res.status != accept_status::accepted) ::_exit(7);
            say("A key" + std::to_string(i) + " " + res.id + "\n");
            if (i % 2 == 1) {
                send_one();
                send_one();
            }
        }
        while (send_one()) {
        }
    } catch (...) {
        ::_exit(3);
    }
    ::_exit(0);
}

}  // namespace

TEST_CASE("store: kill -9 at a random moment of a burst of 200; each accepted message is sent once or unknown") {
    std::random_device rd;
    for (int round = 0; round < 3; ++round) {
        temp_dir dir;
        auto const path = dir / "sms.db";
        // ~470 lines in a full run; sometimes the child finishes first.
        std::size_t const kill_at = std::uniform_int_distribution<std::size_t>(1, 480)(rd);
        CAPTURE(round);
        CAPTURE(kill_at);

        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        pid_t const pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            burst_child(path, fds[1]);
        }
        ::close(fds[1]);
        std::string out;
        std::size_t lines = 0;
        bool killed = false;
        char buf[4096];
        for (;;) {
            auto const n = ::read(fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
            for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
            if (!killed && lines >= kill_at) {
                ::kill(pid, SIGKILL);
                killed = true;
            }
        }
        ::close(fds[0]);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CAPTURE(status);
        REQUIRE((WIFSIGNALED(status) ? WTERMSIG(status) == SIGKILL : WEXITSTATUS(status) == 0));

        std::map<std::string, std::string> accepted;  // key -> id
        std::map<std::int64_t, int> transmitted;       // part -> times AT+CMGS was written
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line)) {
            if (in.eof()) break;  // a last line without '\n' was not finished
            std::istringstream l(line);
            std::string tag;
            l >> tag;
            if (tag == "A") {
                std::string key, id;
                l >> key >> id;
                accepted[key] = id;
            } else if (tag == "T") {
                std::int64_t part = 0;
                l >> part;
                ++transmitted[part];
            }
        }
        // The restart.
        auto s = sms_store::open(path);
        MESSAGE("round ", round, ": killed after ", lines, " lines, ", accepted.size(), " accepted, ",
                transmitted.size(), " transmitted, ", s.recovered_unknown(), " sending -> unknown");
        CHECK(s.recovered_unknown() <= 1);  // one part in flight at a time
        CHECK(s.counts().sending == 0);
        for (auto const& [key, id] : accepted) {
            auto const m = s.message(id);
            REQUIRE_MESSAGE(m, "accepted message lost: ", key);
            CHECK(m->parts.size() == (std::stoi(key.substr(3)) % 3 == 0 ? 2u : 1u));
            for (auto const& p : m->parts) {
                auto const t = transmitted.count(p.id) ? transmitted[p.id] : 0;
                CAPTURE(p.id);
                CHECK(t <= 1);
                switch (p.state) {
                case part_state::queued: CHECK(t == 0); break;
                case part_state::sent: CHECK(t == 1); break;
                case part_state::unknown: break;  // 0 or 1
                default: FAIL("part in state ", to_string(p.state));
                }
            }
        }
        // Clients retry every request whose 202 they may have missed; the
        // keys make that safe.
        std::map<std::string, std::string> ids;
        for (int i = 0; i < 200; ++i) {
            auto const key = "key" + std::to_string(i);
            auto const text = i % 3 == 0 ? std::string(200, 'm') : "message " + std::to_string(i);
            auto const res = s.accept(request({"+436601112233"}, text, key));
            REQUIRE(res.status != accept_status::rejected);
            if (accepted.count(key)) CHECK((res.status == accept_status::duplicate && res.id == accepted[key]));
            ids[key] = res.id;
        }
        // The restarted sender drains the queue.
        while (auto p = s.next_part_to_send()) {
            REQUIRE(s.mark_sending(p->id));
            ++transmitted[p->id];
            REQUIRE(s.mark_sent(p->id, 1));
        }
        std::size_t unknown = 0;
        for (auto const& [key, id] : ids) {
            auto const m = s.message(id);
            REQUIRE(m);
            for (auto const& p : m->parts) {
                auto const t = transmitted.count(p.id) ? transmitted[p.id] : 0;
                if (p.state == part_state::unknown) {
                    ++unknown;
                    CHECK(t <= 1);
                } else {
                    CHECK(p.state == part_state::sent);
                    CHECK(t == 1);  // exactly once
                }
            }
        }
        CHECK(unknown <= 1);
        auto const c = s.counts();
        CHECK(c.sent + c.unknown == 200 + 67);  // every third text has 2 parts
    }
}

// ===== inbox =====

TEST_CASE("store: an incoming message is stored once, however often the SIM is listed") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    auto const hex = deliver_hex("hello");
    std::string id;
    {
        auto s = sms_store::open(path);
        auto const r = store(s, 3, hex);
        CHECK(r.is_new);
        REQUIRE(r.completed_message_id);
        id = *r.completed_message_id;
        auto const again = store(s, 3, hex);
        CHECK_FALSE(again.is_new);
        CHECK(again.part_id == r.part_id);
        CHECK_FALSE(again.completed_message_id);
        // Lower-case hex from another modem is the same content.
        std::string lower = hex;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK_FALSE(s.store_incoming(3, lower, decode(hex), {}).is_new);
        // The same TPDU with the SMSC address printed in front (as +CMT: may).
        auto const with_smsc = "07911326040000F0" + hex.substr(2);
        CHECK_FALSE(s.store_incoming(3, with_smsc, decode(with_smsc), {}).is_new);
        CHECK(s.pending_sim_deletions() == std::vector<sim_slot>{{3, r.part_id}});
        // Crash here: stored, AT+CMGD not yet answered.
    }
    auto s = sms_store::open(path);
    CHECK_FALSE(store(s, 3, hex).is_new);
    auto const page = s.list_inbox();
    REQUIRE(page.items.size() == 1);
    auto const& m = page.items[0];
    CHECK(m.id == id);
    CHECK(m.text == "hello");
    CHECK(m.sender == "+27821234567");
    CHECK(m.sender_type == 0x91);
    CHECK(m.timestamp == "2013-03-08T15:02:16+02:00");
    CHECK(m.coding == text_coding::ucs2);
    CHECK(m.parts == 1);
    CHECK(m.total == 1);
    CHECK_FALSE(page.next);
    auto const slots = s.pending_sim_deletions();
    REQUIRE(slots.size() == 1);
    CHECK(s.mark_sim_deleted(slots[0]));
    CHECK_FALSE(s.mark_sim_deleted(slots[0]));
    CHECK(s.pending_sim_deletions().empty());
    CHECK(s.inbox_message_by_id(id)->text == "hello");
    // The same message from another timestamp is another message.
    CHECK(store(s, 3, deliver_hex("hello", 0, 1, 1, scts(17))).is_new);
    CHECK(s.list_inbox().items.size() == 2);
}

TEST_CASE("store: a multipart message received in reverse order appears once complete") {
    temp_dir dir;
    fake_clock clock;
    auto const path = dir / "sms.db";
    auto s = sms_store::open(path);
    auto const p3 = deliver_hex("ld!", 0x42, 3, 3);
    auto const p2 = deliver_hex("o wor", 0x42, 2, 3);
    auto const p1 = deliver_hex("Hell", 0x42, 1, 3);
    auto r = store(s, 5, p3, clock.now);
    CHECK(r.is_new);
    CHECK_FALSE(r.completed_message_id);
    CHECK(s.list_inbox().items.empty());
    CHECK_FALSE(store(s, 5, p3).is_new);
    s = sms_store::open(dir / "other.db");  // a restart between parts
    s = sms_store::open(path);
    CHECK_FALSE(store(s, 6, p2).completed_message_id);
    // Another sender's message with the same reference is not mixed in.
    CHECK(store(s, 8, deliver_hex("xyz", 0x42, 1, 3, scts(), other_sender)).is_new);
    r = store(s, 7, p1, clock.now + 5s);
    REQUIRE(r.completed_message_id);
    auto const m = s.inbox_message_by_id(*r.completed_message_id);
    REQUIRE(m);
    CHECK(m->text == "Hello world!");
    CHECK(m->parts == 3);
    CHECK(m->total == 3);
    CHECK(m->received_at == clock.now + 5s);
    CHECK(s.list_inbox().items.size() == 1);
    CHECK(slot_indexes(s) == std::vector<int>{5, 6, 7, 8});
    // A part listed again after completion changes nothing.
    CHECK_FALSE(store(s, 6, p2).is_new);
    CHECK(s.list_inbox().items.size() == 1);
}

TEST_CASE("store: incomplete messages are expired into what arrived; a reused reference closes the old one") {
    temp_dir dir;
    fake_clock clock;
    auto s = sms_store::open(dir / "sms.db");
    store(s, 1, deliver_hex("one ", 7, 1, 3), clock.now);
    store(s, 2, deliver_hex("three", 7, 3, 3), clock.now);
    CHECK(s.expire_incomplete(clock.now).empty());  // not older than the cutoff
    auto ids = s.expire_incomplete(clock.now + 1ms);
    REQUIRE(ids.size() == 1);
    auto const m = s.inbox_message_by_id(ids[0]);
    CHECK(m->text == "one three");
    CHECK(m->parts == 2);
    CHECK(m->total == 3);
    CHECK(s.expire_incomplete(clock.now + 1h).empty());

    // Part 1 of ref 9 twice with different content: the sender reused the
    // reference, the first becomes a message of its own.
    store(s, 3, deliver_hex("first", 9, 1, 2), clock.now);
    auto const r = store(s, 4, deliver_hex("again", 9, 1, 2, scts(59)), clock.now);
    CHECK(r.is_new);
    CHECK_FALSE(r.completed_message_id);
    auto const items = s.list_inbox().items;
    REQUIRE(items.size() == 2);
    CHECK(items[1].text == "first");
    CHECK(items[1].total == 2);
    auto const done = store(s, 5, deliver_hex(" done", 9, 2, 2), clock.now);
    REQUIRE(done.completed_message_id);
    CHECK(s.inbox_message_by_id(*done.completed_message_id)->text == "again done");
}

TEST_CASE("store: a message deleted through the API is not brought back by the next SIM listing") {
    temp_dir dir;
    auto s = sms_store::open(dir / "sms.db");
    auto const hex = deliver_hex("secret");
    auto const r = store(s, 2, hex);
    auto const kept = store(s, 4, deliver_hex("kept", 0, 1, 1, scts(18)));
    CHECK(s.delete_inbox(*r.completed_message_id));
    CHECK_FALSE(s.delete_inbox(*r.completed_message_id));
    CHECK_FALSE(s.inbox_message_by_id(*r.completed_message_id));
    CHECK(s.list_inbox().items.size() == 1);
    // Still on the SIM: listed again before AT+CMGD.
    CHECK_FALSE(store(s, 2, hex).is_new);
    CHECK(s.list_inbox().items.size() == 1);
    CHECK(slot_indexes(s) == std::vector<int>{2, 4});
    CHECK(s.mark_sim_deleted({2, r.part_id}));
    // Gone from the SIM and from the store: a fresh delivery of the same
    // bytes would be a new message now.
    CHECK(store(s, 2, hex).is_new);
    // Deleting a message whose parts are already off the SIM leaves nothing.
    CHECK(s.mark_sim_deleted({4, kept.part_id}));
    CHECK(s.delete_inbox(*kept.completed_message_id));
    CHECK(store(s, std::nullopt, deliver_hex("kept", 0, 1, 1, scts(18))).is_new);
}

TEST_CASE("store: SIM slots are reconciled before deleting, so a reused slot is never deleted unread") {
    temp_dir dir;
    auto const path = dir / "sms.db";
    auto const x = deliver_hex("X");
    auto const y = deliver_hex("Y", 0, 1, 1, scts(19));
    {
        auto s = sms_store::open(path);
        store(s, 3, x);
        store(s, 9, deliver_hex("Z", 0, 1, 1, scts(20)));
        // AT+CMGD=3 and AT+CMGD=9 answered OK, then a crash before mark_sim_deleted.
    }
    auto s = sms_store::open(path);
    CHECK(slot_indexes(s) == std::vector<int>{3, 9});  // stale: must not be used before listing
    // AT+CMGL: Y arrived in slot 3 meanwhile; slot 9 is empty.
    auto const ry = store(s, 3, y);
    CHECK(ry.is_new);
    s.reconcile_sim({3});
    CHECK(s.pending_sim_deletions() == std::vector<sim_slot>{{3, ry.part_id}});
    CHECK(s.list_inbox().items.size() == 3);
    // A stale handle for the slot's former content does not clear it.
    CHECK_FALSE(s.mark_sim_deleted({3, ry.part_id - 2}));
    CHECK(s.mark_sim_deleted({3, ry.part_id}));
    s.reconcile_sim({});
    CHECK(s.pending_sim_deletions().empty());
}

TEST_CASE("store: routed messages, status reports and eight-bit data") {
    temp_dir dir;
    auto s = sms_store::open(dir / "sms.db");
    // +CMT: not on the SIM, nothing to delete.
    auto const r = store(s, std::nullopt, deliver_hex("routed"));
    CHECK(r.is_new);
    CHECK(s.pending_sim_deletions().empty());
    // A status report is not an inbox message.
    std::string const report = "0006000B910221815716F2709021510121807090215101718000";
    auto const ignored = store(s, 1, report);
    CHECK_FALSE(ignored.is_new);
    CHECK(ignored.part_id == 0);
    // Binary data keeps its octets.
    std::string const bin = std::string("0004") + "0B917228214365F7" + "0004" + "31308051206180" + "03" +
                            hex_of(std::string("\x01\x02\xFF", 3));
    auto const b = store(s, std::nullopt, bin);
    auto const m = s.inbox_message_by_id(*b.completed_message_id);
    CHECK(m->coding == text_coding::eight_bit);
    CHECK(m->payload == std::vector<std::uint8_t>{1, 2, 0xFF});
    CHECK(m->text.empty());
}

TEST_CASE("store: the inbox is listed in pages") {
    temp_dir dir;
    store_options o;
    o.limits.max_page = 4;
    auto s = sms_store::open(dir / "sms.db", o);
    for (int i = 0; i < 10; ++i) {
        // Appended, not "m" + std::string: g++ 12 -O3 warns falsely (-Wrestrict).
        std::string text = "m";
        text += std::to_string(i);
        store(s, i, deliver_hex(text, 0, 1, 1, scts(static_cast<unsigned>(30 + i))));
    }
    std::vector<std::string> texts;
    page_request req{0, 100};  // clamped to 4
    int pages = 0;
    for (;;) {
        auto const p = s.list_inbox(req);
        CHECK(p.items.size() <= 4);
        ++pages;
        for (auto const& m : p.items) texts.push_back(m.text);
        if (!p.next) break;
        req.after = *p.next;
    }
    CHECK(pages == 3);
    REQUIRE(texts.size() == 10);
    CHECK(texts.front() == "m0");
    CHECK(texts.back() == "m9");
    CHECK(s.list_inbox({0, 0}).items.size() == 1);  // limit 0 is taken as 1
}
