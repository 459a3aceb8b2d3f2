#pragma once
// The live sessions of one service, so shutdown can close idle ones at once
// and busy ones after the grace period. Sessions add themselves on start and
// remove themselves on exit (session_registry::guard).
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <list>

namespace sb::core {

class session_registry {
public:
    struct entry {
        boost::asio::ip::tcp::socket* socket;
        std::uint64_t id;
        bool busy = false;  // a request is being served: let it finish
    };
    using handle = std::list<entry>::iterator;

    class guard {
    public:
        guard(session_registry& r, boost::asio::ip::tcp::socket& s, std::uint64_t id) : reg_(r), it_(r.add(s, id)) {}
        ~guard() { reg_.remove(it_); }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        void busy(bool b) { it_->busy = b; }

    private:
        session_registry& reg_;
        handle it_;
    };

    handle add(boost::asio::ip::tcp::socket& s, std::uint64_t id) { return entries_.insert(entries_.end(), {&s, id}); }
    void remove(handle h) { entries_.erase(h); }
    std::size_t size() const { return entries_.size(); }
    bool stopping() const { return stopping_; }

    // Sessions check stopping() after each request and leave; idle ones are
    // waiting in a read and are woken by closing their socket.
    void close_idle() {
        stopping_ = true;
        for (auto& e : entries_)
            if (!e.busy) shut(e);
    }
    void close_all() {
        stopping_ = true;
        for (auto& e : entries_) shut(e);
    }

private:
    static void shut(entry& e) {
        boost::system::error_code ignored;
        e.socket->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        e.socket->cancel(ignored);
    }
    std::list<entry> entries_;
    bool stopping_ = false;
};

}  // namespace sb::core
