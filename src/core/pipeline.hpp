#pragma once
// The co_await pipeline of one client: frame its requests, pass each through
// the upstream pool, write the reply (or the protocol's error reply) back.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/protocol.hpp"
#include "core/session_registry.hpp"
#include "core/upstream_pool.hpp"

namespace sb::core {

struct pipeline_metrics {
    counter* requests = nullptr;      // answered by the upstream
    counter* failed = nullptr;        // answered with an error reply or closed
    counter* timeouts = nullptr;
    counter* queue_full = nullptr;
    counter* unavailable = nullptr;
    counter* bad_frames = nullptr;
    counter* clients_total = nullptr;
    histogram* latency = nullptr;
};

struct pipeline_context {
    const protocol& proto;
    std::shared_ptr<upstream_pool> pool;
    session_registry& sessions;
    logger log;
    pipeline_metrics metrics;
    std::size_t max_message = 0;
    clock::duration client_timeout{};  // zero: clients may stay idle forever
};

boost::asio::awaitable<void> serve_client(boost::asio::ip::tcp::socket socket, std::shared_ptr<pipeline_context> ctx,
                                          std::uint64_t id);

}  // namespace sb::core
