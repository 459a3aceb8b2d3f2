#pragma once

namespace sb::mux {

// `tcpmux server ...`, `tcpmux list`: the command line of the tool users know.
int tcpmux_main(int argc, char** argv);

}  // namespace sb::mux
