#pragma once
// SMS TPDUs in PDU mode (3GPP TS 23.040 9.2, TS 27.005 3.1), sans-I/O: the
// SMS-SUBMITs an AT+CMGS sends, the SMS-DELIVERs and SMS-STATUS-REPORTs
// that +CMGL / +CMGR / +CMT / +CDS return, and the reassembly of
// concatenated messages (23.040 9.2.3.24.1 / .8).
//
// Decoding takes bytes a modem relayed from the network: input is bounded
// (max_pdu_octets), every length field is checked against what is left, and
// garbage is an error string, never an exception or a read out of bounds.
// Encoding takes text from API clients: invalid UTF-8, a bad number or a text
// over 255 parts is an error, never a truncated message.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sms {

// 23.040: SMSC address (at most 12 octets with its length) + the longest
// TPDU (164 for a SUBMIT with an absolute VP and a 12-octet address).
inline constexpr std::size_t max_pdu_octets = 176;
inline constexpr std::size_t max_hex_chars = 2 * max_pdu_octets;

// ----- SMS-SUBMIT -----

struct submit_request {
    // "+436601112233" (international, TON 1) or national/short-code digits
    // "06601112233" (TON unknown). 1-20 digits, nothing else: callers strip
    // spaces and dashes, so a typo cannot reach a wrong number.
    std::string to;
    std::string text;  // UTF-8; may be empty (one empty SMS)
    // Relative TP-VP, rounded up to the next value the format can express
    // (5 min steps to 12 h, 30 min to 24 h, days to 30 d, weeks to 63 weeks),
    // capped at 63 weeks. nullopt: no TP-VP, the SMSC's default.
    std::optional<std::chrono::minutes> validity;
    bool status_report_request = false;
    // Concatenation reference shared by every part of one long text; the
    // caller picks a random one so a receiver cannot mix two messages.
    std::uint8_t concat_ref = 0;
};

struct submit_pdu {
    std::string hex;               // "00" (use the SIM's SMSC) + the TPDU, uppercase
    std::size_t tpdu_length = 0;   // TPDU octets: the <length> of AT+CMGS=<length>
    std::uint8_t part = 1;         // 1-based
    std::uint8_t total = 1;
};

// GSM7 when every character is in the default alphabet or its extension,
// UCS2 (UTF-16BE) otherwise. One part up to 160 septets / 70 UTF-16 units,
// else parts of 153 / 67 with an 8-bit-reference concatenation UDH; an
// escape sequence or a surrogate pair is never split across parts. TP-MR is
// 0 (the modem assigns it). Empty on error; the overload says why.
std::vector<submit_pdu> encode_submit(const submit_request& request);
std::vector<submit_pdu> encode_submit(const submit_request& request, std::string& error);

// Characters per part, for an API that shows "n SMS" before sending.
struct split_info {
    bool gsm7 = true;
    std::size_t units = 0;   // septets (GSM7) or UTF-16 code units (UCS2)
    std::size_t parts = 0;
};
std::optional<split_info> plan_split(std::string_view utf8_text);

// TP-VP relative (23.040 9.2.3.12.1) for a requested validity, rounded up.
std::uint8_t relative_validity(std::chrono::minutes validity) noexcept;

// ----- SMS-DELIVER and SMS-STATUS-REPORT -----

enum class pdu_kind : std::uint8_t { deliver, status_report };

enum class text_coding : std::uint8_t {
    gsm7,       // text decoded; payload holds the unpacked septets
    eight_bit,  // binary: text empty, payload holds the octets (also compressed data)
    ucs2,       // text decoded (UTF-16BE, surrogate pairs joined); payload holds the octets
};

// TP-ST (23.040 9.2.3.15) in three classes.
enum class delivery_state : std::uint8_t {
    delivered,  // 0x00-0x1F: transaction completed (received, forwarded, replaced)
    pending,    // 0x20-0x3F: temporary error, the SC is still trying
    failed,     // 0x40-0x7F: permanent error or gave up; 0x80-0xFF (reserved) too
};
delivery_state classify_status(std::uint8_t tp_st) noexcept;

struct concat_info {
    std::uint16_t ref = 0;
    std::uint8_t total = 0;  // >= 2 ... 255; an IE with total 0 or part out of range is ignored
    std::uint8_t part = 0;   // 1-based
    bool ref16 = false;      // IEI 0x08 rather than 0x00
};

struct address {
    // Digits with '+' when the TON is international, "*#abc" for semi-octets
    // A-E; the decoded GSM7 text for an alphanumeric sender (TON 5).
    std::string value;
    std::uint8_t type = 0;  // Type-of-Address octet as received (0x91, 0x81, 0xD0, ...)
    bool alphanumeric() const noexcept { return ((type >> 4) & 7) == 5; }
};

// One decoded PDU. Which fields mean something depends on `kind`, so a
// caller switches once and the struct stays plain (no variant visiting in
// the REST layer). Timestamps are ISO 8601 with the SMSC's offset,
// "2013-03-08T15:02:16+02:00"; empty when the PDU carried a timestamp that
// is not a valid date (the message itself is kept).
struct deliver_pdu {
    pdu_kind kind = pdu_kind::deliver;
    address smsc;  // empty value when the PDU had none (length octet 00)
    std::uint8_t first_octet = 0;

    // SMS-DELIVER; also filled from a status report's optional PID/DCS/UD.
    address sender;  // TP-OA
    std::uint8_t pid = 0;
    std::uint8_t dcs = 0;
    text_coding coding = text_coding::gsm7;
    std::optional<std::uint8_t> message_class;  // 0 = flash
    std::string timestamp;                      // TP-SCTS
    std::vector<std::uint8_t> udh;              // raw IEs, without the UDHL octet
    std::optional<concat_info> concat;
    std::string text;                   // UTF-8 (GSM7 and UCS2)
    std::vector<std::uint8_t> payload;  // see text_coding
    bool more_messages = false;         // TP-MMS clear: the SC has more to send
    bool reply_path = false;

    // SMS-STATUS-REPORT
    std::uint8_t message_reference = 0;  // TP-MR of the SUBMIT it reports on
    address recipient;                   // TP-RA
    std::string discharge_time;          // TP-DT
    std::uint8_t status = 0;             // TP-ST as received
    delivery_state state = delivery_state::delivered;
};

// `hex` is what the modem printed: the SMSC address then the TPDU, 2 hex
// digits per octet (either case), nothing else, at most max_hex_chars.
std::optional<deliver_pdu> decode_deliver(std::string_view hex, std::string& error);
// The same from octets.
std::optional<deliver_pdu> decode_deliver_octets(std::span<const std::uint8_t> pdu, std::string& error);

// ----- helpers -----

std::string to_hex(std::span<const std::uint8_t> bytes);  // uppercase
// False when the length is odd or a character is not a hex digit. Appends.
bool from_hex(std::string_view hex, std::vector<std::uint8_t>& out);
// The ISO 8601 form of a 7-octet TP-SCTS / TP-DT; nullopt when a digit or
// field is out of range. Years 90-99 are 199x, the rest 20xx.
std::optional<std::string> decode_timestamp(std::span<const std::uint8_t, 7> octets);

// ----- reassembly -----

struct complete_message {
    address sender;
    address smsc;
    std::string timestamp;  // of the first part
    text_coding coding = text_coding::gsm7;
    std::string text;                   // UTF-8, the parts joined
    std::vector<std::uint8_t> payload;  // joined payloads (eight_bit: the data)
    std::optional<std::uint8_t> message_class;
    std::uint8_t parts = 1;  // how many parts it came in
    std::uint8_t total = 1;  // how many there were meant to be (> parts when expired)
};

struct reassembler_limits {
    std::size_t max_open = 64;  // incomplete messages held; the oldest is dropped past it
    std::chrono::seconds timeout = std::chrono::hours(24);  // since a message's first part
};

// Joins concatenated SMS-DELIVERs, keyed by (sender, ref, total): parts come
// in any order, duplicates are ignored. Part payloads are joined before
// decoding, so a sender that split an escape sequence or a surrogate pair
// still yields the right text. No clock inside: `now` is passed in.
// Memory is bounded by max_open x 255 parts x 140 octets.
class reassembler {
public:
    using clock = std::chrono::steady_clock;

    explicit reassembler(reassembler_limits limits = {});

    // A PDU without a (valid) concatenation IE comes back at once. Status
    // reports are not messages: nullopt. Expired messages are dropped first
    // (and counted); call expire() before add() to get them back instead.
    std::optional<complete_message> add(const deliver_pdu& part, clock::time_point now);

    // Removes the messages whose first part is older than the timeout and
    // returns what arrived of them, joined in part order, gaps left out.
    std::vector<complete_message> expire(clock::time_point now);

    std::size_t open() const noexcept { return open_.size(); }
    std::size_t dropped() const noexcept { return dropped_; }  // by capacity or by add()'s expiry
    std::size_t duplicates() const noexcept { return duplicates_; }

private:
    struct key {
        std::string sender;
        std::uint16_t ref;
        std::uint8_t total;
        bool ref16;
        auto operator<=>(const key&) const = default;
    };
    struct pending {
        clock::time_point first_seen;
        std::uint64_t order = 0;  // arrival order, for dropping the oldest
        std::map<std::uint8_t, deliver_pdu> parts;
    };
    static complete_message join(const pending& p, std::uint8_t total);

    reassembler_limits limits_;
    std::map<key, pending> open_;
    std::uint64_t next_order_ = 0;
    std::size_t dropped_ = 0;
    std::size_t duplicates_ = 0;
};

}  // namespace sb::sms
