// libFuzzer entry point of one target (fuzz build only): harness/fuzz/CMakeLists.txt
// compiles this file once per target with ATTNCHECK_FUZZ_BODY naming the body.
#include <cstddef>
#include <cstdint>

#include "harness/fuzz/targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return attncheck::fuzz::ATTNCHECK_FUZZ_BODY(data, size);
}
