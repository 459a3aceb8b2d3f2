#include "sip/sip_message.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "sip/text.hpp"

namespace sb::sip {

namespace {

using text::has_ctl;
using text::is_alpha;
using text::is_ctl;
using text::is_digit;
using text::lower;

constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }

// RFC 3261 25.1 token.
constexpr bool is_token_char(char c) noexcept {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
    case '-': case '.': case '!': case '%': case '*': case '_': case '+': case '`': case '\'': case '~': return true;
    default: return false;
    }
}

// A plain loop: std::all_of over a function pointer is not inlined, and it
// runs over every byte of every header.
bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

// Digits only, at most max_digits of them (so it cannot overflow).
template <class T>
std::optional<T> parse_number(std::string_view s, std::size_t max_digits) noexcept {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    T v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        v = static_cast<T>(v * 10 + static_cast<T>(c - '0'));
    }
    return v;
}

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
    auto const v = parse_number<std::uint32_t>(s, 5);
    if (!v || *v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

// One physical line ending in LF (a CR before it is dropped). Lone LF is
// accepted as well as CRLF, identically here and in the framer.
bool read_line(std::string_view text, std::size_t& pos, std::string_view& line) noexcept {
    auto const lf = text.find('\n', pos);
    if (lf == std::string_view::npos) return false;
    auto end = lf;
    if (end > pos && text[end - 1] == '\r') --end;
    line = text.substr(pos, end - pos);
    pos = lf + 1;
    return true;
}

// Where the first unquoted, un-bracketed comma is, or npos.
std::size_t find_list_comma(std::string_view s, std::size_t from = 0) noexcept {
    bool quoted = false;
    int angle = 0;
    for (std::size_t i = from; i < s.size(); ++i) {
        char const c = s[i];
        if (quoted) {
            if (c == '\\') ++i;
            else if (c == '"') quoted = false;
            continue;
        }
        if (c == '"') quoted = true;
        else if (c == '<') ++angle;
        else if (c == '>' && angle > 0) --angle;
        else if (c == ',' && angle == 0) return i;
    }
    return std::string_view::npos;
}

// ----- start line -----

bool valid_request_uri(std::string_view uri) noexcept {
    auto const colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri.size()) return false;
    if (!is_alpha(uri[0])) return false;
    for (std::size_t i = 1; i < colon; ++i) {
        char const c = uri[i];
        if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
    }
    for (char c : uri)
        if (is_ctl(c) || c == ' ' || c == '\t') return false;
    return true;
}

enum class version_check : std::uint8_t { sip20, other_sip, garbage };

version_check check_version(std::string_view v) noexcept {
    if (iequals(v, "SIP/2.0")) return version_check::sip20;
    // SIP/<digits>.<digits>: a version we do not speak, answered with 505.
    if (v.size() < 7 || !iequals(v.substr(0, 4), "SIP/")) return version_check::garbage;
    auto const rest = v.substr(4);
    auto const dot = rest.find('.');
    if (dot == std::string_view::npos || !parse_number<unsigned>(rest.substr(0, dot), 4) ||
        !parse_number<unsigned>(rest.substr(dot + 1), 4))
        return version_check::garbage;
    return version_check::other_sip;
}

// Fills `out` when given; `other_version` reports a well-formed SIP/x.y that is not 2.0.
parse_error parse_start_line(std::string_view line, sip_message* out, bool& other_version) noexcept {
    other_version = false;
    if (line.empty() || has_ctl(line)) return parse_error::malformed_start_line;
    if (line.size() >= 4 && iequals(line.substr(0, 4), "SIP/")) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; a missing reason is tolerated.
        auto const sp = line.find(' ');
        if (sp == std::string_view::npos) return parse_error::malformed_start_line;
        auto const version = check_version(line.substr(0, sp));
        if (version == version_check::garbage) return parse_error::malformed_start_line;
        auto const code_text = line.substr(sp + 1, 3);
        auto const code = parse_number<int>(code_text, 3);
        if (!code || code_text.size() != 3 || *code < 100 || *code > 699) return parse_error::malformed_start_line;
        std::string_view reason;
        if (line.size() > sp + 4) {
            if (line[sp + 4] != ' ') return parse_error::malformed_start_line;
            reason = line.substr(sp + 5);
        }
        other_version = version == version_check::other_sip;
        if (out) {
            out->is_request = false;
            out->status = *code;
            out->reason.assign(reason);
        }
        return parse_error::ok;
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    auto const sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return parse_error::malformed_start_line;
    auto const sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return parse_error::malformed_start_line;
    auto const method = line.substr(0, sp1);
    auto const uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto const version = check_version(line.substr(sp2 + 1));
    if (!is_token(method) || !valid_request_uri(uri) || version == version_check::garbage)
        return parse_error::malformed_start_line;
    other_version = version == version_check::other_sip;
    if (out) {
        out->is_request = true;
        out->method.assign(method);
        out->uri.assign(uri);
    }
    return parse_error::ok;
}

// ----- headers -----

enum class header_step : std::uint8_t { header, end, malformed, too_large, unterminated };

// Appends one trimmed line piece, unfolding with a single SP (RFC 3261 7.3.1).
bool append_piece(std::string& value, std::string_view piece) {
    piece = trim(piece);
    if (has_ctl(piece)) return false;
    if (piece.empty()) return true;
    if (!value.empty()) value += ' ';
    value.append(piece);
    return true;
}

// One logical header line, continuation lines included. `name` views into text.
header_step next_header(std::string_view text, std::size_t& pos, std::size_t max_line, std::string_view& name,
                        std::string& value) {
    std::string_view line;
    if (!read_line(text, pos, line)) return header_step::unterminated;
    if (line.empty()) return header_step::end;
    if (is_ws(line.front())) return header_step::malformed;  // a continuation of nothing
    auto const colon = line.find(':');
    if (colon == std::string_view::npos) return header_step::malformed;
    // HCOLON = *( SP / HTAB ) ":" SWS
    name = trim(line.substr(0, colon));
    if (!is_token(name)) return header_step::malformed;
    value.clear();
    if (line.size() > max_line) return header_step::too_large;
    if (!append_piece(value, line.substr(colon + 1))) return header_step::malformed;
    std::size_t logical = line.size();
    while (pos < text.size() && is_ws(text[pos])) {
        if (!read_line(text, pos, line)) return header_step::unterminated;
        logical += line.size() + 1;
        if (logical > max_line) return header_step::too_large;
        if (!append_piece(value, line)) return header_step::malformed;
    }
    return header_step::header;
}

// The body length a message announces. Equal duplicates are tolerated
// (some stacks repeat it); differing ones make the framing ambiguous.
struct content_length_state {
    bool found = false;
    std::size_t value = 0;
    parse_error error = parse_error::ok;

    void add(std::string_view text, std::size_t max_message) {
        if (error != parse_error::ok) return;
        if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) {
            error = parse_error::bad_content_length;
            return;
        }
        while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
        // Anything longer than 10 digits is over every sane limit and would overflow.
        auto const v = parse_number<std::uint64_t>(text, 10);
        if (!v || *v > max_message) {
            error = parse_error::too_large;
            return;
        }
        if (found && value != *v) {
            error = parse_error::bad_content_length;
            return;
        }
        found = true;
        value = static_cast<std::size_t>(*v);
    }
};

bool is_content_length(std::string_view name) noexcept {
    return iequals(name, "Content-Length") || iequals(name, "l");
}

// The framer's look at a complete head: only Content-Length matters here,
// lines it cannot read are left for the parser to report.
content_length_state scan_content_length(std::string_view head, const message_limits& limits) {
    content_length_state cl;
    std::size_t pos = 0;
    std::string_view line;
    read_line(head, pos, line);  // start line
    std::string value;
    std::string_view name;
    for (;;) {
        auto const before = pos;
        auto const step = next_header(head, pos, limits.max_header_line, name, value);
        if (step == header_step::end || step == header_step::unterminated) break;
        if (step == header_step::header) {
            if (is_content_length(name)) cl.add(value, limits.max_message_size);
            continue;
        }
        // Skip the unreadable line and any continuation of it.
        pos = before;
        if (!read_line(head, pos, line)) break;
        while (pos < head.size() && is_ws(head[pos]))
            if (!read_line(head, pos, line)) break;
    }
    return cl;
}

parse_error parse_impl(std::string_view text, sip_message& out, const message_limits& limits, bool stream) {
    out.is_request = false;
    out.method.clear();
    out.uri.clear();
    out.status = 0;
    out.reason.clear();
    out.fields.clear();
    out.body.clear();

    if (text.size() > limits.max_message_size) return parse_error::too_large;
    std::size_t pos = 0;
    while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) ++pos;

    std::string_view line;
    if (!read_line(text, pos, line)) return parse_error::malformed_start_line;
    if (line.size() > limits.max_header_line) return parse_error::too_large;
    bool other_version = false;
    if (auto const e = parse_start_line(line, &out, other_version); e != parse_error::ok) return e;

    content_length_state cl;
    std::string_view name;
    std::string value;
    for (;;) {
        auto const step = next_header(text, pos, limits.max_header_line, name, value);
        if (step == header_step::end) break;
        switch (step) {
        case header_step::malformed:
        case header_step::unterminated: return parse_error::malformed_header;
        case header_step::too_large: return parse_error::too_large;
        default: break;
        }
        if (out.fields.size() >= limits.max_headers) return parse_error::too_many_headers;
        if (is_content_length(name)) cl.add(value, limits.max_message_size);
        out.fields.push_back({std::string(name), value});
    }
    if (cl.error != parse_error::ok) return cl.error;

    auto const rest = text.substr(pos);
    if (cl.found) {
        // RFC 3261 18.3: octets past Content-Length in a datagram are dropped;
        // too few mean a truncated message.
        if (rest.size() < cl.value) return parse_error::body_length_mismatch;
        if (stream && rest.size() != cl.value) return parse_error::body_length_mismatch;
        out.body.assign(rest.substr(0, cl.value));
    } else {
        if (stream) return parse_error::bad_content_length;
        out.body.assign(rest);
    }

    // Mandatory (RFC 3261 8.1.1) and single-valued headers.
    int via = 0, from = 0, to = 0, call_id = 0, cseq = 0, max_forwards = 0;
    for (auto const& f : out.fields) {
        auto const n = expand_compact(f.name);
        if (iequals(n, "Via")) ++via;
        else if (iequals(n, "From")) ++from;
        else if (iequals(n, "To")) ++to;
        else if (iequals(n, "Call-ID")) ++call_id;
        else if (iequals(n, "CSeq")) ++cseq;
        else if (iequals(n, "Max-Forwards")) ++max_forwards;
    }
    if (!via || !from || !to || !call_id || !cseq) return parse_error::missing_mandatory;
    if (from > 1 || to > 1 || call_id > 1 || cseq > 1 || max_forwards > 1) return parse_error::malformed_header;
    auto const top_via = out.header("Via");
    auto const cid = out.header("Call-ID");
    if (!top_via || !cid || cid->empty()) return parse_error::missing_mandatory;
    // What a response is built from has to be readable: where it goes (top
    // Via) and the dialog identifiers (From, To).
    if (!parse_via(*top_via) || !parse_name_addr(*out.header("From")) || !parse_name_addr(*out.header("To")))
        return parse_error::malformed_header;
    auto const cs = out.cseq();
    if (!cs) return parse_error::malformed_header;
    // 8.1.1.5: the CSeq method matches the request's, ACK and CANCEL included.
    if (out.is_request && cs->method != out.method) return parse_error::malformed_header;
    if (max_forwards && !out.max_forwards()) return parse_error::malformed_header;

    if (other_version) return parse_error::unsupported_version;
    return parse_error::ok;
}

struct compact_form {
    char letter;
    std::string_view name;
};

// RFC 3261 7.3.3 plus the later ones IANA lists.
constexpr std::array<compact_form, 20> compact_forms{{
    {'a', "Accept-Contact"}, {'b', "Referred-By"},   {'c', "Content-Type"},    {'d', "Request-Disposition"},
    {'e', "Content-Encoding"}, {'f', "From"},        {'i', "Call-ID"},         {'j', "Reject-Contact"},
    {'k', "Supported"},      {'l', "Content-Length"}, {'m', "Contact"},        {'n', "Identity-Info"},
    {'o', "Event"},          {'r', "Refer-To"},      {'s', "Subject"},         {'t', "To"},
    {'u', "Allow-Events"},   {'v', "Via"},           {'x', "Session-Expires"}, {'y', "Identity"},
}};

constexpr std::array<std::string_view, 31> list_headers{{
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info", "History-Info", "In-Reply-To",
    "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Proxy-Require", "Reason", "Record-Route",
    "Reject-Contact", "Request-Disposition", "Require", "Route", "Security-Client", "Security-Server",
    "Security-Verify", "Service-Route", "Supported", "Unsupported", "Via",
}};

// Warning is a list too, but of quoted texts: kept as one value is safer for callers than a wrong split.

void append_clean(std::string& out, std::string_view s) {
    // Our own values go out as given; a stray CR or LF would start a header line.
    for (char c : s)
        if (c != '\r' && c != '\n') out += c;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    append_clean(out, name);
    out += ": ";
    append_clean(out, value);
    out += "\r\n";
}

void append_content_length(std::string& out, std::size_t n) {
    out += "Content-Length: ";
    out += std::to_string(n);
    out += "\r\n\r\n";
}

// Host part of sent-by, without IPv6 brackets, for comparison with a source address.
std::string_view bare_host(std::string_view host) noexcept {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
    return host;
}

bool valid_host(std::string_view host) noexcept {
    if (host.empty()) return false;
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return false;
        for (char c : host.substr(1, host.size() - 2))
            if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.')) return false;
        return true;
    }
    for (char c : host)
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_')) return false;
    return true;
}

// host[:port] at the start of s; returns the length used or 0.
std::size_t parse_hostport(std::string_view s, std::string_view& host, std::optional<std::uint16_t>& port) noexcept {
    std::size_t i = 0;
    if (!s.empty() && s.front() == '[') {
        auto const close = s.find(']');
        if (close == std::string_view::npos) return 0;
        i = close + 1;
    } else {
        while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_')) ++i;
    }
    host = s.substr(0, i);
    if (!valid_host(host)) return 0;
    port.reset();
    if (i < s.size() && s[i] == ':') {
        std::size_t j = i + 1;
        while (j < s.size() && is_digit(s[j])) ++j;
        auto const p = parse_port(s.substr(i + 1, j - i - 1));
        if (!p) return 0;
        port = p;
        i = j;
    }
    return i;
}

// ;-separated parameters, honouring quoted values.
template <class F>
void for_each_param(std::string_view params, F&& f) {
    std::size_t i = 0;
    while (i < params.size()) {
        while (i < params.size() && (params[i] == ';' || is_ws(params[i]))) ++i;
        auto const begin = i;
        bool quoted = false;
        while (i < params.size()) {
            char const c = params[i];
            if (quoted) {
                if (c == '\\') ++i;
                else if (c == '"') quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (c == ';') {
                break;
            }
            ++i;
        }
        auto const item = trim(params.substr(begin, std::min(i, params.size()) - begin));
        if (item.empty()) continue;
        auto const eq = item.find('=');
        if (eq == std::string_view::npos) f(item, std::optional<std::string_view>{});
        else f(trim(item.substr(0, eq)), std::optional<std::string_view>{trim(item.substr(eq + 1))});
    }
}

}  // namespace

std::string_view to_string(parse_error e) noexcept {
    switch (e) {
    case parse_error::ok: return "ok";
    case parse_error::malformed_start_line: return "malformed start line";
    case parse_error::malformed_header: return "malformed header";
    case parse_error::missing_mandatory: return "missing mandatory header";
    case parse_error::body_length_mismatch: return "body shorter than Content-Length";
    case parse_error::too_large: return "message too large";
    case parse_error::too_many_headers: return "too many headers";
    case parse_error::bad_content_length: return "bad or missing Content-Length";
    case parse_error::unsupported_version: return "unsupported SIP version";
    }
    return "unknown";
}

std::string_view expand_compact(std::string_view name) noexcept {
    if (name.size() != 1) return name;
    char const c = lower(name[0]);
    for (auto const& f : compact_forms)
        if (f.letter == c) return f.name;
    return name;
}

bool same_header(std::string_view a, std::string_view b) noexcept { return iequals(expand_compact(a), expand_compact(b)); }

bool is_list_header(std::string_view name) noexcept {
    auto const n = expand_compact(name);
    if (n.empty()) return false;
    char const first = lower(n[0]);
    for (auto const h : list_headers)
        if (lower(h[0]) == first && iequals(h, n)) return true;
    return false;
}

void split_list(std::string_view value, std::vector<std::string_view>& out) {
    std::size_t begin = 0;
    for (;;) {
        auto const comma = find_list_comma(value, begin);
        auto const item = trim(value.substr(begin, comma == std::string_view::npos ? value.npos : comma - begin));
        if (!item.empty()) out.push_back(item);
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
    }
}

namespace {

// The first value of a header: which line, and where in it. Shared by
// header() and stamp_via() so both agree on which Via is the top one, even
// in "Via: , SIP/2.0/UDP ..." where the first list element is empty.
struct first_value {
    std::size_t field;
    std::string_view value;  // views into fields[field].value
};

std::optional<first_value> find_first_value(const std::vector<header_field>& fields, std::string_view name) {
    bool const list = is_list_header(name);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        auto const& f = fields[i];
        if (!same_header(f.name, name)) continue;
        if (!list) return first_value{i, f.value};
        std::string_view v = f.value;
        std::size_t begin = 0;
        for (;;) {
            auto const comma = find_list_comma(v, begin);
            auto const item = trim(v.substr(begin, comma == std::string_view::npos ? v.npos : comma - begin));
            if (!item.empty()) return first_value{i, item};
            if (comma == std::string_view::npos) break;
            begin = comma + 1;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string_view> sip_message::header(std::string_view name) const {
    if (auto const f = find_first_value(fields, name)) return f->value;
    return std::nullopt;
}

std::vector<std::string_view> sip_message::headers(std::string_view name) const {
    std::vector<std::string_view> out;
    bool const list = is_list_header(name);
    for (auto const& f : fields) {
        if (!same_header(f.name, name)) continue;
        if (list) split_list(f.value, out);
        else out.emplace_back(f.value);
    }
    return out;
}

std::optional<cseq_value> sip_message::cseq() const {
    auto const v = header("CSeq");
    if (!v) return std::nullopt;
    std::string_view s = *v;
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) ++i;
    // RFC 3261 8.1.1.5: less than 2**31.
    auto const number = parse_number<std::uint64_t>(s.substr(0, i), 10);
    if (!number || *number >= (1ull << 31)) return std::nullopt;
    if (i == s.size() || !is_ws(s[i])) return std::nullopt;
    auto const name = trim(s.substr(i));
    if (!is_token(name)) return std::nullopt;
    return cseq_value{static_cast<std::uint32_t>(*number), name};
}

std::optional<int> sip_message::max_forwards() const {
    auto const v = header("Max-Forwards");
    if (!v) return std::nullopt;
    auto const n = parse_number<std::uint32_t>(*v, 9);
    if (!n) return std::nullopt;
    return static_cast<int>(*n);
}

void sip_message::add_header(std::string_view name, std::string_view value) {
    fields.push_back({std::string(name), std::string(value)});
}

std::size_t sip_message::remove_header(std::string_view name) {
    auto const before = fields.size();
    std::erase_if(fields, [&](const header_field& f) { return same_header(f.name, name); });
    return before - fields.size();
}

parse_error parse_message(std::string_view datagram, sip_message& out, const message_limits& limits) {
    return parse_impl(datagram, out, limits, false);
}

bool is_keepalive(std::string_view datagram) noexcept {
    return !datagram.empty() &&
           std::all_of(datagram.begin(), datagram.end(), [](char c) { return c == '\r' || c == '\n'; });
}

// ----- stream_framer -----

stream_framer::stream_framer(const message_limits& limits) : limits_(limits) {}

void stream_framer::feed(std::string_view bytes) {
    if (phase_ == phase::failed) return;
    // Drop what was delivered once it is at least half the buffer, so bytes
    // of a message arriving one at a time are not moved once per byte.
    if (start_ > 0 && start_ * 2 >= buffer_.size()) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    buffer_.append(bytes);
}

stream_framer::status stream_framer::fail(parse_error e) {
    phase_ = phase::failed;
    error_ = e;
    buffer_.clear();
    buffer_.shrink_to_fit();
    start_ = 0;
    return status::error;
}

void stream_framer::consume(std::size_t n) {
    start_ += n;
    if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    }
}

stream_framer::status stream_framer::next(sip_message& out) {
    for (;;) {
        switch (phase_) {
        case phase::failed: return status::error;

        case phase::leading: {
            // RFC 3261 7.5: CRLFs before a start line are ignored; two in a
            // row with nothing after them are a RFC 5626 ping.
            while (start_ < buffer_.size()) {
                char const c = buffer_[start_];
                if (c == '\r') {
                    if (start_ + 1 >= buffer_.size()) return status::need_more;
                    if (buffer_[start_ + 1] != '\n') return fail(parse_error::malformed_start_line);
                    consume(2);
                } else if (c == '\n') {
                    consume(1);
                } else {
                    line_ends_ = 0;
                    phase_ = phase::head;
                    scanned_ = line_begin_ = head_size_ = body_size_ = 0;
                    start_line_checked_ = false;
                    break;
                }
                if (++line_ends_ == 2) {
                    line_ends_ = 0;
                    return status::keepalive;
                }
            }
            if (phase_ == phase::leading) return status::need_more;
            break;
        }

        case phase::head: {
            std::string_view const avail = std::string_view(buffer_).substr(start_);
            // The head must end within max_message_size bytes.
            auto const limit = std::min(avail.size(), limits_.max_message_size);
            for (;;) {
                auto const lf = avail.substr(0, limit).find('\n', scanned_);
                if (lf == std::string_view::npos) {
                    scanned_ = limit;
                    // max_header_line + 2 bytes without LF: the line is too
                    // long whatever CR/LF comes next.
                    if (limit - line_begin_ >= 2 && limit - line_begin_ - 2 >= limits_.max_header_line)
                        return fail(parse_error::too_large);
                    if (avail.size() >= limits_.max_message_size) return fail(parse_error::too_large);
                    return status::need_more;
                }
                auto content_end = lf;
                if (content_end > line_begin_ && avail[content_end - 1] == '\r') --content_end;
                if (content_end - line_begin_ > limits_.max_header_line) return fail(parse_error::too_large);
                if (!start_line_checked_) {
                    // Known now, not after buffering a whole message of garbage.
                    bool other_version = false;
                    auto const e = parse_start_line(avail.substr(line_begin_, content_end - line_begin_), nullptr,
                                                    other_version);
                    if (e != parse_error::ok) return fail(e);
                    start_line_checked_ = true;
                } else if (content_end == line_begin_) {
                    head_size_ = lf + 1;
                    break;
                }
                line_begin_ = scanned_ = lf + 1;
            }
            auto const cl = scan_content_length(avail.substr(0, head_size_), limits_);
            if (cl.error != parse_error::ok) return fail(cl.error);
            // RFC 3261 18.3: on a stream the length is what frames the message.
            if (!cl.found) return fail(parse_error::bad_content_length);
            if (cl.value > limits_.max_message_size - head_size_) return fail(parse_error::too_large);
            body_size_ = cl.value;
            phase_ = phase::body;
            break;
        }

        case phase::body: {
            auto const total = head_size_ + body_size_;
            if (buffer_.size() - start_ < total) return status::need_more;
            auto const e = parse_impl(std::string_view(buffer_).substr(start_, total), out, limits_, true);
            consume(total);
            phase_ = phase::leading;
            error_ = e;
            return e == parse_error::ok ? status::message : status::bad_message;
        }
        }
    }
}

// ----- header values -----

std::optional<std::string_view> find_param(std::string_view params, std::string_view name) noexcept {
    std::optional<std::string_view> found;
    bool done = false;
    for_each_param(params, [&](std::string_view n, std::optional<std::string_view> v) {
        if (done || !iequals(n, name)) return;
        found = v ? *v : std::string_view{};
        done = true;
    });
    return found;
}

std::optional<via_header> parse_via(std::string_view value) noexcept {
    via_header via;
    std::string_view s = trim(value);
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
    std::string_view parts[3];
    for (int k = 0; k < 3; ++k) {
        s = trim(s);
        std::size_t i = 0;
        while (i < s.size() && is_token_char(s[i])) ++i;
        if (i == 0) return std::nullopt;
        parts[k] = s.substr(0, i);
        s.remove_prefix(i);
        if (k < 2) {
            s = trim(s);
            if (s.empty() || s.front() != '/') return std::nullopt;
            s.remove_prefix(1);
        }
    }
    if (s.empty() || !is_ws(s.front())) return std::nullopt;
    s = trim(s);
    // The protocol view spans "SIP/2.0" only when written without spaces; that is the common case.
    auto const proto_begin = parts[0].data();
    auto const proto_len = static_cast<std::size_t>(parts[1].data() + parts[1].size() - proto_begin);
    via.protocol = std::string_view(proto_begin, proto_len);
    via.transport = parts[2];

    auto const used = parse_hostport(s, via.host, via.port);
    if (used == 0) return std::nullopt;
    s = trim(s.substr(used));
    if (!s.empty() && s.front() != ';') return std::nullopt;
    via.params = s;

    bool ok = true;
    for_each_param(s, [&](std::string_view n, std::optional<std::string_view> v) {
        if (iequals(n, "branch")) {
            if (via.branch.empty() && v) via.branch = *v;
        } else if (iequals(n, "received")) {
            if (!via.received) via.received = v ? *v : std::string_view{};
        } else if (iequals(n, "rport")) {
            via.has_rport = true;
            if (v) {
                auto const p = parse_port(*v);
                if (!p) ok = false;
                via.rport = p;
            }
        }
    });
    if (!ok) return std::nullopt;
    return via;
}

std::optional<sip_uri> parse_uri(std::string_view text) noexcept {
    sip_uri uri;
    auto s = trim(text);
    auto const colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    uri.scheme = s.substr(0, colon);
    if (!iequals(uri.scheme, "sip") && !iequals(uri.scheme, "sips")) return std::nullopt;
    s.remove_prefix(colon + 1);
    if (std::any_of(s.begin(), s.end(), [](char c) { return is_ctl(c) || is_ws(c); })) return std::nullopt;
    // Neither params nor headers may hold an unescaped '@', a user may hold
    // ';' and '?': the last '@' ends the userinfo.
    auto const at = s.rfind('@');
    if (at != std::string_view::npos) {
        auto const userinfo = s.substr(0, at);
        auto const pw = userinfo.find(':');
        uri.user = userinfo.substr(0, pw);
        if (pw != std::string_view::npos) uri.password = userinfo.substr(pw + 1);
        if (uri.user.empty()) return std::nullopt;
        s.remove_prefix(at + 1);
    }
    auto const used = parse_hostport(s, uri.host, uri.port);
    if (used == 0) return std::nullopt;
    s.remove_prefix(used);
    auto const q = s.find('?');
    if (q != std::string_view::npos) {
        uri.headers = s.substr(q + 1);
        s = s.substr(0, q);
    }
    if (!s.empty() && s.front() != ';') return std::nullopt;
    uri.params = s;
    return uri;
}

std::optional<name_addr> parse_name_addr(std::string_view value) noexcept {
    name_addr na;
    auto s = trim(value);
    if (s.empty()) return std::nullopt;
    if (s.front() == '*') {
        auto const rest = trim(s.substr(1));
        if (!rest.empty() && rest.front() != ';') return std::nullopt;
        na.wildcard = true;
        na.uri = s.substr(0, 1);
        na.params = rest;
        return na;
    }
    std::size_t lt = std::string_view::npos;
    if (s.front() == '"') {
        std::size_t i = 1;
        for (; i < s.size(); ++i) {
            if (s[i] == '\\') ++i;
            else if (s[i] == '"') break;
        }
        if (i >= s.size()) return std::nullopt;
        na.display_name = s.substr(1, i - 1);
        auto const after = trim(s.substr(i + 1));
        if (after.empty() || after.front() != '<') return std::nullopt;
        lt = static_cast<std::size_t>(after.data() - s.data());
    } else {
        lt = s.find('<');
        if (lt != std::string_view::npos) {
            na.display_name = trim(s.substr(0, lt));
            if (na.display_name.find('"') != std::string_view::npos) return std::nullopt;
        }
    }
    std::string_view rest;
    if (lt != std::string_view::npos) {
        auto const gt = s.find('>', lt);
        if (gt == std::string_view::npos) return std::nullopt;
        na.uri = trim(s.substr(lt + 1, gt - lt - 1));
        rest = trim(s.substr(gt + 1));
    } else {
        // addr-spec: a URI with ';' would have needed <> (RFC 3261 20.10),
        // so what follows ';' belongs to the header.
        auto const semi = s.find(';');
        na.uri = trim(s.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : s.substr(semi);
    }
    if (na.uri.empty() || std::any_of(na.uri.begin(), na.uri.end(), [](char c) { return is_ws(c) || is_ctl(c); }))
        return std::nullopt;
    if (!rest.empty() && rest.front() != ';') return std::nullopt;
    na.params = rest;
    return na;
}

bool stamp_via(sip_message& request, std::string_view source_ip, std::uint16_t source_port) {
    auto const top = find_first_value(request.fields, "Via");
    if (!top) return false;
    auto& field = request.fields[top->field];
    std::string_view const line = field.value;
    auto const first = top->value;
    auto const via = parse_via(first);
    if (!via) return false;

    bool const add_received = via->has_rport || !iequals(bare_host(via->host), bare_host(source_ip));
    bool const fill_rport = via->has_rport && !via->rport;
    if (!add_received && !fill_rport) return true;

    std::string params;
    bool wrote_received = false;
    for_each_param(via->params, [&](std::string_view n, std::optional<std::string_view> v) {
        params += ';';
        params.append(n);
        if (iequals(n, "received") && add_received && !wrote_received) {
            params += '=';
            params.append(bare_host(source_ip));
            wrote_received = true;
        } else if (iequals(n, "rport") && !v && fill_rport) {
            params += '=';
            params += std::to_string(source_port);
        } else if (v) {
            params += '=';
            params.append(*v);
        }
    });
    if (add_received && !wrote_received) {
        // received = IPv4address / IPv6address: no brackets (RFC 3261 25.1).
        params += ";received=";
        params.append(bare_host(source_ip));
    }

    auto const first_begin = static_cast<std::size_t>(first.data() - line.data());
    auto const first_end = first_begin + first.size();
    std::string stamped(line.substr(0, first_begin));
    stamped.append(first.substr(0, static_cast<std::size_t>(via->params.data() - first.data())));
    while (!stamped.empty() && is_ws(stamped.back())) stamped.pop_back();
    stamped += params;
    stamped.append(line.substr(first_end));
    field.value = std::move(stamped);
    return true;
}

std::string make_response(const sip_message& request, int status, std::string_view reason,
                          const response_options& options) {
    std::string out;
    out.reserve(512 + options.body.size());
    out += "SIP/2.0 ";
    out += std::to_string(status);
    out += ' ';
    append_clean(out, reason);
    out += "\r\n";
    // Every Via line in order, each as received (lists stay lists).
    for (auto const& f : request.fields)
        if (same_header(f.name, "Via")) append_header(out, "Via", f.value);
    if (auto const v = request.header("From")) append_header(out, "From", *v);
    if (auto const v = request.header("To")) {
        auto const na = parse_name_addr(*v);
        if (!options.to_tag.empty() && !(na && na->tag())) {
            std::string to(*v);
            to += ";tag=";
            to.append(options.to_tag);
            append_header(out, "To", to);
        } else {
            append_header(out, "To", *v);
        }
    }
    if (auto const v = request.header("Call-ID")) append_header(out, "Call-ID", *v);
    if (auto const v = request.header("CSeq")) append_header(out, "CSeq", *v);
    if (options.copy_record_route)
        for (auto const& f : request.fields)
            if (same_header(f.name, "Record-Route")) append_header(out, "Record-Route", f.value);
    for (auto const& h : options.extra)
        if (!is_content_length(h.name)) append_header(out, h.name, h.value);
    append_content_length(out, options.body.size());
    out.append(options.body);
    return out;
}

std::string make_request(std::string_view method, std::string_view uri, std::span<const header_field> headers,
                         std::string_view body) {
    std::string out;
    out.reserve(512 + body.size());
    append_clean(out, method);
    out += ' ';
    append_clean(out, uri);
    out += " SIP/2.0\r\n";
    for (auto const& h : headers)
        if (!is_content_length(h.name)) append_header(out, h.name, h.value);
    append_content_length(out, body.size());
    out.append(body);
    return out;
}

std::string serialize(const sip_message& message) {
    if (message.is_request) return make_request(message.method, message.uri, message.fields, message.body);
    std::string out;
    out.reserve(512 + message.body.size());
    out += "SIP/2.0 ";
    out += std::to_string(message.status);
    out += ' ';
    append_clean(out, message.reason);
    out += "\r\n";
    for (auto const& h : message.fields)
        if (!is_content_length(h.name)) append_header(out, h.name, h.value);
    append_content_length(out, message.body.size());
    out.append(message.body);
    return out;
}

}  // namespace sb::sip
