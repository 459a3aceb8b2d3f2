#pragma once
// Telnet, sans-I/O: RFC 854 command parsing with 0xFF escaping, and
// RFC 1143 "Q method" option negotiation so two ends never loop. Which
// options each end may enable is a policy: a modem line (a client) wants
// BINARY and SUPPRESS-GO-AHEAD both ways and the remote to ECHO; a Minitel
// gateway (a server) echoes itself. Everything else is refused.
// Subnegotiations are skipped, bounded in size.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb::core {

namespace telnet_byte {
constexpr unsigned char iac = 255, dont = 254, do_ = 253, wont = 252, will = 251, sb = 250, se = 240;
constexpr unsigned char opt_binary = 0, opt_echo = 1, opt_sga = 3;
}  // namespace telnet_byte

// The options we enable at our end (WILL) and those we want the remote to
// enable (DO), as strings of option bytes: start() asks for all of them,
// and the remote may turn on nothing else.
struct telnet_policy {
    std::string_view us;
    std::string_view him;

    // A terminal line calling a host: binary, no go-ahead, the host echoes.
    static telnet_policy client();
    // A host for terminals that do no local echo (a Minitel): we echo.
    static telnet_policy echoing_server();
};

class telnet_session {
public:
    explicit telnet_session(telnet_policy policy = telnet_policy::client()) : policy_(policy) {}

    // What we send first when telnet is on from the start: the policy's
    // WILLs and DOs, recorded as pending so the answers are not answered
    // again.
    std::string start();

    // Bytes from the remote: application data is appended to data, our
    // negotiation answers to reply (to be sent before more data).
    void decode(std::string_view in, std::string& data, std::string& reply);

    // Data to the remote with every 0xFF doubled.
    static void encode(std::string_view in, std::string& out);

    // True when a byte stream starts with IAC followed by a command byte
    // (a telnet server talking first).
    static bool looks_like_telnet(std::string_view first_bytes);

    // Current Q-method state, exposed for tests.
    enum class q : std::uint8_t { no, yes, want_no, want_yes, want_no_opposite, want_yes_opposite };
    q us(unsigned char opt) const { return us_[opt]; }
    q him(unsigned char opt) const { return him_[opt]; }

    static constexpr std::size_t max_subnegotiation = 1024;

private:
    enum class st : std::uint8_t { data, iac, will, wont, do_, dont, sb, sb_iac };
    static void on_enable(q& s, bool allowed, unsigned char opt, unsigned char yes, unsigned char no,
                          std::string& reply);
    static void on_disable(q& s, unsigned char opt, unsigned char yes, unsigned char no, std::string& reply);
    static void ask(q& s, bool enable, unsigned char opt, unsigned char yes, unsigned char no, std::string& reply);
    void ask_him(unsigned char opt, bool enable, std::string& reply);
    void ask_us(unsigned char opt, bool enable, std::string& reply);

    telnet_policy policy_;
    st state_ = st::data;
    std::size_t sb_len_ = 0;
    std::array<q, 256> us_{};
    std::array<q, 256> him_{};
};

}  // namespace sb::core
