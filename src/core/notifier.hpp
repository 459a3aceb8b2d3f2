#pragma once
// Two small pieces every service's coroutines share. Only .cpp files of
// services include this (it pulls in Asio's timer and awaitable headers).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sb::core {

// A wake-up for coroutines: waiters check their condition, then wait;
// notify() wakes all of them. The timer never expires by itself, and a
// notify() with nobody waiting is a no-op (single thread: a waiter always
// re-checks its condition before waiting again).
class notifier {
public:
    explicit notifier(boost::asio::io_context& io) : timer_(io, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::awaitable<void> wait() {
        (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    void notify() { timer_.cancel(); }

private:
    boost::asio::steady_timer timer_;
};

// Counts a service's running coroutines, whatever way each one leaves, so
// stopped() can tell when nothing is left.
class live_guard {
public:
    explicit live_guard(int& live) : live_(live) { ++live_; }
    ~live_guard() { --live_; }
    live_guard(const live_guard&) = delete;
    live_guard& operator=(const live_guard&) = delete;

private:
    int& live_;
};

}  // namespace sb::core
