#include <doctest/doctest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "sip/sip_message.hpp"

using namespace sb::sip;

namespace {

// Lines joined with CRLF, a blank line, then the body; a header line ending
// in ": $" gets the body's length so samples stay readable.
std::string sip(std::string_view head, std::string_view body = {}) {
    std::string out;
    std::size_t pos = 0;
    while (pos < head.size()) {
        auto const nl = head.find('\n', pos);
        auto line = std::string(head.substr(pos, nl == head.npos ? head.npos : nl - pos));
        pos = nl == head.npos ? head.size() : nl + 1;
        if (line.ends_with(": $") || line.ends_with(":$")) line = line.substr(0, line.size() - 1) + std::to_string(body.size());
        out += line + "\r\n";
    }
    out += "\r\n";
    out.append(body);
    return out;
}

const std::string sipp_sdp =
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

// What SIPp's built-in uac scenario sends (sipp -sn uac), with its values filled in.
const std::string sipp_invite = sip(
    "INVITE sip:service@127.0.0.1:5060 SIP/2.0\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2771-1-0\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag=2771SIPpTag001\n"
    "To: service <sip:service@127.0.0.1:5060>\n"
    "Call-ID: 1-2771@127.0.0.1\n"
    "CSeq: 1 INVITE\n"
    "Contact: sip:sipp@127.0.0.1:5061\n"
    "Max-Forwards: 70\n"
    "Subject: Performance Test\n"
    "Content-Type: application/sdp\n"
    "Content-Length: $",
    sipp_sdp);

const std::string sipp_ack = sip(
    "ACK sip:service@127.0.0.1:5060 SIP/2.0\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2771-1-5\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag=2771SIPpTag001\n"
    "To: service <sip:service@127.0.0.1:5060>;tag=as4f2a\n"
    "Call-ID: 1-2771@127.0.0.1\n"
    "CSeq: 1 ACK\n"
    "Contact: sip:sipp@127.0.0.1:5061\n"
    "Max-Forwards: 70\n"
    "Subject: Performance Test\n"
    "Content-Length: 0");

const std::string sipp_bye = sip(
    "BYE sip:service@127.0.0.1:5060 SIP/2.0\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2771-1-7\n"
    "From: sipp <sip:sipp@127.0.0.1:5061>;tag=2771SIPpTag001\n"
    "To: service <sip:service@127.0.0.1:5060>;tag=as4f2a\n"
    "Call-ID: 1-2771@127.0.0.1\n"
    "CSeq: 2 BYE\n"
    "Contact: sip:sipp@127.0.0.1:5061\n"
    "Max-Forwards: 70\n"
    "Subject: Performance Test\n"
    "Content-Length: 0");

const std::string cancel = sip(
    "CANCEL sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\n"
    "Max-Forwards: 70\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\n"
    "CSeq: 1 CANCEL\n"
    "Content-Length: 0");

const std::string options = sip(
    "OPTIONS sip:carol@chicago.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877\n"
    "Max-Forwards: 70\n"
    "To: <sip:carol@chicago.com>\n"
    "From: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 63104 OPTIONS\n"
    "Contact: <sip:alice@pc33.atlanta.com>\n"
    "Accept: application/sdp\n"
    "Content-Length: 0");

// RFC 3665 3.1-style 180 through a proxy.
const std::string ringing = sip(
    "SIP/2.0 180 Ringing\n"
    "Via: SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\n"
    "Record-Route: <sip:ss1.example.com;lr>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\n"
    "Contact: <sip:bob@client.biloxi.example.com>\n"
    "CSeq: 1 INVITE\n"
    "Content-Length: 0");

parse_error parse(std::string_view text, sip_message& m, const message_limits& l = {}) {
    return parse_message(text, m, l);
}

sip_message parsed(std::string_view text) {
    sip_message m;
    auto const e = parse(text, m);
    INFO(text);
    REQUIRE(to_string(e) == to_string(parse_error::ok));
    return m;
}

// Replaces the first occurrence of `what`.
std::string replace(std::string s, std::string_view what, std::string_view with) {
    auto const at = s.find(what);
    REQUIRE(at != std::string::npos);
    s.replace(at, what.size(), with);
    return s;
}

std::string without_line(std::string s, std::string_view prefix) {
    auto const at = s.find(std::string("\r\n") + std::string(prefix));
    REQUIRE(at != std::string::npos);
    auto const end = s.find("\r\n", at + 2);
    s.erase(at, end - at);
    return s;
}

}  // namespace

// Found by doctest through ADL, so failures print names, not numbers.
namespace sb::sip {
doctest::String toString(parse_error e) { return std::string(to_string(e)).c_str(); }
}  // namespace sb::sip

TEST_SUITE("sip_message") {

TEST_CASE("SIPp uac INVITE") {
    auto const m = parsed(sipp_invite);
    CHECK(m.is_request);
    CHECK(m.method == "INVITE");
    CHECK(m.uri == "sip:service@127.0.0.1:5060");
    CHECK(m.fields.size() == 10);
    CHECK(m.fields[0].name == "Via");
    CHECK(m.header("via") == "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2771-1-0");
    CHECK(m.header("Call-ID") == "1-2771@127.0.0.1");
    CHECK(m.header("content-type") == "application/sdp");
    CHECK(!m.header("Record-Route"));
    CHECK(m.max_forwards() == 70);
    auto const cs = m.cseq();
    REQUIRE(cs);
    CHECK(cs->number == 1);
    CHECK(cs->method == "INVITE");
    CHECK(m.body == sipp_sdp);

    auto const from = parse_name_addr(*m.header("From"));
    REQUIRE(from);
    CHECK(from->display_name == "sipp");
    CHECK(from->uri == "sip:sipp@127.0.0.1:5061");
    CHECK(from->tag() == "2771SIPpTag001");
    auto const to = parse_name_addr(*m.header("To"));
    REQUIRE(to);
    CHECK(!to->tag());
    auto const contact = parse_name_addr(*m.header("Contact"));
    REQUIRE(contact);
    CHECK(contact->uri == "sip:sipp@127.0.0.1:5061");
    CHECK(contact->display_name.empty());

    auto const via = parse_via(*m.header("Via"));
    REQUIRE(via);
    CHECK(via->protocol == "SIP/2.0");
    CHECK(via->transport == "UDP");
    CHECK(via->host == "127.0.0.1");
    CHECK(via->port == 5061);
    CHECK(via->branch == "z9hG4bK-2771-1-0");
    CHECK(!via->has_rport);
    CHECK(!via->received);
}

TEST_CASE("ACK, BYE, CANCEL, OPTIONS and a response") {
    auto const ack = parsed(sipp_ack);
    CHECK(ack.method == "ACK");
    CHECK(ack.cseq()->method == "ACK");
    CHECK(parse_name_addr(*ack.header("To"))->tag() == "as4f2a");
    CHECK(ack.body.empty());

    auto const bye = parsed(sipp_bye);
    CHECK(bye.method == "BYE");
    CHECK(bye.cseq()->number == 2);

    auto const c = parsed(cancel);
    CHECK(c.method == "CANCEL");
    CHECK(parse_via(*c.header("Via"))->branch == "z9hG4bK74bf9");
    CHECK(parse_via(*c.header("Via"))->port == 5060);

    auto const o = parsed(options);
    CHECK(o.method == "OPTIONS");
    CHECK(o.header("Accept") == "application/sdp");
    CHECK(!parse_via(*o.header("Via"))->port);
    CHECK(o.cseq()->number == 63104);

    auto const r = parsed(ringing);
    CHECK(!r.is_request);
    CHECK(r.status == 180);
    CHECK(r.reason == "Ringing");
    CHECK(r.headers("Via").size() == 2);
    CHECK(parse_via(r.headers("Via")[1])->received == "192.0.2.101");
    CHECK(r.cseq()->method == "INVITE");
}

TEST_CASE("status lines") {
    sip_message m;
    auto with_status = [](std::string_view line) {
        return replace(ringing, "SIP/2.0 180 Ringing", line);
    };
    CHECK(parse(with_status("SIP/2.0 200 OK"), m) == parse_error::ok);
    CHECK(m.status == 200);
    CHECK(parse(with_status("SIP/2.0 486 Busy Here"), m) == parse_error::ok);
    CHECK(m.reason == "Busy Here");
    CHECK(parse(with_status("SIP/2.0 200"), m) == parse_error::ok);
    CHECK(m.reason.empty());
    CHECK(parse(with_status("SIP/2.0 200 "), m) == parse_error::ok);
    CHECK(parse(with_status("sip/2.0 603 Decline"), m) == parse_error::ok);
    CHECK(parse(with_status("SIP/2.0 99 Low"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("SIP/2.0 700 High"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("SIP/2.0 2000 OK"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("SIP/2.0 20x OK"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("HTTP/1.1 200 OK"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_status("SIP/2.0 200 O\x01K"), m) == parse_error::malformed_start_line);
}

TEST_CASE("request lines") {
    sip_message m;
    auto with_line = [](std::string_view line) {
        return replace(options, "OPTIONS sip:carol@chicago.com SIP/2.0", line);
    };
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com sip/2.0"), m) == parse_error::ok);
    CHECK(parse(with_line("OPTIONS tel:+15551234 SIP/2.0"), m) == parse_error::ok);
    CHECK(parse(with_line("OPTIONS  sip:carol@chicago.com SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com  SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com SIP/2.0 "), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPT(IONS sip:carol@chicago.com SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS carol SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS 1sip:carol SIP/2.0"), m) == parse_error::malformed_start_line);
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com HTTP/1.1"), m) == parse_error::malformed_start_line);
    // A SIP version we do not speak: parsed anyway so a 505 can be sent.
    CHECK(parse(with_line("OPTIONS sip:carol@chicago.com SIP/3.0"), m) == parse_error::unsupported_version);
    CHECK(m.method == "OPTIONS");
    CHECK(m.header("Call-ID") == "a84b4c76e66710");
    CHECK(make_response(m, 505, "Version Not Supported").starts_with("SIP/2.0 505 Version Not Supported\r\n"));
}

TEST_CASE("compact forms") {
    auto const text = sip(
        "INVITE sip:bob@biloxi.com SIP/2.0\n"
        "v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\n"
        "f: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
        "t: Bob <sip:bob@biloxi.com>\n"
        "i: a84b4c76e66710@pc33.atlanta.com\n"
        "CSeq: 314159 INVITE\n"
        "m: <sip:alice@pc33.atlanta.com>\n"
        "c: application/sdp\n"
        "k: 100rel, timer\n"
        "s: lunch\n"
        "e: gzip\n"
        "o: dialog\n"
        "u: talk, hold\n"
        "l: $",
        sipp_sdp);
    auto const m = parsed(text);
    CHECK(m.fields[1].name == "f");
    CHECK(m.header("Via") == "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds");
    CHECK(m.header("From") == "Alice <sip:alice@atlanta.com>;tag=1928301774");
    CHECK(m.header("TO") == "Bob <sip:bob@biloxi.com>");
    CHECK(m.header("call-id") == "a84b4c76e66710@pc33.atlanta.com");
    CHECK(m.header("Contact") == "<sip:alice@pc33.atlanta.com>");
    CHECK(m.header("Content-Type") == "application/sdp");
    CHECK(m.headers("Supported") == std::vector<std::string_view>{"100rel", "timer"});
    CHECK(m.header("Subject") == "lunch");
    CHECK(m.header("Content-Encoding") == "gzip");
    CHECK(m.header("Event") == "dialog");
    CHECK(m.headers("Allow-Events") == std::vector<std::string_view>{"talk", "hold"});
    CHECK(m.header("l") == std::to_string(sipp_sdp.size()));
    CHECK(m.header("V") == m.header("via"));
    CHECK(m.body == sipp_sdp);
    CHECK(same_header("v", "VIA"));
    CHECK(same_header("Content-Length", "L"));
    CHECK(!same_header("v", "f"));
    CHECK(expand_compact("x") == "Session-Expires");
    CHECK(expand_compact("q") == "q");
}

TEST_CASE("multiple Via: separate lines and comma lists") {
    auto const text = sip(
        "SIP/2.0 200 OK\n"
        "Via: SIP/2.0/UDP proxy2.example.com:5060;branch=z9hG4bK-p2, SIP/2.0/TCP proxy1.example.com;branch=z9hG4bK-p1\n"
        "v: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK-uac;rport=5070;received=2001:db8::9\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:b@example.com>;tag=2\n"
        "Call-ID: x\n"
        "CSeq: 7 BYE\n"
        "Content-Length: 0");
    auto const m = parsed(text);
    auto const vias = m.headers("Via");
    REQUIRE(vias.size() == 3);
    CHECK(vias[0] == "SIP/2.0/UDP proxy2.example.com:5060;branch=z9hG4bK-p2");
    CHECK(vias[1] == "SIP/2.0/TCP proxy1.example.com;branch=z9hG4bK-p1");
    CHECK(m.header("Via") == vias[0]);
    auto const uac = parse_via(vias[2]);
    REQUIRE(uac);
    CHECK(uac->host == "[2001:db8::9]");
    CHECK(uac->port == 5070);
    CHECK(uac->rport == 5070);
    CHECK(uac->received == "2001:db8::9");
    CHECK(parse_via(vias[1])->transport == "TCP");

    // Commas inside quotes and <> do not split; non-list headers never split.
    auto const contacts = sip(
        "SIP/2.0 300 Multiple Choices\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1\n"
        "From: \"Doe, John\" <sip:j@example.com>;tag=1\n"
        "To: <sip:b@example.com>;tag=2\n"
        "Call-ID: x\n"
        "CSeq: 7 INVITE\n"
        "Contact: \"Doe, \\\"JJ\\\" John\" <sip:j@a.example.com;x=a,b>, <sip:j@b.example.com>;q=0.5\n"
        "Contact: sip:j@c.example.com\n"
        "WWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\n"
        "Date: Sat, 13 Nov 2010 23:29:00 GMT\n"
        "Content-Length: 0");
    auto const c = parsed(contacts);
    auto const list = c.headers("m");
    REQUIRE(list.size() == 3);
    CHECK(list[0] == "\"Doe, \\\"JJ\\\" John\" <sip:j@a.example.com;x=a,b>");
    CHECK(list[1] == "<sip:j@b.example.com>;q=0.5");
    CHECK(list[2] == "sip:j@c.example.com");
    CHECK(parse_name_addr(list[0])->uri == "sip:j@a.example.com;x=a,b");
    CHECK(parse_name_addr(list[0])->display_name == "Doe, \\\"JJ\\\" John");
    CHECK(parse_name_addr(list[1])->param("q") == "0.5");
    CHECK(c.headers("From").size() == 1);
    CHECK(c.headers("WWW-Authenticate").size() == 1);
    CHECK(c.headers("Date") == std::vector<std::string_view>{"Sat, 13 Nov 2010 23:29:00 GMT"});

    std::vector<std::string_view> parts;
    split_list(" a , ,b,\"c,d\" ,", parts);
    CHECK(parts == std::vector<std::string_view>{"a", "b", "\"c,d\""});
}

TEST_CASE("folded headers are unfolded to one space") {
    auto const text = sip(
        "OPTIONS sip:carol@chicago.com SIP/2.0\n"
        "Via: SIP/2.0/UDP pc33.atlanta.com\n"
        "  ;branch=z9hG4bKfold\n"
        "Max-Forwards: 70\n"
        "To: <sip:carol@chicago.com>\n"
        "From: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
        "Call-ID: a84b4c76e66710\n"
        "CSeq: 63104 OPTIONS\n"
        "Subject: I know you're there,\n"
        "               pull up the chair\n"
        "\t\tand sit\n"
        "Content-Length: 0");
    auto const m = parsed(text);
    CHECK(m.header("Subject") == "I know you're there, pull up the chair and sit");
    CHECK(m.header("Via") == "SIP/2.0/UDP pc33.atlanta.com ;branch=z9hG4bKfold");
    CHECK(parse_via(*m.header("Via"))->branch == "z9hG4bKfold");
    CHECK(m.fields.size() == 8);

    // A continuation with nothing to continue.
    sip_message bad;
    CHECK(parse(replace(options, "Via:", " Via:"), bad) == parse_error::malformed_header);
}

TEST_CASE("bare LF line ends are accepted") {
    std::string lf = sipp_bye;
    std::string out;
    for (char c : lf)
        if (c != '\r') out += c;
    auto const m = parsed(out);
    CHECK(m.method == "BYE");
    CHECK(m.header("CSeq") == "2 BYE");
}

TEST_CASE("mandatory headers") {
    sip_message m;
    for (std::string_view const prefix : {"Via:", "From:", "To:", "Call-ID:", "CSeq:"}) {
        CAPTURE(prefix);
        CHECK(parse(without_line(sipp_bye, prefix), m) == parse_error::missing_mandatory);
        auto response = without_line(ringing, prefix);
        if (prefix == "Via:") response = without_line(response, prefix);  // it has two
        CHECK(parse(response, m) == parse_error::missing_mandatory);
    }
    CHECK(parse(without_line(sipp_bye, "Max-Forwards:"), m) == parse_error::ok);
    CHECK(!m.max_forwards());
    CHECK(parse(replace(sipp_bye, "Call-ID: 1-2771@127.0.0.1", "Call-ID:"), m) == parse_error::missing_mandatory);
    CHECK(parse(replace(sipp_bye, "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2771-1-7", "Via: ,"), m) ==
          parse_error::missing_mandatory);
}

TEST_CASE("bad header values") {
    sip_message m;
    auto bad = [&](std::string_view what, std::string_view with) { return parse(replace(sipp_bye, what, with), m); };
    CHECK(bad("CSeq: 2 BYE", "CSeq: 2 INVITE") == parse_error::malformed_header);
    CHECK(bad("CSeq: 2 BYE", "CSeq: BYE") == parse_error::malformed_header);
    CHECK(bad("CSeq: 2 BYE", "CSeq: 2147483648 BYE") == parse_error::malformed_header);
    CHECK(bad("CSeq: 2 BYE", "CSeq: 2147483647 BYE") == parse_error::ok);
    CHECK(bad("CSeq: 2 BYE", "CSeq: 2BYE") == parse_error::malformed_header);
    CHECK(bad("Max-Forwards: 70", "Max-Forwards: seventy") == parse_error::malformed_header);
    CHECK(bad("Max-Forwards: 70", "Max-Forwards: 70\r\nMax-Forwards: 69") == parse_error::malformed_header);
    CHECK(bad("Call-ID: 1-2771@127.0.0.1", "Call-ID: a\r\ni: b") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", "Subject Performance Test") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", ": Performance Test") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", "Sub ject: Performance Test") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", "Subject: Perf\x01rmance") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", "Subject: Perf\rmance") == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", std::string("Subject: a\0b", 12)) == parse_error::malformed_header);
    CHECK(bad("Subject: Performance Test", "Subject: caf\xc3\xa9\tok") == parse_error::ok);
    CHECK(m.header("Subject") == "caf\xc3\xa9\tok");
    CHECK(bad("Subject: Performance Test", "Subject  :  spaced  ") == parse_error::ok);
    CHECK(m.header("Subject") == "spaced");
    CHECK(bad("Via: SIP/2.0/UDP 127.0.0.1:5061", "Via: garbage") == parse_error::malformed_header);
    CHECK(bad("From: sipp <sip:sipp@127.0.0.1:5061>", "From: sipp <sip:sipp@127.0.0.1:5061") ==
          parse_error::malformed_header);
    // Headers are not terminated by a blank line.
    CHECK(parse(sipp_bye.substr(0, sipp_bye.size() - 2), m) == parse_error::malformed_header);
}

TEST_CASE("Content-Length on UDP") {
    sip_message m;
    // RFC 3261 18.3: extra octets are dropped, missing ones are an error.
    CHECK(parse(sipp_invite + "garbage after the body", m) == parse_error::ok);
    CHECK(m.body == sipp_sdp);
    CHECK(parse(sipp_invite.substr(0, sipp_invite.size() - 1), m) == parse_error::body_length_mismatch);
    // Without Content-Length a datagram's body runs to its end.
    auto const no_length = without_line(sipp_invite, "Content-Length:");
    CHECK(parse(no_length, m) == parse_error::ok);
    CHECK(m.body == sipp_sdp);

    auto with_length = [&](std::string_view v) {
        return parse(replace(sipp_invite, "Content-Length: " + std::to_string(sipp_sdp.size()), v), m);
    };
    CHECK(with_length("Content-Length: 99999999999999999999999999") == parse_error::too_large);
    CHECK(with_length("Content-Length: 4294967296") == parse_error::too_large);
    CHECK(with_length("Content-Length: 65536") == parse_error::too_large);
    CHECK(with_length("Content-Length: 1000") == parse_error::body_length_mismatch);
    CHECK(with_length("Content-Length: -1") == parse_error::bad_content_length);
    CHECK(with_length("Content-Length: 12abc") == parse_error::bad_content_length);
    CHECK(with_length("Content-Length:") == parse_error::bad_content_length);
    CHECK(with_length("Content-Length: 1 2") == parse_error::bad_content_length);
    CHECK(with_length("Content-Length: 10\r\nl: 11") == parse_error::bad_content_length);
    CHECK(with_length("Content-Length: 10\r\nl: 010") == parse_error::ok);
    CHECK(m.body == sipp_sdp.substr(0, 10));
    CHECK(with_length("Content-Length: 0") == parse_error::ok);
    CHECK(m.body.empty());
}

TEST_CASE("limits") {
    sip_message m;
    message_limits small;
    small.max_message_size = sipp_invite.size() - 1;
    CHECK(parse(sipp_invite, m, small) == parse_error::too_large);
    small.max_message_size = sipp_invite.size();
    CHECK(parse(sipp_invite, m, small) == parse_error::ok);

    std::string many = sipp_bye;
    std::string extra;
    for (int i = 0; i < 91; ++i) extra += "X-Filler-" + std::to_string(i) + ": x\r\n";
    auto const at100 = replace(many, "Content-Length: 0", extra + "Content-Length: 0");
    CHECK(parse(at100, m) == parse_error::ok);
    CHECK(m.fields.size() == 100);
    auto const at101 = replace(many, "Content-Length: 0", extra + "X-One-More: y\r\nContent-Length: 0");
    CHECK(parse(at101, m) == parse_error::too_many_headers);

    auto const long_value = std::string(8 * 1024, 'a');
    CHECK(parse(replace(sipp_bye, "Subject: Performance Test", "Subject: " + long_value), m) == parse_error::too_large);
    CHECK(parse(replace(sipp_bye, "Subject: Performance Test", "Subject: " + long_value.substr(0, 8000)), m) ==
          parse_error::ok);
    // Folding does not get round the line limit.
    std::string folded = "Subject: a";
    for (int i = 0; i < 100; ++i) folded += "\r\n " + std::string(100, 'b');
    CHECK(parse(replace(sipp_bye, "Subject: Performance Test", folded), m) == parse_error::too_large);
    auto const long_uri = "BYE sip:" + std::string(9000, 'u') + "@h SIP/2.0";
    CHECK(parse(replace(sipp_bye, "BYE sip:service@127.0.0.1:5060 SIP/2.0", long_uri), m) == parse_error::too_large);
}

TEST_CASE("garbage and empty input") {
    sip_message m;
    CHECK(parse("", m) == parse_error::malformed_start_line);
    CHECK(parse("\r\n\r\n", m) == parse_error::malformed_start_line);
    CHECK(parse("INVITE", m) == parse_error::malformed_start_line);
    CHECK(parse("hello world\r\n\r\n", m) == parse_error::malformed_start_line);
    CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n", m) == parse_error::malformed_start_line);
    CHECK(parse(std::string("\0\1\2\3\n", 5), m) == parse_error::malformed_start_line);
    CHECK(parse("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", m) == parse_error::malformed_start_line);
    CHECK(parse("OPTIONS sip:x SIP/2.0\r\n\r\n", m) == parse_error::missing_mandatory);
    CHECK(is_keepalive("\r\n\r\n"));
    CHECK(is_keepalive("\r\n"));
    CHECK(!is_keepalive(""));
    CHECK(!is_keepalive("\r\nx"));
    // Leading CRLFs before a datagram's start line are skipped (RFC 3261 7.5).
    CHECK(parse("\r\n" + sipp_bye, m) == parse_error::ok);

    // Every truncation fails cleanly, none parses as a whole message.
    for (std::size_t n = 0; n < sipp_invite.size(); ++n) {
        CAPTURE(n);
        CHECK(parse(std::string_view(sipp_invite).substr(0, n), m) != parse_error::ok);
    }
}

TEST_CASE("headers can be added and removed") {
    auto m = parsed(sipp_invite);
    CHECK(m.remove_header("s") == 1);
    CHECK(!m.header("Subject"));
    m.add_header("Subject", "again");
    CHECK(m.header("s") == "again");
    CHECK(m.fields.back().name == "Subject");
}

}  // TEST_SUITE

// ---------------------------------------------------------------------------

namespace {

struct framed {
    stream_framer::status status;
    parse_error error;
    std::string message;  // serialized, for comparison
    bool operator==(const framed&) const = default;
};

// Stops at the first error, as a connection would be closed there.
void drain(stream_framer& f, std::vector<framed>& out) {
    sip_message m;
    if (!out.empty() && out.back().status == stream_framer::status::error) return;
    for (;;) {
        auto const s = f.next(m);
        if (s == stream_framer::status::need_more) return;
        out.push_back({s, f.error(), s == stream_framer::status::message ? serialize(m) : std::string{}});
        if (s == stream_framer::status::error) return;
    }
}

std::vector<framed> frame_pieces(std::string_view in, std::initializer_list<std::size_t> cuts,
                                 const message_limits& l = {}) {
    stream_framer f(l);
    std::vector<framed> out;
    std::size_t at = 0;
    for (auto c : cuts) {
        f.feed(in.substr(at, c - at));
        drain(f, out);
        at = c;
    }
    f.feed(in.substr(at));
    drain(f, out);
    return out;
}

std::vector<framed> frame_bytewise(std::string_view in, const message_limits& l = {}) {
    stream_framer f(l);
    std::vector<framed> out;
    for (char c : in) {
        f.feed(std::string_view(&c, 1));
        drain(f, out);
    }
    return out;
}

// House rule: the same bytes cut anywhere frame the same.
void check_every_split(std::string_view in, const std::vector<framed>& expected, const message_limits& l = {},
                       bool pairs = true) {
    REQUIRE(frame_pieces(in, {}, l) == expected);
    REQUIRE(frame_bytewise(in, l) == expected);
    for (std::size_t i = 0; i <= in.size(); ++i) {
        if (frame_pieces(in, {i}, l) != expected) {
            CAPTURE(i);
            CHECK(frame_pieces(in, {i}, l) == expected);
        }
    }
    if (!pairs) return;
    for (std::size_t i = 0; i <= in.size(); ++i)
        for (std::size_t j = i; j <= in.size(); ++j)
            if (frame_pieces(in, {i, j}, l) != expected) {
                CAPTURE(i);
                CAPTURE(j);
                CHECK(frame_pieces(in, {i, j}, l) == expected);
                return;
            }
}

using st = stream_framer::status;

framed message_of(std::string_view text) {
    sip_message m;
    REQUIRE(parse_message(text, m) == parse_error::ok);
    return {st::message, parse_error::ok, serialize(m)};
}

// Built at start-up, where doctest's assertions cannot run yet.
std::string make_tcp_invite() {
    std::string s = sipp_invite;
    s.replace(s.find("UDP"), 3, "TCP");
    std::string_view const contact = "Contact: sip:sipp@127.0.0.1:5061\r\n";
    s.replace(s.find(contact), contact.size(), "Contact: <sip:sipp@127.0.0.1:5061;transport=tcp>\r\n");
    return s;
}

const std::string tcp_invite = make_tcp_invite();

}  // namespace

TEST_SUITE("stream_framer") {

TEST_CASE("messages and keep-alives, cut at every position and every pair of positions") {
    // ping, INVITE (with body), lone CRLF (ignored), ACK, ping, ping, BYE
    auto const in = "\r\n\r\n" + tcp_invite + "\r\n" + sipp_ack + "\r\n\r\n\r\n\r\n" + sipp_bye;
    std::vector<framed> const expected{
        {st::keepalive, parse_error::ok, {}}, message_of(tcp_invite), message_of(sipp_ack),
        {st::keepalive, parse_error::ok, {}}, {st::keepalive, parse_error::ok, {}}, message_of(sipp_bye),
    };
    CHECK(frame_pieces(in, {}) == expected);
    // The pairs over the whole ~1.3 KB input take long; pairs over a shorter
    // input that still has a body, a ping and two messages.
    check_every_split(in, expected, {}, false);
    // Every pair of cuts over a shorter input that still has a body, a ping,
    // a lone CRLF and folding.
    auto const ack = sip("ACK sip:s@h SIP/2.0\nv:SIP/2.0/TCP h;branch=z9hG4bK1\nf:<sip:a@h>;tag=1\n"
                         "t:<sip:b@h>;tag=2\ni:c\nCSeq:1 ACK\nl:\n 0");
    auto const info = sip("INFO sip:s@h SIP/2.0\nv:SIP/2.0/TCP h;branch=z9hG4bK2\nf:<sip:a@h>;tag=1\n"
                          "t:<sip:b@h>;tag=2\ni:c\nCSeq:2 INFO\nl:$",
                          "5\r\n\r\n");
    sip_message m;
    REQUIRE(parse_message(info, m) == parse_error::ok);
    CHECK(m.body == "5\r\n\r\n");
    check_every_split("\r\n" + ack + "\r\n\r\n" + info,
                      {message_of(ack), {st::keepalive, parse_error::ok, {}}, message_of(info)});
}

TEST_CASE("a partial message waits, LF-only framing works") {
    stream_framer f;
    sip_message m;
    f.feed(std::string_view(tcp_invite).substr(0, tcp_invite.size() - 1));
    CHECK(f.next(m) == st::need_more);
    CHECK(f.buffered() == tcp_invite.size() - 1);
    f.feed(std::string_view(tcp_invite).substr(tcp_invite.size() - 1));
    CHECK(f.next(m) == st::message);
    CHECK(m.body == sipp_sdp);
    CHECK(f.next(m) == st::need_more);
    CHECK(f.buffered() == 0);

    std::string lf;
    for (char c : sipp_bye)
        if (c != '\r') lf += c;
    check_every_split(lf + "\n\n" + lf, {message_of(lf), {st::keepalive, parse_error::ok, {}}, message_of(lf)}, {},
                      false);
}

TEST_CASE("Content-Length is mandatory on a stream") {
    auto const in = without_line(sipp_bye, "Content-Length:");
    check_every_split(in, {{st::error, parse_error::bad_content_length, {}}});
    check_every_split(replace(sipp_bye, "Content-Length: 0", "Content-Length: zero"),
                      {{st::error, parse_error::bad_content_length, {}}});
    check_every_split(replace(sipp_bye, "Content-Length: 0", "Content-Length: 0\r\nl: 1"),
                      {{st::error, parse_error::bad_content_length, {}}});
    // A folded Content-Length still frames.
    auto const folded = replace(sipp_bye, "Content-Length: 0", "Content-Length:\r\n 0");
    check_every_split(folded, {message_of(folded)}, {}, false);
}

TEST_CASE("a huge Content-Length fails before the body is buffered") {
    auto const head = replace(sipp_bye, "Content-Length: 0", "Content-Length: 1000000000");
    stream_framer f;
    sip_message m;
    f.feed(head);  // the head only: no body byte has arrived
    CHECK(f.next(m) == st::error);
    CHECK(f.error() == parse_error::too_large);
    CHECK(f.buffered() == 0);
    f.feed(sipp_ack);  // a failed framer stays failed
    CHECK(f.next(m) == st::error);
    CHECK(f.buffered() == 0);

    check_every_split(head, {{st::error, parse_error::too_large, {}}});
    auto const overflow = replace(sipp_bye, "Content-Length: 0", "Content-Length: 184467440737095516160");
    check_every_split(overflow, {{st::error, parse_error::too_large, {}}});
    // Head plus body one byte over the limit.
    message_limits l;
    l.max_message_size = tcp_invite.size() - 1;
    check_every_split(tcp_invite, {{st::error, parse_error::too_large, {}}}, l, false);
    l.max_message_size = tcp_invite.size();
    check_every_split(tcp_invite, {message_of(tcp_invite)}, l, false);
}

TEST_CASE("garbage fails at the first line, not after max_message_size bytes") {
    stream_framer f;
    sip_message m;
    f.feed("GET / HTTP/1.1\r\n");
    CHECK(f.next(m) == st::error);
    CHECK(f.error() == parse_error::malformed_start_line);

    check_every_split("HELLO\r\nmore", {{st::error, parse_error::malformed_start_line, {}}});
    check_every_split("\r\rINVITE", {{st::error, parse_error::malformed_start_line, {}}});
    check_every_split(std::string("\0\0\0\n", 4), {{st::error, parse_error::malformed_start_line, {}}});

    // No line end at all: fails once the line cannot fit.
    message_limits l;
    l.max_header_line = 64;
    std::string endless(200, 'A');
    check_every_split(endless, {{st::error, parse_error::too_large, {}}}, l, false);
    stream_framer g(l);
    g.feed(endless.substr(0, 65));
    CHECK(g.next(m) == st::need_more);
    g.feed("A");
    CHECK(g.next(m) == st::error);
    CHECK(g.error() == parse_error::too_large);
    // 64 bytes and CRLF is still a line, 65 are not.
    check_every_split("OPTIONS sip:" + std::string(42, 'x') + "@h SIP/2.0\r\n", {}, l);
    check_every_split("OPTIONS sip:" + std::string(43, 'x') + "@h SIP/2.0\r\n",
                      {{st::error, parse_error::too_large, {}}}, l);
}

TEST_CASE("a head that never ends is bounded") {
    message_limits l;
    l.max_message_size = 512;
    std::string in = "OPTIONS sip:a@h SIP/2.0\r\n";
    while (in.size() < 600) in += "X-Pad: xxxxxxxxxxxxxxxx\r\n";
    check_every_split(in, {{st::error, parse_error::too_large, {}}}, l, false);
    stream_framer f(l);
    sip_message m;
    std::size_t fed = 0;
    for (; fed < in.size(); ++fed) {
        f.feed(in.substr(fed, 1));
        if (f.next(m) == st::error) break;
        CHECK(f.buffered() <= l.max_message_size);
    }
    CHECK(fed == l.max_message_size - 1);
}

TEST_CASE("a well-framed bad message is skipped, the stream goes on") {
    auto const bad = without_line(sipp_bye, "Call-ID:");
    auto const too_many = [] {
        std::string extra;
        for (int i = 0; i < 100; ++i) extra += "X-F: " + std::to_string(i) + "\r\n";
        return replace(sipp_ack, "Content-Length: 0", extra + "Content-Length: 0");
    }();
    check_every_split(bad + sipp_ack + too_many + sipp_bye,
                      {{st::bad_message, parse_error::missing_mandatory, {}}, message_of(sipp_ack),
                       {st::bad_message, parse_error::too_many_headers, {}}, message_of(sipp_bye)},
                      {}, false);
    auto const bad_header = replace(sipp_ack, "Subject: Performance Test", "Subject Performance Test");
    check_every_split(bad_header + sipp_bye,
                      {{st::bad_message, parse_error::malformed_header, {}}, message_of(sipp_bye)}, {}, false);
}

}  // TEST_SUITE

// ---------------------------------------------------------------------------

TEST_SUITE("sip values") {

TEST_CASE("Via") {
    auto v = parse_via("SIP / 2.0 / UDP first.example.com: 4000;ttl=16 ;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1");
    CHECK(!v);  // no space allowed between ':' and the port
    v = parse_via("SIP / 2.0 / UDP first.example.com:4000;ttl=16 ;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1");
    REQUIRE(v);
    CHECK(v->transport == "UDP");
    CHECK(v->host == "first.example.com");
    CHECK(v->port == 4000);
    CHECK(v->branch == "z9hG4bKa7c6a8dlze.1");
    CHECK(find_param(v->params, "maddr") == "224.2.0.1");
    CHECK(find_param(v->params, "TTL") == "16");

    v = parse_via("SIP/2.0/TLS [2001:db8::1]:5061;rport;branch=z9hG4bK1");
    REQUIRE(v);
    CHECK(v->host == "[2001:db8::1]");
    CHECK(v->port == 5061);
    CHECK(v->has_rport);
    CHECK(!v->rport);

    v = parse_via("SIP/2.0/UDP 10.0.0.1");
    REQUIRE(v);
    CHECK(!v->port);
    CHECK(v->params.empty());
    CHECK(v->branch.empty());

    CHECK(!parse_via(""));
    CHECK(!parse_via("SIP/2.0/UDP"));
    CHECK(!parse_via("SIP/2.0 UDP host"));
    CHECK(!parse_via("SIP/2.0/UDPhost"));
    CHECK(!parse_via("SIP/2.0/UDP host:99999"));
    CHECK(!parse_via("SIP/2.0/UDP host:"));
    CHECK(!parse_via("SIP/2.0/UDP [::1"));
    CHECK(!parse_via("SIP/2.0/UDP ho$t"));
    CHECK(!parse_via("SIP/2.0/UDP host;rport=x"));
    CHECK(!parse_via("SIP/2.0/UDP host junk"));
}

TEST_CASE("find_param") {
    CHECK(find_param(";lr;tag=abc", "tag") == "abc");
    CHECK(find_param(";lr;tag=abc", "LR") == "");
    CHECK(find_param(";lr;tag=abc", "lr").has_value());
    CHECK(!find_param(";lr;tag=abc", "ta"));
    CHECK(find_param(";x=\"a;b\";y=2", "y") == "2");
    CHECK(find_param(";x=\"a;b\";y=2", "x") == "\"a;b\"");
    CHECK(find_param(" ; q = 0.7 ", "q") == "0.7");
    CHECK(!find_param("", "q"));
}

TEST_CASE("SIP URIs") {
    auto u = parse_uri("sip:alice@atlanta.com");
    REQUIRE(u);
    CHECK(u->scheme == "sip");
    CHECK(u->user == "alice");
    CHECK(u->host == "atlanta.com");
    CHECK(!u->port);

    u = parse_uri("sips:alice:secretword@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent");
    REQUIRE(u);
    CHECK(u->scheme == "sips");
    CHECK(u->password == "secretword");
    CHECK(u->port == 5061);
    CHECK(u->params == ";transport=tcp;lr");
    CHECK(find_param(u->params, "transport") == "tcp");
    CHECK(u->headers == "subject=project%20x&priority=urgent");

    u = parse_uri("SIP:+1-212-555-1212:1234@gateway.com;user=phone");
    REQUIRE(u);
    CHECK(u->user == "+1-212-555-1212");
    CHECK(u->password == "1234");
    u = parse_uri("sip:alice;day=tuesday@atlanta.com");
    REQUIRE(u);
    CHECK(u->user == "alice;day=tuesday");
    CHECK(u->host == "atlanta.com");
    u = parse_uri("sip:[2001:db8::10]:5070");
    REQUIRE(u);
    CHECK(u->host == "[2001:db8::10]");
    CHECK(u->port == 5070);
    CHECK(u->user.empty());

    CHECK(!parse_uri("http://atlanta.com"));
    CHECK(!parse_uri("sip:"));
    CHECK(!parse_uri("sip:@atlanta.com"));
    CHECK(!parse_uri("sip:alice@"));
    CHECK(!parse_uri("sip:alice@host:port"));
    CHECK(!parse_uri("sip:alice@host:70000"));
    CHECK(!parse_uri("sip:alice@ho st"));
    CHECK(!parse_uri("sip:alice@host>x"));
    CHECK(!parse_uri("alice@atlanta.com"));
}

TEST_CASE("name-addr") {
    auto n = parse_name_addr("\"A. G. Bell\" <sip:agb@bell-telephone.com> ;tag=a48s");
    REQUIRE(n);
    CHECK(n->display_name == "A. G. Bell");
    CHECK(n->uri == "sip:agb@bell-telephone.com");
    CHECK(n->tag() == "a48s");

    n = parse_name_addr("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8");
    REQUIRE(n);
    CHECK(n->display_name == "Anonymous");
    CHECK(n->tag() == "hyh8");

    n = parse_name_addr("sip:+12125551212@server.phone2net.com;tag=887s");
    REQUIRE(n);
    CHECK(n->display_name.empty());
    CHECK(n->uri == "sip:+12125551212@server.phone2net.com");
    CHECK(n->tag() == "887s");

    n = parse_name_addr("<sip:bob@biloxi.com;transport=tcp>;expires=60");
    REQUIRE(n);
    CHECK(n->uri == "sip:bob@biloxi.com;transport=tcp");
    CHECK(n->param("expires") == "60");
    CHECK(!n->tag());

    n = parse_name_addr("\"\" <sip:x@y>");
    REQUIRE(n);
    CHECK(n->display_name.empty());

    n = parse_name_addr("*");
    REQUIRE(n);
    CHECK(n->wildcard);

    CHECK(!parse_name_addr(""));
    CHECK(!parse_name_addr("\"unterminated <sip:x@y>"));
    CHECK(!parse_name_addr("<sip:x@y"));
    CHECK(!parse_name_addr("Bob <>"));
    CHECK(!parse_name_addr("\"Bob\" sip:x@y"));
    CHECK(!parse_name_addr("<sip:x@y> junk"));
    CHECK(!parse_name_addr("Bo\"b <sip:x@y>"));
    CHECK(!parse_name_addr("* junk"));
}

}  // TEST_SUITE

// ---------------------------------------------------------------------------

TEST_SUITE("serialization") {

TEST_CASE("a response copies the request's identifiers and round-trips") {
    auto request = parsed(sip(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1, "
        "SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK2d4790.1\n"
        "v: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\n"
        "Max-Forwards: 68\n"
        "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.example.com;lr>\n"
        "f: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
        "t: Bob <sip:bob@biloxi.example.com>\n"
        "i: 3848276298220188511@atlanta.example.com\n"
        "CSeq: 1 INVITE\n"
        "Contact: <sip:alice@client.atlanta.example.com>\n"
        "Content-Type: application/sdp\n"
        "Content-Length: $",
        sipp_sdp));

    std::vector<header_field> const extra{{"Contact", "<sip:tones@192.0.2.4:5060>"},
                                          {"Content-Type", "application/sdp"},
                                          {"Content-Length", "999"}};
    response_options opt;
    opt.to_tag = "314159";
    opt.copy_record_route = true;
    opt.extra = extra;
    opt.body = sipp_sdp;
    auto const text = make_response(request, 200, "OK", opt);
    auto const r = parsed(text);
    CHECK(!r.is_request);
    CHECK(r.status == 200);
    CHECK(r.reason == "OK");
    CHECK(r.headers("Via") == request.headers("Via"));
    CHECK(r.headers("Via").size() == 3);
    CHECK(r.header("From") == request.header("From"));
    CHECK(r.header("To") == "Bob <sip:bob@biloxi.example.com>;tag=314159");
    CHECK(r.header("Call-ID") == request.header("Call-ID"));
    CHECK(r.header("CSeq") == "1 INVITE");
    CHECK(r.headers("Record-Route") == request.headers("Record-Route"));
    CHECK(r.header("Contact") == "<sip:tones@192.0.2.4:5060>");
    CHECK(r.headers("Content-Length") == std::vector<std::string_view>{std::to_string(sipp_sdp.size())});
    CHECK(r.body == sipp_sdp);
    CHECK(text.find("\r\n\r\n") + 4 + sipp_sdp.size() == text.size());

    // 100 Trying: no tag, no Record-Route, Content-Length 0.
    auto const trying = parsed(make_response(request, 100, "Trying"));
    CHECK(trying.header("To") == "Bob <sip:bob@biloxi.example.com>");
    CHECK(!trying.header("Record-Route"));
    CHECK(trying.header("Content-Length") == "0");
    CHECK(trying.body.empty());

    // A To that already has a tag keeps it.
    auto const tagged = parsed(sipp_bye);
    auto const ok = parsed(make_response(tagged, 200, "OK", {.to_tag = "other"}));
    CHECK(parse_name_addr(*ok.header("To"))->tag() == "as4f2a");
    CHECK(ok.header("CSeq") == "2 BYE");

    // Values cannot smuggle header lines.
    std::vector<header_field> const evil{{"Warning", "399 x \"a\"\r\nInjected: yes"}};
    auto const safe = parsed(make_response(tagged, 488, "Not\r\nAcceptable", {.extra = evil}));
    CHECK(!safe.header("Injected"));
    CHECK(safe.reason == "NotAcceptable");
}

TEST_CASE("a BYE we originate") {
    std::vector<header_field> const h{
        {"Via", "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKbye1;rport"},
        {"Max-Forwards", "70"},
        {"From", "<sip:service@127.0.0.1:5060>;tag=as4f2a"},
        {"To", "sipp <sip:sipp@127.0.0.1:5061>;tag=2771SIPpTag001"},
        {"Call-ID", "1-2771@127.0.0.1"},
        {"CSeq", "1 BYE"},
    };
    auto const text = make_request("BYE", "sip:sipp@127.0.0.1:5061", h);
    auto const m = parsed(text);
    CHECK(m.is_request);
    CHECK(m.method == "BYE");
    CHECK(m.uri == "sip:sipp@127.0.0.1:5061");
    CHECK(m.fields.size() == h.size() + 1);
    CHECK(m.header("Content-Length") == "0");
    CHECK(m.cseq()->method == "BYE");
    CHECK(text.ends_with("Content-Length: 0\r\n\r\n"));

    auto const info = parsed(make_request("INFO", "sip:sipp@127.0.0.1:5061",
                                          std::vector<header_field>{h[0], h[2], h[3], h[4], {"CSeq", "2 INFO"}},
                                          "Signal=5\r\nDuration=160\r\n"));
    CHECK(info.body == "Signal=5\r\nDuration=160\r\n");
}

TEST_CASE("serialize round-trips parsed messages") {
    for (auto const& text : {sipp_invite, sipp_ack, sipp_bye, cancel, options, ringing}) {
        auto const m = parsed(text);
        auto const again = parsed(serialize(m));
        CHECK(again.is_request == m.is_request);
        CHECK(again.method == m.method);
        CHECK(again.uri == m.uri);
        CHECK(again.status == m.status);
        CHECK(again.reason == m.reason);
        CHECK(again.body == m.body);
        CHECK(again.fields.size() == m.fields.size());
        for (std::size_t i = 0; i < std::min(m.fields.size(), again.fields.size()); ++i) {
            CHECK(again.fields[i].name == m.fields[i].name);
            CHECK(again.fields[i].value == m.fields[i].value);
        }
        CHECK(serialize(again) == serialize(m));
    }
}

TEST_CASE("RFC 3581 received and rport on the top Via") {
    auto with_via = [](std::string_view via) {
        auto m = parsed(sipp_bye);
        m.fields[0].value = via;
        return m;
    };
    // RFC 3581 section 6's example.
    auto m = with_via("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff");
    REQUIRE(stamp_via(m, "192.0.2.1", 9988));
    CHECK(m.fields[0].value == "SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=192.0.2.1");
    auto v = parse_via(*m.header("Via"));
    CHECK(v->rport == 9988);
    CHECK(v->received == "192.0.2.1");
    CHECK(v->branch == "z9hG4bKkjshdyff");

    // rport from the same address: received all the same (RFC 3581 4).
    m = with_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport");
    REQUIRE(stamp_via(m, "192.0.2.1", 5060));
    CHECK(m.fields[0].value == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=5060;received=192.0.2.1");

    // No rport, same address: untouched (RFC 3261 18.2.1).
    m = with_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
    REQUIRE(stamp_via(m, "192.0.2.1", 5999));
    CHECK(m.fields[0].value == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");

    // No rport, another address or a name: received only.
    m = with_via("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1");
    REQUIRE(stamp_via(m, "203.0.113.7", 40000));
    CHECK(m.fields[0].value == "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7");
    m = with_via("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK1");
    REQUIRE(stamp_via(m, "192.0.2.1", 5060));
    CHECK(parse_via(*m.header("Via"))->received == "192.0.2.1");
    CHECK(!parse_via(*m.header("Via"))->has_rport);

    // An rport that already has a value is left alone; a stale received is replaced.
    m = with_via("SIP/2.0/UDP 10.0.0.5:5060;received=1.2.3.4;rport=1111;branch=z9hG4bK1");
    REQUIRE(stamp_via(m, "203.0.113.7", 40000));
    CHECK(m.fields[0].value == "SIP/2.0/UDP 10.0.0.5:5060;received=203.0.113.7;rport=1111;branch=z9hG4bK1");

    // IPv6: compared without brackets, received written without them.
    m = with_via("SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK1");
    REQUIRE(stamp_via(m, "2001:db8::5", 5060));
    CHECK(m.fields[0].value == "SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK1");
    m = with_via("SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK1;rport");
    REQUIRE(stamp_via(m, "2001:db8::9", 6000));
    CHECK(m.fields[0].value == "SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK1;rport=6000;received=2001:db8::9");

    // Only the first value of a comma list, and only the first line, change.
    m = with_via("SIP/2.0/UDP 10.0.0.5;rport;branch=z9hG4bK1 , SIP/2.0/UDP 10.0.0.6;rport;branch=z9hG4bK0");
    m.fields.insert(m.fields.begin() + 1, {"Via", "SIP/2.0/UDP 10.0.0.7;rport;branch=z9hG4bKz"});
    REQUIRE(stamp_via(m, "198.51.100.1", 7000));
    CHECK(m.fields[0].value ==
          "SIP/2.0/UDP 10.0.0.5;rport=7000;branch=z9hG4bK1;received=198.51.100.1 , SIP/2.0/UDP "
          "10.0.0.6;rport;branch=z9hG4bK0");
    CHECK(m.fields[1].value == "SIP/2.0/UDP 10.0.0.7;rport;branch=z9hG4bKz");

    // The top Via is the first non-empty value, as header() sees it.
    m = with_via(" , SIP/2.0/UDP 10.0.0.5;rport;branch=z9hG4bK1");
    m.fields.insert(m.fields.begin(), {"v", ""});
    REQUIRE(stamp_via(m, "198.51.100.1", 7000));
    CHECK(m.fields[0].value.empty());
    CHECK(m.fields[1].value == " , SIP/2.0/UDP 10.0.0.5;rport=7000;branch=z9hG4bK1;received=198.51.100.1");
    CHECK(parse_via(*m.header("Via"))->rport == 7000);

    // The stamped Via is what the response carries.
    m = with_via("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff");
    REQUIRE(stamp_via(m, "192.0.2.1", 9988));
    auto const resp = parsed(make_response(m, 200, "OK"));
    CHECK(parse_via(*resp.header("Via"))->rport == 9988);

    sip_message none;
    CHECK(!stamp_via(none, "192.0.2.1", 1));
    m = with_via("garbage");
    CHECK(!stamp_via(m, "192.0.2.1", 1));
}

}  // TEST_SUITE
