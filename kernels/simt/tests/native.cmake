# The native CUDA build of the simt tests (ATTNCHECK_HAVE_CUDA): the same test
# kernels compiled by nvcc, and the same test_simt.cpp (with
# ATTNCHECK_NATIVE_CUDA, which leaves out the simt-only assertions) run on a GPU.
# A machine without a usable CUDA device reports the test as Skipped, never as
# failed: native_main.cpp asks cudaGetDeviceCount at run time.
if(NOT ATTNCHECK_HAVE_CUDA)
  return()
endif()

attncheck_cuda_kernels(simt_test_kernels_cuda SOURCES test_kernels.cu)

add_executable(test_simt_cuda test_simt.cpp native_main.cpp)
target_compile_definitions(test_simt_cuda PRIVATE ATTNCHECK_NATIVE_CUDA)
target_include_directories(test_simt_cuda PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_simt_cuda PRIVATE simt_test_kernels_cuda CUDA::cudart GTest::gtest
                      attncheck_warnings)

set(ATTNCHECK_NATIVE_SKIP_CODE 77)  # k_exit_skipped of native_main.cpp
add_test(NAME test_simt_cuda COMMAND test_simt_cuda)
set(native_props TIMEOUT 900 SKIP_RETURN_CODE ${ATTNCHECK_NATIVE_SKIP_CODE} LABELS gpu)
if(ATTNCHECK_SANITIZE)
  # AddressSanitizer's shadow gap protection breaks the CUDA driver's mappings.
  list(APPEND native_props ENVIRONMENT ASAN_OPTIONS=protect_shadow_gap=0)
endif()
set_tests_properties(test_simt_cuda PROPERTIES ${native_props})

# The failure kernels (deliberate bugs for the simt failure tests) must stay
# valid CUDA: compiled by nvcc as a check, never run. The glob notices the file
# appearing or disappearing at build time.
file(GLOB failure_kernels CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/failure_kernels.cu)
if(failure_kernels)
  attncheck_cuda_kernels(simt_failure_kernels_cuda OBJECT SOURCES ${failure_kernels})
endif()
