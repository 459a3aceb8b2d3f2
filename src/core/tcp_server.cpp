#include "core/tcp_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sb::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

struct tcp_server::state {
    state(asio::io_context& i, endpoint l, std::size_t m, logger lg, on_accept h)
        : io(i), listen(std::move(l)), max_clients(m), log(std::move(lg)), handler(std::move(h)), acceptor(i) {}
    asio::io_context& io;
    endpoint listen;
    std::size_t max_clients;
    logger log;
    on_accept handler;
    tcp::acceptor acceptor;
    session_registry sessions;
    std::uint64_t next_id = 1;
    std::uint64_t rejected = 0;
    bool stopping = false;
};

namespace {
asio::awaitable<void> accept_loop(std::shared_ptr<tcp_server::state> st) {
    asio::steady_timer pause(st->io);
    for (;;) {
        auto [ec, socket] = co_await st->acceptor.async_accept(as_tuple(use_awaitable));
        if (st->stopping) co_return;
        if (ec) {
            // EMFILE and friends: wait a little instead of spinning on accept.
            SB_LOG(st->log, warning) << "accept on " << st->listen.to_string() << ": " << ec.message();
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(as_tuple(use_awaitable));
            continue;
        }
        if (st->sessions.size() >= st->max_clients) {
            ++st->rejected;
            SB_LOG(st->log, warning) << "client limit " << st->max_clients << " reached: refusing "
                                     << socket.remote_endpoint(ec).address().to_string();
            continue;  // closing the socket is the answer
        }
        st->handler(std::move(socket), st->next_id++);
    }
}
}  // namespace

tcp_server::tcp_server(asio::io_context& io, endpoint listen, std::size_t max_clients, logger log, on_accept handler)
    : state_(std::make_shared<state>(io, std::move(listen), max_clients, std::move(log), std::move(handler))) {}

tcp_server::~tcp_server() { stop(); }

void open_listener(tcp::acceptor& acceptor, const endpoint& where) {
    boost::system::error_code ec;
    tcp::resolver resolver(acceptor.get_executor());
    auto results = resolver.resolve(where.host, std::to_string(where.port), tcp::resolver::passive, ec);
    if (ec) throw std::system_error(ec, "cannot resolve listen address " + where.to_string());
    tcp::endpoint ep = results.begin()->endpoint();
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + where.to_string());
    acceptor.listen(asio::socket_base::max_listen_connections);
}

void tcp_server::start() {
    auto& st = *state_;
    open_listener(st.acceptor, st.listen);
    asio::co_spawn(st.io, accept_loop(state_), asio::detached);
}

void tcp_server::stop() {
    state_->stopping = true;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
}

endpoint tcp_server::local_endpoint() const {
    boost::system::error_code ec;
    auto ep = state_->acceptor.local_endpoint(ec);
    return {ep.address().to_string(), ep.port()};
}

session_registry& tcp_server::sessions() { return state_->sessions; }
std::uint64_t tcp_server::rejected() const { return state_->rejected; }

}  // namespace sb::core
