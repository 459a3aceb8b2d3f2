#pragma once
// The user-visible settings of one Hayes modem: S-registers and the E/Q/V/X
// flags, plus how a result code is written with them. Plain data, no I/O.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace sb::modem {

// Numeric values are the Hayes ones (V0 output).
enum class result_code : int {
    ok = 0,
    connect = 1,
    ring = 2,
    no_carrier = 3,
    error = 4,
    no_dialtone = 6,
    busy = 7,
    no_answer = 8,
};

const char* result_text(result_code c);  // "OK", "NO CARRIER", ...

struct registers {
    // Hayes defaults (AT&F): S0=0 S1=0 S2=43 S3=13 S4=10 S5=8 S6=2 S7=50
    // S8=2 S9=6 S10=14 S11=95 S12=50 S30=0. Unlisted registers are 0.
    std::array<std::uint8_t, 256> s{};
    bool echo = true;     // E1
    bool quiet = false;   // Q0
    bool verbose = true;  // V1
    int x_level = 4;      // X4

    registers();  // the factory defaults above

    std::uint8_t auto_answer_rings() const { return s[0]; }
    std::uint8_t escape_char() const { return s[2]; }   // 43 '+'; >127 disables the escape
    char cr() const { return static_cast<char>(s[3]); }
    char lf() const { return static_cast<char>(s[4]); }
    char bs() const { return static_cast<char>(s[5]); }
    std::chrono::seconds dial_timeout() const { return std::chrono::seconds(s[7]); }           // S7
    std::chrono::milliseconds carrier_loss_delay() const { return std::chrono::milliseconds(s[10] * 100); }  // S10, 1/10 s
    std::chrono::milliseconds guard_time() const { return std::chrono::milliseconds(s[12] * 20); }           // S12, 1/50 s
    std::chrono::seconds inactivity() const { return std::chrono::seconds(s[30] * 10); }       // S30, 10 s units, 0 = off
};

// A result as the terminal sees it, honouring Q, V and X:
//   V1: "\r\nCONNECT 115200\r\n"   V0: "1\r" (or the numeric code of that speed)   Q1: ""
//   X0: CONNECT without speed; BUSY, NO DIALTONE, NO ANSWER become NO CARRIER
//   X1: CONNECT <speed>; BUSY and NO DIALTONE become NO CARRIER
//   X2: adds NO DIALTONE;  X3: adds BUSY (not NO DIALTONE);  X4: everything
// speed is only used for connect; 0 means none. CR/LF are S3/S4.
std::string format_result(result_code c, const registers& r, unsigned speed = 0);

// Informational text (ATI, AT&V, ATSn?) framed as V1 wants: "\r\n" text "\r\n"
// (V0: text "\r\n"), using S3/S4.
std::string format_info(const std::string& text, const registers& r);

}  // namespace sb::modem
