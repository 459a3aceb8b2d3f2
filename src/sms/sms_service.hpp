#pragma once
// The SMS plugin: [sms]. A SIM modem on a serial port, shared between a raw
// TCP bridge (one client in control, with a heartbeat) and an AT engine that
// sends the durable outbox, reads the SIM into the inbox and serves the REST
// API.
#include <memory>

#include "core/plugin.hpp"

namespace sb::sms {

std::unique_ptr<core::plugin> make_sms_plugin();

}  // namespace sb::sms
