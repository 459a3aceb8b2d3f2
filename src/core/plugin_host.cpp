#include "core/plugin_host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "core/admin_http.hpp"
#include "core/metrics.hpp"

namespace sb::core {

namespace {
bool owns(std::string_view plugin, std::string_view section) {
    return section == plugin || (section.size() > plugin.size() && section.starts_with(plugin) &&
                                 section[plugin.size()] == '.');
}

// "[sip] enabled = false" also disables [sip.behavior]; the key is removed
// from sections that stay so plugins never see it.
std::vector<ini_section> drop_disabled(std::vector<ini_section> sections) {
    std::vector<std::string> disabled;
    for (auto& s : sections)
        for (auto& e : s.entries)
            if (e.key == "enabled" && !parse_bool(s.where(e.line) + " [" + s.name + "] enabled", e.value))
                disabled.push_back(s.name);
    std::vector<ini_section> out;
    for (auto& s : sections) {
        bool off = false;
        for (auto& d : disabled) off = off || owns(d, s.name);
        if (off) continue;
        std::erase_if(s.entries, [](const ini_entry& e) { return e.key == "enabled"; });
        out.push_back(std::move(s));
    }
    return out;
}
}  // namespace

host_config host_config_from(const std::vector<ini_section>& sections, host_config cfg) {
    for (auto& s : sections) {
        if (s.name != "host") continue;
        for (auto& e : s.entries) {
            auto where = s.where(e.line) + ": [host] " + e.key;
            try {
                if (e.key == "http" || e.key == "metrics") {
                    if (e.value.empty()) cfg.http.reset();
                    else cfg.http = parse_endpoint(e.value, "127.0.0.1");
                } else if (e.key == "grace") {
                    cfg.grace = parse_duration(e.value);
                } else if (e.key == "log_level") {
                    static const std::map<std::string, severity> levels = {
                        {"trace", severity::trace},   {"debug", severity::debug},     {"info", severity::info},
                        {"notice", severity::notice}, {"warning", severity::warning}, {"error", severity::error}};
                    auto it = levels.find(e.value);
                    if (it == levels.end()) throw std::invalid_argument("'" + e.value + "' is not a log level");
                    cfg.log_level = it->second;
                } else if (e.key != "enabled") {
                    throw std::invalid_argument("unknown key (known: http, grace, log_level)");
                }
            } catch (const std::invalid_argument& ex) {
                throw config_error(where + ": " + ex.what());
            }
        }
    }
    return cfg;
}

void plugin_host::add(std::unique_ptr<plugin> p) { plugins_.push_back(std::move(p)); }

std::vector<std::unique_ptr<service>> plugin_host::build(std::vector<ini_section> sections, host_context& ctx) {
    sections = drop_disabled(std::move(sections));
    for (auto& s : sections) {
        if (s.name == "host") continue;
        bool known = false;
        for (auto& p : plugins_) known = known || owns(p->name(), s.name);
        if (!known) {
            std::string names;
            for (auto& p : plugins_) names += ", " + std::string(p->name());
            throw config_error(s.where(s.line) + ": unknown section [" + s.name + "] (known: host" + names + ")");
        }
    }
    std::vector<std::unique_ptr<service>> services;
    for (auto& p : plugins_) {
        std::vector<ini_section> mine;
        for (auto& s : sections)
            if (owns(p->name(), s.name)) mine.push_back(s);
        if (mine.empty()) continue;
        for (auto& svc : p->configure(mine, ctx)) services.push_back(std::move(svc));
    }
    if (services.empty()) throw config_error("nothing to run: no enabled plugin section in the configuration");
    return services;
}

void plugin_host::validate(std::vector<ini_section> sections) {
    host_config_from(sections, {});
    boost::asio::io_context io(1);
    metrics_registry metrics;
    host_context ctx{io, metrics, nullptr, logger("host", severity::error)};
    build(std::move(sections), ctx);
}

int plugin_host::run(std::vector<ini_section> sections, const host_config& cfg) {
    return run_built(cfg, [&](host_context& ctx) { return build(std::move(sections), ctx); });
}

int plugin_host::run_built(const host_config& cfg, const service_builder& build_services) {
    boost::asio::io_context io(1);
    metrics_registry metrics;
    logger log("host", cfg.log_level);
    std::unique_ptr<admin_http> http;
    if (cfg.http) http = std::make_unique<admin_http>(io, *cfg.http, log.with_channel("http"));
    host_context ctx{io, metrics, http.get(), log};
    auto services = build_services(ctx);
    return run_services(std::move(services), cfg, io, metrics, http.get());
}

int plugin_host::run_services(std::vector<std::unique_ptr<service>> services, const host_config& cfg,
                              boost::asio::io_context& io, metrics_registry& metrics, admin_http* http) {
    logger log("host", cfg.log_level);
    auto started = std::chrono::steady_clock::now();
    // Before anything logs "listening": a supervisor (or a test) that sends
    // SIGTERM as soon as it reads that line must get a graceful stop, not
    // the default action. Asio queues a signal that comes before the wait.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    if (http) {
        http->route("/metrics", [&metrics](const std::string&) {
            return http_reply{200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()};
        });
        http->route("/health", [](const std::string&) { return http_reply{200, "text/plain; charset=utf-8", "ok\n"}; });
        metrics.add_gauge("switchboard_uptime_seconds", "Seconds since the process started", "", [started] {
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        });
        http->start();
    }
    for (auto& s : services) s->start();

    boost::asio::steady_timer last_call(io);
    bool stopping = false;
    std::chrono::steady_clock::time_point give_up_at{};
    // Polls until every service has wound down (or the grace period is
    // over), then withdraws the signal wait so run() can return.
    std::function<void(const boost::system::error_code&)> check_stopped = [&](const boost::system::error_code& ec) {
        if (ec) return;
        bool all = true;
        for (auto& s : services) all = all && s->stopped();
        if (!all && std::chrono::steady_clock::now() < give_up_at) {
            last_call.expires_after(std::chrono::milliseconds(10));
            last_call.async_wait(check_stopped);
            return;
        }
        for (auto& s : services) s->stop(std::chrono::seconds(0));
        signals.cancel();
    };
    std::function<void(const boost::system::error_code&, int)> on_signal;
    on_signal = [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (stopping) {
            SB_LOG(log, warning) << "second signal " << signo << ": stopping now";
            for (auto& s : services) s->stop(std::chrono::seconds(0));
            signals.cancel();
            return;
        }
        stopping = true;
        SB_LOG(log, notice) << "signal " << signo << ": shutting down (grace "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(cfg.grace).count() << " ms)";
        if (http) http->stop();
        for (auto& s : services) s->stop(cfg.grace);
        signals.async_wait(on_signal);
        // The pending signal wait would keep run() going forever: withdraw it
        // once the services' grace period is over, so run() returns when
        // their last coroutine ends.
        give_up_at = std::chrono::steady_clock::now() + cfg.grace + std::chrono::milliseconds(200);
        last_call.expires_after(std::chrono::milliseconds(10));
        last_call.async_wait(check_stopped);
    };
    signals.async_wait(on_signal);
    io.run();
    SB_LOG(log, notice) << "stopped";
    return 0;
}

}  // namespace sb::core
