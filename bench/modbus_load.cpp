// modbus_load: closed-loop Modbus/TCP load generator.
//
// Each client is one connection and one coroutine sending FC03 requests
// serially (the next one after the reply) with its own unit id and start
// address, so a reply that reaches the wrong client cannot pass the value
// check. Prints one line of JSON.
//
// --idle opens the connections, proves each with one request, prints
// {"idle_connected": N} and holds them until SIGINT/SIGTERM or stdin closes.

#include "modbus_bench.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;
using std::chrono::steady_clock;

namespace sb::bench {
namespace {

struct load_config {
    std::string target = "127.0.0.1:5020";
    int clients = 10;
    std::chrono::duration<double> duration{5.0};
    std::chrono::duration<double> warmup{1.0};
    std::uint16_t registers = 10;
    std::chrono::milliseconds timeout{5000};
    bool idle = false;
};

// Who a client pretends to be: its unit id and where it reads.
struct client_identity {
    std::uint8_t unit;
    std::uint16_t start;
};

client_identity identity_of(int index)
{
    return {static_cast<std::uint8_t>(index % 247 + 1),
            static_cast<std::uint16_t>((static_cast<unsigned>(index) * 7919u) % (65536u - max_read_registers))};
}

enum class verdict { ok, exception, mismatch, wrong_transaction };

verdict check_reply(const std::uint8_t* f, std::size_t size, std::uint16_t tid, client_identity who,
                    std::uint16_t quantity)
{
    if (get_u16(f) != tid)
        return verdict::wrong_transaction;
    if (f[6] != who.unit)
        return verdict::mismatch;
    const std::uint8_t fc = f[7];
    if (fc == 0x83)
        return verdict::exception;
    if (fc != 0x03 || size != 9u + 2u * quantity || f[8] != 2u * quantity)
        return verdict::mismatch;
    for (unsigned i = 0; i < quantity; ++i) {
        const auto address = static_cast<std::uint16_t>(who.start + i);
        if (get_u16(f + 9 + 2 * i) != initial_register_value(who.unit, address))
            return verdict::mismatch;
    }
    return verdict::ok;
}

// One client connection: the request it repeats and the bytes read so far.
class client_stream {
public:
    client_stream(client_identity who, std::uint16_t quantity) : who_(who), quantity_(quantity)
    {
        put_u16(request_.data() + 2, 0);
        put_u16(request_.data() + 4, 6);
        request_[6] = who.unit;
        request_[7] = 0x03;
        put_u16(request_.data() + 8, who.start);
        put_u16(request_.data() + 10, quantity);
    }

    asio::const_buffer next_request()
    {
        put_u16(request_.data(), ++tid_);
        return asio::buffer(request_);
    }

    // A complete frame at the front of the input, or 0 (and `bad` on garbage).
    std::size_t frame_ready(bool& bad) const
    {
        const auto scan = scan_mbap(in_.data(), have_);
        bad = scan.result == mbap_scan::status::bad_header;
        return scan.result == mbap_scan::status::complete ? scan.size : 0;
    }

    asio::mutable_buffer free_space() { return asio::buffer(in_.data() + have_, in_.size() - have_); }
    void commit(std::size_t n) { have_ += n; }

    verdict check_and_consume(std::size_t frame)
    {
        const verdict v = check_reply(in_.data(), frame, tid_, who_, quantity_);
        std::memmove(in_.data(), in_.data() + frame, have_ - frame);
        have_ -= frame;
        return v;
    }

private:
    client_identity who_;
    std::uint16_t quantity_;
    std::uint16_t tid_ = 0;
    std::array<std::uint8_t, 12> request_{};
    std::array<std::uint8_t, 2 * max_adu_size> in_{};
    std::size_t have_ = 0;
};

// `cancelled`: the watchdog gave up on this exchange and counts the timeout.
enum class exchange_result { ok, exception, mismatch, wrong_transaction, io_error, cancelled };

exchange_result io_failure(const boost::system::error_code& ec)
{
    return ec == asio::error::operation_aborted ? exchange_result::cancelled : exchange_result::io_error;
}

// One request and its reply; the caller bounds it with a watchdog.
asio::awaitable<exchange_result> exchange(tcp::socket& socket, client_stream& stream)
{
    auto [wec, wn] = co_await asio::async_write(socket, stream.next_request(), as_tuple(use_awaitable));
    if (wec)
        co_return io_failure(wec);
    for (;;) {
        bool bad = false;
        if (const std::size_t frame = stream.frame_ready(bad)) {
            switch (stream.check_and_consume(frame)) {
            case verdict::ok: co_return exchange_result::ok;
            case verdict::exception: co_return exchange_result::exception;
            case verdict::mismatch: co_return exchange_result::mismatch;
            case verdict::wrong_transaction: co_return exchange_result::wrong_transaction;
            }
        }
        if (bad)
            co_return exchange_result::io_error;
        auto [rec, n] = co_await socket.async_read_some(stream.free_space(), as_tuple(use_awaitable));
        if (rec)
            co_return io_failure(rec);
        stream.commit(n);
    }
}

// Returns once `deadline` has passed; the worker pushes it forward as it goes.
asio::awaitable<void> watchdog(const steady_clock::time_point& deadline)
{
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto now = steady_clock::now();
    while (deadline > now) {
        timer.expires_at(deadline);
        auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
        if (ec)
            co_return;
        now = steady_clock::now();
    }
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(as_tuple(use_awaitable));
}

// ---------------------------------------------------------------- load mode

struct load_run {
    explicit load_run(asio::io_context& io) : signals(io, SIGINT, SIGTERM) {}

    tcp::endpoint target;
    std::uint16_t registers = 0;
    std::chrono::milliseconds timeout{};
    steady_clock::time_point measure_start;
    steady_clock::time_point end;
    int live_clients = 0;
    asio::signal_set signals;

    std::vector<std::uint64_t> latencies_ns; // requests sent inside the measured window
    std::uint64_t total = 0;                 // every reply, warm-up included
    std::uint64_t errors = 0;
    std::uint64_t mismatches = 0;
    std::uint64_t timeouts = 0;
};

// Sends requests until the run ends; returns early when the connection must be
// replaced.
asio::awaitable<void> load_exchanges(tcp::socket& socket, client_stream& stream, load_run& run,
                                     steady_clock::time_point& deadline)
{
    while (steady_clock::now() < run.end) {
        const auto sent = steady_clock::now();
        deadline = sent + run.timeout;
        const exchange_result r = co_await exchange(socket, stream);
        const auto done = steady_clock::now();
        if (r != exchange_result::io_error && r != exchange_result::cancelled)
            ++run.total;
        switch (r) {
        case exchange_result::ok:
            if (sent >= run.measure_start && sent < run.end)
                run.latencies_ns.push_back(
                    static_cast<std::uint64_t>(std::chrono::nanoseconds(done - sent).count()));
            break;
        case exchange_result::exception: ++run.errors; break;
        case exchange_result::mismatch: ++run.mismatches; break;
        case exchange_result::wrong_transaction: ++run.mismatches; co_return; // out of step: reconnect
        case exchange_result::io_error: ++run.errors; co_return;
        case exchange_result::cancelled: co_return;
        }
    }
}

asio::awaitable<void> load_client(int index, std::shared_ptr<load_run> run)
{
    using namespace asio::experimental::awaitable_operators;
    const auto ex = co_await asio::this_coro::executor;
    while (steady_clock::now() < run->end) {
        tcp::socket socket(ex);
        auto [cec] = co_await socket.async_connect(run->target, as_tuple(use_awaitable));
        if (cec) {
            ++run->errors;
            co_await sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        client_stream stream(identity_of(index), run->registers);
        steady_clock::time_point deadline = steady_clock::now() + run->timeout;
        const auto outcome = co_await (load_exchanges(socket, stream, *run, deadline) || watchdog(deadline));
        if (outcome.index() == 1) {
            ++run->errors;
            ++run->timeouts;
        }
    }
    if (--run->live_clients == 0)
        run->signals.cancel();
}

asio::awaitable<void> end_early_on_signal(std::shared_ptr<load_run> run)
{
    auto [ec, signo] = co_await run->signals.async_wait(as_tuple(use_awaitable));
    if (!ec)
        run->end = steady_clock::now(); // clients finish their request in flight and stop
}

double percentile_us(const std::vector<std::uint64_t>& sorted, double q)
{
    if (sorted.empty())
        return 0.0;
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

int run_load(asio::io_context& io, const load_config& config, const tcp::endpoint& target)
{
    auto run = std::make_shared<load_run>(io);
    run->target = target;
    run->registers = config.registers;
    run->timeout = config.timeout;
    const auto start = steady_clock::now();
    run->measure_start = start + std::chrono::duration_cast<steady_clock::duration>(config.warmup);
    run->end = run->measure_start + std::chrono::duration_cast<steady_clock::duration>(config.duration);
    run->live_clients = config.clients;
    run->latencies_ns.reserve(1 << 20);

    asio::co_spawn(io, end_early_on_signal(run), asio::detached);
    for (int i = 0; i < config.clients; ++i)
        asio::co_spawn(io, load_client(i, run), asio::detached);
    io.run();

    const double window = std::chrono::duration<double>(run->end - run->measure_start).count();
    auto& lat = run->latencies_ns;
    std::sort(lat.begin(), lat.end());
    const double rps = window > 0 ? static_cast<double>(lat.size()) / window : 0.0;
    std::printf("{\"clients\":%d,\"requests\":%zu,\"errors\":%llu,\"mismatches\":%llu,\"rps\":%.1f,"
                "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"timeouts\":%llu,\"total_requests\":%llu,"
                "\"duration_s\":%.3f,\"registers\":%u}\n",
                config.clients, lat.size(), static_cast<unsigned long long>(run->errors),
                static_cast<unsigned long long>(run->mismatches), rps, percentile_us(lat, 0.50),
                percentile_us(lat, 0.99), percentile_us(lat, 1.0), static_cast<unsigned long long>(run->timeouts),
                static_cast<unsigned long long>(run->total), window, config.registers);
    std::fflush(stdout);
    return 0;
}

// ---------------------------------------------------------------- idle mode

// Enough handshakes in flight to be quick, few enough not to overflow the
// target's accept backlog (SYNs beyond it are dropped and retried after 1 s)
// or a multiplexer's request queue (tcpmux --queue-size defaults to 256).
constexpr int max_connecting = 128;

struct idle_run {
    explicit idle_run(asio::io_context& io)
        : signals(io, SIGINT, SIGTERM), input(io), slot_free(io, steady_clock::time_point::max())
    {
    }

    tcp::endpoint target;
    std::uint16_t registers = 0;
    std::chrono::milliseconds timeout{};
    int clients = 0;

    int connecting = 0;
    int finished = 0;
    int connected = 0;
    int failed = 0;
    int dropped = 0;
    bool stopping = false;
    std::vector<tcp::socket*> sockets; // by client, so that stop() can close them

    asio::signal_set signals;
    asio::posix::stream_descriptor input;
    asio::steady_timer slot_free; // cancelled whenever a connecting client finishes

    void stop()
    {
        if (stopping)
            return;
        stopping = true;
        boost::system::error_code ignored;
        for (tcp::socket* s : sockets)
            if (s)
                s->close(ignored);
        signals.cancel();
        input.close(ignored);
        slot_free.cancel();
    }
};

asio::awaitable<bool> probe(tcp::socket& socket, client_stream& stream)
{
    co_return co_await exchange(socket, stream) == exchange_result::ok;
}

asio::awaitable<bool> connect_and_probe(tcp::socket& socket, int index, idle_run& run)
{
    using namespace asio::experimental::awaitable_operators;
    for (int attempt = 0; attempt < 3 && !run.stopping; ++attempt) {
        if (attempt > 0) {
            boost::system::error_code ignored;
            socket.close(ignored);
            co_await sleep_for(std::chrono::milliseconds(100 * attempt));
            if (run.stopping)
                break;
        }
        auto [cec] = co_await socket.async_connect(run.target, as_tuple(use_awaitable));
        if (cec)
            continue;
        client_stream stream(identity_of(index), run.registers);
        const steady_clock::time_point deadline = steady_clock::now() + run.timeout;
        const auto outcome = co_await (probe(socket, stream) || watchdog(deadline));
        if (outcome.index() == 0 && std::get<0>(outcome))
            co_return true;
    }
    co_return false;
}

asio::awaitable<void> idle_client(int index, std::shared_ptr<idle_run> run)
{
    tcp::socket socket(co_await asio::this_coro::executor);
    run->sockets[index] = &socket;
    const bool ok = co_await connect_and_probe(socket, index, *run);

    --run->connecting;
    run->slot_free.cancel();
    ++(ok ? run->connected : run->failed);
    if (++run->finished == run->clients) {
        std::printf("{\"idle_connected\":%d,\"failed\":%d}\n", run->connected, run->failed);
        std::fflush(stdout);
        if (run->connected == 0)
            run->stop();
    }
    if (ok && !run->stopping) {
        // Nothing is expected: this read ends when the target drops us or at stop().
        std::array<std::uint8_t, 1> byte;
        co_await socket.async_read_some(asio::buffer(byte), as_tuple(use_awaitable));
        if (!run->stopping) {
            ++run->dropped;
            if (run->finished == run->clients && run->dropped == run->connected)
                run->stop(); // nothing left to hold
        }
    }
    run->sockets[index] = nullptr;
}

asio::awaitable<void> launch_idle_clients(std::shared_ptr<idle_run> run)
{
    const auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < run->clients && !run->stopping; ++i) {
        while (run->connecting >= max_connecting && !run->stopping) {
            run->slot_free.expires_at(steady_clock::time_point::max());
            co_await run->slot_free.async_wait(as_tuple(use_awaitable));
        }
        if (run->stopping)
            break;
        ++run->connecting;
        asio::co_spawn(ex, idle_client(i, run), asio::detached);
    }
}

asio::awaitable<void> wait_for_signal(asio::signal_set& signals)
{
    co_await signals.async_wait(as_tuple(use_awaitable));
}

asio::awaitable<void> wait_for_eof(asio::posix::stream_descriptor& input)
{
    std::array<char, 256> discard;
    for (;;) {
        auto [ec, n] = co_await input.async_read_some(asio::buffer(discard), as_tuple(use_awaitable));
        if (ec)
            co_return;
    }
}

asio::awaitable<void> stop_on_signal_or_eof(std::shared_ptr<idle_run> run)
{
    using namespace asio::experimental::awaitable_operators;
    if (run->input.is_open())
        co_await (wait_for_signal(run->signals) || wait_for_eof(run->input));
    else
        co_await wait_for_signal(run->signals);
    run->stop();
}

int run_idle(asio::io_context& io, const load_config& config, const tcp::endpoint& target)
{
    auto run = std::make_shared<idle_run>(io);
    run->target = target;
    run->registers = config.registers;
    run->timeout = config.timeout;
    run->clients = config.clients;
    run->sockets.assign(static_cast<std::size_t>(config.clients), nullptr);

    // stdin closing is a stop request when stdin is a pipe, socket or terminal;
    // /dev/null or a file would read as closed at once, so it is ignored.
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) == 0 &&
        (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(STDIN_FILENO))) {
        const int fd = ::dup(STDIN_FILENO);
        boost::system::error_code ec;
        if (fd >= 0)
            run->input.assign(fd, ec);
        if (fd >= 0 && ec)
            ::close(fd);
    }

    asio::co_spawn(io, stop_on_signal_or_eof(run), asio::detached);
    asio::co_spawn(io, launch_idle_clients(run), asio::detached);
    io.run();
    std::fprintf(stderr, "modbus_load: idle: %d connected, %d failed, %d dropped by the target before the end\n",
                 run->connected, run->failed, run->dropped);
    return run->failed == 0 ? 0 : 1;
}

// -------------------------------------------------------------- command line

void print_usage(std::ostream& os)
{
    os << "usage: modbus_load --target HOST:PORT [--clients N] [--duration S] [--registers N] [--warmup S]\n"
          "                   [--timeout-ms N] [--idle]\n"
          "  --target HOST:PORT  Modbus/TCP server or multiplexer (default 127.0.0.1:5020)\n"
          "  --clients N         connections, one client each (default 10)\n"
          "  --duration S        measured seconds (default 5)\n"
          "  --warmup S          seconds of load before measuring (default 1)\n"
          "  --registers N       registers per FC03 read, 1..125 (default 10)\n"
          "  --timeout-ms N      reply timeout; the connection is then replaced (default 5000)\n"
          "  --idle              connect, prove each connection with one request, print\n"
          "                      {\"idle_connected\":N,...} and hold until SIGTERM or stdin closes\n"
          "Output: one JSON line. requests = correct replies to requests sent in the measured window;\n"
          "errors = exception replies, timeouts, connection failures; mismatches = replies with the\n"
          "wrong transaction id, unit, function, size or register values.\n";
}

std::chrono::duration<double> parse_seconds(std::string_view option, std::string_view text, double min)
{
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !(value >= min) || value > 86400)
        throw std::invalid_argument(std::string(option) + ": expected seconds, got '" + std::string(text) + "'");
    return std::chrono::duration<double>(value);
}

load_config parse_args(int argc, char** argv)
{
    load_config config;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            print_usage(std::cout);
            std::exit(0);
        }
        if (arg == "--idle") {
            config.idle = true;
            continue;
        }
        if (i + 1 >= argc)
            throw std::invalid_argument(std::string(arg) + ": unknown option or missing value");
        const std::string_view value = argv[++i];
        if (arg == "--target")
            config.target = value;
        else if (arg == "--clients")
            config.clients = parse_number<int>(arg, value, 1, 1'000'000);
        else if (arg == "--duration")
            config.duration = parse_seconds(arg, value, 0.001);
        else if (arg == "--warmup")
            config.warmup = parse_seconds(arg, value, 0.0);
        else if (arg == "--registers")
            config.registers = parse_number<std::uint16_t>(arg, value, 1, max_read_registers);
        else if (arg == "--timeout-ms")
            config.timeout = std::chrono::milliseconds(parse_number<long>(arg, value, 1, 3'600'000));
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
    load_config config;
    tcp::endpoint target;
    try {
        config = parse_args(argc, argv);
        target = parse_endpoint(io, "--target", config.target);
    } catch (const std::exception& e) {
        std::cerr << "modbus_load: " << e.what() << "\n";
        print_usage(std::cerr);
        return 2;
    }
    raise_fd_limit();
    std::signal(SIGPIPE, SIG_IGN);
    return config.idle ? run_idle(io, config, target) : run_load(io, config, target);
}
