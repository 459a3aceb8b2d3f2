#include "sip/sip_config.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace sb::sip {

namespace po = core::po;

namespace {

po::options_description sip_keys() {
    po::options_description d("[sip]");
    // clang-format off
    d.add_options()
        ("bind_address", po::value<std::string>()->default_value("127.0.0.1"), "address for SIP (UDP/TCP) and RTP")
        ("port", po::value<long long>()->default_value(5060), "SIP port")
        ("domain", po::value<std::string>()->default_value(""), "our domain (informational)")
        ("transport", po::value<std::string>()->default_value("udp"), "udp, tcp or both")
        ("media_address", po::value<std::string>()->default_value(""), "address announced in SDP (default: bind_address, or 127.0.0.1 for a wildcard)")
        ("max_tcp_connections", po::value<long long>()->default_value(1024), "TCP connections at once")
        ("max_message_size", po::value<long long>()->default_value(65535), "largest SIP message in bytes")
        ("busy_response", po::value<long long>()->default_value(486), "answer over the call limit: 486 or 503 (with Retry-After)")
        ("t1", po::value<std::string>()->default_value("500ms"), "RFC 3261 T1")
        ("t2", po::value<std::string>()->default_value("4s"), "RFC 3261 T2")
        ("stats_interval", po::value<std::string>()->default_value("30s"), "summary log period (0: none)")
        ("user_agent", po::value<std::string>()->default_value("Switchboard tone server"), "User-Agent header");
    // clang-format on
    return d;
}

po::options_description behavior_keys() {
    po::options_description d("[sip.behavior]");
    // clang-format off
    d.add_options()
        ("auto_answer", po::value<std::string>()->default_value("true"), "answer every call")
        ("auto_answer_delay_ms", po::value<long long>()->default_value(1000), "ringing time before the 200 OK")
        ("tone_duration_seconds", po::value<double>()->default_value(30), "tone length; then we hang up")
        ("tone_frequency", po::value<double>()->default_value(440.0), "tone frequency in Hz")
        ("tone_level_dbfs", po::value<double>()->default_value(-9.0), "tone level, dBFS of a full-scale sine")
        ("max_concurrent_calls", po::value<long long>()->default_value(100), "calls at once; more get busy_response");
    // clang-format on
    return d;
}

po::options_description media_keys() {
    po::options_description d("[sip.media]");
    // clang-format off
    d.add_options()
        ("rtp_port_range_start", po::value<long long>()->default_value(10000), "first RTP port (even)")
        ("rtp_port_range_end", po::value<long long>()->default_value(20000), "last RTP port")
        ("preferred_codecs", po::value<std::string>()->default_value("PCMU,PCMA"), "comma-separated, in order: PCMU, PCMA")
        ("enable_dtmf", po::value<std::string>()->default_value("true"), "offer and accept RFC 4733 telephone-event")
        ("audio_sample_rate", po::value<long long>()->default_value(8000), "G.711 is 8000 Hz");
    // clang-format on
    return d;
}

long long in_range(const po::variables_map& vm, const std::string& section, const char* key, long long min,
                   long long max) {
    return core::get_in_range(vm, key, min, max, "[" + section + "] " + key);
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

sip_config sip_config_from(const std::vector<core::ini_section>& sections) {
    po::variables_map sip, behavior, media;
    auto sk = sip_keys(), bk = behavior_keys(), mk = media_keys();
    for (auto& s : sections) {
        if (s.name == "sip")
            core::store_section(s, sk, sip);
        else if (s.name == "sip.behavior")
            core::store_section(s, bk, behavior);
        else if (s.name == "sip.media")
            core::store_section(s, mk, media);
        else
            throw core::config_error(s.where(s.line) + ": unknown section [" + s.name +
                                     "] (the SIP plugin has [sip], [sip.behavior] and [sip.media])");
    }
    // Sections left out still get their defaults.
    core::store_section({}, sk, sip);
    core::store_section({}, bk, behavior);
    core::store_section({}, mk, media);
    po::notify(sip);
    po::notify(behavior);
    po::notify(media);

    sip_config c;
    c.bind_address = sip["bind_address"].as<std::string>();
    c.port = static_cast<std::uint16_t>(in_range(sip, "sip", "port", 1, 65535));
    auto t = sip["transport"].as<std::string>();
    if (t == "udp")
        c.udp = true, c.tcp = false;
    else if (t == "tcp")
        c.udp = false, c.tcp = true;
    else if (t == "both")
        c.udp = c.tcp = true;
    else
        throw core::config_error("[sip] transport: '" + t + "' is not udp, tcp or both");
    c.max_tcp_connections = static_cast<std::size_t>(in_range(sip, "sip", "max_tcp_connections", 1, 100000));
    c.uas.limits.max_message_size = static_cast<std::size_t>(in_range(sip, "sip", "max_message_size", 1024, 1 << 20));
    auto busy = in_range(sip, "sip", "busy_response", 486, 503);
    if (busy != 486 && busy != 503) throw core::config_error("[sip] busy_response: must be 486 or 503");
    c.uas.busy_as_503 = busy == 503;
    c.uas.t1 = core::get_duration(sip, "t1");
    c.uas.t2 = core::get_duration(sip, "t2");
    if (c.uas.t1 <= clock::duration::zero() || c.uas.t2 < c.uas.t1)
        throw core::config_error("[sip] t1/t2: need 0 < t1 <= t2");
    c.stats_interval = core::get_duration(sip, "stats_interval");
    c.uas.user_agent = sip["user_agent"].as<std::string>();
    c.uas.domain = sip["domain"].as<std::string>();
    c.uas.local_ip = sip["media_address"].as<std::string>();
    if (c.uas.local_ip.empty())
        c.uas.local_ip = (c.bind_address == "0.0.0.0" || c.bind_address == "::") ? "127.0.0.1" : c.bind_address;
    c.uas.local_port = c.port;

    c.uas.auto_answer = core::parse_bool("auto_answer", behavior["auto_answer"].as<std::string>());
    c.uas.answer_delay = std::chrono::milliseconds(in_range(behavior, "sip.behavior", "auto_answer_delay_ms", 0, 600000));
    double secs = behavior["tone_duration_seconds"].as<double>();
    if (!(secs > 0 && secs <= 86400)) throw core::config_error("[sip.behavior] tone_duration_seconds: must be in (0, 86400]");
    c.uas.tone_duration = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(secs));
    c.tone_frequency = behavior["tone_frequency"].as<double>();
    c.tone_level_dbfs = behavior["tone_level_dbfs"].as<double>();
    c.uas.max_calls = static_cast<std::size_t>(in_range(behavior, "sip.behavior", "max_concurrent_calls", 1, 100000));

    c.rtp_port_start = static_cast<std::uint16_t>(in_range(media, "sip.media", "rtp_port_range_start", 1024, 65534));
    c.rtp_port_end = static_cast<std::uint16_t>(in_range(media, "sip.media", "rtp_port_range_end", 1025, 65535));
    if (c.rtp_port_end <= c.rtp_port_start + 1)
        throw core::config_error("[sip.media] rtp_port_range_end must be above rtp_port_range_start + 1");
    c.uas.codecs.clear();
    std::stringstream list(media["preferred_codecs"].as<std::string>());
    for (std::string name; std::getline(list, name, ',');) {
        name.erase(std::remove_if(name.begin(), name.end(), [](unsigned char ch) { return std::isspace(ch); }), name.end());
        if (name.empty()) continue;
        name = upper(name);
        if (name != "PCMU" && name != "PCMA")
            throw core::config_error("[sip.media] preferred_codecs: '" + name + "' is not PCMU or PCMA");
        c.uas.codecs.push_back(name);
    }
    if (c.uas.codecs.empty()) throw core::config_error("[sip.media] preferred_codecs: empty");
    c.uas.enable_dtmf = core::parse_bool("enable_dtmf", media["enable_dtmf"].as<std::string>());
    c.sample_rate = static_cast<unsigned>(in_range(media, "sip.media", "audio_sample_rate", 8000, 8000));
    return c;
}

}  // namespace sb::sip
