#include "sip/sdp.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <limits>

#include "sip/text.hpp"

namespace sb::sip {

namespace {

using text::has_ctl;
using text::is_alpha;
using text::is_ctl;
using text::is_digit;
using text::lower;

// RFC 4566 token-char: visible ASCII but a few separators.
constexpr bool is_token_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    switch (c) {
    case '"': case '(': case ')': case ',': case '/': case ':': case ';': case '<': case '=': case '>': case '?':
    case '@': case '[': case '\\': case ']': case '{': case '}': return false;
    default: return true;
    }
}

// Plain loops: std::all_of over a function pointer is not inlined.
bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

bool all_digits(std::string_view s) noexcept {
    for (char c : s)
        if (!is_digit(c)) return false;
    return true;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

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

std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        auto const d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

// Space-separated fields; runs of spaces count as one, which RFC 4566 does
// not allow but some senders write.
template <std::size_t N>
std::size_t split_fields(std::string_view s, std::array<std::string_view, N>& out, std::string_view& rest) noexcept {
    std::size_t n = 0;
    while (n < N) {
        while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
        if (s.empty()) break;
        auto const sp = s.find(' ');
        out[n++] = s.substr(0, sp);
        s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp);
    }
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    rest = s;
    return n;
}

bool valid_address(std::string_view a) noexcept {
    return !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '.' || c == ':' || c == '-' || c == '_';
    });
}

std::optional<sdp_connection> parse_connection(std::string_view v) {
    std::array<std::string_view, 3> f;
    std::string_view rest;
    if (split_fields(v, f, rest) != 3 || !rest.empty()) return std::nullopt;
    if (f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6")) return std::nullopt;
    // Multicast "/ttl[/count]" is dropped: we only need where to send.
    auto const addr = f[2].substr(0, f[2].find('/'));
    if (!valid_address(addr)) return std::nullopt;
    return sdp_connection{std::string(f[1]), std::string(addr)};
}

bool parse_origin(std::string_view v, sdp_origin& o) {
    std::array<std::string_view, 6> f;
    std::string_view rest;
    if (split_fields(v, f, rest) != 6 || !rest.empty()) return false;
    if (!all_digits(f[1]) || !all_digits(f[2])) return false;
    if (!valid_address(f[5])) return false;
    o = {std::string(f[0]), std::string(f[1]), std::string(f[2]),
         std::string(f[3]), std::string(f[4]), std::string(f[5])};
    return true;
}

bool parse_media_line(std::string_view v, sdp_media& m) {
    std::array<std::string_view, 3> f;
    std::string_view rest;
    if (split_fields(v, f, rest) != 3 || rest.empty()) return false;
    if (!is_token(f[0])) return false;
    m.type.assign(f[0]);
    auto const slash = f[1].find('/');
    auto const port = parse_number<std::uint32_t>(f[1].substr(0, slash), 5);
    if (!port || *port > 65535) return false;
    m.port = static_cast<std::uint16_t>(*port);
    if (slash != std::string_view::npos) {
        auto const count = parse_number<std::uint32_t>(f[1].substr(slash + 1), 5);
        if (!count || *count == 0) return false;
        m.port_count = *count;
    }
    // proto is token *("/" token)
    if (f[2].empty() || !std::all_of(f[2].begin(), f[2].end(), [](char c) { return is_token_char(c) || c == '/'; }))
        return false;
    m.proto.assign(f[2]);
    while (!rest.empty()) {
        auto const sp = rest.find(' ');
        auto const fmt = rest.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        if (fmt.empty()) continue;
        if (!is_token(fmt)) return false;
        m.formats.emplace_back(fmt);
    }
    return !m.formats.empty();
}

std::optional<int> parse_payload(std::string_view s) noexcept {
    auto const v = parse_number<int>(s, 3);
    if (!v || *v > 127) return std::nullopt;
    return v;
}

// rtpmap value: "<pt> <encoding>/<rate>[/<parameters>]"
std::optional<sdp_rtpmap> parse_rtpmap(std::string_view v) {
    auto const sp = v.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto const pt = parse_payload(v.substr(0, sp));
    auto enc = v.substr(sp + 1);
    while (!enc.empty() && enc.front() == ' ') enc.remove_prefix(1);
    while (!enc.empty() && enc.back() == ' ') enc.remove_suffix(1);
    auto const s1 = enc.find('/');
    if (!pt || s1 == std::string_view::npos) return std::nullopt;
    auto const name = enc.substr(0, s1);
    auto const after = enc.substr(s1 + 1);
    auto const s2 = after.find('/');
    auto const rate = parse_number<std::uint32_t>(after.substr(0, s2), 9);
    if (!is_token(name) || !rate || *rate == 0) return std::nullopt;
    sdp_rtpmap r{*pt, std::string(name), *rate, {}};
    if (s2 != std::string_view::npos) {
        auto const params = after.substr(s2 + 1);
        if (!is_token(params)) return std::nullopt;
        r.parameters.assign(params);
    }
    return r;
}

std::optional<std::uint32_t> parse_ptime(std::string_view v) noexcept {
    // Some senders write "20.0"; milliseconds below one are meaningless here.
    auto const dot = v.find('.');
    if (dot != std::string_view::npos) {
        auto const frac = v.substr(dot + 1);
        if (!all_digits(frac)) return std::nullopt;
        v = v.substr(0, dot);
    }
    return parse_number<std::uint32_t>(v, 6);
}

std::optional<sdp_direction> direction_attribute(std::string_view name) noexcept {
    if (name == "sendrecv") return sdp_direction::sendrecv;
    if (name == "sendonly") return sdp_direction::sendonly;
    if (name == "recvonly") return sdp_direction::recvonly;
    if (name == "inactive") return sdp_direction::inactive;
    return std::nullopt;
}

struct static_payload {
    int payload;
    std::string_view name;
    std::uint32_t rate;
    std::string_view channels;
};

// RFC 3551 table 4, the audio types still in use somewhere.
constexpr std::array<static_payload, 17> static_payloads{{
    {0, "PCMU", 8000, ""},   {3, "GSM", 8000, ""},    {4, "G723", 8000, ""},    {5, "DVI4", 8000, ""},
    {6, "DVI4", 16000, ""},  {7, "LPC", 8000, ""},    {8, "PCMA", 8000, ""},    {9, "G722", 8000, ""},
    {10, "L16", 44100, "2"}, {11, "L16", 44100, ""},  {12, "QCELP", 8000, ""},  {13, "CN", 8000, ""},
    {14, "MPA", 90000, ""},  {15, "G728", 8000, ""},  {16, "DVI4", 11025, ""},  {17, "DVI4", 22050, ""},
    {18, "G729", 8000, ""},
}};

const static_payload* find_static(int payload) noexcept {
    for (auto const& s : static_payloads)
        if (s.payload == payload) return &s;
    return nullptr;
}

const static_payload* find_static(std::string_view name) noexcept {
    for (auto const& s : static_payloads)
        if (iequals(s.name, name)) return &s;
    return nullptr;
}

// A preference entry: "PCMU" or "name/rate[/channels]".
struct wanted_codec {
    std::string_view name;
    std::optional<std::uint32_t> rate;
    std::string_view channels;
};

std::optional<wanted_codec> parse_wanted(std::string_view s) noexcept {
    wanted_codec w;
    auto const s1 = s.find('/');
    w.name = s.substr(0, s1);
    if (!is_token(w.name)) return std::nullopt;
    if (s1 != std::string_view::npos) {
        auto const after = s.substr(s1 + 1);
        auto const s2 = after.find('/');
        w.rate = parse_number<std::uint32_t>(after.substr(0, s2), 9);
        if (!w.rate || *w.rate == 0) return std::nullopt;
        if (s2 != std::string_view::npos) w.channels = after.substr(s2 + 1);
    }
    return w;
}

// The clock rate a preference stands for: as written, else RFC 3551's for a
// static name; nullopt means any.
std::optional<std::uint32_t> wanted_rate(const wanted_codec& w) noexcept {
    if (w.rate) return w.rate;
    if (auto const s = find_static(w.name)) return s->rate;
    return std::nullopt;
}

bool matches(const sdp_rtpmap& map, const wanted_codec& w) noexcept {
    if (!iequals(map.encoding, w.name)) return false;
    auto const rate = wanted_rate(w);
    if (rate && map.clock_rate != *rate) return false;
    // "1" channel is the default; only a real difference rules a format out.
    auto const norm = [](std::string_view c) { return c.empty() ? std::string_view("1") : c; };
    if (!w.channels.empty() && norm(map.parameters) != norm(w.channels)) return false;
    return true;
}

using event_set = std::bitset<256>;

// RFC 4733 2.4.1 events: "0-15,66,70-71". Anything unreadable reads as no events.
event_set parse_events(std::string_view s) {
    event_set set;
    std::size_t begin = 0;
    while (begin <= s.size()) {
        auto const comma = s.find(',', begin);
        auto item = s.substr(begin, comma == std::string_view::npos ? s.npos : comma - begin);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        auto const dash = item.find('-');
        auto const lo = parse_number<unsigned>(item.substr(0, dash), 3);
        auto const hi = dash == std::string_view::npos ? lo : parse_number<unsigned>(item.substr(dash + 1), 3);
        if (!lo || !hi || *lo > 255 || *hi > 255 || *lo > *hi) return {};
        for (unsigned e = *lo; e <= *hi; ++e) set.set(e);
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
    }
    return set;
}

std::string format_events(const event_set& set) {
    std::string out;
    for (unsigned e = 0; e < set.size();) {
        if (!set.test(e)) {
            ++e;
            continue;
        }
        auto end = e;
        while (end + 1 < set.size() && set.test(end + 1)) ++end;
        if (!out.empty()) out += ',';
        out += std::to_string(e);
        if (end > e) {
            out += '-';
            out += std::to_string(end);
        }
        e = end + 1;
    }
    return out;
}

// The DTMF we handle: digits, * # A-D, and flash (RFC 4733 table 3).
event_set supported_events() {
    event_set s;
    for (unsigned e = 0; e <= 16; ++e) s.set(e);
    return s;
}

// Values from configuration go into a description as single tokens.
std::string clean_field(std::string_view s, std::string_view fallback) {
    std::string out;
    for (char c : s)
        if (!is_ctl(c) && c != ' ') out += c;
    return out.empty() ? std::string(fallback) : out;
}

std::string_view ip_type(std::string_view address) noexcept {
    return address.find(':') == std::string_view::npos ? "IP4" : "IP6";
}

void append_session_head(std::string& out, const local_media& local, std::uint64_t version) {
    auto const address = clean_field(local.address, "0.0.0.0");
    out += "v=0\r\n";
    out += "o=";
    out += clean_field(local.username, "-");
    out += ' ';
    out += std::to_string(local.session_id);
    out += ' ';
    out += std::to_string(version);
    out += " IN ";
    out += ip_type(address);
    out += ' ';
    out += address;
    out += "\r\n";
    out += "s=";
    std::string name;
    for (char c : local.session_name)
        if (!is_ctl(c)) name += c;
    out += name.empty() ? std::string("-") : name;
    out += "\r\n";
    out += "c=IN ";
    out += ip_type(address);
    out += ' ';
    out += address;
    out += "\r\n";
    out += "t=0 0\r\n";
}

void append_rtpmap(std::string& out, int payload, std::string_view name, std::uint32_t rate, std::string_view params) {
    out += "a=rtpmap:";
    out += std::to_string(payload);
    out += ' ';
    out.append(name);
    out += '/';
    out += std::to_string(rate);
    if (!params.empty()) {
        out += '/';
        out.append(params);
    }
    out += "\r\n";
}

void append_dtmf(std::string& out, int payload, std::uint32_t rate, std::string_view events) {
    append_rtpmap(out, payload, "telephone-event", rate, {});
    out += "a=fmtp:";
    out += std::to_string(payload);
    out += ' ';
    out.append(events);
    out += "\r\n";
}

void append_ptime(std::string& out, const local_media& local) {
    if (local.ptime == 0) return;
    out += "a=ptime:";
    out += std::to_string(local.ptime);
    out += "\r\n";
}

// The choice shared by make_answer and read_answer.
sdp_error negotiate(const session_description& desc, const local_media& local, media_choice& out) {
    std::vector<wanted_codec> wanted;
    for (auto const& c : local.codecs)
        if (auto const w = parse_wanted(c)) wanted.push_back(*w);

    for (std::size_t i = 0; i < desc.media.size(); ++i) {
        auto const& m = desc.media[i];
        // We only speak plain RTP: SRTP or AVPF offers are declined rather
        // than answered with something the offerer did not ask for.
        if (!iequals(m.type, "audio") || m.port == 0 || m.proto != "RTP/AVP") continue;
        auto const* conn = desc.connection_of(m);
        if (!conn) continue;

        std::optional<sdp_rtpmap> chosen;
        for (auto const& w : wanted) {
            for (auto const& f : m.formats) {
                auto const pt = parse_payload(f);
                if (!pt) continue;
                auto const map = m.rtpmap(*pt);
                if (map && matches(*map, w)) {
                    chosen = map;
                    break;
                }
            }
            if (chosen) break;
        }
        if (!chosen) continue;

        out = {};
        out.media_index = i;
        out.payload = chosen->payload;
        out.codec = chosen->encoding;
        out.clock_rate = chosen->clock_rate;
        if (local.enable_dtmf) {
            for (auto const& f : m.formats) {
                auto const pt = parse_payload(f);
                if (!pt) continue;
                auto const map = m.rtpmap(*pt);
                // RFC 4733 2.5.1.1: events at the clock rate of the audio.
                if (!map || !iequals(map->encoding, "telephone-event") || map->clock_rate != chosen->clock_rate)
                    continue;
                auto const fmtp = m.fmtp(f);
                // 2.5.1.1 again: without fmtp the events are 0-15.
                auto const events = (fmtp ? parse_events(*fmtp) : parse_events("0-15")) & supported_events();
                if (events.none()) continue;
                out.dtmf_payload = *pt;
                out.dtmf_events = format_events(events);
                break;
            }
        }
        auto remote = desc.direction_of(m);
        // RFC 2543 hold (RFC 3264 8.4): nothing can be sent to 0.0.0.0, so
        // the remote is not receiving, whatever the attribute says.
        if (conn->is_hold()) {
            if (remote == sdp_direction::sendrecv) remote = sdp_direction::sendonly;
            else if (remote == sdp_direction::recvonly) remote = sdp_direction::inactive;
        }
        out.direction = reverse(remote);
        out.remote_address = conn->address;
        out.remote_port = m.port;
        return sdp_error::ok;
    }
    return sdp_error::no_common_codec;
}

// Where the o= version token is in a description.
std::optional<std::pair<std::size_t, std::size_t>> origin_version(std::string_view text) noexcept {
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto const lf = text.find('\n', pos);
        auto const line = text.substr(pos, lf == std::string_view::npos ? text.npos : lf - pos);
        if (line.size() > 2 && line[0] == 'o' && line[1] == '=') {
            std::size_t i = 2;
            for (int field = 0; field < 2; ++field) {
                while (i < line.size() && line[i] != ' ') ++i;
                while (i < line.size() && line[i] == ' ') ++i;
            }
            auto const begin = i;
            while (i < line.size() && is_digit(line[i])) ++i;
            if (i == begin) return std::nullopt;
            return std::pair{pos + begin, i - begin};
        }
        if (lf == std::string_view::npos) break;
        pos = lf + 1;
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(sdp_error e) noexcept {
    switch (e) {
    case sdp_error::ok: return "ok";
    case sdp_error::malformed_line: return "malformed line";
    case sdp_error::bad_version: return "bad or missing v=";
    case sdp_error::bad_origin: return "bad o=";
    case sdp_error::bad_connection: return "bad c=";
    case sdp_error::bad_media: return "bad m=";
    case sdp_error::bad_attribute: return "bad attribute";
    case sdp_error::missing_field: return "missing o=";
    case sdp_error::too_many_media: return "too many m= lines";
    case sdp_error::too_many_attributes: return "too many attributes";
    case sdp_error::line_too_long: return "line too long";
    case sdp_error::no_common_codec: return "no common codec";
    }
    return "unknown";
}

std::string_view to_string(sdp_direction d) noexcept {
    switch (d) {
    case sdp_direction::sendrecv: return "sendrecv";
    case sdp_direction::sendonly: return "sendonly";
    case sdp_direction::recvonly: return "recvonly";
    case sdp_direction::inactive: return "inactive";
    }
    return "sendrecv";
}

sdp_direction reverse(sdp_direction offered) noexcept {
    switch (offered) {
    case sdp_direction::sendonly: return sdp_direction::recvonly;
    case sdp_direction::recvonly: return sdp_direction::sendonly;
    default: return offered;
    }
}

std::optional<sdp_rtpmap> sdp_media::rtpmap(int payload) const {
    for (auto const& r : rtpmaps)
        if (r.payload == payload) return r;
    if (auto const s = find_static(payload))
        return sdp_rtpmap{payload, std::string(s->name), s->rate, std::string(s->channels)};
    return std::nullopt;
}

std::optional<std::string_view> sdp_media::fmtp(std::string_view format) const {
    for (auto const& f : fmtps)
        if (f.format == format) return std::string_view(f.parameters);
    return std::nullopt;
}

sdp_direction session_description::direction_of(const sdp_media& m) const noexcept {
    if (m.direction) return *m.direction;
    if (direction) return *direction;
    return sdp_direction::sendrecv;
}

const sdp_connection* session_description::connection_of(const sdp_media& m) const noexcept {
    if (m.connection) return &*m.connection;
    if (connection) return &*connection;
    return nullptr;
}

sdp_error parse_sdp(std::string_view text, session_description& out, const sdp_limits& limits) {
    out = {};
    bool seen_version = false;
    bool seen_origin = false;
    std::size_t attributes = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        // RFC 4566 5: CRLF, but a lone LF is to be accepted too.
        auto const lf = text.find('\n', pos);
        auto const end = lf == std::string_view::npos ? text.size() : lf;
        auto line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits.max_line) return sdp_error::line_too_long;
        if (line.empty()) continue;  // trailing blank lines are common
        if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') return sdp_error::malformed_line;
        auto const value = line.substr(2);
        if (has_ctl(value)) return sdp_error::malformed_line;

        if (!seen_version) {
            if (line[0] != 'v' || value != "0") return sdp_error::bad_version;
            seen_version = true;
            continue;
        }
        sdp_media* media = out.media.empty() ? nullptr : &out.media.back();
        switch (line[0]) {
        case 'v': return sdp_error::bad_version;  // one description per body
        case 'o':
            if (seen_origin || media || !parse_origin(value, out.origin)) return sdp_error::bad_origin;
            seen_origin = true;
            break;
        case 's':
            if (!media) out.session_name.assign(value);
            break;
        case 'c': {
            auto c = parse_connection(value);
            if (!c) return sdp_error::bad_connection;
            if (media) media->connection = std::move(c);
            else out.connection = std::move(c);
            break;
        }
        case 'm': {
            if (out.media.size() >= limits.max_media) return sdp_error::too_many_media;
            sdp_media m;
            if (!parse_media_line(value, m)) return sdp_error::bad_media;
            out.media.push_back(std::move(m));
            break;
        }
        case 'a': {
            if (++attributes > limits.max_attributes) return sdp_error::too_many_attributes;
            auto const colon = value.find(':');
            auto const name = value.substr(0, colon);
            auto const v = colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
            if (!is_token(name)) return sdp_error::bad_attribute;
            auto& list = media ? media->attributes : out.attributes;
            list.push_back({std::string(name), std::string(v)});
            if (auto const d = direction_attribute(name)) {
                if (media) media->direction = d;
                else out.direction = d;
            } else if (media && name == "rtpmap") {
                auto r = parse_rtpmap(v);
                if (!r) return sdp_error::bad_attribute;
                // The first mapping of a payload type wins; a repeat changes nothing.
                if (std::none_of(media->rtpmaps.begin(), media->rtpmaps.end(),
                                 [&](const sdp_rtpmap& x) { return x.payload == r->payload; }))
                    media->rtpmaps.push_back(std::move(*r));
            } else if (media && name == "fmtp") {
                auto const sp = v.find(' ');
                auto const fmt = v.substr(0, sp);
                if (!is_token(fmt)) return sdp_error::bad_attribute;
                auto params = sp == std::string_view::npos ? std::string_view{} : v.substr(sp + 1);
                while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
                if (!media->fmtp(fmt)) media->fmtps.push_back({std::string(fmt), std::string(params)});
            } else if (media && name == "ptime") {
                auto const p = parse_ptime(v);
                if (!p) return sdp_error::bad_attribute;
                media->ptime = p;
            }
            break;
        }
        default:
            // t=, b=, i=, u=, e=, p=, k=, r=, z=: nothing an audio answer needs.
            break;
        }
    }
    if (!seen_version) return sdp_error::bad_version;
    if (!seen_origin) return sdp_error::missing_field;
    return sdp_error::ok;
}

sdp_error make_answer(const session_description& offer, const local_media& local, sdp_answer& out) {
    out = {};
    if (auto const e = negotiate(offer, local, out.choice); e != sdp_error::ok) return e;
    auto const& c = out.choice;
    auto& s = out.sdp;
    append_session_head(s, local, local.session_version);
    for (std::size_t i = 0; i < offer.media.size(); ++i) {
        auto const& m = offer.media[i];
        if (i != c.media_index) {
            // RFC 3264 6: a declined stream keeps its line, with port 0.
            s += "m=";
            s += m.type;
            s += " 0 ";
            s += m.proto;
            for (auto const& f : m.formats) {
                s += ' ';
                s += f;
            }
            s += "\r\n";
            continue;
        }
        s += "m=audio ";
        s += std::to_string(local.rtp_port);
        s += " RTP/AVP ";
        s += std::to_string(c.payload);
        if (c.dtmf_payload) {
            s += ' ';
            s += std::to_string(*c.dtmf_payload);
        }
        s += "\r\n";
        auto const map = m.rtpmap(c.payload);
        append_rtpmap(s, c.payload, c.codec, c.clock_rate, map ? std::string_view(map->parameters) : "");
        if (c.dtmf_payload) append_dtmf(s, *c.dtmf_payload, c.clock_rate, c.dtmf_events);
        append_ptime(s, local);
        s += "a=";
        s += to_string(c.direction);
        s += "\r\n";
    }
    return sdp_error::ok;
}

std::string make_offer(const local_media& local) {
    struct offered {
        int payload;
        wanted_codec codec;
        std::uint32_t rate;
    };
    std::vector<offered> codecs;
    std::vector<bool> used(128, false);
    int const dtmf = local.dtmf_payload >= 96 && local.dtmf_payload <= 127 ? local.dtmf_payload : 101;
    if (local.enable_dtmf) used[static_cast<std::size_t>(dtmf)] = true;
    int next_dynamic = 96;
    auto const allocate = [&]() -> int {
        while (next_dynamic <= 127 && used[static_cast<std::size_t>(next_dynamic)]) ++next_dynamic;
        if (next_dynamic > 127) return -1;
        used[static_cast<std::size_t>(next_dynamic)] = true;
        return next_dynamic;
    };
    for (auto const& text : local.codecs) {
        auto const w = parse_wanted(text);
        if (!w) continue;
        auto const rate = wanted_rate(*w).value_or(8000);
        int pt = -1;
        if (auto const s = find_static(w->name); s && s->rate == rate && !used[static_cast<std::size_t>(s->payload)]) {
            pt = s->payload;
            used[static_cast<std::size_t>(pt)] = true;
        } else {
            pt = allocate();
        }
        if (pt < 0) break;
        codecs.push_back({pt, *w, rate});
    }
    // One telephone-event per clock rate offered (RFC 4733 2.5.1.1).
    std::vector<std::pair<int, std::uint32_t>> events;
    if (local.enable_dtmf) {
        for (auto const& c : codecs) {
            if (std::any_of(events.begin(), events.end(), [&](auto const& e) { return e.second == c.rate; })) continue;
            int const pt = events.empty() ? dtmf : allocate();
            if (pt < 0) break;
            events.emplace_back(pt, c.rate);
        }
    }

    std::string s;
    append_session_head(s, local, local.session_version);
    s += "m=audio ";
    s += std::to_string(local.rtp_port);
    s += " RTP/AVP";
    for (auto const& c : codecs) {
        s += ' ';
        s += std::to_string(c.payload);
    }
    for (auto const& e : events) {
        s += ' ';
        s += std::to_string(e.first);
    }
    if (codecs.empty()) s += " 0";  // m= needs a format; PCMU is what everyone has
    s += "\r\n";
    for (auto const& c : codecs) append_rtpmap(s, c.payload, c.codec.name, c.rate, c.codec.channels);
    for (auto const& e : events) append_dtmf(s, e.first, e.second, format_events(supported_events()));
    append_ptime(s, local);
    s += "a=sendrecv\r\n";
    return s;
}

sdp_error read_answer(const session_description& answer, const local_media& local, media_choice& out) {
    return negotiate(answer, local, out);
}

std::optional<std::uint64_t> bump_version(std::string_view previous, std::string& next) {
    auto const p = origin_version(previous);
    auto const n = origin_version(next);
    if (!p || !n) return std::nullopt;
    auto const prev_version = parse_u64(previous.substr(p->first, p->second));
    if (!prev_version) return std::nullopt;
    std::string_view const nv = next;
    bool const same = previous.substr(0, p->first) == nv.substr(0, n->first) &&
                      previous.substr(p->first + p->second) == nv.substr(n->first + n->second);
    if (!same && *prev_version == std::numeric_limits<std::uint64_t>::max()) return std::nullopt;
    auto const version = same ? *prev_version : *prev_version + 1;
    next.replace(n->first, n->second, std::to_string(version));
    return version;
}

}  // namespace sb::sip
