#include "mux/tcpmux_cli.hpp"

int main(int argc, char** argv) { return sb::mux::tcpmux_main(argc, argv); }
