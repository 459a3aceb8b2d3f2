#pragma once
// Shared between the link implementations (stream_links.cpp, ws_connect.cpp).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "websocket/links.hpp"

namespace sb::ws::detail {

// Resolve and connect within the timeout, trying every address.
boost::asio::awaitable<error_code> connect_within(boost::asio::ip::tcp::socket& sock, const std::string& host,
                                                  const std::string& port, std::chrono::milliseconds timeout);

std::unique_ptr<service_link> make_ws_service(boost::asio::any_io_executor ex, const server_profile& p,
                                              std::chrono::milliseconds connect_timeout,
                                              std::chrono::milliseconds ping_interval);

}  // namespace sb::ws::detail
