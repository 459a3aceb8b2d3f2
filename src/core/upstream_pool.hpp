#pragma once
// A pool of connections to one upstream target shared by every client.
// Each slot owns one connection and one reconnect loop (exponential, jittered
// backoff). Requests wait in one bounded queue; a full queue or a pool with no
// reachable upstream is answered at once with an error, never a silent block.
// With a protocol that carries ids, a slot keeps up to `pipeline` requests
// outstanding and matches replies by its own tag.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

#include "core/endpoint.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/protocol.hpp"

namespace sb::core {

using clock = std::chrono::steady_clock;

struct pool_config {
    endpoint target;
    std::size_t connections = 1;   // --max-connections
    std::size_t pipeline = 1;      // outstanding requests per connection
    std::size_t queue_size = 256;  // requests waiting for a connection
    std::size_t max_message = 0;   // 0: the protocol's default
    clock::duration timeout = std::chrono::seconds(5);  // per request, queue time included
    clock::duration connect_timeout = std::chrono::seconds(3);
    clock::duration delay = clock::duration::zero();  // after connecting, before the first request
    clock::duration reconnect_backoff = std::chrono::milliseconds(100);
    clock::duration reconnect_backoff_max = std::chrono::seconds(10);
    clock::duration health_check_interval = std::chrono::seconds(10);  // zero: off
};

// One request in flight. A client session keeps one and reuses it, so the
// steady state allocates nothing; the pool may still hold it after the client
// gave up (deadline), which is why it is shared.
struct exchange_request {
    explicit exchange_request(const boost::asio::any_io_executor& ex) : timer(ex) {}

    std::vector<std::uint8_t> data;      // the request as sent upstream (tag rewritten)
    std::vector<std::uint8_t> response;  // the reply, tag restored by the caller
    std::error_code ec;
    boost::asio::steady_timer timer;  // the client waits here until done or the deadline
    clock::time_point submitted{};
    clock::time_point deadline{};
    bool done = false;
    bool upstream_closes = false;  // the reply ended its connection (HTTP Connection: close)
};

struct pool_stats {
    std::size_t queued = 0;
    std::size_t in_flight = 0;
    std::size_t connected = 0;  // slots with a live connection
    std::size_t slots = 0;
};

class upstream_pool {
public:
    upstream_pool(boost::asio::io_context& io, const protocol& proto, pool_config cfg, logger log);
    ~upstream_pool();
    upstream_pool(const upstream_pool&) = delete;
    upstream_pool& operator=(const upstream_pool&) = delete;

    void start();
    // Queued requests fail with errc::shutting_down; requests already sent
    // get their replies until grace ends, then every connection is closed.
    void stop(clock::duration grace);

    // Sends req->data and fills req->response; returns ok or why not
    // (queue_full, upstream_unavailable, request_timeout, upstream_failed,
    // shutting_down). Never takes longer than the configured timeout.
    boost::asio::awaitable<std::error_code> exchange(std::shared_ptr<exchange_request> req);

    pool_stats stats() const;
    bool stopped() const;  // stop() was called and every connection is closed
    const pool_config& config() const;

    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace sb::core
