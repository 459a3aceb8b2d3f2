#pragma once

namespace sb::vmodemd {

// `vmodemd --config conf/site.ini`: every plugin whose section is present.
int vmodemd_main(int argc, char** argv);

}  // namespace sb::vmodemd
