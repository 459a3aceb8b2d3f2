// modbus_server: a simulated Modbus/TCP device for benchmarks and demos.
//
// One coroutine per connection. Like a real device it works through the
// requests of a connection strictly in order, one at a time, each taking
// --delay-us; different connections are served concurrently.
//
// Register map: every unit u starts with register a = (u*1000 + a) & 0xFFFF.
// FC03 reads holding registers, FC04 input registers; FC06/FC16 write holding
// registers (kept per unit, in memory), which FC03 then returns. Input
// registers are read-only, as on real devices.

#include "modbus_bench.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

namespace sb::bench {
namespace {

constexpr std::uint8_t illegal_function = 0x01;
constexpr std::uint8_t illegal_data_address = 0x02;
constexpr std::uint8_t illegal_data_value = 0x03;
constexpr std::uint16_t max_write_registers = 123;

struct server_config {
    std::string listen = "127.0.0.1:1502";
    std::chrono::microseconds delay{0};
    std::optional<std::uint8_t> unit; // empty: answer every unit id
};

// Holding registers of one unit, materialised on its first write.
using register_bank = std::array<std::uint16_t, 65536>;

class device {
public:
    explicit device(const server_config& config) : delay_(config.delay), unit_(config.unit) {}

    std::chrono::microseconds delay() const { return delay_; }

    // Builds the reply to one complete request frame into `out` and returns its
    // size; 0 means the request is not for us and gets no reply (a device on a
    // serial bus behind a gateway stays silent when it is not addressed).
    std::size_t handle(const std::uint8_t* req, std::size_t size, std::uint8_t* out)
    {
        const std::uint8_t unit = req[6];
        if (unit_ && *unit_ != unit)
            return 0;
        const std::uint8_t* pdu = req + mbap_size;
        const std::size_t pdu_size = size - mbap_size; // >= 1: the MBAP length is >= 2
        std::uint8_t* rsp = out + mbap_size;
        std::size_t rsp_size = 0;
        const std::uint8_t fc = pdu[0];
        std::uint8_t exception = 0;
        switch (fc) {
        case 0x03:
        case 0x04: {
            if (pdu_size != 5) {
                exception = illegal_data_value;
                break;
            }
            const std::uint16_t address = get_u16(pdu + 1);
            const std::uint16_t quantity = get_u16(pdu + 3);
            if (quantity < 1 || quantity > max_read_registers) {
                exception = illegal_data_value;
                break;
            }
            if (address + quantity > 65536u) {
                exception = illegal_data_address;
                break;
            }
            const register_bank* bank = fc == 0x03 ? banks_[unit].get() : nullptr;
            rsp[0] = fc;
            rsp[1] = static_cast<std::uint8_t>(quantity * 2);
            for (unsigned i = 0; i < quantity; ++i) {
                const auto a = static_cast<std::uint16_t>(address + i);
                put_u16(rsp + 2 + 2 * i, bank ? (*bank)[a] : initial_register_value(unit, a));
            }
            rsp_size = 2 + 2u * quantity;
            break;
        }
        case 0x06: {
            if (pdu_size != 5) {
                exception = illegal_data_value;
                break;
            }
            bank(unit)[get_u16(pdu + 1)] = get_u16(pdu + 3);
            std::memcpy(rsp, pdu, 5); // the reply echoes the request
            rsp_size = 5;
            break;
        }
        case 0x10: {
            if (pdu_size < 6) {
                exception = illegal_data_value;
                break;
            }
            const std::uint16_t address = get_u16(pdu + 1);
            const std::uint16_t quantity = get_u16(pdu + 3);
            const std::uint8_t byte_count = pdu[5];
            if (quantity < 1 || quantity > max_write_registers || byte_count != quantity * 2 ||
                pdu_size != 6u + byte_count) {
                exception = illegal_data_value;
                break;
            }
            if (address + quantity > 65536u) {
                exception = illegal_data_address;
                break;
            }
            register_bank& b = bank(unit);
            for (unsigned i = 0; i < quantity; ++i)
                b[static_cast<std::uint16_t>(address + i)] = get_u16(pdu + 6 + 2 * i);
            std::memcpy(rsp, pdu, 5); // fc, address, quantity
            rsp_size = 5;
            break;
        }
        default:
            exception = illegal_function;
            break;
        }
        if (exception != 0) {
            rsp[0] = static_cast<std::uint8_t>(fc | 0x80);
            rsp[1] = exception;
            rsp_size = 2;
        }
        std::memcpy(out, req, 4); // transaction id, protocol id
        put_u16(out + 4, static_cast<std::uint16_t>(rsp_size + 1));
        out[6] = unit;
        return mbap_size + rsp_size;
    }

    // Sessions register their socket and timer so that shutdown can cancel them.
    struct session_handles {
        tcp::socket* socket;
        asio::steady_timer* timer;
    };

    std::uint64_t add_session(session_handles h)
    {
        sessions_.emplace(++last_session_, h);
        return last_session_;
    }

    void remove_session(std::uint64_t id) { sessions_.erase(id); }

    void cancel_sessions()
    {
        for (auto& [id, h] : sessions_) {
            boost::system::error_code ignored;
            h.socket->shutdown(tcp::socket::shutdown_both, ignored);
            h.socket->close(ignored);
            h.timer->cancel();
        }
    }

private:
    register_bank& bank(std::uint8_t unit)
    {
        auto& b = banks_[unit];
        if (!b) {
            b = std::make_unique<register_bank>();
            for (std::size_t a = 0; a < b->size(); ++a)
                (*b)[a] = initial_register_value(unit, static_cast<std::uint16_t>(a));
        }
        return *b;
    }

    std::chrono::microseconds delay_;
    std::optional<std::uint8_t> unit_;
    std::array<std::unique_ptr<register_bank>, 256> banks_;
    std::unordered_map<std::uint64_t, session_handles> sessions_;
    std::uint64_t last_session_ = 0;
};

asio::awaitable<void> serve_session(tcp::socket socket, std::shared_ptr<device> dev)
{
    asio::steady_timer timer(socket.get_executor());
    const std::uint64_t id = dev->add_session({&socket, &timer});
    struct unregister {
        device& d;
        std::uint64_t id;
        ~unregister() { d.remove_session(id); }
    } guard{*dev, id};

    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);

    const bool delayed = dev->delay().count() > 0;
    std::array<std::uint8_t, 4096> in;     // always room for a whole frame after compaction
    std::vector<std::uint8_t> out(16384); // replies to the requests of one read, sent together
    std::size_t have = 0;
    bool bad_header = false;
    while (!bad_header) {
        auto [rec, n] = co_await socket.async_read_some(asio::buffer(in.data() + have, in.size() - have),
                                                        as_tuple(use_awaitable));
        if (rec)
            co_return;
        have += n;

        std::size_t pos = 0;
        std::size_t out_size = 0;
        for (;;) {
            const auto scan = scan_mbap(in.data() + pos, have - pos);
            if (scan.result == mbap_scan::status::need_more)
                break;
            if (scan.result == mbap_scan::status::bad_header) {
                bad_header = true; // answer what came before it, then hang up
                break;
            }
            if (out.size() - out_size < max_adu_size)
                out.resize(out.size() * 2);
            const std::size_t reply = dev->handle(in.data() + pos, scan.size, out.data() + out_size);
            pos += scan.size;
            if (!delayed) {
                out_size += reply;
                continue;
            }
            if (reply == 0)
                continue;
            timer.expires_after(dev->delay());
            auto [tec] = co_await timer.async_wait(as_tuple(use_awaitable));
            if (tec)
                co_return;
            auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out.data(), reply),
                                                        as_tuple(use_awaitable));
            if (wec)
                co_return;
        }
        if (out_size > 0) {
            auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out.data(), out_size),
                                                        as_tuple(use_awaitable));
            if (wec)
                co_return;
        }
        std::memmove(in.data(), in.data() + pos, have - pos);
        have -= pos;
    }
    socket.shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::shared_ptr<device> dev)
{
    asio::steady_timer backoff(acceptor.get_executor());
    while (acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
            co_return;
        if (ec) {
            // Out of descriptors or similar: give the sessions a moment to finish.
            backoff.expires_after(std::chrono::milliseconds(10));
            auto [bec] = co_await backoff.async_wait(as_tuple(use_awaitable));
            if (bec)
                co_return;
            continue;
        }
        asio::co_spawn(acceptor.get_executor(), serve_session(std::move(socket), dev), asio::detached);
    }
}

asio::awaitable<void> wait_for_signal(asio::signal_set& signals)
{
    co_await signals.async_wait(as_tuple(use_awaitable));
}

asio::awaitable<void> run_server(tcp::acceptor acceptor, std::shared_ptr<device> dev)
{
    using namespace asio::experimental::awaitable_operators;
    asio::signal_set signals(acceptor.get_executor(), SIGINT, SIGTERM);
    co_await (accept_loop(acceptor, dev) || wait_for_signal(signals));
    // Sessions end when their socket closes; the io_context then runs out of work.
    boost::system::error_code ignored;
    acceptor.close(ignored);
    dev->cancel_sessions();
}

void print_usage(std::ostream& os)
{
    os << "usage: modbus_server [--listen HOST:PORT] [--delay-us N] [--unit N]\n"
          "  --listen HOST:PORT  address to listen on (default 127.0.0.1:1502; port 0 picks a free one)\n"
          "  --delay-us N        time the device takes per request, in microseconds (default 0)\n"
          "  --unit N            answer only unit id N (1..255) and ignore others (default: answer any unit)\n"
          "Simulated device: register a of unit u holds (u*1000 + a) & 0xFFFF until written.\n"
          "Function codes 03, 04, 06, 16; others get exception 01. Stops on SIGINT/SIGTERM.\n";
}

server_config parse_args(int argc, char** argv)
{
    server_config config;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            print_usage(std::cout);
            std::exit(0);
        }
        if (i + 1 >= argc)
            throw std::invalid_argument(std::string(arg) + ": unknown option or missing value");
        const std::string_view value = argv[++i];
        if (arg == "--listen")
            config.listen = value;
        else if (arg == "--delay-us")
            config.delay = std::chrono::microseconds(parse_number<long>(arg, value, 0, 60'000'000));
        else if (arg == "--unit")
            config.unit = parse_number<std::uint8_t>(arg, value, 1, 255);
        else
            throw std::invalid_argument(std::string(arg) + ": unknown option");
    }
    return config;
}

} // namespace
} // namespace sb::bench

int main(int argc, char** argv)
{
    using namespace sb::bench;
    asio::io_context io(1);
    server_config config;
    tcp::endpoint endpoint;
    try {
        config = parse_args(argc, argv);
        endpoint = parse_endpoint(io, "--listen", config.listen);
    } catch (const std::exception& e) {
        std::cerr << "modbus_server: " << e.what() << "\n";
        print_usage(std::cerr);
        return 2;
    }
    raise_fd_limit();

    tcp::acceptor acceptor(io);
    boost::system::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec)
        acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
        acceptor.bind(endpoint, ec);
    if (!ec)
        acceptor.listen(tcp::acceptor::max_listen_connections, ec);
    if (ec) {
        std::cerr << "modbus_server: cannot listen on " << config.listen << ": " << ec.message() << "\n";
        return 1;
    }
    std::cout << "listening on " << acceptor.local_endpoint() << std::endl;

    auto dev = std::make_shared<device>(config);
    asio::co_spawn(io, run_server(std::move(acceptor), dev), asio::detached);
    io.run();
    return 0;
}
