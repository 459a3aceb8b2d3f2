#pragma once
// A small HTTP endpoint for metrics, health and plugin status pages, and the
// server of a plugin's REST API. Bound to loopback unless configured
// otherwise; GET only unless the options allow more; bounded connections,
// header and body sizes.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
    std::vector<std::pair<std::string, std::string>> headers = {};  // extra ones, e.g. WWW-Authenticate
};

using http_handler = std::function<http_reply(const std::string& target)>;

struct http_request {
    std::string method;  // "GET", "POST", ... as sent
    std::string target;  // path and query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The first header of that name (case-insensitive); empty if absent.
    std::string_view header(std::string_view name) const;
};

// Answers by calling respond once, now or later (e.g. after a modem
// replied). A reply that does not come within reply_timeout is a 504.
using http_responder = std::function<void(http_reply)>;
using http_request_handler = std::function<void(http_request, http_responder respond)>;

struct http_options {
    bool read_only = true;  // anything but GET/HEAD is 405
    // Called once the header is read, before the body (http_request.body
    // empty): a reply answers at once and the body is never read, so an
    // unauthenticated client cannot make the server buffer max bodies.
    std::function<std::optional<http_reply>(const http_request&)> check_header;
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 16 * 1024;  // larger bodies are 413
    std::size_t max_sessions = 64;
    std::chrono::seconds reply_timeout{60};
};

class admin_http {
public:
    admin_http(boost::asio::io_context& io, endpoint listen, logger log, http_options options = {});
    ~admin_http();

    // Exact path match ("/metrics"); the query string is passed to the handler.
    void route(std::string path, http_handler handler);
    // Every request no GET route matched.
    void fallback(http_request_handler handler);
    void start();  // binds now (throws on failure), then serves
    void stop();
    endpoint local_endpoint() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace sb::core
