#include "protocols/http.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include <boost/beast/http.hpp>

#include "core/error.hpp"

namespace sb::proto {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using core::frame_result;

// A parser that keeps nothing: the framer only needs to know where a message
// ends, so header fields and body bytes are acknowledged and dropped.
template <bool is_request>
class boundary_parser final : public http::basic_parser<is_request> {
public:
    int status() const noexcept { return status_; }

private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { status_ = code; }
    void on_field_impl(http::field, beast::string_view, beast::string_view, beast::error_code&) override {}
    void on_header_impl(beast::error_code&) override {}
    void on_body_init_impl(boost::optional<std::uint64_t> const&, beast::error_code&) override {}
    std::size_t on_body_impl(beast::string_view body, beast::error_code&) override { return body.size(); }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
        return body.size();
    }
    void on_finish_impl(beast::error_code&) override {}

    int status_ = 0;
};

bool starts_with(core::bytes_view b, std::string_view prefix) {
    return b.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), b.begin());
}

// Methods are case-sensitive (RFC 9110 9.1), so a byte compare is exact.
bool is_head_request(core::bytes_view request) { return starts_with(request, "HEAD "); }

// Whether the connection stays open after the answer to this request: a
// client's "Connection: close" (or HTTP/1.0) makes the server close after
// its response even when the response does not say so.
bool request_keeps_alive(core::bytes_view request) {
    boundary_parser<true> p;
    p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(request.size() + 1, 1u << 20)));
    // Only the header is parsed: feeding body bytes here would run Beast's
    // chunk parser on a buffer it did not size (an assertion the fuzzer hit).
    std::string_view text(reinterpret_cast<const char*>(request.data()), request.size());
    auto end = text.find("\r\n\r\n");
    if (end == std::string_view::npos) return true;
    beast::error_code ec;
    p.put(boost::asio::const_buffer(request.data(), end + 4), ec);
    return !p.is_header_done() || p.keep_alive();
}

// Longest unparsed start line that is parsed again from scratch on new bytes.
constexpr std::size_t reparse_limit = 1024;

template <bool is_request>
class http_framer final : public core::framer {
public:
    explicit http_framer(std::size_t max_size) : framer(max_size) { start_parser(0); }

    frame_result scan(core::bytes_view buf) override;
    frame_result at_eof(core::bytes_view buf) override;

    void reset() override {
        fed_ = 0;
        closes_ = false;
        result_ = frame_result::need_more();
        start_parser(0);
    }

    void expect_response_to(core::bytes_view request) override {
        if constexpr (!is_request) {
            // Beast takes the skip option only before the first byte, so the
            // expectation starts the response afresh.
            no_body_ = is_head_request(request);
            request_closes_ = !request_keeps_alive(request);
            reset();
        }
    }

    bool closes_connection() const override { return closes_; }

private:
    void start_parser(std::size_t at) {
        base_ = at;
        parser_.emplace();
        // Without eager the parser stops after each header or chunk header
        // even when body bytes follow, and scan would report need_more early.
        parser_->eager(true);
        parser_->header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(max_size(), std::numeric_limits<std::uint32_t>::max())));
        parser_->body_limit(max_size());
        if (no_body_) parser_->skip(true);
    }

    frame_result fail(beast::error_code ec) {
        bool const too_large = ec == http::error::header_limit || ec == http::error::body_limit;
        return result_ = frame_result::error(too_large ? core::errc::frame_too_large : core::errc::bad_frame);
    }

    frame_result finish() {
        // After 101 the connection no longer carries HTTP, so no further
        // message can be framed on it.
        closes_ = request_closes_ || !parser_->keep_alive() || (!is_request && parser_->status() == 101);
        return result_ = frame_result::complete(fed_);
    }

    std::optional<boundary_parser<is_request>> parser_;
    std::size_t base_ = 0;  // where the current parser started: after interim 1xx responses
    std::size_t fed_ = 0;   // bytes of buf the parsers consumed; the rest is offered again
    bool no_body_ = false;  // the response answers a HEAD request
    bool request_closes_ = false;  // the request asked for Connection: close
    bool closes_ = false;
    frame_result result_;   // sticky once complete or failed, until reset
};

template <bool is_request>
frame_result http_framer<is_request>::scan(core::bytes_view buf) {
    if (!result_.is_need_more()) return result_;

    // Bytes beyond max_size cannot be part of an acceptable message.
    auto const window = std::min(buf.size(), max_size());
    // After one need_more Beast waits for a blank line before it looks at the
    // start line again, so "SSH-2.0-..." arriving in two reads would hang until
    // the limit. A short start line is cheap to parse again from scratch, and
    // a non-HTTP client is then turned away as soon as its bytes show it.
    if (fed_ == base_ && parser_->got_some() && window - base_ <= reparse_limit) start_parser(base_);
    while (fed_ < window) {
        beast::error_code ec;
        auto const n = parser_->put(boost::asio::const_buffer(buf.data() + fed_, window - fed_), ec);
        fed_ += n;
        if (ec == http::error::need_more) break;
        if (ec) return fail(ec);
        if (parser_->is_done()) {
            if constexpr (!is_request) {
                // 100 Continue and friends precede the real answer: the caller
                // forwards the whole sequence as one response.
                auto const status = parser_->status();
                if (status / 100 == 1 && status != 101) {
                    start_parser(fed_);
                    continue;
                }
            }
            return finish();
        }
        if (n == 0) break;  // no progress without an error: wait for bytes
    }

    bool const to_eof = parser_->is_header_done() && parser_->need_eof();
    if (parser_->is_header_done() && !to_eof) {
        // A declared length that cannot fit is known to be too large now,
        // before its body arrives.
        if (auto const rest = parser_->content_length_remaining(); rest && *rest > max_size() - fed_)
            return result_ = frame_result::error(core::errc::frame_too_large);
    }
    // The parser wants more than max_size bytes. A body that ends at EOF may
    // still end exactly at max_size, so it waits for one byte more.
    if (to_eof ? buf.size() > max_size() : !buf.empty() && window == max_size())
        return result_ = frame_result::error(core::errc::frame_too_large);
    return frame_result::need_more();
}

template <bool is_request>
frame_result http_framer<is_request>::at_eof(core::bytes_view buf) {
    if (auto const r = scan(buf); !r.is_need_more()) return r;
    if (buf.empty()) return frame_result::need_more();  // closed between messages
    if constexpr (!is_request) {
        if (parser_->got_some()) {
            beast::error_code ec;
            parser_->put_eof(ec);
            if (!ec && parser_->is_done()) {
                closes_ = true;
                return result_ = frame_result::complete(fed_);
            }
        }
    }
    return result_ = frame_result::error(core::errc::bad_frame);  // truncated
}

struct canned_reply {
    std::string_view status;  // "504 Gateway Timeout"
    std::string_view body;
    bool close = false;
    bool retry_after = false;
};

canned_reply reply_for(std::error_code ec) {
    using core::errc;
    if (ec == errc::request_timeout) return {"504 Gateway Timeout", "upstream did not answer in time\n"};
    if (ec == errc::queue_full) return {"503 Service Unavailable", "too many requests waiting\n", false, true};
    if (ec == errc::shutting_down) return {"503 Service Unavailable", "shutting down\n", false, true};
    if (ec == errc::too_many_clients) return {"503 Service Unavailable", "too many clients\n", true, true};
    if (ec == errc::bad_frame) return {"400 Bad Request", "malformed request\n", true};
    if (ec == errc::frame_too_large) return {"413 Content Too Large", "request too large\n", true};
    if (ec == errc::idle_timeout) return {"408 Request Timeout", "idle too long\n", true};
    if (ec == errc::upstream_unavailable) return {"502 Bad Gateway", "upstream unavailable\n"};
    if (ec == errc::response_mismatch) return {"502 Bad Gateway", "upstream sent an unexpected response\n"};
    return {"502 Bad Gateway", "upstream failed\n"};
}

}  // namespace

std::unique_ptr<core::framer> http_protocol::make_request_framer(std::size_t max_size) const {
    return std::make_unique<http_framer<true>>(max_size);
}

std::unique_ptr<core::framer> http_protocol::make_response_framer(std::size_t max_size) const {
    return std::make_unique<http_framer<false>>(max_size);
}

std::vector<std::uint8_t> http_protocol::error_response(core::bytes_view request, std::error_code ec) const {
    auto const r = reply_for(ec);
    std::string out;
    out.reserve(160 + r.body.size());
    out.append("HTTP/1.1 ").append(r.status).append("\r\n");
    out.append("Content-Type: text/plain\r\n");
    out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    if (r.retry_after) out.append("Retry-After: 1\r\n");
    out.append(r.close ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
    out.append("\r\n");
    // A body after a HEAD response would be read as the start of the next one.
    if (!is_head_request(request)) out.append(r.body);
    return {out.begin(), out.end()};
}

std::string http_protocol::describe(core::bytes_view message) const {
    constexpr std::size_t longest = 200;  // a log line, not a dump
    auto const end = std::min(message.size(), longest);
    std::string line;
    for (std::size_t i = 0; i < end && message[i] != '\r' && message[i] != '\n'; ++i)
        line += message[i] >= 0x20 && message[i] < 0x7f ? static_cast<char>(message[i]) : '?';

    if (line.starts_with("HTTP/")) {  // status line: keep "200 OK"
        auto const sp = line.find(' ');
        return sp == std::string::npos ? line : line.substr(sp + 1);
    }
    // request line: drop the version, keep "GET /path"
    auto const sp = line.rfind(' ');
    if (sp != std::string::npos && line.compare(sp + 1, 5, "HTTP/") == 0) line.resize(sp);
    return line;
}

}  // namespace sb::proto
