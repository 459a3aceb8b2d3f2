// The AT engine driven with modem bytes and a fake clock: what it would
// write, what it reports, when. No serial port. Each scenario runs with
// the modem's bytes fed whole and again one byte at a time (and in other
// chunk sizes): how reads cut the bytes may not change any action.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "sms/at_engine.hpp"

using namespace sb::sms;
using namespace std::chrono_literals;
using lines = std::vector<std::string>;

namespace {

// A status report / deliver PDU as a modem prints it (SMSC address first).
const std::string deliver_pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
const std::string submit_pdu = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";

at_command cmd(std::string text, std::string expect = {}, clock::duration timeout = 10s) {
    at_command c;
    c.text = std::move(text);
    c.expect = std::move(expect);
    c.timeout = timeout;
    return c;
}

struct rig {
    at_engine e;
    std::size_t chunk;  // 0: each feed whole
    clock::time_point t0{};
    std::vector<at_action> out;
    lines log;  // to_string of out

    explicit rig(std::size_t chunk_size = 0, at_engine_config cfg = {}) : e(std::move(cfg)), chunk(chunk_size) {}

    void take() {
        out = e.take_actions();
        log.clear();
        for (auto const& a : out) log.push_back(to_string(a));
    }
    std::uint64_t submit(at_command c, clock::duration at = 0s) {
        auto id = e.submit(std::move(c), t0 + at);
        REQUIRE(id);
        take();
        return *id;
    }
    void feed(std::string_view s, clock::duration at = 0s) {
        std::vector<at_action> all;
        if (chunk == 0) {
            e.on_bytes(s, t0 + at);
            all = e.take_actions();
        } else {
            for (std::size_t i = 0; i < s.size(); i += chunk) {
                e.on_bytes(s.substr(i, chunk), t0 + at);
                for (auto& a : e.take_actions()) all.push_back(std::move(a));
            }
        }
        out = std::move(all);
        log.clear();
        for (auto const& a : out) log.push_back(to_string(a));
    }
    void tick(clock::duration at) {
        e.on_timer(t0 + at);
        take();
    }
    std::optional<clock::duration> deadline() const {
        auto d = e.deadline();
        if (!d) return std::nullopt;
        return *d - t0;
    }
    const at_completed& completed(std::size_t i = 0) const {
        REQUIRE(i < out.size());
        auto p = std::get_if<at_completed>(&out[i]);
        REQUIRE(p);
        return *p;
    }
    const at_urc& urc(std::size_t i = 0) const {
        REQUIRE(i < out.size());
        auto p = std::get_if<at_urc>(&out[i]);
        REQUIRE(p);
        return *p;
    }
};

const std::size_t chunks[] = {0, 1, 2, 5};

}  // namespace

TEST_CASE("at_engine: a simple command: written at once, OK completes it") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        CHECK_FALSE(r.e.busy());
        CHECK_FALSE(r.deadline());
        auto id = r.submit(cmd("AT"));
        CHECK(id == 1);
        CHECK(r.log == lines{R"(write "AT\r")"});
        CHECK(r.e.busy());
        CHECK(r.deadline() == 10s);
        r.feed("\r\nOK\r\n", 100ms);
        REQUIRE(r.out.size() == 1);
        CHECK(r.completed().id == 1);
        CHECK(r.completed().result == at_result{at_status::ok, -1});
        CHECK(r.completed().lines.empty());
        CHECK(r.completed().final_line == "OK");
        CHECK_FALSE(r.completed().truncated);
        CHECK_FALSE(r.e.busy());
        CHECK_FALSE(r.deadline());
        CHECK(r.e.stats().completed_ok == 1);
    }
}

TEST_CASE("at_engine: +CSQ: the information line goes with the command; the next is written after OK") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CSQ", "+CSQ:"));
        r.submit(cmd("AT+COPS?", "+COPS:"), 10ms);
        CHECK(r.log.empty());  // one in flight at a time
        CHECK(r.e.queued() == 1);
        r.feed("\r\n+CSQ: 20,99\r\n\r\nOK\r\n", 50ms);
        CHECK(r.log == lines{"completed #1 ok [+CSQ: 20,99]", R"(write "AT+COPS?\r")"});
        CHECK(r.deadline() == 10050ms);  // the second command's timeout runs from its write
        r.feed("\r\n+COPS: 0,0,\"Orange F\",7\r\n\r\nOK\r\n", 80ms);
        CHECK(r.log == lines{R"(completed #2 ok [+COPS: 0,0,\"Orange F\",7])"});
    }
}

TEST_CASE("at_engine: final result codes: ERROR, +CME ERROR, +CMS ERROR, NO CARRIER, vendor errors") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CPIN?", "+CPIN:"));
        r.feed("\r\n+CME ERROR: 10\r\n");
        CHECK(r.completed().result == at_result{at_status::cme_error, 10});
        CHECK(r.completed().final_line == "+CME ERROR: 10");
        r.submit(cmd("AT+CPIN?", "+CPIN:"));
        r.feed("\r\n+CME ERROR: SIM not inserted\r\n");  // verbose (CMEE=2)
        CHECK(r.completed().result == at_result{at_status::cme_error, -1});
        CHECK(r.completed().final_line == "+CME ERROR: SIM not inserted");
        r.submit(cmd("AT+CMGR=1", "+CMGR:"));
        r.feed("\r\n+CMS ERROR: 321\r\n");
        CHECK(r.completed().result == at_result{at_status::cms_error, 321});
        r.submit(cmd("AT+FOO"));
        r.feed("\r\nERROR\r\n");
        CHECK(r.completed().result.status == at_status::error);
        r.submit(cmd("AT^FOO"));
        r.feed("\r\nCOMMAND NOT SUPPORT\r\n");
        CHECK(r.completed().result.status == at_status::error);
        r.submit(cmd("ATD+3361234567;"));
        r.feed("\r\nNO CARRIER\r\n");
        CHECK(r.completed().result.status == at_status::no_carrier);
        r.submit(cmd("ATD+3361234567;"));
        r.feed("\r\nBUSY\r\n");
        CHECK(r.completed().result.status == at_status::busy);
        CHECK(r.e.stats().completed_error == 7);
    }
}

TEST_CASE("at_engine: a line without prefix belongs to the command in flight; with none in flight it is a URC") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CGSN"));
        r.feed("\r\n861234567890123\r\n\r\nOK\r\n");
        CHECK(r.log == lines{"completed #1 ok [861234567890123]"});
        r.feed("\r\nSOMETHING ODD\r\n");
        CHECK(r.log == lines{"urc unknown [SOMETHING ODD]"});
        // A stray final code is dropped.
        r.feed("\r\nOK\r\n");
        CHECK(r.log.empty());
        CHECK(r.e.stats().stray == 1);
    }
}

TEST_CASE("at_engine: URCs in the middle of a response are reported apart") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CSQ", "+CSQ:"));
        r.feed("\r\n+CMTI: \"SM\",3\r\n\r\n^RSSI:14\r\n\r\nRING\r\n\r\n+CSQ: 14,99\r\n\r\n+CREG: 5\r\n\r\n^MODE:5,4\r\n");
        CHECK(r.log == lines{R"(urc new_message_stored [+CMTI: \"SM\",3])", "urc vendor [^RSSI:14]", "urc ring [RING]",
                             "urc registration [+CREG: 5]", "urc vendor [^MODE:5,4]"});
        // An unknown "+XXX:" line is not the answer of a command that has
        // its own prefix.
        r.feed("\r\n+ZPAS: \"LTE\",\"PS_ONLY\"\r\n\r\nOK\r\n");
        CHECK(r.log == lines{R"(urc unknown [+ZPAS: \"LTE\",\"PS_ONLY\"])", "completed #1 ok [+CSQ: 14,99]"});
        CHECK(r.e.stats().urcs == 6);
    }
}

TEST_CASE("at_engine: +CREG: answers AT+CREG? but is a URC otherwise") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.feed("\r\n+CREG: 1\r\n");
        CHECK(r.log == lines{"urc registration [+CREG: 1]"});
        r.submit(cmd("AT+CREG?", "+CREG:"));
        r.feed("\r\n+CREG: 0,1\r\n\r\nOK\r\n");
        CHECK(r.log == lines{"completed #1 ok [+CREG: 0,1]"});
        // +CUSD: likewise: the answer of a command expecting it, else a URC.
        r.submit(cmd("AT+CUSD=1,\"*100#\",15", "+CUSD:"));
        r.feed("\r\n+CUSD: 0,\"Credit 5 EUR\",15\r\n\r\nOK\r\n");
        CHECK(r.log == lines{R"(completed #2 ok [+CUSD: 0,\"Credit 5 EUR\",15])"});
        r.submit(cmd("AT+CUSD=1,\"*101#\",15"));
        r.feed("\r\nOK\r\n\r\n+CUSD: 1,\"Menu\",15\r\n");
        CHECK(r.log == lines{"completed #3 ok", R"(urc ussd [+CUSD: 1,\"Menu\",15])"});
    }
}

TEST_CASE("at_engine: a +CMGL listing keeps header and PDU pairs; a +CMTI between or inside them is reported apart") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CMGL=4", "+CMGL:"));
        // Inside a pair does not happen in practice (a modem writes a URC
        // between whole lines of a listing, and CNMI mode 2 buffers them),
        // but if it does the PDU still follows its header.
        r.feed("\r\n+CMGL: 1,1,,24\r\n\r\n+CMTI: \"SM\",3\r\n" + deliver_pdu + "\r\n\r\n+CMTI: \"SM\",4\r\n+CMGL: 2,0,,24\r\n" +
               deliver_pdu + "\r\n\r\nOK\r\n");
        REQUIRE(r.out.size() == 3);
        CHECK(r.log[0] == R"(urc new_message_stored [+CMTI: \"SM\",3])");
        CHECK(r.log[1] == R"(urc new_message_stored [+CMTI: \"SM\",4])");
        CHECK(r.completed(2).lines == lines{"+CMGL: 1,1,,24", deliver_pdu, "+CMGL: 2,0,,24", deliver_pdu});
        CHECK(r.completed(2).result.status == at_status::ok);
    }
}

TEST_CASE("at_engine: +CMT: and +CDS: are reassembled with their PDU line") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.feed("\r\n+CMT: ,24\r\n");
        CHECK(r.log.empty());  // waiting for the PDU
        CHECK(r.deadline() == 2s);
        r.feed(deliver_pdu + "\r\n", 100ms);
        REQUIRE(r.out.size() == 1);
        CHECK(r.urc().kind == urc_kind::new_message);
        CHECK(r.urc().lines == lines{"+CMT: ,24", deliver_pdu});
        CHECK_FALSE(r.deadline());

        // In the middle of a +CMGL listing, between entries: the next hex
        // line is the URC's (a modem writes both lines together).
        r.submit(cmd("AT+CMGL=4", "+CMGL:"), 1s);
        r.feed("\r\n+CMGL: 1,1,,24\r\n" + deliver_pdu + "\r\n\r\n+CDS: 25\r\n0791AB\r\n+CMGL: 2,1,,24\r\n" + deliver_pdu +
                   "\r\n\r\nOK\r\n",
               1100ms);
        REQUIRE(r.out.size() == 2);
        CHECK(r.urc(0).kind == urc_kind::status_report);
        CHECK(r.urc(0).lines == lines{"+CDS: 25", "0791AB"});
        CHECK(r.completed(1).lines == lines{"+CMGL: 1,1,,24", deliver_pdu, "+CMGL: 2,1,,24", deliver_pdu});
    }
}

TEST_CASE("at_engine: a two-line URC whose PDU does not come is reported with its header alone") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        // The next line is no PDU: header alone, then the line for itself.
        r.feed("\r\n+CMT: ,24\r\n\r\nRING\r\n");
        CHECK(r.log == lines{"urc new_message [+CMT: ,24]", "urc ring [RING]"});
        // Nothing comes: the header alone when the wait is over.
        r.feed("\r\n+CMT: ,24\r\n", 1s);
        CHECK(r.log.empty());
        r.tick(2999ms);
        CHECK(r.log.empty());
        r.tick(3s);
        CHECK(r.log == lines{"urc new_message [+CMT: ,24]"});
        CHECK_FALSE(r.deadline());
        // An overlong line where the PDU should be.
        at_engine_config cfg;
        cfg.max_line = 16;
        rig small(ch, cfg);
        small.feed("\r\n+CMT: ,24\r\n" + deliver_pdu + "\r\n");
        CHECK(small.log == lines{"urc new_message [+CMT: ,24]"});
        CHECK(small.e.stats().overlong == 1);
    }
}

TEST_CASE("at_engine: AT+CMGS: prompt split across reads, PDU with Ctrl-Z, +CMGS: 42 and OK") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(sms_submit(23, submit_pdu));
        CHECK(r.log == lines{R"(write "AT+CMGS=23\r")"});
        CHECK(r.deadline() == 5s);  // the prompt's own timeout
        r.feed("\r\n>", 200ms);
        CHECK(r.log.empty());
        r.feed(" ", 210ms);
        REQUIRE(r.out.size() == 1);
        CHECK(std::get<at_write>(r.out[0]).bytes == submit_pdu + "\x1a");
        CHECK(r.deadline() == 210ms + 60s);  // the network's time from here
        r.feed("\r\n+CMGS: 42\r\n", 3s);
        CHECK(r.log.empty());
        r.feed("\r\nOK\r\n", 3s);
        CHECK(r.log == lines{"completed #1 ok [+CMGS: 42]"});
        CHECK_FALSE(r.e.busy());
    }
}

TEST_CASE("at_engine: AT+CMGS fails with +CMS ERROR after the PDU, or ERROR instead of the prompt") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(sms_submit(23, submit_pdu));
        r.submit(cmd("AT"));
        r.feed("\r\n> ");
        REQUIRE(r.out.size() == 1);
        r.feed("\r\n+CMS ERROR: 500\r\n", 2s);
        CHECK(r.log == lines{"completed #1 cms_error 500", R"(write "AT\r")"});
        r.feed("\r\nOK\r\n", 2s);

        r.submit(sms_submit(23, submit_pdu), 3s);
        r.feed("\r\nERROR\r\n", 3s);  // e.g. AT+CMGS in text mode
        CHECK(r.log == lines{"completed #3 error"});
        r.submit(sms_submit(23, submit_pdu), 4s);
        r.feed("\r\n+CMS ERROR: 304\r\n", 4s);
        CHECK(r.log == lines{"completed #4 cms_error 304"});
        // OK where the prompt was due: nothing was sent.
        r.submit(sms_submit(23, submit_pdu), 5s);
        r.feed("\r\nOK\r\n", 5s);
        CHECK(r.log == lines{"completed #5 error"});
        CHECK_FALSE(r.e.recovering());
    }
}

TEST_CASE("at_engine: prompt timeout: failure, ESC, late answers dropped, probes, then OK resumes the queue") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(sms_submit(23, submit_pdu));
        r.submit(cmd("AT+CSQ", "+CSQ:"), 1s);
        CHECK(r.log.empty());
        r.tick(4999ms);
        CHECK(r.log.empty());
        r.tick(5s);
        CHECK(r.log == lines{"completed #1 timeout", R"(write "\x1b")"});
        CHECK(r.e.recovering());
        CHECK(r.deadline() == 5500ms);
        // The answer to ESC (or the late one of the command) is not the probe's.
        r.feed("\r\nOK\r\n", 5200ms);
        CHECK(r.log.empty());
        // A late prompt is left at once: the modem would eat the probe.
        r.feed("\r\n> ", 5300ms);
        CHECK(r.log == lines{R"(write "\x1b")"});
        r.tick(5500ms);
        CHECK(r.log == lines{R"(write "ATV1\r")"});
        CHECK(r.deadline() == 7500ms);
        r.tick(7500ms);  // first probe unanswered: ESC again
        CHECK(r.log == lines{R"(write "\x1b")"});
        r.tick(8s);
        CHECK(r.log == lines{R"(write "ATV1\r")"});
        r.feed("ATV1\r\r\nOK\r\n", 8100ms);  // echo back on (a reset modem): dropped
        CHECK(r.log == lines{R"(write "AT+CSQ\r")"});
        CHECK_FALSE(r.e.recovering());
        r.feed("\r\n+CSQ: 18,99\r\n\r\nOK\r\n", 8200ms);
        CHECK(r.log == lines{"completed #2 ok [+CSQ: 18,99]"});
        CHECK(r.e.stats().timeouts == 1);
        CHECK(r.e.stats().probes == 2);
        CHECK(r.e.stats().echoes == 1);
    }
}

TEST_CASE("at_engine: a response timeout after the PDU is recovered the same way") {
    rig r;
    r.submit(sms_submit(23, submit_pdu));
    r.feed("\r\n> ", 1s);
    r.tick(61s);
    CHECK(r.log == lines{"completed #1 timeout", R"(write "\x1b")"});
    r.tick(61500ms);
    CHECK(r.log == lines{R"(write "ATV1\r")"});
    r.feed("\r\nERROR\r\n", 61600ms);  // any answer shows the modem listens
    CHECK(r.log.empty());
    CHECK_FALSE(r.e.busy());
}

TEST_CASE("at_engine: total silence: modem_unresponsive after N probes, queued commands aborted") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT", {}, 1s));
        r.submit(cmd("AT+CSQ", "+CSQ:"));
        r.submit(cmd("AT+CREG?", "+CREG:"));
        r.tick(1s);
        CHECK(r.log == lines{"completed #1 timeout", R"(write "\x1b")"});
        clock::duration t = 1s;
        for (int probe = 1; probe <= 3; ++probe) {
            CAPTURE(probe);
            t += 500ms;
            r.tick(t);
            CHECK(r.log == lines{R"(write "ATV1\r")"});
            t += 2s;
            r.tick(t);
            if (probe < 3) CHECK(r.log == lines{R"(write "\x1b")"});
        }
        CHECK(r.log == lines{"unresponsive", "completed #2 aborted", "completed #3 aborted"});
        CHECK_FALSE(r.e.busy());
        CHECK_FALSE(r.deadline());
        CHECK(r.e.stats().unresponsive == 1);
        CHECK(r.e.stats().probes == 3);
        // The port is reopened: the engine takes commands again.
        r.e.reset();
        r.submit(cmd("ATE0"), 20s);
        CHECK(r.log == lines{R"(write "ATE0\r")"});
    }
}

TEST_CASE("at_engine: a reboot URC mid-command aborts everything once; more reboot lines during the hold-off are URCs") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CMGL=4", "+CMGL:"));
        r.submit(sms_submit(23, submit_pdu));
        r.feed("\r\n+CMGL: 1,1,,24\r\n\r\nRDY\r\n", 1s);
        CHECK(r.log == lines{"rebooted [RDY]", "completed #1 aborted [+CMGL: 1,1,,24]", "completed #2 aborted"});
        CHECK_FALSE(r.e.busy());
        // The plugin runs its init again; the rest of the boot chatter may
        // not abort it.
        for (auto& c : init_sequence()) r.submit(c, 1s);
        CHECK(r.log.empty());  // the first was written by the first submit
        r.feed("\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n", 2s);
        CHECK(r.log == lines{"urc startup [+CFUN: 1]", "urc startup [+CPIN: READY]"});
        r.feed("ATE0V1\r\r\nOK\r\n", 3s);
        CHECK(r.log == lines{"completed #3 ok", R"(write "AT+CMEE=1\r")"});
        // After the hold-off, a new reboot.
        r.feed("\r\n^SYSSTART\r\n", 30s);
        CHECK(r.log == lines{"rebooted [^SYSSTART]", "completed #4 aborted", "completed #5 aborted",
                             "completed #6 aborted", "completed #7 aborted"});
        CHECK(r.e.stats().reboots == 2);
        // +CPIN: READY answering AT+CPIN? is no reboot.
        r.submit(cmd("AT+CPIN?", "+CPIN:"), 60s);
        r.feed("\r\n+CPIN: READY\r\n\r\nOK\r\n", 60s);
        CHECK(r.log == lines{"completed #8 ok [+CPIN: READY]"});
    }
}

TEST_CASE("at_engine: a reboot during recovery ends it") {
    rig r;
    r.submit(cmd("AT", {}, 1s));
    r.submit(cmd("AT+CSQ", "+CSQ:"));
    r.tick(1s);
    CHECK(r.e.recovering());
    r.feed("\r\n+CFUN: 1\r\n", 1200ms);
    CHECK(r.log == lines{"rebooted [+CFUN: 1]", "completed #2 aborted"});
    CHECK_FALSE(r.e.recovering());
    CHECK_FALSE(r.deadline());
}

TEST_CASE("at_engine: echoed command lines are dropped, the PDU echo too") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.submit(cmd("AT+CSQ", "+CSQ:"));
        r.feed("AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
        CHECK(r.log == lines{"completed #1 ok [+CSQ: 20,99]"});
        r.submit(cmd("ATI"));
        r.feed("ATI\r\r\nManufacturer: ZTE\r\nModel: MF831\r\n\r\nOK\r\n");
        CHECK(r.completed().lines == lines{"Manufacturer: ZTE", "Model: MF831"});
        r.submit(sms_submit(23, submit_pdu));
        r.feed("AT+CMGS=23\r\r\n> ");
        REQUIRE(r.out.size() == 1);
        r.feed(submit_pdu + "\x1a\r\n+CMGS: 43\r\n\r\nOK\r\n");
        CHECK(r.log == lines{"completed #3 ok [+CMGS: 43]"});
        r.submit(sms_submit(23, submit_pdu));
        r.feed("AT+CMGS=23\r\r\n> " + submit_pdu + "\r\n+CMGS: 44\r\n\r\nOK\r\n");
        CHECK(r.completed(1).lines == lines{"+CMGS: 44"});
        CHECK(r.e.stats().echoes == 6);
        // Not the echo of anything in flight: an unknown URC.
        r.feed("AT+CSQ\r\n");
        CHECK(r.log == lines{"urc unknown [AT+CSQ]"});
    }
}

TEST_CASE("at_engine: an overlong line marks the response truncated; so do lines beyond the maximum") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        at_engine_config cfg;
        cfg.max_line = 64;
        cfg.max_response_lines = 3;
        rig r(ch, cfg);
        r.submit(cmd("AT+CMGL=4", "+CMGL:"));
        r.feed("\r\n+CMGL: 1,0,,24\r\n" + std::string(100, 'A') + "\r\n\r\nOK\r\n");
        REQUIRE(r.out.size() == 1);
        CHECK(r.completed().lines == lines{"+CMGL: 1,0,,24"});
        CHECK(r.completed().truncated);
        CHECK(r.completed().result.status == at_status::ok);
        r.submit(cmd("AT+CMGL=4", "+CMGL:"));
        r.feed("\r\n+CMGL: 1\r\nA1\r\n+CMGL: 2\r\nA2\r\n+CMGL: 3\r\nA3\r\nOK\r\n");
        CHECK(r.completed().lines == lines{"+CMGL: 1", "A1", "+CMGL: 2"});
        CHECK(r.completed().truncated);
        // The next response starts clean.
        r.submit(cmd("AT"));
        r.feed("\r\nOK\r\n");
        CHECK_FALSE(r.completed().truncated);
    }
}

TEST_CASE("at_engine: a prompt nobody waits for is left with ESC") {
    rig r;
    r.feed("\r\n> ");
    CHECK(r.log == lines{R"(write "\x1b")"});
    CHECK(r.e.stats().stray == 1);
}

TEST_CASE("at_engine: bounded queue; malformed commands are the caller's bug") {
    at_engine_config cfg;
    cfg.max_queued = 2;
    at_engine e(cfg);
    clock::time_point now{};
    CHECK(e.submit(cmd("AT"), now) == 1u);  // in flight, not queued
    CHECK(e.submit(cmd("AT"), now) == 2u);
    CHECK(e.submit(cmd("AT"), now) == 3u);
    CHECK_FALSE(e.submit(cmd("AT"), now));
    CHECK(e.stats().rejected == 1);
    CHECK(e.queued() == 2);
    // With no queue at all, a command is still taken when nothing is in flight.
    at_engine_config none;
    none.max_queued = 0;
    at_engine lone(none);
    CHECK(lone.submit(cmd("AT"), now) == 1u);
    CHECK_FALSE(lone.submit(cmd("AT"), now));
    (void)lone.take_actions();
    lone.on_bytes("\r\nOK\r\n", now);
    CHECK(lone.submit(cmd("AT"), now) == 2u);
    CHECK_THROWS_AS(e.submit(cmd("AT\r"), now), std::invalid_argument);
    CHECK_THROWS_AS(e.submit(cmd(""), now), std::invalid_argument);
    CHECK_THROWS_AS(e.submit(sms_submit(3, "00GG"), now), std::invalid_argument);
    CHECK_THROWS_AS(e.submit(sms_submit(3, ""), now), std::invalid_argument);
    // reset() aborts the one in flight and the queue.
    (void)e.take_actions();
    e.reset();
    auto a = e.take_actions();
    REQUIRE(a.size() == 3);
    CHECK(std::get<at_completed>(a[0]).result.status == at_status::aborted);
    CHECK_FALSE(e.busy());
}

TEST_CASE("at_engine: init_sequence is ATE0V1, CMEE, PDU mode, CNMI, SIM storage") {
    auto init = init_sequence();
    REQUIRE(init.size() == 5);
    CHECK(init[0].text == "ATE0V1");
    CHECK(init[1].text == "AT+CMEE=1");
    CHECK(init[2].text == "AT+CMGF=0");
    CHECK(init[3].text == "AT+CNMI=2,1,0,2,0");
    CHECK(init[4].text == R"(AT+CPMS="SM","SM","SM")");
    CHECK(init[4].expect == "+CPMS:");
    for (auto& c : init) CHECK_FALSE(c.pdu_hex);
    auto s = sms_submit(23, submit_pdu);
    CHECK(s.text == "AT+CMGS=23");
    CHECK(s.expect == "+CMGS:");
    CHECK(s.pdu_hex == submit_pdu);
}

namespace {

struct step {
    enum class op : std::uint8_t { submit, bytes, timer } what;
    clock::duration at;
    std::string data;
    at_command c{};
};

// Runs the script, feeding each bytes step in pieces of `piece` (0: whole)
// or cut in two at `cut` (when piece is 0 and cut is set).
std::vector<at_action> run(const std::vector<step>& script, std::size_t piece, std::optional<std::size_t> cut = {}) {
    at_engine e;
    clock::time_point t0{};
    std::vector<at_action> all;
    for (auto const& s : script) {
        switch (s.what) {
        case step::op::submit: REQUIRE(e.submit(s.c, t0 + s.at)); break;
        case step::op::timer: e.on_timer(t0 + s.at); break;
        case step::op::bytes: {
            std::string_view d = s.data;
            if (cut) {
                auto at = std::min(*cut, d.size());
                e.on_bytes(d.substr(0, at), t0 + s.at);
                e.on_bytes(d.substr(at), t0 + s.at);
            } else if (piece == 0) {
                e.on_bytes(d, t0 + s.at);
            } else {
                for (std::size_t i = 0; i < d.size(); i += piece) e.on_bytes(d.substr(i, piece), t0 + s.at);
            }
            break;
        }
        }
        for (auto& a : e.take_actions()) all.push_back(std::move(a));
    }
    return all;
}

}  // namespace

TEST_CASE("at_engine: a whole session gives the same actions however its bytes are cut") {
    using op = step::op;
    std::vector<step> script;
    for (auto& c : init_sequence()) script.push_back({op::submit, 0s, {}, c});
    script.push_back({op::bytes, 100ms, "ATE0V1\r\r\nOK\r\n\r\nOK\r\n\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n\r\nOK\r\n"});
    script.push_back({op::bytes, 200ms, "\r\n+CPMS: 1,50,1,50,1,50\r\n\r\nOK\r\n\r\n+CMT: ,24\r\n" + deliver_pdu + "\r\n"});
    script.push_back({op::submit, 300ms, {}, cmd("AT+CMGL=4", "+CMGL:")});
    script.push_back({op::submit, 300ms, {}, sms_submit(23, submit_pdu)});
    script.push_back({op::bytes, 400ms, "\r\n+CMGL: 1,1,,24\r\n\r\n+CMTI: \"SM\",2\r\n" + deliver_pdu + "\r\n\r\nRING\r\n\r\n^RSSI:9\r\n" +
                                            "\r\n+CDS: 25\r\n" + deliver_pdu + "\r\n\r\nOK\r\n"});
    script.push_back({op::bytes, 500ms, "\r\n> "});
    script.push_back({op::bytes, 600ms, "\r\n+CMGS: 42\r\n\r\nOK\r\n" + std::string(5000, 'z') + "\r\n\r\n+CREG: 1\r\n"});
    script.push_back({op::submit, 700ms, {}, sms_submit(23, submit_pdu)});
    script.push_back({op::timer, 5700ms, {}});
    script.push_back({op::bytes, 5800ms, "\r\n> \r\nOK\r\n"});
    script.push_back({op::timer, 6200ms, {}});
    script.push_back({op::bytes, 6300ms, "AT\r\r\nOK\r\n\r\nRDY\r\n\r\n+CFUN: 1\r\n"});
    script.push_back({op::bytes, 6400ms, "\r\n+CMT: ,24\r\n\r\n+CMTI: \"SM\",5\r\n"});

    auto const expected = run(script, 0);
    // A sanity check that the script does what it says.
    std::size_t urcs = 0, completions = 0, reboots = 0;
    for (auto const& a : expected) {
        urcs += std::holds_alternative<at_urc>(a);
        completions += std::holds_alternative<at_completed>(a);
        reboots += std::holds_alternative<at_rebooted>(a);
    }
    CHECK(urcs == 10);
    CHECK(completions == 8);
    CHECK(reboots == 1);
    for (std::size_t piece = 1; piece <= 17; ++piece) {
        CAPTURE(piece);
        CHECK(run(script, piece) == expected);
    }
    for (std::size_t cut = 0; cut < 5100; ++cut) {
        CAPTURE(cut);
        REQUIRE(run(script, 0, cut) == expected);
    }
}

TEST_CASE("payload_written: set only once the PDU went to the modem") {
    using namespace std::chrono_literals;
    at_engine e;
    auto t = at_engine::time_point{} + 1h;
    auto first = e.submit(sms_submit(3, "00110000"), t);
    REQUIRE(first);
    (void)e.take_actions();
    // No prompt: the timeout cannot have sent anything.
    e.on_timer(t + 6s);
    bool seen = false;
    for (auto& a : e.take_actions())
        if (auto* c = std::get_if<at_completed>(&a)) {
            CHECK(c->result.status == at_status::timeout);
            CHECK_FALSE(c->payload_written);
            seen = true;
        }
    CHECK(seen);

    at_engine f;
    auto id = f.submit(sms_submit(3, "00110000"), t);
    REQUIRE(id);
    f.on_bytes("\r\n> ", t);
    (void)f.take_actions();
    f.reset();  // the port went away after the PDU was written
    seen = false;
    for (auto& a : f.take_actions())
        if (auto* c = std::get_if<at_completed>(&a)) {
            CHECK(c->result.status == at_status::aborted);
            CHECK(c->payload_written);
            seen = true;
        }
    CHECK(seen);
}

TEST_CASE("at_engine: recover() after a raw client: ESC, CR, late answers dropped, probe, then the queue") {
    for (auto ch : chunks) {
        CAPTURE(ch);
        rig r(ch);
        r.e.recover(r.t0);
        r.take();
        CHECK(r.log == lines{R"(write "\x1b")", R"(write "\r")"});
        CHECK(r.e.recovering());
        // Commands wait behind the recovery.
        auto id = *r.e.submit(cmd("ATE0V1"), r.t0 + 10ms);
        r.take();
        CHECK(r.log.empty());
        // The late OK of the client's slow command, and the ERROR of its
        // half-typed line: neither answers ATE0V1.
        r.feed("\r\nOK\r\n\r\nERROR\r\n", 100ms);
        CHECK(r.log.empty());
        r.tick(500ms);
        CHECK(r.log == lines{R"(write "ATV1\r")"});
        r.feed("\r\nOK\r\n", 600ms);
        CHECK(r.log == lines{R"(write "ATE0V1\r")"});
        CHECK_FALSE(r.e.recovering());
        r.feed("\r\nOK\r\n", 700ms);
        REQUIRE(r.out.size() == 1);
        CHECK(r.completed().id == id);
        CHECK(r.completed().result.status == at_status::ok);
    }
}

TEST_CASE("at_engine: recover() is a no-op while a command is in flight") {
    rig r;
    r.submit(cmd("AT+CSQ", "+CSQ:"));
    r.e.recover(r.t0);
    r.take();
    CHECK(r.log.empty());
    CHECK_FALSE(r.e.recovering());
}
