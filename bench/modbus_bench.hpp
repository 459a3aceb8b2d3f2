// Shared by the Modbus/TCP benchmark tools: the simulated register map, the
// MBAP header rules and the small command-line helpers both binaries need.
// Kept header-only so bench/ stays independent of the libraries it measures.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <sys/resource.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sb::bench {

// MBAP header: transaction id (2), protocol id (2), length (2), unit id (1).
inline constexpr std::size_t mbap_size = 7;
// The length field counts the unit id and the PDU; a PDU is at most 253 bytes.
inline constexpr std::size_t min_mbap_length = 2;
inline constexpr std::size_t max_mbap_length = 254;
inline constexpr std::size_t max_adu_size = 6 + max_mbap_length;
inline constexpr std::uint16_t max_read_registers = 125;

// Every unit starts with this value in every register, so a reader can check
// a reply without knowing what the server holds; a client reading another
// client's unit or address sees different numbers.
constexpr std::uint16_t initial_register_value(std::uint8_t unit, std::uint16_t address)
{
    return static_cast<std::uint16_t>((unit * 1000u + address) & 0xFFFFu);
}

inline std::uint16_t get_u16(const std::uint8_t* p)
{
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline void put_u16(std::uint8_t* p, std::uint16_t v)
{
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v & 0xFF);
}

// Sans-I/O framing of one MBAP frame at the start of `data`.
struct mbap_scan {
    enum class status { need_more, complete, bad_header };
    status result;
    std::size_t size; // whole frame, header included, when complete
};

inline mbap_scan scan_mbap(const std::uint8_t* data, std::size_t size)
{
    if (size < 6)
        return {mbap_scan::status::need_more, 0};
    const std::uint16_t protocol = get_u16(data + 2);
    const std::uint16_t length = get_u16(data + 4);
    if (protocol != 0 || length < min_mbap_length || length > max_mbap_length)
        return {mbap_scan::status::bad_header, 0};
    const std::size_t frame = 6u + length;
    if (size < frame)
        return {mbap_scan::status::need_more, 0};
    return {mbap_scan::status::complete, frame};
}

// "HOST:PORT", "[v6]:PORT" or ":PORT"; names are resolved once at start-up.
inline boost::asio::ip::tcp::endpoint parse_endpoint(boost::asio::io_context& io, std::string_view option,
                                                     std::string_view text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
        throw std::invalid_argument(std::string(option) + ": expected HOST:PORT, got '" + std::string(text) + "'");
    std::string host(text.substr(0, colon));
    const std::string port(text.substr(colon + 1));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty())
        host = "0.0.0.0";
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535)
        throw std::invalid_argument(std::string(option) + ": bad port in '" + std::string(text) + "'");
    boost::asio::ip::tcp::resolver resolver(io);
    boost::system::error_code rec;
    auto results = resolver.resolve(host, port, boost::asio::ip::resolver_base::numeric_service, rec);
    if (rec || results.empty())
        throw std::invalid_argument(std::string(option) + ": cannot resolve '" + host + "': " + rec.message());
    return results.begin()->endpoint();
}

template <typename T>
T parse_number(std::string_view option, std::string_view text, T min, T max)
{
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw std::invalid_argument(std::string(option) + ": expected a number in [" + std::to_string(min) + ", " +
                                    std::to_string(max) + "], got '" + std::string(text) + "'");
    return value;
}

// Thousands of sockets need more than the usual soft limit of 1024.
inline void raise_fd_limit()
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

} // namespace sb::bench
