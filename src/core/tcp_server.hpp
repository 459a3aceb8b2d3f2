#pragma once
// Accepts TCP clients up to a limit and hands each to a session coroutine.
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/endpoint.hpp"
#include "core/log.hpp"
#include "core/session_registry.hpp"

namespace sb::core {

// Resolves, binds and listens; throws std::system_error naming the address.
void open_listener(boost::asio::ip::tcp::acceptor& acceptor, const endpoint& where);

class tcp_server {
public:
    // Called for each accepted client; spawns its session coroutine.
    using on_accept = std::function<void(boost::asio::ip::tcp::socket, std::uint64_t id)>;

    tcp_server(boost::asio::io_context& io, endpoint listen, std::size_t max_clients, logger log, on_accept handler);
    ~tcp_server();

    void start();  // binds and listens now: throws std::system_error naming the address
    void stop();   // stops accepting; sessions are the owner's business
    endpoint local_endpoint() const;
    session_registry& sessions();
    std::uint64_t rejected() const;

    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace sb::core
