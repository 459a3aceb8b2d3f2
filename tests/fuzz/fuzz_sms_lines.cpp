// libFuzzer target for the SMS bridge's heartbeat filter and the modem
// status lines (+CSQ, +CREG, +COPS, +CPIN, +CUSD).
//
// Input layout: [pattern length] [pattern...] [piece size] [stream...]
// The stream is filtered whole, and in pieces of the given size: the data
// and the heartbeat count must agree, no output may contain the pattern
// where the input had none, and the filter holds back less than a pattern.
// Each line of the stream is then given to every status parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_driver.hpp"
#include "sms/heartbeat_filter.hpp"
#include "sms/modem_status.hpp"

using namespace sb::sms;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::size_t plen = static_cast<std::uint8_t>(in[0]) % 17;
    in.remove_prefix(1);
    if (in.size() < plen + 1) return 0;
    std::string pattern(in.substr(0, plen));
    in.remove_prefix(plen);
    std::size_t piece = 1 + static_cast<std::uint8_t>(in[0]) % 16;
    in.remove_prefix(1);

    heartbeat_filter whole(pattern);
    std::string a;
    std::size_t beats_a = whole.feed(in, a);
    SB_FUZZ_CHECK(whole.held() < std::max<std::size_t>(pattern.size(), 1));
    a += whole.flush();

    heartbeat_filter pieces(pattern);
    std::string b;
    std::size_t beats_b = 0;
    for (std::size_t at = 0; at < in.size(); at += piece) beats_b += pieces.feed(in.substr(at, piece), b);
    b += pieces.flush();
    SB_FUZZ_CHECK(a == b);
    SB_FUZZ_CHECK(beats_a == beats_b);
    SB_FUZZ_CHECK(a.size() + beats_a * pattern.size() == in.size());

    modem_status s;
    while (!in.empty()) {
        auto nl = in.find('\n');
        auto line = in.substr(0, nl);
        (void)apply_csq(s, line);
        (void)apply_creg(s, line, true);
        (void)apply_creg(s, line, false);
        (void)apply_cops(s, line);
        (void)apply_cpin(s, line);
        if (auto r = parse_cusd(line)) SB_FUZZ_CHECK(r->text.size() <= line.size());
        if (s.rssi) SB_FUZZ_CHECK(*s.rssi >= 0 && *s.rssi <= 31);
        if (nl == std::string_view::npos) break;
        in.remove_prefix(nl + 1);
    }
    return 0;
}
