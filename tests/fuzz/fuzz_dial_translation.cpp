// libFuzzer target for dial-string translation and phone-book parsing.
//
// Input layout: [selector] [text...]
//   selector bit 0: the text is a phone book (else a dialled number)
// A number either translates to a target with a host and a port, or to
// nothing; a phone book parses or throws std::invalid_argument. Nothing
// else may happen, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz_driver.hpp"
#include "modem/dial_translation.hpp"

using namespace sb::modem;

namespace {

const dial_translator& translator() {
    static const dial_translator t(
        {parse_translate_rule(R"(^555(\d{1,4})$->127.0.0.1:$1)"), parse_translate_rule(R"(^0(\d)$->telnet://[::1]:202$1)")},
        parse_phone_book("123 127.0.0.1:2323 telnet\n*70# localhost\n", "book"), 23);
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) {
        try {
            auto book = parse_phone_book(text, "fuzz");
            for (auto& e : book) SB_FUZZ_CHECK(!e.number.empty() && !e.target.host.empty());
        } catch (const std::invalid_argument&) {
        }
        return 0;
    }
    if (auto t = translator().translate(text)) {
        SB_FUZZ_CHECK(!t->host.empty());
        SB_FUZZ_CHECK(t->port != 0);
        SB_FUZZ_CHECK(t->host.size() <= 255);
    }
    if (auto t = parse_target(text, 23)) SB_FUZZ_CHECK(!t->host.empty());
    return 0;
}
