#pragma once
// One modem's states, sans-I/O: events in (tty bytes, remote bytes, dial
// outcome, incoming call, terminal opened/closed, timer), actions out (bytes
// for the tty and the remote, dial, answer, hang up). Time is a parameter,
// so tests drive the +++ guard times and ring cadence with a fake clock and
// no PTY or socket at all. A thin coroutine (modem_service.cpp) performs the
// actions and sleeps until deadline().
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "modem/command_interpreter.hpp"

namespace sb::modem {

using clock = std::chrono::steady_clock;

enum class modem_state : std::uint8_t {
    idle,            // command mode, on hook
    dialing,         // ATD issued, waiting for the connection
    ringing,         // a caller is waiting for ATA or S0 rings
    online,          // data mode
    online_command,  // escaped with +++: commands, the call is kept (ATO to return)
};
const char* state_name(modem_state s);

enum class dial_failure : std::uint8_t {
    refused,      // connection refused: BUSY
    timeout,      // no answer: NO ANSWER
    unreachable,  // host unknown or unreachable, number not translatable: NO CARRIER
};

struct machine_options {
    interpreter_options interpreter;
    std::string name = "modem0";  // for ATI/AT&V status
    clock::duration guard_time = std::chrono::seconds(1);  // S12 at power-on and after ATZ
    bool pre_guard = true;
    bool post_guard = true;
    unsigned max_rings = 10;
    clock::duration ring_interval = std::chrono::seconds(2);
    clock::duration watchdog{};  // 0: off
    clock::duration dial_timeout = std::chrono::seconds(50);  // S7 at power-on and after ATZ
};

// What the session must do after an event. Cleared by the session between
// events; the machine only appends.
struct machine_actions {
    std::string to_tty;
    std::string to_remote;
    std::optional<std::string> dial;  // open a connection to this number
    bool cancel_dial = false;         // abandon the connection attempt
    bool hangup = false;              // close the call's connection
    bool answer = false;              // take the ringing caller's connection
    std::optional<std::string> reject;  // tell the ringing caller this, then close it
    void clear() {
        to_tty.clear();
        to_remote.clear();
        dial.reset();
        cancel_dial = hangup = answer = false;
        reject.reset();
    }
};

class modem_machine : private modem_control {
public:
    using time_point = clock::time_point;

    modem_machine(machine_options opt, time_point now);

    void on_tty(std::string_view data, time_point now, machine_actions& out);
    // Only called while accepts_remote(); data is application data (telnet
    // already removed).
    void on_remote(std::string_view data, time_point now, machine_actions& out);
    void on_connected(time_point now, machine_actions& out);
    void on_dial_failed(dial_failure why, time_point now, machine_actions& out);
    void on_remote_closed(time_point now, machine_actions& out);
    // The terminal program opened (true) or closed (false) the tty: DTR.
    void on_dtr(bool up, time_point now, machine_actions& out);
    // A caller for this modem: check can_take_call() first.
    bool can_take_call() const { return dtr_ && state_ == modem_state::idle; }
    void on_incoming(time_point now, machine_actions& out);
    void on_timer(time_point now, machine_actions& out);

    // When on_timer must next be called; nullopt: no timer needed.
    std::optional<time_point> deadline() const;

    modem_state state() const { return state_; }
    bool dtr() const { return dtr_; }
    bool in_call() const { return state_ == modem_state::online || state_ == modem_state::online_command; }
    // The session reads the remote only in data mode: while escaped the
    // bytes wait in the socket, so none are lost before ATO.
    bool accepts_remote() const { return state_ == modem_state::online; }
    const command_interpreter& interpreter() const { return interp_; }
    command_interpreter& interpreter() { return interp_; }
    time_point last_command() const { return last_command_; }

private:
    // modem_control, called by the interpreter during on_tty.
    bool dial(const std::string& number) override;
    bool answer() override;
    bool online() override;
    void hangup() override;
    std::string status() const override;

    void go_online(time_point now);
    void print(result_code c, unsigned speed = 0);
    void feed_commands(std::string_view data, time_point now);
    void scan_online(std::string_view data, time_point now);
    clock::duration guard() const { return interp_.regs().guard_time(); }

    machine_options opt_;
    command_interpreter interp_;
    modem_state state_ = modem_state::idle;
    bool dtr_ = false;
    machine_actions* out_ = nullptr;  // set while an event runs
    time_point now_;

    // +++ detection
    time_point last_tty_rx_;
    time_point last_plus_;
    int plus_count_ = 0;

    time_point dial_deadline_;
    unsigned rings_ = 0;
    time_point next_ring_;
    time_point last_activity_;
    time_point last_command_;
    // Remote bytes that were already read when +++ took effect: shown
    // after ATO, dropped on hang-up.
    std::string held_remote_;
};

}  // namespace sb::modem
