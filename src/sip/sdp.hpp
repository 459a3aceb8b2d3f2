#pragma once
// SDP (RFC 4566) and the offer/answer model (RFC 3264) for a UAS that plays
// audio: one audio stream, one codec, telephone-event (RFC 4733) if wanted.
// Sans-I/O and exception-free: a bad description is an error value. Sizes are
// bounded by sdp_limits.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sip {

enum class sdp_error : std::uint8_t {
    ok,
    malformed_line,  // not "<letter>=<value>"
    bad_version,     // the first line is not v=0
    bad_origin,
    bad_connection,
    bad_media,
    bad_attribute,   // rtpmap, fmtp or ptime that cannot be read
    missing_field,   // no o= line
    too_many_media,
    too_many_attributes,
    line_too_long,
    no_common_codec,  // answering: answer 488 with Warning: 305 (RFC 3261 20.43)
};

std::string_view to_string(sdp_error e) noexcept;

struct sdp_limits {
    std::size_t max_media = 64;
    std::size_t max_attributes = 256;  // session and media levels together
    std::size_t max_line = 4096;
};

enum class sdp_direction : std::uint8_t { sendrecv, sendonly, recvonly, inactive };

std::string_view to_string(sdp_direction d) noexcept;
// RFC 3264 6.1: sendonly is answered recvonly, recvonly sendonly, the others as offered.
sdp_direction reverse(sdp_direction offered) noexcept;

struct sdp_origin {
    std::string username;
    std::string session_id;
    std::string session_version;
    std::string net_type;
    std::string addr_type;
    std::string address;
};

struct sdp_connection {
    std::string addr_type;  // "IP4" or "IP6"
    std::string address;    // without /ttl or /count
    // RFC 2543 hold: a connection address nobody can send to.
    bool is_hold() const noexcept { return address == "0.0.0.0" || address == "::"; }
};

struct sdp_attribute {
    std::string name;
    std::string value;  // empty for flags such as "sendonly"
};

struct sdp_rtpmap {
    int payload = 0;
    std::string encoding;    // as written ("PCMU", "telephone-event")
    std::uint32_t clock_rate = 0;
    std::string parameters;  // channels for audio, may be empty
};

struct sdp_fmtp {
    std::string format;
    std::string parameters;
};

struct sdp_media {
    std::string type;  // "audio", "video", "image"...
    std::uint16_t port = 0;
    std::uint32_t port_count = 1;
    std::string proto;  // "RTP/AVP"
    std::vector<std::string> formats;
    std::optional<sdp_connection> connection;
    std::vector<sdp_rtpmap> rtpmaps;
    std::vector<sdp_fmtp> fmtps;
    std::optional<sdp_direction> direction;
    std::optional<std::uint32_t> ptime;
    std::vector<sdp_attribute> attributes;  // every a= line, rtpmap and fmtp included

    // The rtpmap for a payload type, or the RFC 3551 static one (0 PCMU, 8 PCMA...).
    std::optional<sdp_rtpmap> rtpmap(int payload) const;
    std::optional<std::string_view> fmtp(std::string_view format) const;
};

struct session_description {
    int version = 0;
    sdp_origin origin;
    std::string session_name;
    std::optional<sdp_connection> connection;
    std::optional<sdp_direction> direction;
    std::vector<sdp_attribute> attributes;
    std::vector<sdp_media> media;

    // Media level, else session level, else sendrecv (RFC 4566 6).
    sdp_direction direction_of(const sdp_media& m) const noexcept;
    // Media level, else session level.
    const sdp_connection* connection_of(const sdp_media& m) const noexcept;
};

sdp_error parse_sdp(std::string_view text, session_description& out, const sdp_limits& limits = {});

// What we offer or accept.
struct local_media {
    std::string address = {};  // ours, for o= and c= ("IP6" when it has a ':')
    std::uint16_t rtp_port = 0;
    // In order of preference: "PCMU", "PCMA", or "name/rate[/channels]".
    std::vector<std::string> codecs{"PCMU", "PCMA"};
    bool enable_dtmf = true;
    int dtmf_payload = 101;  // in our offers; answers reuse the offerer's number
    std::uint64_t session_id = 0;
    std::uint64_t session_version = 0;
    std::string username = "-";
    std::string session_name = "-";
    std::uint32_t ptime = 20;  // 0: no a=ptime
};

// The negotiated audio stream, from our side.
struct media_choice {
    std::size_t media_index = 0;  // which m= line
    int payload = 0;
    std::string codec;  // encoding name as the remote wrote it
    std::uint32_t clock_rate = 8000;
    std::optional<int> dtmf_payload;
    std::string dtmf_events;  // "0-16" or the part of it the remote offered
    // Ours, the reverse of the remote's; c=0.0.0.0 from the remote counts as
    // it not receiving. Send tones only when sends().
    sdp_direction direction = sdp_direction::sendrecv;
    std::string remote_address;
    std::uint16_t remote_port = 0;
    bool sends() const noexcept {
        return direction == sdp_direction::sendrecv || direction == sdp_direction::sendonly;
    }
    bool receives() const noexcept {
        return direction == sdp_direction::sendrecv || direction == sdp_direction::recvonly;
    }
};

struct sdp_answer {
    media_choice choice;
    std::string sdp;
};

// RFC 3264 6: one m= line per offered one, in order; the first RTP/AVP audio
// stream with a codec we want is accepted with our first preferred codec
// among those offered (offered payload numbers kept), the rest get port 0.
// A c=0.0.0.0 stream is treated as the offerer not receiving (old-style hold).
// no_common_codec when no audio stream can be accepted.
sdp_error make_answer(const session_description& offer, const local_media& local, sdp_answer& out);

// The delayed-offer case (INVITE without SDP): our offer for the 200 OK,
// every preferred codec plus telephone-event.
std::string make_offer(const local_media& local);

// The remote's answer to our offer (in the ACK): the stream and codec to use,
// chosen by the same rules as make_answer.
sdp_error read_answer(const session_description& answer, const local_media& local, media_choice& out);

// RFC 3264 8: a later description of the same session keeps the previous o=
// version when nothing else changed, else takes the next one. Rewrites the
// version in `next` and returns it; nullopt when either has no readable o=.
std::optional<std::uint64_t> bump_version(std::string_view previous, std::string& next);

}  // namespace sb::sip
