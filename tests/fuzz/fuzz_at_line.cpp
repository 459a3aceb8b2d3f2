// libFuzzer target for the SMS modem's line framer and AT engine.
//
// Input layout: [config] [piece size] [script...]
//   config bits 0-1: max_line 4096, 16, 1, 64
//          bits 2-3: max_response_lines 2000, 3, 0, 1
//          bits 4-5: max_queued 64, 1, 0, 2
//          bits 6-7: max_probes 3, 1, 0, 2
//   script: modem bytes, except 0xFC-0xFF followed by a parameter byte:
//     FF n: the clock moves n * 50 ms, then a timer tick
//     FE n: submit command n (from a table: simple, with prefix, with PDU)
//     FD n: the clock jumps to the engine's deadline (if any) and ticks
//     FC n: reset() (the port was reopened)
//
// The script runs twice, the modem bytes fed whole and in pieces: the
// actions must be the same. The framer alone must agree with itself the
// same way. Every submitted id completes at most once, lines and actions
// stay within the configured bounds, and a busy engine always has a
// deadline (nothing waits forever).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_driver.hpp"
#include "sms/at_engine.hpp"
#include "sms/at_line.hpp"

namespace {

using namespace sb::sms;
using namespace std::chrono_literals;

at_engine_config config_for(std::uint8_t c) {
    at_engine_config cfg;
    static constexpr std::size_t lines[] = {4096, 16, 1, 64};
    static constexpr std::size_t responses[] = {2000, 3, 0, 1};
    static constexpr std::size_t queued[] = {64, 1, 0, 2};
    static constexpr unsigned probes[] = {3, 1, 0, 2};
    cfg.max_line = lines[c & 3];
    cfg.max_response_lines = responses[(c >> 2) & 3];
    cfg.max_queued = queued[(c >> 4) & 3];
    cfg.max_probes = probes[(c >> 6) & 3];
    return cfg;
}

at_command command_for(std::uint8_t n) {
    switch (n % 6) {
    case 0: return {"AT", std::nullopt, 1s, {}};
    case 1: return {"AT+CSQ", std::nullopt, 2s, "+CSQ:"};
    case 2: return {"AT+CMGL=4", std::nullopt, 5s, "+CMGL:"};
    case 3: return sms_submit(n, "0011000B916407281553F80000AA0AE8329BFD4697D9EC37");
    case 4: return {"AT+CPIN?", std::nullopt, 3s, "+CPIN:"};
    default: return {"ATE0", std::nullopt, 500ms, {}};
    }
}

struct checker {
    const at_engine_config& cfg;
    std::set<std::uint64_t> open;  // submitted, not completed
    std::set<std::uint64_t> done;

    void check(const std::vector<at_action>& actions, std::size_t bound) {
        SB_FUZZ_CHECK(actions.size() <= bound);
        for (auto const& a : actions) {
            if (auto c = std::get_if<at_completed>(&a)) {
                SB_FUZZ_CHECK(open.erase(c->id) == 1);
                SB_FUZZ_CHECK(done.insert(c->id).second);
                SB_FUZZ_CHECK(c->lines.size() <= cfg.max_response_lines);
                for (auto const& l : c->lines) SB_FUZZ_CHECK(!l.empty() && l.size() <= std::max<std::size_t>(cfg.max_line, 1));
            } else if (auto u = std::get_if<at_urc>(&a)) {
                SB_FUZZ_CHECK(!u->lines.empty() && u->lines.size() <= 2);
                for (auto const& l : u->lines) SB_FUZZ_CHECK(!l.empty() && l.size() <= std::max<std::size_t>(cfg.max_line, 1));
            } else if (auto w = std::get_if<at_write>(&a)) {
                SB_FUZZ_CHECK(!w->bytes.empty());
            }
            (void)to_string(a);
        }
    }
};

// Runs the script; piece 0 feeds each run of modem bytes whole.
std::vector<at_action> run(const at_engine_config& cfg, std::string_view script, std::size_t piece) {
    at_engine e(cfg);
    checker chk{cfg, {}, {}};
    clock::time_point now{};
    std::vector<at_action> all;
    // Per event: every queued command aborted, plus the one in flight, a
    // write, a URC and the reboot or unresponsive report.
    const std::size_t per_event = cfg.max_queued + 5;

    auto collect = [&](std::size_t bound) {
        auto a = e.take_actions();
        chk.check(a, bound);
        for (auto& x : a) all.push_back(std::move(x));
        SB_FUZZ_CHECK(e.queued() <= cfg.max_queued);
        // Busy with no deadline would wait forever.
        if (e.busy()) SB_FUZZ_CHECK(e.deadline().has_value());
    };
    auto feed = [&](std::string_view d) {
        if (d.empty()) return;
        std::size_t const step = piece == 0 ? d.size() : piece;
        for (std::size_t i = 0; i < d.size(); i += step) {
            auto part = d.substr(i, step);
            e.on_bytes(part, now);
            // At most a token per byte (and one held over), each an event.
            collect((part.size() + 1) * per_event);
        }
    };

    std::size_t start = 0;
    std::size_t i = 0;
    while (i < script.size()) {
        auto const b = static_cast<std::uint8_t>(script[i]);
        if (b < 0xFC || i + 1 >= script.size()) {
            ++i;
            continue;
        }
        feed(script.substr(start, i - start));
        auto const n = static_cast<std::uint8_t>(script[i + 1]);
        switch (b) {
        case 0xFF:
            now += n * 50ms;
            e.on_timer(now);
            collect(per_event);
            break;
        case 0xFE:
            if (auto id = e.submit(command_for(n), now)) SB_FUZZ_CHECK(chk.open.insert(*id).second);
            collect(per_event);
            break;
        case 0xFD:
            if (auto d = e.deadline(); d && *d > now) now = *d;
            e.on_timer(now);
            collect(per_event);
            break;
        default:
            e.reset();
            collect(per_event);
            SB_FUZZ_CHECK(!e.busy());
            SB_FUZZ_CHECK(chk.open.empty());
            break;
        }
        i += 2;
        start = i;
    }
    feed(script.substr(start));
    return all;
}

void check_framer(std::size_t max, std::string_view in, std::size_t piece) {
    at_line_framer whole(max), cut(max);
    std::vector<at_token> a, b;
    whole.feed(in, a);
    for (std::size_t i = 0; i < in.size(); i += piece) {
        cut.feed(in.substr(i, piece), b);
        SB_FUZZ_CHECK(cut.pending() <= cut.max_line());
    }
    SB_FUZZ_CHECK(a == b);
    SB_FUZZ_CHECK(whole.pending() == cut.pending());
    SB_FUZZ_CHECK(a.size() <= in.size());
    for (auto const& t : a) {
        if (t.what != at_token::kind::line) {
            SB_FUZZ_CHECK(t.text.empty());
            continue;
        }
        SB_FUZZ_CHECK(!t.text.empty() && t.text.size() <= whole.max_line());
        SB_FUZZ_CHECK(t.text.find_first_of("\r\n") == std::string::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    auto const cfg = config_for(data[0]);
    std::size_t const piece = 1 + data[1] % 16;
    std::string_view script(reinterpret_cast<const char*>(data + 2), size - 2);

    check_framer(cfg.max_line, script, piece);
    auto const whole = run(cfg, script, 0);
    auto const cut = run(cfg, script, piece);
    SB_FUZZ_CHECK(whole == cut);
    return 0;
}
