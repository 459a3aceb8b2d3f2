#include "mux/mux_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/metrics.hpp"
#include "core/pipeline.hpp"
#include "core/tcp_server.hpp"
#include "protocols/builtin.hpp"

namespace sb::mux {

namespace asio = boost::asio;

const core::protocol& find_protocol(const core::protocol_registry& reg, const std::string& name) {
    if (auto p = reg.find(name)) return *p;
    std::string known;
    for (auto* p : reg.sorted()) known += (known.empty() ? "" : ", ") + std::string(p->name());
    throw core::config_error("option '--applicationProtocol': '" + name + "' is not a known protocol (known: " + known + ")");
}

namespace {

class mux_service final : public core::service {
public:
    mux_service(const core::protocol& proto, mux_config cfg, core::host_context& host)
        : cfg_(std::move(cfg)),
          io_(host.io),
          log_(host.log.with_channel("mux." + cfg_.name)),
          pool_(std::make_shared<core::upstream_pool>(host.io, proto, cfg_.pool, log_)),
          grace_timer_(host.io) {
        auto& m = host.metrics;
        const std::string l = "mux=\"" + cfg_.name + "\"";
        core::pipeline_metrics pm;
        pm.requests = &m.add_counter("sb_mux_requests_total", "Requests answered by the upstream", l);
        pm.failed = &m.add_counter("sb_mux_failed_requests_total", "Requests answered with an error or not at all", l);
        pm.timeouts = &m.add_counter("sb_mux_errors_total", "Failures by kind", l + ",kind=\"timeout\"");
        pm.queue_full = &m.add_counter("sb_mux_errors_total", "Failures by kind", l + ",kind=\"queue_full\"");
        pm.unavailable = &m.add_counter("sb_mux_errors_total", "Failures by kind", l + ",kind=\"upstream_unavailable\"");
        pm.bad_frames = &m.add_counter("sb_mux_errors_total", "Failures by kind", l + ",kind=\"bad_frame\"");
        pm.clients_total = &m.add_counter("sb_mux_clients_total", "Clients accepted", l);
        pm.latency = &m.add_histogram("sb_mux_request_duration_seconds", "Request latency through the pool", l);
        auto pool = pool_;
        m.add_gauge("sb_mux_queue_depth", "Requests waiting for an upstream connection", l,
                    [pool] { return double(pool->stats().queued); });
        m.add_gauge("sb_mux_in_flight", "Requests sent upstream and not yet answered", l,
                    [pool] { return double(pool->stats().in_flight); });
        m.add_gauge("sb_mux_upstream_connected", "Upstream connections that are up", l,
                    [pool] { return double(pool->stats().connected); });
        m.add_gauge("sb_mux_upstream_slots", "Upstream connections configured", l,
                    [pool] { return double(pool->stats().slots); });

        server_ = std::make_unique<core::tcp_server>(
            host.io, cfg_.listen, cfg_.max_clients, log_, [this](asio::ip::tcp::socket s, std::uint64_t id) {
                asio::co_spawn(io_, core::serve_client(std::move(s), ctx_, id), asio::detached);
            });
        ctx_ = std::make_shared<core::pipeline_context>(core::pipeline_context{
            proto, pool_, server_->sessions(), log_, pm,
            cfg_.pool.max_message ? cfg_.pool.max_message : proto.default_max_message(), cfg_.client_timeout});
        auto* server = server_.get();
        m.add_gauge("sb_mux_clients", "Clients connected", l, [server] { return double(server->sessions().size()); });
        m.add_gauge("sb_mux_clients_refused", "Clients refused at the --max-clients limit (since start)", l,
                    [server] { return double(server->rejected()); });
    }

    std::string name() const override { return "mux." + cfg_.name; }

    void start() override {
        server_->start();
        pool_->start();
        SB_LOG(log_, notice) << "listening on " << server_->local_endpoint().to_string() << ", protocol "
                             << ctx_->proto.name() << ", target " << cfg_.pool.target.to_string() << ", "
                             << cfg_.pool.connections << " connection(s), pipeline " << pool_->config().pipeline;
    }

    void stop(core::clock::duration grace) override {
        server_->stop();
        if (grace <= core::clock::duration::zero()) {
            server_->sessions().close_all();
            pool_->stop(grace);
            grace_timer_.cancel();
            return;
        }
        server_->sessions().close_idle();
        pool_->stop(grace);
        grace_timer_.expires_after(grace);
        grace_timer_.async_wait([server = server_.get(), pool = pool_](const boost::system::error_code& ec) {
            if (ec) return;
            server->sessions().close_all();
            pool->stop(core::clock::duration::zero());
        });
    }

    bool stopped() const override { return server_->sessions().size() == 0 && pool_->stopped(); }

private:
    mux_config cfg_;
    asio::io_context& io_;
    core::logger log_;
    std::shared_ptr<core::upstream_pool> pool_;
    std::shared_ptr<core::pipeline_context> ctx_;
    std::unique_ptr<core::tcp_server> server_;
    asio::steady_timer grace_timer_;
};

class mux_plugin final : public core::plugin {
public:
    mux_plugin() { proto::register_builtin(protocols_); }

    std::string_view name() const override { return "mux"; }

    std::vector<std::unique_ptr<core::service>> configure(const std::vector<core::ini_section>& sections,
                                                          core::host_context& ctx) override {
        std::vector<std::unique_ptr<core::service>> out;
        auto desc = mux_options();
        for (auto& s : sections) {
            if (s.name == "mux")
                throw core::config_error(s.where(s.line) + ": name the multiplexer: [mux.NAME], e.g. [mux.modbus]");
            std::string instance = s.name.substr(4);
            core::po::variables_map vm;
            core::store_section(s, desc, vm);
            try {
                auto cfg = mux_config_from(vm, instance);
                const auto& proto = find_protocol(protocols_, cfg.protocol);
                out.push_back(make_mux_service(proto, std::move(cfg), ctx));
            } catch (const core::config_error& e) {
                throw core::config_error(s.where(s.line) + ": [" + s.name + "]: " + e.what());
            }
        }
        return out;
    }

private:
    core::protocol_registry protocols_;
};

}  // namespace

std::unique_ptr<core::service> make_mux_service(const core::protocol& proto, mux_config cfg, core::host_context& ctx) {
    return std::make_unique<mux_service>(proto, std::move(cfg), ctx);
}

std::unique_ptr<core::plugin> make_mux_plugin() { return std::make_unique<mux_plugin>(); }

}  // namespace sb::mux
