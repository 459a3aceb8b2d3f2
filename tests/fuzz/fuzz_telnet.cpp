// libFuzzer target for the telnet decoder.
//
// Input layout: [piece size] [bytes from the remote...]
// The bytes are decoded all at once and in pieces: data and replies must be
// the same, replies bounded, and encode() then decode() must give the data
// back unchanged (0xFF escaping is lossless).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_driver.hpp"
#include "core/telnet.hpp"

using sb::core::telnet_session;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t piece = 1 + data[0] % 64;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

    telnet_session whole;
    std::string data1, reply1;
    whole.decode(in, data1, reply1);

    telnet_session cut;
    std::string data2, reply2;
    for (std::size_t at = 0; at < in.size(); at += piece) cut.decode(in.substr(at, piece), data2, reply2);
    SB_FUZZ_CHECK(data1 == data2);
    SB_FUZZ_CHECK(reply1 == reply2);
    SB_FUZZ_CHECK(data1.size() <= in.size());
    // Every reply is a 3-byte negotiation answering at least 3 input bytes.
    SB_FUZZ_CHECK(reply1.size() <= in.size());
    for (int opt = 0; opt < 256; ++opt) {
        SB_FUZZ_CHECK(whole.us(static_cast<unsigned char>(opt)) == cut.us(static_cast<unsigned char>(opt)));
        SB_FUZZ_CHECK(whole.him(static_cast<unsigned char>(opt)) == cut.him(static_cast<unsigned char>(opt)));
    }

    std::string encoded;
    telnet_session::encode(in, encoded);
    telnet_session fresh;
    std::string back, reply3;
    fresh.decode(encoded, back, reply3);
    SB_FUZZ_CHECK(back == in);
    SB_FUZZ_CHECK(reply3.empty());
    return 0;
}
