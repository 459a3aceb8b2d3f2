#pragma once
// A small HTTP endpoint for metrics, health and plugin status pages. Bound to
// loopback unless configured otherwise; GET only; bounded connections.
#include <functional>
#include <memory>
#include <string>

#include "core/endpoint.hpp"
#include "core/log.hpp"

namespace boost::asio {
class io_context;
}

namespace sb::core {

struct http_reply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

using http_handler = std::function<http_reply(const std::string& target)>;

class admin_http {
public:
    admin_http(boost::asio::io_context& io, endpoint listen, logger log);
    ~admin_http();

    // Exact path match ("/metrics"); the query string is passed to the handler.
    void route(std::string path, http_handler handler);
    void start();  // binds now (throws on failure), then serves
    void stop();
    endpoint local_endpoint() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace sb::core
