#include "modem/modem_machine.hpp"

#include <algorithm>
#include <cstring>

namespace sb::modem {

const char* state_name(modem_state s) {
    switch (s) {
        case modem_state::idle: return "idle";
        case modem_state::dialing: return "dialing";
        case modem_state::ringing: return "ringing";
        case modem_state::online: return "online";
        case modem_state::online_command: return "online-command";
    }
    return "?";
}

namespace {
// The configured guard time and dial timeout are this modem's "factory"
// S12 and S7: ATZ brings them back rather than the Hayes numbers.
machine_options with_register_defaults(machine_options o) {
    using namespace std::chrono;
    auto s12 = std::clamp<long long>(duration_cast<milliseconds>(o.guard_time).count() / 20, 0, 255);
    auto s7 = std::clamp<long long>(duration_cast<seconds>(o.dial_timeout).count(), 1, 255);
    o.interpreter.register_defaults.emplace_back(12, static_cast<std::uint8_t>(s12));
    o.interpreter.register_defaults.emplace_back(7, static_cast<std::uint8_t>(s7));
    return o;
}
}  // namespace

modem_machine::modem_machine(machine_options opt, time_point now)
    : opt_(with_register_defaults(std::move(opt))),
      interp_(opt_.interpreter, *this),
      now_(now),
      last_tty_rx_(now),
      last_activity_(now),
      last_command_(now) {}

void modem_machine::print(result_code c, unsigned speed) {
    out_->to_tty += format_result(c, interp_.regs(), speed);
}

void modem_machine::on_tty(std::string_view data, time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    while (!data.empty()) {
        switch (state_) {
            case modem_state::online:
                scan_online(data, now);
                data = {};
                break;
            case modem_state::dialing:
                // Any key aborts a dial, as on a real modem; the key is not a command.
                out.cancel_dial = true;
                state_ = modem_state::idle;
                print(result_code::no_carrier);
                data.remove_prefix(1);
                break;
            case modem_state::idle:
            case modem_state::ringing:
            case modem_state::online_command: {
                last_command_ = now;
                std::size_t used = interp_.feed(data, out.to_tty);
                data.remove_prefix(used);
                break;
            }
        }
    }
    out_ = nullptr;
}

// Data mode: every byte goes to the remote, "+" included, because whether
// "+++" is an escape is only known one guard time after the last '+'.
void modem_machine::scan_online(std::string_view data, time_point now) {
    out_->to_remote.append(data);
    last_activity_ = now;
    const std::uint8_t esc = interp_.regs().escape_char();
    if (esc > 127) {  // S2 > 127 disables the escape
        last_tty_rx_ = now;
        return;
    }
    const char e = static_cast<char>(esc);
    // Fast path for bulk data: no escape character, nothing pending.
    if (plus_count_ == 0 && std::memchr(data.data(), e, data.size()) == nullptr) {
        last_tty_rx_ = now;
        return;
    }
    const auto g = guard();
    // Bytes of one read arrive together, so with a pre-escape guard only a
    // read made of escape characters alone can hold (part of) an escape:
    // anything else in it cancels, and the per-byte walk is not needed.
    if (opt_.pre_guard && g > clock::duration::zero() && data.find_first_not_of(e) != std::string_view::npos) {
        plus_count_ = 0;
        last_tty_rx_ = now;
        return;
    }
    for (char c : data) {
        if (c != e) {
            plus_count_ = 0;
        } else if (plus_count_ == 0 || plus_count_ >= 3) {
            // A fourth '+' cancels, and may itself start a new escape.
            bool quiet_before = !opt_.pre_guard || now - last_tty_rx_ >= g;
            plus_count_ = (plus_count_ == 0 && quiet_before) ? 1 : 0;
            last_plus_ = now;
        } else if (now - last_plus_ <= g) {
            ++plus_count_;
            last_plus_ = now;
        } else {
            // Too slow between '+': this one starts over if the line was quiet.
            plus_count_ = (!opt_.pre_guard || now - last_tty_rx_ >= g) ? 1 : 0;
            last_plus_ = now;
        }
        last_tty_rx_ = now;
    }
    if (plus_count_ == 3 && !opt_.post_guard) {
        plus_count_ = 0;
        state_ = modem_state::online_command;
        print(result_code::ok);
    }
}

void modem_machine::on_remote(std::string_view data, time_point now, machine_actions& out) {
    last_activity_ = now;
    if (state_ == modem_state::online)
        out.to_tty.append(data);
    else if (state_ == modem_state::online_command)
        held_remote_.append(data);  // read before the escape took effect
}

void modem_machine::go_online(time_point now) {
    state_ = modem_state::online;
    plus_count_ = 0;
    last_tty_rx_ = now;  // the pre-escape guard counts from here
    last_activity_ = now;
}

void modem_machine::on_connected(time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    if (state_ == modem_state::dialing) {
        go_online(now);
        print(result_code::connect, opt_.interpreter.connect_speed);
    } else {
        out.hangup = true;  // the dial was abandoned meanwhile
    }
    out_ = nullptr;
}

void modem_machine::on_dial_failed(dial_failure why, time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    if (state_ == modem_state::dialing) {
        state_ = modem_state::idle;
        switch (why) {
            case dial_failure::refused: print(result_code::busy); break;
            case dial_failure::timeout: print(result_code::no_answer); break;
            case dial_failure::unreachable: print(result_code::no_carrier); break;
        }
    }
    out_ = nullptr;
}

void modem_machine::on_remote_closed(time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    if (in_call()) {
        state_ = modem_state::idle;
        held_remote_.clear();
        out.hangup = true;
        print(result_code::no_carrier);
    } else if (state_ == modem_state::ringing) {
        state_ = modem_state::idle;  // the caller gave up
        out.hangup = true;
        interp_.regs().s[1] = 0;
    }
    out_ = nullptr;
}

void modem_machine::on_dtr(bool up, time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    if (up == dtr_) {
        out_ = nullptr;
        return;
    }
    dtr_ = up;
    if (!up) {
        // DTR drop: hang up whatever is going on; the next program that opens
        // the tty finds a freshly reset modem (AT&D3 behaviour).
        switch (state_) {
            case modem_state::dialing: out.cancel_dial = true; break;
            case modem_state::ringing: out.reject = std::string{}; break;
            case modem_state::online:
            case modem_state::online_command: out.hangup = true; break;
            case modem_state::idle: break;
        }
        state_ = modem_state::idle;
        interp_.reset();
        held_remote_.clear();
    }
    out_ = nullptr;
}

void modem_machine::on_incoming(time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    if (!can_take_call()) {
        out.reject = "BUSY\r\n";
        out_ = nullptr;
        return;
    }
    state_ = modem_state::ringing;
    rings_ = 0;
    interp_.regs().s[1] = 0;
    next_ring_ = now;
    on_timer(now, out);  // the first RING at once
}

std::optional<modem_machine::time_point> modem_machine::deadline() const {
    switch (state_) {
        case modem_state::dialing: return dial_deadline_;
        case modem_state::ringing: return next_ring_;
        case modem_state::online:
        case modem_state::online_command: {
            std::optional<time_point> d;
            if (state_ == modem_state::online && plus_count_ == 3) d = last_plus_ + guard();
            auto idle_limit = opt_.watchdog;
            auto s30 = interp_.regs().inactivity();
            if (s30 > clock::duration::zero() && (idle_limit == clock::duration::zero() || s30 < idle_limit))
                idle_limit = s30;
            if (idle_limit > clock::duration::zero()) {
                auto w = last_activity_ + idle_limit;
                d = d ? std::min(*d, w) : w;
            }
            return d;
        }
        case modem_state::idle: return std::nullopt;
    }
    return std::nullopt;
}

void modem_machine::on_timer(time_point now, machine_actions& out) {
    out_ = &out;
    now_ = now;
    switch (state_) {
        case modem_state::dialing:
            if (now >= dial_deadline_) {
                out.cancel_dial = true;
                state_ = modem_state::idle;
                print(result_code::no_answer);
            }
            break;
        case modem_state::ringing:
            if (now < next_ring_) break;
            if (rings_ >= opt_.max_rings) {
                state_ = modem_state::idle;
                out.reject = "NO ANSWER\r\n";
                interp_.regs().s[1] = 0;
                break;
            }
            ++rings_;
            interp_.regs().s[1] = static_cast<std::uint8_t>(std::min(rings_, 255u));
            print(result_code::ring);
            next_ring_ = now + opt_.ring_interval;
            if (auto s0 = interp_.regs().auto_answer_rings(); s0 > 0 && rings_ >= s0) answer();
            break;
        case modem_state::online:
        case modem_state::online_command: {
            if (state_ == modem_state::online && plus_count_ == 3 && now - last_plus_ >= guard()) {
                // One guard time of silence after "+++": command mode, call kept.
                plus_count_ = 0;
                state_ = modem_state::online_command;
                print(result_code::ok);
            }
            auto idle_limit = opt_.watchdog;
            auto s30 = interp_.regs().inactivity();
            if (s30 > clock::duration::zero() && (idle_limit == clock::duration::zero() || s30 < idle_limit))
                idle_limit = s30;
            if (idle_limit > clock::duration::zero() && now - last_activity_ >= idle_limit) {
                state_ = modem_state::idle;
                out.hangup = true;
                print(result_code::no_carrier);
            }
            break;
        }
        case modem_state::idle: break;
    }
    out_ = nullptr;
}

// modem_control

bool modem_machine::dial(const std::string& number) {
    if (state_ != modem_state::idle) return false;  // ATD while escaped from a call: hang up first
    state_ = modem_state::dialing;
    dial_deadline_ = now_ + interp_.regs().dial_timeout();
    out_->dial = number;
    return true;
}

bool modem_machine::answer() {
    if (state_ != modem_state::ringing) return false;
    out_->answer = true;
    interp_.regs().s[1] = 0;
    interp_.clear_line();
    go_online(now_);
    print(result_code::connect, opt_.interpreter.connect_speed);
    return true;
}

bool modem_machine::online() {
    if (state_ != modem_state::online_command) return false;
    go_online(now_);
    print(result_code::connect, opt_.interpreter.connect_speed);
    out_->to_tty += held_remote_;
    held_remote_.clear();
    return true;
}

void modem_machine::hangup() {
    switch (state_) {
        case modem_state::online:
        case modem_state::online_command: out_->hangup = true; break;
        case modem_state::ringing: out_->reject = std::string{}; break;
        case modem_state::dialing: out_->cancel_dial = true; break;
        case modem_state::idle: break;
    }
    state_ = modem_state::idle;
    held_remote_.clear();
}

std::string modem_machine::status() const {
    std::string s = opt_.name + ": " + state_name(state_) + (dtr_ ? ", DTR on" : ", DTR off");
    if (!interp_.last_number().empty()) s += ", last number " + interp_.last_number();
    return s;
}

}  // namespace sb::modem
