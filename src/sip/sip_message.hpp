#pragma once
// SIP messages (RFC 3261), sans-I/O: a datagram parser, a stream framer for
// TCP, views into Via / name-addr / SIP-URI values, and the serializers a UAS
// needs (responses, and the BYE it sends itself).
//
// Malformed input is an error value, never an exception: everything here runs
// on bytes from the network. Every size is bounded by message_limits.
// Parsed header values never contain CR, LF or other control characters
// (folding is unfolded to one SP, control characters are rejected), so values
// copied from a request into a response cannot inject header lines.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sip {

struct message_limits {
    std::size_t max_message_size = 65535;    // start line + headers + body
    std::size_t max_headers = 100;           // header lines after unfolding
    std::size_t max_header_line = 8 * 1024;  // start line and each unfolded header
};

enum class parse_error : std::uint8_t {
    ok,
    malformed_start_line,
    malformed_header,
    missing_mandatory,     // Via, From, To, Call-ID or CSeq absent
    body_length_mismatch,  // the body is shorter than Content-Length
    too_large,             // message, header line or Content-Length over the limits
    too_many_headers,
    bad_content_length,    // not a number, conflicting values, or absent on a stream
    unsupported_version,   // not SIP/2.0; the message is otherwise parsed, so a 505 can answer it
};

std::string_view to_string(parse_error e) noexcept;

struct header_field {
    std::string name;  // as received ("v", "VIA", "Via")
    std::string value; // trimmed, folding replaced by one SP
};

struct cseq_value {
    std::uint32_t number = 0;
    std::string_view method;
};

struct sip_message {
    bool is_request = false;
    std::string method;  // requests
    std::string uri;     // requests
    int status = 0;      // responses
    std::string reason;  // responses
    std::vector<header_field> fields;
    std::string body;

    // First value of a header, matched case-insensitively with compact forms
    // ("v" is Via). For headers that are comma-separated lists (Via, Contact,
    // Route, ...) this is the first element of the first line.
    std::optional<std::string_view> header(std::string_view name) const;
    // Every value in order: one per line, and list headers split at commas
    // outside quotes and <>.
    std::vector<std::string_view> headers(std::string_view name) const;
    std::optional<cseq_value> cseq() const;
    std::optional<int> max_forwards() const;

    void add_header(std::string_view name, std::string_view value);
    // Removes every line of that header (any spelling); returns how many.
    std::size_t remove_header(std::string_view name);
};

// Full name for a compact form ("v" -> "Via"); any other name is returned as is.
std::string_view expand_compact(std::string_view name) noexcept;
// Header names compared the way RFC 3261 7.3.3 says: case-insensitive, compact == full.
bool same_header(std::string_view a, std::string_view b) noexcept;
// Comma-separated list headers (Via, Contact, Route, Allow, ...). Others, like
// WWW-Authenticate or Date, have commas inside one value.
bool is_list_header(std::string_view name) noexcept;
// Splits a list value at commas outside quotes and <>; elements are trimmed,
// empty ones dropped.
void split_list(std::string_view value, std::vector<std::string_view>& out);

// A UDP datagram (RFC 3261 18.3): without Content-Length the body runs to the
// end; with it, extra bytes are dropped and missing bytes are an error.
// Leading CRLFs are skipped (7.5). On error `out` is left half-filled.
parse_error parse_message(std::string_view datagram, sip_message& out, const message_limits& limits = {});

// Nothing but CR and LF: a keep-alive (RFC 5626 3.5.1 ping) to drop silently.
bool is_keepalive(std::string_view datagram) noexcept;

// TCP framing (RFC 3261 7.5 / 18.3): Content-Length is mandatory, CRLFs
// between messages are skipped and a double CRLF is a keep-alive ping (RFC
// 5626 3.5.1, answered with a single CRLF pong). Once the head is in, a
// Content-Length that would take the message past max_message_size is an
// error before any of the body is buffered.
//
// Contract: feed() what one read returned, then call next() until need_more
// or error. The buffer then never holds more than one partial message
// (bounded by max_message_size) plus one read.
class stream_framer {
public:
    enum class status : std::uint8_t {
        need_more,
        message,      // `out` holds the next message
        bad_message,  // a well-framed message that did not parse (error() says why); framing goes on
        keepalive,    // a "\r\n\r\n" ping: answer "\r\n"
        error,        // the stream cannot be framed (error() says why): close the connection
    };

    explicit stream_framer(const message_limits& limits = {});

    void feed(std::string_view bytes);
    status next(sip_message& out);
    parse_error error() const noexcept { return error_; }
    // Bytes received and not yet delivered.
    std::size_t buffered() const noexcept { return buffer_.size() - start_; }

private:
    enum class phase : std::uint8_t { leading, head, body, failed };
    status fail(parse_error e);
    void consume(std::size_t n);

    message_limits limits_;
    std::string buffer_;
    std::size_t start_ = 0;        // first byte of the current message in buffer_
    std::size_t scanned_ = 0;      // head bytes already searched, relative to start_
    std::size_t line_begin_ = 0;   // start of the line being scanned, relative to start_
    std::size_t head_size_ = 0;    // start line + headers + blank line
    std::size_t body_size_ = 0;
    unsigned line_ends_ = 0;       // CRLFs seen before a start line
    bool start_line_checked_ = false;
    phase phase_ = phase::leading;
    parse_error error_ = parse_error::ok;
};

// ;name=value;flag parameters. A flag (no "=") is found with an empty value.
// Quoted values keep their quotes.
std::optional<std::string_view> find_param(std::string_view params, std::string_view name) noexcept;

struct via_header {
    std::string_view protocol;   // "SIP/2.0"
    std::string_view transport;  // "UDP", "TCP", ...
    std::string_view host;       // sent-by host; IPv6 keeps its brackets
    std::optional<std::uint16_t> port;
    std::string_view params;     // ";branch=...;rport" (leading ';' included)
    std::string_view branch;
    std::optional<std::string_view> received;
    bool has_rport = false;
    std::optional<std::uint16_t> rport;  // rport=N
};
// One Via value (one element of the list).
std::optional<via_header> parse_via(std::string_view value) noexcept;

struct sip_uri {
    std::string_view scheme;  // "sip" or "sips"
    std::string_view user;    // may be empty
    std::string_view password;
    std::string_view host;    // IPv6 keeps its brackets
    std::optional<std::uint16_t> port;
    std::string_view params;   // ";transport=tcp;lr" (leading ';' included)
    std::string_view headers;  // after '?', without it
};
std::optional<sip_uri> parse_uri(std::string_view text) noexcept;

// From, To, Contact, Route: [display-name] <uri> *(;param) or a bare uri *(;param).
struct name_addr {
    std::string_view display_name;  // without quotes; quoted-pair escapes are left as is
    std::string_view uri;
    std::string_view params;  // header params after the URI (";tag=..."), leading ';' included
    bool wildcard = false;    // Contact: *
    std::optional<std::string_view> param(std::string_view name) const noexcept { return find_param(params, name); }
    std::optional<std::string_view> tag() const noexcept { return param("tag"); }
};
std::optional<name_addr> parse_name_addr(std::string_view value) noexcept;

// RFC 3261 18.2.1 and RFC 3581 4 on the top Via of a request that came from
// source_ip:source_port: received= is set when the sent-by host is not the
// source address, and always when rport is present; a value-less rport gets
// the source port. Returns false when there is no parseable top Via.
bool stamp_via(sip_message& request, std::string_view source_ip, std::uint16_t source_port);

struct response_options {
    std::string_view to_tag = {};  // added to To when To has no tag (never on 100)
    // 2xx/1xx that create a dialog copy Record-Route (RFC 3261 12.1.1).
    bool copy_record_route = false;
    std::span<const header_field> extra = {};  // Contact, Content-Type, Allow, Warning...
    std::string_view body = {};
};
// Via (every value, in order), From, To, Call-ID, CSeq copied from the request
// (RFC 3261 8.2.6.2), then `extra`, then Content-Length, always.
std::string make_response(const sip_message& request, int status, std::string_view reason,
                          const response_options& options = {});

// A request we originate (the BYE): the headers as given, then Content-Length.
std::string make_request(std::string_view method, std::string_view uri, std::span<const header_field> headers,
                         std::string_view body = {});

// Any message back to text; Content-Length is written from the body, whatever
// the fields say.
std::string serialize(const sip_message& message);

}  // namespace sb::sip
