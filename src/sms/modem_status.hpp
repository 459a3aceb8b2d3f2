#pragma once
// What GET /v1/modem shows, read from the answers to AT+CSQ, AT+CREG?,
// AT+COPS? and AT+CPIN? (3GPP TS 27.007) and kept up to date by +CREG:
// URCs. Also the +CUSD: line of a USSD answer. Sans-I/O: lines in, fields
// out; a line that does not parse leaves the field as it was.
#include <optional>
#include <string>
#include <string_view>

namespace sb::sms {

struct modem_status {
    std::optional<int> rssi;  // 0..31 of +CSQ; nullopt for 99 (unknown) or never read
    std::string operator_name;
    std::string registration = "unknown";  // home, roaming, searching, denied, not_registered, unknown
    std::string sim = "unknown";           // ready, pin_required, puk_required, absent, unknown
    std::string manufacturer, model, imei;

    // -113 dBm + 2 per step (27.007 8.5).
    std::optional<int> signal_dbm() const { return rssi ? std::optional<int>(-113 + 2 * *rssi) : std::nullopt; }
};

// "+CSQ: 20,99"
bool apply_csq(modem_status& s, std::string_view line);
// "+CREG: 0,1" (answer) or "+CREG: 1" / "+CREG: 1,\"00A1\",\"0B2C\"" (URC).
bool apply_creg(modem_status& s, std::string_view line, bool urc);
// "+COPS: 0,0,\"A1\",7"; "+COPS: 0" (no operator) clears it.
bool apply_cops(modem_status& s, std::string_view line);
// "+CPIN: READY" / "SIM PIN" / ...
bool apply_cpin(modem_status& s, std::string_view line);
// The CME error of AT+CPIN? without a SIM (10: SIM not inserted).
void apply_cpin_error(modem_status& s, int cme_code);

struct ussd_reply {
    int status = 0;  // 0 done, 1 more action needed, 2 terminated, 4 not supported, 5 timeout
    std::string text;
    int dcs = -1;
};
// "+CUSD: 0,\"Balance 5 EUR\",15". The text is taken as the modem gave it
// (with AT+CSCS="GSM" modems print it as text).
std::optional<ussd_reply> parse_cusd(std::string_view line);

}  // namespace sb::sms
