#include "vmodemd/vmodemd_cli.hpp"

int main(int argc, char** argv) { return sb::vmodemd::vmodemd_main(argc, argv); }
