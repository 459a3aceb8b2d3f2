// The modem state machine driven by scripted events and a fake clock: no
// PTY, no socket. Times are offsets from t0.
#include <doctest/doctest.h>

#include "modem/modem_machine.hpp"

using namespace sb::modem;
using namespace std::chrono_literals;

namespace {

struct rig {
    clock::time_point t0{};
    machine_options opt;
    std::unique_ptr<modem_machine> m;
    machine_actions a;

    explicit rig(machine_options o = {}) : opt(std::move(o)) {
        m = std::make_unique<modem_machine>(opt, t0);
        m->on_dtr(true, t0, a);
        a.clear();
    }
    clock::time_point at(clock::duration d) const { return t0 + d; }
    std::string type(std::string_view s, clock::duration when = 0s) {
        a.clear();
        m->on_tty(s, at(when), a);
        return a.to_tty;
    }
    void connect(clock::duration when = 0s) {
        type("ATDT127.0.0.1:2323\r", when);
        REQUIRE(a.dial);
        a.clear();
        m->on_connected(at(when), a);
        REQUIRE(a.to_tty == "\r\nCONNECT 115200\r\n");
        REQUIRE(m->state() == modem_state::online);
        a.clear();
    }
    std::string timer(clock::duration when) {
        a.clear();
        m->on_timer(at(when), a);
        return a.to_tty;
    }
};

}  // namespace

TEST_CASE("machine: dial, connect, data both ways") {
    rig r;
    CHECK(r.type("ATDT 127.0.0.1:2323\r") == "ATDT 127.0.0.1:2323\r");
    CHECK(r.a.dial == "127.0.0.1:2323");
    CHECK(r.m->state() == modem_state::dialing);
    r.a.clear();
    r.m->on_connected(r.at(1s), r.a);
    CHECK(r.a.to_tty == "\r\nCONNECT 115200\r\n");
    std::string all(256, '\0');
    for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
    r.type(all, 2s);
    CHECK(r.a.to_remote == all);  // 8-bit clean, no echo in data mode
    CHECK(r.a.to_tty.empty());
    r.a.clear();
    r.m->on_remote(all, r.at(2s), r.a);
    CHECK(r.a.to_tty == all);
}

TEST_CASE("machine: dial failures follow the X level") {
    rig r;
    r.type("ATD127.0.0.1:1\r");
    r.a.clear();
    r.m->on_dial_failed(dial_failure::refused, r.at(1s), r.a);
    CHECK(r.a.to_tty == "\r\nBUSY\r\n");
    CHECK(r.m->state() == modem_state::idle);
    r.type("ATX0D127.0.0.1:1\r");
    r.a.clear();
    r.m->on_dial_failed(dial_failure::refused, r.at(1s), r.a);
    CHECK(r.a.to_tty == "\r\nNO CARRIER\r\n");
    r.type("ATX4D10.255.255.1\r");
    r.a.clear();
    r.m->on_dial_failed(dial_failure::unreachable, r.at(1s), r.a);
    CHECK(r.a.to_tty == "\r\nNO CARRIER\r\n");
}

TEST_CASE("machine: S7 dial timeout gives NO ANSWER, a key aborts a dial") {
    rig r;
    r.type("ATS7=5D127.0.0.1:2323\r");
    REQUIRE(r.m->deadline() == r.at(5s));
    CHECK(r.timer(4s).empty());
    CHECK(r.timer(5s) == "\r\nNO ANSWER\r\n");
    CHECK(r.a.cancel_dial);
    CHECK(r.m->state() == modem_state::idle);

    r.type("ATD127.0.0.1:2323\r", 10s);
    CHECK(r.type("x", 11s) == "\r\nNO CARRIER\r\n");
    CHECK(r.a.cancel_dial);
    // A late connect after the abort is refused by the machine.
    r.a.clear();
    r.m->on_connected(r.at(12s), r.a);
    CHECK(r.a.hangup);
    CHECK(r.a.to_tty.empty());
}

TEST_CASE("machine: +++ needs a guard time before and after, OK one guard time after the last +") {
    rig r;
    r.connect();
    r.type("data", 1s);
    r.type("+++", 2s);  // one second of silence before: counts
    CHECK(r.a.to_remote == "+++");  // forwarded, as the remote cannot know yet
    REQUIRE(r.m->deadline() == r.at(3s));
    CHECK(r.timer(2999ms).empty());
    CHECK(r.m->state() == modem_state::online);
    CHECK(r.timer(3s) == "\r\nOK\r\n");
    CHECK(r.m->state() == modem_state::online_command);
    CHECK_FALSE(r.m->accepts_remote());
    // Commands now; ATO goes back online and loses nothing read meanwhile.
    r.a.clear();
    r.m->on_remote("late", r.at(3500ms), r.a);
    CHECK(r.a.to_tty.empty());
    CHECK(r.type("ATO\r", 4s) == "ATO\r\r\nCONNECT 115200\r\nlate");
    CHECK(r.m->state() == modem_state::online);
}

TEST_CASE("machine: not an escape") {
    SUBCASE("no silence before") {
        rig r;
        r.connect();
        r.type("x", 1500ms);
        r.type("+++", 2s);
        CHECK(r.m->deadline() == std::nullopt);
    }
    SUBCASE("data after the pluses") {
        rig r;
        r.connect();
        r.type("+++", 2s);
        r.type("y", 2500ms);
        CHECK(r.timer(3s).empty());
        CHECK(r.m->state() == modem_state::online);
    }
    SUBCASE("four pluses") {
        rig r;
        r.connect();
        r.type("++++", 2s);
        CHECK(r.timer(3s).empty());
        CHECK(r.m->state() == modem_state::online);
    }
    SUBCASE("pluses too far apart") {
        rig r;
        r.connect();
        r.type("+", 2s);
        r.type("+", 3100ms);  // more than the guard time after the first: starts over
        r.type("+", 3200ms);
        CHECK(r.timer(5s).empty());
        CHECK(r.m->state() == modem_state::online);
    }
    SUBCASE("S2 above 127 disables the escape") {
        rig r;
        r.type("ATS2=200\r");
        r.connect();
        r.type("+++", 2s);
        CHECK(r.timer(4s).empty());
        CHECK(r.m->state() == modem_state::online);
    }
}

TEST_CASE("machine: S12 and S2 change the escape") {
    rig r;
    r.type("ATS12=10S2=42\r");  // 200 ms guard, '*' as escape
    r.connect();
    r.type("***", 300ms);
    CHECK(r.m->deadline() == r.at(500ms));
    CHECK(r.timer(500ms) == "\r\nOK\r\n");
}

TEST_CASE("machine: guards can be disabled") {
    machine_options o;
    o.pre_guard = false;
    o.post_guard = false;
    rig r(o);
    r.connect();
    r.type("abc", 10ms);
    CHECK(r.type("+++", 20ms) == "\r\nOK\r\n");
    CHECK(r.m->state() == modem_state::online_command);
    CHECK(r.a.to_remote == "+++");
}

TEST_CASE("machine: escape split across reads, then ATH hangs up") {
    rig r;
    r.connect();
    r.type("+", 2s);
    r.type("+", 2100ms);
    r.type("+", 2200ms);
    CHECK(r.timer(3200ms) == "\r\nOK\r\n");
    CHECK(r.type("ATH\r", 4s) == "ATH\r\r\nOK\r\n");
    CHECK(r.a.hangup);
    CHECK(r.m->state() == modem_state::idle);
    CHECK(r.type("ATO\r", 5s) == "ATO\r\r\nNO CARRIER\r\n");
}

TEST_CASE("machine: remote hang-up gives NO CARRIER") {
    rig r;
    r.connect();
    r.a.clear();
    r.m->on_remote_closed(r.at(1s), r.a);
    CHECK(r.a.to_tty == "\r\nNO CARRIER\r\n");
    CHECK(r.a.hangup);
    CHECK(r.m->state() == modem_state::idle);
}

TEST_CASE("machine: incoming call rings at once and at the interval, ATA answers") {
    machine_options o;
    o.ring_interval = 3s;
    rig r(o);
    REQUIRE(r.m->can_take_call());
    r.a.clear();
    r.m->on_incoming(r.at(0s), r.a);
    CHECK(r.a.to_tty == "\r\nRING\r\n");
    CHECK(r.m->deadline() == r.at(3s));
    CHECK(r.timer(2s).empty());
    CHECK(r.timer(3s) == "\r\nRING\r\n");
    CHECK(r.type("ATS1?\r", 4s) == "ATS1?\r\r\n002\r\n\r\nOK\r\n");
    CHECK(r.type("ATA\r", 5s) == "ATA\r\r\nCONNECT 115200\r\n");
    CHECK(r.a.answer);
    CHECK(r.m->state() == modem_state::online);
    CHECK_FALSE(r.m->can_take_call());
}

TEST_CASE("machine: S0 auto-answers after that many rings") {
    machine_options o;
    o.ring_interval = 1s;
    rig r(o);
    r.type("ATS0=2\r");
    r.a.clear();
    r.m->on_incoming(r.at(0s), r.a);
    CHECK_FALSE(r.a.answer);
    CHECK(r.timer(1s) == "\r\nRING\r\n\r\nCONNECT 115200\r\n");
    CHECK(r.a.answer);
}

TEST_CASE("machine: unanswered caller gets NO ANSWER after the max rings") {
    machine_options o;
    o.ring_interval = 1s;
    o.max_rings = 3;
    rig r(o);
    r.a.clear();
    r.m->on_incoming(r.at(0s), r.a);
    r.timer(1s);
    r.timer(2s);
    CHECK(r.timer(3s).empty());
    REQUIRE(r.a.reject);
    CHECK(*r.a.reject == "NO ANSWER\r\n");
    CHECK(r.m->state() == modem_state::idle);
}

TEST_CASE("machine: a busy modem or a closed tty takes no call") {
    rig r;
    r.connect();
    CHECK_FALSE(r.m->can_take_call());
    rig closed;
    closed.a.clear();
    closed.m->on_dtr(false, closed.at(0s), closed.a);
    CHECK_FALSE(closed.m->can_take_call());
}

TEST_CASE("machine: DTR drop hangs up and resets the modem") {
    rig r;
    r.type("ATE0\r");
    r.connect();
    r.a.clear();
    r.m->on_dtr(false, r.at(1s), r.a);
    CHECK(r.a.hangup);
    CHECK(r.m->state() == modem_state::idle);
    r.a.clear();
    r.m->on_dtr(true, r.at(2s), r.a);
    CHECK(r.type("AT\r", 3s) == "AT\r\r\nOK\r\n");  // echo is back: a fresh modem
}

TEST_CASE("machine: watchdog hangs up an idle call, activity pushes it back") {
    machine_options o;
    o.watchdog = 10s;
    rig r(o);
    r.connect();
    CHECK(r.m->deadline() == r.at(10s));
    r.type("x", 5s);
    CHECK(r.m->deadline() == r.at(15s));
    CHECK(r.timer(10s).empty());
    CHECK(r.timer(15s) == "\r\nNO CARRIER\r\n");
    CHECK(r.a.hangup);
}

TEST_CASE("machine: S30 inactivity in 10 s units") {
    rig r;
    r.type("ATS30=1\r");
    r.connect();
    CHECK(r.m->deadline() == r.at(10s));
    CHECK(r.timer(10s) == "\r\nNO CARRIER\r\n");
}

TEST_CASE("machine: ATZ restores the configured guard time and dial timeout") {
    machine_options o;
    o.guard_time = 500ms;
    o.dial_timeout = 20s;
    rig r(o);
    CHECK(r.m->interpreter().regs().s[12] == 25);
    CHECK(r.m->interpreter().regs().s[7] == 20);
    r.type("ATS12=99S7=99\r");
    r.type("ATZ\r");
    CHECK(r.m->interpreter().regs().s[12] == 25);
    CHECK(r.m->interpreter().regs().s[7] == 20);
}

TEST_CASE("machine: bytes of one read arrive together") {
    SUBCASE("data and +++ in one read is no escape, however quiet the line was") {
        rig r;
        r.connect();
        r.type("data+++", 5s);
        CHECK(r.m->deadline() == std::nullopt);
        CHECK(r.a.to_remote == "data+++");
    }
    SUBCASE("without a pre-guard it is") {
        machine_options o;
        o.pre_guard = false;
        rig r(o);
        r.connect();
        r.type("data+++", 10ms);
        CHECK(r.m->deadline() == r.at(1010ms));
        CHECK(r.timer(1010ms) == "\r\nOK\r\n");
    }
}
