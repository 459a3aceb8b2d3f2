// The byte-stream links: Telnet users, and telnet:// and tcp:// servers.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/telnet.hpp"
#include "websocket/links.hpp"
#include "websocket/links_detail.hpp"

namespace sb::ws {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

class telnet_user final : public user_link {
public:
    telnet_user(tcp::socket sock, std::chrono::milliseconds junk_time)
        : sock_(std::move(sock)),
          telnet_(core::telnet_policy::echoing_server()),
          junk_until_(std::chrono::steady_clock::now() + junk_time) {}

    awaitable<error_code> read(std::string& data, std::string& control) override {
        if (!greeted_) {
            // Our offers go out before anything is read: clients wait for them.
            greeted_ = true;
            control += telnet_.start();
            co_return error_code{};
        }
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), tuple_awaitable);
        if (ec) co_return ec;
        std::string decoded;
        telnet_.decode(std::string_view(buf_.data(), n), decoded, control);
        // Some clients type or paste a greeting of their own right after
        // connecting; a Minitel service would read it as keys.
        if (std::chrono::steady_clock::now() >= junk_until_) data += decoded;
        co_return ec;
    }
    void encode(std::string_view raw, std::string& wire) const override { core::telnet_session::encode(raw, wire); }
    bool wire_is_raw() const override { return false; }
    awaitable<error_code> write(std::string_view wire) override {
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(wire.data(), wire.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<void> close_gracefully(bool) override {
        error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
    }
    void close_now() override {
        error_code ignored;
        sock_.close(ignored);
    }

private:
    tcp::socket sock_;
    core::telnet_session telnet_;
    std::chrono::steady_clock::time_point junk_until_;
    bool greeted_ = false;
    std::array<char, 16 * 1024> buf_;
};

class raw_service : public service_link {
public:
    raw_service(asio::any_io_executor ex, service_url url, std::chrono::milliseconds timeout)
        : sock_(ex), url_(std::move(url)), timeout_(timeout) {}

    awaitable<error_code> connect() override {
        auto ec = co_await detail::connect_within(sock_, url_.host, url_.port, timeout_);
        if (!ec) {
            error_code ignored;
            sock_.set_option(tcp::no_delay(true), ignored);
        }
        co_return ec;
    }
    awaitable<error_code> read(std::string& data, std::string& control) override {
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), tuple_awaitable);
        if (!ec) decode(std::string_view(buf_.data(), n), data, control);
        co_return ec;
    }
    awaitable<error_code> write(std::string_view raw) override {
        std::string wire;
        const std::string_view out = encode(raw, wire);
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out.data(), out.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<error_code> write_control(std::string_view wire) override {
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(wire.data(), wire.size()), tuple_awaitable);
        co_return ec;
    }
    awaitable<void> close_gracefully() override {
        error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
    }
    void close_now() override {
        error_code ignored;
        sock_.close(ignored);
    }

protected:
    virtual void decode(std::string_view in, std::string& data, std::string&) { data.append(in); }
    virtual std::string_view encode(std::string_view raw, std::string&) { return raw; }

    tcp::socket sock_;
    service_url url_;
    std::chrono::milliseconds timeout_;
    std::array<char, 256 * 1024> buf_;
};

class telnet_service final : public raw_service {
public:
    using raw_service::raw_service;

    awaitable<error_code> connect() override {
        auto ec = co_await raw_service::connect();
        if (ec) co_return ec;
        const auto hello = telnet_.start();
        co_return co_await write_control(hello);
    }

private:
    void decode(std::string_view in, std::string& data, std::string& control) override {
        telnet_.decode(in, data, control);
    }
    std::string_view encode(std::string_view raw, std::string& wire) override {
        core::telnet_session::encode(raw, wire);
        return wire;
    }

    core::telnet_session telnet_;
};

}  // namespace

awaitable<error_code> detail::connect_within(tcp::socket& sock, const std::string& host, const std::string& port,
                                     std::chrono::milliseconds timeout) {
    asio::steady_timer timer(sock.get_executor(), timeout);
    tcp::resolver resolver(sock.get_executor());
    auto attempt = [&]() -> awaitable<error_code> {
        auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
        if (rec) co_return rec;
        auto [cec, ep] = co_await asio::async_connect(sock, results, tuple_awaitable);
        co_return cec;
    };
    auto r = co_await (attempt() || timer.async_wait(tuple_awaitable));
    if (r.index() == 1) co_return asio::error::timed_out;
    co_return std::get<0>(r);
}

std::unique_ptr<user_link> make_telnet_user(tcp::socket sock, std::chrono::milliseconds junk_time) {
    error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    return std::make_unique<telnet_user>(std::move(sock), junk_time);
}

std::unique_ptr<service_link> make_service_link(asio::any_io_executor ex, const server_profile& p,
                                                std::chrono::milliseconds connect_timeout,
                                                std::chrono::milliseconds ping_interval) {
    switch (p.url.kind) {
    case service_url::scheme::ws: return detail::make_ws_service(ex, p, connect_timeout, ping_interval);
    case service_url::scheme::telnet: return std::make_unique<telnet_service>(ex, p.url, connect_timeout);
    case service_url::scheme::tcp:
    case service_url::scheme::local: break;
    }
    return std::make_unique<raw_service>(ex, p.url, connect_timeout);
}

}  // namespace sb::ws
