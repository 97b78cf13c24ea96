# simt failure checks: barrier divergence and deadlocks reported as launch
# failures (normal build), and the shared-memory race detector (the same
# kernels built with RACE_CHECK). Included by CMakeLists.txt of this directory.
attncheck_simt_kernels(simt_failure_kernels SOURCES failure_kernels.cu)
attncheck_add_test(test_simt_failures SOURCES test_simt_failures.cpp LIBS simt_failure_kernels)
# The tests look up the barriers' source lines by the markers in the kernel file.
target_compile_definitions(test_simt_failures PRIVATE
  SIMT_FAILURE_KERNELS_CU="${CMAKE_CURRENT_SOURCE_DIR}/failure_kernels.cu")

attncheck_simt_kernels(simt_race_kernels RACE_CHECK SOURCES failure_kernels.cu)
attncheck_add_test(test_simt_races SOURCES test_simt_races.cpp LIBS simt_race_kernels)
