#include <doctest/doctest.h>

#include <string>

#include "framing.hpp"
#include "protocols/http.hpp"

using namespace sb;
using namespace sb::proto::test;
using namespace std::literals;
using core::errc;

namespace {
const proto::http_protocol http;

constexpr auto get = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"sv;
constexpr auto head = "HEAD /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"sv;
constexpr auto post = "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world"sv;
// Chunk extensions (token, quoted string, bare name) and trailer fields.
constexpr auto chunked =
    "POST /upload HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: Expires, X-Checksum\r\n"
    "\r\n"
    "5;name=value\r\n"
    "hello\r\n"
    "6;quoted=\"a b;c\";flag\r\n"
    " world\r\n"
    "A\r\n"
    "0123456789\r\n"
    "0;last\r\n"
    "Expires: never\r\n"
    "X-Checksum: 42\r\n"
    "\r\n"sv;

constexpr auto ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"sv;

outcome with_closes(outcome o, std::vector<bool> closes) {
    o.closes = std::move(closes);
    return o;
}

std::string join(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) s += p;
    return s;
}

std::string text(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

run_options responses_to(std::initializer_list<std::string_view> requests, bool eof = false) {
    run_options o{.dir = side::response, .eof = eof};
    for (auto r : requests) o.requests.emplace_back(r);
    return o;
}
}  // namespace

TEST_CASE("http: request without body") {
    check_every_split(http, get, messages({get.size()}));
    check_every_split(http, "GET / HTTP/1.1\r\n\r\n", messages({18}));
}

TEST_CASE("http: request with Content-Length") {
    check_every_split(http, post, messages({post.size()}));
    auto const empty_body = "PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n"sv;
    check_every_split(http, empty_body, messages({empty_body.size()}));
}

TEST_CASE("http: chunked request with extensions and trailers") {
    check_every_split(http, chunked, messages({chunked.size()}));
}

TEST_CASE("http: pipelined requests back to back") {
    auto const input = join({get, post, chunked, head, get});
    check_every_split(http, input, messages({get.size(), post.size(), chunked.size(), head.size(), get.size()}));
    auto const r = scan_once(http, input);
    REQUIRE(r.is_complete());
    CHECK(r.size == get.size());
}

TEST_CASE("http: empty and truncated input") {
    CHECK(scan_once(http, "").is_need_more());
    CHECK(scan_once(http, "", {.dir = side::response}).is_need_more());
    check_every_split(http, "", messages({}), {.eof = true});
    check_every_split(http, "", messages({}), responses_to({get}, true));
    auto const half = post.substr(0, post.size() - 3);
    check_every_split(http, half, messages({}, half.size()));
    check_every_split(http, half, failed({}, errc::bad_frame), {.eof = true});
    check_every_split(http, get.substr(0, 20), failed({}, errc::bad_frame), {.eof = true});
    auto const cut_response = ok_response.substr(0, ok_response.size() - 1);
    check_every_split(http, cut_response, failed({}, errc::bad_frame), responses_to({get}, true));
    check_every_split(http, join({get, post.substr(0, 30)}), failed({get.size()}, errc::bad_frame), {.eof = true});
}

TEST_CASE("http: garbage is a bad frame") {
    for (auto bad : {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"sv,  // TLS ClientHello
                     "SSH-2.0-OpenSSH_9.2\r\n"sv,  // a valid method prefix until "\r"
                     "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"sv,
                     "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"sv,
                     "GET / HTTP/2.0\r\n\r\n"sv,
                     "GET / HTTP/1.1\r\nBad Header\r\n\r\n"sv,
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"sv,
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n"sv}) {
        CAPTURE(bad);
        check_every_split(http, bad, failed({}, errc::bad_frame));
    }
    check_every_split(http, join({get, "\x01\x02\x03\r\n\r\n"}), failed({get.size()}, errc::bad_frame));
    check_every_split(http, "HTTP/1.1 2000 OK\r\n\r\n", failed({}, errc::bad_frame), responses_to({get}));
    check_every_split(http, "SSH-2.0-OpenSSH_9.2\r\n", failed({}, errc::bad_frame), responses_to({get}));
}

TEST_CASE("http: responses with Content-Length and chunked") {
    check_every_split(http, ok_response, messages({ok_response.size()}), responses_to({get}));
    auto const chunked_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"sv;
    check_every_split(http, chunked_response, messages({chunked_response.size()}), responses_to({get}));
    check_every_split(http, join({ok_response, chunked_response, ok_response}),
                      messages({ok_response.size(), chunked_response.size(), ok_response.size()}),
                      responses_to({get, get, get}));
}

TEST_CASE("http: the response to HEAD has no body whatever its length says") {
    auto const head_reply = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n"sv;
    check_every_split(http, join({head_reply, ok_response}), messages({head_reply.size(), ok_response.size()}),
                      responses_to({head, get}));
    check_every_split(http, join({ok_response, head_reply, ok_response}),
                      messages({ok_response.size(), head_reply.size(), ok_response.size()}),
                      responses_to({get, head, get}));
    // Without being told, the same bytes wait for 1234 body bytes.
    CHECK(scan_once(http, head_reply, responses_to({get})).is_need_more());
}

TEST_CASE("http: 204 and 304 have no body") {
    auto const no_content = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"sv;
    auto const not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"v1\"\r\n\r\n"sv;
    check_every_split(http, join({no_content, not_modified, ok_response}),
                      messages({no_content.size(), not_modified.size(), ok_response.size()}),
                      responses_to({get, get, get}));
}

TEST_CASE("http: interim 1xx responses belong to the final one") {
    auto const cont = "HTTP/1.1 100 Continue\r\n\r\n"sv;
    auto const hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"sv;
    auto const seq = join({cont, ok_response});
    check_every_split(http, seq, messages({seq.size()}), responses_to({post}));
    auto const longer = join({cont, hints, hints, ok_response});
    check_every_split(http, join({longer, ok_response}), messages({longer.size(), ok_response.size()}),
                      responses_to({post, get}));
    // The final response to HEAD after 100 Continue still has no body.
    auto const head_seq = join({cont, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"});
    check_every_split(http, head_seq, messages({head_seq.size()}), responses_to({head}));
    // Only interim responses so far: not a message yet.
    check_every_split(http, cont, messages({}, cont.size()), responses_to({post}));
    check_every_split(http, cont, failed({}, errc::bad_frame), responses_to({post}, true));
}

TEST_CASE("http: 101 Switching Protocols is final and ends HTTP on the connection") {
    auto const upgrade = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"sv;
    check_every_split(http, upgrade, with_closes(messages({upgrade.size()}), {true}), responses_to({get}));
}

TEST_CASE("http: a response without length ends at EOF") {
    auto const to_eof = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed until the server closes"sv;
    check_every_split(http, to_eof, messages({}, to_eof.size()), responses_to({get}));
    check_every_split(http, to_eof, with_closes(messages({to_eof.size()}), {true}), responses_to({get}, true));
    auto const old = "HTTP/1.0 200 OK\r\n\r\n"sv;  // header only, empty body
    check_every_split(http, old, with_closes(messages({old.size()}), {true}), responses_to({get}, true));
    check_every_split(http, join({ok_response, to_eof}), with_closes(messages({ok_response.size(), to_eof.size()}),
                                                                      {false, true}),
                      responses_to({get, get}, true));
}

TEST_CASE("http: Connection: close and HTTP/1.0 close the connection") {
    auto const close_req = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"sv;
    auto const old_req = "GET / HTTP/1.0\r\n\r\n"sv;
    auto const old_keep = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"sv;
    check_every_split(http, close_req, with_closes(messages({close_req.size()}), {true}));
    check_every_split(http, old_req, with_closes(messages({old_req.size()}), {true}));
    check_every_split(http, old_keep, with_closes(messages({old_keep.size()}), {false}));
    check_every_split(http, join({old_keep, get, close_req}),
                      with_closes(messages({old_keep.size(), get.size(), close_req.size()}), {false, false, true}));

    auto const close_resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"sv;
    auto const old_resp = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"sv;
    auto const old_keep_resp = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"sv;
    check_every_split(http, close_resp, with_closes(messages({close_resp.size()}), {true}), responses_to({get}));
    check_every_split(http, old_resp, with_closes(messages({old_resp.size()}), {true}), responses_to({get}));
    check_every_split(http, join({old_keep_resp, ok_response}),
                      messages({old_keep_resp.size(), ok_response.size()}), responses_to({get, get}));
}

TEST_CASE("http: limits") {
    CHECK(http.default_max_message() == 1024 * 1024);

    SUBCASE("a message of exactly max_size fits") {
        check_every_split(http, post, messages({post.size()}), {.max_size = post.size()});
        check_every_split(http, post, failed({}, errc::frame_too_large), {.max_size = post.size() - 1});
        check_every_split(http, chunked, messages({chunked.size()}), {.max_size = chunked.size()});
        check_every_split(http, chunked, failed({}, errc::frame_too_large), {.max_size = chunked.size() - 1});
    }
    SUBCASE("oversize header") {
        std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
        check_every_split(http, big, failed({}, errc::frame_too_large), {.max_size = 128});
        // Known once max_size bytes hold no complete header, long before it ends.
        auto const r = scan_once(http, std::string_view(big).substr(0, 128), {.max_size = 128});
        CHECK(r.ec == errc::frame_too_large);
        CHECK(scan_once(http, std::string_view(big).substr(0, 127), {.max_size = 128}).is_need_more());
        std::string huge = "GET / HTTP/1.1\r\nX-Big: " + std::string(2 * 1024 * 1024, 'a');
        CHECK(scan_once(http, huge).ec == errc::frame_too_large);
    }
    SUBCASE("a declared length that cannot fit fails before the body arrives") {
        auto const r = scan_once(http, "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", {.max_size = 500});
        CHECK(r.ec == errc::frame_too_large);
        auto const r2 = scan_once(http, "POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
        CHECK(r2.ec == errc::frame_too_large);
        CHECK(scan_once(http, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", {.dir = side::response,
                                                                                   .max_size = 500})
                  .ec == errc::frame_too_large);
    }
    SUBCASE("a chunked body growing past max_size") {
        std::string body = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 20; ++i) body += "10\r\n0123456789abcdef\r\n";
        body += "0\r\n\r\n";
        check_every_split(http, body, failed({}, errc::frame_too_large), {.max_size = 200});
    }
    SUBCASE("a body until EOF may be exactly max_size") {
        auto const to_eof = "HTTP/1.1 200 OK\r\n\r\n0123456789"sv;
        auto const o = responses_to({get}, true);
        auto exact = o;
        exact.max_size = to_eof.size();
        check_every_split(http, to_eof, with_closes(messages({to_eof.size()}), {true}), exact);
        auto less = o;
        less.max_size = to_eof.size() - 1;
        check_every_split(http, to_eof, failed({}, errc::frame_too_large), less);
    }
    SUBCASE("1xx responses count towards the limit") {
        auto const seq = join({"HTTP/1.1 100 Continue\r\n\r\n", ok_response});
        auto o = responses_to({post});
        o.max_size = seq.size();
        check_every_split(http, seq, messages({seq.size()}), o);
        o.max_size = seq.size() - 1;
        check_every_split(http, seq, failed({}, errc::frame_too_large), o);
    }
}

TEST_CASE("http: reset starts a new message") {
    auto f = http.make_request_framer(http.default_max_message());
    CHECK(f->scan(bytes(post.substr(0, 40))).is_need_more());
    f->reset();
    auto const r = f->scan(bytes(get));
    REQUIRE(r.is_complete());
    CHECK(r.size == get.size());
    f->reset();
    auto const bad = f->scan(bytes("\x01\x02\r\n\r\n"));
    REQUIRE(bad.is_error());
    f->reset();
    CHECK(f->scan(bytes(get)).size == get.size());
}

TEST_CASE("http: error responses") {
    auto const req = bytes(get);
    CHECK(text(http.error_response(req, errc::request_timeout)) ==
          "HTTP/1.1 504 Gateway Timeout\r\n"
          "Content-Type: text/plain\r\n"
          "Content-Length: 32\r\n"
          "Connection: keep-alive\r\n"
          "\r\n"
          "upstream did not answer in time\n");

    struct expectation {
        errc e;
        std::string_view status;
        std::string_view connection;
        bool retry_after;
    };
    for (auto const& x : {
             expectation{errc::request_timeout, "504 Gateway Timeout", "keep-alive", false},
             expectation{errc::queue_full, "503 Service Unavailable", "keep-alive", true},
             expectation{errc::shutting_down, "503 Service Unavailable", "keep-alive", true},
             expectation{errc::upstream_failed, "502 Bad Gateway", "keep-alive", false},
             expectation{errc::upstream_unavailable, "502 Bad Gateway", "keep-alive", false},
             expectation{errc::response_mismatch, "502 Bad Gateway", "keep-alive", false},
             expectation{errc::bad_frame, "400 Bad Request", "close", false},
             expectation{errc::frame_too_large, "413 Content Too Large", "close", false},
         }) {
        CAPTURE(static_cast<int>(x.e));
        auto const reply = http.error_response(req, x.e);
        auto const s = text(reply);
        CHECK(s.starts_with("HTTP/1.1 " + std::string(x.status) + "\r\n"));
        CHECK(s.find("\r\nConnection: " + std::string(x.connection) + "\r\n") != std::string::npos);
        CHECK((s.find("\r\nRetry-After: 1\r\n") != std::string::npos) == x.retry_after);
        // A complete response by our own framer: the client can parse it.
        auto const f = http.make_response_framer(http.default_max_message());
        f->expect_response_to(req);
        auto const r = f->scan(reply);
        REQUIRE(r.is_complete());
        CHECK(r.size == reply.size());
        CHECK(f->closes_connection() == (x.connection == "close"));
    }
}

TEST_CASE("http: the error response to HEAD has no body") {
    auto const reply = http.error_response(bytes(head), errc::upstream_failed);
    auto const s = text(reply);
    CHECK(s.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    CHECK(s.ends_with("\r\n\r\n"));
    CHECK(s.find("Content-Length: ") != std::string::npos);
    auto const f = http.make_response_framer(http.default_max_message());
    f->expect_response_to(bytes(head));
    CHECK(f->scan(reply).size == reply.size());
}

TEST_CASE("http: describe") {
    CHECK(http.describe(bytes(get)) == "GET /index.html");
    CHECK(http.describe(bytes(post)) == "POST /form");
    CHECK(http.describe(bytes(ok_response)) == "200 OK");
    CHECK(http.describe(bytes("GET /partial")) == "GET /partial");
    CHECK(http.describe(bytes("\x01\x02")) == "??");
    CHECK(http.describe({}).empty());
}
